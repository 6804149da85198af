// The SMMUv3 translation side (Arm IHI 0070 H.a): stream table and CD lookup (§5.1–§5.4), STE/CD
// validity (§5.2.2, §5.4.2), substreams and S1DSS (§5.2), address-size rules (§3.4, §3.4.1,
// §3.4.3), stage-1/stage-2/nested walks through the pgtable walker (§3.3, DDI 0487 D8), event
// records per situation with their fields (§3.12, §7.2, §7.3; smmuv3-arch.md [2]), the
// configuration caches and TLB with the architected invalidation commands (§3.17, §3.21, §4.3,
// §4.4), the stall model (§3.12.2, §4.7.1–2), ATS Translation Requests and Translated traffic
// (§3.9, CMD_ATC_INV §4.5.1) and the STE attribute overrides (§13). It implements
// TranslationSide (types.ts) against the register/queue side's SmmuCore.
//
// Outcomes are values: a transaction returns a translation, or a termination with at most one
// event (recorded through core.recordEvent), or a stall. The model never merges events (IMPDEF,
// §7.3.1: merging is permitted, never required; STE.MEV is read but has no effect).
// The model departs from the architecture in documented places only: VMSAv8-32 (AArch32)
// tables and mixed-endian nested walks are not modelled (see config.ts and `walkMemory`).

import { lowBits } from '../arch/bits.ts';
import { CMD_OP, type CmdName, COMMANDS } from '../arch/cmd.ts';
import { VsmmuError } from '../arch/errors.ts';
import { type EventFields, type EventName, makeEvent } from '../arch/evt.ts';
import { findField } from '../arch/fields.ts';
import { CR0, CR2 } from '../arch/regs.ts';
import type { EventRecord, TraceSink } from '../arch/trace.ts';
import type { SparseMemory } from '../mem/sparse-memory.ts';
import {
  checkPermission,
  PERM,
  PERM_CHECK,
  type StageParams,
  type WalkFault,
  type WalkMemory,
  type WalkResult,
  walkNested,
  walkS1,
  walkS2,
} from '../pgtable/index.ts';
import type { Atc, AtsCompletion, AtsRequest, TranslatedRequest } from './ats.ts';
import { applyS2, combineSh, effectiveSh, mairByte } from './attrs.ts';
import {
  type CdConfig,
  type CdHalf,
  type ConfigContext,
  type ConfigPolicies,
  parseCd,
  parseSte,
  type SteConfig,
  WORLD,
} from './config.ts';
import {
  type CacheEpoch,
  type CfgiResult,
  type ConfigCacheSizes,
  ConfigCaches,
  cdKey,
  type Eviction,
  type L1CdEntry,
  l1cdKey,
} from './config-cache.ts';
import { checkFastArgs } from './fast-args.ts';
import { memAttrToMair } from './smmu.ts';
import { type StallEnd, type StalledTransaction, StallTable } from './stall.ts';
import { cdPath, decodeL1cd, locateSte, readStruct, streamTableGeometry } from './stream-table.ts';
import {
  attrMem,
  attrSh,
  packAttr,
  TLB_KIND,
  Tlb,
  type TlbContext,
  type TlbEntryView,
  type TlbEviction,
} from './tlb.ts';

export type { TlbEviction } from './tlb.ts';

import {
  FAST_ACCESS,
  FAST_RESULT,
  type MemAttrs,
  type SmmuCore,
  type TranslateRequest,
  type TranslateResult,
  type TranslationSide,
} from './types.ts';

/**
 * checkPermission as two masks per FAST_ACCESS value (write 1, priv 2, inst 4): a TLB hit may
 * be used as it is when its permission bits intersect NEED and not DENY. An instruction fetch
 * (inst without write) needs PX/UX and nothing else; a data access needs PR/PW/UR/UW, is denied
 * by PAN when privileged, and a write to a dirty-pending (DBM) page goes back to the walker.
 */
const PERM_NEED: readonly number[] = [];
const PERM_DENY: readonly number[] = [];
for (let f = 0; f < 8; f++) {
  const write = (f & 1) !== 0;
  const priv = (f & 2) !== 0;
  const exec = (f & 4) !== 0 && !write;
  (PERM_NEED as number[]).push(
    exec
      ? priv
        ? PERM.PX
        : PERM.UX
      : write
        ? priv
          ? PERM.PW
          : PERM.UW
        : priv
          ? PERM.PR
          : PERM.UR,
  );
  (PERM_DENY as number[]).push(exec ? 0 : (priv ? PERM.PAN : 0) | (write ? PERM.DIRTY_PENDING : 0));
}

/** Options of the translation side. Every switch names the architectural choice it makes. */
export interface TranslationOptions {
  /** TLB entries (IMPDEF capacity; default 4096; 0 = no TLB). */
  readonly tlbCapacity?: number;
  /** Entries per configuration cache (STE, L1STD, CD, L1CD; default 1024 each; 0 = none). */
  readonly configCapacity?: number | Partial<ConfigCacheSizes>;
  /** false = "no caching" mode: every transaction fetches and walks (default true). */
  readonly caching?: boolean;
  /**
   * IMPDEF replacement policy of the configuration caches (default 'lru'), and of the TLB when
   * `tlbEviction` is not given.
   */
  readonly eviction?: Eviction;
  /**
   * IMPDEF replacement policy of the TLB (default `eviction` if given, else 'clock': second
   * chance, an LRU approximation like hardware's pseudo-LRU, whose hits cost one store).
   */
  readonly tlbEviction?: TlbEviction;
  /** IMPDEF: §5 — non-zero Reserved STE/CD bits: ignored (default) or ILLEGAL. */
  readonly reservedBits?: 'ignore' | 'illegal';
  /** CONSTRAINED UNPREDICTABLE: §3.4.3 — nested S1ContextPtr beyond IAS (default C_BAD_STE). */
  readonly nestedCdPtrBeyondIas?: 'c_bad_ste' | 's2-fault';
  /**
   * CONSTRAINED UNPREDICTABLE: §3.4.3 — nested L1CD.L2Ptr beyond IAS: C_BAD_SUBSTREAMID
   * (default) or a stage-2 Translation fault on the untruncated address.
   */
  readonly nestedL2PtrBeyondIas?: 'c_bad_substreamid' | 's2-fault';
  /** CONSTRAINED UNPREDICTABLE: §3.4.3 — stream table address beyond OAS (default F_STE_FETCH). */
  readonly steFetchBeyondOas?: 'truncate' | 'abort';
  /**
   * CONSTRAINED UNPREDICTABLE: §5.2 CONT — 'own' (default): every StreamID uses its own STE;
   * 'check': an STE with CONT ≠ 0 whose span holds differing STEs gives F_CFG_CONFLICT, and a span
   * wider than its level-2 array gives C_BAD_STREAMID.
   */
  readonly steCont?: 'own' | 'check';
  /** IMPDEF: an instruction fetch also needs read permission (default true, see walker). */
  readonly execNeedsRead?: boolean;
  /** Called when a stalled transaction ends (CMD_RESUME, CMD_STALL_TERM, SMMUEN 1 → 0). */
  readonly onStallEnd?: (e: StallResolution) => void;
  /** Endpoint ATCs that CMD_ATC_INV reaches (more can be added with `attachAtc`). */
  readonly atcs?: readonly Atc[];
}

/** How a stalled transaction ended. */
export interface StallResolution {
  readonly sid: number;
  readonly stag: number;
  readonly req: TranslateRequest;
  readonly end: StallEnd;
  /** With 'retry': the new transaction's outcome (it may stall again). */
  readonly result?: TranslationResult;
}

/**
 * The outcome of a transaction: TranslateResult (types.ts) plus `razwi` on a termination by
 * RAZ/WI (CD.A == 0): reads return zeros and writes are ignored, the DMA continues.
 */
export type TranslationResult =
  | Extract<TranslateResult, { ok: true }>
  | (Extract<TranslateResult, { ok: false }> & { readonly razwi?: true });

/** Counters of the translation side (cost figures). */
export interface TranslationStats {
  transactions: number;
  walks: number;
  tlbHits: number;
  tlbMisses: number;
  steFetches: number;
  cdFetches: number;
  l1stdFetches: number;
  l1stdHits: number;
  l1cdFetches: number;
  steHits: number;
  cdHits: number;
  events: number;
  stalls: number;
}

/** A cached configuration structure as the inspection hook reports it. */
export interface ConfigEntryView {
  readonly kind: 'STE' | 'L1STD' | 'CD' | 'L1CD';
  readonly sid?: number;
  readonly ssid?: number;
  readonly index?: number;
  readonly valid: boolean;
  readonly detail: string;
}

/**
 * An optional observer of the translation side (the stale-translation sanitizer, sanitizer.ts).
 * Unset, it costs one null check per transaction, lookup and walk.
 */
export interface TranslationObserver {
  /** Trace sink the observed walks use (it forwards to the core's own sink itself). */
  readonly walkSink: TraceSink;
  /** The view of `mem` walks read descriptors through while observed. */
  walkMemory(mem: WalkMemory): WalkMemory;
  /** A transaction (translate()) starts; `transactionEnd` follows when it has its outcome. */
  transactionStart(req: TranslateRequest): void;
  transactionEnd(): void;
  /**
   * The TLB contexts and key of a lookup are known: stage 1 (maybe nested: `ctxA` ASID-tagged,
   * `ctxG` global) or stage 2 only (`ctxA` undefined, `ctxG` the stage-2 context, key = IPA).
   */
  lookup(ctxA: TlbContext | undefined, ctxG: TlbContext, key: number): void;
  /** A walk starts: its steps follow through `walkSink`. */
  walkStart(): void;
  /** The walk ended with `r` (`s1`/`s2`: the stage parameters it used). */
  walkEnd(
    ctxA: TlbContext | undefined,
    ctxG: TlbContext,
    key: number,
    r: WalkResult,
    s1: StageParams | undefined,
    s2: StageParams | undefined,
  ): void;
  /** An STE or CD was fetched from `pa` (64 bytes, `words` as read) into the configuration cache. */
  configFetch(kind: 'STE' | 'CD', sid: number, index: number, pa: number, words: Uint32Array): void;
}

/** The translation side with its inspection hooks. */
export interface Translation extends TranslationSide {
  translate(req: TranslateRequest): TranslationResult;
  translateFast(sid: number, ssid: number, iova: number, flags: number): number;
  lastResult(): TranslationResult;
  /** An ATS Translation Request (§3.9.1). */
  atsTranslate(req: AtsRequest): AtsCompletion;
  /** A Translated (pre-translated) transaction (§3.9.1, SMMU_CR0.ATSCHK). */
  translated(req: TranslatedRequest): TranslationResult;
  /** Adds an endpoint ATC that CMD_ATC_INV reaches. */
  attachAtc(atc: Atc): void;
  tlbEntries(): TlbEntryView[];
  configEntries(): ConfigEntryView[];
  /** Outstanding stalled transactions. */
  stalls(): readonly StalledTransaction[];
  readonly stats: Readonly<TranslationStats>;
  /** Installs (or with undefined removes) the observer (see TranslationObserver). */
  setObserver(o: TranslationObserver | undefined): void;
}

