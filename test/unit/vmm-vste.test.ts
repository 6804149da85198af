// Guest STE lookup (IHI 0070 H.a §5.1, §6.3.24; smmuv3-arch.md §1.2) and vSTE masking
// (Linux STRTAB_STE_{0,1}_NESTING_ALLOWED ∩ fields meaningful under the vIDRs). Expected
// addresses and words are computed here from the rules, with literal bit positions.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildVidr,
  decideSte,
  fetchGuestSte,
  GuestRam,
  type HostSmmuInfo,
  maskVste,
} from '../../src/vmm/index.ts';
import { FakeKernel } from './vmm-fake-kernel.ts';

const HOST: HostSmmuInfo = {
  idr: [0x0d44101b, 0x02730010 | (20 << 6), 0, 0x1414, 0, 0x74],
  iidr: 0,
  aidr: 1,
};
const BASE = 0x4000_0000;

function ram(): GuestRam {
  return new GuestRam(new FakeKernel(), BASE, 0x20_0000);
}

describe('guest stream table lookup', () => {
  const f = buildVidr(HOST, { vsids: [1] }).features;

  it('linear: base aligned down to the table size, 64 bytes per STE', () => {
    const r = ram();
    // LOG2SIZE 8 → 256 × 64 B = 16 KiB table; a base 0x40 past a 16 KiB boundary aligns down.
    const table = BASE + 0x4000;
    r.writeWords(table + 64 * 0x21, [0xabcn, 0xdefn]);
    const got = fetchGuestSte(r, { strtabBase: BigInt(table + 0x40), strtabBaseCfg: 8 }, 0x21, f);
    expect(got).toEqual({ ok: true, words: [0xabcn, 0xdefn], addr: table + 64 * 0x21 });
    // StreamID 256 is beyond 2^LOG2SIZE.
    expect(fetchGuestSte(r, { strtabBase: BigInt(table), strtabBaseCfg: 8 }, 256, f).ok).toBe(
      false,
    );
    // LOG2SIZE above SIDSIZE (16) is capped: StreamID 2^16 is out of range.
    expect(fetchGuestSte(r, { strtabBase: BigInt(table), strtabBaseCfg: 20 }, 1 << 16, f).ok).toBe(
      false,
    );
    // A table outside guest RAM is a fetch abort.
    expect(fetchGuestSte(r, { strtabBase: 0x1000n, strtabBaseCfg: 8 }, 1, f).ok).toBe(false);
  });

  it('2-level: L1STD Span and L2Ptr, SPLIT values other than 6/8/10 act as 6', () => {
    const r = ram();
    const l1 = BASE + 0x1_0000;
    const l2 = BASE + 0x2_0000;
    // FMT 1, SPLIT 7 (→ 6), LOG2SIZE 12: L1 index = SID >> 6, L2 index = SID & 63.
    const cfg = (1 << 16) | (7 << 6) | 12;
    const sid = (5 << 6) | 9;
    // Span 7 → 64 STEs; L2Ptr low bits below the array size are ignored.
    r.writeWords(l1 + 8 * 5, [BigInt(l2 + 0x40) | 7n]);
    r.writeWords(l2 + 64 * 9, [0x11n, 0x22n]);
    const got = fetchGuestSte(r, { strtabBase: BigInt(l1), strtabBaseCfg: cfg }, sid, f);
    expect(got).toEqual({ ok: true, words: [0x11n, 0x22n], addr: l2 + 64 * 9 });
    // Span 4 (8 STEs) does not cover index 9.
    r.writeWords(l1 + 8 * 5, [BigInt(l2) | 4n]);
    expect(fetchGuestSte(r, { strtabBase: BigInt(l1), strtabBaseCfg: cfg }, sid, f).ok).toBe(false);
    // Span 8 > SPLIT + 1 = 7 is invalid.
    r.writeWords(l1 + 8 * 5, [BigInt(l2) | 8n]);
    expect(fetchGuestSte(r, { strtabBase: BigInt(l1), strtabBaseCfg: cfg }, sid, f).ok).toBe(false);
  });

  it('decides abort / bypass / nested from V and Config', () => {
    const ok = (w0: bigint) => ({ ok: true as const, words: [w0, 0n] as const, addr: 0 });
    expect(decideSte({ ok: false, reason: 'x' }, f).kind).toBe('abort');
    expect(decideSte(ok(0xan), f).kind).toBe('abort'); // V = 0 (Config 5)
    for (const cfg of [0n, 1n, 2n, 3n])
      expect(decideSte(ok(1n | (cfg << 1n)), f).kind).toBe('abort');
    expect(decideSte(ok(1n | (4n << 1n)), f).kind).toBe('bypass');
    for (const cfg of [5n, 6n, 7n]) expect(decideSte(ok(1n | (cfg << 1n)), f).kind).toBe('nested');
  });
});

