// The stale-translation sanitizer (issue 6 item 6; formats.md §9, smmuv3-arch.md [5.6]): an opt-in
// observer of one SMMU that records which translation-table descriptors (and STEs/CDs) the SMMU
// has used, watches every write to them, follows every invalidation command and CMD_SYNC, and
// reports any DMA that the architecture allows to be served from a translation whose descriptor
// changed without a completed covering invalidation — whether or not the model's TLB happened to
// hold it ("could be served", not "was served").
//
// The rules it applies (paraphrased; primary sources):
// - Arm DDI 0487, D8.16 "Translation Lookaside Buffers" (numbering of the editions after K.a;
//   the rule identifiers are stable across editions): R_SQBCS — a descriptor that does not fault
//   may be cached, in a TLB or an intermediate (walk) caching structure, at any time; R_XCLRD —
//   descriptors giving a Translation, Address size or Access flag fault are never cached (so
//   invalid → valid needs no invalidation; also I_WZCBG in D8.17); R_CHVGJ — entries from lookup
//   levels above the last are non-global (so table uses are tagged with the ASID).
// - DDI 0487 D8.17 "TLB maintenance": R_RVJDB — a "TLB entry" includes intermediate caching
//   structures; R_GPPYH — a modified descriptor needs the corresponding TLB invalidation; the
//   stage-2-only maintenance rule of that section — it need not remove structures that combine
//   stage 1 and stage 2 information. D8.17.1 "Using break-before-make when updating translation
//   table entries" (R_WHZWS, R_DDMVT; D8.13.1 in I.a, D8.14.1 in J.a, D8.16.1 in K.a): the change
//   is only safe once the invalidation has completed.
// - Arm IHI 0070 H.a §3.21.1: SMMU walks, caching, invalidation and completion follow the PE rules
//   (walk caches included); a CMD_TLBI_* invalidation completes only with a later CMD_SYNC.
//   §3.21.3: configuration structures may be cached in any state until a CMD_CFGI_* completes.
//   §4.3: CFGI_STE/STE_RANGE/CD/CD_ALL scopes. §4.4 (§4.4.1.1 range, TG/TTL/Leaf; §4.4.2 NH_*,
//   EL2_*; §4.4.3 S2_IPA — not required to remove combined stage 1+2 entries — S12_VMALL,
//   NSNH_ALL): the scope of each TLBI. §4.7.3: CMD_SYNC completes every earlier command.
//
// Model: every descriptor a walk read and that may be cached becomes a *use*: (descriptor PA, the
// value read, the TLB context and input-address block a DMA would look it up with, its level, leaf
// or table). A use of a stage-2 descriptor reached by a nested walk has two parts — the combined
// stage 1+2 entry (context, VA block) and the stage-2 entry (VMID, IPA block) — and only goes once
// both are invalidated. A software write that changes a used descriptor makes the use *stale*. An
// invalidation consumed after the change (or after the walk, for an unchanged use) removes the
// parts it covers when a later CMD_SYNC is consumed. A DMA whose lookup (context, address) matches
// a stale use is reported. Writes made by the SMMU itself during a walk (HTTU Access flag / dirty
// state) are not software changes. Changes confined to the Access flag or to the bits reserved
// for software use are not reported.
//
// Cost when off: one null check per transaction, lookup, walk and command. When on: the walks of
// the observed SMMU go through a recording memory view and trace sink, and one memory observer
// filters every access of the SMMU's memory; the sanitizer's own reads do not count in
// `SparseMemory.accesses`.
//
// Known limits (documented in docs/sanitizer.md): a stale stage-2 entry is matched through the VAs
// whose walks used it (and through stage-2-only lookups of its IPA), not through other VAs that
// map to the same IPA; L1STD/L1CD, ATC contents and TLB-cached STE/CD fields (rule 5 of [5.6]) are
// not tracked; walks that translate CD/L1CD addresses through stage 2 are not recorded.

import { genmask, getBits, hex, joinU64 } from '../arch/bits.ts';
import { CFGI_RANGE_ALL, CMD_OP, type CmdName, COMMANDS, commandName } from '../arch/cmd.ts';
import { VsmmuError } from '../arch/errors.ts';
import { findField } from '../arch/fields.ts';
import type { TraceEvent, TraceSink } from '../arch/trace.ts';
import type { MemAccess, SparseMemory } from '../mem/sparse-memory.ts';
import type { StageParams, WalkMemory, WalkResult } from '../pgtable/index.ts';
import { WORLD } from './config.ts';
import type { Smmu } from './smmu.ts';
import { TLB_KIND, type TlbContext } from './tlb.ts';
import {
  decodeTlbiRange,
  type TlbiRange,
  type Translation,
  type TranslationObserver,
} from './translate.ts';
import type { TranslateRequest } from './types.ts';

/**
 * What was missing for the change to be safe:
 * - 'TLBI': no invalidation covering the entry was consumed after the change;
 * - 'CMD_SYNC': a covering invalidation was consumed but no CMD_SYNC has completed it;
 * - 'ASID' / 'VMID': an invalidation of the right addresses named another ASID / VMID (or, for
 *   'ASID', was a by-ASID invalidation, which leaves global entries);
 * - 'range': an invalidation with the right tags missed the address;
 * - 'leaf': a leaf-only invalidation (Leaf = 1) where a table descriptor changed;
 * - 'TTL' / 'TG': the level or granule hint of a range invalidation excluded the entry;
 * - 'S12': only TLBI_S2_IPA was issued, which need not remove combined stage 1+2 entries;
 * - 'S2': only stage-1 invalidations were issued after a stage-2 change;
 * - 'CFGI': an STE or CD changed and no CFGI covering it was consumed after the change.
 */
export type SanitizerMissing =
  | 'TLBI'
  | 'CMD_SYNC'
  | 'ASID'
  | 'VMID'
  | 'range'
  | 'leaf'
  | 'TTL'
  | 'TG'
  | 'S12'
  | 'S2'
  | 'CFGI';

/** The changed entry a report is about. */
export interface SanitizerPte {
  /** PA of the 64-bit descriptor (or of the changed 64-bit word of an STE/CD). */
  readonly pa: bigint;
  /** Value the SMMU used (read by the walk or the configuration fetch). */
  readonly old: bigint;
  /** Value in memory at the time of the DMA. */
  readonly new: bigint;
  /** Lookup level of the descriptor (−1..3); for an STE/CD, the index of the changed word. */
  readonly level: number;
  /** Translation stage of the descriptor; 0 for an STE/CD. */
  readonly stage: 0 | 1 | 2;
  /** Page or block descriptor (false: table descriptor, or STE/CD). */
  readonly leaf: boolean;
}

