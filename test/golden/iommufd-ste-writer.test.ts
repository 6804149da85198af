// KUnit-style STE/CD transition tests for the hitless entry writer (Linux
// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-test.c, iommufd digest §13). Fixtures are the KUnit
// entries (features STALLS | ATTR_TYPES_OVR, CD table DMA 0xF0F0F0F0F0F0, S1CDMax fed 0xFF, S2
// VTTBR 0xdaedbeefdeadbeef); the expected sync counts and hitless verdicts are DERIVED BY HAND in
// the comment of each case from the rules of §13.1 (used bits, critical qwords), not taken from
// running the writer. Like KUnit, the harness checks at every sync that the entry equals the
// initial or the target entry on the bits the hardware would read.

import { describe, expect, it } from 'vitest';
import { writeEntry } from '../../src/iommufd/arm-smmu-v3/entry-writer.ts';

const W = (...w: bigint[]): bigint[] => [...w, ...new Array(8 - w.length).fill(0n)];

// ---- fixtures (iommufd digest §13.2) ----
const SHCFG = 1n << 44n;
const EATS1 = 1n << 28n;
const STALLD = 1n << 27n;
const MEV = 1n << 19n;
const S1C = (1n << 2n) | (1n << 4n) | (3n << 6n); // CIR WBRA, COR WBRA, CSH ISH
const BYPASS = W(0x9n, SHCFG);
const ABORT = W(0x1n);
/** cdtable STE with S1DSS `dss` (1 bypass, 2 SSID0), ATS on/off, stall-enabled master or not. */
function cdtable(dss: 1n | 2n, ats: boolean, stall = false, dma = 0xf0f0_f0f0_f0f0n): bigint[] {
  // w0: V | Config 5 | S1Fmt 2 | ctxptr (51:6) | S1CDMax 0x1f
  const w0 = 0x1n | (5n << 1n) | (2n << 4n) | (dma & 0x000f_ffff_ffff_ffc0n) | (0x1fn << 59n);
  const w1 = dss | S1C | (stall ? 0n : STALLD) | (ats ? EATS1 : 0n) | (dss === 1n ? SHCFG : 0n);
  return W(w0, w1, 0n);
}
function s2(ats: boolean, stall = false): bigint[] {
  return W(
    0xdn,
    (ats ? EATS1 : 0n) | SHCFG,
    stall ? 0x0649b6c4_00000000n : 0x0449b6c4_00000000n,
    0x000d_beef_dead_bee0n,
  );
}
const NESTED_S1DSSBYPASS_ATS = W(
  0xf800_f0f0_f0f0_f0efn,
  0x0000_1000_1808_00d5n,
  0x0449_b6c4_0000_0000n,
  0x000d_beef_dead_bee0n,
);

// ---- an independent statement of "bits the hardware reads" (§13.1 step 1) for the harness ----
function usedSte(e: readonly bigint[]): bigint[] {
  const u = W();
  const w0 = e[0] as bigint;
  u[0] = 1n;
  if (!(w0 & 1n)) return u;
  const c = Number((w0 >> 1n) & 7n);
  u[0] = (u[0] as bigint) | 0xen;
  if (c & 1) {
    u[0] = (u[0] as bigint) | 0x30n | 0x000f_ffff_ffff_ffc0n | (0x1fn << 59n);
    u[1] = (u[1] as bigint) | 0xffn | STALLD | (3n << 30n) | (3n << 28n) | MEV;
    u[2] = (u[2] as bigint) | 0xffffn;
    if (((e[1] as bigint) & 3n) === 1n) u[1] = (u[1] as bigint) | (3n << 44n);
  }
  if (c & 2) {
    u[1] = (u[1] as bigint) | (1n << 25n) | (3n << 28n) | (3n << 44n) | MEV;
    u[2] =
      (u[2] as bigint) |
      0xffffn |
      (0x7ffffn << 32n) |
      (1n << 51n) |
      (1n << 52n) |
      (1n << 54n) |
      (1n << 57n) |
      (1n << 58n);
    u[3] = (u[3] as bigint) | 0x000f_ffff_ffff_fff0n;
  }
  if (c === 4) u[1] = (u[1] as bigint) | (3n << 44n);
  return u;
}

function usedCd(e: readonly bigint[]): bigint[] {
  const all = (1n << 64n) - 1n;
  if (!((e[0] as bigint) & (1n << 31n))) return W(1n << 31n);
  const u = new Array<bigint>(8).fill(all);
  if ((e[0] as bigint) & (1n << 14n)) {
    u[0] = (all & ~0x3fffn) | (1n << 14n); // EPD0: T0SZ/TG0/IRGN0/ORGN0/SH0 (13:0) ignored
    u[1] = all & ~0x000f_ffff_ffff_fff0n;
  }
  return u;
}

interface Outcome {
  syncs: number;
  hitless: boolean;
  consistent: boolean;
  final: bigint[];
}

