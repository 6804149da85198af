// VMSAv8-64 translation table descriptors (Arm DDI 0487, chapter D8 "The AArch64 Virtual Memory
// System Architecture": table, block and page descriptor formats for stage 1 and stage 2, the
// 4K/16K/64K granules, FEAT_LPA (64K: OA[51:48] in bits [15:12]) and FEAT_LPA2 with DS = 1
// (4K/16K: OA[51:50] in bits [9:8], OA[49:48] in bits [49:48])), as field tables for the
// decoder, plus named bit constants for the number path (walker, builder). The constants are
// checked against drivers/iommu/io-pgtable-arm.c (ARM_LPAE_PTE_*) in test/unit/pgtable-pte.test.ts.

import { hex } from './bits.ts';
import type { FieldDef, StructDef } from './fields.ts';

/** Descriptor bits in the low u32 of a descriptor (number path). */
export const PTE_LO = {
  /** bit 0: descriptor valid */
  VALID: 0x1,
  /** bit 1: table (levels < 3) or page (level 3); 0 = block (levels < 3) */
  TYPE: 0x2,
  /** bits [1:0] of a table or page descriptor */
  TYPE_TABLE: 0x3,
  /** bits [1:0] of a block descriptor */
  TYPE_BLOCK: 0x1,
  /** stage 1 AttrIndx[2:0], bits [4:2] */
  ATTRINDX_SHIFT: 2,
  ATTRINDX_MASK: 0x1c,
  /** stage 1 NS, bit 5 */
  NS: 0x20,
  /** stage 1 AP[1], bit 6: access from EL0 (unprivileged) permitted */
  AP_UNPRIV: 0x40,
  /** stage 1 AP[2], bit 7: read-only */
  AP_RDONLY: 0x80,
  /** stage 2 S2AP[0], bit 6: read permitted */
  S2AP_READ: 0x40,
  /** stage 2 S2AP[1], bit 7: write permitted */
  S2AP_WRITE: 0x80,
  /** stage 2 MemAttr[3:0], bits [5:2] */
  MEMATTR_SHIFT: 2,
  MEMATTR_MASK: 0x3c,
  /** SH[1:0], bits [9:8] (DS = 1: OA[51:50] / NLTA[51:50] instead) */
  SH_SHIFT: 8,
  SH_MASK: 0x300,
  /** access flag, bit 10 */
  AF: 0x400,
  /** stage 1 not-global, bit 11 */
  NG: 0x800,
  /** 64K granule with FEAT_LPA: OA[51:48] / NLTA[51:48] in bits [15:12] */
  LPA_OA_SHIFT: 12,
  LPA_OA_MASK: 0xf000,
} as const;

/** Descriptor bits in the high u32 (bit n of the descriptor is bit n − 32 here). */
export const PTE_HI = {
  /** DS = 1: OA[49:48], bits [49:48] */
  DS_OA_MASK: 0x3_0000,
  /** stage 1 GP (FEAT_BTI), bit 50 */
  GP: 1 << 18,
  /** dirty bit modifier, bit 51 */
  DBM: 1 << 19,
  /** contiguous hint, bit 52 */
  CONT: 1 << 20,
  /** stage 1 PXN, bit 53 */
  PXN: 1 << 21,
  /** stage 1 UXN (XN for a single-range regime), bit 54 */
  UXN: 1 << 22,
  /** stage 2 XN[1:0] (FEAT_XNX), bits [54:53]; XN[1] = bit 54 without FEAT_XNX */
  S2XN_SHIFT: 21,
  S2XN_MASK: 3 << 21,
  /** software use, bits [58:55] (io-pgtable uses bit 55 as SW_SYNC) */
  SW_MASK: 0xf << 23,
  /** table descriptor PXNTable, bit 59 */
  PXNTABLE: 1 << 27,
  /** table descriptor UXNTable / XNTable, bit 60 */
  XNTABLE: 1 << 28,
  /** table descriptor APTable[0], bit 61: no EL0 access below */
  APTABLE_NOEL0: 1 << 29,
  /** table descriptor APTable[1], bit 62: no write access below */
  APTABLE_RDONLY: 1 << 30,
  /** table descriptor NSTable, bit 63 */
  NSTABLE: 0x8000_0000,
} as const;

