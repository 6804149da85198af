// STE and CD validity (IHI 0070 H.a §5.2 / §5.2.2, §5.4 / §5.4.2, §5.5; smmuv3-arch.md [1.3],
// [1.6]) through the whole model: a real Smmu with the translation side attached, structures
// written with the arch field tables, page tables from the io-pgtable builder. Every ILLEGAL row
// the model implements has a case that must end in C_BAD_STE / C_BAD_CD, and the rows that have a
// "not ILLEGAL" counterpart have one that must translate. Expected outcomes are the rules'.

import { describe, expect, it } from 'vitest';
import type { RawFields } from '../../src/arch/fields.ts';
import type { IoPgtable } from '../../src/pgtable/index.ts';
import type { TranslationOptions } from '../../src/smmu/translate.ts';
import type { SmmuFeatures } from '../../src/smmu/types.ts';
import {
  CD_AREA,
  expectEvent,
  expectExact,
  oneEvent,
  pgtable,
  RW,
  s1Cd,
  s2Ste,
  type TRig,
  trig,
  writeCd,
} from './smmu-translate-kit.ts';

const SID = 1;
const VA = 0x40_0000;
const PA = 0x8000_0000;
const IPA = 0x9000_0000;
const OFFSET = 0x123;

type Kind = 's1' | 's2' | 'nested' | 'bypass';

interface Row {
  readonly name: string;
  readonly kind: Kind;
  readonly features?: Partial<SmmuFeatures>;
  readonly ste?: RawFields | ((p: Setup) => RawFields);
  readonly cd?: RawFields;
  readonly topts?: TranslationOptions;
  /** What must happen: an event type, 'silent' (abort, no event) or 'ok' (PA + OFFSET). */
  readonly expect: 'C_BAD_STE' | 'C_BAD_CD' | 'silent' | 'ok';
  /** The rule the model must name (substring of its diagnostic), for ILLEGAL rows. */
  readonly because?: string;
}

interface Setup {
  readonly r: TRig;
  readonly s1: IoPgtable | undefined;
  readonly s2: IoPgtable | undefined;
}

/**
 * Builds a working configuration of `kind` for StreamID 1, then applies the row's changes:
 * stage 1 maps VA → PA (or → IPA when nested), stage 2 maps IPA → PA (or VA → PA alone) and, when
 * nested, identity-maps the page-table region and the CD area so stage-1 fetches reach them.
 */