/** One finding: a DMA that may be served from stale state. */
export interface SanitizerReport {
  readonly kind: 'stale-tlb' | 'stale-config';
  /** StreamID of the DMA (the physical one under a VMM). */
  readonly sid: number;
  readonly ssid?: number;
  /** Input address of the DMA. */
  readonly iova: bigint;
  readonly access: 'read' | 'write';
  readonly pte: SanitizerPte;
  /** For 'stale-config': which structure. */
  readonly structure?: 'STE' | 'CD';
  /** Clock value when the entry was changed (the `clock` option; default: the event counter). */
  readonly changedAt: number;
  /** Clock value of the (first) DMA. */
  readonly dmaAt: number;
  readonly missing: SanitizerMissing;
  /** One sentence naming the rule and the commands concerned. */
  readonly detail: string;
  /** DMAs this report stands for (same entry, stream, 4 KiB page, access and cause). */
  readonly count: number;
}

/** Options of `enableSanitizer`. */
export interface SanitizerOptions {
  /**
   * The time stamped on changes and DMAs (e.g. a scenario step number). Default: the sanitizer's
   * own counter of observed events (descriptor writes, commands, DMAs).
   */
  readonly clock?: () => number;
  /** Reports kept (default 10 000); further distinct reports are counted in `dropped`. */
  readonly maxReports?: number;
  /** Track STE/CD changes without CFGI + CMD_SYNC (default true). */
  readonly config?: boolean;
  /** Called with every new report. */
  readonly onReport?: (r: SanitizerReport) => void;
  /** Renders a StreamID in `lines()` (e.g. with the guest's vSID); default hex. */
  readonly sidLabel?: (sid: number) => string;
}

/** Counters of a sanitizer. */
export interface SanitizerStats {
  /** Walks recorded. */
  walks: number;
  /** DMAs (translate() calls) checked. */
  dmas: number;
  /** Invalidation commands (TLBI_*, CFGI_*) and CMD_SYNCs seen. */
  invalidations: number;
  syncs: number;
  /** Descriptor changes that made a use stale. */
  changes: number;
}

/** A running sanitizer. */
export interface Sanitizer {
  /** Reports so far, oldest first. */
  readonly reports: readonly SanitizerReport[];
  /** Distinct reports not kept because of `maxReports`. */
  readonly dropped: number;
  readonly stats: Readonly<SanitizerStats>;
  /** Uses currently tracked (descriptor uses, of which stale). */
  readonly tracked: { readonly uses: number; readonly stale: number; readonly config: number };
  /** One line per report (see `renderReport`). */
  lines(): string[];
  /** Forgets the reports collected so far; tracking continues. */
  clearReports(): void;
  /** Stops observing the SMMU (removes every hook). */
  disable(): void;
}

// ------------------------------------------------------------------------------------------------
// Internal records

type MutableReport = { -readonly [K in keyof SanitizerReport]: SanitizerReport[K] };

interface PartA {
  /** Context a DMA looks the entry up with (stage 1 or combined stage 1+2). */
  readonly ctx: TlbContext;
  readonly lo: number;
  readonly hi: number;
  /** A final (last-level) entry; false: a walk-cache entry. */
  readonly leaf: boolean;
  readonly level: number;
  /** log2 of the stage-1 granule. */
  readonly gran: number;
  /** This part stands for a combined entry built from a stage-2 descriptor. */
  readonly fromS2: boolean;
}

interface PartB {
  readonly vmid: number;
  /** IPA block. */
  readonly lo: number;
  readonly hi: number;
  readonly leaf: boolean;
  readonly level: number;
  readonly gran: number;
}

interface Change {
  readonly old: bigint;
  new: bigint;
  readonly seq: number;
  readonly at: number;
}

interface Use {
  readonly id: number;
  readonly key: string;
  readonly pa: number;
  readonly value: bigint;
  readonly stage: 1 | 2;
  readonly level: number;
  readonly leafDesc: boolean;
  readonly a: PartA | undefined;
  readonly b: PartB | undefined;
  needA: boolean;
  needB: boolean;
  walkedSeq: number;
  stale: Change | undefined;
}

interface ConfigUse {
  readonly key: string;
  readonly kind: 'STE' | 'CD';
  readonly sid: number;
  readonly index: number;
  readonly pa: number;
  words: bigint[];
  fetchedSeq: number;
  stale: (Change & { word: number }) | undefined;
}

interface Inv {
  readonly seq: number;
  readonly at: number;
  readonly op: number;
  readonly name: string;
  readonly vmid: number;
  readonly asid: number;
  readonly sid: number;
  readonly ssid: number;
  readonly cfgRange: number;
  readonly leafOnly: boolean;
  readonly range: TlbiRange | undefined;
  completed: boolean;
}

interface Step {
  readonly stage: number;
  readonly level: number;
  readonly pa: number;
  readonly tablePa: number;
  readonly index: number;
  readonly value: bigint;
  readonly decision: string;
}

/** Result of judging one invalidation against one part of a use. */
type Verdict =
  | { readonly kind: 'covers' }
  | { readonly kind: 'irrelevant' }
  | { readonly kind: 'near'; readonly why: SanitizerMissing; readonly rank: number };

const COVERS: Verdict = { kind: 'covers' };
const IRRELEVANT: Verdict = { kind: 'irrelevant' };

/** How close a near miss came (a larger rank passed more checks). */
const RANK: Readonly<Record<SanitizerMissing, number>> = {
  TLBI: 0,
  CFGI: 0,
  CMD_SYNC: 9,
  VMID: 1,
  ASID: 2,
  range: 3,
  leaf: 4,
  TG: 5,
  TTL: 6,
  S12: 7,
  S2: 7,
};

const KEPT_HISTORY = 512;

/** Descriptor bits whose change does not alter what may be cached. */
// Leaf: AF (bit 10; hardware or software setting it needs no maintenance) and the bits reserved
// for software use [58:55]. Table: the IGNORED bits [58:51].
const LEAF_IGNORED = genmask(58, 55) | genmask(10, 10);
const TABLE_IGNORED = genmask(58, 51);

