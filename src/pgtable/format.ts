// Translation-table geometry for VMSAv8-64 (Arm DDI 0487 D8.2: granules, levels, start level,
// stage-2 concatenation; pseudocode AArch64.S1StartLevel, AArch64.S2StartLevel,
// AArch64.S2InvalidSL, AArch64.S2InconsistentSL, AArch64.BlockDescSupported) and the geometry
// io-pgtable-arm derives from (granule, IAS, OAS) (drivers/iommu/io-pgtable-arm.c:
// arm_lpae_alloc_pgtable, arm_lpae_concat_mandatory, the SL0/TG/PS encodings). Pure functions.

import { granuleShift, type PteGranule } from '../arch/pte.ts';
import type { Granule } from './types.ts';

export { blockAllowed, granuleShift } from '../arch/pte.ts';

/** Bits of address resolved per level: log2(granule) − 3 (9, 11, 13). */
export function bitsPerLevel(granule: Granule): number {
  return granuleShift(granule) - 3;
}

/** Shift of the address bits indexing level `level`: log2(granule) + (3 − level) × bitsPerLevel. */
export function levelShift(granule: Granule, level: number): number {
  const g = granuleShift(granule);
  return g + (3 - level) * (g - 3);
}

/** Size in bytes mapped by one entry at `level` (the block or page size). */
export function blockSize(granule: Granule, level: number): number {
  return 2 ** levelShift(granule, level);
}

/** Number of index bits at `level` for a walk of `inputBits` starting at `startLevel`. */
export function indexBits(
  granule: Granule,
  level: number,
  startLevel: number,
  inputBits: number,
): number {
  return level === startLevel ? inputBits - levelShift(granule, level) : bitsPerLevel(granule);
}

/** Index of `address` into the table at `level`. */
export function tableIndex(
  address: number,
  granule: Granule,
  level: number,
  startLevel: number,
  inputBits: number,
): number {
  const shift = levelShift(granule, level);
  const width = indexBits(granule, level, startLevel, inputBits);
  return Math.floor(address / 2 ** shift) % 2 ** width;
}

/** Size in bytes of the table walked at `level` (the start table may be smaller or concatenated). */
export function tableBytes(
  granule: Granule,
  level: number,
  startLevel: number,
  inputBits: number,
): number {
  return 8 * 2 ** indexBits(granule, level, startLevel, inputBits);
}

/** TxSZ for an input size: 64 − bits (stage 1 T0SZ and stage 2 S2T0SZ alike). */
export function txsz(inputBits: number): number {
  return 64 - inputBits;
}

/** CD.TG0 / VTCR.TG0 / STE.S2TG encoding of a granule: 4K = 0, 64K = 1, 16K = 2. */
export function tg0Encode(granule: Granule): number {
  return granule === 4096 ? 0 : granule === 65536 ? 1 : 2;
}

/** Granule of a TG0-style encoding; undefined for the reserved value 3. */
export function tg0Decode(tg: number): Granule | undefined {
  return tg === 0 ? 4096 : tg === 1 ? 65536 : tg === 2 ? 16384 : undefined;
}

/** TCR.TG1 encoding (16K = 1, 4K = 2, 64K = 3). */
export function tg1Encode(granule: Granule): number {
  return granule === 16384 ? 1 : granule === 4096 ? 2 : 3;
}

const PS_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

/** IPS/PS encoding of an address size (32→0 … 48→5, 52→6); undefined when not encodable. */
export function psEncode(bits: number): number | undefined {
  const i = (PS_BITS as readonly number[]).indexOf(bits);
  return i < 0 ? undefined : i;
}

/** Address size of an IPS/PS encoding; undefined for reserved codes (7). */
export function psDecode(code: number): number | undefined {
  return PS_BITS[code];
}

/**
 * Stage-1 start level (AArch64.S1StartLevel): 4 − ⌈(inputBits − log2 granule) / bitsPerLevel⌉.
 * `tg0` is the CD.TG0 encoding; returns undefined for a reserved TG0. The caller checks T0SZ
 * against its limits first (C_BAD_CD, IHI 0070 §5.4).
 */
export function s1StartLevel(tg0: number, t0sz: number, _ds = false): number | undefined {
  const granule = tg0Decode(tg0);
  if (!granule) return undefined;
  const g = granuleShift(granule);
  const stride = g - 3;
  const ias = 64 - t0sz;
  // DS changes the permitted T0SZ range, not the formula (a 52-bit 4K walk starts at −1).
  return 3 - Math.floor((ias - 1 - g) / stride);
}

/** Inputs of `s2StartLevel`. */
export interface S2LevelParams {
  /** STE.S2TG (0 4K, 1 64K, 2 16K). */
  readonly tg: number;
  /** STE.S2SL0. */
  readonly sl0: number;
  /** STE.S2T0SZ. */
  readonly t0sz: number;
  /** Physical address size the implementation supports (SMMU_IDR5.OAS decoded; PAMax). */
  readonly pamax: number;
  /** VTCR.DS / LPA2 (16K SL0 = 3 means level 0 only with DS). */
  readonly ds?: boolean;
  /** VTCR.SL2 (4K, DS = 1: with SL0 = 0 the walk starts at level −1). */
  readonly sl2?: boolean;
  /** FEAT_TTST (small translation tables): 4K SL0 = 3 means start level 3. */
  readonly ttst?: boolean;
}

