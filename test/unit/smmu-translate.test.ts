// Translation and its faults (IHI 0070 H.a §3.4 address sizes, §3.12 fault handling, §7.2,
// §7.3.10–§7.3.16 event records; smmuv3-arch.md [2.1]–[2.4], [7]): stage 1, stage 2 and nested
// translations through a real Smmu, every Translation-related event with each meaningful field
// checked against the rules (S2, CLASS, IPA, TTRnW, RnW/InD/PnU, InputAddr, Stall = 0), the CD.R
// / STE.S2R recording gates, CD.A = 0 RAZ/WI, VA range selection (TTB0/TTB1, TBI, EPD, E0PD),
// F_WALK_EABT, F_CFG_CONFLICT (CONT checking), output attributes, and "at most one event".

import { describe, expect, it } from 'vitest';
import type { RawFields } from '../../src/arch/fields.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import { IOMMU_PROT, type IoPgtable } from '../../src/pgtable/index.ts';
import { OFF, SMMUEN } from './smmu-kit.ts';
import {
  CD_AREA,
  cmd,
  expectEvent,
  expectExact,
  oneEvent,
  pgtable,
  RO,
  RW,
  s1Cd,
  s2Ste,
  type TRig,
  trig,
  writeCd,
} from './smmu-translate-kit.ts';

const SID = 4;
const VA = 0x40_0000;
const PA = 0x8000_0000;
const IPA = 0x9000_0000;

/**
 * Reference walk (4K granule, DDI 0487 D8): the address of the descriptor that maps `va` at
 * `level` in a table rooted at `pgd` for an `inputBits`-bit input starting at `start`.
 */
function descAddr(
  mem: SparseMemory,
  pgd: number,
  va: number,
  inputBits: number,
  start: number,
  level: number,
): number {
  let table = pgd;
  for (let l = start; ; l++) {
    const shift = 12 + 9 * (3 - l);
    const width = l === start ? inputBits - shift : 9;
    const index = Math.floor(va / 2 ** shift) % 2 ** width;
    const a = table + 8 * index;
    if (l === level) return a;
    const d = mem.read64(a);
    table = Number(d & 0xffff_ffff_f000n);
  }
}

function s1Rig(prot = RW, cd: RawFields = {}, ste: RawFields = {}): { r: TRig; p: IoPgtable } {
  const r = trig();
  const p = pgtable(r, 'ARM_64_LPAE_S1');
  expect(p.map(VA, PA, 0x1000, prot)).toBe(0);
  writeCd(r.mem, CD_AREA, s1Cd(p, 5, cd));
  r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA, ...ste });
  return { r, p };
}

