// ID-register decoding (IHI 0070 §6.3.1–§6.3.6, §6.3.8). Expected values are derived by hand from
// the bit patterns of the QEMU 10.0.2 `virt` registers (formats.md §6), and field positions are
// checked against the masks Linux arm-smmu-v3.h declares (GENMASK values written out below).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VsmmuError } from '../../src/arch/errors.ts';
import {
  decodeFeatures,
  encodeIdrs,
  type IdRegisters,
  QEMU_VIRT_IDRS,
} from '../../src/smmu/features.ts';

const ZERO: IdRegisters = { idr0: 0, idr1: 0, idr2: 0, idr3: 0, idr4: 0, idr5: 0, aidr: 0 };

describe('decodeFeatures on the QEMU virt registers', () => {
  const f = decodeFeatures(QEMU_VIRT_IDRS);

  it('decodes IDR0 0x0d44101b', () => {
    // 0x0d44101b: bits 27,26,24 | 22,18 | 12 | 4,3,1,0.
    expect(f.s2p).toBe(true); // bit 0
    expect(f.s1p).toBe(true); // bit 1
    expect(f.ttf).toBe(2); // [3:2] = 0b10: AArch64 only
    expect(f.cohacc).toBe(true); // bit 4
    expect(f.httu).toBe(0);
    expect(f.hyp).toBe(false);
    expect(f.ats).toBe(false);
    expect(f.asid16).toBe(true); // bit 12
    expect(f.msi).toBe(false);
    expect(f.sev).toBe(false);
    expect(f.pri).toBe(false);
    expect(f.vmid16).toBe(true); // bit 18
    expect(f.cd2l).toBe(false);
    expect(f.ttendian).toBe(2); // [22:21] = 0b10: little-endian only
    expect(f.stallModel).toBe(1); // [25:24] = 0b01: terminate only
    expect(f.termModel).toBe(true); // bit 26
    expect(f.stLevel).toBe(1); // [28:27] = 0b01: 2-level stream table
  });

  it('decodes IDR1 0x02730010', () => {
    // bits 25,22,21 → CMDQS 0b10011; bits 20,17,16 → EVENTQS 0b10011; bit 4 → SIDSIZE 16.
    expect(f.cmdqs).toBe(19);
    expect(f.eventqs).toBe(19);
    expect(f.priqs).toBe(0);
    expect(f.ssidSize).toBe(0);
    expect(f.sidSize).toBe(16);
    expect(f.attrTypesOvr).toBe(false);
    expect(f.attrPermsOvr).toBe(false);
    expect(f.tablesPreset).toBe(false);
    expect(f.queuesPreset).toBe(false);
  });

  it('decodes IDR3 0x1414 and IDR5 0x74 and AIDR 0x1', () => {
    // IDR3: bits 12,10,4,2 → HAD, XNX, RIL, BBML = 0b10.
    expect([f.had, f.xnx, f.ril, f.bbml]).toEqual([true, true, true, 2]);
    expect([f.pbha, f.pps, f.mpam, f.fwb, f.stt, f.e0pd]).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    // IDR5: bits 6,5,4 granules; OAS = 0b100 → 44 bits.
    expect([f.gran4k, f.gran16k, f.gran64k]).toEqual([true, true, true]);
    expect(f.oas).toBe(44);
    expect(f.ias).toBe(44);
    expect(f.vax).toBe(0);
    expect(f.minorRev).toBe(1);
  });
});

