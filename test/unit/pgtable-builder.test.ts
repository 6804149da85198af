// io-pgtable-arm builder (src/pgtable/builder.ts) against the behaviour of
// drivers/iommu/io-pgtable-arm.c (v6.17 era) and drivers/iommu/iommu.c (iommu_pgsize, map/unmap
// loops). Expected descriptors are composed here from the kernel's ARM_LPAE_PTE_* literals
// following arm_lpae_prot_to_pte, never read back from the code under test.
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../src/arch/errno.ts';
import { PTE64 } from '../../src/arch/pte.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import {
  IOMMU_PROT,
  IoPgtable,
  type IoPgtableConfig,
  iommuPgsize,
  RegionAllocator,
  restrictPgsizes,
  type TlbOp,
  UNMAP_ENOENT,
  walkS1,
  walkS2,
} from '../../src/pgtable/index.ts';

const { READ, WRITE, CACHE, NOEXEC, MMIO, PRIV } = IOMMU_PROT;
const SZ_4K = 4096;
const SZ_2M = 2 ** 21;
const SZ_1G = 2 ** 30;
const BM_4K = SZ_4K + SZ_2M + SZ_1G;

function setup(cfg: Partial<IoPgtableConfig> = {}, region = 0x1000_0000) {
  const mem = new SparseMemory();
  const alloc = new RegionAllocator(mem, 0x100_0000, region);
  const ops: TlbOp[] = [];
  const pt = IoPgtable.create(mem, alloc, {
    fmt: 'ARM_64_LPAE_S1',
    pgsizeBitmap: BM_4K,
    ias: 48,
    oas: 48,
    tlb: (op) => ops.push(op),
    ...cfg,
  });
  if (!pt) throw new Error('create failed');
  return { mem, alloc, pt, ops };
}

/** The leaf descriptor for `iova`, read by a plain bigint walk of the table (test-side reference). */
function leafOf(mem: SparseMemory, pt: IoPgtable, iova: number): { desc: bigint; level: number } {
  const g = pt.geometry;
  let table = BigInt(pt.pgd);
  for (let level = g.startLevel; level <= 3; level++) {
    const shift = BigInt(g.pgShift + (3 - level) * g.bitsPerLevel);
    const bits = BigInt(level === g.startLevel ? g.pgdBits : g.bitsPerLevel);
    const i = (BigInt(iova) >> shift) & ((1n << bits) - 1n);
    const desc = mem.read64(Number(table + i * 8n));
    const type = desc & 3n;
    if ((level < 3 && type === 1n) || (level === 3 && type === 3n) || type === 0n)
      return { desc, level };
    table = desc & 0xffff_ffff_f000n;
  }
  throw new Error('unreachable');
}