function setup(row: Row): Setup {
  const r = trig({ features: row.features ?? {}, topts: row.topts ?? {} });
  let s1: IoPgtable | undefined;
  let s2: IoPgtable | undefined;
  let fields: RawFields = { V: 1 };
  if (row.kind === 's1' || row.kind === 'nested') {
    s1 = pgtable(r, 'ARM_64_LPAE_S1', { oas: 44 });
    expect(s1.map(VA, row.kind === 'nested' ? IPA : PA, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(s1, 5, row.cd ?? {}));
    fields = { ...fields, Config: row.kind === 's1' ? 5 : 7, S1ContextPtr: CD_AREA };
  }
  if (row.kind === 's2' || row.kind === 'nested') {
    s2 = pgtable(r, 'ARM_64_LPAE_S2');
    if (row.kind === 'nested') {
      expect(s2.map(0x1000_0000, 0x1000_0000, 0x1000_0000, RW)).toBe(0);
      expect(s2.map(CD_AREA, CD_AREA, 0x20_0000, RW)).toBe(0);
      expect(s2.map(IPA, PA, 0x1000, RW)).toBe(0);
    } else {
      expect(s2.map(VA, PA, 0x1000, RW)).toBe(0);
    }
    fields = { ...fields, ...s2Ste(s2, 1), Config: row.kind === 's2' ? 6 : 7 };
  }
  if (row.kind === 'bypass') fields = { ...fields, Config: 4 };
  const st: Setup = { r, s1, s2 };
  const extra = typeof row.ste === 'function' ? row.ste(st) : (row.ste ?? {});
  r.ste(SID, { ...fields, ...extra });
  return st;
}

function run(row: Row): void {
  const { r } = setup(row);
  const iova = BigInt(row.kind === 'bypass' ? PA + OFFSET : VA + OFFSET);
  const res = r.smmu.translate({ sid: SID, iova, access: 'read' });
  if (row.expect === 'ok') {
    expect(res).toMatchObject({ ok: true, pa: BigInt(PA + OFFSET) });
    expect(r.events()).toEqual([]);
    return;
  }
  expect(res.ok).toBe(false);
  if (row.expect === 'silent') {
    expect(r.events()).toEqual([]);
    expect(res).toEqual({ ok: false });
    return;
  }
  // C_BAD_STE / C_BAD_CD carry SSV/SubstreamID and StreamID only (§7.3.5, §7.3.11).
  expectExact(oneEvent(r), row.expect, { StreamID: SID, SSV: 0 });
  if (row.because) {
    const kind = row.expect === 'C_BAD_STE' ? 'STE' : 'CD';
    const entry = r.t.configEntries().find((e) => e.kind === kind);
    expect(entry?.valid).toBe(false);
    expect(entry?.detail).toContain(row.because);
  }
}

const STE_ROWS: Row[] = [
  { name: 'V == 0', kind: 's1', ste: { V: 0 }, expect: 'C_BAD_STE', because: 'V == 0' },
  {
    name: 'Config 0b000 aborts without an event',
    kind: 's1',
    ste: { Config: 0 },
    expect: 'silent',
  },
  { name: 'Config 0b001 behaves as 0b000', kind: 's1', ste: { Config: 1 }, expect: 'silent' },
  { name: 'Config 0b010 behaves as 0b000', kind: 's1', ste: { Config: 2 }, expect: 'silent' },
  { name: 'Config 0b011 behaves as 0b000', kind: 's1', ste: { Config: 3 }, expect: 'silent' },
  {
    name: 'stage 1 without IDR0.S1P',
    kind: 's1',
    features: { s1p: false },
    expect: 'C_BAD_STE',
    because: 'S1P',
  },
  {
    name: 'stage 2 without IDR0.S2P',
    kind: 's2',
    features: { s2p: false },
    expect: 'C_BAD_STE',
    because: 'S2P',
  },
  {
    name: 'EATS 0b10 on a stage-1-only STE',
    kind: 's1',
    ste: { EATS: 2 },
    expect: 'C_BAD_STE',
    because: 'EATS',
  },
  {
    name: 'EATS 0b10 nested with S2S == 1',
    kind: 'nested',
    ste: { EATS: 2, S2S: 1 },
    expect: 'C_BAD_STE',
    because: 'EATS',
  },
  {
    name: 'EATS 0b10 nested with IDR0.NS1ATS',
    kind: 'nested',
    features: { ns1ats: true },
    ste: { EATS: 2 },
    expect: 'C_BAD_STE',
    because: 'EATS',
  },
  { name: 'EATS 0b10 nested, S2S == 0 is valid', kind: 'nested', ste: { EATS: 2 }, expect: 'ok' },
  {
    name: 'EATS 0b01 with S2S == 1 and stage 2 on',
    kind: 's2',
    ste: { EATS: 1, S2S: 1 },
    expect: 'C_BAD_STE',
    because: 'EATS',
  },
  {
    name: 'EATS is IGNORED without IDR0.ATS',
    kind: 's1',
    features: { ats: false },
    ste: { EATS: 2 },
    expect: 'ok',
  },
  {
    name: 'STRW 0b01 with IDR0.HYP',
    kind: 's1',
    ste: { STRW: 1 },
    expect: 'C_BAD_STE',
    because: 'STRW',
  },
  {
    name: 'STRW 0b11 with IDR0.HYP',
    kind: 's1',
    ste: { STRW: 3 },
    expect: 'C_BAD_STE',
    because: 'STRW',
  },
  {
    name: 'STRW is IGNORED without IDR0.HYP',
    kind: 's1',
    features: { hyp: false },
    ste: { STRW: 1 },
    expect: 'ok',
  },
  { name: 'STRW is IGNORED for a nested STE', kind: 'nested', ste: { STRW: 1 }, expect: 'ok' },
  {
    name: 'S1STALLD with STALL_MODEL 0b01',
    kind: 's1',
    features: { stallModel: 1 },
    ste: { S1STALLD: 1 },
    expect: 'C_BAD_STE',
    because: 'S1STALLD',
  },
  {
    name: 'S1STALLD with STALL_MODEL 0b00 is valid',
    kind: 's1',
    ste: { S1STALLD: 1 },
    expect: 'ok',
  },
  {
    name: 'S1CDMax > IDR1.SSIDSIZE',
    kind: 's1',
    features: { ssidSize: 4 },
    ste: { S1CDMax: 5 },
    expect: 'C_BAD_STE',
    because: 'S1CDMax',
  },
  {
    name: 'S1CDMax is IGNORED when SSIDSIZE == 0 (one CD)',
    kind: 's1',
    features: { ssidSize: 0 },
    ste: { S1CDMax: 5 },
    expect: 'ok',
  },
  {
    name: '2-level CD table without IDR0.CD2L',
    kind: 's1',
    features: { cd2l: false },
    ste: { S1CDMax: 4, S1Fmt: 1 },
    expect: 'C_BAD_STE',
    because: 'CD2L',
  },
  {
    name: 'S1Fmt 0b11 behaves as linear (CD 0 through S1DSS 0b10)',
    kind: 's1',
    features: { cd2l: false },
    ste: { S1CDMax: 4, S1Fmt: 3, S1DSS: 2 },
    expect: 'ok',
  },
  {
    name: 'stage-1-only S1ContextPtr beyond OAS',
    kind: 's1',
    ste: { S1ContextPtr: 2 ** 44 },
    expect: 'C_BAD_STE',
    because: 'S1ContextPtr',
  },
  {
    name: 'nested S1ContextPtr beyond IAS (CU choice: C_BAD_STE)',
    kind: 'nested',
    ste: { S1ContextPtr: 2 ** 44 },
    expect: 'C_BAD_STE',
    because: 'S1ContextPtr',
  },
  {
    name: 'AArch32 stage 2 (S2AA64 == 0) without TTF[0]',
    kind: 's2',
    ste: { S2AA64: 0 },
    expect: 'C_BAD_STE',
    because: 'AArch32',
  },
  {
    name: 'AArch64 stage 2 without TTF[1]',
    kind: 's2',
    features: { ttf: 1 },
    expect: 'C_BAD_STE',
    because: 'TTF[1]',
  },
  {
    name: 'S2S == 1 with STALL_MODEL 0b01',
    kind: 's2',
    features: { stallModel: 1 },
    ste: { S2S: 1 },
    expect: 'C_BAD_STE',
    because: 'S2S',
  },
  {
    name: 'S2S == 0 with STALL_MODEL 0b10',
    kind: 's2',
    features: { stallModel: 2 },
    expect: 'C_BAD_STE',
    because: 'S2S',
  },
  {
    name: 'S2HA with HTTU 0b00',
    kind: 's2',
    ste: { S2HA: 1 },
    expect: 'C_BAD_STE',
    because: 'S2HA',
  },
  {
    name: 'S2HD with HTTU 0b01',
    kind: 's2',
    features: { httu: 1 },
    ste: { S2HA: 1, S2HD: 1 },
    expect: 'C_BAD_STE',
    because: 'S2HD',
  },
  {
    name: 'S2HA with HTTU 0b01 is valid',
    kind: 's2',
    features: { httu: 1 },
    ste: { S2HA: 1 },
    expect: 'ok',
  },
  {
    name: 'S2HAFT without S2HA (HTTU 0b11)',
    kind: 's2',
    features: { httu: 3 },
    ste: { S2HAFT: 1 },
    expect: 'C_BAD_STE',
    because: 'S2HAFT',
  },
  {
    name: 'S2TG reserved (0b11)',
    kind: 's2',
    ste: { S2TG: 3 },
    expect: 'C_BAD_STE',
    because: 'S2TG',
  },
  {
    name: 'S2TG granule not in IDR5',
    kind: 's2',
    features: { gran4k: false },
    expect: 'C_BAD_STE',
    because: 'S2TG',
  },
  {
    name: 'S2TTB outside the effective S2PS',
    kind: 's2',
    ste: { S2PS: 2, S2TTB: 2 ** 40 },
    expect: 'C_BAD_STE',
    because: 'S2TTB',
  },
  {
    name: 'S2TTB above 48 bits with a 4K granule',
    kind: 's2',
    features: { oas: 52 },
    ste: { S2PS: 6, S2TTB: 2 ** 48 },
    expect: 'C_BAD_STE',
    because: 'S2TTB above 48',
  },
  {
    // IAS 44: the smallest S2T0SZ is max(16, 64 − 44) = 20 (start level 0, SL0 0b10).
    name: 'S2T0SZ below 64 − IAS',
    kind: 's2',
    ste: { S2T0SZ: 19, S2SL0: 2 },
    expect: 'C_BAD_STE',
    because: 'S2T0SZ',
  },
  {
    // IDR3.STT == 0: the largest S2T0SZ is 39 (start level 2, SL0 0b00).
    name: 'S2T0SZ above 39 without STT',
    kind: 's2',
    ste: { S2T0SZ: 40, S2SL0: 0 },
    expect: 'C_BAD_STE',
    because: 'S2T0SZ',
  },
  {
    // 4K, 40-bit IPA: levels 0..3 from level 0 would need ≥ 40 bits — SL0 0b00 (level 2) holds
    // at most 2^(9·1 + 12 + 4) = 25+ bits + concatenation (34), so 40 bits is inconsistent.
    name: 'S2SL0 inconsistent with S2T0SZ',
    kind: 's2',
    ste: { S2SL0: 0 },
    expect: 'C_BAD_STE',
    because: 'S2SL0',
  },
  {
    name: 'S2ENDI == 1 with little-endian-only TTENDIAN',
    kind: 's2',
    ste: { S2ENDI: 1 },
    expect: 'C_BAD_STE',
    because: 'S2ENDI',
  },
  {
    name: 'S2VMID[15:8] != 0 without VMID16',
    kind: 's2',
    features: { vmid16: false },
    ste: { S2VMID: 0x100 },
    expect: 'C_BAD_STE',
    because: 'S2VMID',
  },
  {
    name: 'S2VMID is checked on a stage-1-only NS-EL1 STE (VMID tags its entries)',
    kind: 's1',
    features: { vmid16: false },
    ste: { S2VMID: 0x100 },
    expect: 'C_BAD_STE',
    because: 'S2VMID',
  },
  {
    name: 'S2VMID is IGNORED by a bypass STE',
    kind: 'bypass',
    features: { vmid16: false },
    ste: { S2VMID: 0x100 },
    expect: 'ok',
  },
  { name: 'S2PS above OAS is capped, not ILLEGAL', kind: 's2', ste: { S2PS: 6 }, expect: 'ok' },
];

const CD_ROWS: Row[] = [
  { name: 'CD V == 0', kind: 's1', cd: { V: 0 }, expect: 'C_BAD_CD', because: 'V == 0' },
  {
    name: 'CD.S with STE.S1STALLD',
    kind: 's1',
    ste: { S1STALLD: 1 },
    cd: { S: 1 },
    expect: 'C_BAD_CD',
    because: 'S1STALLD',
  },
  {
    name: 'CD.S with STALL_MODEL 0b01',
    kind: 's1',
    features: { stallModel: 1 },
    cd: { S: 1 },
    expect: 'C_BAD_CD',
    because: 'STALL_MODEL',
  },
  {
    name: 'CD.S == 0 with STALL_MODEL 0b10',
    kind: 's1',
    features: { stallModel: 2 },
    expect: 'C_BAD_CD',
    because: 'STALL_MODEL',
  },
  {
    name: 'CD.A == 0 with TERM_MODEL',
    kind: 's1',
    features: { termModel: true },
    cd: { A: 0 },
    expect: 'C_BAD_CD',
    because: 'TERM_MODEL',
  },
  {
    name: 'CD.ENDI == 1 with little-endian-only TTENDIAN',
    kind: 's1',
    cd: { ENDI: 1 },
    expect: 'C_BAD_CD',
    because: 'ENDI',
  },
  {
    name: 'CD.AA64 == 0 without TTF[0]',
    kind: 's1',
    cd: { AA64: 0 },
    expect: 'C_BAD_CD',
    because: 'AArch32',
  },
  { name: 'CD.HA with HTTU 0b00', kind: 's1', cd: { HA: 1 }, expect: 'C_BAD_CD', because: 'HA' },
  {
    name: 'CD.HD with HTTU 0b01',
    kind: 's1',
    features: { httu: 1 },
    cd: { HA: 1, HD: 1 },
    expect: 'C_BAD_CD',
    because: 'HD',
  },
  {
    name: 'CD.HA with HTTU 0b01 is valid',
    kind: 's1',
    features: { httu: 1 },
    cd: { HA: 1 },
    expect: 'ok',
  },
  {
    name: 'CD.HAFT without HA (HTTU 0b11)',
    kind: 's1',
    features: { httu: 3 },
    cd: { HAFT: 1 },
    expect: 'C_BAD_CD',
    because: 'HAFT',
  },
  {
    name: 'CD.ASID[15:8] without ASID16',
    kind: 's1',
    features: { asid16: false },
    cd: { ASID: 0x100 },
    expect: 'C_BAD_CD',
    because: 'ASID',
  },
  {
    name: 'T0SZ above 39 without STT',
    kind: 's1',
    cd: { T0SZ: 40 },
    expect: 'C_BAD_CD',
    because: 'T0SZ',
  },
  {
    name: 'T0SZ below 16 (48-bit VA)',
    kind: 's1',
    cd: { T0SZ: 15 },
    expect: 'C_BAD_CD',
    because: 'T0SZ',
  },
  { name: 'TG0 reserved (0b11)', kind: 's1', cd: { TG0: 3 }, expect: 'C_BAD_CD', because: 'TG0' },
  {
    name: 'TG0 granule not in IDR5',
    kind: 's1',
    features: { gran16k: false },
    cd: { TG0: 2 },
    expect: 'C_BAD_CD',
    because: 'TG0',
  },
  {
    name: 'TG1 reserved (0b00) with TTB1 walks enabled',
    kind: 's1',
    cd: { EPD1: 0, TG1: 0, T1SZ: 16 },
    expect: 'C_BAD_CD',
    because: 'TG1',
  },
  {
    name: 'a disabled TTB1 half is never checked',
    kind: 's1',
    cd: { EPD1: 1, TG1: 0, T1SZ: 0, TTB1: 2 ** 50 },
    expect: 'ok',
  },
  {
    name: 'TTB0 outside the effective IPS',
    kind: 's1',
    cd: { IPS: 1, TTB0: 2 ** 36 },
    expect: 'C_BAD_CD',
    because: 'IPS',
  },
  {
    name: 'TTB0 above 48 bits with a 4K granule',
    kind: 's1',
    features: { oas: 52 },
    cd: { IPS: 6, TTB0: 2 ** 48 },
    expect: 'C_BAD_CD',
    because: 'above 48',
  },
];

describe('STE validity (§5.2, §5.2.2)', () => {
  for (const row of STE_ROWS) it(row.name, () => run(row));
});

describe('CD validity (§5.4, §5.4.2)', () => {
  for (const row of CD_ROWS) it(row.name, () => run(row));

  it('CD.ENDI is not checked when both halves are disabled; the access is F_TRANSLATION', () => {
    const { r } = setup({ name: '', kind: 's1', cd: { ENDI: 1, EPD0: 1, EPD1: 1 }, expect: 'ok' });
    const res = r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expect(res.ok).toBe(false);
    // EPD0 == 1: a TLB miss in the TTB0 half is a stage-1 Translation fault (CLASS IN).
    expectEvent(oneEvent(r), 'F_TRANSLATION', { StreamID: SID, S2: 0, CLASS: 2, InputAddr: VA });
  });
});

describe('reserved structure bits (IMPDEF policy, §5)', () => {
  // STE word 0 bits [58:52] are outside every field (between S1ContextPtr and S1CDMax).
  const setReserved = (r: TRig): void => {
    r.mem.write32(0x100_0000 + 64 * SID + 4, r.mem.read32(0x100_0000 + 64 * SID + 4) | (1 << 20));
  };
  it("'illegal': a non-zero Reserved STE bit makes the STE ILLEGAL", () => {
    const { r } = setup({ name: '', kind: 's1', topts: { reservedBits: 'illegal' }, expect: 'ok' });
    setReserved(r);
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_STE', { StreamID: SID });
  });
  it("'ignore' (default): the bit has no effect", () => {
    const { r } = setup({ name: '', kind: 's1', expect: 'ok' });
    setReserved(r);
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' })).toMatchObject({
      ok: true,
      pa: BigInt(PA),
    });
  });
  it("'illegal': a non-zero Reserved CD bit makes the CD ILLEGAL", () => {
    const { r } = setup({ name: '', kind: 's1', topts: { reservedBits: 'illegal' }, expect: 'ok' });
    // CD word 5 bits [63:56] are outside every field.
    r.mem.write32(CD_AREA + 5 * 8 + 4, 0x0100_0000);
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'C_BAD_CD', { StreamID: SID });
  });
});

