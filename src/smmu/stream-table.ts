// Stream table and CD table addressing (Arm IHI 0070 H.a §5.1 Stream table, §5.1.1 L1STD, §5.3
// L1CD, §5.2 S1Fmt/S1CDMax, SMMU_STRTAB_BASE / SMMU_STRTAB_BASE_CFG, §3.4.3 out-of-range
// addresses; smmuv3-arch.md [1.2], [1.4], [1.5]). Pure address arithmetic plus the raw fetch of a
// structure as little-endian u32 halves; the decisions about events live in translate.ts.

import { getBits, lowBits } from '../arch/bits.ts';
import { L1CD } from '../arch/cd.ts';
import { findField } from '../arch/fields.ts';
import { STRTAB_BASE, STRTAB_BASE_CFG } from '../arch/regs.ts';
import { L1STD } from '../arch/ste.ts';
import type { SparseMemory } from '../mem/sparse-memory.ts';
import { type BoundedCache, type L1StdEntry, l1stdKey } from './config-cache.ts';
import type { SmmuFeatures, SmmuRegisterView } from './types.ts';

const BASE_ADDR = findField(STRTAB_BASE, 'ADDR');
const CFG_FMT = findField(STRTAB_BASE_CFG, 'FMT');
const CFG_SPLIT = findField(STRTAB_BASE_CFG, 'SPLIT');
const CFG_LOG2SIZE = findField(STRTAB_BASE_CFG, 'LOG2SIZE');
const L1STD_SPAN = findField(L1STD, 'Span');
const L1STD_L2PTR = findField(L1STD, 'L2Ptr');
const L1CD_V = findField(L1CD, 'V');
const L1CD_L2PTR = findField(L1CD, 'L2Ptr');

/** An address field of a one-word descriptor, kept in place. */
function addrOf(w: bigint, f: { hi: number; lo: number }): number {
  return Number(getBits(w, f.hi, f.lo)) * 2 ** f.lo;
}

/** The stream table geometry currently programmed. */
export interface StreamTableGeometry {
  /** Table base (STRTAB_BASE.ADDR, bits in place). */
  readonly base: number;
  /** Two-level format in effect (FMT 0b01 with IDR0.ST_LEVEL ≠ 0). */
  readonly twoLevel: boolean;
  /** Effective SPLIT (6, 8 or 10). */
  readonly split: number;
  /** LOG2SIZE as written (alignment uses it). */
  readonly log2Size: number;
  /** min(LOG2SIZE, IDR1.SIDSIZE): range checks and index maths. */
  readonly effLog2Size: number;
}

/** Decodes STRTAB_BASE / STRTAB_BASE_CFG (§6.3.24–25). */
export function streamTableGeometry(
  regs: SmmuRegisterView,
  features: SmmuFeatures,
): StreamTableGeometry {
  const cfg = BigInt(regs.strtabBaseCfg >>> 0);
  const fmt = Number(getBits(cfg, CFG_FMT.hi, CFG_FMT.lo));
  const splitRaw = Number(getBits(cfg, CFG_SPLIT.hi, CFG_SPLIT.lo));
  const log2Size = Number(getBits(cfg, CFG_LOG2SIZE.hi, CFG_LOG2SIZE.lo));
  return {
    base: addrOf(regs.strtabBase, BASE_ADDR),
    // FMT 0b1x is reserved and behaves as linear; 0b01 needs IDR0.ST_LEVEL.
    twoLevel: fmt === 0b01 && features.stLevel !== 0,
    split: splitRaw === 8 || splitRaw === 10 ? splitRaw : 6,
    log2Size,
    effLog2Size: Math.min(log2Size, features.sidSize),
  };
}

/** Where an STE is, or why it cannot be reached. */
export type SteLocation =
  | { readonly ok: true; readonly addr: number }
  | { readonly ok: false; readonly event: 'C_BAD_STREAMID' }
  | { readonly ok: false; readonly event: 'F_STE_FETCH'; readonly fetchAddr: number };

/** Policies of STE location (CONSTRAINED UNPREDICTABLE choices, §3.4.3). */
export interface StreamTablePolicies {
  /** A stream table or L2 array address beyond OAS: truncate to OAS, or F_STE_FETCH. */
  readonly steFetchBeyondOas: 'truncate' | 'abort';
}

/** Counters updated by `locateSte`. */
export interface LocateStats {
  l1stdFetches: number;
  l1stdHits: number;
}

/**
 * Finds the STE of `sid` (§5.1): linear table at base + 64·SID (base aligned to the table), or
 * the 2-level walk through the L1STD (cached in `l1std`, filled only by successful reads).
 */
