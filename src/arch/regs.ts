// SMMUv3 Non-secure programming interface registers (Arm IHI 0070 H.a §6.2 register map, §6.3
// register descriptions): every register the model implements, with its offset, width and field
// table. Offsets and field positions were checked against the IHI 0070 H.a §6.3 register pages
// (IDR0, IDR3, IDR5, GBPA, GERROR in full; the others by heading), Linux
// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h and QEMU hw/arm/smmuv3-internal.h.
//
// Offsets are bytes from the base of register page 0; page 1 registers (EVENTQ/PRIQ PROD and CONS)
// are at page 0 + 0x10000 (their page-0 offsets are Reserved, §6.2).
//
// Queue PROD/CONS: the index field is [QS-1:0] and the wrap bit is bit QS, where QS is the
// effective log2 size of the queue (≤ 19, §3.5.1). Because QS is a run-time value, the tables
// show one WR/RD field covering bits [19:0] (index and wrap together); split it with the queue's
// QS to get index and wrap.

import type { StructDef } from './fields.ts';
import {
  ADDR_TOP,
  ADDRESS_SIZE,
  CR1_CACHE,
  memAttrMeaning,
  regDef,
  rf,
  SHAREABILITY,
} from './smmu-values.ts';

/** Byte offset of register page 1 from page 0. */
export const PAGE1 = 0x10000;

/** Register byte offsets from the base of page 0 (page-1 registers include PAGE1). */
export const SMMU_REG_OFFSET = {
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
  STATUSR: 0x40,
  GBPA: 0x44,
  AGBPA: 0x48,
  IRQ_CTRL: 0x50,
  IRQ_CTRLACK: 0x54,
  GERROR: 0x60,
  GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68,
  GERROR_IRQ_CFG1: 0x70,
  GERROR_IRQ_CFG2: 0x74,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_PROD: PAGE1 + 0xa8,
  EVENTQ_CONS: PAGE1 + 0xac,
  EVENTQ_IRQ_CFG0: 0xb0,
  EVENTQ_IRQ_CFG1: 0xb8,
  EVENTQ_IRQ_CFG2: 0xbc,
  PRIQ_BASE: 0xc0,
  PRIQ_PROD: PAGE1 + 0xc8,
  PRIQ_CONS: PAGE1 + 0xcc,
  PRIQ_IRQ_CFG0: 0xd0,
  PRIQ_IRQ_CFG1: 0xd8,
  PRIQ_IRQ_CFG2: 0xdc,
} as const;

/** Register names of the map. */
export type SmmuRegName = keyof typeof SMMU_REG_OFFSET;

/**
 * Page-0 offsets at which the page-1 queue registers are Reserved (IHI 0070 §6.2: an optional
 * alias of page 1, otherwise RAZ/WI). The hardware model decides which; the decoder does not care.
 */
export const PAGE0_RESERVED_QUEUE_OFFSETS = [0xa8, 0xac, 0xc8, 0xcc] as const;

const yesNo = (no: string, yes: string) => ({ 0: no, 1: yes });

