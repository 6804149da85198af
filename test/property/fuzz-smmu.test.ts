// Bad-input fuzzing of the SMMUv3 model (IHI 0070: §5 STE/CD/L1 descriptors, §3.4 translation
// tables, §4 commands, §6.3 registers): everything guest software controls — descriptor bytes,
// page-table bytes, command queue entries, register writes — is drawn at random (field by field
// with a bias to the few values that reach deep code, plus raw random words). Properties: translate,
// mmioWrite and mmioRead never throw; every record the SMMU writes to the Event queue is an
// architected event type (§7.3); CMDQ_CONS.ERR (§6.3.27, bits [30:24]) only takes the values the
// architecture defines (0 NONE, 1 ILL, 2 ABT, 3 ATC_INV_SYNC).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CD, L1CD } from '../../src/arch/cd.ts';
import { decodeEvent, EVENTS } from '../../src/arch/evt.ts';
import { encodeStruct, type StructDef } from '../../src/arch/fields.ts';
import { L1STD, STE } from '../../src/arch/ste.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import { OFF } from '../unit/smmu-kit.ts';
import { CD_AREA, L2_AREA, PT_BASE, STRTAB, trig, writeWords } from '../unit/smmu-translate-kit.ts';

const KNOWN = new Set(Object.keys(EVENTS));
const EVTQ_LOG2 = 8;

/** A descriptor drawn field by field: per field 0, its maximum, or a random raw value. */
function descArb(def: StructDef, sensible: Record<string, bigint>) {
  return fc
    .array(fc.tuple(fc.nat(5), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
      minLength: def.fields.length,
      maxLength: def.fields.length,
    })
    .map((choices) => {
      const v: Record<string, bigint> = {};
      def.fields.forEach((f, i) => {
        const [c, r] = choices[i] as [number, bigint];
        const width = BigInt(f.hi - f.lo + 1);
        const mask = (1n << width) - 1n;
        const s = sensible[f.name];
        if (c <= 2 && s !== undefined) v[f.name] = s & mask;
        else if (c === 3) v[f.name] = r & mask;
        else if (c === 4) v[f.name] = mask;
        else v[f.name] = 0n;
      });
      return encodeStruct(def, v);
    });
}

const ste = descArb(STE, {
  V: 1n,
  Config: 0b111n,
  S1ContextPtr: BigInt(CD_AREA) >> 6n,
  S2TTB: BigInt(PT_BASE) >> 4n,
  S2T0SZ: 24n,
  S2SL0: 1n,
  S2AA64: 1n,
  S2PS: 2n,
  S2R: 1n,
});
const cd = descArb(CD, {
  V: 1n,
  A: 1n,
  R: 1n,
  AA64: 1n,
  TTB0: BigInt(PT_BASE) >> 4n,
  T0SZ: 16n,
  IPS: 2n,
  ASID: 1n,
});
const l1 = descArb(L1STD, { Span: 8n, L2Ptr: BigInt(L2_AREA) >> 6n });
const l1cd = descArb(L1CD, { V: 1n, L2Ptr: BigInt(CD_AREA + 0x1000) >> 12n });

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
/** Page-table words: random, or a table/page descriptor pointing back into the table area. */
const pte = fc.oneof(
  u64,
  fc.nat(63).map((i) => BigInt(PT_BASE + 0x1000 * i) | 0x3n | (1n << 10n)),
  fc.nat(63).map((i) => BigInt(PT_BASE + 0x1000 * i) | 0x1n | (1n << 10n) | (3n << 6n)),
);

/** A command: random words, or a real opcode (byte 0) with random operands. */
const command = fc.oneof(
  fc.tuple(u64, u64),
  fc
    .tuple(
      fc.constantFrom(
        0x01,
        0x02,
        0x03,
        0x04,
        0x05,
        0x06,
        0x07,
        0x10,
        0x11,
        0x12,
        0x13,
        0x18,
        0x1a,
        0x20,
        0x28,
        0x2a,
        0x30,
        0x40,
        0x41,
        0x46,
        0x0c,
        0x0e,
      ),
      u64,
      u64,
    )
    .map(([op, w0, w1]) => [(w0 & ~0xffn) | BigInt(op), w1] as [bigint, bigint]),
);

const OFFS = Object.values(OFF);
const mmioOff = fc.oneof(
  fc.constantFrom(...OFFS),
  fc.nat(0x20000 / 4 - 2).map((i) => i * 4),
  fc.nat(0x20000 - 8),
);

const action = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('tr' as const),
      sid: fc.oneof(fc.nat(7), fc.nat(0xffff_ffff)),
      ssid: fc.option(fc.oneof(fc.nat(3), fc.nat(0xfffff)), { nil: undefined }),
      iova: fc.oneof(
        u64,
        fc.nat(0xffff).map((x) => BigInt(x) << 12n),
      ),
      access: fc.constantFrom('read', 'write'),
      priv: fc.boolean(),
      inst: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('cmd' as const), c: fc.array(command) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('w' as const),
      off: mmioOff,
      size: fc.constantFrom(4 as const, 8 as const),
      v: u64,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('r' as const),
      off: mmioOff,
      size: fc.constantFrom(4 as const, 8 as const),
    }),
  },
);

