// Command queue entries (Arm IHI 0070 H.a §4, opcode table §4.1.1, common fields §4.1.6, range
// invalidation fields §4.4.1.1): one field table per opcode, each 16 bytes = two little-endian
// 64-bit words. Positions checked against Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h
// (CMDQ_*), QEMU hw/arm/smmuv3-internal.h (CMD_*) and the H.a figures where the text gives bit
// numbers (CMD_TLBI_NH_ASID, the §4.4.1.1 range fields).
//
// Not modelled (their bits decode as reserved): the Stride and NS parameters of
// CMD_PREFETCH_ADDR and the VMID of CMD_CFGI_VMS_PIDM, whose positions the sources available to
// this project do not give.

import { getBits, hex } from './bits.ts';
import type { FieldDef, StructDef } from './fields.ts';
import { ADDR_TOP, fld, memAttrMeaning, SHAREABILITY } from './smmu-values.ts';

/** Non-secure command opcodes (§4.1.1). CFGI_ALL is CFGI_STE_RANGE with Range == 31. */
export const CMD_OP = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  CFGI_STE_RANGE: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  CFGI_VMS_PIDM: 0x07,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  CMD_SYNC: 0x46,
} as const;

/** A Non-secure command name. */
export type CmdName = keyof typeof CMD_OP;

/**
 * Opcodes valid only on the Secure Command queue (§4.1.1, §4.4.2.11–): a Non-secure queue
 * treats them as CERROR_ILL. TLBI_EL3_* (in CMD_OP) are likewise Secure-only.
 */
export const CMD_OP_SECURE = {
  TLBI_S_EL2_ALL: 0x50,
  TLBI_S_EL2_ASID: 0x51,
  TLBI_S_EL2_VA: 0x52,
  TLBI_S_EL2_VAA: 0x53,
  TLBI_S_S12_VMALL: 0x58,
  TLBI_S_S2_IPA: 0x5a,
  TLBI_SNH_ALL: 0x60,
} as const;

/** Opcodes of newer features the model does not implement (CERROR_ILL without the feature). */
export const CMD_OP_UNMODELLED = {
  CFGI_CIT: 0x08,
  CFGI_VSTT_VSID: 0x09,
  CFGI_VSTT: 0x0a,
  DPTI_ALL: 0x70,
  DPTI_PA: 0x73,
} as const;

/** Range value of CMD_CFGI_STE_RANGE that means "all" (CMD_CFGI_ALL, §4.3.2). */
export const CFGI_RANGE_ALL = 31;

const REF = 'IHI 0070 H.a §4';

const opcodeField = fld('Opcode', 0, 7, 0, 'Command opcode', {
  meaning: (raw) => commandNameOf(Number(raw)) ?? 'reserved opcode',
});
const ssec = fld('SSec', 0, 10, 10, 'Secure StreamID (must be 0 on the Non-secure queue)');
const ssv = fld('SSV', 0, 11, 11, 'SubstreamID valid');
const ssid = fld('SubstreamID', 0, 31, 12, 'SubstreamID (PASID)');
const sid = fld('StreamID', 0, 63, 32, 'StreamID');
const vmid = fld('VMID', 0, 47, 32, 'VMID');
const asid = fld('ASID', 0, 63, 48, 'ASID');
const num = fld('NUM', 0, 16, 12, 'Range invalidation: (NUM+1) x 2^SCALE granules');
const scale = fld('SCALE', 0, 25, 20, 'Range invalidation scale (bit 25 only with IDR5.DS)');
const leaf = fld('Leaf', 1, 0, 0, 'Only last-level entries need invalidating');
const ttl128 = fld('TTL128', 1, 7, 7, 'TTL hint refers to 128-bit descriptors');
const ttl = fld('TTL', 1, 9, 8, 'Level hint of the leaf entries (with TG != 0)', {
  values: { 0: 'any level', 1: 'level 1', 2: 'level 2', 3: 'level 3' },
});
const tg = fld('TG', 1, 11, 10, 'Granule of the entries; non-zero selects range invalidation', {
  values: { 0: 'no range / any granule', 1: '4KB', 2: '16KB', 3: '64KB' },
});
const addr = fld('Addr', 1, 63, 12, 'Virtual address', { kind: 'addr' });
const ipa = fld('IPA', 1, ADDR_TOP, 12, 'Intermediate physical address', { kind: 'addr' });
const rangeW1 = [leaf, ttl128, ttl, tg];

function cmd(name: string, title: string, fields: readonly FieldDef[]): StructDef {
  return { name: `cmd.${name}`, title, words: 2, ref: REF, fields: [opcodeField, ...fields] };
}

const rangeMeaning = (raw: bigint): string =>
  Number(raw) === CFGI_RANGE_ALL
    ? 'CFGI_ALL: every STE, L1STD, CD and L1CD'
    : `${2 ** (Number(raw) + 1)} StreamIDs from StreamID aligned down`;