describe('arm_lpae_prot_to_pte', () => {
  const page = (pa: number) => BigInt(pa) | PTE64.TYPE_PAGE;
  it('stage 1', () => {
    const { mem, pt } = setup();
    const pa = 0x12_3456_7000;
    const cases: [number, bigint][] = [
      // READ only → nG | AP_RDONLY | AP_UNPRIV | SH_OS | AF
      [READ, PTE64.NG | PTE64.AP_RDONLY | PTE64.AP_UNPRIV | PTE64.SH_OS | PTE64.AF],
      // READ|WRITE|CACHE → AttrIndx 1, SH_IS
      [READ | WRITE | CACHE, PTE64.NG | PTE64.AP_UNPRIV | (1n << 2n) | PTE64.SH_IS | PTE64.AF],
      // MMIO → AttrIndx 2; NOEXEC → XN bits; PRIV → no AP_UNPRIV
      [
        READ | WRITE | MMIO | NOEXEC | PRIV,
        PTE64.NG | (2n << 2n) | PTE64.SH_OS | PTE64.XN | PTE64.AF,
      ],
    ];
    let iova = 0;
    for (const [prot, bits] of cases) {
      iova += SZ_4K;
      expect(pt.mapPages(iova, pa, SZ_4K, 1, prot).ret).toBe(0);
      expect(leafOf(mem, pt, iova).desc).toBe(page(pa) | bits);
    }
  });

  it('stage 1 with the ARM_HD quirk puts DBM on writable leaves', () => {
    const { mem, pt } = setup({ quirks: { armHd: true } });
    pt.mapPages(0, 0x4000, SZ_4K, 1, READ | WRITE);
    pt.mapPages(SZ_4K, 0x5000, SZ_4K, 1, READ);
    expect(leafOf(mem, pt, 0).desc & PTE64.DBM).toBe(PTE64.DBM);
    expect(leafOf(mem, pt, SZ_4K).desc & (PTE64.DBM | PTE64.AP_RDONLY)).toBe(PTE64.AP_RDONLY);
  });

  it('stage 2 (with and without S2FWB)', () => {
    for (const fwb of [false, true]) {
      const { mem, pt } = setup({ fmt: 'ARM_64_LPAE_S2', quirks: { armS2fwb: fwb } });
      const pa = 0x8_0000_0000;
      const cacheAttr = fwb ? PTE64.MEMATTR_FWB_WB : PTE64.MEMATTR_OIWB;
      const cases: [number, bigint][] = [
        [
          READ | WRITE | CACHE,
          PTE64.HAP_READ | PTE64.HAP_WRITE | cacheAttr | PTE64.SH_IS | PTE64.AF,
        ],
        [READ, PTE64.HAP_READ | PTE64.MEMATTR_NC | PTE64.SH_OS | PTE64.AF],
        [
          WRITE | MMIO | NOEXEC,
          PTE64.HAP_WRITE | PTE64.MEMATTR_DEV | PTE64.SH_OS | PTE64.XN | PTE64.AF,
        ],
      ];
      let iova = 0;
      for (const [prot, bits] of cases) {
        iova += SZ_2M;
        expect(pt.mapPages(iova, pa, SZ_2M, 1, prot).ret).toBe(0);
        // a 2M block at level 2 has type 1
        expect(leafOf(mem, pt, iova)).toEqual({ desc: BigInt(pa) | 1n | bits, level: 2 });
      }
    }
  });
});

