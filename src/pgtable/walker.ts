// VMSAv8-64 translation table walker as an SMMUv3 performs it (Arm DDI 0487 D8: AArch64.S1Walk /
// AArch64.S2Walk, descriptor validity, address-size checks, hierarchical permissions, access
// flag and dirty state with FEAT_HAFDBS; IHI 0070 §3.4 (address sizes), §3.13 (HTTU), §7.3
// (fault records: S2, CLASS, IPA, TTRnW, FetchAddr) and §7.3.22 (fault priority: per level
// external abort → translation → address size; then access flag; then permission; when nested,
// every stage-1 descriptor address goes through a full stage-2 walk first, and the final IPA's
// stage-2 walk comes after the stage-1 checks)).
//
// Number path (typescript.md §8.2): addresses are numbers below 2^53, descriptors are read as two
// u32 halves into one scratch array, no bigint and no allocation per step; the only allocation
// is the result object. Faults are returned as values. On a SparseMemory read directly (not
// through a stage-2 walk) a table below 2^43 is also kept as an int32 page number taken from the
// descriptor's halves and read with `read64IntoSlot`: the same accesses as `read64Into`, without
// a float-to-integer conversion between one level's descriptor and the next read
// (test/property/pgtable-walk-fast.test.ts checks both paths agree).

import { joinU64, TWO32 } from '../arch/bits.ts';
import { VsmmuError } from '../arch/errors.ts';
import { blockAllowed, PTE_HI, PTE_LO } from '../arch/pte.ts';
import type { TraceSink } from '../arch/trace.ts';
import { SparseMemory } from '../mem/sparse-memory.ts';
import {
  type FaultClass,
  type FaultType,
  PERM,
  PERM_CHECK,
  type PermMask,
  type Stage,
  type StageParams,
  type WalkConfig,
  type WalkFault,
  type WalkOk,
  type WalkRequest,
  type WalkResult,
} from './types.ts';

/** What the walker needs from memory (SparseMemory satisfies it). */
export interface WalkMemory {
  /** False when no access can abort, so the walker skips `aborts` (one property read per step). */
  readonly mayAbort: boolean;
  /** True when an access of `size` bytes at `pa` is an external abort. */
  aborts(pa: number, size: number): boolean;
  read64Into(pa: number, out: Uint32Array): void;
  write64Split(pa: number, lo: number, hi: number): void;
}

/** Result of one stage's walk, kept in module scratch objects (never escapes). */
class Leaf {
  oa = 0;
  level = 0;
  shift = 0;
  lo = 0;
  hi = 0;
  perms = 0;
}

const desc = new Uint32Array(2);

// Descriptor bits and permission flags as module constants (cheaper than property loads).
const VALID = PTE_LO.VALID;
const TYPE = PTE_LO.TYPE;
const AF = PTE_LO.AF;
const NG = PTE_LO.NG;
const AP_UNPRIV = PTE_LO.AP_UNPRIV;
const AP_RDONLY = PTE_LO.AP_RDONLY;
const S2AP_READ = PTE_LO.S2AP_READ;
const S2AP_WRITE = PTE_LO.S2AP_WRITE;
const DBM = PTE_HI.DBM;
const CONT = PTE_HI.CONT;
const PXN = PTE_HI.PXN;
const UXN = PTE_HI.UXN;
const PXNTABLE = PTE_HI.PXNTABLE;
const XNTABLE = PTE_HI.XNTABLE;
const APTABLE_NOEL0 = PTE_HI.APTABLE_NOEL0;
const APTABLE_RDONLY = PTE_HI.APTABLE_RDONLY;
const P_PR = PERM.PR;
const P_PW = PERM.PW;
const P_PX = PERM.PX;
const P_UR = PERM.UR;
const P_UW = PERM.UW;
const P_UX = PERM.UX;
const P_DIRTY = PERM.DIRTY_PENDING;
const P_PAN = PERM.PAN;
const CHECK_OK = PERM_CHECK.OK;
const CHECK_FAULT = PERM_CHECK.FAULT;
const CHECK_WALK = PERM_CHECK.WALK;

