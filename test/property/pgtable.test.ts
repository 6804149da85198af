// Property tests of the builder (io-pgtable-arm model) against the walker and an independent
// model, and of nested composition: a nested walk equals S2(S1(x)) computed by two separate
// single-stage walks (IHI 0070 §3.? nested translation; DDI 0487 D8 two-stage translation).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import {
  type Granule,
  IOMMU_PROT,
  IoPgtable,
  type IoPgtableFmt,
  type PageAllocator,
  RegionAllocator,
  type StageParams,
  type TableMemory,
  type WalkMemory,
  walkNested,
  walkS1,
  walkS2,
} from '../../src/pgtable/index.ts';

const { READ, WRITE } = IOMMU_PROT;
const GRANULES: Granule[] = [4096, 16384, 65536];
const BITMAPS: Record<Granule, number> = {
  4096: 4096 + 2 ** 21 + 2 ** 30,
  16384: 16384 + 2 ** 25,
  65536: 65536 + 2 ** 29,
};

interface Region {
  iova: number;
  size: number;
  pa: number;
}

/** Reference: the output address of `a` from a list of disjoint regions (0 = unmapped). */
function modelPhys(regions: Region[], a: number): number {
  for (const r of regions) if (a >= r.iova && a < r.iova + r.size) return r.pa + (a - r.iova);
  return 0;
}

const overlaps = (a: Region, b: Region) => a.iova < b.iova + b.size && b.iova < a.iova + a.size;

describe('builder ↔ walker agreement under random map/unmap sequences', () => {
  for (const granule of GRANULES) {
    for (const fmt of ['ARM_64_LPAE_S1', 'ARM_64_LPAE_S2'] as IoPgtableFmt[]) {
      it(`${granule / 1024}K ${fmt}`, () => {
        const ias = 40;
        // regions: multiples of the granule up to 3 large blocks, aligned to the granule,
        // sometimes aligned to the block size so that blocks get used
        const block = granule === 4096 ? 2 ** 21 : granule === 16384 ? 2 ** 25 : 2 ** 29;
        const region = fc
          .record({
            slot: fc.integer({ min: 0, max: 63 }),
            offPages: fc.integer({ min: 0, max: 7 }),
            pages: fc.integer({ min: 1, max: 8 }),
            blocks: fc.integer({ min: 0, max: 2 }),
            paSlot: fc.integer({ min: 1, max: 1000 }),
          })
          .map(({ slot, offPages, pages, blocks, paSlot }) => ({
            iova: slot * 4 * block + offPages * granule,
            size: pages * granule + blocks * block,
            pa: paSlot * 4 * block + offPages * granule,
          }));
        const op = fc.oneof(
          fc.record({ kind: fc.constant('map' as const), r: region }),
          fc.record({ kind: fc.constant('unmap' as const), which: fc.nat() }),
        );
        fc.assert(
          fc.property(
            fc.array(op, { minLength: 1, maxLength: 25 }),
            fc.array(fc.nat({ max: 2 ** 20 }), { maxLength: 8 }),
            (ops, probes) => {
              const mem = new SparseMemory();
              const alloc = new RegionAllocator(mem, 2 ** 32, 2 ** 30);
              const pt = IoPgtable.create(mem, alloc, {
                fmt,
                pgsizeBitmap: BITMAPS[granule],
                ias,
                oas: 48,
              });
              if (!pt) throw new Error('create');
              const p = pt.stageParams();
              const live: Region[] = [];
              const check = (a: number) => {
                const want = modelPhys(live, a);
                expect(pt.iovaToPhys(a)).toBe(want);
                const rq = { address: a, write: true, exec: false, priv: false };
                const r = fmt === 'ARM_64_LPAE_S1' ? walkS1(mem, p, rq) : walkS2(mem, p, rq);
                if (want === 0) expect(r).toMatchObject({ ok: false, fault: 'translation' });
                else expect(r).toMatchObject({ ok: true, oa: want });
              };
              for (const o of ops) {
                if (o.kind === 'map') {
                  if (o.r.iova + o.r.size > 2 ** ias || live.some((l) => overlaps(l, o.r)))
                    continue;
                  expect(pt.map(o.r.iova, o.r.pa, o.r.size, READ | WRITE)).toBe(0);
                  live.push(o.r);
                  check(o.r.iova);
                  check(o.r.iova + o.r.size - 1);
                } else if (live.length) {
                  const [r] = live.splice(o.which % live.length, 1) as [Region];
                  expect(pt.unmap(r.iova, r.size)).toBe(r.size);
                  check(r.iova);
                }
              }
              for (const r of live) check(r.iova + Math.floor(r.size / 2));
              for (const pr of probes) check(pr * granule + 7);
              // unmapping everything leaves nothing translated (io-pgtable keeps empty tables);
              // freeing the page table returns every table to the allocator
              for (const r of live.splice(0)) {
                expect(pt.unmap(r.iova, r.size)).toBe(r.size);
                check(r.iova);
              }
              pt.free();
              expect(alloc.liveBlocks).toBe(0);
            },
          ),
          { numRuns: 100 },
        );
      });
    }
  }
});

