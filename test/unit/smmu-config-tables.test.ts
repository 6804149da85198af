// Stream tables and CD tables (IHI 0070 H.a §5.1, §5.1.1 L1STD, §5.2 S1Fmt/S1CDMax/S1DSS, §5.3
// L1CD, SMMU_STRTAB_BASE_CFG, §3.4.3; smmuv3-arch.md [1.2], [1.4], [1.5], [1.7], [2.1]): linear
// and 2-level tables, C_BAD_STREAMID and its CR2.RECINVSID gate, F_STE_FETCH / F_CD_FETCH on
// external aborts, the S1DSS table, C_BAD_SUBSTREAMID and F_STREAM_DISABLED, and CDs fetched
// through stage 2 (faults with CLASS = CD). Addresses in the expectations come from the layout
// rules written out in each test.

import { describe, expect, it } from 'vitest';
import type { IoPgtable } from '../../src/pgtable/index.ts';
import { OFF, SMMUEN } from './smmu-kit.ts';
import {
  CD_AREA,
  expectEvent,
  expectExact,
  L2_AREA,
  oneEvent,
  pgtable,
  RO,
  RW,
  STRTAB,
  s1Cd,
  s2Ste,
  type TRig,
  trig,
  writeCd,
  writeL1cd,
} from './smmu-translate-kit.ts';

const VA = 0x40_0000;

/** A stage-1 table mapping VA → `pa` and a CD for it (ASID `asid`) at `cdAddr`. */
function cdWithMapping(r: TRig, cdAddr: number, pa: number, asid: number): IoPgtable {
  const p = pgtable(r, 'ARM_64_LPAE_S1');
  expect(p.map(VA, pa, 0x1000, RW)).toBe(0);
  writeCd(r.mem, cdAddr, s1Cd(p, asid));
  return p;
}

const read = (r: TRig, sid: number, ssid?: number, iova = BigInt(VA)) =>
  r.smmu.translate({ sid, ssid, iova, access: 'read' });

describe('linear stream table (§5.1)', () => {
  it('finds STE n at base + 64·n', () => {
    const r = trig();
    r.ste(7, { V: 1, Config: 4 });
    expect(read(r, 7)).toMatchObject({ ok: true, pa: BigInt(VA) });
    expect(r.mem.read32(STRTAB + 64 * 7) & 0xf).toBe(0b1001); // V=1, Config=0b100 at STE 7
  });

  it('StreamID >= 2^LOG2SIZE: C_BAD_STREAMID (recorded with CR2.RECINVSID = 1)', () => {
    const r = trig({ strtab: { fmt: 'linear', log2size: 4 } });
    expect(read(r, 16, 3)).toEqual({ ok: false, event: expect.anything() });
    // C_BAD_STREAMID carries SSV/SubstreamID and StreamID (§7.3.3).
    expectExact(oneEvent(r), 'C_BAD_STREAMID', { StreamID: 16, SSV: 1, SubstreamID: 3 });
  });

  it('C_BAD_STREAMID is silent with CR2.RECINVSID = 0', () => {
    const r = trig({ strtab: { fmt: 'linear', log2size: 4 }, recinvsid: false });
    expect(read(r, 16)).toEqual({ ok: false });
    expect(r.events()).toEqual([]);
  });

  it('the effective LOG2SIZE is capped by IDR1.SIDSIZE', () => {
    const r = trig({ features: { sidSize: 4 }, strtab: { fmt: 'linear', log2size: 8 } });
    r.ste(15, { V: 1, Config: 4 });
    r.ste(16, { V: 1, Config: 4 });
    expect(read(r, 15).ok).toBe(true);
    expect(read(r, 16).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_STREAMID', { StreamID: 16 });
  });

  it('the table base is aligned down to the table size (literal LOG2SIZE)', () => {
    const r = trig({ strtab: { fmt: 'linear', log2size: 8 } });
    // Re-program STRTAB_BASE 0x40 above the table while SMMUEN = 0: 256 STEs × 64 B = 16 KiB,
    // so ADDR[13:0] are ignored and STE 2 stays at STRTAB + 128.
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    r.smmu.mmioWrite(OFF.STRTAB_BASE, 8, BigInt(STRTAB + 0x40));
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) | SMMUEN);
    r.ste(2, { V: 1, Config: 4 });
    expect(read(r, 2).ok).toBe(true);
  });

  it('an external abort reading the STE is F_STE_FETCH with FetchAddr = the STE address', () => {
    const r = trig();
    r.mem.addAbortRange(STRTAB + 64 * 5, 64);
    expect(read(r, 5, 2).ok).toBe(false);
    expectExact(oneEvent(r), 'F_STE_FETCH', {
      StreamID: 5,
      SSV: 1,
      SubstreamID: 2,
      FetchAddr: STRTAB + 64 * 5,
    });
    // A failed fetch is not cached: the next transaction fetches again.
    expect(read(r, 5).ok).toBe(false);
    expect(r.events().map((e) => e.type)).toEqual(['F_STE_FETCH']);
  });

  it('FMT 0b1x is reserved and behaves as linear', () => {
    const r = trig({ strtab: { fmt: 'linear', log2size: 8 } });
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    r.smmu.mmioWrite(OFF.STRTAB_BASE_CFG, 4, (2 << 16) | (8 << 6) | 8);
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) | SMMUEN);
    r.ste(9, { V: 1, Config: 4 });
    expect(read(r, 9).ok).toBe(true);
  });
});