/** 2^n for n in 0..63 (avoids Math.pow on the hot path). */
const POW2 = new Float64Array(64);
for (let n = 0; n < 64; n++) POW2[n] = 2 ** n;

/** `x mod 2^n` for a non-negative integer x below 2^53 (0 ≤ n ≤ 52). */
function low(x: number, n: number): number {
  if (n < 31) return (x >>> 0) & ((1 << n) - 1);
  const p = POW2[n] as number;
  return x - Math.floor(x / p) * p;
}
const s1Leaf = new Leaf();
const s2Leaf = new Leaf();
/** Stage-2 walks of stage-1 descriptor addresses. */
const ttLeaf = new Leaf();

// The first fault of a walk (module scratch, turned into a WalkFault by `faultResult`).
let fType: FaultType = 'translation';
let fStage: Stage = 1;
let fLevel = 0;
let fClass: FaultClass = 'IN';
let fIpa: number | undefined;
let fFetch: number | undefined;
let fTtRead: boolean | undefined;

function setFault(
  type: FaultType,
  stage: Stage,
  level: number,
  cls: FaultClass,
  ipa: number | undefined,
  fetch: number | undefined,
  ttRead: boolean | undefined,
): false {
  fType = type;
  fStage = stage;
  fLevel = level;
  fClass = cls;
  fIpa = ipa;
  fFetch = fetch;
  fTtRead = ttRead;
  return false;
}

function faultResult(): WalkFault {
  return {
    ok: false,
    fault: fType,
    stage: fStage,
    level: fLevel,
    class: fClass,
    ipa: fIpa,
    fetchAddr: fFetch,
    ttRead: fTtRead,
  };
}

/**
 * Output or next-table address held in a descriptor (lo, hi) for granule shift `g`: bits
 * [47:g], plus OA[51:48] from [15:12] (64K with FEAT_LPA) or OA[51:50] from [9:8] and OA[49:48]
 * from [49:48] (4K/16K with DS = 1).
 */
function descAddr(lo: number, hi: number, g: number, ds: boolean, lpa: boolean): number {
  const low = (lo & ~((1 << g) - 1)) >>> 0;
  if (g === 16) return (hi & 0xffff) * TWO32 + low + (lpa ? ((lo >>> 12) & 0xf) * 2 ** 48 : 0);
  if (ds) return (hi & 0x3_ffff) * TWO32 + low + ((lo >>> 8) & 3) * 2 ** 50;
  return (hi & 0xffff) * TWO32 + low;
}

/**
 * The 4 KiB page number of `descAddr(lo, hi, g, ds, lpa)` computed on the u32 halves, when it is
 * below 2^31 (address below 2^43); otherwise -1. `ds` is already false for the 64K granule.
 */
function tablePfn(lo: number, hi: number, g: number, ds: boolean, lpa: boolean): number {
  // Address bits [47:43] (with DS also [49:48]) sit in hi; OA[51:48] or OA[51:50] in lo.
  if ((hi & (ds ? 0x3_f800 : 0xf800)) !== 0) return -1;
  if (g === 16 ? lpa && (lo & 0xf000) !== 0 : ds && (lo & 0x300) !== 0) return -1;
  return ((hi & 0x7ff) << 20) | ((lo & ~((1 << g) - 1)) >>> 12);
}

function trace(
  sink: TraceSink,
  stage: Stage,
  level: number,
  tablePa: number,
  index: number,
  lo: number,
  hi: number,
  decision: string,
): void {
  sink({ kind: 'walk-step', stage, level, tablePa, index, descriptor: joinU64(lo, hi), decision });
}

