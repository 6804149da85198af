// Descriptor field tables (src/arch/pte.ts) and bit constants. Expected constants are the
// literals of drivers/iommu/io-pgtable-arm.c (ARM_LPAE_PTE_*, v6.17 era), written here as the
// kernel writes them; field positions are derived from the VMSAv8-64 rules (Arm DDI 0487 D8.3)
// written out in each test.
import { describe, expect, it } from 'vitest';
import { getBits } from '../../src/arch/bits.ts';
import { checkTable, decodeStruct, encodeValues, findField } from '../../src/arch/fields.ts';
import {
  blockAllowed,
  PTE_HI,
  PTE_LO,
  PTE64,
  type PteGranule,
  pteForm,
  pteStruct,
} from '../../src/arch/pte.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import { IOMMU_PROT, IoPgtable, RegionAllocator } from '../../src/pgtable/index.ts';

const GRANULES: PteGranule[] = [4096, 16384, 65536];

describe('io-pgtable-arm constants', () => {
  it('match the kernel literals', () => {
    expect(PTE64.NSTABLE).toBe(1n << 63n); // ARM_LPAE_PTE_NSTABLE ((arm_lpae_iopte)1) << 63
    expect(PTE64.XN).toBe(3n << 53n); // ARM_LPAE_PTE_XN ((arm_lpae_iopte)3) << 53
    expect(PTE64.DBM).toBe(1n << 51n); // ARM_LPAE_PTE_DBM
    expect(PTE64.AF).toBe(1n << 10n); // ARM_LPAE_PTE_AF
    expect(PTE64.SH_NS).toBe(0n); // ARM_LPAE_PTE_SH_NS (0 << 8)
    expect(PTE64.SH_OS).toBe(2n << 8n); // ARM_LPAE_PTE_SH_OS
    expect(PTE64.SH_IS).toBe(3n << 8n); // ARM_LPAE_PTE_SH_IS
    expect(PTE64.NS).toBe(1n << 5n); // ARM_LPAE_PTE_NS
    expect(PTE64.VALID).toBe(1n); // ARM_LPAE_PTE_VALID
    expect(PTE64.SW_SYNC).toBe(1n << 55n); // ARM_LPAE_PTE_SW_SYNC
    expect(PTE64.AP_UNPRIV).toBe(1n << 6n); // ARM_LPAE_PTE_AP_UNPRIV
    expect(PTE64.AP_RDONLY).toBe(1n << 7n); // ARM_LPAE_PTE_AP_RDONLY_BIT 7
    expect(PTE64.NG).toBe(1n << 11n); // ARM_LPAE_PTE_nG
    expect(PTE64.ATTRINDX_SHIFT).toBe(2n); // ARM_LPAE_PTE_ATTRINDX_SHIFT
    expect(PTE64.HAP_READ).toBe(1n << 6n); // ARM_LPAE_PTE_HAP_READ
    expect(PTE64.HAP_WRITE).toBe(2n << 6n); // ARM_LPAE_PTE_HAP_WRITE
    expect(PTE64.MEMATTR_OIWB).toBe(0xfn << 2n); // ARM_LPAE_PTE_MEMATTR_OIWB
    expect(PTE64.MEMATTR_NC).toBe(0x5n << 2n); // ARM_LPAE_PTE_MEMATTR_NC
    expect(PTE64.MEMATTR_DEV).toBe(0x1n << 2n); // ARM_LPAE_PTE_MEMATTR_DEV
    expect(PTE64.MEMATTR_FWB_WB).toBe(0x6n << 2n); // ARM_LPAE_PTE_MEMATTR_FWB_WB
    expect(PTE64.ADDR_MASK).toBe(0x0000_ffff_ffff_f000n); // GENMASK_ULL(47, 12)
    expect([PTE64.TYPE_BLOCK, PTE64.TYPE_TABLE, PTE64.TYPE_PAGE]).toEqual([1n, 3n, 3n]);
  });

  it('number-path halves agree with the 64-bit masks', () => {
    const lo = (m: bigint) => Number(m & 0xffff_ffffn);
    const hi = (m: bigint) => Number(m >> 32n);
    expect(PTE_LO.AF).toBe(lo(PTE64.AF));
    expect(PTE_LO.NG).toBe(lo(PTE64.NG));
    expect(PTE_LO.NS).toBe(lo(PTE64.NS));
    expect(PTE_LO.AP_UNPRIV).toBe(lo(PTE64.AP_UNPRIV));
    expect(PTE_LO.AP_RDONLY).toBe(lo(PTE64.AP_RDONLY));
    expect(PTE_LO.S2AP_READ).toBe(lo(PTE64.HAP_READ));
    expect(PTE_LO.S2AP_WRITE).toBe(lo(PTE64.HAP_WRITE));
    expect(PTE_LO.SH_MASK).toBe(lo(PTE64.SH_IS));
    expect(PTE_HI.DBM).toBe(hi(PTE64.DBM));
    expect(PTE_HI.CONT).toBe(hi(PTE64.CONT));
    expect(PTE_HI.S2XN_MASK).toBe(hi(PTE64.XN));
    expect(PTE_HI.UXN | PTE_HI.PXN).toBe(hi(PTE64.XN));
    expect(PTE_HI.NSTABLE >>> 0).toBe(hi(PTE64.NSTABLE));
    expect((PTE_HI.APTABLE_NOEL0 | PTE_HI.APTABLE_RDONLY) >>> 0).toBe(hi(PTE64.APTABLE));
    expect(PTE_HI.XNTABLE).toBe(hi(PTE64.XNTABLE));
    expect(PTE_HI.PXNTABLE).toBe(hi(PTE64.PXNTABLE));
    expect(PTE_HI.SW_MASK).toBe(hi(0xfn << 55n));
  });
});