/** SMMU_IDR0 (§6.3). */
export const IDR0: StructDef = regDef('idr0', 'SMMU_IDR0', 32, 'IHI 0070 H.a §6.3', [
  rf('S2P', 0, 0, 'Stage 2 translation supported', { values: yesNo('no', 'yes') }),
  rf('S1P', 1, 1, 'Stage 1 translation supported', { values: yesNo('no', 'yes') }),
  rf('TTF', 3, 2, 'Translation table formats supported', {
    values: { 0: 'reserved', 1: 'VMSAv8-32 LPAE only', 2: 'VMSAv8-64 only', 3: 'both' },
  }),
  rf('COHACC', 4, 4, 'Coherent access to tables and queues', { values: yesNo('no', 'yes') }),
  rf('BTM', 5, 5, 'Broadcast TLB maintenance supported', { values: yesNo('no', 'yes') }),
  rf('HTTU', 7, 6, 'Hardware update of Access flag / dirty state', {
    values: { 0: 'none', 1: 'Access flag', 2: 'Access flag and dirty state', 3: 'AF, dirty, HAFT' },
  }),
  rf('DORMHINT', 8, 8, 'Dormant hint supported', { values: yesNo('no', 'yes') }),
  rf('Hyp', 9, 9, 'EL2 stage 1 contexts supported', { values: yesNo('no', 'yes') }),
  rf('ATS', 10, 10, 'PCIe ATS supported', { values: yesNo('no', 'yes') }),
  rf('NS1ATS', 11, 11, 'Split-stage ATS NOT supported', {
    values: yesNo('supported', 'not supported'),
  }),
  rf('ASID16', 12, 12, '16-bit ASIDs supported', { values: yesNo('8-bit', '16-bit') }),
  rf('MSI', 13, 13, 'Message-signalled interrupts supported', { values: yesNo('no', 'yes') }),
  rf('SEV', 14, 14, 'WFE wake-up events supported', { values: yesNo('no', 'yes') }),
  rf('ATOS', 15, 15, 'Address translation operations supported', { values: yesNo('no', 'yes') }),
  rf('PRI', 16, 16, 'PCIe Page Request Interface supported', { values: yesNo('no', 'yes') }),
  rf('VMW', 17, 17, 'VMID wildcard matching supported', { values: yesNo('no', 'yes') }),
  rf('VMID16', 18, 18, '16-bit VMIDs supported', { values: yesNo('8-bit', '16-bit') }),
  rf('CD2L', 19, 19, '2-level CD tables supported', { values: yesNo('no', 'yes') }),
  rf('VATOS', 20, 20, 'Virtual ATOS page supported', { values: yesNo('no', 'yes') }),
  rf('TTENDIAN', 22, 21, 'Translation table endianness supported', {
    values: { 0: 'mixed', 1: 'reserved', 2: 'little-endian only', 3: 'big-endian only' },
  }),
  rf('ATSRECERR', 23, 23, 'Extra ATS/PRI error recording supported', {
    values: yesNo('no', 'yes'),
  }),
  rf('STALL_MODEL', 25, 24, 'Stall model', {
    values: {
      0: 'stall and terminate',
      1: 'terminate only',
      2: 'stall forced',
      3: 'reserved',
    },
  }),
  rf('TERM_MODEL', 26, 26, 'Terminate model', {
    values: yesNo('CD.A selects abort or RAZ/WI', 'always abort'),
  }),
  rf('ST_LEVEL', 28, 27, 'Stream table levels', {
    values: { 0: 'linear only', 1: 'linear and 2-level', 2: 'reserved', 3: 'reserved' },
  }),
  rf('RME_IMPL', 30, 30, 'Realm Management Extension features', { values: yesNo('no', 'yes') }),
]);

/** SMMU_IDR1 (§6.3). */
export const IDR1: StructDef = regDef('idr1', 'SMMU_IDR1', 32, 'IHI 0070 H.a §6.3', [
  rf('SIDSIZE', 5, 0, 'StreamID width in bits'),
  rf('SSIDSIZE', 10, 6, 'SubstreamID width in bits (0 = no substreams)'),
  rf('PRIQS', 15, 11, 'log2 of the maximum PRI queue entries'),
  rf('EVENTQS', 20, 16, 'log2 of the maximum Event queue entries'),
  rf('CMDQS', 25, 21, 'log2 of the maximum Command queue entries'),
  rf('ATTR_PERMS_OVR', 26, 26, 'STE PRIVCFG/INSTCFG/NSCFG overrides supported'),
  rf('ATTR_TYPES_OVR', 27, 27, 'STE MTCFG/ALLOCCFG/SHCFG overrides supported'),
  rf('REL', 28, 28, 'Preset base addresses are relative to the register base'),
  rf('QUEUES_PRESET', 29, 29, 'Queue base addresses are fixed'),
  rf('TABLES_PRESET', 30, 30, 'Stream table base is fixed'),
  rf('ECMDQ', 31, 31, 'Enhanced Command queue interfaces supported'),
]);

/** SMMU_IDR2 (§6.3). */
export const IDR2: StructDef = regDef('idr2', 'SMMU_IDR2', 32, 'IHI 0070 H.a §6.3', [
  rf('BA_VATOS', 9, 0, 'VATOS page base address (64KB units from the register base)'),
]);