/** CD cache value: the parsed CD plus what translations need from it, resolved once. */
interface CdEntry {
  readonly cd: CdConfig;
  /** ASID-tagged TLB contexts per half (undefined for the single-range EL2 world). */
  readonly ctxA: readonly [TlbContext | undefined, TlbContext | undefined];
  /** Global TLB contexts per half. */
  readonly ctxG: readonly [TlbContext, TlbContext];
  /** Bits [AddrTop:inputBits] of a VA, per half (must be all 0 / all 1). */
  readonly rangeMask: readonly [bigint, bigint];
  /** Stage-1-only (split-stage ATS) contexts of a nested STE, per half. */
  readonly splitA: readonly [TlbContext | undefined, TlbContext | undefined];
  readonly splitG: readonly [TlbContext, TlbContext];
}

/** One transaction in flight; PnU/InD become the post-override values once the STE is known. */
interface Txn {
  /** The caller's request; undefined on the number path until a stall or an observer needs it. */
  req: TranslateRequest | undefined;
  readonly sid: number;
  readonly ssid: number | undefined;
  readonly write: boolean;
  priv: boolean;
  inst: boolean;
  /** The caller's PnU / InD flags (before STE overrides). */
  readonly reqPriv: boolean;
  readonly reqInst: boolean | undefined;
  /** The input address as a number when below 2^53 (`big` false). */
  readonly va: number;
  /** Input address at or above 2^53: only `req.iova` holds it exactly. */
  readonly big: boolean;
  /** ATS Translation Request: nothing is recorded or stalled (§3.9.1). */
  readonly silent: boolean;
  /** Split-stage ATS: stage 1 only (the result is an IPA). */
  readonly s1Only: boolean;
  ste: SteConfig | undefined;
  /** The CD in use (its S/R/A controls decide stage-1 fault handling). */
  cd: CdConfig | undefined;
}

/**
 * Internal success: addresses and the permission/attribute data behind them. One scratch
 * instance per translation side is refilled by every lookup and read at once by the caller.
 */
class Hit {
  pa = 0;
  perm1 = 0;
  perm2 = 0;
  /** log2 of the translation's block size. */
  shift = 0;
  attr = 0;
  bypass = false;
}

/** Internal failure: the result to return (already recorded), plus the fault for ATS logic. */
interface Fail {
  readonly fail: TranslationResult;
  readonly fault?: string;
}

type Step<T> = T | Fail;

function isFail<T>(x: Step<T>): x is Fail {
  return typeof x === 'object' && x !== null && 'fail' in x;
}

/**
 * applyS2 memoized (it is pure, and called on every nested walk): index
 * (fwb · 257 + prior + 1) · 16 + memAttr, −2 = not yet computed. Arguments outside the table
 * (never produced here: prior is −1 or a MAIR byte, memAttr 4 bits) go to applyS2 itself.
 */
const APPLY_S2 = new Int16Array(2 * 257 * 16).fill(-2);
function applyS2Memo(prior: number, memAttr: number, fwb: boolean): number {
  const p = prior + 1;
  if ((p & 511) !== p || p > 256 || (memAttr & 15) !== memAttr) return applyS2(prior, memAttr, fwb);
  const k = ((fwb ? 257 : 0) + p) * 16 + memAttr;
  let v = APPLY_S2[k] as number;
  if (v === -2) {
    v = applyS2(prior, memAttr, fwb);
    APPLY_S2[k] = v;
  }
  return v;
}

/** memAttrToMair memoized per 4-bit STE.MemAttr / S2 MemAttr (−1 = not yet computed). */
const MAIR_OF = new Int16Array(16).fill(-1);
function mairOf(memAttr: number): number {
  if ((memAttr & 15) !== memAttr) return memAttrToMair(memAttr);
  let v = MAIR_OF[memAttr] as number;
  if (v < 0) {
    v = memAttrToMair(memAttr);
    MAIR_OF[memAttr] = v;
  }
  return v;
}

const MASK52 = (1n << 52n) - 1n;
const TWO53N = 1n << 53n;
const TWO52 = 2 ** 52;
const SSID_SPAN = 2 ** 20;

const ABORTED: TranslationResult = { ok: false };

const WALK_EVENT: Readonly<Record<WalkFault['fault'], EventName>> = {
  translation: 'F_TRANSLATION',
  addrSize: 'F_ADDR_SIZE',
  access: 'F_ACCESS',
  permission: 'F_PERMISSION',
  walkEabt: 'F_WALK_EABT',
};

const CLASS_CODE = { CD: 0, TT: 1, IN: 2 } as const;

// Register fields the translation side reads (positions from src/arch/regs.ts).
const CR0_SMMUEN = findField(CR0, 'SMMUEN').lo;
const CR0_ATSCHK = findField(CR0, 'ATSCHK').lo;
const CR2_E2H = findField(CR2, 'E2H').lo;
const CR2_RECINVSID = findField(CR2, 'RECINVSID').lo;

/** A command field reader: (name, field) → bigint getter over (w0, w1). */
function cmdField(cmd: CmdName, name: string): (w0: bigint, w1: bigint) => bigint {
  const f = findField(COMMANDS[cmd], name);
  // getBits with the shift and mask worked out once (commands are executed in bulk).
  const shift = BigInt(f.lo);
  const mask = (1n << BigInt(f.hi - f.lo + 1)) - 1n;
  return f.word === 0 ? (w0) => (w0 >> shift) & mask : (_w0, w1) => (w1 >> shift) & mask;
}

const CF = {
  sid: cmdField('CFGI_STE', 'StreamID'),
  leaf: cmdField('CFGI_STE', 'Leaf'),
  range: cmdField('CFGI_STE_RANGE', 'Range'),
  ssid: cmdField('CFGI_CD', 'SubstreamID'),
  vmid: cmdField('TLBI_NH_ALL', 'VMID'),
  asid: cmdField('TLBI_NH_ASID', 'ASID'),
  num: cmdField('TLBI_NH_VA', 'NUM'),
  scale: cmdField('TLBI_NH_VA', 'SCALE'),
  ttl: cmdField('TLBI_NH_VA', 'TTL'),
  tg: cmdField('TLBI_NH_VA', 'TG'),
  addr: cmdField('TLBI_NH_VA', 'Addr'),
  ipa: cmdField('TLBI_S2_IPA', 'IPA'),
  atcGlobal: cmdField('ATC_INV', 'Global'),
  atcSsv: cmdField('ATC_INV', 'SSV'),
  atcSize: cmdField('ATC_INV', 'Size'),
  ac: cmdField('RESUME', 'Ac'),
  ab: cmdField('RESUME', 'Ab'),
  stag: cmdField('RESUME', 'STAG'),
} as const;

/** Byte-swaps a u32 (big-endian translation tables). */
function bswap32(x: number): number {
  return (
    ((x & 0xff) * 0x100_0000 +
      ((x >>> 8) & 0xff) * 0x1_0000 +
      ((x >>> 16) & 0xff) * 0x100 +
      (x >>> 24)) >>>
    0
  );
}

/**
 * A little-endian view of a memory smaller than the 52-bit address space: every descriptor access
 * is checked, so a descriptor pointing beyond the memory is an external abort (F_WALK_EABT)
 * rather than a usage error of the memory (guest-controlled input never throws).
 */
class BoundedMemory implements WalkMemory {
  readonly mayAbort = true;
  private readonly mem: SparseMemory;
  constructor(mem: SparseMemory) {
    this.mem = mem;
  }
  aborts(pa: number, size: number): boolean {
    return this.mem.aborts(pa, size);
  }
  read64Into(pa: number, out: Uint32Array): void {
    this.mem.read64Into(pa, out);
  }
  write64Split(pa: number, lo: number, hi: number): void {
    this.mem.write64Split(pa, lo, hi);
  }
}

/** A view of memory whose 64-bit descriptors are big-endian (CD.ENDI / STE.S2ENDI == 1). */
class BigEndianMemory implements WalkMemory {
  private readonly mem: SparseMemory;
  constructor(mem: SparseMemory) {
    this.mem = mem;
  }
  get mayAbort(): boolean {
    return this.mem.mayAbort || this.mem.limit < TWO52;
  }
  aborts(pa: number, size: number): boolean {
    return this.mem.aborts(pa, size);
  }
  read64Into(pa: number, out: Uint32Array): void {
    this.mem.read64Into(pa, out);
    const lo = out[0] as number;
    out[0] = bswap32(out[1] as number);
    out[1] = bswap32(lo);
  }
  write64Split(pa: number, lo: number, hi: number): void {
    this.mem.write64Split(pa, bswap32(hi), bswap32(lo));
  }
}

/**
 * Stage-1 table memory of a split-stage (EATS 0b10) walk: the stage-1 descriptors live in IPA
 * space, so each descriptor address goes through a stage-2 walk (CLASS TT) before it is read,
 * while the walk's output stays an IPA. A stage-2 fault is kept in `fault` and surfaces as a
 * failed read.
 */
class Stage2TableView implements WalkMemory {
  readonly mayAbort = true;
  fault: WalkFault | undefined;
  private pa = 0;
  private readonly base: WalkMemory;
  private readonly s2: StageParams;
  private readonly sink: TraceSink | undefined;
  constructor(base: WalkMemory, s2: StageParams, sink: TraceSink | undefined) {
    this.base = base;
    this.s2 = s2;
    this.sink = sink;
  }
  aborts(ipa: number, size: number): boolean {
    const r = walkS2(
      this.base,
      this.s2,
      { address: ipa, write: false, exec: false, priv: false },
      this.sink,
      'TT',
    );
    if (!r.ok) {
      this.fault = r;
      return true;
    }
    this.pa = r.oa;
    return this.base.mayAbort && this.base.aborts(r.oa, size);
  }
  read64Into(_ipa: number, out: Uint32Array): void {
    this.base.read64Into(this.pa, out);
  }
  write64Split(ipa: number, lo: number, hi: number): void {
    // A hardware update of a stage-1 descriptor needs stage-2 write permission; without it the
    // update is dropped (split-stage ATS requests record nothing).
    const r = walkS2(
      this.base,
      this.s2,
      { address: ipa, write: true, exec: false, priv: false },
      this.sink,
      'TT',
    );
    if (r.ok) this.base.write64Split(r.oa, lo, hi);
  }
}

/** Creates the translation side for a register/queue side (`core`). */
export function createTranslation(core: SmmuCore, opts: TranslationOptions = {}): Translation {
  return new TranslationModel(core, opts);
}

class TranslationModel implements Translation {
  private readonly st: TranslationStats = {
    transactions: 0,
    walks: 0,
    tlbHits: 0,
    tlbMisses: 0,
    steFetches: 0,
    cdFetches: 0,
    l1stdFetches: 0,
    l1stdHits: 0,
    l1cdFetches: 0,
    steHits: 0,
    cdHits: 0,
    events: 0,
    stalls: 0,
  };
  private readonly core: SmmuCore;
  private readonly mem: SparseMemory;
  private readonly beMem: BigEndianMemory;
  private readonly leMem: WalkMemory;
  private readonly tlb: Tlb;
  private readonly caches: ConfigCaches<CdEntry>;
  /** The configuration caches' shared epoch (version, LRU clock): read on every fast hit. */
  private readonly epoch: CacheEpoch;
  private readonly stallTable: StallTable;
  private readonly policies: ConfigPolicies;
  private readonly steFetchBeyondOas: 'truncate' | 'abort';
  private readonly nestedL2PtrBeyondIas: 'c_bad_substreamid' | 's2-fault';
  private readonly steCont: 'own' | 'check';
  private readonly execNeedsRead: boolean;
  private readonly onStallEnd: ((e: StallResolution) => void) | undefined;
  private readonly atcs: Atc[];
  private readonly vmidMask: number;
  private readonly asidMask: number;
  private observer: TranslationObserver | undefined;

