// The TLB's hash index (src/smmu/tlb.ts: open addressing, backward-shift deletion) and its
// replacement policies against a plain reference: a list of entries in replacement order (next
// victim candidate first), looked up by linear search over (context, block size, block number).
// LRU: a hit or refill moves the entry to the back, the front is evicted; FIFO: only a refill
// moves it; CLOCK (second chance): a fill or hit sets the entry's reference bit, eviction takes
// the front entry without one, moving every front entry that had one to the back with its bit
// cleared. Random sequences of fills, lookups, invalidations by context and by range on a small
// TLB over a pool of 16 random addresses, so that eviction, bucket collisions and deletions
// inside probe chains happen often; after every step both must hold the same entries in the
// same order and answer lookups alike.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TLB_KIND, Tlb, type TlbContext } from '../../src/smmu/tlb.ts';

interface RefEntry {
  ctx: number;
  shift: number;
  block: number;
  oa: number;
  /** CLOCK reference bit. */
  used: boolean;
}

const SHIFTS = [12, 21, 30] as const;
/** An address: index into the run's pool, plus an offset. */
const addr = fc.tuple(fc.nat(15), fc.nat(4095));
// Fills and lookups dominate (invalidations would keep the TLB from filling up), so that
// evictions with mixed reference bits happen in most runs.
const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('fill' as const),
      ctx: fc.nat(2),
      shift: fc.constantFrom(...SHIFTS),
      addr,
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('lookup' as const), ctx: fc.nat(2), addr }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('all' as const), ctx: fc.nat(2) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('range' as const),
      ctx: fc.nat(2),
      addr,
      len: fc.integer({ min: 1, max: 2 ** 22 }),
    }),
  },
);

describe.each(['lru', 'fifo', 'clock'] as const)('TLB hash index, %s replacement', (policy) => {
  it('behaves like a linear-search list in replacement order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.nat(2 ** 34), { minLength: 16, maxLength: 16 }),
        fc.array(op, { maxLength: 120 }),
        (cap, pool, ops) => {
          const at = ([i, off]: [number, number]): number => (pool[i] as number) + off;
          const tlb = new Tlb(cap, policy);
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
              const entry = { ctx: o.ctx, shift: o.shift, block, oa, used: true };
              if (i >= 0) {
                // A refill replaces the payload; LRU and FIFO count it as the newest.
                if (policy === 'clock') ref[i] = entry;
                else {
                  ref.splice(i, 1);
                  ref.push(entry);
                }
              } else {
                if (ref.length === cap) {
                  if (policy === 'clock') {
                    while ((ref[0] as RefEntry).used) {
                      const first = ref.shift() as RefEntry;
                      ref.push({ ...first, used: false });
                    }
                  }
                  ref.shift();
                }
                ref.push(entry);
              }
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
                if (policy === 'lru') ref = [...ref.filter((e) => e !== hit), hit];
                hit.used = true;
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