function run(kind: 'ste' | 'cd', from: bigint[], to: bigint[], updateSafe = true): Outcome {
  const live = [...from];
  let syncs = 0;
  let hitless = true;
  let consistent = true;
  const used = kind === 'ste' ? usedSte : usedCd;
  writeEntry(
    {
      kind,
      updateSafe,
      store: () => {},
      sync: () => {
        syncs++;
        if (live[0] === 0n) hitless = false;
        // The hardware may read the entry now: it must be the old or the new one on its used bits.
        const u = used(live);
        // §13.1 step 5: bits the update-safe rule lets change in place are not compared.
        if (kind === 'ste' && updateSafe) {
          let safe = MEV;
          const s1chk = 2n << 28n;
          const s2s = 1n << 57n;
          if (
            !(((from[1] as bigint) | (to[1] as bigint)) & s1chk) &&
            !(((from[2] as bigint) | (to[2] as bigint)) & s2s)
          ) {
            safe |= EATS1;
          }
          u[1] = (u[1] as bigint) & ~safe;
        }
        const eq = (a: readonly bigint[]) =>
          live.every((w, i) => (w & (u[i] as bigint)) === ((a[i] as bigint) & (u[i] as bigint)));
        if (!eq(from) && !eq(to) && (live[0] as bigint) & (kind === 'ste' ? 1n : 1n << 31n))
          consistent = false;
      },
    },
    live,
    to,
  );
  return { syncs, hitless, consistent, final: live };
}

function expectHitless(
  kind: 'ste' | 'cd',
  a: bigint[],
  b: bigint[],
  syncs: number,
  updateSafe = true,
): void {
  const o = run(kind, a, b, updateSafe);
  expect(o.final).toEqual(b);
  expect({ syncs: o.syncs, hitless: o.hitless, consistent: o.consistent }).toEqual({
    syncs,
    hitless: true,
    consistent: true,
  });
}

function expectBreaking(
  kind: 'ste' | 'cd',
  a: bigint[],
  b: bigint[],
  syncs: number,
  updateSafe = true,
): void {
  const o = run(kind, a, b, updateSafe);
  expect(o.final).toEqual(b);
  expect({ syncs: o.syncs, hitless: o.hitless }).toEqual({ syncs, hitless: false });
}

describe('STE transitions (KUnit arm_smmu_v3_write_ste_test_*)', () => {
  it('bypass ↔ abort: 2 syncs each way', () => {
    // bypass→abort: only qword 0 is critical (Config); w1 SHCFG is read by bypass so it stays
    // until the last step: [w0] sync, [w1=0] sync → 2.
    expectHitless('ste', BYPASS, ABORT, 2);
    // abort→bypass: w1 unused by abort → written first (sync), then w0 (sync) → 2.
    expectHitless('ste', ABORT, BYPASS, 2);
  });

  it('cdtable(SSID0, ATS) ↔ abort: 2 syncs each way', () => {
    // → abort: w1/w2 are read by the CD-table STE but not by abort: w0 first, then clear → 2.
    expectHitless('ste', cdtable(2n, true), ABORT, 2);
    // abort →: w1 is unused by abort → set first, then w0 → 2.
    expectHitless('ste', ABORT, cdtable(2n, true), 2);
  });

  it('cdtable(SSID0, ATS) ↔ bypass: 3 syncs each way', () => {
    // → bypass: step 1 adds SHCFG to w1 (unused by SSID0), step 2 w0, step 3 drops the S1 bits.
    expectHitless('ste', cdtable(2n, true), BYPASS, 3);
    // bypass →: step 1 w1 = SHCFG | S1 bits, step 2 w0, step 3 drops SHCFG.
    expectHitless('ste', BYPASS, cdtable(2n, true), 3);
  });

  it('cdtable S1DSS SSID0 ↔ S1DSS bypass (ATS): 1 sync — only qword 1 changes', () => {
    expectHitless('ste', cdtable(2n, true), cdtable(1n, true), 1);
    expectHitless('ste', cdtable(1n, true), cdtable(2n, true), 1);
  });

  it('cdtable(S1DSS bypass, ATS) ↔ bypass: 2 syncs each way', () => {
    // → bypass: SHCFG already set and read by both; w0 then the S1 bits cleared → 2.
    expectHitless('ste', cdtable(1n, true), BYPASS, 2);
    // bypass →: w1 gets the S1 bits (SHCFG kept) → sync, then w0 → 2.
    expectHitless('ste', BYPASS, cdtable(1n, true), 2);
  });

  it('s2(ATS) ↔ abort and ↔ bypass: 2 syncs each', () => {
    // s2→abort: w0 first, then w1..w3 cleared → 2; abort→s2: w1..w3 first, then w0 → 2.
    expectHitless('ste', s2(true), ABORT, 2);
    expectHitless('ste', ABORT, s2(true), 2);
    // s2→bypass: SHCFG read by both; w0, then EATS/w2/w3 cleared → 2; bypass→s2: w1..w3, w0 → 2.
    expectHitless('ste', s2(true), BYPASS, 2);
    expectHitless('ste', BYPASS, s2(true), 2);
  });

  it('cdtable(SSID0, ATS) ↔ s2(ATS): 3 syncs each way', () => {
    // cd→s2: w1 gains SHCFG and w2/w3 their S2 values (unused by S1) → sync; w0 → sync; the S1 bits
    // of w1 cleared → sync. s2→cd: w1 gains the S1 bits → sync; w0 → sync; SHCFG, w2, w3 cleared.
    expectHitless('ste', cdtable(2n, true), s2(true), 3);
    expectHitless('ste', s2(true), cdtable(2n, true), 3);
  });

  it('non-hitless: CD table address and S1DSS both change → breaking, 3 syncs', () => {
    // Two critical qwords (w0 ctxptr, w1 S1DSS): V=0, then w1.., then w0 — the SMMU sees V=0.
    expectBreaking('ste', cdtable(2n, false), cdtable(1n, false, false, 0x4b4b_4b4b_4bn), 3);
  });

  it('stall-enabled master: cdtable(SSID0) ↔ s2 (S2S set): 3 syncs each way', () => {
    expectHitless('ste', cdtable(2n, false, true), s2(false, true), 3);
    expectHitless('ste', s2(false, true), cdtable(2n, false, true), 3);
  });

  it('nested cdtable(S1DSS bypass, ATS) ↔ s2(no ATS): hitless with update-safe (3 / 2 syncs)', () => {
    // → s2: MEV and EATS=TRANS are update-safe, so w1 can drop them early: w1 → sync, w0 → sync,
    // then the S1 bits → sync = 3.
    expectHitless('ste', NESTED_S1DSSBYPASS_ATS, s2(false), 3);
    // s2 →: w1 takes MEV/EATS/S1 bits at once (safe or unused) → sync, then w0 → sync = 2.
    expectHitless('ste', s2(false), NESTED_S1DSSBYPASS_ATS, 2);
  });

  it('nested ↔ s2 without the update-safe rule (v6.17): breaking, 3 syncs each way', () => {
    // MEV/EATS are used by both entries and change → qword 1 critical besides qword 0.
    expectBreaking('ste', NESTED_S1DSSBYPASS_ATS, s2(false), 3, false);
    expectBreaking('ste', s2(false), NESTED_S1DSSBYPASS_ATS, 3, false);
  });

  it('no change writes nothing and syncs nothing', () => {
    expect(run('ste', s2(true), s2(true)).syncs).toBe(0);
  });
});