/** SMMU_IDR3 (§6.3). */
export const IDR3: StructDef = regDef('idr3', 'SMMU_IDR3', 32, 'IHI 0070 H.a §6.3', [
  rf('HAD', 2, 2, 'Hierarchical attribute disable (CD.HAD0/1) supported'),
  rf('PBHA', 3, 3, 'Page-based hardware attributes supported'),
  rf('XNX', 4, 4, 'EL0/EL1 execute-never distinction at stage 2'),
  rf('PPS', 5, 5, 'PRI auto-responses always carry the PASID'),
  rf('MPAM', 7, 7, 'MPAM supported'),
  rf('FWB', 8, 8, 'Stage-2 forced write-back (STE.S2FWB) supported'),
  rf('STT', 9, 9, 'Small translation tables supported'),
  rf('RIL', 10, 10, 'Range invalidation and TTL hints supported'),
  rf('BBML', 12, 11, 'Break-before-make level', {
    values: { 0: 'level 0', 1: 'level 1', 2: 'level 2', 3: 'reserved' },
  }),
  rf('E0PD', 13, 13, 'E0PD supported'),
  rf('PTWNNC', 14, 14, 'S2PTW=0 treats Device-mapped walks as Normal-NC'),
  rf('DPT', 15, 15, 'Device Permission Table supported'),
  rf('PASIDTT', 16, 16, 'PASID on ATS Translated transactions supported'),
  rf('EPAN', 17, 17, 'Enhanced PAN supported'),
  rf('S1PI', 18, 18, 'Stage 1 permission indirection supported'),
  rf('S2PI', 19, 19, 'Stage 2 permission indirection supported'),
  rf('S2PO', 20, 20, 'Stage 2 permission overlays supported'),
  rf('THE', 21, 21, 'Translation hardening extension supported'),
  rf('MTEPERM', 22, 22, 'Stage 2 NoTagAccess encodings supported'),
  rf('AIE', 23, 23, 'Stage 1 attribute index extension supported'),
]);

/** SMMU_IDR4 (§6.3): entirely IMPLEMENTATION DEFINED. */
export const IDR4: StructDef = regDef('idr4', 'SMMU_IDR4', 32, 'IHI 0070 H.a §6.3', [
  rf('IMPL_DEF', 31, 0, 'IMPLEMENTATION DEFINED'),
]);

/** SMMU_IDR5 (§6.3). */
export const IDR5: StructDef = regDef('idr5', 'SMMU_IDR5', 32, 'IHI 0070 H.a §6.3', [
  rf('OAS', 2, 0, 'Output address size', { values: ADDRESS_SIZE }),
  rf('GRAN4K', 4, 4, '4KB granule supported'),
  rf('GRAN16K', 5, 5, '16KB granule supported'),
  rf('GRAN64K', 6, 6, '64KB granule supported'),
  rf('DS', 7, 7, '52-bit addresses with 4KB/16KB granules (LPA2) supported'),
  rf('D128', 8, 8, 'VMSAv9-128 descriptors supported'),
  rf('VAX', 11, 10, 'Virtual address size', {
    values: { 0: '48-bit VA', 1: '52-bit VA', 2: '56-bit VA', 3: 'reserved' },
  }),
  rf('STALL_MAX', 31, 16, 'Maximum outstanding stalled transactions'),
]);

/** SMMU_IIDR (§6.3). */
export const IIDR: StructDef = regDef('iidr', 'SMMU_IIDR', 32, 'IHI 0070 H.a §6.3', [
  rf('Implementer', 11, 0, 'JEP106 code of the implementer (0x43B = Arm)'),
  rf('Revision', 15, 12, 'Minor revision of the product'),
  rf('Variant', 19, 16, 'Major revision of the product'),
  rf('ProductID', 31, 20, 'Product identifier'),
]);

/** SMMU_AIDR (§6.3). */
export const AIDR: StructDef = regDef('aidr', 'SMMU_AIDR', 32, 'IHI 0070 H.a §6.3', [
  rf('ArchMinorRev', 3, 0, 'Minor architecture revision', {
    values: { 0: 'SMMUv3.0', 1: 'SMMUv3.1', 2: 'SMMUv3.2', 3: 'SMMUv3.3', 4: 'SMMUv3.4' },
  }),
  rf('ArchMajorRev', 7, 4, 'Major architecture revision', { values: { 0: 'SMMUv3.x' } }),
]);

