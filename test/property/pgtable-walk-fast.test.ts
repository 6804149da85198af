// The walker reads a SparseMemory through `read64IntoSlot` (a table's page number kept as an
// integer) and any other WalkMemory through `read64Into` (src/pgtable/walker.ts). Both must give
// the same walk: the same result, the same memory accesses (count, observer record, order), the
// same hardware updates (IHI 0070 §3.13 HTTU) and the same trace. Checked differentially: one
// SparseMemory walked directly, an identical one walked through a plain delegating WalkMemory
// (which forces the generic path). Tables sit below 2^43 (page numbers below 2^31: the integer
// path), above it, and above 2^48 (DS / FEAT_LPA output bits), so both branches of the
// page-number computation are taken, as are multi-page (concatenated or 16K/64K) start tables.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/arch/trace.ts';
import { type MemAccess, SparseMemory } from '../../src/mem/sparse-memory.ts';
import {
  type Granule,
  type StageParams,
  type WalkMemory,
  type WalkRequest,
  walkNested,
  walkS1,
  walkS2,
} from '../../src/pgtable/index.ts';

const TWO32 = 2 ** 32;

/** A WalkMemory that only forwards to a SparseMemory (not one itself: the generic path). */
function delegate(mem: SparseMemory): WalkMemory {
  return {
    get mayAbort() {
      return mem.mayAbort;
    },
    aborts: (pa, size) => mem.aborts(pa, size),
    read64Into: (pa, out) => mem.read64Into(pa, out),
    write64Split: (pa, lo, hi) => mem.write64Split(pa, lo, hi),
  };
}

/**
 * Descriptor halves holding output/next-table address `a` for granule shift g (DDI 0487 D8.3):
 * bits [47:g] in place; with DS (4K/16K) OA[49:48] in bits [49:48] and OA[51:50] in [9:8]; with
 * the 64K granule OA[51:48] in [15:12]. `type` is bits [1:0]; `attrLo` supplies bits [11:2]
 * (except where DS puts address bits) and `attrHi` bits [63:51].
 */
function encode(
  a: number,
  g: number,
  ds: boolean,
  type: number,
  attrLo: number,
  attrHi: number,
): [number, number] {
  const top = Math.floor(a / TWO32); // address bits [51:32]
  const low = a % TWO32;
  let lo = (low - (low % 2 ** g)) | (attrLo & 0xffc) | type;
  let hi = top & 0xffff;
  if (g === 16) lo = (lo & ~0xf000) | (((top >>> 16) & 0xf) << 12);
  else if (ds) {
    hi |= ((top >>> 16) & 3) << 16;
    lo = (lo & ~0x300) | (((top >>> 18) & 3) << 8);
  }
  hi |= attrHi & 0xfff8_0000;
  return [lo >>> 0, hi >>> 0];
}

const GRANULES: Granule[] = [4096, 16384, 65536];

interface Case {
  granule: Granule;
  ds: boolean;
  outputBits: number;
  inputBits: number;
  startExtra: number;
  /** TTB at the end of a 4 KiB page: a start table smaller than a page is its last bytes. */
  ttbAtPageEnd: boolean;
  region: number;
  ha: boolean;
  hd: boolean;
  paBits: number;
  unbacked: 'zero' | 'abort';
  observe: boolean;
  traced: boolean;
  descs: { kind: number; target: number; attrLo: number; attrHi: number; oa: number }[];
  probes: { path: number[]; noise: number; write: boolean; exec: boolean; priv: boolean }[];
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  granule: fc.constantFrom(...GRANULES),
  ds: fc.boolean(),
  outputBits: fc.constantFrom(40, 44, 48, 52),
  inputBits: fc.integer({ min: 25, max: 48 }),
  startExtra: fc.integer({ min: 0, max: 1 }),
  ttbAtPageEnd: fc.boolean(),
  region: fc.integer({ min: 0, max: 2 }),
  ha: fc.boolean(),
  hd: fc.boolean(),
  paBits: fc.constantFrom(52, 52, 48),
  unbacked: fc.constantFrom('zero' as const, 'zero' as const, 'abort' as const),
  observe: fc.boolean(),
  traced: fc.boolean(),
  descs: fc.array(
    fc.record({
      kind: fc.integer({ min: 0, max: 9 }),
      target: fc.nat(),
      attrLo: fc.nat({ max: 0xffff }),
      attrHi: fc.nat({ max: 0xffff_ffff }),
      oa: fc.nat({ max: 2 ** 20 }),
    }),
    { minLength: 64, maxLength: 64 },
  ),
  probes: fc.array(
    fc.record({
      /** per level: which populated slot the address indexes (or, ≥ 4, a random index) */
      path: fc.array(fc.nat({ max: 7 }), { minLength: 5, maxLength: 5 }),
      noise: fc.nat(),
      write: fc.boolean(),
      exec: fc.boolean(),
      priv: fc.boolean(),
    }),
    { minLength: 1, maxLength: 12 },
  ),
});