const LEAF_DECISIONS = new Set(['page', 'block', 'leaf: permission']);

/** Command field reader (positions from the command tables of src/arch/cmd.ts). */
function cmdField(name: CmdName, field: string): (w0: bigint, w1: bigint) => number {
  const f = findField(COMMANDS[name], field);
  return (w0, w1) => Number(getBits(f.word === 0 ? w0 : w1, f.hi, f.lo));
}

const F = {
  sid: cmdField('CFGI_STE', 'StreamID'),
  ssid: cmdField('CFGI_CD', 'SubstreamID'),
  range: cmdField('CFGI_STE_RANGE', 'Range'),
  vmid: cmdField('TLBI_NH_ALL', 'VMID'),
  asid: cmdField('TLBI_NH_ASID', 'ASID'),
  leaf: cmdField('TLBI_NH_VA', 'Leaf'),
} as const;

const TLBI_OPS: ReadonlySet<number> = new Set([
  CMD_OP.TLBI_NH_ALL,
  CMD_OP.TLBI_NH_ASID,
  CMD_OP.TLBI_NH_VA,
  CMD_OP.TLBI_NH_VAA,
  CMD_OP.TLBI_EL2_ALL,
  CMD_OP.TLBI_EL2_ASID,
  CMD_OP.TLBI_EL2_VA,
  CMD_OP.TLBI_EL2_VAA,
  CMD_OP.TLBI_S12_VMALL,
  CMD_OP.TLBI_S2_IPA,
  CMD_OP.TLBI_NSNH_ALL,
]);

const CFGI_OPS: ReadonlySet<number> = new Set([
  CMD_OP.CFGI_STE,
  CMD_OP.CFGI_STE_RANGE,
  CMD_OP.CFGI_CD,
  CMD_OP.CFGI_CD_ALL,
]);

const ADDR_OPS: ReadonlySet<number> = new Set([
  CMD_OP.TLBI_NH_VA,
  CMD_OP.TLBI_NH_VAA,
  CMD_OP.TLBI_EL2_VA,
  CMD_OP.TLBI_EL2_VAA,
  CMD_OP.TLBI_S2_IPA,
]);

function gshift(granule: number): number {
  return granule === 4096 ? 12 : granule === 16384 ? 14 : 16;
}

/** log2 of the block one descriptor at `level` maps (VMSAv8-64, granule shift g). */
function levelShift(g: number, level: number): number {
  return g + (3 - level) * (g - 3);
}

function blockOf(addr: number, shift: number): { lo: number; hi: number } {
  const size = 2 ** shift;
  const lo = Math.floor(addr / size) * size;
  return { lo, hi: lo + size };
}

const ACTIVE = new WeakSet<Smmu>();

/**
 * Turns the sanitizer on for one SMMU model (bare metal: the machine's Smmu; under the kernel
 * model: `host.smmu(i).hw`). The SMMU must use the translation side of `createTranslation`. Only
 * walks, writes and commands from now on are seen: enable it before the traffic to check.
 */
export function enableSanitizer(smmu: Smmu, opts: SanitizerOptions = {}): Sanitizer {
  const t = smmu.translationSide as Partial<Translation> | undefined;
  if (t === undefined || typeof t.setObserver !== 'function') {
    throw new VsmmuError(
      'BAD_STATE',
      'the sanitizer needs an SMMU whose translation side comes from createTranslation()',
    );
  }
  if (ACTIVE.has(smmu)) {
    throw new VsmmuError('BAD_STATE', 'a sanitizer is already enabled on this SMMU');
  }
  const max = opts.maxReports ?? 10_000;
  if (!Number.isInteger(max) || max < 0) {
    throw new VsmmuError('BAD_CONFIG', `maxReports must be a non-negative integer`);
  }
  return new StaleTranslationSanitizer(smmu, t as Translation, opts, max);
}

/** One line for a report, e.g. for a log or the CLI. */
export function renderReport(r: SanitizerReport, sidLabel?: (sid: number) => string): string {
  const sid = sidLabel ? sidLabel(r.sid) : hex(r.sid);
  const ssid = r.ssid === undefined ? '' : ` ssid=${r.ssid}`;
  const what =
    r.kind === 'stale-config'
      ? `${r.structure} word ${r.pte.level}`
      : `stage-${r.pte.stage} level-${r.pte.level} ${r.pte.leaf ? 'leaf' : 'table'} descriptor`;
  const times = r.count > 1 ? ` (x${r.count})` : '';
  return (
    `${r.kind}: sid=${sid}${ssid} ${r.access} iova=${hex(r.iova)} at ${r.dmaAt}${times} may use ` +
    `${what} @${hex(r.pte.pa)} ${hex(r.pte.old)} -> ${hex(r.pte.new)} changed at ${r.changedAt}; ` +
    `missing ${r.missing}: ${r.detail}`
  );
}

class StaleTranslationSanitizer implements Sanitizer, TranslationObserver {
  readonly reports: MutableReport[] = [];
  dropped = 0;
  readonly stats: SanitizerStats = { walks: 0, dmas: 0, invalidations: 0, syncs: 0, changes: 0 };
  readonly walkSink: TraceSink;

  private readonly smmu: Smmu;
  private readonly t: Translation;
  private readonly mem: SparseMemory;
  private readonly opts: SanitizerOptions;
  private readonly max: number;
  private readonly trackConfig: boolean;
  private readonly s2p: boolean;
  private readonly vmidMask: number;
  private readonly asidMask: number;
  private readonly ril: boolean;
  private readonly unobserve: () => void;
  private enabled = true;

  private seq = 0;
  private nextId = 0;
  // Descriptor uses.
  private readonly useByKey = new Map<string, Use>();
  private readonly usesByPa = new Map<number, Set<Use>>();
  private readonly staleUses = new Set<Use>();
  // Configuration uses (STE/CD), indexed by each of their 8 word PAs.
  private readonly cfgByKey = new Map<string, ConfigUse>();
  private readonly cfgByPa = new Map<number, Set<ConfigUse>>();
  private readonly staleCfg = new Set<ConfigUse>();
  /** Watched 64-bit words per 4 KiB page. */
  private readonly pageRefs = new Map<number, number>();
  /** Watched words written since the last settle: first write's (seq, clock). */
  private readonly dirty = new Map<number, { seq: number; at: number }>();
  // Invalidations.
  private pending: Inv[] = [];
  private history: Inv[] = [];
  // The walk in progress.
  private walking = false;
  private steps: Step[] = [];
  private reads: number[] = [];
  private readonly views = new Map<WalkMemory, WalkMemory>();
  // The DMA in progress.
  private cur: TranslateRequest | undefined;
  private curAt = 0;
  private readonly outer: { req: TranslateRequest | undefined; at: number }[] = [];
  private readonly reportKeys = new Map<string, MutableReport>();
  private readonly word = new Uint32Array(2);