describe('map_pages / unmap_pages', () => {
  it('argument errors: -EINVAL, -ERANGE', () => {
    const { pt } = setup({ ias: 39, oas: 40 });
    expect(pt.mapPages(0, 0, SZ_4K, 1, 0).ret).toBe(-ERRNO.EINVAL); // no READ/WRITE
    expect(pt.mapPages(0, 0, 8192, 1, READ).ret).toBe(-ERRNO.EINVAL); // not in the bitmap
    expect(pt.mapPages(2 ** 39, 0, SZ_4K, 1, READ).ret).toBe(-ERRNO.ERANGE);
    expect(pt.mapPages(0, 2 ** 40, SZ_4K, 1, READ).ret).toBe(-ERRNO.ERANGE);
    expect(pt.unmapPages(0, 8192, 1)).toBe(0);
    expect(pt.unmapPages(0, SZ_4K, 0)).toBe(0);
    expect(pt.unmapPages(2 ** 39, SZ_4K, 1)).toBe(0);
  });

  it('-EEXIST over an existing leaf, also above the target level', () => {
    const { pt } = setup();
    expect(pt.mapPages(SZ_2M, SZ_2M, SZ_2M, 1, READ).ret).toBe(0);
    expect(pt.mapPages(SZ_2M, 0, SZ_2M, 1, READ).ret).toBe(-ERRNO.EEXIST);
    expect(pt.mapPages(SZ_2M + SZ_4K, 0, SZ_4K, 1, READ).ret).toBe(-ERRNO.EEXIST);
    expect(pt.iovaToPhys(SZ_2M + 5)).toBe(SZ_2M + 5);
  });

  it('a block over a table frees the old sub-table with one walk flush', () => {
    const { pt, alloc, ops } = setup();
    expect(pt.mapPages(SZ_2M, 0x10_0000_0000, SZ_4K, 3, READ).ret).toBe(0);
    const tablesWithLeafTable = alloc.liveBlocks; // pgd + L1 + L2 + L3
    expect(tablesWithLeafTable).toBe(4);
    ops.length = 0;
    expect(pt.mapPages(SZ_2M, 0x20_0000_0000, SZ_2M, 1, READ | WRITE).ret).toBe(0);
    expect(alloc.liveBlocks).toBe(3);
    expect(ops).toEqual([{ op: 'flush_walk', iova: SZ_2M, size: SZ_2M, granule: SZ_4K }]);
    expect(pt.iovaToPhys(SZ_2M + 0x1234)).toBe(0x20_0000_1234);
  });

  it('installs at most one table worth of entries per call', () => {
    const { pt } = setup();
    // 3 pages starting at the last-but-one entry of an L3 table: only 2 fit
    const iova = SZ_2M - 2 * SZ_4K;
    const r = pt.mapPages(iova, 0x4000_0000, SZ_4K, 3, READ);
    expect(r).toEqual({ ret: 0, mapped: 2 * SZ_4K });
    expect(pt.iovaToPhys(SZ_2M)).toBe(0);
  });

  it('unmap: bytes, add_page per entry, stop at the first empty entry', () => {
    const { pt, ops } = setup();
    pt.mapPages(0, 0x4000_0000, SZ_4K, 4, READ);
    ops.length = 0;
    expect(pt.unmapPages(SZ_4K, SZ_4K, 5)).toBe(3 * SZ_4K);
    expect(ops).toEqual(
      [1, 2, 3].map((k) => ({ op: 'add_page', iova: k * SZ_4K, granule: SZ_4K })),
    );
    expect(pt.iovaToPhys(0)).toBe(0x4000_0000);
    expect(pt.iovaToPhys(SZ_4K)).toBe(0);
    ops.length = 0;
    expect(pt.unmapPages(0, SZ_4K, 1, false)).toBe(SZ_4K);
    expect(ops).toEqual([]); // NULL gather
  });

  it('no partial unmap of a block; unmapping a table-level size frees the table', () => {
    const { pt, alloc, ops } = setup();
    pt.mapPages(SZ_1G, SZ_1G, SZ_1G, 1, READ);
    expect(pt.unmapPages(SZ_1G + SZ_2M, SZ_2M, 1)).toBe(0);
    expect(pt.iovaToPhys(SZ_1G + SZ_2M)).toBe(SZ_1G + SZ_2M);
    pt.mapPages(0, 0, SZ_4K, 2, READ);
    const before = alloc.liveBlocks;
    ops.length = 0;
    expect(pt.unmapPages(0, SZ_2M, 1)).toBe(SZ_2M);
    expect(alloc.liveBlocks).toBe(before - 1);
    expect(ops).toEqual([
      { op: 'flush_walk', iova: 0, size: SZ_2M, granule: SZ_4K },
      { op: 'add_page', iova: 0, granule: SZ_2M },
    ]);
  });

  it('empty entry on unmap: -ENOENT quirk (v6.17) or 0', () => {
    expect(setup().pt.unmapPages(0, SZ_4K, 1)).toBe(UNMAP_ENOENT);
    expect(UNMAP_ENOENT).toBe(-ERRNO.ENOENT);
    expect(setup({ emptyUnmap: 'zero' }).pt.unmapPages(0, SZ_4K, 1)).toBe(0);
    expect(setup().pt.unmap(0, SZ_4K)).toBe(UNMAP_ENOENT);
  });

  it('-ENOMEM when the allocator runs dry', () => {
    const { pt } = setup({}, 3 * 4096); // pgd + 2 tables
    expect(pt.mapPages(0, 0, SZ_4K, 1, READ).ret).toBe(-ERRNO.ENOMEM);
  });

  it('52-bit output with 64K (FEAT_LPA): OA[51:48] in bits [15:12], 4T blocks', () => {
    const { mem, pt } = setup({ pgsizeBitmap: 65536 + 2 ** 29 + 2 ** 42, ias: 52, oas: 52 });
    expect(pt.pgsizeBitmap).toBe(65536 + 2 ** 29 + 2 ** 42);
    const pa = 0xf_1234_5678_0000;
    expect(pt.mapPages(0x3_0000, pa, 65536, 1, READ).ret).toBe(0);
    const { desc } = leafOf(mem, pt, 0x3_0000);
    expect((desc >> 12n) & 0xfn).toBe(0xfn);
    expect(desc & 0xffff_ffff_0000n).toBe(BigInt(pa) & 0xffff_ffff_0000n);
    expect(pt.iovaToPhys(0x3_0042)).toBe(pa + 0x42);
    expect(pt.mapPages(2 ** 42, 2 ** 43, 2 ** 42, 1, READ).ret).toBe(0);
    expect(pt.iovaToPhys(2 ** 42 + 5)).toBe(2 ** 43 + 5);
    const w = walkS1(mem, pt.stageParams(), {
      address: 0x3_0042,
      write: false,
      exec: false,
      priv: false,
    });
    expect(w.ok && w.oa).toBe(pa + 0x42);
    // without OAS > 48 the 4T size is not offered
    expect(restrictPgsizes(65536 + 2 ** 29 + 2 ** 42, 48, 48).pgsizeBitmap).toBe(65536 + 2 ** 29);
  });
});