const cr0Fields = [
  rf('SMMUEN', 0, 0, 'Non-secure SMMU enable'),
  rf('PRIQEN', 1, 1, 'PRI queue enable'),
  rf('EVENTQEN', 2, 2, 'Event queue enable'),
  rf('CMDQEN', 3, 3, 'Command queue enable'),
  rf('ATSCHK', 4, 4, 'ATS Translated traffic checked against the STE', {
    values: yesNo('bypass without checks', 'checked (safe mode)'),
  }),
  rf('VMW', 8, 6, 'VMID wildcard: number of low VMID bits ignored by TLBI'),
];

/** SMMU_CR0 (§6.3). */
export const CR0: StructDef = regDef('cr0', 'SMMU_CR0', 32, 'IHI 0070 H.a §6.3', cr0Fields);
/** SMMU_CR0ACK (§6.3): mirrors the implemented CR0 fields once an update completes. */
export const CR0ACK: StructDef = regDef(
  'cr0ack',
  'SMMU_CR0ACK',
  32,
  'IHI 0070 H.a §6.3',
  cr0Fields,
);

/** SMMU_CR1 (§6.3). */
export const CR1: StructDef = regDef('cr1', 'SMMU_CR1', 32, 'IHI 0070 H.a §6.3', [
  rf('QUEUE_IC', 1, 0, 'Queue access inner cacheability', { values: CR1_CACHE }),
  rf('QUEUE_OC', 3, 2, 'Queue access outer cacheability', { values: CR1_CACHE }),
  rf('QUEUE_SH', 5, 4, 'Queue access shareability', { values: SHAREABILITY }),
  rf('TABLE_IC', 7, 6, 'Table access inner cacheability', { values: CR1_CACHE }),
  rf('TABLE_OC', 9, 8, 'Table access outer cacheability', { values: CR1_CACHE }),
  rf('TABLE_SH', 11, 10, 'Table access shareability', { values: SHAREABILITY }),
]);

/** SMMU_CR2 (§6.3). */
export const CR2: StructDef = regDef('cr2', 'SMMU_CR2', 32, 'IHI 0070 H.a §6.3', [
  rf('E2H', 0, 0, 'EL2 streams use the EL2-E2H translation regime'),
  rf('RECINVSID', 1, 1, 'Record C_BAD_STREAMID for invalid StreamIDs'),
  rf('PTM', 2, 2, 'Private TLB maintenance (ignore broadcast TLBI)'),
  rf('REC_CFG_ATS', 3, 3, 'Record configuration errors for ATS Translated traffic'),
]);

/** SMMU_STATUSR (§6.3). */
export const STATUSR: StructDef = regDef('statusr', 'SMMU_STATUSR', 32, 'IHI 0070 H.a §6.3', [
  rf('DORMANT', 0, 0, 'SMMU is dormant (dormant hint)'),
]);

/** SMMU_GBPA (§6.3): attributes of global bypass while SMMUEN == 0. */
export const GBPA: StructDef = regDef('gbpa', 'SMMU_GBPA', 32, 'IHI 0070 H.a §6.3', [
  rf('MemAttr', 3, 0, 'Memory type override (with MTCFG)', { meaning: memAttrMeaning }),
  rf('MTCFG', 4, 4, 'Memory type configuration', {
    values: yesNo('use incoming', 'replace with MemAttr'),
  }),
  rf('ALLOCCFG', 11, 8, 'Allocation hints: 0xxx incoming, 1RWT override'),
  rf('SHCFG', 13, 12, 'Shareability', {
    values: { 0: 'Non-shareable', 1: 'use incoming', 2: 'Outer Shareable', 3: 'Inner Shareable' },
  }),
  rf('PRIVCFG', 17, 16, 'Privilege', {
    values: { 0: 'use incoming', 1: 'reserved (as incoming)', 2: 'Unprivileged', 3: 'Privileged' },
  }),
  rf('INSTCFG', 19, 18, 'Instruction/data', {
    values: { 0: 'use incoming', 1: 'reserved (as incoming)', 2: 'Data', 3: 'Instruction' },
  }),
  rf('ABORT', 20, 20, 'Abort all incoming transactions while SMMUEN == 0', {
    values: yesNo('bypass', 'abort'),
  }),
  rf('Update', 31, 31, 'Write 1 with new values; reads 1 until the update completes'),
]);

