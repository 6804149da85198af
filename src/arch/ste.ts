// Stream Table Entry and Level-1 Stream Table Descriptor (Arm IHI 0070 H.a §5.2 STE, §5.1 L1STD)
// as field tables, for the Non-secure programming interface. Field positions follow the H.a
// field list (STE bit n = word n/64, bit n%64); the fields that exist only in Secure or Realm
// Stream tables (S2NSW, S2NSA, S_S2*, S2SW, S2SA, MPAM_NS, MECID) are RES0 in a Non-secure STE and
// are therefore left out, so a decoder flags them as reserved bits. Checked against Linux
// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (STRTAB_STE_*), QEMU hw/arm/smmuv3-internal.h and
// gem5 src/dev/arm/smmu_v3_defs.hh.

import type { StructDef } from './fields.ts';
import { maskOf } from './fields.ts';
import {
  ADDR_TOP,
  ADDRESS_SIZE,
  CACHEABILITY,
  fld,
  memAttrMeaning,
  SHAREABILITY,
  TG0_GRANULE,
} from './smmu-values.ts';

/** STE.Config encodings (§5.2 Config). */
export const STE_CFG = {
  /** Abort all traffic, no event. 0b001–0b011 behave as this. */
  ABORT: 0b000,
  /** Both stages bypass. */
  BYPASS: 0b100,
  /** Stage 1 translates, stage 2 bypasses. */
  S1_TRANS: 0b101,
  /** Stage 1 bypasses, stage 2 translates. */
  S2_TRANS: 0b110,
  /** Both stages translate (nested). */
  NESTED: 0b111,
} as const;

/** STE.S1DSS encodings. */
export const STE_S1DSS = { TERMINATE: 0, BYPASS: 1, SSID0: 2 } as const;
/** STE.S1Fmt encodings. */
export const STE_S1FMT = { LINEAR: 0, L2_4K: 1, L2_64K: 2 } as const;
/** STE.EATS encodings. */
export const STE_EATS = { ABORT: 0, FULL: 1, SPLIT: 2, FULL_DPT: 3 } as const;
/** STE.STRW encodings. */
export const STE_STRW = { NS_EL1: 0, EL2: 2 } as const;

const CONFIG_VALUES = {
  0: 'abort (no event)',
  1: 'reserved (behaves as abort)',
  2: 'reserved (behaves as abort)',
  3: 'reserved (behaves as abort)',
  4: 'bypass (S1 bypass, S2 bypass)',
  5: 'S1 translate, S2 bypass',
  6: 'S1 bypass, S2 translate',
  7: 'S1 translate, S2 translate (nested)',
};

const yesNo = (no: string, yes: string) => ({ 0: no, 1: yes });

// CD fetches only read, so the STE.S1C* encodings carry no write-allocate hint (§5.2 S1CIR).
const CD_FETCH_CACHE = {
  0: 'NC (Normal Non-cacheable)',
  1: 'WBRA (Write-Back, Read-Allocate)',
  2: 'WT (Write-Through, Read-Allocate)',
  3: 'WB (Write-Back, no Read-Allocate)',
};