/** The same bits as 64-bit bigint masks (edge path; named after io-pgtable-arm.c). */
export const PTE64 = {
  VALID: 1n,
  TYPE_TABLE: 3n,
  TYPE_PAGE: 3n,
  TYPE_BLOCK: 1n,
  NSTABLE: 1n << 63n,
  APTABLE: 3n << 61n,
  XNTABLE: 1n << 60n,
  PXNTABLE: 1n << 59n,
  XN: 3n << 53n,
  UXN: 1n << 54n,
  PXN: 1n << 53n,
  CONT: 1n << 52n,
  DBM: 1n << 51n,
  SW_SYNC: 1n << 55n,
  AF: 1n << 10n,
  NG: 1n << 11n,
  SH_NS: 0n << 8n,
  SH_OS: 2n << 8n,
  SH_IS: 3n << 8n,
  NS: 1n << 5n,
  AP_UNPRIV: 1n << 6n,
  AP_RDONLY: 1n << 7n,
  HAP_READ: 1n << 6n,
  HAP_WRITE: 2n << 6n,
  ATTRINDX_SHIFT: 2n,
  MEMATTR_OIWB: 0xfn << 2n,
  MEMATTR_NC: 0x5n << 2n,
  MEMATTR_DEV: 0x1n << 2n,
  MEMATTR_FWB_WB: 0x6n << 2n,
  /** io-pgtable's ARM_LPAE_PTE_ADDR_MASK: address bits [47:12] */
  ADDR_MASK: ((1n << 48n) - 1n) & ~0xfffn,
} as const;

/** Stage-1 MAIR attribute indices used by io-pgtable-arm (ARM_LPAE_MAIR_ATTR_IDX_*). */
export const MAIR_IDX = { NC: 0, CACHE: 1, DEV: 2, INC_OCACHE: 3 } as const;

/** Translation granule in bytes. */
export type PteGranule = 4096 | 16384 | 65536;

/** log2 of a granule. */
export function granuleShift(granule: PteGranule): number {
  return granule === 4096 ? 12 : granule === 16384 ? 14 : 16;
}

const SH_VALUES = { 0: 'Non-shareable', 1: 'reserved', 2: 'Outer Shareable', 3: 'Inner Shareable' };
const AP_VALUES = {
  0: 'privileged RW, unprivileged none',
  1: 'RW at both privileges',
  2: 'privileged RO, unprivileged none',
  3: 'RO at both privileges',
};
const S2AP_VALUES = { 0: 'no access', 1: 'read-only', 2: 'write-only', 3: 'read/write' };
const APTABLE_VALUES = {
  0: 'no effect',
  1: 'no unprivileged access below',
  2: 'no write access below',
  3: 'no write, no unprivileged access below',
};
const S2XN_VALUES = {
  0: 'executable at both privileges',
  1: 'FEAT_XNX: privileged execute-never',
  2: 'execute-never',
  3: 'FEAT_XNX: unprivileged execute-never',
};

function memAttrMeaning(raw: bigint): string {
  const v = Number(raw);
  const outer = v >> 2;
  const inner = v & 3;
  const dev = ['nGnRnE', 'nGnRE', 'nGRE', 'GRE'][inner] as string;
  const cache = ['reserved', 'Non-cacheable', 'Write-Through', 'Write-Back'];
  const noFwb =
    outer === 0 ? `Device-${dev}` : `Normal outer ${cache[outer]}, inner ${cache[inner]}`;
  const fwbCodes: Record<number, string> = {
    5: 'Normal Non-cacheable',
    6: 'Normal Write-Back',
    7: 'stage-1 attributes',
  };
  const fwb = (v & 4) === 0 ? `Device-${dev}` : (fwbCodes[v & 7] ?? 'reserved');
  return `${noFwb} (with S2FWB: ${fwb})`;
}

function hiBitsMeaning(label: string, shift: number): (raw: bigint) => string {
  return (raw) => `${label} = ${hex(raw << BigInt(shift))}`;
}

function typeField(level: number): FieldDef {
  return {
    name: 'Type',
    word: 0,
    hi: 1,
    lo: 1,
    doc: 'descriptor type: 1 = table (levels 0-2) or page (level 3); 0 = block (levels 0-2) or reserved (level 3)',
    kind: 'enum',
    values: level === 3 ? { 0: 'reserved', 1: 'page' } : { 0: 'block', 1: 'table' },
  };
}

const VALID: FieldDef = {
  name: 'Valid',
  word: 0,
  hi: 0,
  lo: 0,
  doc: 'descriptor valid',
};

/** Which descriptor form a StructDef describes. */
export type PteForm = 'table' | 'block' | 'page' | 'invalid';

function addrHi(granule: PteGranule, ds: boolean): number {
  return ds && granule !== 65536 ? 49 : 47;
}

