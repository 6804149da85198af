// Translation-table geometry (src/pgtable/format.ts). Expectations are derived in the test from
// the io-pgtable-arm formulas (pv-iommu.md §6.2, drivers/iommu/io-pgtable-arm.c) and the
// Arm pseudocode rules (AArch64.S1StartLevel, S2InvalidSL, S2InconsistentSL), written out here.
import { describe, expect, it } from 'vitest';
import {
  blockSize,
  concatMandatory,
  ioPgtableGeometry,
  ioPgtableS2Geometry,
  levelShift,
  psDecode,
  psEncode,
  s1StartLevel,
  s2StartLevel,
  sl0Decode,
  sl0Encode,
  tableIndex,
  tg0Decode,
  tg0Encode,
  txsz,
} from '../../src/pgtable/format.ts';
import type { Granule } from '../../src/pgtable/types.ts';

/** io-pgtable formulas, written out: levels = ceil(va_bits / bpl), start = 4 − levels. */
function refGeometry(granule: number, ias: number) {
  const pgShift = Math.log2(granule);
  const bpl = pgShift - 3;
  const vaBits = ias - pgShift;
  const levels = Math.ceil(vaBits / bpl);
  return { start: 4 - levels, entries: 2 ** (vaBits - bpl * (levels - 1)) };
}

describe('io-pgtable geometry (pv-iommu.md §6.2 examples)', () => {
  const cases: [Granule, number, number, number][] = [
    // granule, ias, start level, pgd entries (from the digest's example list)
    [4096, 48, 0, 512],
    [4096, 39, 1, 512],
    [4096, 32, 1, 4],
    [4096, 40, 0, 2],
    [16384, 48, 0, 2],
    [65536, 48, 1, 64],
    [65536, 52, 1, 1024],
  ];
  for (const [granule, ias, start, entries] of cases) {
    it(`${granule / 1024}K / ias ${ias} → start ${start}, ${entries} entries`, () => {
      const ref = refGeometry(granule, ias);
      expect(ref).toEqual({ start, entries });
      const g = ioPgtableGeometry(granule, ias);
      expect(g.startLevel).toBe(start);
      expect(g.pgdSize).toBe(8 * entries);
      expect(g.concatTables).toBe(1);
    });
  }

  it('every granule and IAS 32..52 follows the formula', () => {
    for (const granule of [4096, 16384, 65536] as Granule[]) {
      for (let ias = 32; ias <= (granule === 65536 ? 52 : 48); ias++) {
        const ref = refGeometry(granule, ias);
        const g = ioPgtableGeometry(granule, ias);
        expect([g.startLevel, g.pgdSize / 8]).toEqual([ref.start, ref.entries]);
      }
    }
  });
});

describe('stage-2 concatenation (arm_lpae_concat_mandatory)', () => {
  it('applies the four DDI0487 K.a cases', () => {
    // 4K, ias = oas = 40: start 0 with 2 entries → start 1, 2 tables of 512
    let g = ioPgtableS2Geometry(4096, 40, 40);
    expect([g?.startLevel, g?.concatTables, g?.pgdSize]).toEqual([1, 2, 2 * 4096]);
    // 4K, ias = oas = 42: 8 tables
    g = ioPgtableS2Geometry(4096, 42, 42);
    expect([g?.startLevel, g?.concatTables]).toEqual([1, 8]);
    // 16K, ias = oas = 48: start 0 with 2 entries → start 1, 2 tables
    g = ioPgtableS2Geometry(16384, 48, 48);
    expect([g?.startLevel, g?.concatTables, g?.pgdSize]).toEqual([1, 2, 2 * 16384]);
    // 16K, ias = oas = 40: start 1 with 16 entries → start 2, 16 tables
    g = ioPgtableS2Geometry(16384, 40, 40);
    expect([g?.startLevel, g?.concatTables]).toEqual([2, 16]);
  });

  it('is not applied elsewhere, and fails above 16 tables', () => {
    expect(concatMandatory(4096, 0, 48, 48)).toBe(false);
    expect(concatMandatory(4096, 1, 40, 40)).toBe(false);
    expect(ioPgtableS2Geometry(4096, 48, 48)?.startLevel).toBe(0);
    // 4K, ias 48, oas 42: start 0 with 512 entries would need 512 concatenated tables → NULL
    expect(ioPgtableS2Geometry(4096, 48, 42)).toBeUndefined();
  });
});

