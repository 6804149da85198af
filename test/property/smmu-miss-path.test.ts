// The number path's TLB-miss handling (src/smmu/translate.ts `missRemembered`, src/smmu/tlb.ts
// insertion and CLOCK/LRU/FIFO eviction) against the general path: two SMMUs programmed
// identically (stage 1 or nested, STE PRIVCFG/INSTCFG overrides, two StreamIDs with their own
// CDs and ASIDs, small TLB and configuration caches so that every structure evicts), one driven
// through translate() with a pass-through observer installed (which keeps it on the general
// path: nothing is remembered while an observer is installed), the other through translateFast()
// + lastResult(). Random transactions (mapped and unmapped pages, read/write/priv/inst flags,
// repeats) are interleaved with CMD_CFGI_STE and TLB invalidations. After every step the
// outcomes, the TLB contents in replacement order, the configuration cache contents, the
// counters and the Event queue must agree (IHI 0070 H.a §3.17 TLB, §3.21.3 configuration caches,
// §13 attribute overrides).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IOMMU_PROT } from '../../src/pgtable/index.ts';
import { FAST_ACCESS, FAST_RESULT, type TranslateResult } from '../../src/smmu/types.ts';
import {
  CD_AREA,
  cmd,
  passThrough,
  pgtable,
  RO,
  RW,
  s1Cd,
  s2Ste,
  type TRig,
  trig,
  writeCd,
} from '../unit/smmu-translate-kit.ts';

const VA = 0x40_0000;
const PA = 0x8000_0000;
const IPA = 0x9000_0000;
const SIDS = [4, 5] as const;
const PAGES = 8;

interface Setup {
  nested: boolean;
  tlbCapacity: number;
  tlbEviction: 'clock' | 'lru' | 'fifo';
  eviction: 'lru' | 'fifo';
  configCapacity: number;
  privcfg: number;
  instcfg: number;
  /** Per page: stage-1 protection, stage-2 protection (nested). */
  prots: { s1: number; s2: number }[];
}

const protArb = fc.constantFrom(
  RW,
  RO,
  RW | IOMMU_PROT.CACHE,
  RO | IOMMU_PROT.NOEXEC,
  RW | IOMMU_PROT.PRIV,
  RW | IOMMU_PROT.MMIO,
);

const setupArb: fc.Arbitrary<Setup> = fc.record({
  nested: fc.boolean(),
  tlbCapacity: fc.integer({ min: 1, max: 6 }),
  tlbEviction: fc.constantFrom('clock', 'lru', 'fifo'),
  eviction: fc.constantFrom('lru', 'fifo'),
  configCapacity: fc.constantFrom(1, 2, 1024),
  privcfg: fc.nat(3),
  instcfg: fc.nat(3),
  prots: fc.array(fc.record({ s1: protArb, s2: protArb }), {
    minLength: PAGES,
    maxLength: PAGES,
  }),
});

const stepArb = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('txn' as const),
      sid: fc.constantFrom(0, 0, 0, 1),
      // Pages PAGES and PAGES + 1 are unmapped.
      page: fc.nat(PAGES + 1),
      offset: fc.nat(0xfff),
      flags: fc.nat(7),
      repeat: fc.integer({ min: 1, max: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('cfgi' as const, 'tlbi' as const),
      sid: fc.constantFrom(0, 1),
    }),
  },
);

function build(s: Setup): TRig {
  const r = trig({
    features: { attrPermsOvr: true },
    topts: {
      tlbCapacity: s.tlbCapacity,
      tlbEviction: s.tlbEviction,
      eviction: s.eviction,
      configCapacity: s.configCapacity,
    },
  });
  const s1 = pgtable(r, 'ARM_64_LPAE_S1');
  const s2 = s.nested ? pgtable(r, 'ARM_64_LPAE_S2') : undefined;
  if (s2) {
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    expect(s2.map(0x1000_0000, 0x1000_0000, 0x1000_0000, RW)).toBe(0);
  }
  s.prots.forEach((p, i) => {
    const va = VA + i * 0x1000;
    if (s2) {
      expect(s1.map(va, IPA + i * 0x1000, 0x1000, p.s1)).toBe(0);
      expect(s2.map(IPA + i * 0x1000, PA + i * 0x1000, 0x1000, p.s2)).toBe(0);
    } else {
      expect(s1.map(va, PA + i * 0x1000, 0x1000, p.s1)).toBe(0);
    }
  });
  SIDS.forEach((sid, k) => {
    const cdPa = CD_AREA + 64 * k;
    writeCd(r.mem, cdPa, s1Cd(s1, 5 + k));
    const ste = {
      V: 1,
      Config: s2 ? 7 : 5,
      S1ContextPtr: cdPa,
      PRIVCFG: s.privcfg,
      INSTCFG: s.instcfg,
      ...(s2 ? s2Ste(s2, 2) : {}),
    };
    r.ste(sid, ste);
  });
  return r;
}