describe('stage 1', () => {
  it('translates, with MAIR attributes and descriptor shareability', () => {
    const { r } = s1Rig(RW | IOMMU_PROT.CACHE);
    // io-pgtable: CACHE → AttrIndx 1 = MAIR byte 0xff (Normal WB RW-allocate), SH = IS (3).
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA + 0x10), access: 'write' })).toEqual({
      ok: true,
      pa: BigInt(PA + 0x10),
      attrs: { priv: false, inst: false, memAttr: 0xff, sh: 3 },
    });
    // Non-cacheable (AttrIndx 0 = 0x44) is reported Outer Shareable.
    const r2 = s1Rig(RW).r;
    const res = r2.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expect(res.ok && res.attrs).toEqual({ priv: false, inst: false, memAttr: 0x44, sh: 2 });
  });

  it('F_TRANSLATION for an unmapped page: S2 = 0, CLASS = IN, post-override RnW/InD/PnU', () => {
    const { r } = s1Rig();
    const iova = 0x7_1234n;
    expect(r.smmu.translate({ sid: SID, iova, access: 'read', priv: true, inst: true }).ok).toBe(
      false,
    );
    expectEvent(oneEvent(r), 'F_TRANSLATION', {
      StreamID: SID,
      SSV: 0,
      Stall: 0,
      STAG: 0,
      PnU: 1,
      InD: 1,
      RnW: 1,
      NSIPA: 0,
      S2: 0,
      CLASS: 2,
      InputAddr: iova,
      IPA: 0,
    });
  });

  it('a write is always Data: InD = 0 even if the request said instruction', () => {
    const { r } = s1Rig();
    r.smmu.translate({ sid: SID, iova: 0x7000n, access: 'write', inst: true });
    expectEvent(oneEvent(r), 'F_TRANSLATION', { RnW: 0, InD: 0, PnU: 0 });
  });

  it('a VA beyond T0SZ is F_TRANSLATION (InputAddr is the whole input)', () => {
    const { r } = s1Rig();
    const iova = 1n << 48n; // T0SZ 16: VA[63:48] must be 0 in the TTB0 half
    expect(r.smmu.translate({ sid: SID, iova, access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSLATION', { S2: 0, CLASS: 2, InputAddr: iova });
  });

  it('TBI0: the top byte is ignored for translation but kept in InputAddr', () => {
    const tagged = (0xabn << 56n) | BigInt(VA);
    const noTbi = s1Rig().r;
    expect(noTbi.smmu.translate({ sid: SID, iova: tagged, access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(noTbi), 'F_TRANSLATION', { InputAddr: tagged });
    const { r } = s1Rig(RW, { TBI0: 1 });
    expect(r.smmu.translate({ sid: SID, iova: tagged | 0x20n, access: 'read' })).toMatchObject({
      ok: true,
      pa: BigInt(PA + 0x20),
    });
    const miss = (0xabn << 56n) | 0x7000n;
    r.smmu.translate({ sid: SID, iova: miss, access: 'read' });
    expectEvent(oneEvent(r), 'F_TRANSLATION', { InputAddr: miss });
  });

  it('VA[55] selects TTB1, whose walk uses VA[T1SZ-defined bits]', () => {
    const r = trig();
    const p0 = pgtable(r, 'ARM_64_LPAE_S1');
    const p1 = pgtable(r, 'ARM_64_LPAE_S1');
    // TTB1 with T1SZ 16 covers VAs 0xffff_0000_0000_0000 upwards; the walk indexes VA[47:0].
    const hiVa = 0xffff_0000_0040_0000n;
    expect(p1.map(0x40_0000, 0x8800_0000, 0x1000, RW)).toBe(0);
    expect(p0.map(VA, PA, 0x1000, RW)).toBe(0);
    writeCd(
      r.mem,
      CD_AREA,
      s1Cd(p0, 5, { EPD1: 0, T1SZ: 16, TG1: 2 /* 4K in the TG1 encoding */, TTB1: p1.pgd }),
    );
    r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
    expect(r.smmu.translate({ sid: SID, iova: hiVa + 8n, access: 'read' })).toMatchObject({
      ok: true,
      pa: 0x8800_0008n,
    });
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' })).toMatchObject({
      ok: true,
      pa: BigInt(PA),
    });
    // VA[55] = 1 but VA[63:56] ≠ all-ones without TBI1: outside the TTB1 range.
    const bad = 0x7fff_0000_0040_0000n | (1n << 55n);
    expect(r.smmu.translate({ sid: SID, iova: bad, access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSLATION', { InputAddr: bad, S2: 0 });
  });

  it('EPD1 = 1: an access in the TTB1 half is F_TRANSLATION', () => {
    const { r } = s1Rig();
    const hiVa = 0xffff_ffff_ffff_f000n;
    expect(r.smmu.translate({ sid: SID, iova: hiVa, access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSLATION', { InputAddr: hiVa });
  });

  it('E0PD0 (SMMUv3.3): unprivileged accesses to the half fault, privileged ones translate', () => {
    const r = trig({ features: { e0pd: true } });
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    expect(p.map(VA, PA, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(p, 5, { E0PD0: 1 }));
    r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read', priv: true }).ok).toBe(
      true,
    );
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSLATION', { PnU: 0 });
  });

  it('F_ADDR_SIZE: an output address beyond the effective IPS', () => {
    const r = trig();
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    expect(p.map(VA, 2 ** 40, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(p, 5, { IPS: 2 /* 40 bits */ }));
    r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_ADDR_SIZE', { S2: 0, CLASS: 2, InputAddr: VA, Stall: 0 });
  });

  it('F_ACCESS: a leaf with AF = 0 (AFFD = 0, no HTTU)', () => {
    const { r, p } = s1Rig();
    const pte = descAddr(r.mem, p.pgd, VA, 48, 0, 3);
    r.mem.write64(pte, r.mem.read64(pte) & ~(1n << 10n));
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(false);
    expectExact(oneEvent(r), 'F_ACCESS', { StreamID: SID, S2: 0, CLASS: 2, InputAddr: VA, RnW: 1 });
  });

  it('AFFD = 1: AF = 0 does not fault', () => {
    const { r, p } = s1Rig(RW, { AFFD: 1 });
    const pte = descAddr(r.mem, p.pgd, VA, 48, 0, 3);
    r.mem.write64(pte, r.mem.read64(pte) & ~(1n << 10n));
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(true);
  });

  it('F_PERMISSION: a write to a read-only page, and an instruction fetch from XN', () => {
    const { r } = s1Rig(RO | IOMMU_PROT.NOEXEC);
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'write' }).ok).toBe(false);
    expectExact(oneEvent(r), 'F_PERMISSION', {
      StreamID: SID,
      S2: 0,
      CLASS: 2,
      RnW: 0,
      InputAddr: VA,
    });
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read', inst: true }).ok).toBe(
      false,
    );
    expectEvent(oneEvent(r), 'F_PERMISSION', { S2: 0, CLASS: 2, RnW: 1, InD: 1 });
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(true);
  });

  it('F_WALK_EABT: stage-1 descriptor abort is S2 = 0, CLASS = TT, FetchAddr = descriptor PA', () => {
    const { r, p } = s1Rig();
    const l2 = descAddr(r.mem, p.pgd, VA, 48, 0, 2);
    r.mem.addAbortRange(l2, 8);
    expect(
      r.smmu.translate({ sid: SID, ssid: undefined, iova: BigInt(VA), access: 'write' }).ok,
    ).toBe(false);
    const e = oneEvent(r);
    expectExact(e, 'F_WALK_EABT', {
      StreamID: SID,
      SSV: 0,
      S2: 0,
      CLASS: 1,
      RnW: 0,
      InD: 0,
      PnU: 0,
      InputAddr: VA,
      FetchAddr: l2,
    });
    // F_WALK_EABT has no Stall/STAG fields.
    expect('Stall' in e.fields).toBe(false);
  });

  it('CD.R = 0: Translation-related faults abort silently; F_WALK_EABT is still recorded', () => {
    const { r, p } = s1Rig(RO, { R: 0 });
    expect(r.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read' })).toEqual({ ok: false });
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'write' })).toEqual({
      ok: false,
    });
    expect(r.events()).toEqual([]);
    r.mem.addAbortRange(descAddr(r.mem, p.pgd, 0x8000_0000, 48, 0, 1), 8);
    r.smmu.translate({ sid: SID, iova: 0x8000_0000n, access: 'read' });
    expect(oneEvent(r).type).toBe('F_WALK_EABT');
  });

  it('CD.A = 0: a terminated stage-1 fault is RAZ/WI (reported in the result)', () => {
    const { r } = s1Rig(RW, { A: 0 });
    const res = r.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read' });
    expect(res).toMatchObject({ ok: false, razwi: true });
    expectEvent(oneEvent(r), 'F_TRANSLATION', { InputAddr: 0x7000 });
    const silent = s1Rig(RW, { A: 0, R: 0 }).r;
    expect(silent.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read' })).toEqual({
      ok: false,
      razwi: true,
    });
    expect(silent.events()).toEqual([]);
  });

  it('a SubstreamID is reported with SSV = 1', () => {
    const r = trig();
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    writeCd(r.mem, CD_AREA + 64 * 3, s1Cd(p, 5));
    r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 2 });
    r.smmu.translate({ sid: SID, ssid: 3, iova: 0x5000n, access: 'read' });
    expectEvent(oneEvent(r), 'F_TRANSLATION', { SSV: 1, SubstreamID: 3, StreamID: SID });
  });
});

