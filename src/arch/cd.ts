// Context Descriptor and Level-1 Context Descriptor (Arm IHI 0070 H.a §5.4 CD, §5.3 L1CD) as field
// tables. Positions follow the H.a field list (CD bit n = word n/64, bit n%64), with the
// non-D128 (VMSAv8-64) interpretation where H.a overlays two meanings on one bit (HAD0/DisCH0,
// HWU0<x>/SKL0, HAD1/DisCH1, HWU1<x>/SKL1). Checked against Linux
// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (CTXDESC_*), QEMU hw/arm/smmuv3-internal.h (CD_*) and
// gem5 src/dev/arm/smmu_v3_defs.hh (ContextDescriptor).

import type { StructDef } from './fields.ts';
import {
  ADDR_TOP,
  ADDRESS_SIZE,
  CACHEABILITY,
  fld,
  SHAREABILITY,
  TG0_GRANULE,
  TG1_GRANULE,
} from './smmu-values.ts';

const yesNo = (no: string, yes: string) => ({ 0: no, 1: yes });

const EPD = yesNo('walks enabled', 'walks disabled (TLB miss faults)');

/** Renders the 16 three-bit permission interpretations of CD.PIIU / CD.PIIP. */
function piiMeaning(raw: bigint): string {
  const names: Record<number, string> = {
    0: '-',
    1: 'R',
    2: 'X',
    3: 'RX',
    5: 'RW',
    7: 'RWX',
  };
  const out: string[] = [];
  for (let p = 0; p < 16; p++) {
    const v = Number((raw >> BigInt(3 * p)) & 7n);
    out.push(names[v] ?? 'res');
  }
  return out.join(' ');
}