function codeOf(r: TranslateResult): number {
  if (r.ok) return Number(r.pa);
  if (r.stalled) return FAST_RESULT.STALLED;
  return r.razwi ? FAST_RESULT.RAZWI : FAST_RESULT.ABORT;
}

/** Everything a transaction may change, in a comparable form. */
function state(r: TRig): unknown {
  return {
    tlb: r.t.tlbEntries(),
    config: r.t.configEntries(),
    stats: { ...r.t.stats },
    events: r.events(),
  };
}

describe('the number path on a TLB miss agrees with the general path', () => {
  it('on random stage-1 / nested configurations, replacement policies and sequences', () => {
    let walksSeen = 0;
    fc.assert(
      fc.property(setupArb, fc.array(stepArb, { minLength: 1, maxLength: 60 }), (s, steps) => {
        const a = build(s);
        const b = build(s);
        a.t.setObserver(passThrough);
        for (const st of steps) {
          const sid = SIDS[st.sid] as number;
          if (st.kind === 'txn') {
            const iova = VA + st.page * 0x1000 + st.offset;
            const write = (st.flags & FAST_ACCESS.WRITE) !== 0;
            for (let k = 0; k < st.repeat; k++) {
              const ra = a.smmu.translate({
                sid,
                iova: BigInt(iova),
                access: write ? 'write' : 'read',
                priv: (st.flags & FAST_ACCESS.PRIV) !== 0,
                inst: (st.flags & FAST_ACCESS.INST) !== 0,
              });
              const code = b.smmu.translateFast(sid, -1, iova, st.flags);
              expect(b.smmu.lastResult()).toEqual(ra);
              expect(code).toBe(codeOf(ra));
              expect(state(b)).toEqual(state(a));
            }
          } else if (st.kind === 'cfgi') {
            a.sync(cmd('CFGI_STE', { StreamID: sid, Leaf: 1 }));
            b.sync(cmd('CFGI_STE', { StreamID: sid, Leaf: 1 }));
          } else {
            const c = s.nested
              ? cmd('TLBI_S12_VMALL', { VMID: 2 })
              : cmd('TLBI_NH_ASID', { ASID: 5 + st.sid });
            a.sync(c);
            b.sync(c);
          }
        }
        walksSeen += b.t.stats.walks;
      }),
      { numRuns: 80 },
    );
    // The property ran through walks (misses), not only configuration faults.
    expect(walksSeen).toBeGreaterThan(100);
  });

  it('a cycle over more pages than TLB entries walks every time and keeps the same entries', () => {
    const s: Setup = {
      nested: false,
      tlbCapacity: 4,
      tlbEviction: 'clock',
      eviction: 'lru',
      configCapacity: 1024,
      privcfg: 0,
      instcfg: 0,
      prots: Array.from({ length: PAGES }, () => ({ s1: RW, s2: RW })),
    };
    const a = build(s);
    const b = build(s);
    a.t.setObserver(passThrough);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < PAGES; i++) {
        const ra = a.smmu.translate({ sid: 4, iova: BigInt(VA + i * 0x1000), access: 'read' });
        expect(b.smmu.translateFast(4, -1, VA + i * 0x1000, 0)).toBe(PA + i * 0x1000);
        expect(b.smmu.lastResult()).toEqual(ra);
      }
    }
    // Every access missed (8 pages cycled through 4 entries) and the last 4 pages remain.
    expect(b.t.stats.walks).toBe(3 * PAGES);
    expect(b.t.tlbEntries().map((e) => Number(e.input))).toEqual(
      [4, 5, 6, 7].map((i) => VA + i * 0x1000),
    );
    expect(state(b)).toEqual(state(a));
  });
});