// An offset outside the 128 KiB window never reaches the SMMU (the bus decodes it elsewhere):
// the model treats it as a caller usage error (VsmmuError), checked separately below.

/** Offsets whose writes would move the queues/tables the checker reads (kept for the raw run). */
const MOVES = new Set<number>([
  OFF.EVENTQ_BASE,
  OFF.EVENTQ_BASE + 4,
  OFF.EVENTQ_PROD,
  OFF.EVENTQ_CONS,
  OFF.CR0,
  OFF.CMDQ_BASE,
  OFF.CMDQ_BASE + 4,
  OFF.CMDQ_PROD,
  OFF.CMDQ_CONS,
]);

describe('fuzz: SMMU model with guest-controlled bytes', () => {
  it('descriptors, page tables, commands and register writes: no throw, known events, ERR 0..3', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(ste, { minLength: 8, maxLength: 8 }),
        fc.array(cd, { minLength: 4, maxLength: 4 }),
        l1,
        l1cd,
        fc.array(fc.tuple(fc.nat(511), pte), { maxLength: 64 }),
        fc.array(action, { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        (twoLevel, stes, cds, l1d, l1cdd, ptes, actions, abortUnbacked) => {
          // IMPDEF memory model: never-written memory reads as zeros, or is an external abort
          const mem = new SparseMemory(abortUnbacked ? { unbacked: 'abort' } : {});
          const r = trig({
            mem,
            ...(twoLevel ? { strtab: { fmt: '2level', log2size: 16, split: 8 } } : {}),
          });
          if (twoLevel) writeWords(r.mem, STRTAB, l1d);
          stes.forEach((w, sid) => {
            writeWords(r.mem, (twoLevel ? L2_AREA : STRTAB) + 64 * sid, w);
          });
          cds.forEach((w, i) => {
            writeWords(r.mem, CD_AREA + 64 * i, w);
          });
          writeWords(r.mem, CD_AREA + 0x800, l1cdd);
          for (const [i, w] of ptes) r.mem.write64(PT_BASE + 8 * i + 0x1000 * (i % 4), w);
          for (const a of actions) {
            if (a.k === 'tr') {
              const res = r.smmu.translate({
                sid: a.sid,
                ssid: a.ssid,
                iova: a.iova,
                access: a.access,
                priv: a.priv,
                inst: a.inst,
              });
              expect(typeof res.ok).toBe('boolean');
            } else if (a.k === 'cmd') {
              r.cmd(...a.c);
            } else if (a.k === 'w') {
              if (MOVES.has(a.off & ~3)) continue;
              r.smmu.mmioWrite(a.off, a.size, a.size === 8 ? a.v : Number(a.v & 0xffff_ffffn));
            } else {
              r.smmu.mmioRead(a.off, a.size);
            }
            const err = (r.smmu.mmioRead(OFF.CMDQ_CONS, 4) >>> 24) & 0x7f;
            expect(err).toBeLessThanOrEqual(3);
          }
          for (const e of r.events()) expect(KNOWN.has(e.type), e.type).toBe(true);
        },
      ),
      { numRuns: 200, seed: 0x18f2, endOnFailure: true },
    );
  });

  it('raw register writes anywhere (queue bases included) never throw; ERR stays 0..3', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 30 }), (actions) => {
        const r = trig();
        for (const a of actions) {
          if (a.k === 'tr') {
            r.smmu.translate({ sid: a.sid, ssid: a.ssid, iova: a.iova, access: a.access });
          } else if (a.k === 'cmd') {
            for (const [w0, w1] of a.c) {
              r.mem.write64(0x10_0000, w0);
              r.mem.write64(0x10_0008, w1);
            }
            r.smmu.mmioWrite(OFF.CMDQ_PROD, 4, (r.smmu.mmioRead(OFF.CMDQ_PROD, 4) + 1) >>> 0);
          } else if (a.k === 'w') {
            r.smmu.mmioWrite(a.off, a.size, a.size === 8 ? a.v : Number(a.v & 0xffff_ffffn));
          } else r.smmu.mmioRead(a.off, a.size);
          expect((r.smmu.mmioRead(OFF.CMDQ_CONS, 4) >>> 24) & 0x7f).toBeLessThanOrEqual(3);
        }
        // whatever sits in the Event queue area decodes (unknown types as UNKNOWN_/IMPDEF_ names)
        for (let i = 0; i < 2 ** EVTQ_LOG2; i += 17) {
          const words = [0, 1, 2, 3].map((k) => r.mem.read64(0x20_0000 + 32 * i + 8 * k));
          expect(typeof decodeEvent(words).type).toBe('string');
        }
      }),
      { numRuns: 200, seed: 0x18f3, endOnFailure: true },
    );
  });

  it('an access outside the 128 KiB register window is a usage error, not a crash', () => {
    const r = trig();
    expect(() => r.smmu.mmioRead(0x20000, 4)).toThrow(/outside/);
    expect(() => r.smmu.mmioWrite(0x1fffc, 8, 0n)).toThrow(/outside/);
  });
});
