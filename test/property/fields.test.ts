// encode∘decode = identity for every field table of src/arch (registers, STE, L1STD, CD, L1CD,
// every command and event layout, the PRI record): decoding random words and encoding the raw
// field values plus the reported reserved bits gives the words back. Also makeEvent∘decodeEvent
// for every event type (reserved bits dropped) and the vSTE masks as field unions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CD, L1CD } from '../../src/arch/cd.ts';
import { allCommandStructs, commandStruct } from '../../src/arch/cmd.ts';
import {
  allEventStructs,
  decodeEvent,
  EVT_ID,
  eventStruct,
  makeEvent,
} from '../../src/arch/evt.ts';
import {
  type Decoded,
  decodeStruct,
  definedMask,
  encodeStruct,
  type StructDef,
} from '../../src/arch/fields.ts';
import { SMMU_REGS } from '../../src/arch/regs.ts';
import { L1STD, STE } from '../../src/arch/ste.ts';

const U64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const U32 = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n });

function rawFieldsOf(d: Decoded): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const f of d.fields) out[f.name] = f.raw;
  return out;
}

const TABLES: StructDef[] = [
  ...Object.values(SMMU_REGS).map((r) => r.def),
  STE,
  L1STD,
  CD,
  L1CD,
  ...allCommandStructs(),
  ...allEventStructs(),
];

describe('encode(decode(words)) = words', () => {
  it.each(TABLES.map((d) => [d.name, d] as const))('%s', (_n, def) => {
    const word = def.regBits === 32 ? U32 : U64;
    fc.assert(
      fc.property(fc.array(word, { minLength: def.words, maxLength: def.words }), (words) => {
        const d = decodeStruct(def, words);
        expect(encodeStruct(def, rawFieldsOf(d), d.reservedSet)).toEqual(words);
        // Reserved bits are exactly the set bits outside every field.
        for (let w = 0; w < def.words; w++) {
          const got = d.reservedSet.find((r) => r.word === w)?.mask ?? 0n;
          expect(got).toBe((words[w] as bigint) & ~definedMask(def, w));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('opcode / event-type selection', () => {
  it('commandStruct always yields a table whose Opcode field reads back the opcode', () => {
    fc.assert(
      fc.property(U64, U64, (w0, w1) => {
        const def = commandStruct(w0, w1);
        const d = decodeStruct(def, [w0, w1]);
        expect(d.fields[0]?.name).toBe('Opcode');
        expect(d.fields[0]?.raw).toBe(w0 & 0xffn);
      }),
    );
  });
  it('decodeEvent → makeEvent rebuilds the record without its reserved bits', () => {
    const ids = fc.oneof(
      fc.constantFrom(...Object.values(EVT_ID)),
      fc.integer({ min: 0, max: 255 }),
    );
    fc.assert(
      fc.property(ids, U64, U64, U64, U64, (id, a, b, c, e) => {
        const words = [(a & ~0xffn) | BigInt(id), b, c, e];
        const rec = decodeEvent(words);
        const def = eventStruct(words[0] as bigint);
        const rebuilt = makeEvent(id, rec.fields);
        const want = words.map((w, i) => w & definedMask(def, i));
        expect([...rebuilt.raw]).toEqual(want);
        expect(rebuilt.type).toBe(rec.type);
      }),
      { numRuns: 500 },
    );
  });
});