function tableFields(stage: 1 | 2, granule: PteGranule, ds: boolean): FieldDef[] {
  const g = granuleShift(granule);
  const f: FieldDef[] = [VALID, typeField(0)];
  if (ds && granule !== 65536) {
    f.push({
      name: 'NLTA_51_50',
      word: 0,
      hi: 9,
      lo: 8,
      doc: 'next-level table address bits [51:50] (FEAT_LPA2, DS = 1)',
      meaning: hiBitsMeaning('NLTA[51:50]', 50),
    });
  }
  if (granule === 65536) {
    f.push({
      name: 'NLTA_51_48',
      word: 0,
      hi: 15,
      lo: 12,
      doc: 'next-level table address bits [51:48] (64K granule with FEAT_LPA; else RES0)',
      meaning: hiBitsMeaning('NLTA[51:48]', 48),
    });
  }
  f.push({
    name: 'NLTA',
    word: 0,
    hi: addrHi(granule, ds),
    lo: g,
    doc: 'next-level table address',
    kind: 'addr',
  });
  if (stage === 1) {
    f.push(
      {
        name: 'PXNTable',
        word: 0,
        hi: 59,
        lo: 59,
        doc: 'privileged execute-never for everything below',
      },
      {
        name: 'UXNTable',
        word: 0,
        hi: 60,
        lo: 60,
        doc: 'unprivileged execute-never for everything below (XNTable in a one-range regime)',
      },
      {
        name: 'APTable',
        word: 0,
        hi: 62,
        lo: 61,
        doc: 'access-permission limits for everything below',
        values: APTABLE_VALUES,
      },
      { name: 'NSTable', word: 0, hi: 63, lo: 63, doc: 'Secure state only: tables below are NS' },
    );
  }
  return f;
}

function leafFields(
  stage: 1 | 2,
  granule: PteGranule,
  level: number,
  ds: boolean,
  form: 'block' | 'page',
): FieldDef[] {
  const g = granuleShift(granule);
  const bpl = g - 3;
  const oaLo = g + (3 - level) * bpl;
  const f: FieldDef[] = [VALID, typeField(level)];
  if (stage === 1) {
    f.push(
      {
        name: 'AttrIndx',
        word: 0,
        hi: 4,
        lo: 2,
        doc: 'memory attribute index into MAIR',
        kind: 'num',
      },
      { name: 'NS', word: 0, hi: 5, lo: 5, doc: 'Non-secure output (Secure state only)' },
      {
        name: 'AP',
        word: 0,
        hi: 7,
        lo: 6,
        doc: 'AP[2:1]: bit 7 read-only, bit 6 unprivileged access',
        values: AP_VALUES,
      },
    );
  } else {
    f.push(
      {
        name: 'MemAttr',
        word: 0,
        hi: 5,
        lo: 2,
        doc: 'stage-2 memory attributes',
        meaning: memAttrMeaning,
      },
      {
        name: 'S2AP',
        word: 0,
        hi: 7,
        lo: 6,
        doc: 'stage-2 access permissions: bit 6 read, bit 7 write',
        values: S2AP_VALUES,
      },
    );
  }
  if (ds && granule !== 65536) {
    f.push({
      name: 'OA_51_50',
      word: 0,
      hi: 9,
      lo: 8,
      doc: 'output address bits [51:50] (FEAT_LPA2, DS = 1; shareability comes from TCR.SH)',
      meaning: hiBitsMeaning('OA[51:50]', 50),
    });
  } else {
    f.push({ name: 'SH', word: 0, hi: 9, lo: 8, doc: 'shareability', values: SH_VALUES });
  }
  f.push({ name: 'AF', word: 0, hi: 10, lo: 10, doc: 'access flag' });
  if (stage === 1) {
    f.push({ name: 'nG', word: 0, hi: 11, lo: 11, doc: 'not global: the entry is ASID-tagged' });
  }
  if (granule === 65536) {
    f.push({
      name: 'OA_51_48',
      word: 0,
      hi: 15,
      lo: 12,
      doc: 'output address bits [51:48] (64K granule with FEAT_LPA; else RES0)',
      meaning: hiBitsMeaning('OA[51:48]', 48),
    });
  }
  if (form === 'block' && oaLo > 16) {
    f.push({
      name: 'nT',
      word: 0,
      hi: 16,
      lo: 16,
      doc: 'block translation entry (FEAT_BBM level 1/2); RES0 otherwise',
    });
  }
  f.push({
    name: 'OA',
    word: 0,
    hi: addrHi(granule, ds),
    lo: oaLo,
    doc: form === 'page' ? 'output address of the page' : 'output address of the block',
    kind: 'addr',
  });
  if (stage === 1) {
    f.push({ name: 'GP', word: 0, hi: 50, lo: 50, doc: 'guarded page (FEAT_BTI)' });
  }
  f.push(
    { name: 'DBM', word: 0, hi: 51, lo: 51, doc: 'dirty bit modifier (hardware dirty state)' },
    { name: 'Contiguous', word: 0, hi: 52, lo: 52, doc: 'contiguous hint' },
  );
  if (stage === 1) {
    f.push(
      { name: 'PXN', word: 0, hi: 53, lo: 53, doc: 'privileged execute-never' },
      {
        name: 'UXN',
        word: 0,
        hi: 54,
        lo: 54,
        doc: 'unprivileged execute-never (XN in a one-range regime)',
      },
    );
  } else {
    f.push({
      name: 'XN',
      word: 0,
      hi: 54,
      lo: 53,
      doc: 'execute-never: XN[1:0] with FEAT_XNX, else bit 54 only (bit 53 RES0)',
      values: S2XN_VALUES,
    });
  }
  f.push(
    {
      name: 'SW',
      word: 0,
      hi: 58,
      lo: 55,
      doc: 'reserved for software use (io-pgtable: bit 55 SW_SYNC)',
      kind: 'num',
    },
    {
      name: 'PBHA',
      word: 0,
      hi: 62,
      lo: 59,
      doc: 'page-based hardware attributes (IMPDEF)',
      kind: 'num',
    },
    { name: 'IGNORED', word: 0, hi: 63, lo: 63, doc: 'ignored by hardware (v8.0 meaning)' },
  );
  return f;
}