  constructor(smmu: Smmu, t: Translation, opts: SanitizerOptions, max: number) {
    this.smmu = smmu;
    this.t = t;
    this.mem = smmu.mem;
    this.opts = opts;
    this.max = max;
    this.trackConfig = opts.config ?? true;
    const f = smmu.features;
    this.s2p = f.s2p;
    this.vmidMask = f.vmid16 ? 0xffff : 0xff;
    this.asidMask = f.asid16 ? 0xffff : 0xff;
    this.ril = f.ril;
    const forward = smmu.trace;
    this.walkSink = (e: TraceEvent) => {
      if (e.kind === 'walk-step' && this.walking) {
        this.steps.push({
          stage: e.stage,
          level: e.level,
          pa: this.reads.pop() ?? -1,
          tablePa: e.tablePa,
          index: e.index,
          value: e.descriptor,
          decision: e.decision,
        });
      }
      if (forward) forward(e);
    };
    ACTIVE.add(smmu);
    this.unobserve = this.mem.observe((a) => this.onAccess(a));
    smmu.setCommandObserver((op, w0, w1) => this.onCommand(op, w0, w1));
    t.setObserver(this);
  }

  // ---------------------------------------------------------------------------- public API

  get tracked(): { uses: number; stale: number; config: number } {
    return { uses: this.useByKey.size, stale: this.staleUses.size, config: this.cfgByKey.size };
  }

  lines(): string[] {
    return this.reports.map((r) => renderReport(r, this.opts.sidLabel));
  }

  clearReports(): void {
    this.reports.length = 0;
    this.reportKeys.clear();
    this.dropped = 0;
  }