// ---- CDs (arm_smmu_make_s1_cd of the KUnit test: TTBR 0xdaedbeefdeadbeef, TCR ips=1 tg=2 sh=3
// orgn=1 irgn=2 tsz=4, MAIR 0x0abcdef012345678) ----
function s1cd(asid: number): bigint[] {
  // w0: T0SZ 4 | TG0 2 (7:6) | IRGN0 2 (9:8) | ORGN0 1 (11:10) | SH0 3 (13:12) | EPD1 (30) | V (31)
  //     | IPS 1 (34:32) | AA64 (41) | R (45) | A (46) | ASET (47) | ASID (63:48)
  const w0 =
    4n |
    (2n << 6n) |
    (2n << 8n) |
    (1n << 10n) |
    (3n << 12n) |
    (1n << 30n) |
    (1n << 31n) |
    (1n << 32n) |
    (1n << 41n) |
    (1n << 45n) |
    (1n << 46n) |
    (1n << 47n) |
    (BigInt(asid) << 48n);
  return W(w0, 0xdaed_beef_dead_beefn & 0x000f_ffff_ffff_fff0n, 0n, 0x0abc_def0_1234_5678n);
}
/** The same CD after its address space went away: EPD0 set, walk fields and TTB0 cleared. */
function released(asid: number): bigint[] {
  const c = s1cd(asid);
  c[0] = ((c[0] as bigint) & ~0x3fffn) | (1n << 14n);
  c[1] = 0n;
  return c;
}

describe('CD transitions (KUnit arm_smmu_v3_write_cd_test_*)', () => {
  it('clear ↔ s1 CD: 2 syncs each way, not hitless in the KUnit sense (a sync sees qword 0 = 0)', () => {
    // 0 → cd: w1/w3 unused by an invalid CD → first (that sync still sees w0 = 0), then w0 → 2.
    // cd → 0: V first (the sync sees w0 = 0), then w1/w3 cleared → 2.
    expectBreaking('cd', W(), s1cd(1997), 2);
    expectBreaking('cd', s1cd(1997), W(), 2);
  });

  it('ASID change 778 → 1997: 1 sync (only qword 0)', () => {
    expectHitless('cd', s1cd(778), s1cd(1997), 1);
    expectHitless('cd', s1cd(1997), s1cd(778), 1);
  });

  it('CD ↔ released (EPD0) CD: 2 syncs each way', () => {
    // → released: w0 (EPD0) first, then TTB0 cleared (unused once EPD0 is set) → 2.
    expectHitless('cd', s1cd(1997), released(1997), 2);
    // released →: TTB0 first (ignored while EPD0), then w0 → 2.
    expectHitless('cd', released(1997), s1cd(1997), 2);
  });
});