describe('stage 2 only (Config 0b110)', () => {
  function s2Rig(prot = RW, ste: RawFields = {}): { r: TRig; p: IoPgtable } {
    const r = trig();
    const p = pgtable(r, 'ARM_64_LPAE_S2');
    expect(p.map(VA, PA, 0x1000, prot)).toBe(0);
    r.ste(SID, { V: 1, Config: 6, ...s2Ste(p, 3, ste) });
    return { r, p };
  }

  it('translates IPA → PA with stage-2 attributes', () => {
    const { r } = s2Rig(RW | IOMMU_PROT.CACHE);
    // Stage-2 MemAttr 0b1111 (Normal WB) = MAIR 0xff, SH = IS.
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA + 4), access: 'read' })).toEqual({
      ok: true,
      pa: BigInt(PA + 4),
      attrs: { priv: false, inst: false, memAttr: 0xff, sh: 3 },
    });
  });

  it('F_TRANSLATION at stage 2: S2 = 1, CLASS = IN, IPA = the input page', () => {
    const { r } = s2Rig();
    expect(r.smmu.translate({ sid: SID, iova: 0x7_1234n, access: 'read' }).ok).toBe(false);
    expectExact(oneEvent(r), 'F_TRANSLATION', {
      StreamID: SID,
      S2: 1,
      CLASS: 2,
      IPA: 0x7_1000,
      InputAddr: 0x7_1234,
      RnW: 1,
    });
  });

  it('an IPA beyond S2T0SZ (below IAS) is a stage-2 F_TRANSLATION', () => {
    const { r } = s2Rig();
    const iova = 1n << 40n; // S2T0SZ 24: 40-bit IPA space; IAS is 44
    expect(r.smmu.translate({ sid: SID, iova, access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSLATION', { S2: 1, CLASS: 2, IPA: iova });
  });

  it('an input beyond IAS is F_ADDR_SIZE with S2 = 0, recorded even with S2R = 0', () => {
    const { r } = s2Rig(RW, { S2R: 0 });
    const iova = 1n << 44n;
    expect(r.smmu.translate({ sid: SID, iova, access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_ADDR_SIZE', { S2: 0, CLASS: 2, InputAddr: iova });
  });

  it('STE.S2R = 0: stage-2 Translation-related faults abort silently', () => {
    const { r } = s2Rig(RW, { S2R: 0 });
    expect(r.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read' })).toEqual({ ok: false });
    expect(r.events()).toEqual([]);
  });

  it('F_PERMISSION at stage 2 (write to a read-only IPA)', () => {
    const { r } = s2Rig(RO);
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA + 8), access: 'write' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_PERMISSION', { S2: 1, CLASS: 2, IPA: VA, RnW: 0 });
  });

  it('F_ACCESS at stage 2 and F_WALK_EABT at stage 2 (S2 = 1, CLASS = IN)', () => {
    const { r, p } = s2Rig();
    // 4K, 40-bit IPA: start level 0 (2 entries), levels 0..3.
    const pte = descAddr(r.mem, p.pgd, VA, 40, 0, 3);
    r.mem.write64(pte, r.mem.read64(pte) & ~(1n << 10n));
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expectEvent(oneEvent(r), 'F_ACCESS', { S2: 1, CLASS: 2, IPA: VA });
    r.mem.addAbortRange(pte, 8);
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expectEvent(oneEvent(r), 'F_WALK_EABT', { S2: 1, CLASS: 2, FetchAddr: pte });
  });
});

describe('nested (Config 0b111)', () => {
  /**
   * Stage 1 maps VA → IPA; stage 2 maps IPA → PA and (unless `noTables`) identity-maps the
   * page-table region (0x1000_0000, 256 MiB) and the CD page.
   */
  function nested(
    o: {
      s1prot?: number;
      s2prot?: number;
      tablesProt?: number;
      noTables?: boolean;
      ste?: RawFields;
      cd?: RawFields;
    } = {},
  ): { r: TRig; s1: IoPgtable; s2: IoPgtable } {
    const r = trig();
    const s1 = pgtable(r, 'ARM_64_LPAE_S1');
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(s1.map(VA, IPA, 0x1000, o.s1prot ?? RW)).toBe(0);
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    if (!o.noTables)
      expect(s2.map(0x1000_0000, 0x1000_0000, 0x1000_0000, o.tablesProt ?? RW)).toBe(0);
    expect(s2.map(IPA, PA, 0x1000, o.s2prot ?? RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(s1, 7, o.cd ?? {}));
    r.ste(SID, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2, 2, o.ste ?? {}) });
    return { r, s1, s2 };
  }

  it('translates VA → IPA → PA, combining attributes (stage 2 NC wins over stage 1 WB)', () => {
    const r = trig();
    const s1 = pgtable(r, 'ARM_64_LPAE_S1');
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(s1.map(VA, IPA, 0x1000, RW | IOMMU_PROT.CACHE)).toBe(0);
    expect(s2.map(0x1000_0000, 0x1000_0000, 0x1000_0000, RW | IOMMU_PROT.CACHE)).toBe(0);
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    expect(s2.map(IPA, PA, 0x1000, RW)).toBe(0); // no CACHE: stage-2 Normal NC (0b0101)
    writeCd(r.mem, CD_AREA, s1Cd(s1, 7));
    r.ste(SID, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2, 2) });
    // Normal WB (0xff) combined with Normal NC (0x44) is NC; NC memory is Outer Shareable.
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA + 1), access: 'read' })).toEqual({
      ok: true,
      pa: BigInt(PA + 1),
      attrs: { priv: false, inst: false, memAttr: 0x44, sh: 2 },
    });
  });

  it('a stage-1 fault is S2 = 0, CLASS = IN, gated by CD.R', () => {
    const { r } = nested();
    r.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read' });
    expectEvent(oneEvent(r), 'F_TRANSLATION', { S2: 0, CLASS: 2, InputAddr: 0x7000 });
    const quiet = nested({ cd: { R: 0 } }).r;
    expect(quiet.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read' })).toEqual({
      ok: false,
    });
    expect(quiet.events()).toEqual([]);
  });

  it('a stage-2 fault on the output IPA is S2 = 1, CLASS = IN, IPA = stage-1 output', () => {
    const { r } = nested({ s2prot: RO });
    r.smmu.translate({ sid: SID, iova: BigInt(VA + 0x44), access: 'write' });
    expectEvent(oneEvent(r), 'F_PERMISSION', {
      S2: 1,
      CLASS: 2,
      IPA: IPA,
      InputAddr: VA + 0x44,
      RnW: 0,
    });
  });

  it('a stage-2 fault on a stage-1 table fetch is S2 = 1, CLASS = TT, IPA = the table page', () => {
    const { r, s1 } = nested({ noTables: true });
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    // The first stage-1 descriptor read is the level-0 entry in the pgd (an IPA here).
    expectEvent(oneEvent(r), 'F_TRANSLATION', { S2: 1, CLASS: 1, IPA: s1.pgd, InputAddr: VA });
  });

  it('stage-2 permission fault on a table read: F_PERMISSION, CLASS = TT, TTRnW = 1', () => {
    const { r, s1 } = nested({ tablesProt: 2 /* write only */ });
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expectExact(oneEvent(r), 'F_PERMISSION', {
      StreamID: SID,
      S2: 1,
      CLASS: 1,
      TTRnW: 1,
      IPA: s1.pgd,
      InputAddr: VA,
      RnW: 1,
    });
  });

  it('stage-2 faults during the walk are gated by STE.S2R', () => {
    const { r } = nested({ noTables: true, ste: { S2R: 0 } });
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' })).toEqual({ ok: false });
    expect(r.events()).toEqual([]);
  });

  it('F_WALK_EABT on a stage-1 descriptor (nested): S2 = 0, CLASS = TT, FetchAddr = its PA', () => {
    const { r, s1 } = nested();
    // Stage 2 identity-maps the table region, so the descriptor's PA equals its IPA.
    const l1 = descAddr(r.mem, s1.pgd, VA, 48, 0, 1);
    r.mem.addAbortRange(l1, 8);
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expectEvent(oneEvent(r), 'F_WALK_EABT', { S2: 0, CLASS: 1, FetchAddr: l1 });
  });

  it('F_WALK_EABT on a stage-2 descriptor of the output IPA: S2 = 1, CLASS = IN', () => {
    const { r, s2 } = nested();
    const l3 = descAddr(r.mem, s2.pgd, IPA, 40, 0, 3);
    r.mem.addAbortRange(l3, 8);
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expectEvent(oneEvent(r), 'F_WALK_EABT', { S2: 1, CLASS: 2, FetchAddr: l3 });
  });
});