/** The Stream Table Entry: 8 little-endian 64-bit words. */
export const STE: StructDef = {
  name: 'ste',
  title: 'Stream Table Entry',
  words: 8,
  ref: 'IHI 0070 H.a §5.2',
  fields: [
    // Word 0
    fld('V', 0, 0, 0, 'STE valid', { values: yesNo('invalid (C_BAD_STE)', 'valid') }),
    fld('Config', 0, 3, 1, 'Stream configuration', { values: CONFIG_VALUES }),
    fld('S1Fmt', 0, 5, 4, 'Format of the CD table at S1ContextPtr', {
      values: {
        0: 'linear CD table',
        1: '2-level, 4KB leaf tables',
        2: '2-level, 64KB leaf tables',
        3: 'reserved (behaves as linear)',
      },
    }),
    fld('S1ContextPtr', 0, ADDR_TOP, 6, 'Address of the CD or L1CD table (IPA if stage 2 on)', {
      kind: 'addr',
      meaning: () => 'CD table address',
    }),
    fld('S1CDMax', 0, 63, 59, 'log2 of the number of CDs (0 = one CD, no substreams)'),
    // Word 1
    fld('S1DSS', 1, 1, 0, 'Default substream: traffic without a SubstreamID', {
      values: {
        0: 'terminate (F_STREAM_DISABLED)',
        1: 'bypass stage 1',
        2: 'use substream 0',
        3: 'reserved (behaves as terminate)',
      },
    }),
    fld('S1CIR', 1, 3, 2, 'Inner cacheability of CD/L1CD fetches', { values: CD_FETCH_CACHE }),
    fld('S1COR', 1, 5, 4, 'Outer cacheability of CD/L1CD fetches', { values: CD_FETCH_CACHE }),
    fld('S1CSH', 1, 7, 6, 'Shareability of CD/L1CD fetches', { values: SHAREABILITY }),
    fld('S2HWU59', 1, 8, 8, 'Stage-2 descriptor bit 59 has IMPDEF hardware use (PBHA)'),
    fld('S2HWU60', 1, 9, 9, 'Stage-2 descriptor bit 60 has IMPDEF hardware use (PBHA)'),
    fld('S2HWU61', 1, 10, 10, 'Stage-2 descriptor bit 61 has IMPDEF hardware use (PBHA)'),
    fld('S2HWU62', 1, 11, 11, 'Stage-2 descriptor bit 62 has IMPDEF hardware use (PBHA)'),
    fld('DRE', 1, 12, 12, 'Destructive reads permitted'),
    fld('CONT', 1, 16, 13, 'Contiguous hint: 2^CONT identical neighbouring STEs'),
    fld('DCP', 1, 17, 17, 'Directed cache prefetch permitted'),
    fld('PPAR', 1, 18, 18, 'PRI auto-responses carry a PASID'),
    fld('MEV', 1, 19, 19, 'Merge events permitted', { values: yesNo('do not merge', 'may merge') }),
    fld('SW_RESERVED', 1, 23, 20, 'Reserved for software; ignored by the SMMU'),
    fld('S1PIE', 1, 24, 24, 'CDs may enable stage-1 permission indirection'),
    fld('S2FWB', 1, 25, 25, 'Stage-2 forced write-back attribute control (FEAT_S2FWB)'),
    fld('S1MPAM', 1, 26, 26, 'MPAM PARTID/PMG taken from the CD'),
    fld('S1STALLD', 1, 27, 27, 'Stage-1 stalls disabled', {
      values: yesNo('stalls allowed', 'stalls disabled'),
    }),
    fld('EATS', 1, 29, 28, 'PCIe ATS enable', {
      values: {
        0: 'ATS disabled (TR aborted)',
        1: 'full ATS',
        2: 'split-stage ATS (stage 1 only)',
        3: 'full ATS with DPT checks',
      },
    }),
    fld('STRW', 1, 31, 30, 'StreamWorld (with CR2.E2H, stage-1-only STEs)', {
      values: { 0: 'NS-EL1', 1: 'reserved (ILLEGAL)', 2: 'EL2 / EL2-E2H', 3: 'reserved (ILLEGAL)' },
    }),
    fld('MemAttr', 1, 35, 32, 'Memory type override (with MTCFG)', { meaning: memAttrMeaning }),
    fld('MTCFG', 1, 36, 36, 'Memory type configuration', {
      values: yesNo('use incoming', 'replace with MemAttr'),
    }),
    fld('ALLOCCFG', 1, 40, 37, 'Allocation hints: 0xxx incoming, 1RWT override'),
    fld('SHCFG', 1, 45, 44, 'Shareability configuration', {
      values: { 0: 'Non-shareable', 1: 'use incoming', 2: 'Outer Shareable', 3: 'Inner Shareable' },
    }),
    fld('NSCFG', 1, 47, 46, 'NS attribute configuration (Secure streams only; IGNORED here)'),
    fld('PRIVCFG', 1, 49, 48, 'Privilege configuration', {
      values: {
        0: 'use incoming',
        1: 'reserved (as incoming)',
        2: 'Unprivileged',
        3: 'Privileged',
      },
    }),
    fld('INSTCFG', 1, 51, 50, 'Instruction/data configuration', {
      values: { 0: 'use incoming', 1: 'reserved (as incoming)', 2: 'Data', 3: 'Instruction' },
    }),
    fld('IMPL_DEF_W1', 1, 63, 52, 'IMPLEMENTATION DEFINED (STE bits [127:116])'),
    // Word 2
    fld('S2VMID', 2, 15, 0, 'Virtual machine identifier (TLB tag)'),
    fld('IMPL_DEF_W2', 2, 31, 16, 'IMPLEMENTATION DEFINED (STE bits [159:144])'),
    fld('S2T0SZ', 2, 37, 32, 'Stage-2 input size: 64 - S2T0SZ bits'),
    fld('S2SL0', 2, 39, 38, 'Stage-2 starting level (encoding depends on S2TG)'),
    fld('S2IR0', 2, 41, 40, 'Inner cacheability of stage-2 walks', { values: CACHEABILITY }),
    fld('S2OR0', 2, 43, 42, 'Outer cacheability of stage-2 walks', { values: CACHEABILITY }),
    fld('S2SH0', 2, 45, 44, 'Shareability of stage-2 walks', { values: SHAREABILITY }),
    fld('S2TG', 2, 47, 46, 'Stage-2 translation granule', { values: TG0_GRANULE }),
    fld('S2PS', 2, 50, 48, 'Stage-2 output (physical) address size', { values: ADDRESS_SIZE }),
    fld('S2AA64', 2, 51, 51, 'Stage-2 table format', {
      values: yesNo('VMSAv8-32 LPAE (or VMSAv9-128 with D128)', 'VMSAv8-64'),
    }),
    fld('S2ENDI', 2, 52, 52, 'Stage-2 table endianness', { values: yesNo('little', 'big') }),
    fld('S2AFFD', 2, 53, 53, 'Stage-2 Access flag faults disabled'),
    fld('S2PTW', 2, 54, 54, 'Stage-1 walks / CD fetches to stage-2 Device memory fault'),
    fld('S2HD', 2, 55, 55, 'Stage-2 hardware dirty-state update'),
    fld('S2HA', 2, 56, 56, 'Stage-2 hardware Access flag update'),
    fld('S2S', 2, 57, 57, 'Stage-2 faults stall', { values: yesNo('terminate', 'stall') }),
    fld('S2R', 2, 58, 58, 'Record stage-2 faults (terminate model)'),
    fld('S2HAFT', 2, 59, 59, 'Stage-2 hardware Access flag update in table descriptors'),
    fld('S2PIE', 2, 60, 60, 'Stage-2 indirect permission scheme'),
    fld('S2POE', 2, 61, 61, 'Stage-2 permission overlays enabled'),
    fld('DPT_VMATCH', 2, 63, 62, 'VMID matching for DPT checks (EATS == 0b11)'),
    // Word 3
    fld('S2SL0_2', 3, 2, 2, 'Bit 2 of the stage-2 starting level (LPA2)'),
    fld('S2DS', 3, 3, 3, '52-bit stage-2 addresses with 4KB/16KB granules (LPA2)'),
    fld('S2TTB', 3, ADDR_TOP, 4, 'Stage-2 translation table base', {
      kind: 'addr',
      meaning: () => 'stage-2 translation table base',
    }),
    fld('S2SKL', 3, 62, 61, 'Stage-2 skip levels (VMSAv9-128 only)'),
    // Word 4
    fld('IMPL_DEF_W4', 4, 15, 0, 'IMPLEMENTATION DEFINED (STE bits [271:256])'),
    fld('PARTID', 4, 31, 16, 'MPAM partition ID for this stream'),
    // Word 5
    fld('PMG', 5, 7, 0, 'MPAM performance monitor group for this stream'),
    fld('AssuredOnly', 5, 9, 9, 'Stage-2 AssuredOnly checks enabled'),
    fld('TL0', 5, 10, 10, 'Stage-2 TopLevel0 check enabled'),
    fld('TL1', 5, 11, 11, 'Stage-2 TopLevel1 check enabled'),
    fld('VMSPtr', 5, ADDR_TOP, 12, 'Address of the Virtual Machine Structure', {
      kind: 'addr',
      meaning: () => 'VMS address',
    }),
    // Word 6: Secure-only fields; word 7: stage-2 permission overlay interpretations.
    fld('S2POI', 7, 63, 0, 'Sixteen 4-bit stage-2 permission overlay interpretations'),
  ],
};

