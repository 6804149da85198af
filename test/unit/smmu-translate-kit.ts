// Shared set-up for the translation-side tests: a memory, a real Smmu (register/queue side) with
// the translation side attached, programmed the way a driver does (IHI 0070 §3.5 queues, §6.3.23
// STRTAB_BASE(_CFG), CR0.SMMUEN last), plus builders that put STEs, L1STDs, CDs and L1CDs in
// memory from the arch field tables (encodeValues) and page tables from the io-pgtable builder.
// Table addresses are computed here from the layout rules of §5.1/§5.2/§5.3, independently of
// src/smmu/stream-table.ts.

import { CD, L1CD } from '../../src/arch/cd.ts';
import { CMD_OP, type CmdName, COMMANDS } from '../../src/arch/cmd.ts';
import { decodeEvent } from '../../src/arch/evt.ts';
import { encodeValues, type RawFields } from '../../src/arch/fields.ts';
import { L1STD, STE } from '../../src/arch/ste.ts';
import type { EventRecord } from '../../src/arch/trace.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import {
  IOMMU_PROT,
  IoPgtable,
  type IoPgtableFmt,
  RegionAllocator,
} from '../../src/pgtable/index.ts';
import { encodeIdrs } from '../../src/smmu/features.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import {
  createTranslation,
  type Translation,
  type TranslationObserver,
  type TranslationOptions,
} from '../../src/smmu/translate.ts';
import type { SmmuFeatures, TraceEvent } from '../../src/smmu/types.ts';
import {
  CmdWriter,
  cmdSync,
  EVENTQ_PA,
  enableCmdq,
  enableEventq,
  OFF,
  SMMUEN,
} from './smmu-kit.ts';

/** Stream table base used by the tests (16 MiB). */
/**
 * An observer that observes nothing: its presence alone keeps a translation side on its general
 * path (nothing is remembered for the number path while an observer is installed).
 */
export const passThrough: TranslationObserver = {
  walkSink: () => {},
  walkMemory: (m) => m,
  transactionStart: () => {},
  transactionEnd: () => {},
  lookup: () => {},
  walkStart: () => {},
  walkEnd: () => {},
  configFetch: () => {},
};

export const STRTAB = 0x100_0000;
/** Where L2 stream arrays go. */
export const L2_AREA = 0x180_0000;
/** Where CD tables go. */
export const CD_AREA = 0x200_0000;
/** Page-table allocator region. */
export const PT_BASE = 0x1000_0000;
export const PT_SIZE = 0x1000_0000;

/** Features most tests want: QEMU `virt` plus substreams, 2-level CDs, both stall models, ATS, EL2. */
export const RICH: Partial<SmmuFeatures> = {
  ssidSize: 16,
  cd2l: true,
  stallModel: 0,
  termModel: false,
  ats: true,
  hyp: true,
  stallMax: 4,
};

export interface TRigOptions {
  readonly features?: Partial<SmmuFeatures>;
  readonly topts?: TranslationOptions;
  /** Stream table: linear with LOG2SIZE (default 8), or 2-level with SPLIT. */
  readonly strtab?: {
    readonly fmt: 'linear' | '2level';
    readonly log2size: number;
    readonly split?: number;
  };
  readonly recinvsid?: boolean;
  readonly e2h?: boolean;
  readonly atschk?: boolean;
  readonly trace?: (e: TraceEvent) => void;
  /** Memory options. */
  readonly mem?: SparseMemory;
}

export interface TRig {
  readonly mem: SparseMemory;
  readonly smmu: Smmu;
  readonly t: Translation;
  readonly alloc: RegionAllocator;
  /** Records written to the Event queue since the last call (consumed: CONS advances). */
  events(): EventRecord[];
  /** Pushes commands (then nothing else); returns CMDQ_CONS. */
  cmd(...cmds: (readonly [bigint, bigint])[]): number;
  /** Pushes commands followed by CMD_SYNC. */
  sync(...cmds: (readonly [bigint, bigint])[]): number;
  /** Writes an STE for `sid` (linear tables, or 2-level ones after `l1`). */
  ste(sid: number, fields: RawFields): number;
  /** Writes L1STD `index` (2-level tables). */
  l1(index: number, span: number, l2ptr: number): void;
  readonly split: number;
  readonly twoLevel: boolean;
}

const EVTQ_LOG2 = 8;
const CMDQ_LOG2 = 8;

/** Builds a command from its table: `cmd('TLBI_NH_VA', { VMID: 1, ASID: 2, Addr: 0x1000n })`. */
export function cmd(name: CmdName, fields: RawFields = {}): readonly [bigint, bigint] {
  const w = encodeValues(COMMANDS[name], { Opcode: CMD_OP[name], ...fields });
  return [w[0] as bigint, w[1] as bigint];
}