/** Table bases: below 2^43, around and above it, above 2^48 (reachable with 52-bit outputs). */
function tableBases(granule: number): number[] {
  const bases: number[] = [];
  const size = granule * 16;
  for (let i = 0; i < 8; i++) bases.push(0x4000_0000 + i * size);
  // Around the 2^43 boundary (page numbers 2^31 − 32…), then higher.
  bases.push(2 ** 43 - 2 * size, 2 ** 43 - size, 2 ** 43, 2 ** 47 + 2 ** 40);
  // Only OA[51:50] (DS: descriptor bits [9:8]) or only OA[48] set, then both.
  bases.push(2 ** 51 + size, 2 ** 50, 2 ** 48 + size, 2 ** 50 + 2 ** 48);
  return bases;
}

/**
 * Populated descriptor slots from a table base: first, second, last of the first 4 KiB page, last
 * of the table, and one in its fourth concatenated table.
 */
function slots(granule: number): number[] {
  const n = granule / 8;
  return [...new Set([0, 1, 511, n - 1, 3 * n + 5])];
}

/** Builds the same random tables in a fresh memory (called once per side). */
function build(c: Case): { mem: SparseMemory; params: StageParams; bases: number[] } {
  const g = Math.log2(c.granule);
  const bpl = g - 3;
  const ds = c.ds && c.granule !== 65536;
  const mem = new SparseMemory({ paBits: c.paBits, unbacked: c.unbacked });
  const bases = tableBases(c.granule);
  let d = 0;
  for (const base of bases) {
    if (base + c.granule * 16 > mem.limit) continue;
    for (const slot of slots(c.granule)) {
      const x = c.descs[d++ % c.descs.length] as Case['descs'][number];
      let lo = 0;
      let hi = 0;
      if (x.kind <= 5) {
        const target = bases[x.target % bases.length] as number;
        [lo, hi] = encode(target, g, ds, 3, x.attrLo, x.attrHi);
      } else if (x.kind <= 8) {
        const oa = x.oa * c.granule * (x.kind === 8 ? 2 ** 10 : 1);
        [lo, hi] = encode(oa, g, ds, x.kind === 7 ? 1 : 3, x.attrLo, x.attrHi);
      } else {
        lo = x.attrLo & ~1;
        hi = x.attrHi;
      }
      mem.write64Split(base + slot * 8, lo, hi);
    }
  }
  const start = Math.min(3, 3 - Math.floor((c.inputBits - 1 - g) / bpl) + c.startExtra);
  const ttb = bases[(c.descs[0]?.target ?? 0) % (c.region === 0 ? 8 : c.region === 1 ? 12 : 16)];
  const params: StageParams = {
    granule: c.granule,
    ttb: (ttb as number) + (c.ttbAtPageEnd ? 4096 - 8 : 0),
    inputBits: c.inputBits,
    startLevel: start,
    outputBits: c.outputBits,
    ds,
    lpa: c.outputBits === 52,
    ha: c.ha,
    hd: c.hd,
    affd: false,
  };
  return { mem, params, bases };
}