/** Stage-1 permissions of a leaf (EL1&0 two-range regime), given the accumulated table bits. */
function s1Perms(p: StageParams, lo: number, hi: number, tableHi: number): PermMask {
  const dirtyOk = p.ha && p.hd && (hi & DBM) !== 0;
  const leafRo = (lo & AP_RDONLY) !== 0 && !dirtyOk;
  const ur = (lo & AP_UNPRIV) !== 0 && (tableHi & APTABLE_NOEL0) === 0;
  const pw = !leafRo && (tableHi & APTABLE_RDONLY) === 0;
  const uw = ur && pw;
  let px = (hi & PXN) === 0 && (tableHi & PXNTABLE) === 0 && !uw;
  let ux = (hi & UXN) === 0 && (tableHi & XNTABLE) === 0;
  if (p.wxn) {
    if (pw) px = false;
    if (uw) ux = false;
  }
  if (p.execNeedsRead !== false && !ur) ux = false;
  let m = P_PR;
  if (pw) m |= P_PW;
  if (px) m |= P_PX;
  if (ur) m |= P_UR;
  if (uw) m |= P_UW;
  if (ux) m |= P_UX;
  if (pw && dirtyOk && (lo & AP_RDONLY) !== 0) m |= P_DIRTY;
  if (p.pan && ur) m |= P_PAN;
  return m;
}

/** Stage-2 permissions of a leaf. */
function s2Perms(p: StageParams, lo: number, hi: number): PermMask {
  const dirtyOk = p.ha && p.hd && (hi & DBM) !== 0;
  const r = (lo & S2AP_READ) !== 0;
  const wDesc = (lo & S2AP_WRITE) !== 0;
  const w = wDesc || dirtyOk;
  const xn = (hi & PTE_HI.S2XN_MASK) >>> PTE_HI.S2XN_SHIFT;
  let px: boolean;
  let ux: boolean;
  if (p.xnx) {
    px = xn === 0 || xn === 3;
    ux = xn === 0 || xn === 1;
  } else {
    px = ux = (xn & 2) === 0;
  }
  if (p.execNeedsRead !== false && !r) px = ux = false;
  let m = 0;
  if (r) m |= P_PR | P_UR;
  if (w) m |= P_PW | P_UW;
  if (px) m |= P_PX;
  if (ux) m |= P_UX;
  if (w && !wDesc) m |= P_DIRTY;
  return m;
}

/**
 * Evaluates an access against a permission mask (a cached translation's, or a fresh walk's):
 * CHECK_OK, FAULT, or WALK when the write needs a dirty-state update first. For a nested
 * translation check stage 1 first; its fault takes priority.
 */
export function checkPermission(
  perms: PermMask,
  write: boolean,
  exec: boolean,
  priv: boolean,
): number {
  if (exec && !write) {
    return perms & (priv ? P_PX : P_UX) ? CHECK_OK : CHECK_FAULT;
  }
  const need = write ? (priv ? P_PW : P_UW) : priv ? P_PR : P_UR;
  if (!(perms & need)) return CHECK_FAULT;
  if (priv && perms & P_PAN) return CHECK_FAULT;
  if (write && perms & P_DIRTY) return CHECK_WALK;
  return CHECK_OK;
}

/** Whether stage-2 MemAttr (bits [5:2]) denotes Device memory (S2FWB: MemAttr[2] = 0). */
function s2Device(lo: number, fwb: boolean): boolean {
  const m = (lo >>> 2) & 0xf;
  return fwb ? (m & 4) === 0 : (m & 0xc) === 0;
}

/**
 * One stage of a walk. Stage 1 with `s2` set is the stage 1 of a nested walk: each descriptor
 * address is an IPA translated by a stage-2 walk first (CLASS TT). For stage 2, `cls` and
 * `ttRead` describe what is being translated, for the fault record. Returns false with the
 * fault in the module scratch.
 */