/** Writes 64-bit words at `pa`. */
export function writeWords(mem: SparseMemory, pa: number, words: readonly bigint[]): void {
  words.forEach((w, i) => {
    mem.write64(pa + 8 * i, w);
  });
}

/** Writes a CD (fields as denoted values) at `pa`. */
export function writeCd(mem: SparseMemory, pa: number, fields: RawFields): void {
  writeWords(mem, pa, encodeValues(CD, fields));
}

/** Writes an L1CD at `pa`. */
export function writeL1cd(mem: SparseMemory, pa: number, valid: boolean, l2ptr: number): void {
  writeWords(mem, pa, encodeValues(L1CD, { V: valid ? 1 : 0, L2Ptr: l2ptr }));
}

export function trig(o: TRigOptions = {}): TRig {
  const mem = o.mem ?? new SparseMemory();
  const features = { ...RICH, ...o.features };
  const idr = encodeIdrs(features);
  let created: Translation | undefined;
  const smmu = new Smmu({
    mem,
    idr,
    ...(o.trace ? { trace: o.trace } : {}),
    translation: (core) => {
      created = createTranslation(core, o.topts ?? {});
      return created;
    },
  });
  const t = created as unknown as Translation;
  const w32 = (off: number, v: number) => smmu.mmioWrite(off, 4, v);
  const w64 = (off: number, v: bigint) => smmu.mmioWrite(off, 8, v);
  const r32 = (off: number) => smmu.mmioRead(off, 4);
  const rigLike = {
    mem,
    smmu,
    fake: undefined as never,
    irqs: [],
    pulses: () => 0,
    r32,
    w32,
    r64: (off: number) => smmu.mmioRead(off, 8),
    w64,
  };
  const st = o.strtab ?? { fmt: 'linear', log2size: 8 };
  const twoLevel = st.fmt === '2level';
  const split = st.split ?? 8;
  // STRTAB_BASE.ADDR[51:6]; STRTAB_BASE_CFG: FMT[17:16], SPLIT[10:6], LOG2SIZE[5:0].
  w64(OFF.STRTAB_BASE, BigInt(STRTAB));
  w32(OFF.STRTAB_BASE_CFG, (twoLevel ? 1 << 16 : 0) | (split << 6) | st.log2size);
  // CR2: E2H[0], RECINVSID[1].
  w32(OFF.CR2, (o.e2h ? 1 : 0) | (o.recinvsid === false ? 0 : 2));
  enableEventq(rigLike, EVTQ_LOG2);
  enableCmdq(rigLike, CMDQ_LOG2);
  // CR0.ATSCHK is bit 4.
  w32(OFF.CR0, r32(OFF.CR0) | SMMUEN | (o.atschk ? 0x10 : 0));
  const writer = new CmdWriter(rigLike, CMDQ_LOG2);
  let cons = 0;
  const alloc = new RegionAllocator(mem, PT_BASE, PT_SIZE);
  return {
    mem,
    smmu,
    t,
    alloc,
    split,
    twoLevel,
    events() {
      const out: EventRecord[] = [];
      const prod = r32(OFF.EVENTQ_PROD) % 2 ** (EVTQ_LOG2 + 1);
      while (cons !== prod) {
        const idx = cons % 2 ** EVTQ_LOG2;
        const words = [0, 1, 2, 3].map((i) => mem.read64(EVENTQ_PA + 32 * idx + 8 * i));
        out.push(decodeEvent(words));
        cons = (cons + 1) % 2 ** (EVTQ_LOG2 + 1);
      }
      w32(OFF.EVENTQ_CONS, cons);
      return out;
    },
    cmd(...cmds) {
      writer.push(...cmds);
      return r32(OFF.CMDQ_CONS);
    },
    sync(...cmds) {
      writer.push(...cmds, cmdSync(0));
      return r32(OFF.CMDQ_CONS);
    },
    ste(sid, fields) {
      let pa: number;
      if (!twoLevel) pa = STRTAB + 64 * sid;
      else {
        const l1 = Math.floor(sid / 2 ** split);
        const l1d = mem.read64(STRTAB + 8 * l1);
        // L2Ptr[51:6] of the L1STD, then 64 bytes per STE indexed by SID[SPLIT-1:0].
        const l2 = Number(l1d & ((1n << 52n) - 64n));
        pa = l2 + 64 * (sid % 2 ** split);
      }
      writeWords(mem, pa, encodeValues(STE, fields));
      return pa;
    },
    l1(index, span, l2ptr) {
      writeWords(mem, STRTAB + 8 * index, encodeValues(L1STD, { Span: span, L2Ptr: l2ptr }));
    },
  };
}