describe('alloc_io_pgtable_ops', () => {
  const mem = new SparseMemory();
  const alloc = new RegionAllocator(mem, 0x100_0000, 0x100_0000);
  const base = { pgsizeBitmap: BM_4K, ias: 48, oas: 48 };
  it('rejects what the kernel rejects', () => {
    expect(
      IoPgtable.create(mem, alloc, { ...base, fmt: 'ARM_64_LPAE_S2', quirks: { armHd: true } }),
    ).toBeUndefined();
    expect(
      IoPgtable.create(mem, alloc, { ...base, fmt: 'ARM_64_LPAE_S1', quirks: { armS2fwb: true } }),
    ).toBeUndefined();
    expect(
      IoPgtable.create(mem, alloc, {
        ...base,
        fmt: 'ARM_64_LPAE_S1',
        quirks: { armOuterWbwa: true },
      }),
    ).toBeUndefined();
    expect(
      IoPgtable.create(mem, alloc, { ...base, fmt: 'ARM_64_LPAE_S2', oas: 42 }),
    ).toBeUndefined();
    expect(
      IoPgtable.create(mem, alloc, { ...base, fmt: 'ARM_64_LPAE_S1', pgsizeBitmap: 8192 }),
    ).toBeUndefined();
  });

  it('TCR / VTCR / MAIR values', () => {
    const s1 = IoPgtable.create(mem, alloc, { ...base, fmt: 'ARM_64_LPAE_S1', ias: 39, oas: 44 });
    expect(s1?.tcr).toEqual({ tsz: 25, tg: 0, sh: 3, irgn: 1, orgn: 1, ps: 4, sl: 0 });
    // MAIR: idx0 0x44, idx1 0xff, idx2 0x04, idx3 0xf4
    expect(s1?.mair).toBe(0xf4_04_ff_44n);
    const s2 = IoPgtable.create(mem, alloc, {
      ...base,
      fmt: 'ARM_64_LPAE_S2',
      pgsizeBitmap: 16384 + 2 ** 25,
      ias: 40,
      oas: 40,
      coherentWalk: false,
    });
    // 16K, 40/40: concatenated start level 2 → SL0 = ~2 & 3 = 1
    expect(s2?.tcr).toEqual({ tsz: 24, tg: 2, sh: 2, irgn: 0, orgn: 0, ps: 2, sl: 1 });
  });

  it('picks the CPU page size as granule when offered (arm_lpae_restrict_pgsizes)', () => {
    expect(restrictPgsizes(4096 + 65536 + 2 ** 29, 48, 48).pgsizeBitmap).toBe(4096);
    expect(restrictPgsizes(4096 + 65536 + 2 ** 29, 48, 48, 65536).pgsizeBitmap).toBe(
      65536 + 2 ** 29,
    );
    expect(restrictPgsizes(16384 + 65536, 52, 52).pgsizeBitmap).toBe(16384);
    expect(restrictPgsizes(16384, 52, 52)).toEqual({ pgsizeBitmap: 16384, ias: 48, oas: 48 });
  });
});