/** SMMU_AGBPA (§6.3): IMPLEMENTATION DEFINED global bypass attributes. */
export const AGBPA: StructDef = regDef('agbpa', 'SMMU_AGBPA', 32, 'IHI 0070 H.a §6.3', [
  rf('IMPL_DEF', 31, 0, 'IMPLEMENTATION DEFINED'),
]);

const irqCtrlFields = [
  rf('GERROR_IRQEN', 0, 0, 'Global error interrupt enable'),
  rf('PRIQ_IRQEN', 1, 1, 'PRI queue interrupt enable'),
  rf('EVENTQ_IRQEN', 2, 2, 'Event queue interrupt enable'),
];

/** SMMU_IRQ_CTRL (§6.3). */
export const IRQ_CTRL: StructDef = regDef(
  'irq_ctrl',
  'SMMU_IRQ_CTRL',
  32,
  'IHI 0070 H.a §6.3',
  irqCtrlFields,
);
/** SMMU_IRQ_CTRLACK (§6.3). */
export const IRQ_CTRLACK: StructDef = regDef(
  'irq_ctrlack',
  'SMMU_IRQ_CTRLACK',
  32,
  'IHI 0070 H.a §6.3',
  irqCtrlFields,
);

const gerrorFields = [
  rf('CMDQ_ERR', 0, 0, 'Command queue error (see CMDQ_CONS.ERR)'),
  rf('EVENTQ_ABT_ERR', 2, 2, 'Event queue write aborted'),
  rf('PRIQ_ABT_ERR', 3, 3, 'PRI queue write aborted'),
  rf('MSI_CMDQ_ABT_ERR', 4, 4, 'CMD_SYNC MSI write aborted'),
  rf('MSI_EVENTQ_ABT_ERR', 5, 5, 'Event queue MSI write aborted'),
  rf('MSI_PRIQ_ABT_ERR', 6, 6, 'PRI queue MSI write aborted'),
  rf('MSI_GERROR_ABT_ERR', 7, 7, 'GERROR MSI write aborted'),
  rf('SFM_ERR', 8, 8, 'Service failure mode entered'),
  rf('CMDQP_ERR', 9, 9, 'Command queue control page error (ECMDQ)'),
  rf('DPT_ERR', 10, 10, 'Device Permission Table error'),
];

/** SMMU_GERROR (§6.3): an error is active while its bit differs from GERRORN. */
export const GERROR: StructDef = regDef(
  'gerror',
  'SMMU_GERROR',
  32,
  'IHI 0070 H.a §6.3',
  gerrorFields,
);
/** SMMU_GERRORN (§6.3): software toggles a bit to acknowledge the error. */
export const GERRORN: StructDef = regDef(
  'gerrorn',
  'SMMU_GERRORN',
  32,
  'IHI 0070 H.a §6.3',
  gerrorFields,
);

function irqCfg0(name: string, title: string, ref: string): StructDef {
  return regDef(name, title, 64, ref, [
    rf('ADDR', ADDR_TOP, 2, 'MSI target physical address (0 = no MSI)', { kind: 'addr' }),
  ]);
}
function irqCfg1(name: string, title: string, ref: string): StructDef {
  return regDef(name, title, 32, ref, [rf('DATA', 31, 0, 'MSI payload (32-bit write)')]);
}
const irqCfg2Fields = [
  rf('MemAttr', 3, 0, 'MSI write memory type', { meaning: memAttrMeaning }),
  rf('SH', 5, 4, 'MSI write shareability', { values: SHAREABILITY }),
];

