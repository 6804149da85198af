// The TLB's hash index (src/smmu/tlb.ts: open addressing, backward-shift deletion) against a
// plain reference: a list of entries in LRU order (oldest first), looked up by linear search
// over (context, block size, block number). Random sequences of fills, lookups, invalidations by
// context and by range on a small TLB over a pool of 16 random addresses, so that eviction,
// bucket collisions and deletions inside probe chains happen often; after every step both must
// hold the same entries in the same order and answer lookups alike.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TLB_KIND, Tlb, type TlbContext } from '../../src/smmu/tlb.ts';

interface RefEntry {
  ctx: number;
  shift: number;
  block: number;
  oa: number;
}

const SHIFTS = [12, 21, 30] as const;
/** An address: index into the run's pool, plus an offset. */
const addr = fc.tuple(fc.nat(15), fc.nat(4095));
const op = fc.oneof(
  fc.record({
    k: fc.constant('fill' as const),
    ctx: fc.nat(2),
    shift: fc.constantFrom(...SHIFTS),
    addr,
  }),
  fc.record({ k: fc.constant('lookup' as const), ctx: fc.nat(2), addr }),
  fc.record({ k: fc.constant('all' as const), ctx: fc.nat(2) }),
  fc.record({
    k: fc.constant('range' as const),
    ctx: fc.nat(2),
    addr,
    len: fc.integer({ min: 1, max: 2 ** 22 }),
  }),
);

describe('TLB hash index', () => {
  it('behaves like a linear-search LRU list', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.nat(2 ** 34), { minLength: 16, maxLength: 16 }),
        fc.array(op, { maxLength: 120 }),
        (cap, pool, ops) => {
          const at = ([i, off]: [number, number]): number => (pool[i] as number) + off;
          const tlb = new Tlb(cap, 'lru');
          const ctxs: TlbContext[] = [0, 1, 2].map((a) =>
            tlb.context(TLB_KIND.S1, 0, 1, a, false, 0),
          );
          const ctxOf = (id: number): number => ctxs.findIndex((c) => c.id === id);
          let ref: RefEntry[] = [];
          for (const o of ops) {
            const c = ctxs[o.ctx] as TlbContext;
            if (o.k === 'fill') {
              const a = at(o.addr);
              const block = Math.floor(a / 2 ** o.shift);
              const oa = (block % 1000) * 2 ** o.shift;
              const i = ref.findIndex(
                (e) => e.ctx === o.ctx && e.shift === o.shift && e.block === block,
              );
              if (i >= 0) ref.splice(i, 1);
              else if (ref.length === cap) ref.shift();
              ref.push({ ctx: o.ctx, shift: o.shift, block, oa });
              tlb.insert(c, a, o.shift, oa, -1, 1, 0xff, 0, 3, 12);
            } else if (o.k === 'lookup') {
              const a = at(o.addr);
              // Smallest block first.
              let hit: RefEntry | undefined;
              for (const sh of SHIFTS) {
                hit = ref.find(
                  (e) => e.ctx === o.ctx && e.shift === sh && e.block === Math.floor(a / 2 ** sh),
                );
                if (hit) break;
              }
              const slot = tlb.lookup(c, a);
              if (!hit) expect(slot).toBe(-1);
              else {
                expect(tlb.outputOf(slot, a)).toBe(hit.oa + (a % 2 ** hit.shift));
                ref = [...ref.filter((e) => e !== hit), hit];
              }
            } else if (o.k === 'all') {
              const n = ref.filter((e) => e.ctx === o.ctx).length;
              ref = ref.filter((e) => e.ctx !== o.ctx);
              expect(tlb.invalidateAll((x) => ctxOf(x.id) === o.ctx, 'all')).toBe(n);
            } else {
              const start = at(o.addr);
              const end = start + o.len;
              const hitBy = (e: RefEntry): boolean =>
                e.ctx === o.ctx &&
                e.block * 2 ** e.shift < end &&
                (e.block + 1) * 2 ** e.shift > start;
              const n = ref.filter(hitBy).length;
              ref = ref.filter((e) => !hitBy(e));
              expect(
                tlb.invalidateRange((x) => ctxOf(x.id) === o.ctx, start, end, undefined, 'r'),
              ).toBe(n);
            }
            expect(tlb.size).toBe(ref.length);
            expect(
              tlb.entries().map((e) => [e.asid, e.size, Number(e.input), Number(e.output)]),
            ).toEqual(ref.map((e) => [e.ctx, 2 ** e.shift, e.block * 2 ** e.shift, e.oa]));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