describe('pteStruct', () => {
  it('every form is a sound table', () => {
    for (const stage of [1, 2] as const) {
      for (const granule of GRANULES) {
        for (const ds of [false, true]) {
          for (
            let level = granule === 65536 ? 1 : granule === 4096 && ds ? -1 : 0;
            level <= 3;
            level++
          ) {
            for (const w of [0n, 1n, 3n]) {
              const def = pteStruct(stage, granule, level, ds, w);
              expect(checkTable(def), def.name).toEqual([]);
            }
          }
        }
      }
    }
  });

  it('picks the form from the type bits', () => {
    expect(pteForm(3)).toBe('page');
    expect(pteForm(1)).toBe('table');
    expect(pteForm(2, 0x1n)).toBe('block');
    expect(pteForm(2, 0x3n)).toBe('table');
    expect(pteForm(3, 0x3n)).toBe('page');
    expect(pteForm(3, 0x1n)).toBe('invalid');
    expect(pteForm(0, 0x2n)).toBe('invalid');
    expect(pteStruct(1, 4096, 2, false, 1n).name).toBe('pte-s1-4k-l2-block');
    expect(() => pteStruct(1, 4096, 4, false)).toThrow(RangeError);
    expect(() => pteStruct(1, 65536, 0, false)).toThrow(RangeError);
    expect(() => pteStruct(1, 4096, -1, false)).toThrow(RangeError);
    expect(pteStruct(1, 4096, -1, true).name).toBe('pte-s1-4k-l-1-table-ds');
  });

  it('stage-1 page fields sit where DDI 0487 puts them', () => {
    const def = pteStruct(1, 4096, 3, false, 3n);
    const pos = (n: string) => {
      const f = findField(def, n);
      return [f.hi, f.lo];
    };
    expect(pos('AttrIndx')).toEqual([4, 2]);
    expect(pos('NS')).toEqual([5, 5]);
    expect(pos('AP')).toEqual([7, 6]);
    expect(pos('SH')).toEqual([9, 8]);
    expect(pos('AF')).toEqual([10, 10]);
    expect(pos('nG')).toEqual([11, 11]);
    expect(pos('OA')).toEqual([47, 12]);
    expect(pos('DBM')).toEqual([51, 51]);
    expect(pos('Contiguous')).toEqual([52, 52]);
    expect(pos('PXN')).toEqual([53, 53]);
    expect(pos('UXN')).toEqual([54, 54]);
  });

  it('stage-2 leaf and table fields', () => {
    const leaf = pteStruct(2, 16384, 3, false, 3n);
    expect([findField(leaf, 'MemAttr').hi, findField(leaf, 'MemAttr').lo]).toEqual([5, 2]);
    expect([findField(leaf, 'S2AP').hi, findField(leaf, 'S2AP').lo]).toEqual([7, 6]);
    expect([findField(leaf, 'XN').hi, findField(leaf, 'XN').lo]).toEqual([54, 53]);
    expect(findField(leaf, 'OA').lo).toBe(14);
    const s1t = pteStruct(1, 4096, 0, false, 3n);
    expect(findField(s1t, 'APTable').lo).toBe(61);
    expect(findField(s1t, 'UXNTable').lo).toBe(60);
    expect(findField(s1t, 'PXNTable').lo).toBe(59);
    expect(findField(s1t, 'NSTable').lo).toBe(63);
    const s2t = pteStruct(2, 4096, 0, false, 3n);
    expect(s2t.fields.some((f) => f.name === 'APTable')).toBe(false);
  });

  it('output address field starts at the block shift of the level', () => {
    // shift(level) = g + (3 - level) * (g - 3)
    for (const granule of GRANULES) {
      const g = Math.log2(granule);
      for (let level = 1; level <= 3; level++) {
        const def = pteStruct(1, granule, level, false, level === 3 ? 3n : 1n);
        expect(findField(def, 'OA').lo).toBe(g + (3 - level) * (g - 3));
      }
    }
    expect(findField(pteStruct(1, 65536, 1, false, 1n), 'OA').lo).toBe(42); // 4 TiB block
  });

  it('52-bit layouts: LPA2 (DS) and 64K FEAT_LPA', () => {
    const ds = pteStruct(1, 4096, 3, true, 3n);
    expect([findField(ds, 'OA').hi, findField(ds, 'OA').lo]).toEqual([49, 12]);
    expect([findField(ds, 'OA_51_50').hi, findField(ds, 'OA_51_50').lo]).toEqual([9, 8]);
    expect(ds.fields.some((f) => f.name === 'SH')).toBe(false);
    const dsT = pteStruct(2, 16384, 1, true, 3n);
    expect(findField(dsT, 'NLTA_51_50').lo).toBe(8);
    expect(findField(dsT, 'NLTA').hi).toBe(49);
    const lpa = pteStruct(2, 65536, 3, false, 3n);
    expect([findField(lpa, 'OA_51_48').hi, findField(lpa, 'OA_51_48').lo]).toEqual([15, 12]);
    expect([findField(lpa, 'OA').hi, findField(lpa, 'OA').lo]).toEqual([47, 16]);
    // encode an OA with bits 51:48 set the way FEAT_LPA stores it and read it back
    const pa = 0xa_1234_5678_0000n;
    const [w] = encodeValues(lpa, {
      Valid: 1,
      Type: 1,
      OA: pa & 0xffff_ffff_0000n,
      OA_51_48: pa >> 48n,
    });
    expect(getBits(w as bigint, 15, 12)).toBe(0xan);
    const d = decodeStruct(lpa, [w as bigint]);
    expect(d.fields.find((f) => f.name === 'OA_51_48')?.meaning).toBe(
      'OA[51:48] = 0xa000000000000',
    );
  });

  it('block validity per granule (BlockDescSupported)', () => {
    expect([0, 1, 2].map((l) => blockAllowed(4096, l, false, false))).toEqual([false, true, true]);
    expect(blockAllowed(4096, 0, true, false)).toBe(true);
    expect([1, 2].map((l) => blockAllowed(16384, l, false, false))).toEqual([false, true]);
    expect(blockAllowed(16384, 1, true, false)).toBe(true);
    expect(blockAllowed(16384, 0, true, true)).toBe(false);
    expect([1, 2].map((l) => blockAllowed(65536, l, false, false))).toEqual([false, true]);
    expect(blockAllowed(65536, 1, false, true)).toBe(true);
  });

  it('decodes a builder-made stage-1 page as the prot flags say', () => {
    const mem = new SparseMemory();
    const alloc = new RegionAllocator(mem, 0x10_0000, 0x100_0000);
    const pt = IoPgtable.create(mem, alloc, {
      fmt: 'ARM_64_LPAE_S1',
      pgsizeBitmap: 4096,
      ias: 39,
      oas: 40,
    }) as IoPgtable;
    expect(
      pt.mapPages(0x1234_5000, 0x87_6543_2000, 4096, 1, IOMMU_PROT.READ | IOMMU_PROT.CACHE).ret,
    ).toBe(0);
    // find the leaf: walk the three levels by hand (start level 1 for 39 bits)
    let table = pt.pgd;
    let w = 0n;
    for (const [level, shift] of [
      [1, 30],
      [2, 21],
      [3, 12],
    ] as const) {
      w = mem.read64(table + ((0x1234_5000 >> shift) & 511) * 8);
      if (level < 3) table = Number(w & 0xffff_ffff_f000n);
    }
    const d = decodeStruct(pteStruct(1, 4096, 3, false, w), [w]);
    const v = Object.fromEntries(d.fields.map((f) => [f.name, f.value]));
    expect(v).toMatchObject({ Valid: 1n, Type: 1n, AttrIndx: 1n, AP: 3n, SH: 3n, AF: 1n, nG: 1n });
    expect(v.OA).toBe(0x87_6543_2000n);
    expect(d.reservedSet).toEqual([]);
  });
});