function walkStage(
  mem: WalkMemory,
  p: StageParams,
  stage: Stage,
  addr: number,
  write: boolean,
  exec: boolean,
  priv: boolean,
  cls: FaultClass,
  ttRead: boolean | undefined,
  out: Leaf,
  s2: StageParams | undefined,
  sink: TraceSink | undefined,
): boolean {
  const granule = p.granule;
  const g = granule === 4096 ? 12 : granule === 16384 ? 14 : 16;
  const bpl = g - 3;
  const ds = p.ds && g !== 16;
  const lpa = p.lpa;
  const inputBits = p.inputBits;
  const startLevel = p.startLevel;
  const outBits = !ds && g !== 16 && p.outputBits > 48 ? 48 : p.outputBits;
  const outLimit = POW2[outBits] as number;
  const s2ipa = stage === 2 ? addr : undefined;
  // Stage-1 faults are CLASS IN; a stage-1 descriptor fetch abort is CLASS TT.
  const fcls: FaultClass = stage === 1 ? 'IN' : cls;
  const eabtCls: FaultClass = stage === 1 ? 'TT' : cls;
  if (addr >= (POW2[inputBits] as number)) {
    return setFault('translation', stage, startLevel, fcls, s2ipa, undefined, ttRead);
  }
  const alo = addr >>> 0;
  const ahi = (addr / TWO32) >>> 0;
  let level = startLevel;
  let shift = g + (3 - level) * bpl;
  let width = inputBits - shift;
  if (width < 0 || width > 30) {
    // Start level inconsistent with the input size (the caller should have rejected the config).
    return setFault('translation', stage, startLevel, fcls, s2ipa, undefined, ttRead);
  }
  let table = p.ttb - low(p.ttb, width + 3);
  let tableHi = 0;
  const hier = stage === 1 && !p.had;
  // Whether an access can abort does not change during a walk: read it once.
  const mayAbort = mem.mayAbort;
  // Reading a SparseMemory directly (not through a stage-2 walk): the current table as a 4 KiB
  // page number `tpfn` and a byte offset `toff` in that page, both int32, so the next read comes
  // from the descriptor's halves without a float-to-integer conversion. tpfn -1: read64Into.
  const sm = s2 === undefined && mem instanceof SparseMemory ? mem : undefined;
  let tpfn = -1;
  let toff = 0;
  if (sm !== undefined && table < 2 ** 43 && width <= 17) {
    tpfn = (table / 4096) | 0;
    toff = (table - tpfn * 4096) | 0;
  }
  for (;;) {
    // Index bits [shift+width-1 : shift] of the address, from its u32 halves (width ≤ 17).
    const index =
      (shift >= 32
        ? ahi >>> (shift - 32)
        : shift === 0
          ? alo
          : (alo >>> shift) | (ahi << (32 - shift))) &
      ((1 << width) - 1);
    const da = table + index * 8;
    let pa = da;
    if (s2) {
      if (!walkStage(mem, s2, 2, da, false, false, false, 'TT', true, ttLeaf, undefined, sink)) {
        return false;
      }
      pa = ttLeaf.oa;
      if (s2.ptw && s2Device(ttLeaf.lo, s2.fwb === true)) {
        return setFault('permission', 2, ttLeaf.level, 'TT', da, undefined, true);
      }
    }
    if (mayAbort && mem.aborts(pa, 8)) {
      if (sink) trace(sink, stage, level, table, index, 0, 0, 'abort');
      return setFault('walkEabt', stage, level, eabtCls, s2ipa, pa, ttRead);
    }
    if (tpfn >= 0) {
      const off = toff + index * 8;
      (sm as SparseMemory).read64IntoSlot(tpfn + (off >>> 12), (off & 0xfff) >>> 3, desc);
    } else {
      mem.read64Into(pa, desc);
    }
    const lo = desc[0] as number;
    const hi = desc[1] as number;
    if ((lo & VALID) === 0) {
      if (sink) trace(sink, stage, level, table, index, lo, hi, 'invalid');
      return setFault('translation', stage, level, fcls, s2ipa, undefined, ttRead);
    }
    // Next-table or output address (one call site keeps walkStage small enough to inline more).
    const next = descAddr(lo, hi, g, ds, lpa);
    if ((lo & TYPE) !== 0 && level < 3) {
      if (next >= outLimit) {
        if (sink) trace(sink, stage, level, table, index, lo, hi, 'table: address size');
        return setFault('addrSize', stage, level, fcls, s2ipa, undefined, ttRead);
      }
      if (sink) trace(sink, stage, level, table, index, lo, hi, 'table');
      if (hier) tableHi |= hi;
      table = next;
      if (sm !== undefined) {
        tpfn = tablePfn(lo, hi, g, ds, lpa);
        toff = 0;
      }
      level++;
      shift -= bpl;
      width = bpl;
      continue;
    }
    if (level === 3 ? (lo & TYPE) === 0 : !blockAllowed(granule, level, ds, lpa)) {
      if (sink) trace(sink, stage, level, table, index, lo, hi, 'reserved');
      return setFault('translation', stage, level, fcls, s2ipa, undefined, ttRead);
    }
    const oaBase = next - low(next, shift);
    if (oaBase >= outLimit) {
      if (sink) trace(sink, stage, level, table, index, lo, hi, 'leaf: address size');
      return setFault('addrSize', stage, level, fcls, s2ipa, undefined, ttRead);
    }
    let newLo = lo;
    if ((lo & AF) === 0) {
      if (p.ha) newLo |= AF;
      else if (!p.affd) {
        if (sink) trace(sink, stage, level, table, index, lo, hi, 'leaf: access flag');
        return setFault('access', stage, level, fcls, s2ipa, undefined, ttRead);
      }
    }
    let perms = stage === 1 ? s1Perms(p, lo, hi, tableHi) : s2Perms(p, lo, hi);
    const check = checkPermission(perms, write, exec, priv);
    if (check === CHECK_FAULT) {
      if (sink) trace(sink, stage, level, table, index, lo, hi, 'leaf: permission');
      return setFault('permission', stage, level, fcls, s2ipa, undefined, ttRead);
    }
    if (check === CHECK_WALK) {
      // Hardware dirty state: stage 1 clears AP[2], stage 2 sets S2AP[1].
      newLo = stage === 1 ? newLo & ~AP_RDONLY : newLo | S2AP_WRITE;
      perms &= ~P_DIRTY;
    }
    newLo >>>= 0;
    if (newLo !== lo) {
      // HTTU update (IHI 0070 §3.13). Nested: the stage-1 descriptor write needs stage-2 write
      // permission (a fault here is CLASS TT with TTRnW = 0).
      let wpa = pa;
      if (s2) {
        if (!walkStage(mem, s2, 2, da, true, false, false, 'TT', false, ttLeaf, undefined, sink)) {
          return false;
        }
        wpa = ttLeaf.oa;
      }
      if (mayAbort && mem.aborts(wpa, 8))
        return setFault('walkEabt', stage, level, eabtCls, s2ipa, wpa, false);
      mem.write64Split(wpa, newLo, hi);
    }
    if (sink) trace(sink, stage, level, table, index, newLo, hi, level === 3 ? 'page' : 'block');
    out.oa = oaBase + low(addr, shift);
    out.level = level;
    out.shift = shift;
    out.lo = newLo;
    out.hi = hi;
    out.perms = perms;
    return true;
  }
}

