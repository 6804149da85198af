// Structure lookup and text rendering for `vsmmu decode` and the playground (formats.md §3): maps a
// structure name (`ste`, `cmd`, `cr0`, …) and a list of words to the right field table, checks
// the word count and register width, and renders a decoded structure as readable text. The JSON
// form is decodedToJson in fields.ts.

import { genmask, hex, hex64 } from './bits.ts';
import { CD, L1CD } from './cd.ts';
import { commandStruct } from './cmd.ts';
import { VsmmuError } from './errors.ts';
import { eventStruct, PRIQ_RECORD } from './evt.ts';
import type { Decoded, DecodedField, StructDef } from './fields.ts';
import { checkTable, decodeStruct, fieldKind } from './fields.ts';
import { pteStruct } from './pte.ts';
import { SMMU_REGS, type SmmuRegName } from './regs.ts';
import { L1STD, STE } from './ste.ts';

/** Options for descriptor structures (`pte-s1`, `pte-s2`). */
export interface DecodeOptions {
  /** Translation granule in bytes. */
  readonly granule?: 4096 | 16384 | 65536;
  /** Lookup level of the descriptor. */
  readonly level?: number;
  /** 52-bit (LPA2) descriptor forms. */
  readonly ds?: boolean;
}

/** Result of decoding a named structure. */
export interface NamedDecode {
  readonly decoded: Decoded;
  /** Remarks for the reader (e.g. a vSTE padded with zeros). */
  readonly notes: readonly string[];
}

const MEMORY_STRUCTS: Readonly<Record<string, StructDef>> = {
  ste: STE,
  cd: CD,
  l1std: L1STD,
  l1cd: L1CD,
  priq: PRIQ_RECORD,
};

/** Structure names accepted by decodeNamed, registers included (lower case). */
export function structureNames(): string[] {
  return [
    'ste',
    'cd',
    'l1std',
    'l1cd',
    'cmd',
    'evt',
    'priq',
    'pte-s1',
    'pte-s2',
    ...Object.keys(SMMU_REGS).map((n) => n.toLowerCase()),
  ];
}

function registerFor(name: string): SmmuRegName | undefined {
  let upper = name.toUpperCase();
  // Linux spells the event queue registers EVTQ_*.
  if (upper.startsWith('EVTQ_')) upper = `EVENTQ_${upper.slice(5)}`;
  return upper in SMMU_REGS ? (upper as SmmuRegName) : undefined;
}

function wordCountError(name: string, want: string, got: number): VsmmuError {
  return new VsmmuError(
    'BAD_WORD_COUNT',
    `${name} takes ${want}, got ${got} word${got === 1 ? '' : 's'}`,
  );
}

/**
 * Decodes `words` as the structure called `name` (case-insensitive). Throws VsmmuError for an
 * unknown structure, a wrong word count, a register value wider than the register, or missing
 * descriptor options. `ste` also accepts the 2 words of a vSTE and pads the rest with zeros.
 */
