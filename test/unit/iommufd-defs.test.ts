// The host driver's kernel-named masks (arm-smmu-v3.h spellings in src/iommufd/arm-smmu-v3/defs.ts)
// must agree with the architectural field tables (src/arch), the project's single description of
// every structure: each kernel mask equals the union of the named spec fields.
import { describe, expect, it } from 'vitest';
import { genmask } from '../../src/arch/bits.ts';
import { CD as CD_TABLE } from '../../src/arch/cd.ts';
import { COMMANDS } from '../../src/arch/cmd.ts';
import { EVENTS } from '../../src/arch/evt.ts';
import { maskOf, type StructDef } from '../../src/arch/fields.ts';
import { STE as STE_TABLE } from '../../src/arch/ste.ts';
import { CD, CMDF, EVT, STE } from '../../src/iommufd/arm-smmu-v3/defs.ts';

function table(name: string, set: Readonly<Record<string, StructDef>>): StructDef {
  const d = set[name];
  if (!d) throw new Error(`no table ${name}`);
  return d;
}

const STE_FIELDS: Record<keyof typeof STE, readonly string[]> = {
  V: ['V'],
  CFG: ['Config'],
  S1FMT: ['S1Fmt'],
  S1CTXPTR: ['S1ContextPtr'],
  S1CDMAX: ['S1CDMax'],
  S1DSS: ['S1DSS'],
  S1CIR: ['S1CIR'],
  S1COR: ['S1COR'],
  S1CSH: ['S1CSH'],
  MEV: ['MEV'],
  S2FWB: ['S2FWB'],
  S1STALLD: ['S1STALLD'],
  EATS: ['EATS'],
  STRW: ['STRW'],
  MEMATTR: ['MemAttr'],
  MTCFG: ['MTCFG'],
  ALLOCCFG: ['ALLOCCFG'],
  SHCFG: ['SHCFG'],
  S2VMID: ['S2VMID'],
  VTCR: ['S2T0SZ', 'S2SL0', 'S2IR0', 'S2OR0', 'S2SH0', 'S2TG', 'S2PS'],
  S2AA64: ['S2AA64'],
  S2ENDI: ['S2ENDI'],
  S2PTW: ['S2PTW'],
  S2S: ['S2S'],
  S2R: ['S2R'],
  S2TTB: ['S2TTB'],
};

const CD_FIELDS: Record<keyof typeof CD, readonly string[]> = {
  T0SZ: ['T0SZ'],
  TG0: ['TG0'],
  IRGN0: ['IR0'],
  ORGN0: ['OR0'],
  SH0: ['SH0'],
  EPD0: ['EPD0'],
  ENDI: ['ENDI'],
  EPD1: ['EPD1'],
  V: ['V'],
  IPS: ['IPS'],
  TBI0: ['TBI0'],
  AA64: ['AA64'],
  HD: ['HD'],
  HA: ['HA'],
  S: ['S'],
  R: ['R'],
  A: ['A'],
  ASET: ['ASET'],
  ASID: ['ASID'],
  TTB0: ['TTB0'],
};

describe('host driver masks agree with the architectural field tables', () => {
  it('STE', () => {
    for (const [k, names] of Object.entries(STE_FIELDS)) {
      expect([k, STE[k as keyof typeof STE]]).toEqual([k, maskOf(STE_TABLE, names)]);
    }
  });
  it('CD', () => {
    for (const [k, names] of Object.entries(CD_FIELDS)) {
      expect([k, CD[k as keyof typeof CD]]).toEqual([k, maskOf(CD_TABLE, names)]);
    }
  });
  it('commands', () => {
    const va = table('TLBI_NH_VA', COMMANDS);
    const atc = table('ATC_INV', COMMANDS);
    const cd = table('CFGI_CD', COMMANDS);
    const sync = table('CMD_SYNC', COMMANDS);
    const ipa = table('TLBI_S2_IPA', COMMANDS);
    const range = table('CFGI_STE_RANGE', COMMANDS);
    expect(CMDF.OP).toBe(maskOf(va, ['Opcode']));
    expect(CMDF.SSV).toBe(maskOf(atc, ['SSV']));
    expect(CMDF.SID).toBe(maskOf(cd, ['StreamID']));
    expect(CMDF.SSID).toBe(maskOf(cd, ['SubstreamID']));
    expect(CMDF.VMID).toBe(maskOf(va, ['VMID']));
    expect(CMDF.ASID).toBe(maskOf(va, ['ASID']));
    expect(CMDF.NUM).toBe(maskOf(va, ['NUM']));
    // Linux's SCALE mask is [24:20]; the architecture's field is [25:20] (bit 25 only with DS).
    expect(CMDF.SCALE).toBe(maskOf(va, ['SCALE']) & genmask(24, 20));
    expect(CMDF.ATC_GLOBAL).toBe(maskOf(atc, ['Global']));
    const w1 = (d: StructDef, n: string) => maskOf(d, [n]);
    expect(CMDF.LEAF).toBe(w1(va, 'Leaf'));
    expect(CMDF.TTL).toBe(w1(va, 'TTL'));
    expect(CMDF.TG).toBe(w1(va, 'TG'));
    expect(CMDF.VA).toBe(w1(va, 'Addr'));
    expect(CMDF.IPA).toBe(w1(ipa, 'IPA'));
    expect(CMDF.ATC_SIZE).toBe(w1(atc, 'Size'));
    expect(CMDF.ATC_ADDR).toBe(w1(atc, 'Addr'));
    expect(CMDF.CFGI_RANGE).toBe(w1(range, 'Range'));
    expect(CMDF.SYNC_CS).toBe(w1(sync, 'CS'));
  });
  it('event records', () => {
    const ev = table('F_TRANSLATION', EVENTS);
    expect(EVT.ID).toBe(maskOf(ev, ['EventID']));
    expect(EVT.SSV).toBe(maskOf(ev, ['SSV']));
    expect(EVT.SSID).toBe(maskOf(ev, ['SubstreamID']));
    expect(EVT.SID).toBe(maskOf(ev, ['StreamID']));
    expect(EVT.STAG).toBe(maskOf(ev, ['STAG']));
    expect(EVT.STALL).toBe(maskOf(ev, ['Stall']));
    expect(EVT.PNU).toBe(maskOf(ev, ['PnU']));
  });
});