/** An io-pgtable built in the rig's memory. */
export function pgtable(
  r: TRig,
  fmt: IoPgtableFmt,
  opts: { granule?: 4096 | 16384 | 65536; ias?: number; oas?: number } = {},
): IoPgtable {
  const g = opts.granule ?? 4096;
  const s2 = fmt === 'ARM_64_LPAE_S2';
  const bitmap =
    g === 4096 ? 4096 + 2 ** 21 + 2 ** 30 : g === 16384 ? 16384 + 2 ** 25 : 65536 + 2 ** 29;
  const p = IoPgtable.create(r.mem, r.alloc, {
    fmt,
    pgsizeBitmap: bitmap,
    // Stage 2 input must fit IAS (44 bits by default), so stage-2 tables default to 40 bits.
    ias: opts.ias ?? (s2 ? 40 : 48),
    oas: opts.oas ?? 44,
    cpuPageSize: g,
  });
  if (!p) throw new Error('io-pgtable allocation failed');
  return p;
}

/** Expects exactly one new event and returns it. */
export function oneEvent(r: TRig): EventRecord {
  const ev = r.events();
  if (ev.length !== 1) {
    throw new Error(`expected one event, got ${ev.length}: ${ev.map((e) => e.type).join(', ')}`);
  }
  return ev[0] as EventRecord;
}

/** The subset of an event's fields named in `want` (for toEqual against rule-derived values). */
export function pick(
  e: EventRecord,
  want: Record<string, bigint | number | boolean>,
): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const k of Object.keys(want)) out[k] = e.fields[k] ?? -1n;
  return out;
}

/** Rule-derived expected fields as bigints. */
export function big(want: Record<string, bigint | number | boolean>): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const [k, v] of Object.entries(want))
    out[k] = typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v);
  return out;
}

/** Asserts an event's type and fields (values derived from the rules in the test). */
export function expectEvent(
  e: EventRecord,
  type: string,
  want: Record<string, bigint | number | boolean>,
): void {
  if (e.type !== type) throw new Error(`expected ${type}, got ${e.type}`);
  const got = pick(e, want);
  const exp = big(want);
  for (const k of Object.keys(exp)) {
    if (got[k] !== exp[k]) {
      throw new Error(
        `${type}.${k}: expected 0x${exp[k]?.toString(16)}, got 0x${got[k]?.toString(16)}`,
      );
    }
  }
}

/**
 * Asserts an event's type and EVERY field of its record: the fields named in `want` have those
 * values, all others (RES0, unused, IMPDEF Reason) are 0.
 */
export function expectExact(
  e: EventRecord,
  type: string,
  want: Record<string, bigint | number | boolean>,
): void {
  if (e.type !== type) throw new Error(`expected ${type}, got ${e.type}`);
  const exp = big(want);
  for (const k of Object.keys(exp)) {
    if (!(k in e.fields)) throw new Error(`${type} has no field ${k}`);
  }
  for (const [k, v] of Object.entries(e.fields)) {
    if (k === 'EventID') continue;
    const w = exp[k] ?? 0n;
    if (v !== w)
      throw new Error(`${type}.${k}: expected 0x${w.toString(16)}, got 0x${v.toString(16)}`);
  }
}

export const RW = IOMMU_PROT.READ | IOMMU_PROT.WRITE;
export const RO = IOMMU_PROT.READ;

/** CD fields for a stage-1 io-pgtable (TTB0 only, EPD1 = 1), as Linux arm_smmu_make_s1_cd does. */
export function s1Cd(p: IoPgtable, asid: number, extra: RawFields = {}): RawFields {
  return {
    V: 1,
    T0SZ: p.tcr.tsz,
    TG0: p.tcr.tg,
    IR0: p.tcr.irgn,
    OR0: p.tcr.orgn,
    SH0: p.tcr.sh,
    EPD1: 1,
    IPS: p.tcr.ps,
    AA64: 1,
    R: 1,
    A: 1,
    ASET: 0,
    ASID: asid,
    TTB0: p.pgd,
    MAIR0: Number(p.mair & 0xffff_ffffn),
    MAIR1: Number(p.mair >> 32n),
    ...extra,
  };
}

/** STE stage-2 fields for a stage-2 io-pgtable (arm_smmu_make_s2_domain_ste). */
export function s2Ste(p: IoPgtable, vmid: number, extra: RawFields = {}): RawFields {
  return {
    S2VMID: vmid,
    S2T0SZ: p.tcr.tsz,
    S2SL0: p.tcr.sl,
    S2IR0: p.tcr.irgn,
    S2OR0: p.tcr.orgn,
    S2SH0: p.tcr.sh,
    S2TG: p.tcr.tg,
    S2PS: p.tcr.ps,
    S2AA64: 1,
    S2R: 1,
    S2TTB: p.pgd,
    ...extra,
  };
}