describe('bypass STE (Config 0b100) and attribute overrides (§13)', () => {
  it('passes the input address through with the STE overrides applied', () => {
    const r = trig({ features: { attrTypesOvr: true, attrPermsOvr: true } });
    // MTCFG=1 MemAttr=0b0001 (Device-nGnRE), SHCFG=0b11 (ignored for Device: OSH), PRIVCFG=0b11
    // (privileged), INSTCFG=0b11 (instruction), ALLOCCFG=0b1101 (override, R=1 W=0 T=1).
    r.ste(SID, {
      V: 1,
      Config: 4,
      MTCFG: 1,
      MemAttr: 1,
      SHCFG: 3,
      PRIVCFG: 3,
      INSTCFG: 3,
      ALLOCCFG: 0b1101,
    });
    const rd = r.smmu.translate({ sid: SID, iova: 0x1234_5678n, access: 'read' });
    // Device-nGnRE as a MAIR byte is 0b0000_0100; Device memory is Outer Shareable (2).
    expect(rd).toEqual({
      ok: true,
      pa: 0x1234_5678n,
      attrs: { priv: true, inst: true, memAttr: 0x04, sh: 2, alloc: 0b101 },
    });
    // Writes are always Data, whatever INSTCFG says.
    const wr = r.smmu.translate({ sid: SID, iova: 0x1000n, access: 'write' });
    expect(wr.ok && wr.attrs.inst).toBe(false);
  });

  it('SHCFG 0b01 keeps the incoming shareability; PRIVCFG 0b00 the incoming privilege', () => {
    const r = trig({ features: { attrTypesOvr: true, attrPermsOvr: true } });
    r.ste(SID, { V: 1, Config: 4, SHCFG: 1 });
    const res = r.smmu.translate({ sid: SID, iova: 0x1000n, access: 'read', priv: true });
    expect(res).toEqual({ ok: true, pa: 0x1000n, attrs: { priv: true, inst: false } });
  });

  it('overrides are RES0 without IDR1.ATTR_TYPES_OVR / ATTR_PERMS_OVR', () => {
    const r = trig({ features: { attrTypesOvr: false, attrPermsOvr: false } });
    r.ste(SID, { V: 1, Config: 4, MTCFG: 1, MemAttr: 1, SHCFG: 3, PRIVCFG: 3, INSTCFG: 3 });
    const res = r.smmu.translate({ sid: SID, iova: 0x1000n, access: 'read' });
    expect(res).toEqual({ ok: true, pa: 0x1000n, attrs: { priv: false, inst: false } });
  });

  it('an input address beyond OAS is F_ADDR_SIZE (S2 = 0, CLASS = IN), always recorded', () => {
    const r = trig();
    r.ste(SID, { V: 1, Config: 4 });
    const iova = 1n << 44n; // OAS = 44 bits
    const res = r.smmu.translate({ sid: SID, iova, access: 'write', priv: true });
    expect(res.ok).toBe(false);
    expectExact(oneEvent(r), 'F_ADDR_SIZE', {
      StreamID: SID,
      SSV: 0,
      Stall: 0,
      PnU: 1,
      InD: 0,
      RnW: 0,
      S2: 0,
      CLASS: 2,
      InputAddr: iova,
    });
  });

  it('PRIVCFG/INSTCFG also apply to translated streams: the fault record is post-override', () => {
    const r = trig({ features: { attrPermsOvr: true } });
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    writeCd(r.mem, CD_AREA, s1Cd(p, 5));
    r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA, PRIVCFG: 2, INSTCFG: 3 });
    r.smmu.translate({ sid: SID, iova: 0x7000n, access: 'read', priv: true });
    // PRIVCFG 0b10: Unprivileged (PnU 0); INSTCFG 0b11: Instruction (InD 1) for a read.
    expectEvent(oneEvent(r), 'F_TRANSLATION', { PnU: 0, InD: 1, RnW: 1 });
  });
});