describe('2-level stream table (§5.1.1 L1STD)', () => {
  const twoLevel = (split = 8, log2size = 16) =>
    trig({ strtab: { fmt: '2level', log2size, split } });

  it('L1 index = SID[LOG2SIZE−1:SPLIT], STE = L2Ptr + 64·SID[SPLIT−1:0]', () => {
    const r = twoLevel();
    // SID 0x305: L1STD 3, entry 5 of a 2^(9−1) = 256-STE array.
    r.l1(3, 9, L2_AREA);
    const pa = r.ste(0x305, { V: 1, Config: 4 });
    expect(pa).toBe(L2_AREA + 64 * 5);
    expect(read(r, 0x305).ok).toBe(true);
    expect(r.t.stats.l1stdFetches).toBe(1);
  });

  it('Span 0 is invalid: C_BAD_STREAMID', () => {
    const r = twoLevel();
    r.l1(3, 0, L2_AREA);
    expect(read(r, 0x305).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_STREAMID', { StreamID: 0x305 });
  });

  it('Span 12..31 is reserved (invalid): C_BAD_STREAMID', () => {
    const r = twoLevel(10, 16);
    r.l1(0, 12, L2_AREA);
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_STREAMID', { StreamID: 1 });
  });

  it('Span > SPLIT + 1 is invalid', () => {
    const r = twoLevel(6, 16);
    r.l1(0, 8, L2_AREA);
    r.ste(1, { V: 1, Config: 4 });
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_STREAMID', { StreamID: 1 });
  });

  it('SID[SPLIT−1:0] must be below 2^(Span−1)', () => {
    const r = twoLevel();
    r.l1(0, 3, L2_AREA); // 4 STEs
    r.ste(3, { V: 1, Config: 4 });
    expect(read(r, 3).ok).toBe(true);
    expect(read(r, 4).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_STREAMID', { StreamID: 4 });
  });

  it('L2Ptr bits below the array size are taken as zero', () => {
    const r = twoLevel();
    // Span 3: 4 STEs = 256 bytes, so L2Ptr[7:0] are ignored.
    r.l1(0, 3, L2_AREA + 0xc0);
    r.mem.write64(L2_AREA + 64 * 2, 0b1001n); // V=1, Config=0b100 at the aligned position
    expect(read(r, 2).ok).toBe(true);
  });

  it('a SPLIT value other than 6, 8 or 10 behaves as 6', () => {
    const r = twoLevel(7, 16);
    r.l1(1, 7, L2_AREA); // SID 64..127 with SPLIT 6
    r.mem.write64(L2_AREA + 64 * 3, 0b1001n);
    expect(read(r, 64 + 3).ok).toBe(true);
  });

  it('an external abort reading the L1STD is F_STE_FETCH at the L1STD address', () => {
    const r = twoLevel();
    r.mem.addAbortRange(STRTAB + 8 * 2, 8);
    expect(read(r, 0x201).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_STE_FETCH', { StreamID: 0x201, FetchAddr: STRTAB + 8 * 2 });
  });

  it('StreamIDs beyond LOG2SIZE are rejected before any L1STD is read', () => {
    const r = twoLevel(8, 10);
    expect(read(r, 1024).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_STREAMID', { StreamID: 1024 });
    expect(r.t.stats.l1stdFetches).toBe(0);
  });
});

describe('CD tables (§5.2 S1Fmt, §5.3 L1CD)', () => {
  it('linear: CD n at S1ContextPtr + 64·n', () => {
    const r = trig();
    cdWithMapping(r, CD_AREA + 64 * 9, 0x8000_0000, 9);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 4 });
    expect(read(r, 1, 9)).toMatchObject({ ok: true, pa: 0x8000_0000n });
  });

  it('SubstreamID >= 2^S1CDMax: C_BAD_SUBSTREAMID (SubstreamID valid, no SSV)', () => {
    const r = trig();
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 4 });
    expect(read(r, 1, 16).ok).toBe(false);
    const e = oneEvent(r);
    expectExact(e, 'C_BAD_SUBSTREAMID', { StreamID: 1, SubstreamID: 16 });
    // The record has no SSV field: bit 11 of word 0 stays 0 (§7.3.9).
    expect(Object.keys(e.fields).sort()).toEqual(['EventID', 'StreamID', 'SubstreamID']);
    expect(e.raw[0] & (1n << 11n)).toBe(0n);
  });

  it('2-level with 4 KiB leaves: L1 by SSID[S1CDMax−1:6], CD by SSID[5:0]', () => {
    const r = trig();
    const leaf = CD_AREA + 0x10_0000;
    // SSID 0x1c5 = L1 index 7, leaf index 5.
    writeL1cd(r.mem, CD_AREA + 8 * 7, true, leaf);
    cdWithMapping(r, leaf + 64 * 5, 0x8100_0000, 3);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 10, S1Fmt: 1 });
    expect(read(r, 1, 0x1c5)).toMatchObject({ ok: true, pa: 0x8100_0000n });
    expect(r.t.stats.l1cdFetches).toBe(1);
  });

  it('2-level with 64 KiB leaves: L1 by SSID[S1CDMax−1:10], CD by SSID[9:0]', () => {
    const r = trig();
    const leaf = CD_AREA + 0x20_0000;
    // SSID 0x2c05 = L1 index 11, leaf index 0x5.
    writeL1cd(r.mem, CD_AREA + 8 * 11, true, leaf);
    cdWithMapping(r, leaf + 64 * 5, 0x8200_0000, 4);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 16, S1Fmt: 2 });
    expect(read(r, 1, 0x2c05)).toMatchObject({ ok: true, pa: 0x8200_0000n });
  });

  it('64 KiB leaves: L2Ptr[15:12] are RES0 and ignored', () => {
    const r = trig();
    const leaf = CD_AREA + 0x20_0000;
    writeL1cd(r.mem, CD_AREA, true, leaf + 0x3000);
    cdWithMapping(r, leaf + 64 * 2, 0x8300_0000, 4);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 16, S1Fmt: 2 });
    expect(read(r, 1, 2)).toMatchObject({ ok: true, pa: 0x8300_0000n });
  });

  it('an L1CD with V = 0: C_BAD_SUBSTREAMID', () => {
    const r = trig();
    writeL1cd(r.mem, CD_AREA + 8 * 1, false, CD_AREA + 0x10_0000);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 8, S1Fmt: 1 });
    expect(read(r, 1, 0x41).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_SUBSTREAMID', { StreamID: 1, SubstreamID: 0x41 });
  });

  it('an invalid L1CD reached through S1DSS = 0b10 reports SubstreamID 0', () => {
    const r = trig();
    writeL1cd(r.mem, CD_AREA, false, 0);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 8, S1Fmt: 1, S1DSS: 2 });
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_SUBSTREAMID', { StreamID: 1, SubstreamID: 0 });
  });

  it('stage-1-only L1CD.L2Ptr beyond OAS: C_BAD_SUBSTREAMID', () => {
    const r = trig();
    writeL1cd(r.mem, CD_AREA, true, 2 ** 44);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 8, S1Fmt: 1 });
    expect(read(r, 1, 3).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_SUBSTREAMID', { StreamID: 1, SubstreamID: 3 });
  });

  it('external aborts: F_CD_FETCH with FetchAddr = the PA read (L1CD, then CD)', () => {
    const r = trig();
    const leaf = CD_AREA + 0x10_0000;
    writeL1cd(r.mem, CD_AREA + 8, true, leaf);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 8, S1Fmt: 1 });
    r.mem.addAbortRange(CD_AREA, 8);
    expect(read(r, 1, 2).ok).toBe(false);
    expectExact(oneEvent(r), 'F_CD_FETCH', {
      StreamID: 1,
      SSV: 1,
      SubstreamID: 2,
      FetchAddr: CD_AREA,
    });
    r.mem.addAbortRange(leaf + 64 * 3, 64);
    expect(read(r, 1, 64 + 3).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_CD_FETCH', {
      StreamID: 1,
      SubstreamID: 64 + 3,
      FetchAddr: leaf + 64 * 3,
    });
  });
});