/** Level-1 Stream Table Descriptor (§5.1): one 64-bit word. */
export const L1STD: StructDef = {
  name: 'l1std',
  title: 'Level-1 Stream Table Descriptor',
  words: 1,
  ref: 'IHI 0070 H.a §5.1',
  fields: [
    fld('Span', 0, 4, 0, 'Number of STEs in the level-2 array: 2^(Span-1); 0 = invalid', {
      meaning: (raw) => {
        const s = Number(raw);
        if (s === 0) return 'invalid (no level-2 array)';
        if (s > 11) return 'reserved (behaves as invalid)';
        return `${2 ** (s - 1)} STEs`;
      },
    }),
    fld('L2Ptr', 0, ADDR_TOP, 6, 'Address of the level-2 STE array', {
      kind: 'addr',
      meaning: () => 'level-2 STE array address',
    }),
  ],
};

/**
 * Fields of STE word 0 a VMM may control in a nested vSTE (Linux STRTAB_STE_0_NESTING_ALLOWED):
 * V, Config, S1Fmt, S1ContextPtr, S1CDMax.
 */
export const STRTAB_STE_0_NESTING_ALLOWED: bigint = maskOf(STE, [
  'V',
  'Config',
  'S1Fmt',
  'S1ContextPtr',
  'S1CDMax',
]);

/**
 * Fields of STE word 1 a VMM may control in a nested vSTE (Linux STRTAB_STE_1_NESTING_ALLOWED):
 * S1DSS, S1CIR, S1COR, S1CSH, S1STALLD, EATS.
 */
export const STRTAB_STE_1_NESTING_ALLOWED: bigint = maskOf(STE, [
  'S1DSS',
  'S1CIR',
  'S1COR',
  'S1CSH',
  'S1STALLD',
  'EATS',
]);