/** SMMU_GERROR_IRQ_CFG0 (§6.3). */
export const GERROR_IRQ_CFG0 = irqCfg0(
  'gerror_irq_cfg0',
  'SMMU_GERROR_IRQ_CFG0',
  'IHI 0070 H.a §6.3',
);
/** SMMU_GERROR_IRQ_CFG1 (§6.3). */
export const GERROR_IRQ_CFG1 = irqCfg1(
  'gerror_irq_cfg1',
  'SMMU_GERROR_IRQ_CFG1',
  'IHI 0070 H.a §6.3',
);
/** SMMU_GERROR_IRQ_CFG2 (§6.3). */
export const GERROR_IRQ_CFG2: StructDef = regDef(
  'gerror_irq_cfg2',
  'SMMU_GERROR_IRQ_CFG2',
  32,
  'IHI 0070 H.a §6.3',
  irqCfg2Fields,
);

/** SMMU_STRTAB_BASE (§6.3). */
export const STRTAB_BASE: StructDef = regDef(
  'strtab_base',
  'SMMU_STRTAB_BASE',
  64,
  'IHI 0070 H.a §6.3',
  [
    rf('ADDR', ADDR_TOP, 6, 'Stream table base physical address', { kind: 'addr' }),
    rf('RA', 62, 62, 'Read-allocate hint for table fetches'),
  ],
);

/** SMMU_STRTAB_BASE_CFG (§6.3). */
export const STRTAB_BASE_CFG: StructDef = regDef(
  'strtab_base_cfg',
  'SMMU_STRTAB_BASE_CFG',
  32,
  'IHI 0070 H.a §6.3',
  [
    rf('LOG2SIZE', 5, 0, 'log2 of the number of StreamIDs covered (capped by IDR1.SIDSIZE)'),
    rf('SPLIT', 10, 6, 'StreamID split point of a 2-level table (6, 8 or 10; others act as 6)'),
    rf('FMT', 17, 16, 'Stream table format', {
      values: { 0: 'linear', 1: '2-level', 2: 'reserved (as linear)', 3: 'reserved (as linear)' },
    }),
  ],
);

function queueBase(name: string, title: string, ref: string, hint: 'RA' | 'WA'): StructDef {
  return regDef(name, title, 64, ref, [
    rf('LOG2SIZE', 4, 0, 'log2 of the number of queue entries (capped by IDR1)'),
    rf('ADDR', ADDR_TOP, 5, 'Queue base physical address', { kind: 'addr' }),
    rf(hint, 62, 62, hint === 'RA' ? 'Read-allocate hint' : 'Write-allocate hint'),
  ]);
}

const WRAP_NOTE = 'index [QS-1:0] with the wrap bit at bit QS (QS = effective LOG2SIZE ≤ 19)';

/** SMMU_CMDQ_BASE (§6.3). */
export const CMDQ_BASE = queueBase('cmdq_base', 'SMMU_CMDQ_BASE', 'IHI 0070 H.a §6.3', 'RA');
/** SMMU_CMDQ_PROD (§6.3): written by software. Bit 31 is RES0 (no overflow flag). */
export const CMDQ_PROD: StructDef = regDef('cmdq_prod', 'SMMU_CMDQ_PROD', 32, 'IHI 0070 H.a §6.3', [
  rf('WR', 19, 0, `Write index: ${WRAP_NOTE}`),
]);
/** Command error codes reported in SMMU_CMDQ_CONS.ERR (§7.1). */
export const CMDQ_ERR = {
  CERROR_NONE: 0x00,
  CERROR_ILL: 0x01,
  CERROR_ABT: 0x02,
  CERROR_ATC_INV_SYNC: 0x03,
} as const;
/** SMMU_CMDQ_CONS (§6.3). */
export const CMDQ_CONS: StructDef = regDef('cmdq_cons', 'SMMU_CMDQ_CONS', 32, 'IHI 0070 H.a §6.3', [
  rf('RD', 19, 0, `Read index: ${WRAP_NOTE}`),
  rf('ERR', 30, 24, 'Error code of the command at RD (valid while GERROR.CMDQ_ERR is active)', {
    values: {
      0: 'CERROR_NONE',
      1: 'CERROR_ILL (illegal command)',
      2: 'CERROR_ABT (queue read aborted)',
      3: 'CERROR_ATC_INV_SYNC (ATC invalidation timed out)',
    },
  }),
]);