/** Guest RAM view: IPA [0, size) ↔ PA [base, base + size) (a linear VMM memory slot). */
class GuestView implements TableMemory, WalkMemory {
  readonly mem: SparseMemory;
  readonly base: number;
  constructor(mem: SparseMemory, base: number) {
    this.mem = mem;
    this.base = base;
  }
  read64Into(ipa: number, out: Uint32Array): void {
    this.mem.read64Into(ipa + this.base, out);
  }
  write64Split(ipa: number, lo: number, hi: number): void {
    this.mem.write64Split(ipa + this.base, lo, hi);
  }
  get mayAbort(): boolean {
    return this.mem.mayAbort;
  }
  aborts(ipa: number, size: number): boolean {
    return this.mem.aborts(ipa + this.base, size);
  }
}

/** Zeroed tables in guest RAM, allocated by IPA. */
class GuestAllocator implements PageAllocator {
  private readonly inner: RegionAllocator;
  private readonly base: number;
  constructor(mem: SparseMemory, base: number, ipaStart: number, size: number) {
    this.inner = new RegionAllocator(mem, base + ipaStart, size);
    this.base = base;
  }
  alloc(bytes: number): number | undefined {
    const pa = this.inner.alloc(bytes);
    return pa === undefined ? undefined : pa - this.base;
  }
  free(ipa: number, bytes: number): void {
    this.inner.free(ipa + this.base, bytes);
  }
}

describe('nested composition', () => {
  for (const [g1, g2] of [
    [4096, 4096],
    [4096, 65536],
    [16384, 4096],
    [65536, 16384],
  ] as [Granule, Granule][]) {
    it(`nested walk = S2(S1(x)), S1 ${g1 / 1024}K over S2 ${g2 / 1024}K`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ va: fc.nat({ max: 511 }), ipa: fc.nat({ max: 511 }) }), {
            minLength: 1,
            maxLength: 12,
          }),
          fc.array(fc.nat({ max: 511 }), { minLength: 1, maxLength: 12 }),
          fc.array(fc.nat({ max: 511 }), { maxLength: 6 }),
          (s1maps, s2maps, probes) => {
            const mem = new SparseMemory();
            const GUEST_BASE = 2 ** 40; // guest RAM IPA 0 ↔ PA 2^40
            const RAM = 2 ** 28; // 256 MiB of guest RAM holding the S1 tables
            const s2 = IoPgtable.create(mem, new RegionAllocator(mem, 2 ** 36, 2 ** 28), {
              fmt: 'ARM_64_LPAE_S2',
              pgsizeBitmap: BITMAPS[g2],
              ias: 40,
              oas: 48,
            });
            const view = new GuestView(mem, GUEST_BASE);
            const s1 = IoPgtable.create(view, new GuestAllocator(mem, GUEST_BASE, 0, 2 ** 24), {
              fmt: 'ARM_64_LPAE_S1',
              pgsizeBitmap: BITMAPS[g1],
              ias: 39,
              oas: 40,
            });
            if (!s1 || !s2) throw new Error('create');
            // S2 maps the guest RAM linearly, and some data pages at IPA 2^30 + k·g2
            expect(s2.map(0, GUEST_BASE, RAM, READ | WRITE)).toBe(0);
            for (const k of new Set(s2maps)) {
              expect(s2.map(2 ** 30 + k * g2, 2 ** 44 + k * 2 * g2, g2, READ | WRITE)).toBe(0);
            }
            // S1 maps VA pages to IPAs in the data window (some of them unmapped at S2)
            const used = new Set<number>();
            for (const m of s1maps) {
              if (used.has(m.va)) continue;
              used.add(m.va);
              expect(s1.map(m.va * g1, 2 ** 30 + m.ipa * g1, g1, READ | WRITE)).toBe(0);
            }
            const p1: StageParams = s1.stageParams();
            const p2: StageParams = s2.stageParams();
            const vas = [...s1maps.map((m) => m.va), ...probes].map((v) => v * g1 + 0x18);
            for (const va of vas) {
              const rq = { address: va, write: false, exec: false, priv: false };
              const nested = walkNested(mem, p1, p2, rq);
              const one = walkS1(view, p1, rq);
              if (!one.ok) {
                expect(nested).toEqual(one);
                continue;
              }
              const two = walkS2(mem, p2, { ...rq, address: one.oa });
              if (!two.ok) {
                expect(nested).toEqual(two);
                continue;
              }
              expect(nested).toMatchObject({
                ok: true,
                oa: two.oa,
                ipa: one.oa,
                s1Level: one.level,
                s2Level: two.level,
                blockShift: Math.min(one.blockShift, two.blockShift),
              });
            }
          },
        ),
        { numRuns: 60 },
      );
    });
  }
});
