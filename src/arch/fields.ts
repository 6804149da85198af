// The field-table engine: every architectural structure (registers, STE, CD, commands, events,
// translation-table descriptors) is described once as data — a list of named bit fields — and
// decode, encode, pretty-print, JSON and the docs are all driven by that table.
//
// Field names keep the spelling of Arm IHI 0070 (SMMUv3) and DDI 0487 (VMSAv8-64) so a reader
// can grep the spec. Positions are (word, hi, lo) within little-endian 64-bit words; 32-bit
// registers are one word whose fields stay below bit 32.

import { genmask, getBits, hex, U64_MAX } from './bits.ts';

/** How a field's raw bits denote a value. */
export type FieldKind =
  /** a single bit */
  | 'flag'
  /** an unsigned number */
  | 'num'
  /** a code whose meanings are listed in `values` */
  | 'enum'
  /** an address field: the value is the raw bits left in place (raw << lo) */
  | 'addr';

/** One named bit field of a structure. */
export interface FieldDef {
  /** Spec spelling, e.g. `S1ContextPtr`. */
  readonly name: string;
  /** Index of the 64-bit word holding the field. */
  readonly word: number;
  /** Highest bit (inclusive) within the word. */
  readonly hi: number;
  /** Lowest bit within the word. */
  readonly lo: number;
  /** One-line description (paraphrased, never spec text). */
  readonly doc: string;
  /** Defaults to 'flag' for 1-bit fields, 'enum' when `values` is given, else 'num'. */
  readonly kind?: FieldKind;
  /** Meanings of enum codes. */
  readonly values?: Readonly<Record<number, string>>;
  /** Custom meaning renderer (overrides `values`). */
  readonly meaning?: (raw: bigint) => string;
}

/** A structure: a fixed number of 64-bit words and its fields. */
export interface StructDef {
  /** Short machine name, e.g. `ste`, `cmd.CMD_SYNC`, `idr0`. */
  readonly name: string;
  /** Human title, e.g. `Stream Table Entry`. */
  readonly title: string;
  /** Number of 64-bit words. */
  readonly words: number;
  /** Register width in bits when the structure is a register (32 or 64); absent for memory structures. */
  readonly regBits?: 32 | 64;
  /** Spec citation for the layout. */
  readonly ref: string;
  readonly fields: readonly FieldDef[];
}

/** One decoded field. */
export interface DecodedField {
  readonly name: string;
  readonly word: number;
  readonly hi: number;
  readonly lo: number;
  /** The field's bits, shifted down. */
  readonly raw: bigint;
  /** What the bits denote: equals raw, except for addresses (raw << lo). */
  readonly value: bigint;
  /** Readable meaning, e.g. `S1 translate, S2 bypass`. */
  readonly meaning: string;
  readonly doc: string;
}

/** Bits set outside every field of a word. */
export interface ReservedSet {
  readonly word: number;
  readonly mask: bigint;
}

/** A decoded structure. */
export interface Decoded {
  readonly def: StructDef;
  readonly words: readonly bigint[];
  readonly fields: readonly DecodedField[];
  readonly reservedSet: readonly ReservedSet[];
}

/** The kind of a field after defaults. */
export function fieldKind(f: FieldDef): FieldKind {
  if (f.kind) return f.kind;
  if (f.values) return 'enum';
  return f.hi === f.lo ? 'flag' : 'num';
}

/** Mask of a field within its word. */
export function fieldMask(f: FieldDef): bigint {
  return genmask(f.hi, f.lo);
}

/** Union of the field masks of word `w`. */
export function definedMask(def: StructDef, w: number): bigint {
  let m = 0n;
  for (const f of def.fields) if (f.word === w) m |= fieldMask(f);
  return m;
}

/** Mask of the named fields (all in one word) — how the kernel's GENMASK unions are checked. */
export function maskOf(def: StructDef, names: readonly string[]): bigint {
  let m = 0n;
  for (const n of names) m |= fieldMask(findField(def, n));
  return m;
}

/** The field called `name`; throws when the table has no such field (a programming error). */
export function findField(def: StructDef, name: string): FieldDef {
  const f = def.fields.find((x) => x.name === name);
  if (!f) throw new Error(`${def.name} has no field ${name}`);
  return f;
}

function renderMeaning(f: FieldDef, raw: bigint, value: bigint): string {
  if (f.meaning) return f.meaning(raw);
  const k = fieldKind(f);
  if (k === 'enum') {
    const m = f.values?.[Number(raw)];
    return m ?? 'reserved';
  }
  if (k === 'flag') return raw ? 'set' : 'clear';
  if (k === 'addr') return hex(value);
  return raw.toString();
}

/** Reads one field from the words (bigint path). */
export function readField(f: FieldDef, words: readonly bigint[]): bigint {
  return getBits(words[f.word] ?? 0n, f.hi, f.lo);
}