/**
 * Architectural stage-2 start level from (S2TG, S2SL0, S2T0SZ), or undefined when the
 * combination is invalid (AArch64.S2InvalidSL) or inconsistent with the input size
 * (AArch64.S2InconsistentSL: the input must need the start level and fit in at most 16
 * concatenated start tables). An SMMU reports such an STE as C_BAD_STE.
 */
export function s2StartLevel(p: S2LevelParams): number | undefined {
  const granule = tg0Decode(p.tg);
  if (!granule) return undefined;
  const g = granuleShift(granule);
  const stride = g - 3;
  let start: number;
  if (granule === 4096) {
    if (p.ds && p.sl2) {
      if (p.sl0 !== 0) return undefined;
      start = -1;
    } else if (p.sl0 === 3) {
      if (!p.ttst) return undefined;
      start = 3;
    } else {
      if (p.sl0 === 2 && p.pamax < 44) return undefined;
      start = 2 - p.sl0;
    }
  } else {
    if (p.sl0 === 3 && (granule === 65536 || !p.ds)) return undefined;
    if (p.sl0 === 2 && p.pamax < (granule === 16384 ? 42 : 44)) return undefined;
    start = 3 - p.sl0;
  }
  const ias = 64 - p.t0sz;
  const levels = 3 - start;
  const min = levels * stride + g + 1;
  // Level −1 resolves only 4 bits and cannot be concatenated.
  const max = start === -1 ? min + 3 : min + (stride - 1) + 4;
  if (ias < min || ias > max) return undefined;
  return start;
}

/** VTCR/STE SL0 encoding of a stage-2 start level (io-pgtable-arm: 4K is offset by one). */
export function sl0Encode(granule: Granule, startLevel: number): number {
  const sl = granule === 4096 ? startLevel + 1 : startLevel;
  return ~sl & 3;
}

/** Start level denoted by an SL0 value (no validity checks; see `s2StartLevel`). */
export function sl0Decode(granule: Granule, sl0: number): number {
  if (granule === 4096) return sl0 === 3 ? 3 : 2 - sl0;
  return 3 - sl0;
}

/** The geometry io-pgtable-arm derives for a page table. */
export interface IoPgtableGeometry {
  readonly granule: Granule;
  readonly pgShift: number;
  readonly bitsPerLevel: number;
  readonly startLevel: number;
  /** Index bits of the start-level table (pgd). */
  readonly pgdBits: number;
  /** Bytes of the pgd: 8 << pgdBits. */
  readonly pgdSize: number;
  /** Number of granule-sized tables concatenated at the start level (1 unless stage-2 concat). */
  readonly concatTables: number;
}

/** io-pgtable-arm's levels/start level/pgd size for `granule` and `ias` (arm_lpae_alloc_pgtable). */
export function ioPgtableGeometry(granule: Granule, ias: number): IoPgtableGeometry {
  const pgShift = granuleShift(granule as PteGranule);
  const bpl = pgShift - 3;
  const vaBits = ias - pgShift;
  const levels = Math.ceil(vaBits / bpl);
  const pgdBits = vaBits - bpl * (levels - 1);
  return {
    granule,
    pgShift,
    bitsPerLevel: bpl,
    startLevel: 4 - levels,
    pgdBits,
    pgdSize: 8 * 2 ** pgdBits,
    concatTables: 1,
  };
}

/**
 * arm_lpae_concat_mandatory (DDI 0487 K.a R_DXBSH / R_SRKBC): whether stage 2 must start one
 * level lower with concatenated tables: 16K at level 0 with IAS or OAS 48; 4K at level 0 with
 * OAS 40 or 42; 16K at level 1 with OAS 40.
 */
export function concatMandatory(
  granule: Granule,
  startLevel: number,
  ias: number,
  oas: number,
): boolean {
  if (granule === 16384 && startLevel === 0) return oas === 48 || ias === 48;
  if (granule === 4096 && startLevel === 0) return oas === 40 || oas === 42;
  return granule === 16384 && startLevel === 1 && oas === 40;
}

/** Maximum number of concatenated stage-2 start tables (ARM_LPAE_S2_MAX_CONCAT_PAGES). */
export const S2_MAX_CONCAT = 16;

/**
 * Stage-2 geometry as arm_64_lpae_alloc_pgtable_s2 builds it: concatenation applied where
 * mandatory; undefined when the pgd would need more than 16 entries before concatenation
 * (the kernel then fails the allocation).
 */
export function ioPgtableS2Geometry(
  granule: Granule,
  ias: number,
  oas: number,
): IoPgtableGeometry | undefined {
  const g = ioPgtableGeometry(granule, ias);
  if (!concatMandatory(granule, g.startLevel, ias, oas)) return g;
  if (2 ** g.pgdBits > S2_MAX_CONCAT) return undefined;
  const pgdBits = g.pgdBits + g.bitsPerLevel;
  return {
    ...g,
    startLevel: g.startLevel + 1,
    pgdBits,
    pgdSize: 8 * 2 ** pgdBits,
    concatTables: 2 ** g.pgdBits,
  };
}