const cfgiSteRangeFields = [
  ssec,
  sid,
  fld('Range', 1, 4, 0, 'Invalidate 2^(Range+1) STEs; 31 = all', { meaning: rangeMeaning }),
];

/** Field tables of the Non-secure commands, by name. */
export const COMMANDS: Readonly<Record<CmdName, StructDef>> = {
  PREFETCH_CONFIG: cmd('PREFETCH_CONFIG', 'CMD_PREFETCH_CONFIG', [ssec, ssv, ssid, sid]),
  PREFETCH_ADDR: cmd('PREFETCH_ADDR', 'CMD_PREFETCH_ADDR', [
    ssec,
    ssv,
    ssid,
    sid,
    fld('Size', 1, 4, 0, 'Number of translations to prefetch: 2^Size strides'),
    addr,
  ]),
  CFGI_STE: cmd('CFGI_STE', 'CMD_CFGI_STE', [ssec, sid, leaf]),
  CFGI_STE_RANGE: cmd('CFGI_STE_RANGE', 'CMD_CFGI_STE_RANGE', cfgiSteRangeFields),
  CFGI_CD: cmd('CFGI_CD', 'CMD_CFGI_CD', [ssec, ssid, sid, leaf]),
  CFGI_CD_ALL: cmd('CFGI_CD_ALL', 'CMD_CFGI_CD_ALL', [ssec, sid]),
  CFGI_VMS_PIDM: cmd('CFGI_VMS_PIDM', 'CMD_CFGI_VMS_PIDM', [ssec]),
  TLBI_NH_ALL: cmd('TLBI_NH_ALL', 'CMD_TLBI_NH_ALL', [vmid]),
  TLBI_NH_ASID: cmd('TLBI_NH_ASID', 'CMD_TLBI_NH_ASID', [vmid, asid]),
  TLBI_NH_VA: cmd('TLBI_NH_VA', 'CMD_TLBI_NH_VA', [num, scale, vmid, asid, ...rangeW1, addr]),
  TLBI_NH_VAA: cmd('TLBI_NH_VAA', 'CMD_TLBI_NH_VAA', [num, scale, vmid, ...rangeW1, addr]),
  TLBI_EL3_ALL: cmd('TLBI_EL3_ALL', 'CMD_TLBI_EL3_ALL (Secure queue only)', []),
  TLBI_EL3_VA: cmd('TLBI_EL3_VA', 'CMD_TLBI_EL3_VA (Secure queue only)', [
    num,
    scale,
    ...rangeW1,
    addr,
  ]),
  TLBI_EL2_ALL: cmd('TLBI_EL2_ALL', 'CMD_TLBI_EL2_ALL', []),
  TLBI_EL2_ASID: cmd('TLBI_EL2_ASID', 'CMD_TLBI_EL2_ASID', [asid]),
  TLBI_EL2_VA: cmd('TLBI_EL2_VA', 'CMD_TLBI_EL2_VA', [num, scale, asid, ...rangeW1, addr]),
  TLBI_EL2_VAA: cmd('TLBI_EL2_VAA', 'CMD_TLBI_EL2_VAA', [num, scale, ...rangeW1, addr]),
  TLBI_S12_VMALL: cmd('TLBI_S12_VMALL', 'CMD_TLBI_S12_VMALL', [vmid]),
  TLBI_S2_IPA: cmd('TLBI_S2_IPA', 'CMD_TLBI_S2_IPA', [num, scale, vmid, ...rangeW1, ipa]),
  TLBI_NSNH_ALL: cmd('TLBI_NSNH_ALL', 'CMD_TLBI_NSNH_ALL', []),
  ATC_INV: cmd('ATC_INV', 'CMD_ATC_INV', [
    fld('Global', 0, 9, 9, 'Invalidate every SubstreamID of the StreamID'),
    ssv,
    ssid,
    sid,
    fld('Size', 1, 5, 0, 'Span: 4KB x 2^Size aligned to itself (52 = everything)'),
    addr,
  ]),
  PRI_RESP: cmd('PRI_RESP', 'CMD_PRI_RESP', [
    ssv,
    ssid,
    sid,
    fld('PRGIndex', 1, 8, 0, 'Page request group index'),
    fld('Resp', 1, 13, 12, 'PRG response code', {
      values: {
        0: 'ResponseFailure (Linux: DENY)',
        1: 'InvalidRequest (Linux: FAIL)',
        2: 'Success',
        3: 'reserved (CERROR_ILL)',
      },
    }),
  ]),
  RESUME: cmd('RESUME', 'CMD_RESUME', [
    ssec,
    fld('Ac', 0, 12, 12, 'Action', { values: { 0: 'terminate', 1: 'retry' } }),
    fld('Ab', 0, 13, 13, 'Abort on terminate (else RAZ/WI); ignored on retry', {
      values: { 0: 'RAZ/WI', 1: 'abort' },
    }),
    sid,
    fld('STAG', 1, 15, 0, 'Stall tag of the stalled transaction'),
  ]),
  STALL_TERM: cmd('STALL_TERM', 'CMD_STALL_TERM', [ssec, sid]),
  CMD_SYNC: cmd('CMD_SYNC', 'CMD_SYNC', [
    fld('CS', 0, 13, 12, 'Completion signal', {
      values: { 0: 'SIG_NONE', 1: 'SIG_IRQ (MSI/wired)', 2: 'SIG_SEV', 3: 'reserved (CERROR_ILL)' },
    }),
    fld('MSH', 0, 23, 22, 'Shareability of the MSI write', { values: SHAREABILITY }),
    fld('MSIAttr', 0, 27, 24, 'Memory type of the MSI write', { meaning: memAttrMeaning }),
    fld('MSIData', 0, 63, 32, 'MSI payload'),
    fld('MSIAddr', 1, ADDR_TOP, 2, 'MSI target address (0 = no MSI)', { kind: 'addr' }),
  ]),
};

