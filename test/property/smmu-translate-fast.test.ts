// The number-path entry Smmu.translateFast (src/smmu/smmu.ts, translate.ts) against the bigint
// API Smmu.translate (interfaces.md §4): two SMMUs programmed identically with the QEMU oracle
// rig's set-ups (S1, S2, nested, bypass, abort, bad STE, bad StreamID, SMMUEN = 0; 4K/16K/64K
// granules; read-only pages; CD.R / STE.S2R off), driven by the same random transaction sequence
// — one through translate() with a pass-through observer installed (which keeps it on the general
// path: the memoised TLB-hit path only runs unobserved), one through translateFast() +
// lastResult(), and one through translate() unobserved (the bigint API over the same hit path).
// Every outcome
// (PA, attributes, event record, RAZ/WI), the event queue bytes and PROD, and the translation
// counters must agree. Each address is presented several times so that TLB and configuration
// cache hits (the fast path) and misses both occur.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VsmmuError } from '../../src/arch/errors.ts';
import { createQtestServer } from '../../src/devices/qtest.ts';
import type { Smmu } from '../../src/smmu/smmu.ts';
import { createTranslation, type Translation } from '../../src/smmu/translate.ts';
import { FAST_ACCESS, FAST_RESULT, type TranslateResult } from '../../src/smmu/types.ts';
import {
  applyScenario,
  Driver,
  EDU_SID,
  LAYOUT,
  type Mode,
  ModelSide,
  R,
  Scenario,
} from '../oracle/rig.ts';
import { passThrough } from '../unit/smmu-translate-kit.ts';

type Granule = 4096 | 16384 | 65536;

interface Setup {
  mode: Mode;
  granule: Granule;
  s1Record: boolean;
  s2Record: boolean;
  /** Mapped pages: index and writability. */
  pages: { i: number; w: boolean }[];
  tlbCapacity: number;
}

const IOVA_BASE = 0x10_0000;
const PA_BASE = Number(LAYOUT.data);
const IPA_BASE = 0x2000_0000;

function build(s: Setup): Scenario {
  const sc = new Scenario(s.mode);
  sc.s1Record = s.s1Record;
  sc.s2Record = s.s2Record;
  const g = BigInt(s.granule);
  const iova = (i: number): bigint => BigInt(IOVA_BASE) + BigInt(i) * g;
  const pa = (i: number): bigint => BigInt(PA_BASE) + BigInt(i) * g;
  const ipa = (i: number): bigint => BigInt(IPA_BASE) + BigInt(i) * g;
  if (s.mode === 's1') {
    const s1 = sc.useS1(s.granule, 48);
    for (const p of s.pages) s1.map(iova(p.i), pa(p.i), g, true, p.w);
  } else if (s.mode === 's2') {
    const s2 = sc.useS2(s.granule, 40);
    for (const p of s.pages) s2.map(iova(p.i), pa(p.i), g, true, p.w);
  } else if (s.mode === 'nested') {
    const s2 = sc.useS2(s.granule, 40);
    const s1 = sc.useS1(s.granule, 48);
    sc.mapNestedWindow();
    for (const p of s.pages) {
      // Stage-1 write permission from the page; stage 2 read-only on every third page.
      s1.map(iova(p.i), ipa(p.i), g, true, p.w);
      s2.map(ipa(p.i), pa(p.i), g, true, p.i % 3 !== 0);
    }
  }
  return sc;
}

async function smmuFor(s: Setup, general = false): Promise<Smmu> {
  const { server, smmu } = createQtestServer({
    translation: (core) => createTranslation(core, { tlbCapacity: s.tlbCapacity }),
  });
  const sc = build(s);
  await applyScenario(new Driver(new ModelSide(server)), sc, sc.build());
  if (general) (smmu.translationSide as Translation).setObserver(passThrough);
  return smmu;
}

function eventQueue(smmu: Smmu): { prod: number | bigint; bytes: Uint8Array } {
  return {
    prod: smmu.mmioRead(R.EVENTQ_PROD, 4),
    bytes: smmu.mem.readBytes(Number(LAYOUT.evtq), 32 * 256),
  };
}

function stats(smmu: Smmu): unknown {
  return { ...(smmu.translationSide as Translation).stats };
}

/** The FAST_RESULT code (or PA) the bigint API's result corresponds to. */
function codeOf(r: TranslateResult): number {
  if (r.ok) return Number(r.pa);
  if (r.stalled) return FAST_RESULT.STALLED;
  return r.razwi ? FAST_RESULT.RAZWI : FAST_RESULT.ABORT;
}

const setupArb: fc.Arbitrary<Setup> = fc.record({
  mode: fc.constantFrom<Mode>(
    's1',
    's1',
    's2',
    'nested',
    'nested',
    'bypass',
    'abort',
    'bad-ste',
    'bad-sid',
    'disabled',
  ),
  granule: fc.constantFrom<Granule>(4096, 16384, 65536),
  s1Record: fc.boolean(),
  s2Record: fc.boolean(),
  pages: fc.uniqueArray(fc.record({ i: fc.nat(15), w: fc.boolean() }), {
    selector: (p) => p.i,
    maxLength: 12,
  }),
  // Small TLBs so that eviction happens within a run.
  tlbCapacity: fc.constantFrom(0, 2, 8, 4096),
});

