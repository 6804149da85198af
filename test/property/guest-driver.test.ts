// Properties of the guest driver's arithmetic against independent references: the queue index
// helpers (IHI 0070 §3.5.1: a queue pointer is a (QS+1)-bit counter — index below the wrap bit)
// checked against plain counter arithmetic, and the range invalidation of unmap (§4.4.1.1: a range
// TLBI covers (NUM + 1) × 2^SCALE pages from Addr) checked for exact coverage on random ranges
// through the real SMMU model.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LlQueue } from '../../src/guest/queue.ts';
import { DATA_BASE, machine, must } from '../unit/guest-kit.ts';

describe('LlQueue against a counter reference', () => {
  it('advances, measures and compares pointers like a (shift+1)-bit counter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 19 }),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (shift, a, n, ovf) => {
          const q = new LlQueue(shift, 0, 16, 0, 4);
          const size = 2 ** shift;
          const span = 2 * size;
          const p = a % span;
          const step = n % (size + 1);
          const withOvf = ovf ? p + 2 ** 31 : p;
          // incN: counter + n modulo 2^(shift+1), overflow flag kept.
          const next = q.incN(withOvf, step);
          expect(next % 2 ** 31).toBe((p + step) % span);
          expect(next >= 2 ** 31).toBe(ovf);
          // idx/wrp split the counter.
          expect(q.idx(p)).toBe(p % size);
          expect(q.wrp(p)).toBe(p >= size ? size : 0);
          // used(prod, cons) = (prod − cons) mod 2^(shift+1) for consistent pairs.
          const cons = p;
          const prod = (p + step) % span;
          expect(q.used(prod, cons)).toBe(step);
          q.prod = prod;
          q.cons = cons;
          expect(q.hasSpace(size - step)).toBe(true);
          expect(q.hasSpace(size - step + 1)).toBe(false);
          expect(q.full).toBe(step === size);
          expect(q.empty).toBe(step === 0);
          // consumed(cons', prod) ⇔ cons' has moved past the entry at prod.
          const past = (prod + 1) % span;
          expect(q.consumed(past, prod)).toBe(true);
          expect(q.consumed(prod, prod)).toBe(false);
        },
      ),
    );
  });
});

describe('unmap invalidation tiles the unmapped range', () => {
  it('range TLBIs cover exactly the unmapped pages, for random sizes and offsets', () => {
    const m = machine();
    const dev = must(m.driver.addDevice({ name: 'd', sids: [1] }));
    const dom = must(m.driver.allocDomain());
    expect(m.driver.attach(dev, dom)).toBe(0);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 700 }),
        fc.integer({ min: 0, max: 511 }),
        (pages, off) => {
          const iova = 0x10_0000_0000 + off * 4096;
          expect(m.driver.map(dom, iova, DATA_BASE, pages * 4096)).toBe(0);
          const mark = m.smmu.commandMark();
          expect(m.driver.unmap(dom, iova, pages * 4096)).toBe(pages * 4096);
          const covered: [number, number][] = [];
          for (const c of m.smmu.commandsSince(mark)) {
            if (c.name !== 'TLBI_NH_VA') continue;
            const num = Number((c.words[0] >> 12n) & 0x1fn);
            const scale = Number((c.words[0] >> 20n) & 0x1fn);
            const start = Number(c.words[1] >> 12n) * 4096;
            covered.push([start, start + (num + 1) * 2 ** scale * 4096]);
          }
          covered.sort((x, y) => x[0] - y[0]);
          // The union is exactly [iova, iova + size): no gap, nothing outside. Overlaps are legal
          // over-invalidation (a freed table is flushed as a walk and, depending on the io-pgtable
          // version, also gathered as a block).
          let at = iova;
          for (const [s, e] of covered) {
            expect(s).toBeGreaterThanOrEqual(iova);
            expect(s).toBeLessThanOrEqual(at);
            at = Math.max(at, e);
          }
          expect(at).toBe(iova + pages * 4096);
        },
      ),
      { numRuns: 60 },
    );
  });
});