// One straight-line result builder per walk kind keeps each object literal monomorphic.

function okS1(l: Leaf, p: StageParams): WalkOk {
  const lo = l.lo;
  return {
    ok: true,
    oa: l.oa,
    ipa: l.oa,
    level: l.level,
    blockShift: l.shift,
    descLo: lo,
    descHi: l.hi,
    s1Level: l.level,
    s1BlockShift: l.shift,
    s1DescLo: lo,
    s1DescHi: l.hi,
    s1Perms: l.perms,
    s2Level: -1,
    s2BlockShift: 0,
    s2DescLo: 0,
    s2DescHi: 0,
    s2Perms: 0,
    attrIndx: (lo >>> 2) & 7,
    sh: p.ds && p.granule !== 65536 ? -1 : (lo >>> 8) & 3,
    nG: (lo & NG) !== 0,
    memAttr: -1,
    s2Sh: -1,
    contiguous: (l.hi & CONT) !== 0,
  };
}

function okS2(l: Leaf, input: number): WalkOk {
  const lo = l.lo;
  return {
    ok: true,
    oa: l.oa,
    ipa: input,
    level: l.level,
    blockShift: l.shift,
    descLo: lo,
    descHi: l.hi,
    s1Level: -1,
    s1BlockShift: 0,
    s1DescLo: 0,
    s1DescHi: 0,
    s1Perms: 0,
    s2Level: l.level,
    s2BlockShift: l.shift,
    s2DescLo: lo,
    s2DescHi: l.hi,
    s2Perms: l.perms,
    attrIndx: -1,
    sh: -1,
    nG: false,
    memAttr: (lo >>> 2) & 0xf,
    s2Sh: (lo >>> 8) & 3,
    contiguous: (l.hi & CONT) !== 0,
  };
}

