// Constants of the host arm-smmu-v3 driver (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h): register
// offsets, the ID/control register fields the driver reads and writes, and the STE / CD / command /
// event field masks it builds entries with. Positions are the architecture's (Arm IHI 0070 H.a §5.2
// STE, §5.4 CD, §4 commands, §7.3 events, §6.3 registers); names follow the kernel header so the
// driver code reads like the kernel's. Masks are bigint GENMASK values over 64-bit words.

import { genmask } from '../../arch/bits.ts';

/** Register offsets (page 0; page 1 at +64 KiB holds EVTQ/PRIQ PROD/CONS). */
export const REG = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR2: 0x08,
  IDR3: 0x0c,
  IDR4: 0x10,
  IDR5: 0x14,
  IIDR: 0x18,
  AIDR: 0x1c,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  IRQ_CTRLACK: 0x54,
  GERROR: 0x60,
  GERRORN: 0x64,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVTQ_BASE: 0xa0,
  EVTQ_PROD: 0x100a8,
  EVTQ_CONS: 0x100ac,
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
  ALLOCCFG: genmask(43, 40),
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

/** Command opcodes (word 0 bits 7:0). */
export const CMD = {
  PREFETCH_CFG: 0x01,
  CFGI_STE: 0x03,
  CFGI_ALL: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  CMD_SYNC: 0x46,
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

/** Event IDs the driver knows by name. */
export const EVT_ID = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const;

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
