// Shared vocabulary of the SMMUv3 field tables (Arm IHI 0070 H.a): the encodings that several
// structures reuse (cacheability, shareability, address sizes, translation granules) and small
// builders that keep the tables in regs.ts, ste.ts, cd.ts, cmd.ts and evt.ts short. Meanings are
// paraphrased from the field descriptions of IHI 0070 §5.2 (STE), §5.4 (CD) and §6.3 (registers).
//
// Address fields end at bit 51 in every table: the model implements output addresses of at most
// 52 bits (SMMUv3.1–3.3; addresses travel as numbers below 2^53). IHI 0070 H.a widens several of
// them to bit 55 for the 56-bit PA of SMMUv3.4 / VMSAv9-128; those bits are RES0 whenever OAS ≤ 52,
// so a decoder reports them as reserved bits. The Linux driver uses the same 51-bit masks.

import type { FieldDef, FieldKind, StructDef } from './fields.ts';

/** Highest address bit the model represents in structure and register address fields. */
export const ADDR_TOP = 51;

/** Inner/outer cacheability of a table or structure access (STE.S1CIR/S1COR, CD.IR0/OR0, STE.S2IR0). */
export const CACHEABILITY: Readonly<Record<number, string>> = {
  0: 'NC (Normal Non-cacheable)',
  1: 'WBRA (Write-Back, Read-Allocate, Write-Allocate)',
  2: 'WT (Write-Through, Read-Allocate)',
  3: 'WB (Write-Back, Read-Allocate, no Write-Allocate)',
};

/** Shareability of a table or structure access (STE.S1CSH, CD.SH0, STE.S2SH0, MSH). */
export const SHAREABILITY: Readonly<Record<number, string>> = {
  0: 'NSH (Non-shareable)',
  1: 'reserved (behaves as NSH)',
  2: 'OSH (Outer Shareable)',
  3: 'ISH (Inner Shareable)',
};

/** SMMU_CR1 cacheability of table/queue accesses (a different encoding from the TCR style one). */
export const CR1_CACHE: Readonly<Record<number, string>> = {
  0: 'NC (Non-cacheable)',
  1: 'WB (Write-Back cacheable)',
  2: 'WT (Write-Through cacheable)',
  3: 'reserved',
};

/** Physical/intermediate address size encodings (IDR5.OAS, CD.IPS, STE.S2PS). */
export const ADDRESS_SIZE: Readonly<Record<number, string>> = {
  0: '32 bits',
  1: '36 bits',
  2: '40 bits',
  3: '42 bits',
  4: '44 bits',
  5: '48 bits',
  6: '52 bits (SMMUv3.1+)',
  7: '56 bits (SMMUv3.4; reserved before)',
};

/** TG0 / S2TG granule encoding (note: CD.TG1 uses a different encoding). */
export const TG0_GRANULE: Readonly<Record<number, string>> = {
  0: '4KB',
  1: '64KB',
  2: '16KB',
  3: 'reserved',
};

/** CD.TG1 granule encoding. */
export const TG1_GRANULE: Readonly<Record<number, string>> = {
  0: 'reserved',
  1: '16KB',
  2: '4KB',
  3: '64KB',
};

/** Memory-attribute override / MSI attribute in the stage-2 MemAttr[3:0] encoding. */
export function memAttrMeaning(raw: bigint): string {
  const v = Number(raw);
  const hi = v >> 2;
  const lo = v & 3;
  if (hi === 0) return ['Device-nGnRnE', 'Device-nGnRE', 'Device-nGRE', 'Device-GRE'][lo] as string;
  const kind = ['', 'Non-cacheable', 'Write-Through', 'Write-Back'];
  if (lo === 0) return 'reserved (behaves as Device-nGnRnE)';
  return `Normal, outer ${kind[hi]}, inner ${kind[lo]}`;
}

/** Options of a field besides its position. */
export interface FieldOpts {
  readonly kind?: FieldKind;
  readonly values?: Readonly<Record<number, string>>;
  readonly meaning?: (raw: bigint) => string;
}

/** Builds a field (keeps the tables one line per field). */
export function fld(
  name: string,
  word: number,
  hi: number,
  lo: number,
  doc: string,
  opts: FieldOpts = {},
): FieldDef {
  return { name, word, hi, lo, doc, ...opts };
}

/** A 32- or 64-bit register: one word whose fields are given without a word index. */
export function regDef(
  name: string,
  title: string,
  regBits: 32 | 64,
  ref: string,
  fields: readonly Omit<FieldDef, 'word'>[],
): StructDef {
  return {
    name,
    title,
    words: 1,
    regBits,
    ref: `${ref} ${title}`,
    fields: fields.map((f) => ({ ...f, word: 0 })),
  };
}

/** A field description for registers (word 0 implied). */
export function rf(
  name: string,
  hi: number,
  lo: number,
  doc: string,
  opts: FieldOpts = {},
): Omit<FieldDef, 'word'> {
  return { name, hi, lo, doc, ...opts };
}