export function locateSte(
  sid: number,
  geo: StreamTableGeometry,
  features: SmmuFeatures,
  mem: SparseMemory,
  l1std: BoundedCache<L1StdEntry>,
  policies: StreamTablePolicies,
  stats: LocateStats,
): SteLocation {
  if (sid >= 2 ** geo.effLog2Size) return { ok: false, event: 'C_BAD_STREAMID' };
  const oasLimit = 2 ** features.oas;
  const clampOas = (a: number): number | undefined => {
    if (a < oasLimit) return a;
    // CONSTRAINED UNPREDICTABLE: §3.4.3 — a structure address beyond OAS is truncated, or the
    // fetch aborts (F_STE_FETCH); `steFetchBeyondOas` chooses.
    return policies.steFetchBeyondOas === 'truncate' ? lowBits(a, features.oas) : undefined;
  };
  if (!geo.twoLevel) {
    // Linear: the base is aligned down to the table size (literal LOG2SIZE).
    const base = geo.base - lowBits(geo.base, Math.min(geo.log2Size + 6, 52));
    const a = base + 64 * sid;
    const addr = clampOas(a);
    if (addr === undefined) return { ok: false, event: 'F_STE_FETCH', fetchAddr: a };
    return { ok: true, addr };
  }
  const split = geo.split;
  const l1Index = Math.floor(sid / 2 ** split);
  const key = l1stdKey(l1Index, split);
  let desc = l1std.get(key);
  if (desc) stats.l1stdHits++;
  else {
    // The level-1 table is aligned to max(64 B, its size) (literal LOG2SIZE).
    const l1Bytes = 8 * 2 ** Math.max(0, geo.log2Size - split);
    const align = Math.max(64, l1Bytes);
    const base = geo.base - lowBits(geo.base, Math.min(Math.log2(align), 52));
    const a = base + 8 * l1Index;
    const addr = clampOas(a);
    if (addr === undefined || mem.aborts(addr, 8)) {
      return { ok: false, event: 'F_STE_FETCH', fetchAddr: addr ?? a };
    }
    stats.l1stdFetches++;
    const w = mem.read64(addr);
    const span = Number(getBits(w, L1STD_SPAN.hi, L1STD_SPAN.lo));
    const rawPtr = addrOf(w, L1STD_L2PTR);
    // L2Ptr[5 + Span − 1 : 0] are taken as zero (the array is aligned to its size).
    const l2Ptr = span >= 1 && span <= 11 ? rawPtr - lowBits(rawPtr, 5 + span) : rawPtr;
    desc = { span, l2Ptr };
    l1std.set(key, desc);
  }
  const span = desc.span;
  // §5.1.1: Span 0 invalid, 12..31 reserved (invalid), Span > SPLIT + 1 invalid, and the low
  // StreamID bits must index inside the 2^(Span−1)-entry array.
  if (span === 0 || span > 11 || span > split + 1) return { ok: false, event: 'C_BAD_STREAMID' };
  const low = lowBits(sid, split);
  if (low >= 2 ** (span - 1)) return { ok: false, event: 'C_BAD_STREAMID' };
  const a = desc.l2Ptr + 64 * low;
  const addr = clampOas(a);
  if (addr === undefined) return { ok: false, event: 'F_STE_FETCH', fetchAddr: a };
  return { ok: true, addr };
}

/** Reads `bytes` (a multiple of 8) at `pa` as little-endian u32 halves into a new array. */
export function readStruct(mem: SparseMemory, pa: number, bytes: number): Uint32Array {
  const out = new Uint32Array(bytes / 4);
  const two = new Uint32Array(2);
  for (let i = 0; i < bytes / 8; i++) {
    mem.read64Into(pa + 8 * i, two);
    out[2 * i] = two[0] as number;
    out[2 * i + 1] = two[1] as number;
  }
  return out;
}

/** How the CD of a SubstreamID index is reached from the STE (§5.2 S1Fmt, §5.3). */
export type CdPath =
  | { readonly twoLevel: false; readonly cdAddr: number }
  | {
      readonly twoLevel: true;
      /** S1Fmt (1: 4 KiB leaves of 64 CDs, 2: 64 KiB leaves of 1024 CDs). */
      readonly fmt: number;
      readonly l1Index: number;
      readonly l1Addr: number;
      /** Index of the CD inside its leaf table. */
      readonly leafIndex: number;
    };

/**
 * The address of CD `index` (linear), or of its L1CD (2-level). `ptr` is STE.S1ContextPtr;
 * `cdMax` the effective S1CDMax (0 = a single CD at `ptr`).
 */
export function cdPath(ptr: number, fmt: number, cdMax: number, index: number): CdPath {
  if (cdMax === 0) return { twoLevel: false, cdAddr: ptr };
  if (fmt === 0) {
    // CONSTRAINED UNPREDICTABLE: §5.2 S1ContextPtr — low pointer bits below the table size may
    // be ignored or used; this model adds the index to the pointer as written.
    return { twoLevel: false, cdAddr: ptr + 64 * index };
  }
  const leafBits = fmt === 1 ? 6 : 10;
  return {
    twoLevel: true,
    fmt,
    l1Index: Math.floor(index / 2 ** leafBits),
    l1Addr: ptr + 8 * Math.floor(index / 2 ** leafBits),
    leafIndex: lowBits(index, leafBits),
  };
}

/** Decodes an L1CD word (§5.3): V and L2Ptr aligned to the leaf table (4 KiB or 64 KiB). */
export function decodeL1cd(w: bigint, fmt: number): { valid: boolean; l2Ptr: number } {
  const valid = getBits(w, L1CD_V.hi, L1CD_V.lo) === 1n;
  const raw = addrOf(w, L1CD_L2PTR);
  // L2Ptr[11:0] are zero by position; for 64 KiB leaves L2Ptr[15:12] are RES0 and ignored.
  return { valid, l2Ptr: fmt === 2 ? raw - lowBits(raw, 16) : raw };
}
