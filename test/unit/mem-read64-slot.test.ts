// SparseMemory.read64IntoSlot (src/mem/sparse-memory.ts): the page-number form of read64Into
// used by the table walker. It must behave exactly as read64Into at pa = pfn·4096 + 8·slot: the
// same words, access count, observer record and page cache, and reject what read64Into rejects.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VsmmuError } from '../../src/arch/errors.ts';
import { type MemAccess, SparseMemory } from '../../src/mem/sparse-memory.ts';

/** Error code of what `f` throws (undefined when it returns). */
function codeOf(f: () => void): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof VsmmuError ? e.code : `not a VsmmuError: ${String(e)}`;
  }
  return undefined;
}

describe('SparseMemory.read64IntoSlot', () => {
  it('reads the word last written at pfn·4096 + 8·slot (zero if never), as read64 does', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            pfn: fc.nat({ max: 2 ** 31 - 1 }),
            slot: fc.nat({ max: 511 }),
            v: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 511 })), { minLength: 1, maxLength: 20 }),
        (writes, probes) => {
          const mem = new SparseMemory();
          const model = new Map<number, bigint>(); // pa → last value written (reference)
          for (const w of writes) {
            mem.write64(w.pfn * 4096 + w.slot * 8, w.v);
            model.set(w.pfn * 4096 + w.slot * 8, w.v);
          }
          const out = new Uint32Array(2);
          // Probe written words, their neighbours and never-written pages.
          const spots: [number, number][] = writes.flatMap((w) => [
            [w.pfn, w.slot] as [number, number],
            [w.pfn, (w.slot + 1) % 512] as [number, number],
          ]);
          for (const [k, slot] of probes) spots.push([k % 2 ** 31, slot]);
          for (const [pfn, slot] of spots) {
            const pages = mem.pageCount;
            mem.read64IntoSlot(pfn, slot, out);
            const want = model.get(pfn * 4096 + slot * 8) ?? 0n;
            expect(mem.read64(pfn * 4096 + slot * 8)).toBe(want);
            expect(out[0]).toBe(Number(want & 0xffff_ffffn));
            expect(out[1]).toBe(Number(want >> 32n));
            expect(mem.pageCount).toBe(pages);
          }
        },
      ),
    );
  });

  it('counts one access and reports the byte address to observers', () => {
    const mem = new SparseMemory();
    mem.write64Split(0x1234_5000 + 8 * 7, 0xdead_beef, 0x0bad_f00d);
    const seen: MemAccess[] = [];
    mem.observe((a) => seen.push(a));
    const out = new Uint32Array(2);
    const before = mem.accesses;
    mem.read64IntoSlot(0x1_2345, 7, out);
    expect(mem.accesses - before).toBe(1);
    expect(seen).toEqual([{ kind: 'read', pa: 0x1234_5000 + 56, size: 8 }]);
    expect([out[0], out[1]]).toEqual([0xdead_beef, 0x0bad_f00d]);
  });

  it('follows writes made through the other entry points (one page cache)', () => {
    const mem = new SparseMemory();
    const out = new Uint32Array(2);
    mem.read64IntoSlot(5, 3, out); // unbacked: zeros, nothing allocated
    expect([out[0], out[1], mem.pageCount]).toEqual([0, 0, 0]);
    mem.write32(5 * 4096 + 24, 0x1111_1111);
    mem.read64IntoSlot(5, 3, out);
    expect([out[0], out[1]]).toEqual([0x1111_1111, 0]);
    mem.write64(5 * 4096 + 24, 0x2222_2222_3333_3333n);
    mem.read64IntoSlot(5, 3, out);
    expect([out[0], out[1]]).toEqual([0x3333_3333, 0x2222_2222]);
  });

  it('rejects what read64Into rejects, and arguments outside its contract', () => {
    const mem = new SparseMemory({ paBits: 32 });
    const out = new Uint32Array(2);
    // Last word of the 32-bit space is fine; the next page is beyond it, as for read64Into.
    expect(codeOf(() => mem.read64IntoSlot(2 ** 20 - 1, 511, out))).toBeUndefined();
    expect(codeOf(() => mem.read64Into(2 ** 32, out))).toBe('OUT_OF_RANGE');
    expect(codeOf(() => mem.read64IntoSlot(2 ** 20, 0, out))).toBe('OUT_OF_RANGE');
    for (const [pfn, slot] of [
      [-1, 0],
      [0.5, 0],
      [2 ** 31, 0],
      [Number.NaN, 0],
      [0, 512],
      [0, -1],
      [0, 1.5],
    ] as const) {
      expect(codeOf(() => new SparseMemory().read64IntoSlot(pfn, slot, out))).toBe('BAD_ARGUMENT');
    }
  });
});