const txnArb = fc.record({
  page: fc.nat(19),
  offset: fc.nat(0xfff),
  write: fc.boolean(),
  priv: fc.boolean(),
  inst: fc.boolean(),
  ssid: fc.constantFrom(-1, -1, -1, 0, 1),
  repeat: fc.integer({ min: 1, max: 3 }),
});

describe('Smmu.translateFast agrees with Smmu.translate', () => {
  it('on random configurations and transaction sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        setupArb,
        fc.array(txnArb, { minLength: 1, maxLength: 40 }),
        async (s, txns) => {
          const a = await smmuFor(s, true);
          const b = await smmuFor(s);
          const c = await smmuFor(s);
          const g = s.granule;
          let hits = 0;
          for (const t of txns) {
            const iova = IOVA_BASE + t.page * g + t.offset;
            const flags =
              (t.write ? FAST_ACCESS.WRITE : 0) +
              (t.priv ? FAST_ACCESS.PRIV : 0) +
              (t.inst ? FAST_ACCESS.INST : 0);
            for (let k = 0; k < t.repeat; k++) {
              const ra = a.translate({
                sid: EDU_SID,
                ssid: t.ssid < 0 ? undefined : t.ssid,
                iova: BigInt(iova),
                access: t.write ? 'write' : 'read',
                priv: t.priv,
                inst: t.inst,
              });
              const code = b.translateFast(EDU_SID, t.ssid, iova, flags);
              const rb = b.lastResult();
              expect(rb).toEqual(ra);
              expect(code).toBe(codeOf(ra));
              const rc = c.translate({
                sid: EDU_SID,
                ssid: t.ssid < 0 ? undefined : t.ssid,
                iova: BigInt(iova),
                access: t.write ? 'write' : 'read',
                priv: t.priv,
                inst: t.inst,
              });
              expect(rc).toEqual(ra);
              if (ra.ok) hits++;
            }
          }
          expect(eventQueue(b)).toEqual(eventQueue(a));
          expect(stats(b)).toEqual(stats(a));
          expect(eventQueue(c)).toEqual(eventQueue(a));
          expect(stats(c)).toEqual(stats(a));
          return hits >= 0;
        },
      ),
      { numRuns: 60 },
    );
  });

  it('covers the fast path: repeated hits keep agreeing with the bigint API and its counters', async () => {
    const s: Setup = {
      mode: 's1',
      granule: 4096,
      s1Record: true,
      s2Record: true,
      pages: [
        { i: 0, w: true },
        { i: 1, w: false },
      ],
      tlbCapacity: 4096,
    };
    const a = await smmuFor(s, true);
    const b = await smmuFor(s);
    for (let k = 0; k < 3; k++) {
      for (const [page, write] of [
        [0, false],
        [0, true],
        [1, false],
        [1, true],
      ] as const) {
        const iova = IOVA_BASE + page * 4096 + 0x10;
        const ra = a.translate({
          sid: EDU_SID,
          iova: BigInt(iova),
          access: write ? 'write' : 'read',
        });
        const code = b.translateFast(EDU_SID, -1, iova, write ? FAST_ACCESS.WRITE : 0);
        expect(b.lastResult()).toEqual(ra);
        // Page 1 is read-only: a write is an F_PERMISSION from the cached entry.
        if (page === 1 && write) expect(code).toBe(FAST_RESULT.ABORT);
        else expect(code).toBe(PA_BASE + page * 4096 + 0x10);
      }
    }
    const st = (b.translationSide as Translation).stats;
    // Two walks (one per page); every later read/write of a mapped page is a TLB hit.
    expect(st.walks).toBe(2);
    expect(st.tlbHits).toBe(10);
    expect(stats(b)).toEqual(stats(a));
    expect(eventQueue(b)).toEqual(eventQueue(a));
  });

  it('rejects input addresses a number cannot hold exactly; translate() still takes them', async () => {
    const s: Setup = {
      mode: 's1',
      granule: 4096,
      s1Record: true,
      s2Record: true,
      pages: [],
      tlbCapacity: 16,
    };
    const b = await smmuFor(s);
    expect(() => b.translateFast(EDU_SID, -1, 2 ** 53, 0)).toThrow(VsmmuError);
    expect(() => b.translateFast(EDU_SID, -1, 1.5, 0)).toThrow(VsmmuError);
    expect(() => b.translateFast(-1, -1, 0, 0)).toThrow(VsmmuError);
    expect(() => b.translateFast(EDU_SID, 2 ** 20, 0, 0)).toThrow(VsmmuError);
    expect(() => b.translateFast(EDU_SID, -1, 0, 8)).toThrow(VsmmuError);
    // VA[55] = 1 with a single TTB0 range: a stage-1 F_TRANSLATION carrying the exact address.
    const r = b.translate({ sid: EDU_SID, iova: 0xff80_0000_0000_1000n, access: 'read' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.event?.fields['InputAddr']).toBe(0xff80_0000_0000_1000n);
  });
});
