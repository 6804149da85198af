// Constants of the host arm-smmu-v3 driver (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h): register
// offsets, the ID/control register fields the driver reads and writes, and the STE / CD / command /
// event field masks it builds entries with. Positions are the architecture's (Arm IHI 0070 H.a §5.2
// STE, §5.4 CD, §4 commands, §7.3 events, §6.3 registers); names follow the kernel header so the
// driver code reads like the kernel's. Masks are bigint GENMASK values over 64-bit words.

import { genmask } from '../../arch/bits.ts';
import { CMD_OP } from '../../arch/cmd.ts';
import { SMMU_REG_OFFSET as O } from '../../arch/regs.ts';

/**
 * Register offsets (page 0; page 1 at +64 KiB holds EVTQ/PRIQ PROD/CONS), under the kernel's
 * ARM_SMMU_* names, taken from the architectural register map (src/arch/regs.ts).
 */
export const REG = {
  IDR0: O.IDR0,
  IDR1: O.IDR1,
  IDR2: O.IDR2,
  IDR3: O.IDR3,
  IDR4: O.IDR4,
  IDR5: O.IDR5,
  IIDR: O.IIDR,
  AIDR: O.AIDR,
  CR0: O.CR0,
  CR0ACK: O.CR0ACK,
  CR1: O.CR1,
  CR2: O.CR2,
  GBPA: O.GBPA,
  IRQ_CTRL: O.IRQ_CTRL,
  IRQ_CTRLACK: O.IRQ_CTRLACK,
  GERROR: O.GERROR,
  GERRORN: O.GERRORN,
  STRTAB_BASE: O.STRTAB_BASE,
  STRTAB_BASE_CFG: O.STRTAB_BASE_CFG,
  CMDQ_BASE: O.CMDQ_BASE,
  CMDQ_PROD: O.CMDQ_PROD,
  CMDQ_CONS: O.CMDQ_CONS,
  EVTQ_BASE: O.EVENTQ_BASE,
  EVTQ_PROD: O.EVENTQ_PROD,
  EVTQ_CONS: O.EVENTQ_CONS,
} as const;

/** IDR0 fields (bit positions). */
export const IDR0 = {
  S2P: 0,
  S1P: 1,
  TTF_SHIFT: 2,
  COHACC: 4,
  HTTU_SHIFT: 6,
  HYP: 9,
  ATS: 10,
  ASID16: 12,
  MSI: 13,
  SEV: 14,
  PRI: 16,
  VMID16: 18,
  CD2L: 19,
  TTENDIAN_SHIFT: 21,
  STALL_MODEL_SHIFT: 24,
  TERM_MODEL: 26,
  ST_LVL_SHIFT: 27,
} as const;

/** CR0 bits. */
export const CR0 = {
  SMMUEN: 1 << 0,
  PRIQEN: 1 << 1,
  EVTQEN: 1 << 2,
  CMDQEN: 1 << 3,
  ATSCHK: 1 << 4,
} as const;
/** GBPA bits. */
export const GBPA = { UPDATE: 0x8000_0000, ABORT: 1 << 20 } as const;
/** IRQ_CTRL bits. */
export const IRQ_CTRL = { GERROR: 1 << 0, PRIQ: 1 << 1, EVTQ: 1 << 2 } as const;
/** Queue register fields. */
export const Q = { BASE_RWA: 1n << 62n, OVERFLOW_FLAG: 0x8000_0000 } as const;
/** CMDQ_CONS.ERR codes. */
export const CMDQ_ERR = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;

/** Driver feature flags (ARM_SMMU_FEAT_*), as a readable set of booleans. */
export interface DriverFeatures {
  twoLevelStrtab: boolean;
  twoLevelCdtab: boolean;
  ttfLE: boolean;
  pri: boolean;
  ats: boolean;
  sev: boolean;
  msi: boolean;
  coherency: boolean;
  transS1: boolean;
  transS2: boolean;
  stalls: boolean;
  stallForce: boolean;
  hyp: boolean;
  vax: boolean;
  rangeInv: boolean;
  btm: boolean;
  sva: boolean;
  e2h: boolean;
  nesting: boolean;
  attrTypesOvr: boolean;
  httuHa: boolean;
  httuHd: boolean;
  s2fwb: boolean;
}

// ---- Stream table entry (8 × u64) ----