/**
 * The form a descriptor takes at `level`: from its type bits when `word0` is given, else page at
 * level 3 and table above.
 */
export function pteForm(level: number, word0?: bigint): PteForm {
  if (word0 === undefined) return level === 3 ? 'page' : 'table';
  if ((word0 & 1n) === 0n) return 'invalid';
  const t = (word0 >> 1n) & 1n;
  if (level === 3) return t ? 'page' : 'invalid';
  return t ? 'table' : 'block';
}

/** Whether a block descriptor is architecturally valid at `level` (DDI 0487 D8, BlockDescSupported). */
export function blockAllowed(
  granule: PteGranule,
  level: number,
  ds: boolean,
  lpa: boolean,
): boolean {
  if (granule === 4096) return level === 1 || level === 2 || (level === 0 && ds);
  if (granule === 16384) return level === 2 || (level === 1 && ds);
  return level === 2 || (level === 1 && lpa);
}

const cache = new Map<string, StructDef>();

/**
 * The field table of a VMSAv8-64 descriptor for `stage`, `granule` and `level` (0..3 for 4K and
 * 16K, −1..3 for 4K with DS = 1, 1..3 for 64K; a bad level throws RangeError), in the 52-bit LPA2
 * layout when `ds` (4K/16K). With `word0`,
 * the form (table / block / page / invalid) is picked from the descriptor's type bits; without it,
 * level 3 gives the page form and other levels the table form.
 */
export function pteStruct(
  stage: 1 | 2,
  granule: PteGranule,
  level: number,
  ds: boolean,
  word0?: bigint,
): StructDef {
  const minLevel = granule === 65536 ? 1 : granule === 16384 || !ds ? 0 : -1;
  if (!Number.isInteger(level) || level < minLevel || level > 3) {
    throw new RangeError(`descriptor level ${level} outside ${minLevel}..3 for this granule`);
  }
  const form = pteForm(level, word0);
  const gname = granule === 4096 ? '4k' : granule === 16384 ? '16k' : '64k';
  const name = `pte-s${stage}-${gname}-l${level}-${form}${ds ? '-ds' : ''}`;
  const hit = cache.get(name);
  if (hit) return hit;
  let fields: FieldDef[];
  let title: string;
  if (form === 'invalid') {
    fields = [
      VALID,
      {
        name: 'IGNORED',
        word: 0,
        hi: 63,
        lo: 1,
        doc: 'ignored by hardware; free for software',
        kind: 'num',
      },
    ];
    title = `Stage ${stage} invalid descriptor`;
  } else if (form === 'table') {
    fields = tableFields(stage, granule, ds);
    title = `Stage ${stage} table descriptor (${gname}, level ${level})`;
  } else {
    fields = leafFields(stage, granule, level, ds, form);
    const note =
      form === 'block' && !blockAllowed(granule, level, ds, true)
        ? ' — not valid at this level'
        : '';
    title = `Stage ${stage} ${form} descriptor (${gname}, level ${level})${note}`;
  }
  const def: StructDef = {
    name,
    title,
    words: 1,
    ref: 'Arm DDI 0487 D8.3 (VMSAv8-64 translation table descriptor formats)',
    fields,
  };
  cache.set(name, def);
  return def;
}