  disable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.t.setObserver(undefined);
    this.smmu.setCommandObserver(undefined);
    this.unobserve();
    ACTIVE.delete(this.smmu);
  }

  // ------------------------------------------------------------------- TranslationObserver

  walkMemory(mem: WalkMemory): WalkMemory {
    let v = this.views.get(mem);
    if (!v) {
      v = {
        get mayAbort() {
          return mem.mayAbort;
        },
        aborts: (pa, size) => mem.aborts(pa, size),
        read64Into: (pa, out) => {
          // Each walk step claims the latest read not yet claimed (a nested stage-1 step follows
          // the stage-2 walks of its descriptor address, and of its HTTU write).
          if (this.walking) this.reads.push(pa);
          mem.read64Into(pa, out);
        },
        write64Split: (pa, lo, hi) => mem.write64Split(pa, lo, hi),
      };
      this.views.set(mem, v);
    }
    return v;
  }

  transactionStart(req: TranslateRequest): void {
    this.outer.push({ req: this.cur, at: this.curAt });
    this.settle();
    this.stats.dmas++;
    this.seq++;
    this.cur = req;
    this.curAt = this.clock();
    if (this.staleCfg.size === 0) return;
    const index = req.ssid ?? 0;
    for (const c of this.staleCfg) {
      if (c.sid !== req.sid || (c.kind === 'CD' && c.index !== index)) continue;
      this.reportConfig(c, req);
    }
  }

  transactionEnd(): void {
    const o = this.outer.pop();
    this.cur = o?.req;
    this.curAt = o?.at ?? 0;
  }

  lookup(ctxA: TlbContext | undefined, ctxG: TlbContext, key: number): void {
    const req = this.cur;
    if (req === undefined || this.staleUses.size === 0) return;
    for (const u of this.staleUses) {
      if (this.matches(u, ctxA, ctxG, key)) this.reportUse(u, req);
    }
  }

  walkStart(): void {
    this.settle();
    this.walking = true;
    this.steps = [];
    this.reads = [];
  }

  walkEnd(
    ctxA: TlbContext | undefined,
    ctxG: TlbContext,
    key: number,
    r: WalkResult,
    s1: StageParams | undefined,
    s2: StageParams | undefined,
  ): void {
    this.walking = false;
    const steps = this.steps;
    this.steps = [];
    this.stats.walks++;
    const seq = ++this.seq;
    if (s1 === undefined) {
      // Stage 2 only: the key is the IPA.
      if (!s2) return;
      const g2 = gshift(s2.granule);
      for (const st of steps) {
        if (st.stage !== 2 || !recordable(st)) continue;
        this.addUse(st, seq, undefined, this.partB(ctxG.vmid, key, st, g2));
      }
      return;
    }
    const g1 = gshift(s1.granule);
    // D8.16 R_CHVGJ: entries of levels above the last are non-global (tagged with the ASID).
    const tableCtx = ctxA ?? ctxG;
    const leafCtx = r.ok ? (r.nG && ctxA ? ctxA : ctxG) : tableCtx;
    const s1Part = (st: Step): PartA => {
      const leaf = LEAF_DECISIONS.has(st.decision);
      const b = blockOf(key, levelShift(g1, st.level));
      return {
        ctx: leaf ? leafCtx : tableCtx,
        lo: b.lo,
        hi: b.hi,
        leaf,
        level: st.level,
        gran: g1,
        fromS2: false,
      };
    };
    if (s2 === undefined) {
      for (const st of steps) {
        if (st.stage === 1 && recordable(st)) this.addUse(st, seq, s1Part(st), undefined);
      }
      return;
    }
    // Nested: stage-2 steps before a stage-1 step translated that descriptor's IPA (CLASS TT);
    // the stage-2 steps after the last stage-1 step translated the output IPA.
    const g2 = gshift(s2.granule);
    const vmid = ctxG.vmid;
    let pending: Step[] = [];
    for (const st of steps) {
      if (st.stage === 2) {
        pending.push(st);
        continue;
      }
      if (pending.length > 0) {
        const ipa = st.tablePa + 8 * st.index;
        // What depends on the table's stage-2 translation: the stage-1 walk-cache entries of the
        // VA region that table maps.
        const shift = Math.min(levelShift(g1, st.level - 1), s1.inputBits);
        const b = blockOf(key, shift);
        const a: PartA = {
          ctx: tableCtx,
          lo: b.lo,
          hi: b.hi,
          leaf: false,
          level: st.level - 1,
          gran: g1,
          fromS2: true,
        };
        for (const p of pending) {
          if (recordable(p)) this.addUse(p, seq, a, this.partB(vmid, ipa, p, g2));
        }
        pending = [];
      }
      if (recordable(st)) this.addUse(st, seq, s1Part(st), undefined);
    }
    if (pending.length === 0) return;
    const ipa = r.ipa;
    if (ipa === undefined) return;
    let a: PartA | undefined;
    if (r.ok) {
      const b = blockOf(key, r.blockShift);
      a = {
        ctx: leafCtx,
        lo: b.lo,
        hi: b.hi,
        leaf: true,
        level: r.s1Level,
        gran: g1,
        fromS2: true,
      };
    }
    for (const p of pending) {
      if (recordable(p)) this.addUse(p, seq, a, this.partB(vmid, ipa, p, g2));
    }
  }

  configFetch(
    kind: 'STE' | 'CD',
    sid: number,
    index: number,
    pa: number,
    words: Uint32Array,
  ): void {
    if (!this.trackConfig) return;
    const key = `${kind}|${sid}|${index}|${pa}`;
    const w: bigint[] = [];
    for (let i = 0; i < 8; i++) w.push(joinU64(words[2 * i] as number, words[2 * i + 1] as number));
    const seq = ++this.seq;
    const old = this.cfgByKey.get(key);
    if (old) {
      old.words = w;
      old.fetchedSeq = seq;
      old.stale = undefined;
      this.staleCfg.delete(old);
      return;
    }
    const c: ConfigUse = { key, kind, sid, index, pa, words: w, fetchedSeq: seq, stale: undefined };
    this.cfgByKey.set(key, c);
    for (let i = 0; i < 8; i++) {
      const wpa = pa + 8 * i;
      let set = this.cfgByPa.get(wpa);
      if (!set) {
        set = new Set();
        this.cfgByPa.set(wpa, set);
        this.watch(wpa, 1);
      }
      set.add(c);
    }
  }

  // ------------------------------------------------------------------------------ internals

  private clock(): number {
    return this.opts.clock ? this.opts.clock() : this.seq;
  }

  private partB(vmid: number, ipa: number, st: Step, g2: number): PartB {
    const b = blockOf(ipa, levelShift(g2, st.level));
    return {
      vmid,
      lo: b.lo,
      hi: b.hi,
      leaf: LEAF_DECISIONS.has(st.decision),
      level: st.level,
      gran: g2,
    };
  }

  private addUse(st: Step, seq: number, a: PartA | undefined, b: PartB | undefined): void {
    if (st.pa < 0) return;
    const ka = a ? `${a.ctx.id}:${a.lo}:${a.level}:${a.leaf ? 1 : 0}` : '';
    const kb = b ? `${b.vmid}:${b.lo}:${b.level}:${b.leaf ? 1 : 0}` : '';
    const key = `${st.pa}|${st.value}|${ka}|${kb}`;
    const old = this.useByKey.get(key);
    if (old) {
      old.walkedSeq = seq;
      if (a) old.needA = true;
      if (b) old.needB = true;
      return;
    }
    const u: Use = {
      id: ++this.nextId,
      key,
      pa: st.pa,
      value: st.value,
      stage: st.stage === 2 ? 2 : 1,
      level: st.level,
      leafDesc: LEAF_DECISIONS.has(st.decision),
      a,
      b,
      needA: a !== undefined,
      needB: b !== undefined,
      walkedSeq: seq,
      stale: undefined,
    };
    this.useByKey.set(key, u);
    let set = this.usesByPa.get(st.pa);
    if (!set) {
      set = new Set();
      this.usesByPa.set(st.pa, set);
      this.watch(st.pa, 1);
    }
    set.add(u);
  }

  private removeUse(u: Use): void {
    this.useByKey.delete(u.key);
    this.staleUses.delete(u);
    const set = this.usesByPa.get(u.pa);
    if (!set) return;
    set.delete(u);
    if (set.size === 0) {
      this.usesByPa.delete(u.pa);
      this.watch(u.pa, -1);
    }
  }

  private removeConfig(c: ConfigUse): void {
    this.cfgByKey.delete(c.key);
    this.staleCfg.delete(c);
    for (let i = 0; i < 8; i++) {
      const wpa = c.pa + 8 * i;
      const set = this.cfgByPa.get(wpa);
      if (!set) continue;
      set.delete(c);
      if (set.size === 0) {
        this.cfgByPa.delete(wpa);
        this.watch(wpa, -1);
      }
    }
  }

  private watch(pa: number, delta: number): void {
    const pfn = Math.floor(pa / 4096);
    const n = (this.pageRefs.get(pfn) ?? 0) + delta;
    if (n <= 0) this.pageRefs.delete(pfn);
    else this.pageRefs.set(pfn, n);
  }

  /** Memory observer: note writes to watched words (not the SMMU's own writes during walks). */
  private onAccess(a: MemAccess): void {
    if (a.kind !== 'write' || this.walking || this.pageRefs.size === 0) return;
    const end = a.pa + a.size;
    const first = Math.floor(a.pa / 4096);
    const last = Math.floor((end - 1) / 4096);
    for (let pfn = first; pfn <= last; pfn++) {
      if (!this.pageRefs.has(pfn)) continue;
      const lo = Math.max(a.pa, pfn * 4096);
      const hi = Math.min(end, (pfn + 1) * 4096);
      for (let w = lo - (lo % 8); w < hi; w += 8) {
        if ((this.usesByPa.has(w) || this.cfgByPa.has(w)) && !this.dirty.has(w)) {
          this.dirty.set(w, { seq: ++this.seq, at: this.clock() });
        }
      }
    }
  }

  /** Reads the written words and marks the uses whose value changed (lazily: writes notify first). */
  private settle(): void {
    if (this.dirty.size === 0) return;
    for (const [pa, w] of this.dirty) {
      const cur = this.read64(pa);
      const uses = this.usesByPa.get(pa);
      if (uses) {
        for (const u of uses) {
          const ignored = u.leafDesc ? LEAF_IGNORED : TABLE_IGNORED;
          if (((u.value ^ cur) & ~ignored) !== 0n) {
            if (u.stale) u.stale.new = cur;
            else {
              u.stale = { old: u.value, new: cur, seq: w.seq, at: w.at };
              this.staleUses.add(u);
              this.stats.changes++;
            }
          } else if (u.stale) {
            // Back to the value that was used: any cached copy matches the tables again.
            u.stale = undefined;
            this.staleUses.delete(u);
          }
        }
      }
      const cfgs = this.cfgByPa.get(pa);
      if (cfgs) {
        for (const c of cfgs) {
          const i = (pa - c.pa) / 8;
          const was = c.words[i] as bigint;
          if (was !== cur) {
            if (c.stale && c.stale.word === i) c.stale.new = cur;
            else if (!c.stale) {
              c.stale = { old: was, new: cur, seq: w.seq, at: w.at, word: i };
              this.staleCfg.add(c);
              this.stats.changes++;
            }
          } else if (c.stale && c.stale.word === i && this.sameAsFetched(c)) {
            c.stale = undefined;
            this.staleCfg.delete(c);
          }
        }
      }
    }
    this.dirty.clear();
  }

  private sameAsFetched(c: ConfigUse): boolean {
    for (let i = 0; i < 8; i++) if (this.read64(c.pa + 8 * i) !== c.words[i]) return false;
    return true;
  }

  /** A 64-bit read that leaves the memory's access counter as it was. */
  private read64(pa: number): bigint {
    const m = this.mem;
    const n = m.accesses;
    m.read64Into(pa, this.word);
    m.accesses = n;
    return joinU64(this.word[0] as number, this.word[1] as number);
  }

  // -------------------------------------------------------------------------------- commands

  private onCommand(op: number, w0: bigint, w1: bigint): void {
    this.settle();
    if (op === CMD_OP.CMD_SYNC) {
      this.stats.syncs++;
      this.seq++;
      this.complete();
      return;
    }
    if (!TLBI_OPS.has(op) && !CFGI_OPS.has(op)) return;
    this.stats.invalidations++;
    const inv: Inv = {
      seq: ++this.seq,
      at: this.clock(),
      op,
      name: commandName(w0, w1),
      vmid: F.vmid(w0, w1) & this.vmidMask,
      asid: F.asid(w0, w1) & this.asidMask,
      sid: F.sid(w0, w1),
      ssid: F.ssid(w0, w1),
      cfgRange: F.range(w0, w1),
      leafOnly: ADDR_OPS.has(op) && F.leaf(w0, w1) === 1,
      range: ADDR_OPS.has(op)
        ? decodeTlbiRange(w0, w1, op === CMD_OP.TLBI_S2_IPA, this.ril)
        : undefined,
      completed: false,
    };
    this.pending.push(inv);
    this.history.push(inv);
    if (this.history.length > 2 * KEPT_HISTORY) this.history = this.history.slice(-KEPT_HISTORY);
  }

  /** CMD_SYNC consumed (IHI 0070 §4.7.3): every pending invalidation has completed. */
  private complete(): void {
    const pending = this.pending;
    if (pending.length === 0) return;
    this.pending = [];
    for (const inv of pending) {
      inv.completed = true;
      if (CFGI_OPS.has(inv.op)) {
        for (const c of this.cfgByKey.values()) {
          const since = c.stale ? c.stale.seq : c.fetchedSeq;
          if (since < inv.seq && this.cfgiCovers(inv, c)) this.removeConfig(c);
        }
        continue;
      }
      for (const u of this.useByKey.values()) {
        const since = u.stale ? u.stale.seq : u.walkedSeq;
        if (since >= inv.seq) continue;
        if (u.needA && this.judgeA(inv, u).kind === 'covers') u.needA = false;
        if (u.needB && this.judgeB(inv, u).kind === 'covers') u.needB = false;
        if (!u.needA && !u.needB) this.removeUse(u);
      }
    }
  }

  private cfgiCovers(inv: Inv, c: ConfigUse): boolean {
    switch (inv.op) {
      case CMD_OP.CFGI_STE:
        // The STE and every CD cached through it (§4.3.1).
        return c.sid === inv.sid;
      case CMD_OP.CFGI_STE_RANGE: {
        if (inv.cfgRange === CFGI_RANGE_ALL) return true;
        const n = 2 ** (inv.cfgRange + 1);
        return Math.floor(c.sid / n) === Math.floor(inv.sid / n);
      }
      case CMD_OP.CFGI_CD:
        return c.kind === 'CD' && c.sid === inv.sid && c.index === inv.ssid;
      case CMD_OP.CFGI_CD_ALL:
        return c.kind === 'CD' && c.sid === inv.sid;
      default:
        return false;
    }
  }

  private vmidOk(a: number, b: number): boolean {
    // Without stage 2 there are no VMIDs to match (§4.4: the operand is RES0).
    return !this.s2p || a === b;
  }

  /** Judges an invalidation against the stage-1 / combined part of a use (§4.4, [5.4]). */
  private judgeA(inv: Inv, u: Use): Verdict {
    const a = u.a;
    if (!a) return IRRELEVANT;
    const c = a.ctx;
    const el1 = c.world === WORLD.NS_EL1;
    let tag: SanitizerMissing | undefined;
    let checkRange = false;
    switch (inv.op) {
      case CMD_OP.TLBI_NH_ALL:
        if (!el1) return IRRELEVANT;
        if (!this.vmidOk(c.vmid, inv.vmid)) tag = 'VMID';
        break;
      case CMD_OP.TLBI_NH_ASID:
        if (!el1) return IRRELEVANT;
        if (!this.vmidOk(c.vmid, inv.vmid)) tag = 'VMID';
        else if (c.asid !== inv.asid) tag = 'ASID';
        break;
      case CMD_OP.TLBI_NH_VA:
        if (!el1) return IRRELEVANT;
        if (!this.vmidOk(c.vmid, inv.vmid)) tag = 'VMID';
        else if (c.asid >= 0 && c.asid !== inv.asid) tag = 'ASID';
        checkRange = true;
        break;
      case CMD_OP.TLBI_NH_VAA:
        if (!el1) return IRRELEVANT;
        if (!this.vmidOk(c.vmid, inv.vmid)) tag = 'VMID';
        checkRange = true;
        break;
      case CMD_OP.TLBI_EL2_ALL:
        return el1 ? IRRELEVANT : COVERS;
      case CMD_OP.TLBI_EL2_ASID:
        if (c.world !== WORLD.EL2_E2H) return IRRELEVANT;
        if (c.asid !== inv.asid) tag = 'ASID';
        break;
      case CMD_OP.TLBI_EL2_VA:
        if (el1) return IRRELEVANT;
        if (c.world === WORLD.EL2_E2H && c.asid >= 0 && c.asid !== inv.asid) tag = 'ASID';
        checkRange = true;
        break;
      case CMD_OP.TLBI_EL2_VAA:
        if (el1) return IRRELEVANT;
        checkRange = true;
        break;
      case CMD_OP.TLBI_S12_VMALL:
        if (!el1) return IRRELEVANT;
        return this.vmidOk(c.vmid, inv.vmid) ? COVERS : near('VMID');
      case CMD_OP.TLBI_NSNH_ALL:
        return el1 ? COVERS : IRRELEVANT;
      case CMD_OP.TLBI_S2_IPA: {
        // §4.4.3: not required to remove combined entries. A near miss when it named the IPA.
        const b = u.b;
        if (!a.fromS2 || !b) return IRRELEVANT;
        const r = inv.range as TlbiRange;
        if (!this.vmidOk(b.vmid, inv.vmid) || !(b.lo < r.end && r.start < b.hi)) {
          return IRRELEVANT;
        }
        return near('S12');
      }
      default:
        return IRRELEVANT;
    }
    let rangeMiss = false;
    let hint: SanitizerMissing | undefined;
    if (checkRange) {
      const r = inv.range as TlbiRange;
      rangeMiss = r.half !== c.half || !(a.lo < r.end && r.start < a.hi);
      hint = hintMiss(inv, a.leaf, a.level, a.gran);
    }
    return combine(tag, rangeMiss, hint);
  }

  /** Judges an invalidation against the stage-2 part of a use. */
  private judgeB(inv: Inv, u: Use): Verdict {
    const b = u.b;
    if (!b) return IRRELEVANT;
    switch (inv.op) {
      case CMD_OP.TLBI_S2_IPA: {
        const tag = this.vmidOk(b.vmid, inv.vmid) ? undefined : 'VMID';
        const r = inv.range as TlbiRange;
        const rangeMiss = !(b.lo < r.end && r.start < b.hi);
        return combine(tag, rangeMiss, hintMiss(inv, b.leaf, b.level, b.gran));
      }
      case CMD_OP.TLBI_S12_VMALL:
        return this.vmidOk(b.vmid, inv.vmid) ? COVERS : near('VMID');
      case CMD_OP.TLBI_NSNH_ALL:
        return COVERS;
      case CMD_OP.TLBI_NH_ALL:
      case CMD_OP.TLBI_NH_VA:
      case CMD_OP.TLBI_NH_VAA:
      case CMD_OP.TLBI_NH_ASID:
        // Stage-1 scopes leave stage-2 entries: a near miss when it was this VMID's.
        return this.vmidOk(b.vmid, inv.vmid) ? near('S2') : IRRELEVANT;
      default:
        return IRRELEVANT;
    }
  }

  /** Whether a stale use can serve a lookup of (ctxA | ctxG, key). */
  private matches(u: Use, ctxA: TlbContext | undefined, ctxG: TlbContext, key: number): boolean {
    const a = u.a;
    if (a && (u.needA || u.needB) && (a.ctx === ctxA || a.ctx === ctxG)) {
      if (a.lo <= key && key < a.hi) return true;
    }
    const b = u.b;
    if (b && u.needB && ctxA === undefined && ctxG.kind === TLB_KIND.S2) {
      return this.vmidOk(ctxG.vmid, b.vmid) && b.lo <= key && key < b.hi;
    }
    return false;
  }

  // --------------------------------------------------------------------------------- reports

  /** Why a stale use is not yet invalidated: per part still needed, then the most telling one. */
  private classify(u: Use): { missing: SanitizerMissing; detail: string } {
    const since = (u.stale as Change).seq;
    const parts: ('a' | 'b')[] = [];
    if (u.needA) parts.push('a');
    if (u.needB) parts.push('b');
    let out: { missing: SanitizerMissing; detail: string } | undefined;
    let syncOnly: Inv | undefined;
    for (const p of parts) {
      const judge = (inv: Inv) => (p === 'a' ? this.judgeA(inv, u) : this.judgeB(inv, u));
      const waiting = this.pending.find((inv) => inv.seq > since && judge(inv).kind === 'covers');
      if (waiting) {
        syncOnly = waiting;
        continue;
      }
      let best: { inv: Inv; why: SanitizerMissing; rank: number } | undefined;
      for (const inv of this.history) {
        if (inv.seq <= since) continue;
        const v = judge(inv);
        if (v.kind === 'near' && (!best || v.rank >= best.rank)) {
          best = { inv, why: v.why, rank: v.rank };
        }
      }
      const cand = best
        ? { missing: best.why, detail: nearDetail(best.why, best.inv, u, p) }
        : {
            missing: 'TLBI' as const,
            detail:
              p === 'a'
                ? `no TLBI covering ${describeA(u)} was consumed after the change (IHI 0070 §4.4; DDI 0487 D8.17 R_GPPYH)`
                : `no TLBI_S2_IPA/S12_VMALL covering IPA ${hex((u.b as PartB).lo)} (VMID ${(u.b as PartB).vmid}) was consumed after the change (IHI 0070 §4.4.3)`,
          };
      if (!out || RANK[cand.missing] > RANK[out.missing]) out = cand;
    }
    if (out) return out;
    const w = syncOnly as Inv;
    return {
      missing: 'CMD_SYNC',
      detail: `${w.name} (at ${w.at}) covers it but no CMD_SYNC has completed it (IHI 0070 §3.21.1, §4.7.3)`,
    };
  }

  private reportUse(u: Use, req: TranslateRequest): void {
    const { missing, detail } = this.classify(u);
    const ch = u.stale as Change;
    this.emit(`T${u.id}|${missing}`, req, {
      kind: 'stale-tlb',
      sid: req.sid,
      ...(req.ssid === undefined ? {} : { ssid: req.ssid }),
      iova: req.iova,
      access: req.access,
      pte: {
        pa: BigInt(u.pa),
        old: ch.old,
        new: ch.new,
        level: u.level,
        stage: u.stage,
        leaf: u.leafDesc,
      },
      changedAt: ch.at,
      dmaAt: this.curAt,
      missing,
      detail,
      count: 1,
    });
  }

  private reportConfig(c: ConfigUse, req: TranslateRequest): void {
    const ch = c.stale as Change & { word: number };
    const waiting = this.pending.find((inv) => inv.seq > ch.seq && this.cfgiCovers(inv, c));
    const what =
      c.kind === 'STE'
        ? `STE of StreamID ${hex(c.sid)}`
        : `CD ${c.index} of StreamID ${hex(c.sid)}`;
    const missing: SanitizerMissing = waiting ? 'CMD_SYNC' : 'CFGI';
    const detail = waiting
      ? `${waiting.name} (at ${waiting.at}) covers the ${what} but no CMD_SYNC has completed it (IHI 0070 §3.21.3, §4.7.3)`
      : `the ${what} changed and no CFGI covering it was consumed after the change (IHI 0070 §3.21.3, §4.3)`;
    this.emit(`C${c.key}|${missing}`, req, {
      kind: 'stale-config',
      sid: req.sid,
      ...(req.ssid === undefined ? {} : { ssid: req.ssid }),
      iova: req.iova,
      access: req.access,
      pte: {
        pa: BigInt(c.pa + 8 * ch.word),
        old: ch.old,
        new: ch.new,
        level: ch.word,
        stage: 0,
        leaf: false,
      },
      structure: c.kind,
      changedAt: ch.at,
      dmaAt: this.curAt,
      missing,
      detail,
      count: 1,
    });
  }

  private emit(entryKey: string, req: TranslateRequest, r: SanitizerReport): void {
    const key = `${entryKey}|${req.sid}|${req.ssid ?? -1}|${req.iova >> 12n}|${req.access}`;
    const seen = this.reportKeys.get(key);
    if (seen) {
      seen.count++;
      return;
    }
    if (this.reports.length >= this.max) {
      this.dropped++;
      return;
    }
    // `count` is kept live through the shared record.
    const rec: MutableReport = { ...r };
    this.reportKeys.set(key, rec);
    this.reports.push(rec);
    this.opts.onReport?.(rec);
  }
}

