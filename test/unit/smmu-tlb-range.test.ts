// Range TLB invalidation math (IHI 0070 H.a §4.4.1.1; smmuv3-arch.md [3.6]) against a bigint
// reference written from the rule: with TG ≠ 0 the command covers
// [Addr, Addr + (NUM + 1) · 2^SCALE · granule), without wrap-around past the top of the VA half,
// and only entries of that granule and (TTL ≠ 0) that leaf level must go; with TG = 0 (or without
// IDR3.RIL, where the range fields are RES0) it names the single address Addr. A 16K TTL of 0b01
// reads as 0b00 without LPA2. The model's decoder and TLB are driven directly.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TLB_KIND, Tlb } from '../../src/smmu/tlb.ts';
import { decodeTlbiRange } from '../../src/smmu/translate.ts';
import { cmd } from './smmu-translate-kit.ts';

/** Leaf block sizes per granule (log2) by level: 4K L1/L2/L3, 16K L2/L3, 64K L2/L3. */
const LEAVES: readonly { gran: number; level: number; shift: number }[] = [
  { gran: 12, level: 1, shift: 30 },
  { gran: 12, level: 2, shift: 21 },
  { gran: 12, level: 3, shift: 12 },
  { gran: 14, level: 2, shift: 25 },
  { gran: 14, level: 3, shift: 14 },
  { gran: 16, level: 2, shift: 29 },
  { gran: 16, level: 3, shift: 16 },
];

interface Entry {
  readonly leaf: number;
  /** Block index at its own size (address = index · 2^shift), below 2^44 overall. */
  readonly index: bigint;
}

const entryArb = fc.record({
  leaf: fc.integer({ min: 0, max: LEAVES.length - 1 }),
  // Mostly small indexes, so that entries and commands overlap often.
  index: fc.oneof(fc.bigInt({ min: 0n, max: 40n }), fc.bigInt({ min: 0n, max: (1n << 32n) - 1n })),
});

const cmdArb = fc.record({
  ril: fc.boolean(),
  tg: fc.integer({ min: 0, max: 3 }),
  num: fc.integer({ min: 0, max: 31 }),
  scale: fc.integer({ min: 0, max: 31 }),
  ttl: fc.integer({ min: 0, max: 3 }),
  page: fc.oneof(fc.bigInt({ min: 0n, max: 1024n }), fc.bigInt({ min: 0n, max: (1n << 32n) - 1n })),
});

function base(e: Entry): bigint {
  const l = LEAVES[e.leaf] as (typeof LEAVES)[number];
  // Keep every entry inside 44 bits so the generator explores overlaps.
  return (e.index << BigInt(l.shift)) & ((1n << 44n) - 1n) & ~((1n << BigInt(l.shift)) - 1n);
}

/** The reference: which entries the command must remove. */
function mustGo(
  entries: Entry[],
  c: typeof cmdArb extends fc.Arbitrary<infer T> ? T : never,
): boolean[] {
  const addr = c.page << 12n;
  const tg = c.ril ? c.tg : 0;
  return entries.map((e) => {
    const l = LEAVES[e.leaf] as (typeof LEAVES)[number];
    const lo = base(e);
    const hi = lo + (1n << BigInt(l.shift));
    if (tg === 0) return addr >= lo && addr < hi;
    const gran = tg === 1 ? 12 : tg === 2 ? 14 : 16;
    const ttl = gran === 14 && c.ttl === 1 ? 0 : c.ttl;
    if (l.gran !== gran) return false;
    if (ttl !== 0 && l.level !== ttl) return false;
    let end = addr + BigInt(c.num + 1) * (1n << BigInt(c.scale)) * (1n << BigInt(gran));
    if (end > 1n << 52n) end = 1n << 52n;
    return lo < end && hi > addr;
  });
}

describe('range TLBI against a bigint reference', () => {
  it('removes exactly the entries the rule names', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 24 }), cmdArb, (raw, c) => {
        // Distinct blocks only (one entry per address and size, as the TLB keys them).
        const seen = new Set<string>();
        const entries = raw.filter((e) => {
          const k = `${e.leaf}:${base(e)}`;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        });
        const tlb = new Tlb(64, 'lru');
        const ctx = tlb.context(TLB_KIND.S1, 0, 1, 5, false, 0);
        for (const e of entries) {
          const l = LEAVES[e.leaf] as (typeof LEAVES)[number];
          tlb.insert(ctx, Number(base(e)), l.shift, 0, -1, 0xff, 0xff, 0, l.level, l.gran);
        }
        const [w0, w1] = cmd('TLBI_NH_VAA', {
          VMID: 1,
          Addr: c.page << 12n,
          TG: c.tg,
          NUM: c.num,
          SCALE: c.scale,
          TTL: c.ttl,
        });
        const r = decodeTlbiRange(w0, w1, false, c.ril);
        tlb.invalidateRange(() => true, r.start, r.end, r.filter, 'test');
        const left = new Set(tlb.entries().map((v) => `${Math.log2(v.size)}:${v.input}`));
        const expected = mustGo(entries, c);
        entries.forEach((e, i) => {
          const l = LEAVES[e.leaf] as (typeof LEAVES)[number];
          const present = left.has(`${l.shift}:${base(e)}`);
          expect(present, `entry ${l.gran}/${l.level} @${base(e).toString(16)}`).toBe(!expected[i]);
        });
      }),
      { numRuns: 400 },
    );
  });

  it('a TTB1-half address selects half 1 and its range stops at the top of the VA space', () => {
    const [w0, w1] = cmd('TLBI_NH_VAA', {
      VMID: 0,
      Addr: 0xffff_ffff_ffff_e000n,
      TG: 1,
      NUM: 31,
      SCALE: 10,
    });
    const r = decodeTlbiRange(w0, w1, false, true);
    // VA[55] = 1; key space VA[51:0]: 0xf_ffff_ffff_e000 up to 2^52, not wrapped.
    expect(r).toEqual({
      half: 1,
      start: 0xf_ffff_ffff_e000,
      end: 2 ** 52,
      filter: { granShift: 12, level: 0 },
    });
  });

  it('the IPA form reads IPA[51:12] and always uses half 0', () => {
    const [w0, w1] = cmd('TLBI_S2_IPA', {
      VMID: 3,
      IPA: 0xa_bcde_f000n,
      TG: 3,
      NUM: 2,
      SCALE: 1,
      TTL: 3,
    });
    // (2 + 1) · 2^1 · 64K = 384K.
    expect(decodeTlbiRange(w0, w1, true, true)).toEqual({
      half: 0,
      start: 0xa_bcde_f000,
      end: 0xa_bcde_f000 + 3 * 2 * 65536,
      filter: { granShift: 16, level: 3 },
    });
  });
});