describe('iommu core map/unmap splitting', () => {
  it('iommu_pgsize picks the largest size aligned for both addresses', () => {
    expect(iommuPgsize(BM_4K, 0x1ff000, 0x1ff000, 0x202000)).toEqual({ pgsize: SZ_4K, count: 1 });
    expect(iommuPgsize(BM_4K, SZ_2M, SZ_2M, SZ_2M + SZ_4K)).toEqual({ pgsize: SZ_2M, count: 1 });
    // misaligned relative offset: no 2M pages, all 4K
    expect(iommuPgsize(BM_4K, 0, SZ_4K, 4 * SZ_2M)).toEqual({ pgsize: SZ_4K, count: 2048 });
    // stops the 4K run at the next 2M boundary when a 2M page fits after it
    expect(iommuPgsize(BM_4K, SZ_2M - SZ_4K, SZ_2M - SZ_4K, 3 * SZ_2M)).toEqual({
      pgsize: SZ_4K,
      count: 1,
    });
  });

  it('map() uses 4K + 2M + 4K for an unaligned span and unmap() removes it', () => {
    const { mem, pt } = setup();
    expect(pt.map(0x1ff000, 0x1ff000, 0x202000, READ | WRITE)).toBe(0);
    const levels = [0x1ff000, 0x200000, 0x3ff000, 0x400000].map((a) => leafOf(mem, pt, a).level);
    expect(levels).toEqual([3, 2, 2, 3]);
    expect(pt.unmap(0x1ff000, 0x202000)).toBe(0x202000);
    expect(pt.iovaToPhys(0x300000)).toBe(0);
    expect(pt.map(SZ_4K + 1, 0, SZ_4K, READ)).toBe(-ERRNO.EINVAL);
  });

  it('map() rolls back what it mapped when a later page exists', () => {
    const { pt } = setup();
    pt.mapPages(3 * SZ_4K, 0x9000_0000, SZ_4K, 1, READ);
    expect(pt.map(0, 0x5000_0000, 4 * SZ_4K, READ)).toBe(-ERRNO.EEXIST);
    expect(pt.iovaToPhys(0)).toBe(0);
    expect(pt.iovaToPhys(2 * SZ_4K)).toBe(0);
    expect(pt.iovaToPhys(3 * SZ_4K)).toBe(0x9000_0000);
  });
});

describe('stage 2 tables walk as the walker expects', () => {
  it('concatenated pgd (4K, 40/40)', () => {
    const { mem, pt } = setup({ fmt: 'ARM_64_LPAE_S2', ias: 40, oas: 40 });
    expect(pt.geometry.concatTables).toBe(2);
    const iova = 2 ** 40 - SZ_4K;
    expect(pt.map(iova, 0x55_0000_0000, SZ_4K, READ | WRITE)).toBe(0);
    const r = walkS2(mem, pt.stageParams(), {
      address: iova + 8,
      write: true,
      exec: false,
      priv: false,
    });
    expect(r.ok && r.oa).toBe(0x55_0000_0008);
  });
});