function recordable(st: Step): boolean {
  return st.decision === 'table' || LEAF_DECISIONS.has(st.decision);
}

function near(why: SanitizerMissing): Verdict {
  return { kind: 'near', why, rank: RANK[why] };
}

/** Leaf / TG / TTL rules of §4.4.1.1 for an entry (leaf, level, granule shift). */
function hintMiss(
  inv: Inv,
  leaf: boolean,
  level: number,
  gran: number,
): SanitizerMissing | undefined {
  if (inv.leafOnly && !leaf) return 'leaf';
  const f = inv.range?.filter;
  if (!f) return undefined;
  if (f.granShift !== 0 && f.granShift !== gran) return 'TG';
  // TTL names the leaf level; with Leaf = 0 walk-cache entries above it also go.
  if (f.level !== 0 && (leaf ? level !== f.level : level >= f.level)) return 'TTL';
  return undefined;
}

/** Covers when every check passed; a near miss when exactly one kind of check failed. */
function combine(
  tag: SanitizerMissing | undefined,
  rangeMiss: boolean,
  hint: SanitizerMissing | undefined,
): Verdict {
  const fails = (tag ? 1 : 0) + (rangeMiss ? 1 : 0) + (hint ? 1 : 0);
  if (fails === 0) return COVERS;
  if (fails > 1) return IRRELEVANT;
  return near(tag ?? (rangeMiss ? 'range' : (hint as SanitizerMissing)));
}