describe('substreams (§5.2 S1CDMax, S1DSS; [1.4])', () => {
  /** CD 0 maps VA → 0x8000_0000 (ASID 10); CD 1 maps VA → 0x8100_0000 (ASID 11). */
  function withTwoCds(s1dss: number, kind: 5 | 7 = 5): TRig {
    const r = trig();
    cdWithMapping(r, CD_AREA, 0x8000_0000, 10);
    cdWithMapping(r, CD_AREA + 64, 0x8100_0000, 11);
    r.ste(1, { V: 1, Config: kind, S1ContextPtr: CD_AREA, S1CDMax: 4, S1DSS: s1dss });
    return r;
  }

  it('S1DSS 0b00: no SubstreamID → F_STREAM_DISABLED (StreamID only); SSID 0 uses CD 0', () => {
    const r = withTwoCds(0);
    expect(read(r, 1).ok).toBe(false);
    const e = oneEvent(r);
    expectExact(e, 'F_STREAM_DISABLED', { StreamID: 1 });
    // F_STREAM_DISABLED has no SSV/SubstreamID fields (§7.3.7).
    expect(Object.keys(e.fields).sort()).toEqual(['EventID', 'StreamID']);
    expect(read(r, 1, 0)).toMatchObject({ ok: true, pa: 0x8000_0000n });
    expect(read(r, 1, 1)).toMatchObject({ ok: true, pa: 0x8100_0000n });
  });

  it('S1DSS 0b11 behaves as 0b00', () => {
    const r = withTwoCds(3);
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_STREAM_DISABLED', { StreamID: 1 });
  });

  it('S1DSS 0b01: no SubstreamID bypasses stage 1 without fetching a CD; SSID 0 uses CD 0', () => {
    const r = withTwoCds(1);
    expect(read(r, 1, undefined, 0x1234_5000n)).toMatchObject({ ok: true, pa: 0x1234_5000n });
    expect(r.t.stats.cdFetches).toBe(0);
    expect(read(r, 1, 0)).toMatchObject({ ok: true, pa: 0x8000_0000n });
  });

  it('S1DSS 0b01 beyond IAS: F_ADDR_SIZE with S2 = 0, CLASS = IN', () => {
    const r = withTwoCds(1);
    const iova = 1n << 44n; // IAS = OAS = 44
    expect(read(r, 1, undefined, iova).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_ADDR_SIZE', {
      StreamID: 1,
      SSV: 0,
      S2: 0,
      CLASS: 2,
      InputAddr: iova,
      RnW: 1,
    });
  });

  it('S1DSS 0b10: no SubstreamID uses CD 0; SSID 0 → F_STREAM_DISABLED', () => {
    const r = withTwoCds(2);
    expect(read(r, 1)).toMatchObject({ ok: true, pa: 0x8000_0000n });
    expect(read(r, 1, 0).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_STREAM_DISABLED', { StreamID: 1 });
    expect(read(r, 1, 1)).toMatchObject({ ok: true, pa: 0x8100_0000n });
  });

  it('S1DSS is IGNORED with S1CDMax = 0: the single CD serves traffic without a SubstreamID', () => {
    const r = trig();
    cdWithMapping(r, CD_AREA, 0x8000_0000, 10);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 0, S1DSS: 0 });
    expect(read(r, 1)).toMatchObject({ ok: true, pa: 0x8000_0000n });
  });

  it.each([
    ['S1CDMax = 0', { features: {}, ste: { Config: 5, S1CDMax: 0 } }],
    ['IDR1.SSIDSIZE = 0', { features: { ssidSize: 0 }, ste: { Config: 5, S1CDMax: 4 } }],
    ['Config 0b110 (stage 2 only)', { features: {}, ste: { Config: 6 } }],
    ['Config 0b100 (bypass)', { features: {}, ste: { Config: 4 } }],
  ])('a SubstreamID with %s: C_BAD_SUBSTREAMID', (_n, c) => {
    const r = trig({ features: c.features });
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    r.ste(1, { V: 1, S1ContextPtr: CD_AREA, ...s2Ste(s2, 1), ...c.ste });
    expect(read(r, 1, 0).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_SUBSTREAMID', { StreamID: 1, SubstreamID: 0 });
  });
});