/** STE word 0/1/2/3 field masks. */
export const STE = {
  V: 1n,
  CFG: genmask(3, 1),
  S1FMT: genmask(5, 4),
  S1CTXPTR: genmask(51, 6),
  S1CDMAX: genmask(63, 59),
  // word 1
  S1DSS: genmask(1, 0),
  S1CIR: genmask(3, 2),
  S1COR: genmask(5, 4),
  S1CSH: genmask(7, 6),
  MEV: 1n << 19n,
  S2FWB: 1n << 25n,
  S1STALLD: 1n << 27n,
  EATS: genmask(29, 28),
  STRW: genmask(31, 30),
  MEMATTR: genmask(35, 32),
  MTCFG: 1n << 36n,
  ALLOCCFG: genmask(40, 37),
  SHCFG: genmask(45, 44),
  // word 2
  S2VMID: genmask(15, 0),
  VTCR: genmask(50, 32),
  S2AA64: 1n << 51n,
  S2ENDI: 1n << 52n,
  S2PTW: 1n << 54n,
  S2S: 1n << 57n,
  S2R: 1n << 58n,
  // word 3
  S2TTB: genmask(51, 4),
} as const;

/** STE.Config values. */
export const STE_CFG = { ABORT: 0, BYPASS: 4, S1_TRANS: 5, S2_TRANS: 6, NESTED: 7 } as const;
/** STE.S1DSS values. */
export const S1DSS = { TERMINATE: 0, BYPASS: 1, SSID0: 2 } as const;
/** STE.EATS values. */
export const EATS = { ABT: 0, TRANS: 1, S1CHK: 2 } as const;
/** STE.STRW values. */
export const STRW = { NSEL1: 0, EL2: 2 } as const;
/** STE.S1Fmt values. */
export const S1FMT = { LINEAR: 0, L2_64K: 2 } as const;

/** Word-0 bits a nested vSTE may carry (STRTAB_STE_0_NESTING_ALLOWED). */
export const STE_0_NESTING_ALLOWED = STE.V | STE.CFG | STE.S1FMT | STE.S1CTXPTR | STE.S1CDMAX;
/** Word-1 bits a nested vSTE may carry (STRTAB_STE_1_NESTING_ALLOWED). */
export const STE_1_NESTING_ALLOWED =
  STE.S1DSS | STE.S1CIR | STE.S1COR | STE.S1CSH | STE.S1STALLD | STE.EATS;

/** VTCR sub-fields inside STE word 2 bits 50:32 (positions relative to bit 32). */
export const VTCR = {
  T0SZ: [5, 0],
  SL0: [7, 6],
  IR0: [9, 8],
  OR0: [11, 10],
  SH0: [13, 12],
  TG: [15, 14],
  PS: [18, 16],
} as const;

// ---- Context descriptor (8 × u64) ----

/** CD word 0/1/3 field masks. */
export const CD = {
  T0SZ: genmask(5, 0),
  TG0: genmask(7, 6),
  IRGN0: genmask(9, 8),
  ORGN0: genmask(11, 10),
  SH0: genmask(13, 12),
  EPD0: 1n << 14n,
  ENDI: 1n << 15n,
  EPD1: 1n << 30n,
  V: 1n << 31n,
  IPS: genmask(34, 32),
  TBI0: 1n << 38n,
  AA64: 1n << 41n,
  HD: 1n << 42n,
  HA: 1n << 43n,
  S: 1n << 44n,
  R: 1n << 45n,
  A: 1n << 46n,
  ASET: 1n << 47n,
  ASID: genmask(63, 48),
  TTB0: genmask(51, 4),
} as const;

/** Cacheability / shareability encodings used in CDs and STEs. */
export const CACHE = { NC: 0, WBWA: 1, WT: 2, WB: 3 } as const;
/** Shareability. */
export const SH = { NSH: 0, OSH: 2, ISH: 3 } as const;

// ---- Commands (2 × u64) ----

