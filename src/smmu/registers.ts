// The SMMUv3 Non-secure register map as the register/queue side decodes MMIO (IHI 0070 H.a §6.2
// memory map, §6.3 register descriptions). Offsets and field positions come from the field tables
// in src/arch/regs.ts (one source of truth); this file only turns them into the u32/bigint masks
// the MMIO decoder applies. EVENTQ/PRIQ PROD/CONS exist in page 1 only (§6.2; their page-0
// offsets are Reserved).

import type { StructDef } from '../arch/fields.ts';
import { definedMask, maskOf } from '../arch/fields.ts';
import * as R from '../arch/regs.ts';

/** Size of one register page; the SMMU occupies two (page 0 and page 1). */
export const PAGE_BYTES = R.PAGE1;
/** Bytes of MMIO space the model decodes. */
export const MMIO_BYTES = 2 * PAGE_BYTES;

/** Register offsets (page 0 unless stated), plus the IMPDEF identification block. */
export const REG = {
  ...R.SMMU_REG_OFFSET,
  /** First of the twelve IMPLEMENTATION DEFINED identification registers (0xFD0–0xFFC). */
  ID_REGS: 0xfd0,
} as const;

/** Page-0 offsets of the page-1 queue registers (Reserved: RAZ/WI or an alias, §6.2). */
export const PAGE0_QUEUE_OFFSETS: ReadonlySet<number> = new Set(R.PAGE0_RESERVED_QUEUE_OFFSETS);

/** Offsets of the 64-bit registers (each also accessible as two 32-bit halves). */
export const REG64: ReadonlySet<number> = new Set(
  Object.values(R.SMMU_REGS)
    .filter((r) => r.bits === 64)
    .map((r) => r.offset),
);

/** A u32 mask of named fields of a 32-bit register. */
function m32(def: StructDef, names: readonly string[]): number {
  return Number(maskOf(def, names));
}

/** SMMU_CR0 / CR0ACK bits. */
export const CR0 = {
  SMMUEN: m32(R.CR0, ['SMMUEN']),
  PRIQEN: m32(R.CR0, ['PRIQEN']),
  EVENTQEN: m32(R.CR0, ['EVENTQEN']),
  CMDQEN: m32(R.CR0, ['CMDQEN']),
  ATSCHK: m32(R.CR0, ['ATSCHK']),
  VMW: m32(R.CR0, ['VMW']),
} as const;

/** SMMU_CR1: TABLE_* need SMMUEN off; QUEUE_* need every queue off. */
export const CR1 = {
  TABLE_FIELDS: m32(R.CR1, ['TABLE_IC', 'TABLE_OC', 'TABLE_SH']),
  QUEUE_FIELDS: m32(R.CR1, ['QUEUE_IC', 'QUEUE_OC', 'QUEUE_SH']),
} as const;

/** SMMU_CR2 bits. */
export const CR2 = {
  E2H: m32(R.CR2, ['E2H']),
  RECINVSID: m32(R.CR2, ['RECINVSID']),
  PTM: m32(R.CR2, ['PTM']),
  REC_CFG_ATS: m32(R.CR2, ['REC_CFG_ATS']),
} as const;

/** SMMU_GBPA fields. */
export const GBPA = {
  UPDATE: m32(R.GBPA, ['Update']),
  ABORT: m32(R.GBPA, ['ABORT']),
  /** INSTCFG, PRIVCFG: effective only with IDR1.ATTR_PERMS_OVR. */
  PERMS_FIELDS: m32(R.GBPA, ['INSTCFG', 'PRIVCFG']),
  /** SHCFG, ALLOCCFG, MTCFG, MemAttr: effective only with IDR1.ATTR_TYPES_OVR. */
  TYPES_FIELDS: m32(R.GBPA, ['SHCFG', 'ALLOCCFG', 'MTCFG', 'MemAttr']),
} as const;

/** SMMU_IRQ_CTRL / IRQ_CTRLACK bits. */
export const IRQ_CTRL = {
  GERROR_IRQEN: m32(R.IRQ_CTRL, ['GERROR_IRQEN']),
  PRIQ_IRQEN: m32(R.IRQ_CTRL, ['PRIQ_IRQEN']),
  EVENTQ_IRQEN: m32(R.IRQ_CTRL, ['EVENTQ_IRQEN']),
} as const;

/** SMMU_GERROR / GERRORN bits. */
export const GERROR = {
  CMDQ_ERR: m32(R.GERROR, ['CMDQ_ERR']),
  EVENTQ_ABT_ERR: m32(R.GERROR, ['EVENTQ_ABT_ERR']),
  PRIQ_ABT_ERR: m32(R.GERROR, ['PRIQ_ABT_ERR']),
  MSI_CMDQ_ABT_ERR: m32(R.GERROR, ['MSI_CMDQ_ABT_ERR']),
  MSI_EVENTQ_ABT_ERR: m32(R.GERROR, ['MSI_EVENTQ_ABT_ERR']),
  MSI_PRIQ_ABT_ERR: m32(R.GERROR, ['MSI_PRIQ_ABT_ERR']),
  MSI_GERROR_ABT_ERR: m32(R.GERROR, ['MSI_GERROR_ABT_ERR']),
  SFM_ERR: m32(R.GERROR, ['SFM_ERR']),
} as const;

/** SMMU_CMDQ_CONS.ERR. */
export const CMDQ_CONS_ERR = m32(R.CMDQ_CONS, ['ERR']);
/** CMDQ_CONS.ERR field position. */
export const CMDQ_CONS_ERR_FIELD = { hi: 30, lo: 24 } as const;
/** CMDQ_CONS.ERR codes (§7.1). */
export const CERROR = {
  ILL: R.CMDQ_ERR.CERROR_ILL,
  ABT: R.CMDQ_ERR.CERROR_ABT,
  ATC_INV_SYNC: R.CMDQ_ERR.CERROR_ATC_INV_SYNC,
} as const;

/** SMMU_STRTAB_BASE: RA and ADDR. */
export const STRTAB_BASE_MASK = definedMask(R.STRTAB_BASE, 0);
/** SMMU_STRTAB_BASE_CFG: FMT, SPLIT, LOG2SIZE. */
export const STRTAB_BASE_CFG_MASK = Number(definedMask(R.STRTAB_BASE_CFG, 0));
/** Queue BASE registers: RA/WA, ADDR, LOG2SIZE. */
export const QUEUE_BASE_MASK = definedMask(R.CMDQ_BASE, 0);
/** SMMU_*_IRQ_CFG0: ADDR. */
export const IRQ_CFG0_ADDR_MASK = definedMask(R.GERROR_IRQ_CFG0, 0);
/** SMMU_GERROR/EVENTQ_IRQ_CFG2: SH and MemAttr. */
export const IRQ_CFG2_MASK = Number(definedMask(R.GERROR_IRQ_CFG2, 0));
/** SMMU_PRIQ_IRQ_CFG2: SH, MemAttr and LO. */
export const PRIQ_IRQ_CFG2_MASK = Number(definedMask(R.PRIQ_IRQ_CFG2, 0));
/** The OVFLG / OVACKFLG bit of the Event and PRI queue PROD/CONS. */
export const QUEUE_OVF_FLAG = m32(R.EVENTQ_PROD, ['OVFLG']);
/** The WR / RD field of the queue PROD/CONS registers (index and wrap of the largest queue). */
export const QUEUE_PTR_FIELD = m32(R.CMDQ_PROD, ['WR']);