function okNested(l1: Leaf, l2: Leaf, p1: StageParams): WalkOk {
  const lo1 = l1.lo;
  const lo2 = l2.lo;
  return {
    ok: true,
    oa: l2.oa,
    ipa: l1.oa,
    level: l2.level,
    blockShift: l1.shift < l2.shift ? l1.shift : l2.shift,
    descLo: lo2,
    descHi: l2.hi,
    s1Level: l1.level,
    s1BlockShift: l1.shift,
    s1DescLo: lo1,
    s1DescHi: l1.hi,
    s1Perms: l1.perms,
    s2Level: l2.level,
    s2BlockShift: l2.shift,
    s2DescLo: lo2,
    s2DescHi: l2.hi,
    s2Perms: l2.perms,
    attrIndx: (lo1 >>> 2) & 7,
    sh: p1.ds && p1.granule !== 65536 ? -1 : (lo1 >>> 8) & 3,
    nG: (lo1 & NG) !== 0,
    memAttr: (lo2 >>> 2) & 0xf,
    s2Sh: (lo2 >>> 8) & 3,
    contiguous: (l2.hi & CONT) !== 0,
  };
}

/** A stage-1-only walk of `req.address` (a VA). */
export function walkS1(
  mem: WalkMemory,
  s1: StageParams,
  req: WalkRequest,
  sink?: TraceSink,
): WalkResult {
  const a = req.address;
  if (
    !walkStage(
      mem,
      s1,
      1,
      a,
      req.write,
      req.exec,
      req.priv,
      'IN',
      undefined,
      s1Leaf,
      undefined,
      sink,
    )
  ) {
    return faultResult();
  }
  return okS1(s1Leaf, s1);
}

/**
 * A stage-2-only walk of `req.address` (an IPA). `cls` is the CLASS of a fault: 'IN' for a
 * transaction (default), 'CD' when translating a CD or L1CD fetch address.
 */
export function walkS2(
  mem: WalkMemory,
  s2: StageParams,
  req: WalkRequest,
  sink?: TraceSink,
  cls: FaultClass = 'IN',
): WalkResult {
  const a = req.address;
  if (
    !walkStage(
      mem,
      s2,
      2,
      a,
      req.write,
      req.exec,
      req.priv,
      cls,
      undefined,
      s2Leaf,
      undefined,
      sink,
    )
  ) {
    return faultResult();
  }
  return okS2(s2Leaf, a);
}

/**
 * A nested walk: stage 1 with every table address translated by stage 2 (faults CLASS TT), the
 * stage-1 checks, then the output IPA through stage 2 (faults CLASS IN).
 */
export function walkNested(
  mem: WalkMemory,
  s1: StageParams,
  s2: StageParams,
  req: WalkRequest,
  sink?: TraceSink,
): WalkResult {
  const a = req.address;
  const { write, exec, priv } = req;
  if (!walkStage(mem, s1, 1, a, write, exec, priv, 'IN', undefined, s1Leaf, s2, sink)) {
    return faultResult();
  }
  if (
    !walkStage(mem, s2, 2, s1Leaf.oa, write, exec, priv, 'IN', undefined, s2Leaf, undefined, sink)
  ) {
    return faultResult();
  }
  return okNested(s1Leaf, s2Leaf, s1);
}

/** Walks whatever stages `cfg` enables (nested when both). */
export function walk(
  mem: WalkMemory,
  cfg: WalkConfig,
  req: WalkRequest,
  sink?: TraceSink,
): WalkResult {
  if (cfg.s1 && cfg.s2) return walkNested(mem, cfg.s1, cfg.s2, req, sink);
  if (cfg.s1) return walkS1(mem, cfg.s1, req, sink);
  if (cfg.s2) return walkS2(mem, cfg.s2, req, sink);
  throw new VsmmuError('BAD_ARGUMENT', 'walk: no translation stage enabled');
}