describe('CDs fetched through stage 2 when nested (§3.4.3, §7.3 CLASS = CD)', () => {
  /** Nested STE for SID 1 with S2R; stage 2 maps only what `map` asks for. */
  function nested(map: (s2: IoPgtable) => void, s2r = 1): TRig {
    const r = trig();
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    map(s2);
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2, 1, { S2R: s2r }) });
    return r;
  }

  it('an unmapped CD IPA is a stage-2 F_TRANSLATION, CLASS = CD, IPA = the CD address', () => {
    const r = nested(() => {});
    expect(read(r, 1).ok).toBe(false);
    expectExact(oneEvent(r), 'F_TRANSLATION', {
      StreamID: 1,
      S2: 1,
      CLASS: 0,
      IPA: CD_AREA,
      InputAddr: VA,
      RnW: 1,
    });
    // Not cached: a CD fetch that faulted at stage 2 is fetched again next time.
    expect(r.t.configEntries().filter((e) => e.kind === 'CD')).toEqual([]);
  });

  it('the same fault is not recorded with STE.S2R = 0', () => {
    const r = nested(() => {}, 0);
    expect(read(r, 1)).toEqual({ ok: false });
    expect(r.events()).toEqual([]);
  });

  it('an L1CD IPA is translated too (CLASS = CD, IPA = the L1CD address)', () => {
    const r = trig();
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    r.ste(1, {
      V: 1,
      Config: 7,
      S1ContextPtr: CD_AREA + 0x3000,
      S1CDMax: 8,
      S1Fmt: 1,
      ...s2Ste(s2, 1),
    });
    // L1 index of SSID 0x85 is 2: the L1CD is at CD_AREA + 0x3000 + 16.
    expect(read(r, 1, 0x85).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSLATION', {
      S2: 1,
      CLASS: 0,
      IPA: CD_AREA + 0x3000,
      SSV: 1,
      SubstreamID: 0x85,
    });
  });

  it('a CD IPA without stage-2 read permission: F_PERMISSION, S2 = 1, CLASS = CD', () => {
    const r = nested((s2) => {
      expect(s2.map(CD_AREA, CD_AREA, 0x1000, 2 /* IOMMU_WRITE only */)).toBe(0);
    });
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_PERMISSION', { S2: 1, CLASS: 0, IPA: CD_AREA });
  });

  it('STE.S2PTW: a CD in stage-2 Device memory is a stage-2 permission fault', () => {
    const r = trig();
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RO | 16 /* IOMMU_MMIO */)).toBe(0);
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2, 1, { S2PTW: 1 }) });
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_PERMISSION', { S2: 1, CLASS: 0, IPA: CD_AREA });
  });

  it('an external abort on a stage-2 descriptor of the CD fetch: F_WALK_EABT, S2 = 1, CLASS = CD', () => {
    const r = trig();
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2, 1) });
    // Stage 2 (4K, 40-bit IPA) starts at level 0 with a 2-entry table: the level-0 descriptor
    // of IPA CD_AREA is entry CD_AREA[39] = 0 of the pgd.
    r.mem.addAbortRange(s2.pgd, 8);
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_WALK_EABT', { S2: 1, CLASS: 0, FetchAddr: s2.pgd, InputAddr: VA });
  });

  it("policy 's2-fault': a nested S1ContextPtr beyond IAS is a stage-2 Translation fault", () => {
    const r = trig({ topts: { nestedCdPtrBeyondIas: 's2-fault' } });
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: 2 ** 44, ...s2Ste(s2, 1) });
    expect(read(r, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSLATION', { S2: 1, CLASS: 0, IPA: 2 ** 44 });
  });

  it('nested L1CD.L2Ptr beyond IAS: C_BAD_SUBSTREAMID (default CU choice)', () => {
    const r = trig();
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    writeL1cd(r.mem, CD_AREA, true, 2 ** 44);
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, S1CDMax: 8, S1Fmt: 1, ...s2Ste(s2, 1) });
    expect(read(r, 1, 1).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_SUBSTREAMID', { StreamID: 1, SubstreamID: 1 });
  });
});