describe('vSTE masking', () => {
  const ALLOWED0 = 0xf80f_ffff_ffff_ffffn;
  const ALLOWED1 = 0x3800_00ffn;
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

  it('keeps only kernel-allowed fields that the vIDRs make meaningful', () => {
    fc.assert(
      fc.property(
        u64,
        u64,
        fc.constantFrom(0, 5),
        fc.boolean(),
        fc.constantFrom(32, 36, 40, 42, 44, 48, 52),
        (w0, w1, ssid, ats, oas) => {
          const f = buildVidr(HOST, { vsids: [1], ssidBits: ssid, ats, oas }).features;
          const [m0, m1] = maskVste(w0, w1, f);
          expect(m0 & ~ALLOWED0).toBe(0n);
          expect(m1 & ~ALLOWED1).toBe(0n);
          // Reference: V[0], Config[3:1], S1ContextPtr[min(51, oas-1):6] always; S1Fmt[5:4] and
          // S1CDMax[63:59] with substreams; S1CIR/COR/CSH[7:2] and S1STALLD[27] always; S1DSS[1:0]
          // with substreams and S1CDMax ≠ 0; EATS[29:28] with ATS.
          const top = Math.min(51, oas - 1);
          let r0 = 0xfn | (((1n << BigInt(top + 1)) - 1n) & ~0x3fn);
          let r1 = 0xfcn | (1n << 27n);
          if (ssid > 0) {
            r0 |= 0x30n | (0x1fn << 59n);
            if (w0 >> 59n !== 0n) r1 |= 0x3n;
          }
          if (ats) r1 |= 0x3n << 28n;
          expect(m0).toBe(w0 & r0);
          expect(m1).toBe(w1 & r1);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('stage-1 STEs ILLEGAL under the vIDRs (refused by the VMM)', () => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

  it('S1CDMax > SSIDSIZE, 2-level S1Fmt without CD2L, S1STALLD with STALL_MODEL ≠ 0b00', () => {
    fc.assert(
      fc.property(
        u64,
        u64,
        fc.constantFrom(5n, 6n, 7n),
        fc.constantFrom(0, 5, 20),
        fc.boolean(),
        fc.constantFrom(0, 1, 2),
        (w0r, w1, cfg, ssid, cd2l, stall) => {
          // V = 1 and a stage-1 Config in bits [3:1].
          const w0 = (w0r & ~0xfn) | 1n | (cfg << 1n);
          const base = buildVidr(HOST, { vsids: [1], ssidBits: ssid }).features;
          const f = { ...base, cd2l, stallModel: stall };
          // Reference from §5.2: S1CDMax = w0[63:59], S1Fmt = w0[5:4], S1STALLD = w1[27].
          const cdMax = Number(w0 >> 59n);
          const fmt = Number((w0 >> 4n) & 3n);
          const stalld = (w1 >> 27n) & 1n;
          // The rules apply only with stage 1 on (Config[0] = 1); otherwise the S1 fields are IGNORED.
          const s1 = (cfg & 1n) === 1n;
          const illegal =
            s1 &&
            ((ssid > 0 && cdMax > ssid) ||
              (ssid > 0 && cdMax !== 0 && !cd2l && (fmt === 1 || fmt === 2)) ||
              (stalld === 1n && stall !== 0));
          const d = decideSte({ ok: true, words: [w0, w1], addr: 0 }, f);
          expect(d.kind).toBe(illegal ? 'illegal' : 'nested');
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('the advertised STALL_MODEL is 0b01, so any stage-1 STE with S1STALLD = 1 is refused', () => {
    const f = buildVidr(HOST, { vsids: [1] }).features;
    expect(f.stallModel).toBe(1);
    const w0 = 1n | (5n << 1n);
    const d = decideSte({ ok: true, words: [w0, 1n << 27n], addr: 0 }, f);
    expect(d.kind).toBe('illegal');
    if (d.kind === 'illegal') expect(d.reason).toMatch(/S1STALLD/);
    expect(decideSte({ ok: true, words: [w0, 0n], addr: 0 }, f).kind).toBe('nested');
    // Bypass ignores every S1 field, S1STALLD included.
    const by = 1n | (4n << 1n);
    expect(decideSte({ ok: true, words: [by, 1n << 27n], addr: 0 }, f).kind).toBe('bypass');
  });

  it('a 2-level S1Fmt is refused only with substreams, S1CDMax ≠ 0 and CD2L = 0', () => {
    const base = buildVidr(HOST, { vsids: [1], ssidBits: 5 }).features;
    const ste = (fmt: bigint, cdMax: bigint) => ({
      ok: true as const,
      words: [1n | (5n << 1n) | (fmt << 4n) | (cdMax << 59n), 0n] as const,
      addr: 0,
    });
    const no2l = { ...base, cd2l: false };
    const with2l = { ...base, cd2l: true };
    for (const fmt of [1n, 2n]) {
      expect(decideSte(ste(fmt, 3n), no2l).kind).toBe('illegal');
      expect(decideSte(ste(fmt, 3n), with2l).kind).toBe('nested');
      // S1CDMax = 0: S1Fmt is IGNORED.
      expect(decideSte(ste(fmt, 0n), no2l).kind).toBe('nested');
      // SSIDSIZE = 0: S1Fmt and S1CDMax are IGNORED.
      expect(decideSte(ste(fmt, 3n), { ...no2l, ssidSize: 0 }).kind).toBe('nested');
    }
    // 0b11 behaves as linear; 0b00 is linear.
    expect(decideSte(ste(3n, 3n), no2l).kind).toBe('nested');
    expect(decideSte(ste(0n, 3n), no2l).kind).toBe('nested');
  });
});