describe('STE.CONT (CONSTRAINED UNPREDICTABLE; steCont policy)', () => {
  it("'check': differing STEs in a CONT span give F_CFG_CONFLICT; identical ones translate", () => {
    const r = trig({ topts: { steCont: 'check' } });
    r.ste(2, { V: 1, Config: 4, CONT: 1 });
    r.ste(3, { V: 1, Config: 4, CONT: 1, SHCFG: 2 });
    expect(r.smmu.translate({ sid: 2, iova: 0x1000n, access: 'read' }).ok).toBe(false);
    const e = oneEvent(r);
    expectExact(e, 'F_CFG_CONFLICT', { StreamID: 2, SSV: 0 });
    r.ste(3, { V: 1, Config: 4, CONT: 1 });
    expect(r.smmu.translate({ sid: 3, iova: 0x1000n, access: 'read' }).ok).toBe(true);
  });

  it("'own' (default): every StreamID uses its own STE", () => {
    const r = trig();
    r.ste(2, { V: 1, Config: 4, CONT: 1 });
    r.ste(3, { V: 1, Config: 0, CONT: 1 });
    expect(r.smmu.translate({ sid: 2, iova: 0x1000n, access: 'read' }).ok).toBe(true);
    expect(r.smmu.translate({ sid: 3, iova: 0x1000n, access: 'read' })).toEqual({ ok: false });
    expect(r.events()).toEqual([]);
  });
});