describe('field positions against Linux arm-smmu-v3.h masks', () => {
  // Each row: feature at its all-ones value over zero registers gives the Linux mask.
  const rows: [Parameters<typeof encodeIdrs>[0], keyof IdRegisters, number][] = [
    [{ stLevel: 3 }, 'idr0', 0x1800_0000], // IDR0_ST_LVL GENMASK(28, 27)
    [{ stallModel: 3 }, 'idr0', 0x0300_0000], // IDR0_STALL_MODEL GENMASK(25, 24)
    [{ ttendian: 3 }, 'idr0', 0x0060_0000], // IDR0_TTENDIAN GENMASK(22, 21)
    [{ cd2l: true }, 'idr0', 1 << 19],
    [{ vmid16: true }, 'idr0', 1 << 18],
    [{ pri: true }, 'idr0', 1 << 16],
    [{ sev: true }, 'idr0', 1 << 14],
    [{ msi: true }, 'idr0', 1 << 13],
    [{ asid16: true }, 'idr0', 1 << 12],
    [{ ats: true }, 'idr0', 1 << 10],
    [{ hyp: true }, 'idr0', 1 << 9],
    [{ httu: 3 }, 'idr0', 0xc0], // IDR0_HTTU GENMASK(7, 6)
    [{ cohacc: true }, 'idr0', 1 << 4],
    [{ ttf: 3 }, 'idr0', 0xc], // IDR0_TTF GENMASK(3, 2)
    [{ s1p: true }, 'idr0', 2],
    [{ s2p: true }, 'idr0', 1],
    [{ tablesPreset: true }, 'idr1', 1 << 30],
    [{ queuesPreset: true }, 'idr1', 1 << 29],
    [{ rel: true }, 'idr1', 1 << 28],
    [{ attrTypesOvr: true }, 'idr1', 1 << 27],
    [{ cmdqs: 19 }, 'idr1', 19 << 21], // IDR1_CMDQS GENMASK(25, 21)
    [{ eventqs: 19 }, 'idr1', 19 << 16], // IDR1_EVTQS GENMASK(20, 16)
    [{ priqs: 19 }, 'idr1', 19 << 11], // IDR1_PRIQS GENMASK(15, 11)
    [{ ssidSize: 31 }, 'idr1', 0x7c0], // IDR1_SSIDSIZE GENMASK(10, 6)
    [{ sidSize: 63 }, 'idr1', 0x3f], // IDR1_SIDSIZE GENMASK(5, 0)
    [{ ril: true }, 'idr3', 1 << 10], // IDR3_RIL
    [{ stallMax: 0xffff }, 'idr5', 0xffff_0000], // IDR5_STALL_MAX GENMASK(31, 16)
    [{ gran64k: true }, 'idr5', 1 << 6],
    [{ gran16k: true }, 'idr5', 1 << 5],
    [{ gran4k: true }, 'idr5', 1 << 4],
    [{ vax: 3 }, 'idr5', 0xc00], // IDR5_VAX GENMASK(11, 10)
    [{ oas: 52 }, 'idr5', 6], // IDR5_OAS_52_BIT = 6
  ];
  it.each(rows)('%o sets %s to the Linux mask', (feat, reg, mask) => {
    expect(encodeIdrs(feat, ZERO)[reg]).toBe(mask >>> 0);
  });
});

describe('encodeIdrs / decodeFeatures', () => {
  const idrArb = fc.record({
    // Queue sizes above 19 are rejected, so keep IDR1[25:11] within range.
    idr0: fc.nat({ max: 0xffff_ffff }),
    idr1: fc
      .tuple(
        fc.nat({ max: 0xffff_ffff }),
        fc.nat({ max: 19 }),
        fc.nat({ max: 19 }),
        fc.nat({ max: 19 }),
      )
      .map(([v, c, e, p]) => ((v & ~0x03ff_f800) | (c << 21) | (e << 16) | (p << 11)) >>> 0),
    idr2: fc.nat({ max: 0xffff_ffff }),
    idr3: fc.nat({ max: 0xffff_ffff }),
    idr4: fc.nat({ max: 0xffff_ffff }),
    idr5: fc.nat({ max: 0xffff_ffff }),
    aidr: fc.nat({ max: 0xffff_ffff }),
  });

  it('re-encoding the decoded features over the same registers is the identity', () => {
    fc.assert(
      fc.property(idrArb, (idr) => {
        const f = decodeFeatures(idr);
        const { ias: _ias, ...rest } = f;
        expect(encodeIdrs(rest, idr)).toEqual(idr);
      }),
    );
  });

  it('IAS is OAS, or max(OAS, 40) when AArch32 tables are supported', () => {
    fc.assert(
      fc.property(idrArb, (idr) => {
        const f = decodeFeatures(idr);
        const oas = [32, 36, 40, 42, 44, 48, 52, 56][idr.idr5 & 7] as number;
        expect(f.oas).toBe(oas);
        expect(f.ias).toBe(idr.idr0 & 4 ? Math.max(oas, 40) : oas);
      }),
    );
  });

  it('overrides only the given fields', () => {
    const idr = encodeIdrs({ pri: true, msi: true, oas: 48 });
    expect(idr.idr0).toBe((0x0d44101b | (1 << 16) | (1 << 13)) >>> 0);
    expect(idr.idr5).toBe((0x74 & ~7) | 5);
    expect(idr.idr1).toBe(0x02730010);
  });

  it('rejects values that do not fit, an unknown OAS, a set IAS and queues above 19', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e instanceof VsmmuError ? e.code : 'other';
      }
      return 'none';
    };
    expect(code(() => encodeIdrs({ ttf: 4 }))).toBe('BAD_CONFIG');
    expect(code(() => encodeIdrs({ oas: 50 }))).toBe('BAD_CONFIG');
    expect(code(() => encodeIdrs({ ias: 40 }))).toBe('BAD_CONFIG');
    expect(code(() => encodeIdrs({ ias: 44 }))).toBe('none');
    expect(code(() => encodeIdrs({ cmdqs: 20 }))).toBe('BAD_CONFIG');
  });
});