/** An input address following `path` through the populated slots (DDI 0487 D8.2 indexing). */
function address(c: Case, p: StageParams, pr: Case['probes'][number]): number {
  const g = Math.log2(c.granule);
  const bpl = g - 3;
  let a = pr.noise % 2 ** g;
  for (let level = p.startLevel; level <= 3; level++) {
    const shift = g + (3 - level) * bpl;
    const width = level === p.startLevel ? c.inputBits - shift : bpl;
    if (width <= 0) continue;
    const choice = pr.path[level + 1] as number;
    // Indexes from the table base; a sub-page start table is its page's last bytes (ttbAtPageEnd).
    const cand = [...slots(c.granule).filter((x) => x < 2 ** width), 2 ** width - 1];
    const index = choice < 6 ? (cand[choice % cand.length] as number) : pr.noise % 2 ** width;
    a += index * 2 ** shift;
  }
  return a % 2 ** c.inputBits;
}

interface Run {
  results: unknown[];
  accesses: number;
  seen: MemAccess[];
  trace: TraceEvent[];
  words: number[];
}

type Walker = (
  m: WalkMemory,
  p: StageParams,
  q: WalkRequest,
  sink?: (e: TraceEvent) => void,
) => unknown;

function run(c: Case, direct: boolean, walker: Walker): Run {
  const { mem, params, bases } = build(c);
  const seen: MemAccess[] = [];
  if (c.observe) mem.observe((a) => seen.push(a));
  const trace: TraceEvent[] = [];
  const sink = c.traced ? (e: TraceEvent) => trace.push(e) : undefined;
  const m: WalkMemory = direct ? mem : delegate(mem);
  const results: unknown[] = [];
  for (const pr of c.probes) {
    const q: WalkRequest = {
      address: address(c, params, pr),
      write: pr.write,
      exec: pr.exec && !pr.write,
      priv: pr.priv,
    };
    results.push(walker(m, params, q, sink));
  }
  // Table words after the walks (hardware updates included).
  const words: number[] = [];
  const w = new Uint32Array(2);
  for (const base of bases) {
    if (base + c.granule * 16 > mem.limit || !mem.isBacked(base)) continue;
    for (const slot of slots(c.granule)) {
      mem.read64Into(base + slot * 8, w);
      words.push(w[0] as number, w[1] as number);
    }
  }
  return { results, accesses: mem.accesses, seen, trace, words };
}

describe('walker: SparseMemory fast reads ≡ generic WalkMemory reads', () => {
  const walkers: Record<'s1' | 's2' | 'nested', Walker> = {
    s1: (m, p, q, s) => walkS1(m, p, q, s),
    s2: (m, p, q, s) => walkS2(m, p, q, s),
    // Stage 2 over the same tables from another root: stage-1 table IPAs go through it.
    nested: (m, p, q, s) =>
      walkNested(m, p, { ...p, ttb: tableBases(p.granule)[1] as number }, q, s),
  };
  for (const kind of ['s1', 's2', 'nested'] as const) {
    it(`${kind} walks agree (result, accesses, observer record, HTTU writes, trace)`, () => {
      fc.assert(
        fc.property(caseArb, (c) => {
          const fast = run(c, true, walkers[kind]);
          const slow = run(c, false, walkers[kind]);
          expect(fast.results).toEqual(slow.results);
          expect(fast.accesses).toBe(slow.accesses);
          expect(fast.seen).toEqual(slow.seen);
          expect(fast.words).toEqual(slow.words);
          expect(fast.trace).toEqual(slow.trace);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('the generated walks succeed, reach level 3 and read tables on both sides of 2^43', () => {
    // Guards the generator, so the agreement above is not vacuous.
    let ok = 0;
    let deep = 0;
    let low = 0;
    let high = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        const { mem, params } = build(c);
        mem.observe((a) => {
          if (a.pa >= 2 ** 43) high++;
          else low++;
        });
        for (const pr of c.probes) {
          const r = walkS1(mem, params, {
            address: address(c, params, pr),
            write: false,
            exec: false,
            priv: true,
          });
          if (r.ok) {
            ok++;
            if (r.level === 3) deep++;
          }
        }
      }),
      { numRuns: 400, seed: 7 },
    );
    expect(ok).toBeGreaterThan(100);
    expect(deep).toBeGreaterThan(20);
    expect(low).toBeGreaterThan(100);
    expect(high).toBeGreaterThan(100);
  });
});