describe('at most one event per transaction (§3.12.2.1, §7.2)', () => {
  it('a burst of faulting transactions records exactly one event each, never merged', () => {
    const { r } = s1Rig();
    for (let i = 0; i < 5; i++) r.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read' });
    const ev = r.events();
    expect(ev.map((e) => e.type)).toEqual(Array(5).fill('F_TRANSLATION'));
  });
});

describe('hardware Access flag update (IDR0.HTTU, CD.HA; §3.13)', () => {
  it('CD.HA = 1: an AF = 0 leaf is marked accessed in memory instead of faulting', () => {
    const r = trig({ features: { httu: 1 } });
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    expect(p.map(VA, PA, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(p, 5, { HA: 1 }));
    r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
    const pte = descAddr(r.mem, p.pgd, VA, 48, 0, 3);
    r.mem.write64(pte, r.mem.read64(pte) & ~(1n << 10n));
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(true);
    expect(r.mem.read64(pte) & (1n << 10n)).toBe(1n << 10n);
    expect(r.events()).toEqual([]);
  });
});

describe('CMD_PREFETCH_CONFIG (§4.2.1)', () => {
  it('fills the STE cache without recording anything, also for an invalid STE', () => {
    const r = trig();
    r.ste(9, { V: 0 });
    r.sync(cmd('PREFETCH_CONFIG', { StreamID: 9 }));
    expect(r.t.configEntries()).toEqual([
      { kind: 'STE', sid: 9, valid: false, detail: 'illegal: V == 0' },
    ]);
    expect(r.events()).toEqual([]);
    // The cached copy now answers: fixing the STE needs a CFGI.
    r.ste(9, { V: 1, Config: 4 });
    expect(r.smmu.translate({ sid: 9, iova: 0x1000n, access: 'read' }).ok).toBe(false);
    r.sync(cmd('CFGI_STE', { StreamID: 9 }));
    expect(r.smmu.translate({ sid: 9, iova: 0x1000n, access: 'read' }).ok).toBe(true);
  });

  it('does nothing while SMMUEN = 0', () => {
    const r = trig();
    r.ste(9, { V: 1, Config: 4 });
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    r.sync(cmd('PREFETCH_CONFIG', { StreamID: 9 }));
    expect(r.t.configEntries()).toEqual([]);
  });
});

describe('guest-controlled addresses beyond the modelled memory', () => {
  it('a table descriptor pointing past a 40-bit memory is F_WALK_EABT, never an exception', () => {
    const r = trig({ mem: new SparseMemory({ paBits: 40 }), features: { oas: 44 } });
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    expect(p.map(VA, PA, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(p, 5));
    r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
    // Point the level-0 entry at a table at 2^41 (inside OAS, outside the memory).
    const l0 = descAddr(r.mem, p.pgd, VA, 48, 0, 0);
    r.mem.write64(l0, (1n << 41n) | 3n);
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(false);
    // The level-1 descriptor is entry VA[38:30] = 0 of that table.
    expectEvent(oneEvent(r), 'F_WALK_EABT', { S2: 0, CLASS: 1, FetchAddr: 2 ** 41 });
  });
});