/** SMMU_EVENTQ_BASE (§6.3). */
export const EVENTQ_BASE = queueBase('eventq_base', 'SMMU_EVENTQ_BASE', 'IHI 0070 H.a §6.3', 'WA');
/** SMMU_EVENTQ_PROD (§6.3, page 1): written by the SMMU. */
export const EVENTQ_PROD: StructDef = regDef(
  'eventq_prod',
  'SMMU_EVENTQ_PROD',
  32,
  'IHI 0070 H.a §6.3',
  [
    rf('WR', 19, 0, `Write index: ${WRAP_NOTE}`),
    rf(
      'OVFLG',
      31,
      31,
      'Overflow flag: toggled when records are lost while it equals CONS.OVACKFLG',
    ),
  ],
);
/** SMMU_EVENTQ_CONS (§6.3, page 1): written by software. */
export const EVENTQ_CONS: StructDef = regDef(
  'eventq_cons',
  'SMMU_EVENTQ_CONS',
  32,
  'IHI 0070 H.a §6.3',
  [
    rf('RD', 19, 0, `Read index: ${WRAP_NOTE}`),
    rf('OVACKFLG', 31, 31, 'Overflow acknowledge: software copies PROD.OVFLG here'),
  ],
);
/** SMMU_EVENTQ_IRQ_CFG0 (§6.3). */
export const EVENTQ_IRQ_CFG0 = irqCfg0(
  'eventq_irq_cfg0',
  'SMMU_EVENTQ_IRQ_CFG0',
  'IHI 0070 H.a §6.3',
);
/** SMMU_EVENTQ_IRQ_CFG1 (§6.3). */
export const EVENTQ_IRQ_CFG1 = irqCfg1(
  'eventq_irq_cfg1',
  'SMMU_EVENTQ_IRQ_CFG1',
  'IHI 0070 H.a §6.3',
);
/** SMMU_EVENTQ_IRQ_CFG2 (§6.3). */
export const EVENTQ_IRQ_CFG2: StructDef = regDef(
  'eventq_irq_cfg2',
  'SMMU_EVENTQ_IRQ_CFG2',
  32,
  'IHI 0070 H.a §6.3',
  irqCfg2Fields,
);

/** SMMU_PRIQ_BASE (§6.3). */
export const PRIQ_BASE = queueBase('priq_base', 'SMMU_PRIQ_BASE', 'IHI 0070 H.a §6.3', 'WA');
/** SMMU_PRIQ_PROD (§6.3, page 1). */
export const PRIQ_PROD: StructDef = regDef('priq_prod', 'SMMU_PRIQ_PROD', 32, 'IHI 0070 H.a §6.3', [
  rf('WR', 19, 0, `Write index: ${WRAP_NOTE}`),
  rf('OVFLG', 31, 31, 'Overflow flag'),
]);
/** SMMU_PRIQ_CONS (§6.3, page 1). */
export const PRIQ_CONS: StructDef = regDef('priq_cons', 'SMMU_PRIQ_CONS', 32, 'IHI 0070 H.a §6.3', [
  rf('RD', 19, 0, `Read index: ${WRAP_NOTE}`),
  rf('OVACKFLG', 31, 31, 'Overflow acknowledge'),
]);
/** SMMU_PRIQ_IRQ_CFG0 (§6.3). */
export const PRIQ_IRQ_CFG0 = irqCfg0('priq_irq_cfg0', 'SMMU_PRIQ_IRQ_CFG0', 'IHI 0070 H.a §6.3');
/** SMMU_PRIQ_IRQ_CFG1 (§6.3). */
export const PRIQ_IRQ_CFG1 = irqCfg1('priq_irq_cfg1', 'SMMU_PRIQ_IRQ_CFG1', 'IHI 0070 H.a §6.3');
/** SMMU_PRIQ_IRQ_CFG2 (§6.3): like the other CFG2 registers plus LO. */
export const PRIQ_IRQ_CFG2: StructDef = regDef(
  'priq_irq_cfg2',
  'SMMU_PRIQ_IRQ_CFG2',
  32,
  'IHI 0070 H.a §6.3',
  [...irqCfg2Fields, rf('LO', 31, 31, 'Interrupt only on PRI records with Last == 1')],
);