/** Command opcodes (word 0 bits 7:0) under the kernel's CMDQ_OP_* names (src/arch/cmd.ts). */
export const CMD = {
  PREFETCH_CFG: CMD_OP.PREFETCH_CONFIG,
  CFGI_STE: CMD_OP.CFGI_STE,
  CFGI_ALL: CMD_OP.CFGI_STE_RANGE,
  CFGI_CD: CMD_OP.CFGI_CD,
  CFGI_CD_ALL: CMD_OP.CFGI_CD_ALL,
  TLBI_NH_ALL: CMD_OP.TLBI_NH_ALL,
  TLBI_NH_ASID: CMD_OP.TLBI_NH_ASID,
  TLBI_NH_VA: CMD_OP.TLBI_NH_VA,
  TLBI_NH_VAA: CMD_OP.TLBI_NH_VAA,
  TLBI_EL2_ALL: CMD_OP.TLBI_EL2_ALL,
  TLBI_EL2_ASID: CMD_OP.TLBI_EL2_ASID,
  TLBI_EL2_VA: CMD_OP.TLBI_EL2_VA,
  TLBI_S12_VMALL: CMD_OP.TLBI_S12_VMALL,
  TLBI_S2_IPA: CMD_OP.TLBI_S2_IPA,
  TLBI_NSNH_ALL: CMD_OP.TLBI_NSNH_ALL,
  ATC_INV: CMD_OP.ATC_INV,
  PRI_RESP: CMD_OP.PRI_RESP,
  RESUME: CMD_OP.RESUME,
  CMD_SYNC: CMD_OP.CMD_SYNC,
} as const;

/** Command field masks (word 0 / word 1). */
export const CMDF = {
  OP: genmask(7, 0),
  SSV: 1n << 11n,
  SID: genmask(63, 32),
  SSID: genmask(31, 12),
  VMID: genmask(47, 32),
  ASID: genmask(63, 48),
  NUM: genmask(16, 12),
  SCALE: genmask(24, 20),
  ATC_GLOBAL: 1n << 9n,
  // word 1
  LEAF: 1n,
  TTL: genmask(9, 8),
  TG: genmask(11, 10),
  VA: genmask(63, 12),
  IPA: genmask(51, 12),
  ATC_SIZE: genmask(5, 0),
  ATC_ADDR: genmask(63, 12),
  CFGI_RANGE: genmask(4, 0),
  SYNC_CS: genmask(13, 12),
} as const;

/** Names of opcodes (for traces and inspection). */
export const CMD_NAME: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(CMD).map(([k, v]) => [v, k]),
);

// ---- Event records (4 × u64) ----

/** Event record fields. */
export const EVT = {
  ID: genmask(7, 0),
  SSV: 1n << 11n,
  SSID: genmask(31, 12),
  SID: genmask(63, 32),
  STAG: genmask(15, 0),
  STALL: 1n << 31n,
  PNU: 1n << 33n,
  IND: 1n << 34n,
  RNW: 1n << 35n,
  S2: 1n << 39n,
  CLASS: genmask(41, 40),
} as const;

/** Event IDs the driver knows by name (the architectural numbers, src/arch/evt.ts). */
export { EVT_ID } from '../../arch/evt.ts';

/** Event IDs forwarded to a vEVENTQ (arm_smmu_handle_event / iommufd.h doc). */
export const FORWARDED_EVENT_IDS: ReadonlySet<number> = new Set([
  0x04, 0x06, 0x08, 0x0a, 0x10, 0x11, 0x12, 0x13,
]);

/** Sizes. */
export const STE_QWORDS = 8;
/** CD size in qwords. */
export const CD_QWORDS = 8;
/** Command size in qwords. */
export const CMD_QWORDS = 2;
/** Event size in qwords. */
export const EVT_QWORDS = 4;
/** CMDQ_BATCH_ENTRIES (BITS_PER_LONG). */
export const CMDQ_BATCH_ENTRIES = 64;
/** Stream table split for the 2-level format (STRTAB_SPLIT). */
export const STRTAB_SPLIT = 8;
/** The SW MSI window the driver reserves in every IOAS (MSI_IOVA_BASE / MSI_IOVA_LENGTH). */
export const MSI_IOVA_BASE = 0x800_0000n;
/** MSI_IOVA_LENGTH. */
export const MSI_IOVA_LENGTH = 0x10_0000n;

const SHIFTS = new Map<bigint, bigint>();

/** Position of the lowest set bit of a mask (cached: masks are a small fixed set). */
function maskShift(mask: bigint): bigint {
  let shift = SHIFTS.get(mask);
  if (shift === undefined) {
    shift = 0n;
    while (((mask >> shift) & 1n) === 0n) shift++;
    SHIFTS.set(mask, shift);
  }
  return shift;
}

/** FIELD_PREP: `v` placed into `mask`. */
export function fieldPrep(mask: bigint, v: bigint | number): bigint {
  return (BigInt(v) << maskShift(mask)) & mask;
}

/** FIELD_GET: the bits of `mask` in `w`, shifted down. */
export function fieldGet(mask: bigint, w: bigint): bigint {
  return (w & mask) >> maskShift(mask);
}