describe('encodings', () => {
  it('SL0 per io-pgtable (4K offset by one)', () => {
    expect([0, 1, 2].map((l) => sl0Encode(4096, l))).toEqual([2, 1, 0]);
    expect([1, 2, 3].map((l) => sl0Encode(16384, l))).toEqual([2, 1, 0]);
    expect([1, 2, 3].map((l) => sl0Encode(65536, l))).toEqual([2, 1, 0]);
    for (const granule of [4096, 16384, 65536] as Granule[]) {
      for (const l of [1, 2]) expect(sl0Decode(granule, sl0Encode(granule, l))).toBe(l);
    }
  });

  it('TG0, PS and TxSZ', () => {
    expect([4096, 65536, 16384].map((g) => tg0Encode(g as Granule))).toEqual([0, 1, 2]);
    expect([0, 1, 2, 3].map(tg0Decode)).toEqual([4096, 65536, 16384, undefined]);
    expect([32, 36, 40, 42, 44, 48, 52].map(psEncode)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(psEncode(50)).toBeUndefined();
    expect(psDecode(7)).toBeUndefined();
    expect(txsz(48)).toBe(16);
  });

  it('level shift, block size and index', () => {
    expect([0, 1, 2, 3].map((l) => levelShift(4096, l))).toEqual([39, 30, 21, 12]);
    expect([0, 1, 2, 3].map((l) => levelShift(16384, l))).toEqual([47, 36, 25, 14]);
    expect([1, 2, 3].map((l) => levelShift(65536, l))).toEqual([42, 29, 16]);
    expect(levelShift(4096, -1)).toBe(48);
    expect(blockSize(4096, 2)).toBe(2 * 1024 * 1024);
    const va = 0x7f_1234_5678_9000;
    expect(tableIndex(va, 4096, 0, 0, 48)).toBe(Number((BigInt(va) >> 39n) & 511n));
    expect(tableIndex(va, 4096, 2, 0, 48)).toBe(Number((BigInt(va) >> 21n) & 511n));
    // concatenated 4K level-1 start over 40 bits: 10 index bits
    expect(tableIndex(0xff_c000_0000, 4096, 1, 1, 40)).toBe(0x3ff);
  });
});

describe('architectural start levels', () => {
  it('stage 1: 4 − ceil((ias − g) / stride)', () => {
    for (const [tg, granule] of [
      [0, 4096],
      [2, 16384],
      [1, 65536],
    ] as const) {
      const g = Math.log2(granule);
      for (let t0sz = 12; t0sz <= 39; t0sz++) {
        const ias = 64 - t0sz;
        const want = 4 - Math.ceil((ias - g) / (g - 3));
        expect(s1StartLevel(tg, t0sz), `${granule} t0sz ${t0sz}`).toBe(want);
      }
    }
    expect(s1StartLevel(0, 12, true)).toBe(-1); // 52-bit 4K (LPA2)
    expect(s1StartLevel(3, 16)).toBeUndefined();
  });

  it('stage 2: every io-pgtable S2 configuration is architecturally consistent', () => {
    for (const granule of [4096, 16384, 65536] as Granule[]) {
      for (const oas of [32, 36, 40, 42, 44, 48]) {
        for (const ias of [32, 36, 40, 42, 44, 48].filter((x) => x <= oas)) {
          const g = ioPgtableS2Geometry(granule, ias, oas);
          if (!g) continue;
          const sl0 = sl0Encode(granule, g.startLevel);
          expect(
            s2StartLevel({ tg: tg0Encode(granule), sl0, t0sz: 64 - ias, pamax: oas }),
            `${granule} ias ${ias} oas ${oas}`,
          ).toBe(g.startLevel);
        }
      }
    }
  });

  it('stage 2: rejects invalid and inconsistent SL0', () => {
    // 4K SL0 = 2 (start 0) needs PAMax ≥ 44
    expect(s2StartLevel({ tg: 0, sl0: 2, t0sz: 16, pamax: 40 })).toBeUndefined();
    expect(s2StartLevel({ tg: 0, sl0: 2, t0sz: 16, pamax: 48 })).toBe(0);
    // 4K start 2 resolves 2 levels + 12 bits: ias must be 22..34 (min = 1·9+12+1, max = min+8+4)
    expect(s2StartLevel({ tg: 0, sl0: 0, t0sz: 64 - 34, pamax: 48 })).toBe(2);
    expect(s2StartLevel({ tg: 0, sl0: 0, t0sz: 64 - 35, pamax: 48 })).toBeUndefined();
    expect(s2StartLevel({ tg: 0, sl0: 0, t0sz: 64 - 21, pamax: 48 })).toBeUndefined();
    // 4K SL0 = 3 is start level 3 only with FEAT_TTST
    expect(s2StartLevel({ tg: 0, sl0: 3, t0sz: 64 - 16, pamax: 48 })).toBeUndefined();
    expect(s2StartLevel({ tg: 0, sl0: 3, t0sz: 64 - 16, pamax: 48, ttst: true })).toBe(3);
    // 64K SL0 = 3 is reserved; 16K SL0 = 3 (level 0) needs DS
    expect(s2StartLevel({ tg: 1, sl0: 3, t0sz: 24, pamax: 48 })).toBeUndefined();
    expect(s2StartLevel({ tg: 2, sl0: 3, t0sz: 16, pamax: 48 })).toBeUndefined();
    // 16K level 0: levels 3, min = 3·11 + 14 + 1 = 48
    expect(s2StartLevel({ tg: 2, sl0: 3, t0sz: 16, pamax: 48, ds: true })).toBe(0);
    // 4K level −1 (DS, SL2): min = 4·9 + 12 + 1 = 49, max = min + 3
    expect(s2StartLevel({ tg: 0, sl0: 0, sl2: true, ds: true, t0sz: 12, pamax: 52 })).toBe(-1);
    expect(
      s2StartLevel({ tg: 0, sl0: 0, sl2: true, ds: true, t0sz: 16, pamax: 52 }),
    ).toBeUndefined();
    expect(s2StartLevel({ tg: 3, sl0: 0, t0sz: 32, pamax: 48 })).toBeUndefined();
  });
});