/** One entry of the register map. */
export interface SmmuRegInfo {
  /** Byte offset from the base of page 0 (page 1 = +0x10000). */
  readonly offset: number;
  /** Register width in bits. */
  readonly bits: 32 | 64;
  readonly def: StructDef;
}

function entry(name: SmmuRegName, def: StructDef): SmmuRegInfo {
  return { offset: SMMU_REG_OFFSET[name], bits: def.regBits ?? 32, def };
}

/** The register map: name → offset, width and field table. */
export const SMMU_REGS: Readonly<Record<SmmuRegName, SmmuRegInfo>> = {
  IDR0: entry('IDR0', IDR0),
  IDR1: entry('IDR1', IDR1),
  IDR2: entry('IDR2', IDR2),
  IDR3: entry('IDR3', IDR3),
  IDR4: entry('IDR4', IDR4),
  IDR5: entry('IDR5', IDR5),
  IIDR: entry('IIDR', IIDR),
  AIDR: entry('AIDR', AIDR),
  CR0: entry('CR0', CR0),
  CR0ACK: entry('CR0ACK', CR0ACK),
  CR1: entry('CR1', CR1),
  CR2: entry('CR2', CR2),
  STATUSR: entry('STATUSR', STATUSR),
  GBPA: entry('GBPA', GBPA),
  AGBPA: entry('AGBPA', AGBPA),
  IRQ_CTRL: entry('IRQ_CTRL', IRQ_CTRL),
  IRQ_CTRLACK: entry('IRQ_CTRLACK', IRQ_CTRLACK),
  GERROR: entry('GERROR', GERROR),
  GERRORN: entry('GERRORN', GERRORN),
  GERROR_IRQ_CFG0: entry('GERROR_IRQ_CFG0', GERROR_IRQ_CFG0),
  GERROR_IRQ_CFG1: entry('GERROR_IRQ_CFG1', GERROR_IRQ_CFG1),
  GERROR_IRQ_CFG2: entry('GERROR_IRQ_CFG2', GERROR_IRQ_CFG2),
  STRTAB_BASE: entry('STRTAB_BASE', STRTAB_BASE),
  STRTAB_BASE_CFG: entry('STRTAB_BASE_CFG', STRTAB_BASE_CFG),
  CMDQ_BASE: entry('CMDQ_BASE', CMDQ_BASE),
  CMDQ_PROD: entry('CMDQ_PROD', CMDQ_PROD),
  CMDQ_CONS: entry('CMDQ_CONS', CMDQ_CONS),
  EVENTQ_BASE: entry('EVENTQ_BASE', EVENTQ_BASE),
  EVENTQ_PROD: entry('EVENTQ_PROD', EVENTQ_PROD),
  EVENTQ_CONS: entry('EVENTQ_CONS', EVENTQ_CONS),
  EVENTQ_IRQ_CFG0: entry('EVENTQ_IRQ_CFG0', EVENTQ_IRQ_CFG0),
  EVENTQ_IRQ_CFG1: entry('EVENTQ_IRQ_CFG1', EVENTQ_IRQ_CFG1),
  EVENTQ_IRQ_CFG2: entry('EVENTQ_IRQ_CFG2', EVENTQ_IRQ_CFG2),
  PRIQ_BASE: entry('PRIQ_BASE', PRIQ_BASE),
  PRIQ_PROD: entry('PRIQ_PROD', PRIQ_PROD),
  PRIQ_CONS: entry('PRIQ_CONS', PRIQ_CONS),
  PRIQ_IRQ_CFG0: entry('PRIQ_IRQ_CFG0', PRIQ_IRQ_CFG0),
  PRIQ_IRQ_CFG1: entry('PRIQ_IRQ_CFG1', PRIQ_IRQ_CFG1),
  PRIQ_IRQ_CFG2: entry('PRIQ_IRQ_CFG2', PRIQ_IRQ_CFG2),
};

/** The register at a byte offset (page 0 or page 1), if any. */
export function registerAt(offset: number): SmmuRegName | undefined {
  for (const [name, info] of Object.entries(SMMU_REGS)) {
    if (info.offset === offset) return name as SmmuRegName;
  }
  return undefined;
}