describe('out-of-range structure addresses (§3.4.3, CONSTRAINED UNPREDICTABLE policies)', () => {
  function highBase(policy: 'truncate' | 'abort'): TRig {
    const r = trig({ topts: { steFetchBeyondOas: policy } });
    // Re-program STRTAB_BASE 2^44 above the table while SMMUEN = 0 (OAS is 44 bits).
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    r.smmu.mmioWrite(OFF.STRTAB_BASE, 8, BigInt(STRTAB) + (1n << 44n));
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) | SMMUEN);
    r.ste(2, { V: 1, Config: 4 });
    return r;
  }

  it("'abort' (default): an STE address beyond OAS is F_STE_FETCH", () => {
    const r = highBase('abort');
    expect(read(r, 2).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_STE_FETCH', { StreamID: 2, FetchAddr: 2 ** 44 + STRTAB + 128 });
  });

  it("'truncate': the address is truncated to OAS", () => {
    const r = highBase('truncate');
    expect(read(r, 2).ok).toBe(true);
  });

  it("'s2-fault': a nested L2Ptr beyond IAS is a stage-2 Translation fault on that IPA", () => {
    const r = trig({ topts: { nestedL2PtrBeyondIas: 's2-fault' } });
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    writeL1cd(r.mem, CD_AREA, true, 2 ** 44);
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, S1CDMax: 8, S1Fmt: 1, ...s2Ste(s2, 1) });
    expect(read(r, 1, 1).ok).toBe(false);
    // The CD of SSID 1 is at L2Ptr + 64: its IPA page is 2^44.
    expectEvent(oneEvent(r), 'F_TRANSLATION', { S2: 1, CLASS: 0, IPA: 2 ** 44 });
  });
});