/** The Context Descriptor: 8 little-endian 64-bit words. */
export const CD: StructDef = {
  name: 'cd',
  title: 'Context Descriptor',
  words: 8,
  ref: 'IHI 0070 H.a §5.4',
  fields: [
    // Word 0
    fld('T0SZ', 0, 5, 0, 'TTB0 region size: 64 - T0SZ bits'),
    fld('TG0', 0, 7, 6, 'TTB0 translation granule', { values: TG0_GRANULE }),
    fld('IR0', 0, 9, 8, 'Inner cacheability of TTB0 walks', { values: CACHEABILITY }),
    fld('OR0', 0, 11, 10, 'Outer cacheability of TTB0 walks', { values: CACHEABILITY }),
    fld('SH0', 0, 13, 12, 'Shareability of TTB0 walks', { values: SHAREABILITY }),
    fld('EPD0', 0, 14, 14, 'TTB0 walks disabled', { values: EPD }),
    fld('ENDI', 0, 15, 15, 'Translation table endianness', { values: yesNo('little', 'big') }),
    fld('T1SZ', 0, 21, 16, 'TTB1 region size: 64 - T1SZ bits'),
    fld('TG1', 0, 23, 22, 'TTB1 translation granule', { values: TG1_GRANULE }),
    fld('IR1', 0, 25, 24, 'Inner cacheability of TTB1 walks', { values: CACHEABILITY }),
    fld('OR1', 0, 27, 26, 'Outer cacheability of TTB1 walks', { values: CACHEABILITY }),
    fld('SH1', 0, 29, 28, 'Shareability of TTB1 walks', { values: SHAREABILITY }),
    fld('EPD1', 0, 30, 30, 'TTB1 walks disabled', { values: EPD }),
    fld('V', 0, 31, 31, 'CD valid', { values: yesNo('invalid (C_BAD_CD)', 'valid') }),
    fld('IPS', 0, 34, 32, 'Stage-1 output (intermediate physical) address size', {
      values: ADDRESS_SIZE,
    }),
    fld('AFFD', 0, 35, 35, 'Access flag faults disabled'),
    fld('WXN', 0, 36, 36, 'Writable pages are execute-never'),
    fld('UWXN', 0, 37, 37, 'User-writable pages are privileged-execute-never'),
    fld('TBI0', 0, 38, 38, 'Top byte ignored for TTB0 addresses'),
    fld('TBI1', 0, 39, 39, 'Top byte ignored for TTB1 addresses'),
    fld('PAN', 0, 40, 40, 'Privileged access never'),
    fld('AA64', 0, 41, 41, 'Translation table format', {
      values: yesNo('VMSAv8-32 LPAE (or VMSAv9-128 with D128)', 'VMSAv8-64'),
    }),
    fld('HD', 0, 42, 42, 'Hardware dirty-state update'),
    fld('HA', 0, 43, 43, 'Hardware Access flag update'),
    fld('S', 0, 44, 44, 'Stage-1 faults stall', { values: yesNo('terminate', 'stall') }),
    fld('R', 0, 45, 45, 'Record stage-1 faults (terminate model)'),
    fld('A', 0, 46, 46, 'Terminated transactions abort (else RAZ/WI)', {
      values: yesNo('RAZ/WI', 'abort'),
    }),
    fld('ASET', 0, 47, 47, 'ASID set', {
      values: yesNo('shared with PE ASIDs', 'SMMU-local (non-shared)'),
    }),
    fld('ASID', 0, 63, 48, 'Address space identifier (TLB tag)'),
    // Word 1
    fld('NSCFG0', 1, 0, 0, 'NS attribute of the TTB0 starting-level fetch (Secure STEs only)'),
    fld('HAD0', 1, 1, 1, 'Hierarchical attributes disabled for TTB0 (DisCH0 with D128)'),
    fld('E0PD0', 1, 2, 2, 'Unprivileged access to the TTB0 region faults'),
    fld('HAFT', 1, 3, 3, 'Hardware Access flag update in table descriptors'),
    fld('TTB0', 1, ADDR_TOP, 4, 'TTB0 translation table base', {
      kind: 'addr',
      meaning: () => 'TTB0 translation table base',
    }),
    fld('PnCH', 1, 58, 58, 'Stage-1 protected attribute enabled'),
    fld('EPAN', 1, 59, 59, 'Enhanced PAN'),
    fld('HWU059', 1, 60, 60, 'TTB0 descriptor bit 59 has IMPDEF hardware use'),
    fld('HWU060', 1, 61, 61, 'TTB0 descriptor bit 60 has IMPDEF hardware use'),
    fld('HWU061', 1, 62, 62, 'TTB0 descriptor bit 61 has IMPDEF hardware use (SKL0 with D128)'),
    fld('HWU062', 1, 63, 63, 'TTB0 descriptor bit 62 has IMPDEF hardware use (SKL0 with D128)'),
    // Word 2
    fld('NSCFG1', 2, 0, 0, 'NS attribute of the TTB1 starting-level fetch (Secure STEs only)'),
    fld('HAD1', 2, 1, 1, 'Hierarchical attributes disabled for TTB1 (DisCH1 with D128)'),
    fld('E0PD1', 2, 2, 2, 'Unprivileged access to the TTB1 region faults'),
    fld('AIE', 2, 3, 3, 'Stage-1 attribute index extension'),
    fld('TTB1', 2, ADDR_TOP, 4, 'TTB1 translation table base', {
      kind: 'addr',
      meaning: () => 'TTB1 translation table base',
    }),
    fld('DS', 2, 58, 58, '52-bit addresses with 4KB/16KB granules (LPA2)'),
    fld('PIE', 2, 59, 59, 'Stage-1 indirect permission scheme'),
    fld('HWU159', 2, 60, 60, 'TTB1 descriptor bit 59 has IMPDEF hardware use'),
    fld('HWU160', 2, 61, 61, 'TTB1 descriptor bit 60 has IMPDEF hardware use'),
    fld('HWU161', 2, 62, 62, 'TTB1 descriptor bit 61 has IMPDEF hardware use (SKL1 with D128)'),
    fld('HWU162', 2, 63, 63, 'TTB1 descriptor bit 62 has IMPDEF hardware use (SKL1 with D128)'),
    // Word 3
    fld('MAIR0', 3, 31, 0, 'Memory attribute indirection, attributes 0-3'),
    fld('MAIR1', 3, 63, 32, 'Memory attribute indirection, attributes 4-7'),
    // Word 4
    fld('AMAIR0', 4, 31, 0, 'Auxiliary memory attributes 0-3 (IMPLEMENTATION DEFINED)'),
    fld('AMAIR1', 4, 63, 32, 'Auxiliary memory attributes 4-7 (IMPLEMENTATION DEFINED)'),
    // Word 5
    fld('IMPL_DEF', 5, 31, 0, 'IMPLEMENTATION DEFINED (CD bits [351:320])'),
    fld('PARTID', 5, 47, 32, 'MPAM partition ID (with STE.S1MPAM)'),
    fld('PMG', 5, 55, 48, 'MPAM performance monitor group (with STE.S1MPAM)'),
    // Words 6-7
    fld('PIIU', 6, 47, 0, 'Sixteen unprivileged stage-1 permission interpretations', {
      meaning: piiMeaning,
    }),
    fld('PIIP', 7, 47, 0, 'Sixteen privileged stage-1 permission interpretations', {
      meaning: piiMeaning,
    }),
  ],
};

/** Level-1 Context Descriptor (§5.3): one 64-bit word. */
export const L1CD: StructDef = {
  name: 'l1cd',
  title: 'Level-1 Context Descriptor',
  words: 1,
  ref: 'IHI 0070 H.a §5.3',
  fields: [
    fld('V', 0, 0, 0, 'L1CD valid', { values: yesNo('invalid (C_BAD_SUBSTREAMID)', 'valid') }),
    fld('L2Ptr', 0, ADDR_TOP, 12, 'Address of the level-2 CD table (IPA if stage 2 on)', {
      kind: 'addr',
      meaning: () => 'level-2 CD table address',
    }),
  ],
};