export function decodeNamed(
  name: string,
  words: readonly bigint[],
  opts: DecodeOptions = {},
): NamedDecode {
  const key = name.toLowerCase();
  const notes: string[] = [];
  const mem = MEMORY_STRUCTS[key];
  if (mem) {
    if (key === 'ste' && words.length === 2) {
      notes.push('2 words given (a vSTE): words 2-7 padded with zeros');
      return { decoded: decodeStruct(mem, [...words, 0n, 0n, 0n, 0n, 0n, 0n]), notes };
    }
    if (words.length !== mem.words) {
      const want = key === 'ste' ? '8 words (or 2 for a vSTE)' : plural(mem.words);
      throw wordCountError(key, want, words.length);
    }
    return { decoded: decodeStruct(mem, words), notes };
  }
  if (key === 'cmd') {
    if (words.length !== 2) throw wordCountError(key, plural(2), words.length);
    const [w0, w1] = words as [bigint, bigint];
    return { decoded: decodeStruct(commandStruct(w0, w1), words), notes };
  }
  if (key === 'evt') {
    if (words.length !== 4) throw wordCountError(key, plural(4), words.length);
    return { decoded: decodeStruct(eventStruct(words[0] as bigint), words), notes };
  }
  if (key === 'pte-s1' || key === 'pte-s2') {
    if (words.length !== 1) throw wordCountError(key, plural(1), words.length);
    if (opts.granule === undefined || opts.level === undefined) {
      throw new VsmmuError('BAD_ARGUMENT', `${key} needs --granule 4k|16k|64k and --level N`);
    }
    let def: StructDef;
    try {
      const stage = key === 'pte-s1' ? 1 : 2;
      def = pteStruct(stage, opts.granule, opts.level, opts.ds ?? false, words[0] as bigint);
    } catch (e) {
      throw new VsmmuError('BAD_ARGUMENT', `${key}: ${e instanceof Error ? e.message : String(e)}`);
    }
    // A granule/level pair the translation regime does not have yields no consistent table.
    if (checkTable(def).length > 0) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        `${key}: no ${opts.granule / 1024}KB descriptor format at level ${opts.level}`,
      );
    }
    return { decoded: decodeStruct(def, words), notes };
  }
  const reg = registerFor(key);
  if (reg) {
    const info = SMMU_REGS[reg];
    if (words.length !== 1) throw wordCountError(key, 'one register value', words.length);
    const v = words[0] as bigint;
    if (v > genmask(info.bits - 1, 0)) {
      throw new VsmmuError(
        'OUT_OF_RANGE',
        `${key} is a ${info.bits}-bit register; ${hex(v)} does not fit`,
      );
    }
    return { decoded: decodeStruct(info.def, words), notes };
  }
  throw new VsmmuError(
    'UNKNOWN_STRUCTURE',
    `unknown structure '${name}' (known: ${structureNames().join(', ')})`,
  );
}

function plural(n: number): string {
  return n === 1 ? '1 word' : `${n} words`;
}

/** The raw bits of a field as shown in text: 0/1 for a bit, 0b… up to 4 bits, else hex. */
export function formatRaw(f: DecodedField): string {
  const width = f.hi - f.lo + 1;
  if (width === 1) return f.raw.toString();
  if (width <= 4) return `0b${f.raw.toString(2).padStart(width, '0')}`;
  return hex(f.raw);
}

function position(f: DecodedField): string {
  return f.hi === f.lo ? `W${f.word}[${f.hi}]` : `W${f.word}[${f.hi}:${f.lo}]`;
}

/**
 * Renders a decoded structure as text: a title line, the words, one line per field
 * (`Config = 0b101 (S1 translate, S2 bypass)`), and the reserved bits that are set.
 */
export function formatDecoded(d: Decoded, notes: readonly string[] = []): string {
  const lines: string[] = [];
  const width = d.def.regBits;
  lines.push(`${d.def.title} (${d.def.name}) — ${d.def.ref}`);
  for (const n of notes) lines.push(`note: ${n}`);
  const shown = d.words.map((w) =>
    width === 32 ? `0x${w.toString(16).padStart(8, '0')}` : hex64(w),
  );
  lines.push(`words: ${shown.join(' ')}`);
  const posWidth = Math.max(...d.fields.map((f) => position(f).length), 0);
  const nameWidth = Math.max(...d.fields.map((f) => f.name.length), 0);
  for (const f of d.fields) {
    const def = d.def.fields.find((x) => x.name === f.name);
    const isAddr = def !== undefined && fieldKind(def) === 'addr';
    const value = isAddr ? hex(f.value) : formatRaw(f);
    const bits = f.hi - f.lo + 1;
    const redundant =
      f.meaning === value ||
      (bits <= 4 && f.meaning === f.raw.toString()) ||
      (bits === 1 && (f.meaning === 'set' || f.meaning === 'clear'));
    const showMeaning = !redundant;
    lines.push(
      `  ${position(f).padEnd(posWidth)}  ${f.name.padEnd(nameWidth)} = ${value}${
        showMeaning ? ` (${f.meaning})` : ''
      }`,
    );
  }
  if (d.reservedSet.length === 0) {
    lines.push('reserved bits: none set');
  } else {
    for (const r of d.reservedSet) {
      lines.push(`reserved bits set: W${r.word} mask ${hex(r.mask)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