/** The value a field denotes (addresses: raw bits in place). */
export function fieldValue(f: FieldDef, raw: bigint): bigint {
  return fieldKind(f) === 'addr' ? raw << BigInt(f.lo) : raw;
}

/** Decodes words with a structure table. */
export function decodeStruct(def: StructDef, words: readonly bigint[]): Decoded {
  const fields: DecodedField[] = def.fields.map((f) => {
    const raw = readField(f, words);
    const value = fieldValue(f, raw);
    return {
      name: f.name,
      word: f.word,
      hi: f.hi,
      lo: f.lo,
      raw,
      value,
      meaning: renderMeaning(f, raw, value),
      doc: f.doc,
    };
  });
  const reservedSet: ReservedSet[] = [];
  for (let w = 0; w < def.words; w++) {
    const width = def.regBits ?? 64;
    const all = width === 64 ? U64_MAX : (1n << BigInt(width)) - 1n;
    const extra = (words[w] ?? 0n) & all & ~definedMask(def, w);
    if (extra) reservedSet.push({ word: w, mask: extra });
  }
  return { def, words: [...words], fields, reservedSet };
}

/** Field values keyed by name (raw bits, shifted down). */
export type RawFields = Readonly<Record<string, bigint | number>>;

/**
 * Encodes named raw field values into words. Unknown names and values wider than their field
 * throw (programming errors); `reserved` lets a caller put back bits outside every field.
 */
export function encodeStruct(
  def: StructDef,
  values: RawFields,
  reserved: readonly ReservedSet[] = [],
): bigint[] {
  const words = new Array<bigint>(def.words).fill(0n);
  for (const [name, v] of Object.entries(values)) {
    const f = findField(def, name);
    const raw = BigInt(v);
    const width = f.hi - f.lo + 1;
    if (raw < 0n || raw >= 1n << BigInt(width)) {
      throw new RangeError(`${def.name}.${name}: ${hex(raw)} does not fit in ${width} bits`);
    }
    words[f.word] = (words[f.word] ?? 0n) | (raw << BigInt(f.lo));
  }
  for (const r of reserved) words[r.word] = (words[r.word] ?? 0n) | r.mask;
  return words;
}

/** Like encodeStruct but takes denoted values (addresses as addresses, low bits must be 0). */
export function encodeValues(def: StructDef, values: RawFields): bigint[] {
  const raw: Record<string, bigint> = {};
  for (const [name, v] of Object.entries(values)) {
    const f = findField(def, name);
    let x = BigInt(v);
    if (fieldKind(f) === 'addr') {
      if (x & ((1n << BigInt(f.lo)) - 1n)) {
        throw new RangeError(`${def.name}.${name}: ${hex(x)} is not aligned to bit ${f.lo}`);
      }
      x >>= BigInt(f.lo);
    }
    raw[name] = x;
  }
  return encodeStruct(def, raw);
}

/**
 * Checks a table for internal consistency: positions inside the word, no overlapping fields,
 * unique names. Returns a list of problems (empty when sound). Used by the tests of every table.
 */
export function checkTable(def: StructDef): string[] {
  const problems: string[] = [];
  const width = def.regBits ?? 64;
  const names = new Set<string>();
  for (const f of def.fields) {
    if (names.has(f.name)) problems.push(`duplicate field ${f.name}`);
    names.add(f.name);
    if (f.word < 0 || f.word >= def.words) problems.push(`${f.name}: word ${f.word} out of range`);
    if (f.lo < 0 || f.hi < f.lo || f.hi >= width) {
      problems.push(`${f.name}: bits ${f.hi}:${f.lo} invalid`);
    }
  }
  for (let i = 0; i < def.fields.length; i++) {
    for (let j = i + 1; j < def.fields.length; j++) {
      const a = def.fields[i];
      const b = def.fields[j];
      if (a && b && a.word === b.word && fieldMask(a) & fieldMask(b)) {
        problems.push(`${a.name} overlaps ${b.name}`);
      }
    }
  }
  return problems;
}

/** JSON form of a decoded structure (formats.md §3): 64-bit quantities as `0x…` strings. */
export function decodedToJson(d: Decoded): {
  format: 'vsmmu.decode';
  version: 1;
  structure: string;
  words: string[];
  fields: {
    name: string;
    word: number;
    hi: number;
    lo: number;
    raw: string;
    value: string;
    meaning: string;
  }[];
  reservedSet: { word: number; mask: string }[];
} {
  return {
    format: 'vsmmu.decode',
    version: 1,
    structure: d.def.name,
    words: d.words.map((w) => hex(w)),
    fields: d.fields.map((f) => ({
      name: f.name,
      word: f.word,
      hi: f.hi,
      lo: f.lo,
      raw: hex(f.raw),
      value: hex(f.value),
      meaning: f.meaning,
    })),
    reservedSet: d.reservedSet.map((r) => ({ word: r.word, mask: hex(r.mask) })),
  };
}