function describeA(u: Use): string {
  const a = u.a as PartA;
  const tag = a.ctx.asid >= 0 ? `ASID ${a.ctx.asid}` : `global${a.ctx.aset ? ' (ASET 1)' : ''}`;
  return `VA ${hex(a.lo)}..${hex(a.hi - 1)} (VMID ${a.ctx.vmid}, ${tag})`;
}

function nearDetail(why: SanitizerMissing, inv: Inv, u: Use, part: 'a' | 'b'): string {
  const cmd = `${inv.name} (at ${inv.at}${inv.completed ? '' : ', not yet synced'})`;
  const a = u.a;
  const b = u.b;
  switch (why) {
    case 'ASID':
      return a && a.ctx.asid < 0
        ? `${cmd} does not remove the global entry for ${describeA(u)} (IHI 0070 §4.4.2)`
        : `${cmd} named ASID ${inv.asid} but the entry for ${describeA(u)} is tagged ASID ${a?.ctx.asid}`;
    case 'VMID':
      return `${cmd} named VMID ${inv.vmid} but the entry is tagged VMID ${part === 'a' ? a?.ctx.vmid : b?.vmid}`;
    case 'range':
      return part === 'a'
        ? `${cmd} covers ${rangeText(inv)} but not ${describeA(u)} (IHI 0070 §4.4.1.1)`
        : `${cmd} covers IPA ${rangeText(inv)} but not IPA ${hex(b?.lo ?? 0)} (IHI 0070 §4.4.1.1)`;
    case 'leaf':
      return `${cmd} has Leaf = 1 but a table descriptor changed: walk-cache entries need Leaf = 0 (IHI 0070 §3.21.1, §4.4; DDI 0487 D8.17 R_RVJDB)`;
    case 'TTL':
      return `${cmd} hints level ${inv.range?.filter?.level} but the entry is level ${part === 'a' ? a?.level : b?.level} (IHI 0070 §4.4.1.1)`;
    case 'TG':
      return `${cmd} names granule 2^${inv.range?.filter?.granShift} but the entry uses 2^${part === 'a' ? a?.gran : b?.gran} (IHI 0070 §4.4.1.1)`;
    case 'S12':
      return `${cmd} need not remove combined stage 1+2 entries: a stage-2 change also needs TLBI_NH_ALL/NH_VA(A) or TLBI_S12_VMALL (IHI 0070 §4.4.3; DDI 0487 D8.17)`;
    case 'S2':
      return `${cmd} is a stage-1 invalidation: the stage-2 entries for IPA ${hex(b?.lo ?? 0)} also need TLBI_S2_IPA or TLBI_S12_VMALL (IHI 0070 §4.4.3)`;
    default:
      return `${cmd}`;
  }
}

function rangeText(inv: Inv): string {
  const r = inv.range;
  if (!r) return '-';
  return `${hex(r.start)}..${hex(r.end - 1)}${inv.op === CMD_OP.TLBI_S2_IPA ? '' : ` (half ${r.half})`}`;
}