  constructor(core: SmmuCore, opts: TranslationOptions) {
    this.core = core;
    this.mem = core.mem;
    this.beMem = new BigEndianMemory(core.mem);
    // Descriptor addresses stay below 2^52; only a smaller memory needs every access checked.
    this.leMem = core.mem.limit < TWO52 ? new BoundedMemory(core.mem) : core.mem;
    const caching = opts.caching ?? true;
    const eviction = opts.eviction ?? 'lru';
    const tlbCap = caching ? (opts.tlbCapacity ?? 4096) : 0;
    const cc = opts.configCapacity;
    const dflt = typeof cc === 'number' ? cc : 1024;
    const sizes: ConfigCacheSizes = {
      ste: caching ? ((typeof cc === 'object' ? cc.ste : undefined) ?? dflt) : 0,
      l1std: caching ? ((typeof cc === 'object' ? cc.l1std : undefined) ?? dflt) : 0,
      cd: caching ? ((typeof cc === 'object' ? cc.cd : undefined) ?? dflt) : 0,
      l1cd: caching ? ((typeof cc === 'object' ? cc.l1cd : undefined) ?? dflt) : 0,
    };
    for (const [k, v] of [['tlbCapacity', tlbCap], ...Object.entries(sizes)] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new VsmmuError('BAD_CONFIG', `${k} must be a non-negative integer, got ${String(v)}`);
      }
    }
    // IMPDEF: §3.17 TLB replacement (default CLOCK, see tlb.ts).
    this.tlb = new Tlb(tlbCap, opts.tlbEviction ?? opts.eviction ?? 'clock', core.trace);
    this.caches = new ConfigCaches<CdEntry>(sizes, eviction);
    this.epoch = this.caches.epoch;
    this.stallTable = new StallTable(core.features.stallMax);
    this.policies = {
      reservedBits: opts.reservedBits ?? 'ignore',
      nestedCdPtrBeyondIas: opts.nestedCdPtrBeyondIas ?? 'c_bad_ste',
    };
    this.steFetchBeyondOas = opts.steFetchBeyondOas ?? 'abort';
    this.nestedL2PtrBeyondIas = opts.nestedL2PtrBeyondIas ?? 'c_bad_substreamid';
    this.steCont = opts.steCont ?? 'own';
    this.execNeedsRead = opts.execNeedsRead ?? true;
    this.onStallEnd = opts.onStallEnd;
    this.atcs = [...(opts.atcs ?? [])];
    this.vmidMask = core.features.vmid16 ? 0xffff : 0xff;
    this.asidMask = core.features.asid16 ? 0xffff : 0xff;
  }

  // ------------------------------------------------------------------------------------------
  // Public API

  translate(req: TranslateRequest): TranslationResult {
    const ssid = req.ssid ?? -1;
    // The remembered (StreamID, SubstreamID) takes the number path, hit or miss: the same
    // results and effects (no observer or trace sink is installed while one is remembered).
    if (
      req.sid === this.mSid &&
      ssid === this.mSsid &&
      this.mVer >= 0 &&
      req.iova >= 0n &&
      req.iova < TWO53N
    ) {
      const flags =
        (req.access === 'write' ? 1 : 0) +
        (req.priv === true ? 2 : 0) +
        (req.inst === true ? 4 : 0);
      this.translateFast(req.sid, ssid, Number(req.iova), flags);
      return this.lastResult();
    }
    this.st.transactions++;
    const obs = this.observer;
    if (obs !== undefined) obs.transactionStart(req);
    const t = this.txn(req, false, false);
    const r = this.resolve(t);
    const out = isFail(r) ? r.fail : this.success(t, r);
    if (obs !== undefined) obs.transactionEnd();
    return out;
  }

  /**
   * The number path. Its TLB-hit part works without objects or bigints: remembered configuration
   * → TLB lookup → permission check → the PA (also in `lastPa`), with exactly the effects of the
   * general path on a hit (cache replacement state, counters); anything else (a miss, a fault,
   * another configuration) goes to fastMiss before any effect but the TLB's replacement state,
   * which the general path then updates the same way. The arguments are checked by what they
   * are compared with (StreamID and SubstreamID equal the remembered, valid ones; the address is
   * an integer in [0, limit); the flags 3 bits), and by fastMiss otherwise. Written as one small
   * body (with lookupPair) so that V8 inlines the whole hit path into hot callers.
   */
  translateFast(sid: number, ssid: number, va: number, flags: number): number {
    const epoch = this.epoch;
    if (
      sid === this.mSid &&
      ssid === this.mSsid &&
      epoch.version === this.mVer &&
      va >= 0 &&
      va < this.mLimit &&
      Math.floor(va) === va &&
      (flags & 7) === flags
    ) {
      const tlb = this.tlb;
      // The ASID-tagged context first, then the global one, in one call.
      const slot = tlb.lookupPair(this.mCtxA, this.mCtxG as TlbContext, va);
      if (slot >= 0) {
        const f = (flags & this.mFlagsKeep) | this.mFlagsSet;
        // Stage 1, or for a nested configuration both stages, in one mask.
        const p = tlb.permHit(slot);
        if ((p & (this.permNeed[f] as number)) !== 0 && (p & (this.permDeny[f] as number)) === 0) {
          // The remembered STE and CD are hits of their caches: re-stamp them unless they are
          // still the most recent (the shared clock has not moved since they were stamped).
          if (epoch.clock !== this.mClock) this.touchRemembered();
          this.fastHits++;
          const pa = tlb.outputOf(slot, va);
          this.lastPa = pa;
          // attrsOf's key with alloc −1: priv is FAST_ACCESS bit 1, inst bit 2 (data only).
          this.lastInfo = tlb.attr(slot) * 64 + (f & 2) + ((f & 5) === 4 ? 1 : 0);
          return pa;
        }
      }
    }
    return this.fastMiss(sid, ssid, va, flags);
  }

  /** The general path of a number-path transaction (anything but a remembered TLB hit). */
  private fastMiss(sid: number, ssid: number, va: number, flags: number): number {
    checkFastArgs(sid, ssid, va, flags);
    // The remembered configuration with an address in its range: straight to its TLB and walk.
    if (
      sid === this.mSid &&
      ssid === this.mSsid &&
      this.epoch.version === this.mVer &&
      va < this.mLimit
    ) {
      return this.missRemembered(va, flags);
    }
    this.st.transactions++;
    const t = this.fastTxn(sid, ssid, va, flags);
    const obs = this.observer;
    if (obs !== undefined) obs.transactionStart(this.reqOf(t));
    const r = this.resolve(t);
    let out: number;
    if (isFail(r)) {
      out = this.noteFail(r);
    } else {
      this.noteHit(t, r);
      out = r.pa;
    }
    if (obs !== undefined) obs.transactionEnd();
    return out;
  }

  /** The transaction of a number-path request (checked arguments). */
  private fastTxn(sid: number, ssid: number, va: number, flags: number): Txn {
    const write = (flags & 1) !== 0;
    const priv = (flags & 2) !== 0;
    const inst = (flags & 4) !== 0;
    return {
      req: undefined,
      sid,
      ssid: ssid < 0 ? undefined : ssid,
      write,
      priv,
      inst: !write && inst,
      reqPriv: priv,
      reqInst: inst,
      va,
      big: false,
      silent: false,
      s1Only: false,
      ste: undefined,
      cd: undefined,
    };
  }

  /** Records a number-path failure for lastResult; returns its FAST_RESULT code. */
  private noteFail(r: Fail): number {
    const f = r.fail;
    this.lastFail = f;
    this.lastInfo = -1;
    return f.ok
      ? FAST_RESULT.ABORT
      : f.stalled
        ? FAST_RESULT.STALLED
        : f.razwi
          ? FAST_RESULT.RAZWI
          : FAST_RESULT.ABORT;
  }

  /**
   * A number-path transaction of the remembered configuration that did not hit in translateFast
   * (a TLB miss, or a hit that needs the walker or faults), with exactly the general path's
   * effects: resolve would find the remembered STE and CD in their caches (the version is
   * unchanged), apply the same overrides and reach stage 1 of TTB0 (the address is below the
   * half's limit, no E0PD, no observer or trace sink). The STE and CD hits are stamped as in
   * translateFast. A miss walks with the remembered walk parameters and fills the TLB without
   * a transaction object; anything else (a TLB hit, a walk fault) builds the transaction and
   * continues in stage1 / walkFault.
   */
  private missRemembered(va: number, flags: number): number {
    const st = this.st;
    st.transactions++;
    if (this.epoch.clock !== this.mClock) this.touchRemembered();
    st.steHits++;
    st.cdHits++;
    const tlb = this.tlb;
    const ctxA = this.mCtxA;
    const ctxG = this.mCtxG as TlbContext;
    // stage1's lookups (ASID-tagged context first, then the global one); a hit was already
    // looked up by translateFast, so repeating it changes no replacement state.
    if (tlb.lookupPair(ctxA, ctxG, va) >= 0) {
      const t = this.rememberedTxn(va, flags);
      const r = this.stage1(t, t.ste as SteConfig, this.mEntry as CdEntry);
      if (isFail(r)) return this.noteFail(r);
      this.noteHit(t, r);
      return r.pa;
    }
    st.tlbMisses++;
    st.walks++;
    const f = (flags & this.mFlagsKeep) | this.mFlagsSet;
    const write = (flags & 1) !== 0;
    const priv = (f & 2) !== 0;
    const exec = (f & 4) !== 0 && !write;
    const w = this.wreq;
    w.address = va;
    w.write = write;
    w.exec = exec;
    w.priv = priv;
    const s1 = this.mS1 as StageParams;
    const s2 = this.mS2;
    const mem = this.mMem as WalkMemory;
    const r =
      s2 === undefined
        ? walkS1(mem, s1, w, this.core.trace)
        : walkNested(mem, s1, s2, w, this.core.trace);
    if (!r.ok) return this.noteFail(this.walkFault(this.rememberedTxn(va, flags), r));
    const fwb = s2 === undefined ? undefined : s2.fwb === true;
    const attr = this.fill(r, this.mCd as CdConfig, fwb, ctxA, ctxG, va, this.mGran);
    const oa = r.oa;
    // noteHit of a translated (not bypassed) result: attrsOf's key with alloc −1.
    this.lastPa = oa;
    this.lastInfo = attr * 64 + (priv ? 2 : 0) + (exec ? 1 : 0);
    return oa;
  }

  /**
   * Fills the TLB from a successful stage-1 (or nested, when `s2Fwb` is defined: S2FWB) walk of
   * `key`: the attributes from the CD's MAIR (combined with stage 2's), the entry in the
   * ASID-tagged context when the leaf is nG (and there is one: EL2 entries are global), else the
   * global one. Returns the packed attribute.
   */
  private fill(
    r: WalkResult & { ok: true },
    cd: CdConfig,
    s2Fwb: boolean | undefined,
    ctxA: TlbContext | undefined,
    ctxG: TlbContext,
    key: number,
    granShift: number,
  ): number {
    const nested = s2Fwb !== undefined;
    let memAttr = mairByte(cd.mairLo, cd.mairHi, r.attrIndx);
    let sh = r.sh;
    if (nested) {
      memAttr = applyS2Memo(memAttr, r.memAttr, s2Fwb);
      sh = combineSh(sh, r.s2Sh);
    }
    const attr = packAttr(memAttr, effectiveSh(memAttr, sh));
    const shift = r.blockShift;
    this.tlb.insert(
      r.nG && ctxA ? ctxA : ctxG,
      key,
      shift,
      r.oa - lowBits(r.oa, shift),
      nested ? r.ipa - lowBits(r.ipa, shift) : -1,
      r.s1Perms,
      nested ? r.s2Perms : 0xff,
      attr,
      r.s1Level,
      granShift,
    );
    return attr;
  }

  /** The transaction of the remembered configuration as resolve leaves it before stage 1. */
  private rememberedTxn(va: number, flags: number): Txn {
    const t = this.fastTxn(this.mSid, this.mSsid, va, flags);
    this.applyOverrides(t, this.mSte as SteConfig);
    t.cd = this.mCd;
    return t;
  }

  setLastResult(r: TranslationResult): void {
    this.lastFail = r;
    this.lastInfo = -1;
  }

  lastResult(): TranslationResult {
    const info = this.lastInfo;
    if (info < 0) return this.lastFail as TranslationResult;
    // info is attrsOf's key: ((attr × 16 + alloc + 1) × 2 + priv) × 2 + inst.
    return {
      ok: true,
      pa: BigInt(this.lastPa),
      attrs: this.attrsOf(info >>> 6, ((info >>> 2) & 15) - 1, (info & 2) !== 0, (info & 1) !== 0),
    };
  }

  // Outcome of the last number-path transaction (lastResult builds the object on demand): the
  // PA and attrsOf's key of a success, or −1 with the result in lastFail.
  private lastFail: TranslationResult | undefined = { ok: false };
  private lastPa = 0;
  private lastInfo = -1;

  // The configuration of the last (StreamID, SubstreamID) that reached stage 1 through cached
  // STE and CD entries, with their cache slots: valid while the caches' shared version equals
  // mVer. mVer is −1 (nothing remembered) while an observer or a trace sink is installed.
  private mSid = -1;
  private mSsid = -1;
  private mVer = -1;
  // The caches' LRU clock after the last touch of the remembered slots (−1: touch on next hit).
  private mClock = -1;
  // What the hit path needs from them, flattened: flags forced by STE PRIVCFG/INSTCFG (set and
  // clear masks over FAST_ACCESS bits), the TTB0 half's input limit (0 = disabled),
  // the TTB0 contexts.
  private mFlagsSet = 0;
  private mFlagsKeep = 7;
  private mLimit = 0;
  private mCtxA: TlbContext | undefined = undefined;
  private mCtxG: TlbContext | undefined = undefined;
  private mSteSlot = -1;
  private mCdSlot = -1;
  // What missRemembered needs: the STE and CD (with its cache entry), the walk parameters of
  // stage 1 and (nested) stage 2 as stage1 passes them, log2 of the stage-1 granule, the
  // descriptor memory, and a walk request reused by every walk (the walker reads it at once).
  private mSte: SteConfig | undefined = undefined;
  private mEntry: CdEntry | undefined = undefined;
  private mCd: CdConfig | undefined = undefined;
  private mS1: StageParams | undefined = undefined;
  private mS2: StageParams | undefined = undefined;
  private mGran = 0;
  private mMem: WalkMemory | undefined = undefined;
  private readonly wreq = { address: 0, write: false, exec: false, priv: false };
  // Fast-path hits not yet added to st (the stats getter folds them in).
  private fastHits = 0;
  // The module's permission tables, as fields (a field load is cheaper than a module constant).
  private readonly permNeed = PERM_NEED;
  private readonly permDeny = PERM_DENY;

  /** Stamps the remembered STE and CD cache slots as hits (see translateFast). */
  private touchRemembered(): void {
    const caches = this.caches;
    caches.ste.touch(this.mSteSlot);
    caches.cd.touch(this.mCdSlot);
    this.mClock = caches.epoch.clock;
  }

  /** Remembers the configuration of a transaction about to enter stage 1 (see translateFast). */
  private remember(sid: number, ssid: number, ste: SteConfig, entry: CdEntry, key: number): void {
    const caches = this.caches;
    if (sid === this.mSid && ssid === this.mSsid && caches.epoch.version === this.mVer) return;
    // Forget (the caches' version never is −1).
    this.mVer = -1;
    if (this.observer !== undefined || this.core.trace !== undefined) return;
    const h = entry.cd.halves[0];
    // E0PD makes unprivileged accesses to the half fault: not worth a check on every hit.
    if (h.e0pd) return;
    const steSlot = caches.ste.slotOf(sid);
    const cdSlot = caches.cd.slotOf(key);
    if (steSlot < 0 || cdSlot < 0) return;
    this.mSid = sid;
    this.mSsid = ssid;
    // PRIVCFG / INSTCFG 0b10 and 0b11 force the attribute; anything else takes the incoming one.
    this.mFlagsKeep =
      1 | (ste.privcfg >= 2 ? 0 : FAST_ACCESS.PRIV) | (ste.instcfg >= 2 ? 0 : FAST_ACCESS.INST);
    this.mFlagsSet =
      (ste.privcfg === 3 ? FAST_ACCESS.PRIV : 0) | (ste.instcfg === 3 ? FAST_ACCESS.INST : 0);
    this.mLimit = h.enabled ? h.limit : 0;
    this.mCtxA = entry.ctxA[0];
    this.mCtxG = entry.ctxG[0];
    this.mSteSlot = steSlot;
    this.mCdSlot = cdSlot;
    const cd = entry.cd;
    this.mSte = ste;
    this.mEntry = entry;
    this.mCd = cd;
    // (missRemembered runs only below mLimit, so only with the half enabled.)
    const p = h.enabled ? h.params : undefined;
    this.mS1 = p === undefined ? undefined : this.s1Params(p);
    this.mS2 = ste.s2 ? this.s2Params(ste.s2Params as StageParams) : undefined;
    this.mGran = p === undefined ? 0 : Math.log2(p.granule);
    this.mMem = this.walkMemory(cd.bigEndian);
    this.mVer = caches.epoch.version;
    this.mClock = -1;
  }

  /** Records a number-path success for lastResult. */
  private noteHit(t: Txn, h: Hit): void {
    const ste = t.ste as SteConfig;
    const alloc = h.bypass && ste.alloccfg >= 8 ? ste.alloccfg - 8 : -1;
    this.lastPa = h.pa;
    this.lastInfo = ((h.attr * 16 + (alloc + 1)) * 2 + (t.priv ? 1 : 0)) * 2 + (t.inst ? 1 : 0);
  }

  /** Counters, with the fast path's hits folded in. */
  get stats(): Readonly<TranslationStats> {
    const n = this.fastHits;
    if (n !== 0) {
      const st = this.st;
      st.transactions += n;
      st.steHits += n;
      st.cdHits += n;
      st.tlbHits += n;
      this.fastHits = 0;
    }
    return this.st;
  }

  /** The request of a transaction (built on the number path when first needed). */
  private reqOf(t: Txn): TranslateRequest {
    if (t.req === undefined) {
      t.req = {
        sid: t.sid,
        ssid: t.ssid,
        iova: BigInt(t.va),
        access: t.write ? 'write' : 'read',
        priv: t.reqPriv,
        inst: t.reqInst,
      };
    }
    return t.req;
  }

  /** The input address as a bigint (event records). */
  private inputAddr(t: Txn): bigint {
    return t.req !== undefined ? t.req.iova : BigInt(t.va);
  }

  setObserver(o: TranslationObserver | undefined): void {
    this.observer = o;
    // An observer sees every transaction: no remembered fast path while one is installed.
    this.mVer = -1;
  }

  atsTranslate(req: AtsRequest): AtsCompletion {
    return this.ats(req);
  }

  translated(req: TranslatedRequest): TranslationResult {
    return this.translatedTxn(req);
  }

  attachAtc(atc: Atc): void {
    this.atcs.push(atc);
  }

  onDisable(): void {
    // §6.3.9 SMMUEN 1 → 0: outstanding stalls are terminated (abort) and their STAGs freed.
    for (const s of this.stallTable.takeAll()) this.endStall(s, 'abort', undefined);
  }

  stalls(): readonly StalledTransaction[] {
    return this.stallTable.list();
  }

  tlbEntries(): TlbEntryView[] {
    return this.tlb.entries();
  }

  configEntries(): ConfigEntryView[] {
    const out: ConfigEntryView[] = [];
    for (const [sid, ste] of this.caches.ste.entries()) {
      out.push({
        kind: 'STE',
        sid,
        valid: ste.kind !== 'illegal',
        detail: ste.reason ? `${ste.kind}: ${ste.reason}` : ste.kind,
      });
    }
    for (const [k, d] of this.caches.l1std.entries()) {
      out.push({
        kind: 'L1STD',
        index: Math.floor(k / 16),
        valid: d.span >= 1 && d.span <= 11,
        detail: `span=${d.span}`,
      });
    }
    for (const [k, e] of this.caches.cd.entries()) {
      out.push({
        kind: 'CD',
        sid: Math.floor(k / SSID_SPAN),
        ssid: k % SSID_SPAN,
        valid: e.cd.valid,
        detail: e.cd.valid ? `asid=${e.cd.asid}` : e.cd.reason,
      });
    }
    for (const [k, d] of this.caches.l1cd.entries()) {
      out.push({
        kind: 'L1CD',
        sid: Math.floor(k / (2 * SSID_SPAN)),
        index: k % SSID_SPAN,
        valid: d.valid,
        detail: `l2ptr=0x${d.l2Ptr.toString(16)}`,
      });
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Transactions

  private txn(req: TranslateRequest, silent: boolean, s1Only: boolean): Txn {
    const big = !(req.iova < TWO53N);
    return {
      req,
      sid: req.sid,
      ssid: req.ssid,
      write: req.access === 'write',
      priv: req.priv === true,
      inst: req.access !== 'write' && req.inst === true,
      reqPriv: req.priv === true,
      reqInst: req.inst,
      va: big ? 0 : Number(req.iova),
      big,
      silent,
      s1Only,
      ste: undefined,
      cd: undefined,
    };
  }

  /** Applies STE.PRIVCFG / INSTCFG (§13) to the incoming attributes. */
  private applyOverrides(t: Txn, ste: SteConfig): void {
    t.ste = ste;
    if (ste.privcfg >= 0) t.priv = ste.privcfg === 3;
    // Writes are always Data.
    if (ste.instcfg >= 0) t.inst = !t.write && ste.instcfg === 3;
  }

  /** The whole lookup: STE, substream rules, CD, stage-1 input checks, TLB or walk. */
  private resolve(t: Txn): Step<Hit> {
    const ste = this.getSte(t);
    if (isFail(ste)) return ste;
    this.applyOverrides(t, ste);
    const f = this.core.features;
    if (ste.kind === 'illegal') return this.configError(t, 'C_BAD_STE');
    // §5.2 Config 0b0xx: abort without an event.
    if (ste.kind === 'abort') return { fail: ABORTED };
    const ssid = t.ssid;
    if (ssid !== undefined) {
      // §5.2 S1CDMax, smmuv3-arch.md [1.4]: a SubstreamID the configuration cannot take.
      if (f.ssidSize === 0 || !ste.s1 || ste.s1CdMax === 0 || ssid >= 2 ** ste.s1CdMax) {
        return this.badSubstream(t, ssid);
      }
    }
    if (ste.kind === 'bypass') return this.bypass(t, ste, f.oas);
    if (!ste.s1) return this.stage1Skipped(t, ste);
    let index = 0;
    if (ste.s1CdMax !== 0) {
      if (ssid === undefined) {
        // S1DSS for traffic without a SubstreamID.
        if (ste.s1Dss === 0) return this.configError(t, 'F_STREAM_DISABLED');
        if (ste.s1Dss === 1) return this.stage1Skipped(t, ste);
      } else if (ssid === 0 && ste.s1Dss === 2) {
        return this.configError(t, 'F_STREAM_DISABLED');
      } else {
        index = ssid;
      }
    }
    const entry = this.getCd(t, ste, index);
    if (isFail(entry)) return entry;
    const cd = entry.cd;
    if (!cd.valid) return this.configError(t, 'C_BAD_CD');
    t.cd = cd;
    if (!t.silent && !t.s1Only) this.remember(t.sid, ssid ?? -1, ste, entry, cdKey(t.sid, index));
    return this.stage1(t, ste, entry);
  }

  // -------------------------------------------------------------------------- configuration

  private configContext(): ConfigContext {
    const f = this.core.features;
    return {
      features: f,
      e2h: f.hyp && ((this.core.regs.cr2 >>> CR2_E2H) & 1) === 1,
      policies: this.policies,
    };
  }

  /** The STE of the transaction's StreamID: cached, or located, fetched and parsed. */
  private getSte(t: Txn): Step<SteConfig> {
    const cached = this.caches.ste.get(t.sid);
    if (cached) {
      this.st.steHits++;
      return cached;
    }
    const r = this.fetchSte(t.sid);
    if (typeof r === 'string') {
      if (r === 'C_BAD_STREAMID') {
        // Recorded only with SMMU_CR2.RECINVSID == 1; otherwise the abort is silent.
        const rec = ((this.core.regs.cr2 >>> CR2_RECINVSID) & 1) === 1;
        return { fail: this.emit(t, 'C_BAD_STREAMID', this.idFields(t), rec) };
      }
      return { fail: this.emit(t, 'F_CFG_CONFLICT', { ...this.idFields(t), Reason: 0 }, true) };
    }
    if ('fetchAddr' in r) {
      return {
        fail: this.emit(
          t,
          'F_STE_FETCH',
          { ...this.idFields(t), Reason: 0, FetchAddr: fetchAddrField(r.fetchAddr) },
          true,
        ),
      };
    }
    return r.ste;
  }

  /** Locates, reads and parses an STE (filling the caches). */
  private fetchSte(
    sid: number,
  ): 'C_BAD_STREAMID' | 'F_CFG_CONFLICT' | { fetchAddr: number } | { ste: SteConfig } {
    const f = this.core.features;
    const geo = streamTableGeometry(this.core.regs, f);
    const loc = locateSte(
      sid,
      geo,
      f,
      this.mem,
      this.caches.l1std,
      { steFetchBeyondOas: this.steFetchBeyondOas },
      this.st,
    );
    if (!loc.ok) return loc.event === 'C_BAD_STREAMID' ? loc.event : { fetchAddr: loc.fetchAddr };
    if (this.mem.aborts(loc.addr, 64)) return { fetchAddr: loc.addr };
    this.st.steFetches++;
    const words = readStruct(this.mem, loc.addr, 64);
    const ste = parseSte(words, this.configContext());
    if (this.steCont === 'check' && ste.kind !== 'illegal' && ste.cont > 0) {
      const c = this.checkCont(sid, loc.addr, ste, geo.twoLevel);
      if (c) return c;
    }
    this.core.trace?.({
      kind: 'config',
      op: 'fetch',
      detail: `STE sid=${sid} at 0x${loc.addr.toString(16)}: ${ste.kind}${ste.reason ? ` (${ste.reason})` : ''}`,
    });
    this.observer?.configFetch('STE', sid, 0, loc.addr, words);
    this.caches.ste.set(sid, ste);
    return { ste };
  }

  /**
   * CONSTRAINED UNPREDICTABLE: §5.2 CONT — with the 'check' policy, every STE of the 2^CONT span
   * must be identical (else F_CFG_CONFLICT), and the span must fit the level-2 array (else
   * C_BAD_STREAMID).
   */
  private checkCont(
    sid: number,
    addr: number,
    ste: SteConfig,
    twoLevel: boolean,
  ): 'C_BAD_STREAMID' | 'F_CFG_CONFLICT' | undefined {
    const n = 2 ** ste.cont;
    const first = addr - 64 * lowBits(sid, ste.cont);
    if (twoLevel) {
      const split = streamTableGeometry(this.core.regs, this.core.features).split;
      if (ste.cont > split) return 'C_BAD_STREAMID';
    }
    for (let i = 0; i < n; i++) {
      const a = first + 64 * i;
      if (a === addr) continue;
      if (this.mem.aborts(a, 64)) return 'F_CFG_CONFLICT';
      const w = readStruct(this.mem, a, 64);
      for (let k = 0; k < 16; k++) if (w[k] !== ste.words[k]) return 'F_CFG_CONFLICT';
    }
    return undefined;
  }

  /** Translates a CD/L1CD address through stage 2 when it is an IPA (CLASS CD faults). */
  private cdFetchPa(t: Txn, ste: SteConfig, addr: number): Step<number> {
    const s2 = ste.s2Params;
    if (!ste.s2 || !s2) return addr;
    const r = walkS2(
      this.walkMemory(ste.s2BigEndian),
      this.s2Params(s2),
      { address: addr, write: false, exec: false, priv: false },
      this.core.trace,
      'CD',
    );
    this.st.walks++;
    if (!r.ok) return this.walkFault(t, r);
    if (s2.ptw && this.s2Device(r.memAttr, s2.fwb === true)) {
      // STE.S2PTW: a CD fetch to stage-2 Device memory is a stage-2 Permission fault.
      return this.translationFault(t, 'F_PERMISSION', 2, 'CD', addr, undefined);
    }
    return r.oa;
  }

  private s2Device(memAttr: number, fwb: boolean): boolean {
    return fwb ? memAttr % 8 < 4 : memAttr < 4;
  }

  /** The CD of SubstreamID index `index` (via the L1CD for 2-level tables). */
  private getCd(t: Txn, ste: SteConfig, index: number): Step<CdEntry> {
    const key = cdKey(t.sid, index);
    const hit = this.caches.cd.get(key);
    if (hit) {
      this.st.cdHits++;
      return hit;
    }
    const f = this.core.features;
    const path = cdPath(ste.s1ContextPtr, ste.s1Fmt, ste.s1CdMax, index);
    let cdAddr: number;
    if (path.twoLevel) {
      const l1Key = l1cdKey(t.sid, path.fmt, path.l1Index);
      let l1: L1CdEntry | undefined = this.caches.l1cd.get(l1Key);
      if (!l1) {
        const pa = this.cdFetchPa(t, ste, path.l1Addr);
        if (isFail(pa)) return pa;
        if (this.mem.aborts(pa, 8)) return this.cdFetchAbort(t, pa);
        this.st.l1cdFetches++;
        l1 = decodeL1cd(this.mem.read64(pa), path.fmt);
        this.caches.l1cd.set(l1Key, l1);
      }
      // §5.3 L1CD.V == 0: C_BAD_SUBSTREAMID (SubstreamID 0 when reached through S1DSS 0b10).
      if (!l1.valid) return this.badSubstream(t, t.ssid ?? 0);
      if (!ste.s2) {
        // §3.4.3: a stage-1-only L2Ptr beyond OAS is C_BAD_SUBSTREAMID (v3.1+).
        if (l1.l2Ptr >= 2 ** f.oas) return this.badSubstream(t, t.ssid ?? 0);
      } else if (l1.l2Ptr >= 2 ** f.ias && this.nestedL2PtrBeyondIas === 'c_bad_substreamid') {
        // CONSTRAINED UNPREDICTABLE: §3.4.3 — nested L2Ptr beyond IAS: C_BAD_SUBSTREAMID here,
        // or a stage-2 Translation fault ('s2-fault', which the stage-2 walk produces).
        return this.badSubstream(t, t.ssid ?? 0);
      }
      cdAddr = l1.l2Ptr + 64 * path.leafIndex;
    } else {
      cdAddr = path.cdAddr;
    }
    const pa = this.cdFetchPa(t, ste, cdAddr);
    if (isFail(pa)) return pa;
    if (this.mem.aborts(pa, 64)) return this.cdFetchAbort(t, pa);
    this.st.cdFetches++;
    const cdWords = readStruct(this.mem, pa, 64);
    const cd = parseCd(cdWords, ste, this.configContext());
    this.core.trace?.({
      kind: 'config',
      op: 'fetch',
      detail: `CD sid=${t.sid} index=${index} at 0x${pa.toString(16)}: ${cd.valid ? `asid=${cd.asid}` : `invalid (${cd.reason})`}`,
    });
    this.observer?.configFetch('CD', t.sid, index, pa, cdWords);
    const entry = this.cdEntry(cd, ste);
    this.caches.cd.set(key, entry);
    return entry;
  }

  private cdFetchAbort(t: Txn, pa: number): Fail {
    return {
      fail: this.emit(
        t,
        'F_CD_FETCH',
        { ...this.idFields(t), Reason: 0, FetchAddr: fetchAddrField(pa) },
        true,
      ),
    };
  }

  /** Resolves the TLB contexts and input-range masks of a CD once. */
  private cdEntry(cd: CdConfig, ste: SteConfig): CdEntry {
    const kind = ste.s2 ? TLB_KIND.S12 : TLB_KIND.S1;
    const world = ste.world;
    const ctxs = (
      k: number,
    ): [[TlbContext | undefined, TlbContext | undefined], [TlbContext, TlbContext]] => {
      const a: [TlbContext | undefined, TlbContext | undefined] = [undefined, undefined];
      const g: TlbContext[] = [];
      for (let h = 0; h < 2; h++) {
        // The EL2 (non-E2H) StreamWorld has no ASIDs: every entry is global.
        if (world !== WORLD.EL2) a[h] = this.tlb.context(k, world, ste.vmid, cd.asid, false, h);
        g.push(this.tlb.context(k, world, ste.vmid, -1, cd.aset, h));
      }
      return [a, [g[0] as TlbContext, g[1] as TlbContext]];
    };
    const [ctxA, ctxG] = ctxs(kind);
    const [splitA, splitG] = ctxs(TLB_KIND.S1);
    const masks: bigint[] = [];
    for (const h of cd.halves) {
      const top = h.tbi ? 55 : 63;
      masks.push(
        h.enabled ? ((1n << BigInt(top + 1)) - 1n) & ~((1n << BigInt(h.inputBits)) - 1n) : 0n,
      );
    }
    return {
      cd,
      ctxA,
      ctxG,
      rangeMask: [masks[0] as bigint, masks[1] as bigint],
      splitA,
      splitG,
    };
  }

  // --------------------------------------------------------------------------------- paths

  /** Config 0b100 (or a bypassed stage 1 with stage 2 off): output = input, STE overrides. */
  private bypass(t: Txn, ste: SteConfig, limitBits: number): Step<Hit> {
    // §3.4: a bypassed input beyond OAS (IAS for a skipped stage 1) is an F_ADDR_SIZE, S2 = 0,
    // CLASS = IN, always recorded and never stalled.
    if (t.big || t.va >= 2 ** limitBits) {
      return this.translationFault(t, 'F_ADDR_SIZE', 1, 'IN', undefined, undefined, 'always');
    }
    // A stage-2 bypass truncates the IPA to OAS silently (§3.4).
    const pa = lowBits(t.va, this.core.features.oas);
    const memAttr = ste.memAttr >= 0 ? mairOf(ste.memAttr) : -1;
    const sh = ste.shcfg === 1 ? -1 : ste.shcfg;
    return this.hitOf(pa, 0xff, 0xff, 12, packAttr(memAttr, effectiveSh(memAttr, sh)), true);
  }

  /** Stage 1 skipped (Config 0b110 or S1DSS bypass): IAS check, then stage 2 if it translates. */
  private stage1Skipped(t: Txn, ste: SteConfig): Step<Hit> {
    const f = this.core.features;
    // A split-stage ATS request stops at the IPA.
    if (!ste.s2 || t.s1Only) return this.bypass(t, ste, f.ias);
    if (t.big || t.va >= 2 ** f.ias) {
      return this.translationFault(t, 'F_ADDR_SIZE', 1, 'IN', undefined, undefined, 'always');
    }
    const ipa = t.va;
    const s2 = this.s2Params(ste.s2Params as StageParams);
    const ctx = this.tlb.context(TLB_KIND.S2, WORLD.NS_EL1, ste.vmid, -1, false, 0);
    const exec = t.inst && !t.write;
    const obs = this.observer;
    if (obs !== undefined) obs.lookup(undefined, ctx, ipa);
    const slot = this.tlb.lookup(ctx, ipa);
    if (slot >= 0) {
      const p2 = this.tlb.perm2(slot);
      const c = checkPermission(p2, t.write, exec, t.priv);
      if (c !== PERM_CHECK.WALK) {
        this.st.tlbHits++;
        if (this.core.trace) this.tlb.traceHit(slot);
        if (c === PERM_CHECK.FAULT) {
          return this.translationFault(t, 'F_PERMISSION', 2, 'IN', ipa, undefined);
        }
        return this.s2Hit(slot, ipa, p2);
      }
      this.tlb.remove(slot);
    }
    this.st.tlbMisses++;
    this.st.walks++;
    if (obs !== undefined) obs.walkStart();
    const r = walkS2(
      this.walkMemory(ste.s2BigEndian),
      s2,
      { address: ipa, write: t.write, exec, priv: t.priv },
      obs !== undefined ? obs.walkSink : this.core.trace,
      'IN',
    );
    if (obs !== undefined) obs.walkEnd(undefined, ctx, ipa, r, undefined, s2);
    if (!r.ok) return this.walkFault(t, r);
    const incoming = ste.memAttr >= 0 ? mairOf(ste.memAttr) : -1;
    const memAttr = applyS2Memo(incoming, r.memAttr, s2.fwb === true);
    const sh = effectiveSh(memAttr, combineSh(ste.shcfg === 1 ? -1 : ste.shcfg, r.s2Sh));
    const attr = packAttr(memAttr, sh);
    const shift = r.blockShift;
    this.tlb.insert(
      ctx,
      ipa,
      shift,
      r.oa - lowBits(r.oa, shift),
      -1,
      0xff,
      r.s2Perms,
      attr,
      r.s2Level,
      Math.log2(s2.granule),
    );
    return this.hitOf(r.oa, 0xff, r.s2Perms, shift, attr, false);
  }

  private hitOf(
    pa: number,
    perm1: number,
    perm2: number,
    shift: number,
    attr: number,
    bypass: boolean,
  ): Hit {
    const h = this.hit;
    h.pa = pa;
    h.perm1 = perm1;
    h.perm2 = perm2;
    h.shift = shift;
    h.attr = attr;
    h.bypass = bypass;
    return h;
  }

  private readonly hit = new Hit();

  private s2Hit(slot: number, ipa: number, p2: number): Hit {
    return this.hitOf(
      this.tlb.outputOf(slot, ipa),
      0xff,
      p2,
      this.tlb.shiftOf(slot),
      this.tlb.attr(slot),
      false,
    );
  }

  /** Stage 1 (with stage 2 when nested): input range, TLB, walk. */
  private stage1(t: Txn, ste: SteConfig, e: CdEntry): Step<Hit> {
    const cd = e.cd;
    // §3.4.1: VA[55] selects TTB0/TTB1 (single-range StreamWorlds only have TTB0), and the
    // bits above the input size up to AddrTop (55 with TBI, else 63) must equal VA[55].
    let half = 0;
    let key: number;
    let h: CdHalf;
    if (!t.big) {
      // Fast path (no bigint arithmetic): VA[63:53] = 0, so the TTB0 half, and every bit above
      // the input size must be 0 whatever TBI says.
      key = t.va;
      h = cd.halves[0];
      if (!h.enabled || key >= h.limit) return this.s1RangeFault(t);
    } else {
      const iova = (t.req as TranslateRequest).iova;
      half = cd.twoRanges ? Number((iova >> 55n) & 1n) : 0;
      h = cd.halves[half as 0 | 1];
      // EPDx == 1: a TLB miss in that half is a Translation fault.
      if (!h.enabled) return this.s1RangeFault(t);
      const mask = e.rangeMask[half as 0 | 1];
      if ((iova & mask) !== (half === 1 ? mask : 0n)) return this.s1RangeFault(t);
      key = Number(iova & MASK52);
    }
    // E0PDx (SMMUv3.3): unprivileged accesses to the half fault as a TLB miss would.
    if (h.e0pd && !t.priv) return this.s1RangeFault(t);
    // The walk indexes VA[inputBits−1:0]; the TLB keys on VA[51:0] (half 1: VA mod 2^52).
    const addr = half === 1 ? key % h.limit : key;
    const exec = t.inst && !t.write;
    const nested = ste.s2 && !t.s1Only;
    const ctxA = t.s1Only ? e.splitA[half as 0 | 1] : e.ctxA[half as 0 | 1];
    const ctxG = t.s1Only ? e.splitG[half as 0 | 1] : e.ctxG[half as 0 | 1];
    // Split-stage ATS results (IPAs) are not observed.
    const obs = t.s1Only ? undefined : this.observer;
    if (obs !== undefined) obs.lookup(ctxA, ctxG, key);
    let slot = ctxA ? this.tlb.lookup(ctxA, key) : -1;
    if (slot < 0) slot = this.tlb.lookup(ctxG, key);
    if (slot >= 0) {
      const p1 = this.tlb.perm1(slot);
      const c1 = checkPermission(p1, t.write, exec, t.priv);
      const p2 = this.tlb.perm2(slot);
      const c2 = nested ? checkPermission(p2, t.write, exec, t.priv) : PERM_CHECK.OK;
      if (c1 !== PERM_CHECK.WALK && c2 !== PERM_CHECK.WALK) {
        this.st.tlbHits++;
        if (this.core.trace) this.tlb.traceHit(slot);
        // A permission fault may come from a cached entry (stage 1 is checked first).
        if (c1 === PERM_CHECK.FAULT) {
          return this.translationFault(t, 'F_PERMISSION', 1, 'IN', undefined, undefined);
        }
        if (c2 === PERM_CHECK.FAULT) {
          const ipa = this.tlb.ipaOf(slot, key);
          return this.translationFault(t, 'F_PERMISSION', 2, 'IN', ipa, undefined);
        }
        return this.hitOf(
          this.tlb.outputOf(slot, key),
          p1,
          nested ? p2 : 0xff,
          this.tlb.shiftOf(slot),
          this.tlb.attr(slot),
          false,
        );
      }
      // A write needing a dirty-state update: walk again (HTTU) and refill.
      this.tlb.remove(slot);
    }
    this.st.tlbMisses++;
    this.st.walks++;
    const s1 = this.s1Params(h.params as StageParams);
    const wreq = { address: addr, write: t.write, exec, priv: t.priv };
    const sink = obs !== undefined ? obs.walkSink : this.core.trace;
    if (obs !== undefined) obs.walkStart();
    let r: WalkResult;
    if (nested) {
      // Model limitation (documented): one walk reads every descriptor with one endianness, so
      // a nested walk with CD.ENDI ≠ STE.S2ENDI (possible only with IDR0.TTENDIAN == 0b00)
      // reads both stages with the stage-1 endianness.
      r = walkNested(
        this.walkMemory(cd.bigEndian),
        s1,
        this.s2Params(ste.s2Params as StageParams),
        wreq,
        sink,
      );
    } else if (ste.s2) {
      // Split-stage ATS: stage 1 only, its tables reached through stage 2.
      const view = new Stage2TableView(
        this.walkMemory(cd.bigEndian),
        this.s2Params(ste.s2Params as StageParams),
        this.core.trace,
      );
      r = walkS1(view, s1, wreq, this.core.trace);
      if (!r.ok && view.fault) r = view.fault;
    } else {
      r = walkS1(this.walkMemory(cd.bigEndian), s1, wreq, sink);
    }
    if (obs !== undefined) {
      obs.walkEnd(ctxA, ctxG, key, r, s1, nested ? (ste.s2Params as StageParams) : undefined);
    }
    if (!r.ok) return this.walkFault(t, r);
    const fwb = nested ? ste.s2Params?.fwb === true : undefined;
    const attr = this.fill(r, cd, fwb, ctxA, ctxG, key, Math.log2(s1.granule));
    return this.hitOf(r.oa, r.s1Perms, nested ? r.s2Perms : 0xff, r.blockShift, attr, false);
  }

  /** A stage-1 input outside the enabled VA ranges: F_TRANSLATION, stage 1, CLASS IN. */
  private s1RangeFault(t: Txn): Fail {
    return this.translationFault(t, 'F_TRANSLATION', 1, 'IN', undefined, undefined);
  }

  private s1Params(p: StageParams): StageParams {
    return this.execNeedsRead ? p : { ...p, execNeedsRead: false };
  }

  private s2Params(p: StageParams): StageParams {
    return this.execNeedsRead ? p : { ...p, execNeedsRead: false };
  }

  /** Memory as the walker sees it: little-endian, or the big-endian view. */
  private walkMemory(bigEndian: boolean): WalkMemory {
    const m = bigEndian ? this.beMem : this.leMem;
    return this.observer === undefined ? m : this.observer.walkMemory(m);
  }

  private success(t: Txn, h: Hit): TranslationResult {
    const ste = t.ste as SteConfig;
    // ALLOCCFG 1RWT overrides the allocation hints where the incoming ones would be used.
    const alloc = h.bypass && ste.alloccfg >= 8 ? ste.alloccfg - 8 : -1;
    return { ok: true, pa: BigInt(h.pa), attrs: this.attrsOf(h.attr, alloc, t.priv, t.inst) };
  }

  /** The shared (frozen) attribute object of a packed attribute: no allocation per transaction. */
  private attrsOf(attr: number, alloc: number, priv: boolean, inst: boolean): MemAttrs {
    const k = ((attr * 16 + (alloc + 1)) * 2 + (priv ? 1 : 0)) * 2 + (inst ? 1 : 0);
    let attrs = this.attrsCache.get(k);
    if (!attrs) {
      const a: { -readonly [K in keyof MemAttrs]: MemAttrs[K] } = { priv, inst };
      const mem = attrMem(attr);
      const sh = attrSh(attr);
      if (mem >= 0) a.memAttr = mem;
      if (sh >= 0) a.sh = sh;
      if (alloc >= 0) a.alloc = alloc;
      attrs = Object.freeze(a);
      this.attrsCache.set(k, attrs);
    }
    return attrs;
  }

  private readonly attrsCache = new Map<number, MemAttrs>();

  // ---------------------------------------------------------------------------------- faults

  /** StreamID and SubstreamID fields common to most records. */
  private idFields(t: Txn): Record<string, bigint | number | boolean> {
    return t.ssid === undefined
      ? { StreamID: t.sid, SSV: 0 }
      : { StreamID: t.sid, SSV: 1, SubstreamID: t.ssid };
  }

  /** C_BAD_STE, C_BAD_CD, F_STREAM_DISABLED: abort, always recorded. */
  private configError(t: Txn, type: 'C_BAD_STE' | 'C_BAD_CD' | 'F_STREAM_DISABLED'): Fail {
    const fields = type === 'F_STREAM_DISABLED' ? { StreamID: t.sid } : this.idFields(t);
    return { fail: this.emit(t, type, fields, true), fault: type };
  }

  /** C_BAD_SUBSTREAMID: the SubstreamID field is always valid (no SSV in this record). */
  private badSubstream(t: Txn, ssid: number): Fail {
    return {
      fail: this.emit(t, 'C_BAD_SUBSTREAMID', { StreamID: t.sid, SubstreamID: ssid }, true),
      fault: 'C_BAD_SUBSTREAMID',
    };
  }

  /** Records (when `record`) and returns an aborted result. ATS requests never record. */
  private emit(t: Txn, type: EventName, fields: EventFields, record: boolean): TranslationResult {
    if (!record || t.silent) return ABORTED;
    const event = makeEvent(type, fields);
    this.record(event);
    return { ok: false, event };
  }

  private record(event: EventRecord): void {
    this.st.events++;
    this.core.recordEvent(event.raw);
  }

  /** Turns a walk fault into its event and disposition. */
  private walkFault(t: Txn, r: WalkFault): Fail {
    const type = WALK_EVENT[r.fault];
    if (type === 'F_WALK_EABT') {
      // §7.3.11: always recorded, never stalled; stage-1 descriptor aborts are CLASS TT, S2 = 0.
      const fields: EventFields = {
        ...this.idFields(t),
        Reason: 0,
        PnU: t.priv,
        InD: t.inst,
        RnW: !t.write,
        S2: r.stage === 2,
        CLASS: CLASS_CODE[r.class],
        InputAddr: this.inputAddr(t),
        FetchAddr: fetchAddrField(r.fetchAddr ?? 0),
      };
      return { fail: this.emit(t, 'F_WALK_EABT', fields, true), fault: 'F_WALK_EABT' };
    }
    return this.translationFault(t, type, r.stage, r.class, r.ipa, r.ttRead);
  }

  /**
   * A Translation-related fault (F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION) at
   * `stage`: stalls when the stage's stall control says so, otherwise terminates, recording iff
   * CD.R / STE.S2R (`mode` 'always' for the stage-1-bypass address-size fault), and aborting or
   * (stage 1, CD.A == 0) RAZ/WI.
   */
  private translationFault(
    t: Txn,
    type: EventName,
    stage: number,
    cls: 'CD' | 'TT' | 'IN',
    ipa: number | undefined,
    ttRead: boolean | undefined,
    mode: 'config' | 'always' = 'config',
  ): Fail {
    if (t.silent) return { fail: ABORTED, fault: type };
    const ste = t.ste as SteConfig;
    const fields: Record<string, bigint | number | boolean> = {
      ...this.idFields(t),
      PnU: t.priv,
      InD: t.inst,
      RnW: !t.write,
      S2: stage === 2,
      CLASS: CLASS_CODE[cls],
      InputAddr: this.inputAddr(t),
    };
    if (stage === 2 && ipa !== undefined && ipa >= 0) fields['IPA'] = ipa - lowBits(ipa, 12);
    if (type === 'F_PERMISSION' && cls === 'TT' && ttRead !== undefined) fields['TTRnW'] = ttRead;
    let stall = false;
    let record = true;
    let razwi = false;
    if (mode === 'config') {
      const cd = t.cd;
      if (stage === 1) {
        stall = cd?.stall === true;
        record = cd?.record === true;
        razwi = cd !== undefined && !cd.abort;
      } else {
        stall = ste.s2s;
        record = ste.s2r;
      }
    }
    if (stall && this.stallTable.canStall()) {
      const s = this.stallTable.add(t.sid, this.reqOf(t), type, stage);
      this.st.stalls++;
      fields['Stall'] = 1;
      fields['STAG'] = s.stag;
      const event = makeEvent(type, fields);
      // A stall record is always recorded (R is ignored).
      this.record(event);
      return { fail: { ok: false, event, stalled: { stag: s.stag } }, fault: type };
    }
    // IMPDEF: §3.12 — with every STAG in use a configured stall terminates instead (Stall = 0).
    if (!record) return { fail: razwi ? { ok: false, razwi: true } : ABORTED, fault: type };
    const event = makeEvent(type, fields);
    this.record(event);
    return { fail: razwi ? { ok: false, event, razwi: true } : { ok: false, event }, fault: type };
  }

  // -------------------------------------------------------------------------------- commands

  execute(opcode: number, w0: bigint, w1: bigint): void {
    const f = this.core.features;
    const sid = Number(CF.sid(w0, w1));
    switch (opcode) {
      case CMD_OP.PREFETCH_CONFIG:
        // §4.2.1: a prefetch may fill the configuration cache; nothing while SMMUEN == 0, and
        // it never records an event.
        if (this.smmuEnabled() && !this.caches.ste.get(sid)) this.fetchSte(sid);
        return;
      case CMD_OP.PREFETCH_ADDR:
      case CMD_OP.CFGI_VMS_PIDM:
      case CMD_OP.PRI_RESP:
        return;
      case CMD_OP.CFGI_STE:
        this.noteCfgi('CFGI_STE', this.caches.cfgiSte(sid, CF.leaf(w0, w1) === 1n));
        return;
      case CMD_OP.CFGI_STE_RANGE:
        this.noteCfgi('CFGI_STE_RANGE', this.caches.cfgiSteRange(sid, Number(CF.range(w0, w1))));
        return;
      case CMD_OP.CFGI_CD:
        this.noteCfgi(
          'CFGI_CD',
          this.caches.cfgiCd(sid, Number(CF.ssid(w0, w1)), CF.leaf(w0, w1) === 1n),
        );
        return;
      case CMD_OP.CFGI_CD_ALL:
        this.noteCfgi('CFGI_CD_ALL', this.caches.cfgiCdAll(sid));
        return;
      case CMD_OP.TLBI_NH_ALL: {
        const vmid = this.cmdVmid(w0, w1);
        this.tlb.invalidateAll((c) => this.nhCtx(c, vmid), 'TLBI_NH_ALL');
        return;
      }
      case CMD_OP.TLBI_NH_ASID: {
        const vmid = this.cmdVmid(w0, w1);
        const asid = this.cmdAsid(w0, w1);
        this.tlb.invalidateAll((c) => this.nhCtx(c, vmid) && c.asid === asid, 'TLBI_NH_ASID');
        return;
      }
      case CMD_OP.TLBI_NH_VA: {
        const vmid = this.cmdVmid(w0, w1);
        const asid = this.cmdAsid(w0, w1);
        this.rangeInvalidate(
          w0,
          w1,
          false,
          (c, half) => this.nhCtx(c, vmid) && c.half === half && (c.asid === asid || c.asid < 0),
          'TLBI_NH_VA',
        );
        return;
      }
      case CMD_OP.TLBI_NH_VAA: {
        const vmid = this.cmdVmid(w0, w1);
        this.rangeInvalidate(
          w0,
          w1,
          false,
          (c, half) => this.nhCtx(c, vmid) && c.half === half,
          'TLBI_NH_VAA',
        );
        return;
      }
      case CMD_OP.TLBI_EL2_ALL:
        this.tlb.invalidateAll((c) => c.world !== WORLD.NS_EL1, 'TLBI_EL2_ALL');
        return;
      case CMD_OP.TLBI_EL2_ASID: {
        const asid = this.cmdAsid(w0, w1);
        this.tlb.invalidateAll(
          (c) => c.world === WORLD.EL2_E2H && c.asid === asid,
          'TLBI_EL2_ASID',
        );
        return;
      }
      case CMD_OP.TLBI_EL2_VA: {
        const asid = this.cmdAsid(w0, w1);
        // EL2 (non-E2H) entries have no ASID; EL2-E2H entries match the ASID or are global.
        this.rangeInvalidate(
          w0,
          w1,
          false,
          (c, half) =>
            c.half === half &&
            (c.world === WORLD.EL2 ||
              (c.world === WORLD.EL2_E2H && (c.asid === asid || c.asid < 0))),
          'TLBI_EL2_VA',
        );
        return;
      }
      case CMD_OP.TLBI_EL2_VAA:
        this.rangeInvalidate(
          w0,
          w1,
          false,
          (c, half) => c.world !== WORLD.NS_EL1 && c.half === half,
          'TLBI_EL2_VAA',
        );
        return;
      case CMD_OP.TLBI_S2_IPA: {
        const vmid = this.cmdVmid(w0, w1);
        // Stage-2-only entries; combined stage 1+2 entries are not required to go (§4.4.3).
        this.rangeInvalidate(
          w0,
          w1,
          true,
          (c) => c.kind === TLB_KIND.S2 && this.vmidMatch(c, vmid),
          'TLBI_S2_IPA',
        );
        return;
      }
      case CMD_OP.TLBI_S12_VMALL: {
        const vmid = this.cmdVmid(w0, w1);
        this.tlb.invalidateAll(
          (c) => c.world === WORLD.NS_EL1 && this.vmidMatch(c, vmid),
          'TLBI_S12_VMALL',
        );
        return;
      }
      case CMD_OP.TLBI_NSNH_ALL:
        this.tlb.invalidateAll((c) => c.world === WORLD.NS_EL1, 'TLBI_NSNH_ALL');
        return;
      case CMD_OP.ATC_INV: {
        const ssv = CF.atcSsv(w0, w1) === 1n;
        const ssid = ssv ? Number(CF.ssid(w0, w1)) : undefined;
        const global = CF.atcGlobal(w0, w1) === 1n;
        const addr = CF.addr(w0, w1) << 12n;
        const size = Number(CF.atcSize(w0, w1));
        for (const atc of this.atcs) atc.invalidate(sid, ssid, global, addr, size);
        return;
      }
      case CMD_OP.RESUME: {
        const stag = Number(CF.stag(w0, w1));
        const s = this.stallTable.take(sid, stag);
        // A (StreamID, STAG) naming no stalled transaction: no effect.
        if (!s) return;
        if (CF.ac(w0, w1) === 1n) {
          // Retry as a brand-new transaction (new configuration and TLB lookups).
          const result = this.translate(s.req);
          this.endStall(s, 'retry', result);
          return;
        }
        // Terminate: Abort = 1 aborts, else RAZ/WI (abort when TERM_MODEL == 1).
        const razwi = CF.ab(w0, w1) === 0n && !f.termModel;
        this.endStall(s, razwi ? 'razwi' : 'abort', undefined);
        return;
      }
      case CMD_OP.STALL_TERM:
        for (const s of this.stallTable.takeAll(sid)) this.endStall(s, 'abort', undefined);
        return;
      default:
        return;
    }
  }

  private smmuEnabled(): boolean {
    return ((this.core.regs.cr0ack >>> CR0_SMMUEN) & 1) === 1;
  }

  private endStall(
    s: StalledTransaction,
    end: StallEnd,
    result: TranslationResult | undefined,
  ): void {
    const e: StallResolution = result
      ? { sid: s.sid, stag: s.stag, req: s.req, end, result }
      : { sid: s.sid, stag: s.stag, req: s.req, end };
    this.onStallEnd?.(e);
  }

  private noteCfgi(what: string, r: CfgiResult): void {
    this.core.trace?.({
      kind: 'config',
      op: 'invalidate',
      detail: `${what}: ste=${r.ste} l1std=${r.l1std} cd=${r.cd} l1cd=${r.l1cd}`,
    });
  }

  /** VMID operand (RES0 / ignored without stage 2). */
  private cmdVmid(w0: bigint, w1: bigint): number {
    return Number(CF.vmid(w0, w1)) & this.vmidMask;
  }

  private cmdAsid(w0: bigint, w1: bigint): number {
    return Number(CF.asid(w0, w1)) & this.asidMask;
  }

  private vmidMatch(c: TlbContext, vmid: number): boolean {
    // Without stage 2 the VMID of TLBI_NH_* is RES0 and there are no VMIDs to match.
    return !this.core.features.s2p || c.vmid === vmid;
  }

  /** NS-EL1 stage-1 entries (stage-1-only and combined) of a VMID. */
  private nhCtx(c: TlbContext, vmid: number): boolean {
    return (
      c.world === WORLD.NS_EL1 &&
      (c.kind === TLB_KIND.S1 || c.kind === TLB_KIND.S12) &&
      this.vmidMatch(c, vmid)
    );
  }

  /**
   * Address-based invalidation (§4.4.1.1): TG == 0 (or no RIL) names the single address; TG ≠ 0
   * the range [Addr, Addr + (NUM+1)·2^SCALE·granule) without wrap-around, limited to entries of
   * that granule and (TTL ≠ 0) leaf level. VA commands select the TTB0/TTB1 half by Addr[55].
   */
  private rangeInvalidate(
    w0: bigint,
    w1: bigint,
    ipaForm: boolean,
    pred: (c: TlbContext, half: number) => boolean,
    what: string,
  ): void {
    const r = decodeTlbiRange(w0, w1, ipaForm, this.core.features.ril);
    this.tlb.invalidateRange((c) => pred(c, r.half), r.start, r.end, r.filter, what);
  }

  // -------------------------------------------------------------------------------------- ATS

  private atsEnabledEats(ste: SteConfig): number {
    return ste.kind === 'translate' ? ste.eats : 0;
  }

  /** ATS Translation Request (§3.9.1): never records anything but F_BAD_ATS_TREQ. */
  private ats(req: AtsRequest): AtsCompletion {
    const f = this.core.features;
    if (!f.ats) return { status: 'UR' };
    const treq = (): AtsCompletion => {
      // F_BAD_ATS_TREQ: requested permissions as received, Span, InputAddr[63:12].
      const fields: EventFields = {
        ...(req.ssid === undefined ? { SSV: 0 } : { SSV: 1, SubstreamID: req.ssid }),
        StreamID: req.sid,
        Span: Math.min(15, Math.max(0, (req.span ?? 1) - 1)),
        R: 1,
        W: req.noWrite ? 0 : 1,
        X: req.exec === true,
        P: req.priv === true,
        InputAddr: req.iova - (req.iova % 4096n),
      };
      this.record(makeEvent('F_BAD_ATS_TREQ', fields));
      return { status: 'UR' };
    };
    if (!this.smmuEnabled()) return treq();
    const t0 = this.txn(
      { sid: req.sid, ssid: req.ssid, iova: req.iova, access: 'read', priv: req.priv === true },
      true,
      false,
    );
    const ste = this.getSteSilent(t0.sid);
    if (!ste || ste.kind === 'illegal') return { status: 'CA' };
    const eats = this.atsEnabledEats(ste);
    if (eats === 0) return treq();
    const split = eats === 0b10;
    const probe = (access: 'read' | 'write'): Step<Hit> => {
      const t = this.txn(
        { sid: req.sid, ssid: req.ssid, iova: req.iova, access, priv: req.priv === true },
        true,
        split,
      );
      return this.resolve(t);
    };
    let h = probe('read');
    if (isFail(h) && h.fault === 'F_PERMISSION' && !req.noWrite) h = probe('write');
    if (isFail(h)) {
      const fault = h.fault ?? '';
      // Configuration errors complete with CA; translation faults with R = W = 0.
      if (fault.startsWith('F_') && fault !== 'F_STREAM_DISABLED' && fault !== 'F_WALK_EABT') {
        return {
          status: 'SUCCESS',
          translated: 0n,
          size: 4096,
          read: false,
          write: false,
          exec: false,
          priv: req.priv === true,
          splitStage: split,
        };
      }
      return { status: 'CA' };
    }
    const priv = req.priv === true;
    const ok = (write: boolean, exec: boolean): boolean =>
      checkPermission(h.perm1, write, exec, priv) !== PERM_CHECK.FAULT &&
      (split || checkPermission(h.perm2, write, exec, priv) !== PERM_CHECK.FAULT);
    const size = 2 ** Math.max(12, h.shift);
    return {
      status: 'SUCCESS',
      translated: BigInt(h.pa - lowBits(h.pa, 12)),
      size,
      read: ok(false, false),
      write: !req.noWrite && ok(true, false),
      exec: req.exec === true && ok(false, true),
      priv,
      splitStage: split,
    };
  }

  /** Looks up an STE without recording anything (ATS paths). */
  private getSteSilent(sid: number): SteConfig | undefined {
    const cached = this.caches.ste.get(sid);
    if (cached) return cached;
    const r = this.fetchSte(sid);
    return typeof r === 'object' && 'ste' in r ? r.ste : undefined;
  }

  /** A Translated transaction (§3.9.1 with SMMU_CR0.ATSCHK). */
  private translatedTxn(req: TranslatedRequest): TranslationResult {
    this.st.transactions++;
    const t = this.txn(
      { sid: req.sid, ssid: req.ssid, iova: req.addr, access: req.access },
      false,
      false,
    );
    const forbidden = (): TranslationResult =>
      this.emit(
        t,
        'F_TRANSL_FORBIDDEN',
        { StreamID: req.sid, RnW: req.access === 'read', InputAddr: req.addr },
        true,
      );
    if (!this.smmuEnabled()) return forbidden();
    const atschk = ((this.core.regs.cr0ack >>> CR0_ATSCHK) & 1) === 1;
    if (!atschk) {
      // Translated traffic is not checked against the STE, except that split-stage ATS still
      // needs its stage-2 translation.
      const ste = this.getSteSilent(req.sid);
      if (ste?.kind !== 'translate' || ste.eats !== 0b10) {
        return { ok: true, pa: req.addr, attrs: { priv: false, inst: false } };
      }
    }
    const ste = this.getSte(t);
    if (isFail(ste)) return ste.fail;
    this.applyOverrides(t, ste);
    const tt = t;
    if (ste.kind === 'illegal') return this.configError(tt, 'C_BAD_STE').fail;
    if (ste.kind === 'abort') return ABORTED;
    const eats = this.atsEnabledEats(ste);
    if (eats === 0) return forbidden();
    if (eats === 0b01) return { ok: true, pa: req.addr, attrs: { priv: tt.priv, inst: tt.inst } };
    // Split-stage: the address is an IPA; stage 2 applies.
    const h = this.stage1Skipped(tt, ste);
    if (isFail(h)) return h.fail;
    return this.success(tt, h);
  }
}

/** FetchAddr is a 52-bit, 8-byte aligned field. */
function fetchAddrField(a: number): number {
  const x = lowBits(a, 52);
  return x - lowBits(x, 3);
}

/** A decoded TLBI address operand (§4.4.1.1). */
export interface TlbiRange {
  /** VA half (Addr[55]) for VA forms; 0 for IPA. */
  readonly half: number;
  /** [start, end) in the TLB key space (VA[51:0] or IPA). */
  readonly start: number;
  readonly end: number;
  readonly filter: { readonly granShift: number; readonly level: number } | undefined;
}

/**
 * Decodes the address, TG, TTL, NUM and SCALE of a TLBI command. Without IDR3.RIL the range
 * fields are RES0 and the command names one address. SCALE values above 39 act as 39; a range
 * stops at the top of its half (no wrap-around).
 */
export function decodeTlbiRange(w0: bigint, w1: bigint, ipaForm: boolean, ril: boolean): TlbiRange {
  const raw = ipaForm ? CF.ipa(w0, w1) << 12n : CF.addr(w0, w1) << 12n;
  const half = ipaForm ? 0 : Number((raw >> 55n) & 1n);
  const start = Number(raw & MASK52);
  const tg = ril ? Number(CF.tg(w0, w1)) : 0;
  if (tg === 0) return { half, start, end: start + 1, filter: undefined };
  const granShift = tg === 1 ? 12 : tg === 2 ? 14 : 16;
  const num = Number(CF.num(w0, w1));
  const scale = Math.min(39, Number(CF.scale(w0, w1)) % 32);
  let ttl = Number(CF.ttl(w0, w1));
  // Without LPA2 (DS) a 16K TTL of 0b01 reads as 0b00.
  if (granShift === 14 && ttl === 1) ttl = 0;
  const size = (num + 1) * 2 ** scale * 2 ** granShift;
  const end = Math.min(TWO52, start + size);
  return { half, start, end, filter: { granShift, level: ttl } };
}