/** CMD_CFGI_STE_RANGE with Range == 31, shown under its own name. */
export const CMD_CFGI_ALL: StructDef = cmd('CFGI_ALL', 'CMD_CFGI_ALL', cfgiSteRangeFields);

/** Non-secure command whose encoding each Secure-only TLBI command shares (§4.4.2.11–). */
const SECURE_LAYOUT: Readonly<Record<keyof typeof CMD_OP_SECURE, CmdName>> = {
  TLBI_S_EL2_ALL: 'TLBI_EL2_ALL',
  TLBI_S_EL2_ASID: 'TLBI_EL2_ASID',
  TLBI_S_EL2_VA: 'TLBI_EL2_VA',
  TLBI_S_EL2_VAA: 'TLBI_EL2_VAA',
  TLBI_S_S12_VMALL: 'TLBI_S12_VMALL',
  TLBI_S_S2_IPA: 'TLBI_S2_IPA',
  TLBI_SNH_ALL: 'TLBI_NSNH_ALL',
};

const byOpcode = new Map<number, { name: string; def: StructDef }>();
for (const [name, op] of Object.entries(CMD_OP)) {
  byOpcode.set(op, { name, def: COMMANDS[name as CmdName] });
}
for (const [name, op] of Object.entries(CMD_OP_SECURE)) {
  const layout = COMMANDS[SECURE_LAYOUT[name as keyof typeof CMD_OP_SECURE]];
  byOpcode.set(op, {
    name,
    def: {
      ...layout,
      name: `cmd.${name}`,
      title: `CMD_${name} (Secure queue only; CERROR_ILL on the Non-secure queue)`,
    },
  });
}
for (const [name, op] of Object.entries(CMD_OP_UNMODELLED)) {
  byOpcode.set(op, {
    name,
    def: cmd(name, `CMD_${name} (feature not modelled; operands not decoded)`, [
      fld('Operands_W0', 0, 63, 8, 'Operands (layout not modelled)'),
      fld('Operands_W1', 1, 63, 0, 'Operands (layout not modelled)'),
    ]),
  });
}

function commandNameOf(op: number): string | undefined {
  return byOpcode.get(op)?.name;
}

/** Table for an opcode no command uses: only the opcode is defined, every other bit is reserved. */
export function unknownCommandStruct(op: number): StructDef {
  return cmd(`UNKNOWN_${hex(op)}`, `reserved opcode ${hex(op)} (CERROR_ILL)`, []);
}

/**
 * The field table for a command, chosen by its opcode (word 0 bits [7:0]). With word 1 given, a
 * CFGI_STE_RANGE whose Range is 31 is shown as CMD_CFGI_ALL. Unknown opcodes get a table that
 * defines only the opcode, so every other set bit is reported as reserved.
 */
export function commandStruct(w0: bigint, w1?: bigint): StructDef {
  const op = Number(getBits(w0, 7, 0));
  if (op === CMD_OP.CFGI_STE_RANGE && w1 !== undefined && getBits(w1, 4, 0) === 31n) {
    return CMD_CFGI_ALL;
  }
  return byOpcode.get(op)?.def ?? unknownCommandStruct(op);
}

/**
 * The command's name: the CMD_OP / CMD_OP_SECURE key, `CFGI_ALL` for CFGI_STE_RANGE with Range
 * 31, or `UNKNOWN_0xNN` for a reserved opcode.
 */
export function commandName(w0: bigint, w1: bigint): string {
  const op = Number(getBits(w0, 7, 0));
  if (op === CMD_OP.CFGI_STE_RANGE && getBits(w1, 4, 0) === 31n) return 'CFGI_ALL';
  return commandNameOf(op) ?? `UNKNOWN_${hex(op)}`;
}

/** Every command table (Non-secure, CFGI_ALL, Secure-only, unmodelled), for tests and docs. */
export function allCommandStructs(): StructDef[] {
  return [...[...byOpcode.values()].map((e) => e.def), CMD_CFGI_ALL];
}
