// PCIe ATS through the SMMU (IHI 0070 H.a §3.9.1, §5.2 EATS, SMMU_CR0.ATSCHK, §4.5.1 CMD_ATC_INV,
// §7.3.6 F_BAD_ATS_TREQ, §7.3.8 F_TRANSL_FORBIDDEN; smmuv3-arch.md [1.1], [2.1], [5.4]):
// Translation Requests complete with UR (+ F_BAD_ATS_TREQ) when ATS is not allowed, CA for
// configuration errors (nothing recorded), or a translation (R = W = 0 on a translation fault,
// nothing recorded); Translated transactions are checked against the STE with ATSCHK; ATC_INV
// removes endpoint ATC entries by span.

import { describe, expect, it } from 'vitest';
import type { RawFields } from '../../src/arch/fields.ts';
import { Atc, type AtsRequest } from '../../src/smmu/ats.ts';
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

const VA = 0x40_0000;
const PA = 0x8000_0000;

function s1(eats: number, o: { atschk?: boolean; prot?: number; ste?: RawFields } = {}): TRig {
  const r = trig({ atschk: o.atschk === true });
  const p = pgtable(r, 'ARM_64_LPAE_S1');
  expect(p.map(VA, PA, 0x4000, o.prot ?? RW)).toBe(0);
  writeCd(r.mem, CD_AREA, s1Cd(p, 5));
  r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, EATS: eats, ...o.ste });
  return r;
}

const tr = (r: TRig, req: Partial<AtsRequest> = {}) =>
  r.t.atsTranslate({ sid: 1, iova: BigInt(VA + 0x123), ...req });

describe('ATS Translation Requests', () => {
  it('EATS 0b01: the full translation with the page permissions', () => {
    const r = s1(1);
    expect(tr(r)).toEqual({
      status: 'SUCCESS',
      translated: BigInt(PA),
      size: 4096,
      read: true,
      write: true,
      exec: false,
      priv: false,
      splitStage: false,
    });
    expect(tr(r, { noWrite: true })).toMatchObject({ read: true, write: false });
    expect(r.events()).toEqual([]);
  });

  it('a read-only page completes with W = 0', () => {
    const r = s1(1, { prot: RO });
    expect(tr(r)).toMatchObject({ status: 'SUCCESS', read: true, write: false });
  });

  it('a translation fault completes successfully with R = W = 0 and records nothing', () => {
    const r = s1(1);
    expect(tr(r, { iova: 0x7000n })).toMatchObject({
      status: 'SUCCESS',
      read: false,
      write: false,
    });
    expect(r.events()).toEqual([]);
  });

  it('effective EATS 0b00: UR and F_BAD_ATS_TREQ with the request as received', () => {
    const r = s1(0);
    const iova = 0xabc_d123n;
    expect(tr(r, { iova, ssid: 4, noWrite: true, exec: true, priv: true, span: 3 })).toEqual({
      status: 'UR',
    });
    expectExact(oneEvent(r), 'F_BAD_ATS_TREQ', {
      StreamID: 1,
      SSV: 1,
      SubstreamID: 4,
      R: 1,
      W: 0,
      X: 1,
      P: 1,
      Span: 2,
      InputAddr: 0xabc_d000,
    });
  });

  it('a bypass STE ignores EATS (Config[1:0] = 00): UR and F_BAD_ATS_TREQ', () => {
    const r = trig();
    r.ste(1, { V: 1, Config: 4, EATS: 1 });
    expect(tr(r)).toEqual({ status: 'UR' });
    expect(oneEvent(r).type).toBe('F_BAD_ATS_TREQ');
  });

  it('SMMUEN = 0: UR and F_BAD_ATS_TREQ', () => {
    const r = s1(1);
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    expect(tr(r)).toEqual({ status: 'UR' });
    expect(oneEvent(r).type).toBe('F_BAD_ATS_TREQ');
  });

  it('an invalid STE completes with CA and records nothing', () => {
    const r = trig();
    r.ste(1, { V: 0 });
    expect(tr(r)).toEqual({ status: 'CA' });
    expect(r.events()).toEqual([]);
  });

  it('S1DSS terminate for a request without PASID: CA, nothing recorded', () => {
    const r = s1(1, { ste: { S1CDMax: 2, S1DSS: 0 } });
    expect(tr(r)).toEqual({ status: 'CA' });
    expect(r.events()).toEqual([]);
  });

  it('EATS 0b10 (split stage, nested): the stage-1 result, an IPA', () => {
    const r = trig();
    const t1 = pgtable(r, 'ARM_64_LPAE_S1');
    const t2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(t1.map(VA, 0x9000_0000, 0x1000, RW)).toBe(0);
    expect(t2.map(0x1000_0000, 0x1000_0000, 0x1000_0000, RW)).toBe(0);
    expect(t2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    expect(t2.map(0x9000_0000, PA, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(t1, 5));
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, EATS: 2, ...s2Ste(t2, 1) });
    expect(tr(r)).toMatchObject({ status: 'SUCCESS', translated: 0x9000_0000n, splitStage: true });
    // The Translated transaction then goes through stage 2 (ATSCHK or not).
    expect(r.t.translated({ sid: 1, addr: 0x9000_0010n, access: 'write' })).toMatchObject({
      ok: true,
      pa: BigInt(PA + 0x10),
    });
  });
});

describe('Translated transactions (SMMU_CR0.ATSCHK)', () => {
  it('ATSCHK = 1, EATS 0b00: aborted with F_TRANSL_FORBIDDEN (StreamID, RnW, InputAddr)', () => {
    const r = s1(0, { atschk: true });
    const addr = 0x8000_1234n;
    expect(r.t.translated({ sid: 1, addr, access: 'read' })).toMatchObject({ ok: false });
    expectExact(oneEvent(r), 'F_TRANSL_FORBIDDEN', { StreamID: 1, RnW: 1, InputAddr: addr });
  });

  it('ATSCHK = 1, EATS 0b01: the translated address is used as is', () => {
    const r = s1(1, { atschk: true });
    expect(r.t.translated({ sid: 1, addr: 0x8000_1234n, access: 'write' })).toMatchObject({
      ok: true,
      pa: 0x8000_1234n,
    });
  });

  it('ATSCHK = 0: Translated traffic is not checked against the STE', () => {
    const r = s1(0);
    expect(r.t.translated({ sid: 1, addr: 0x8000_1234n, access: 'write' })).toMatchObject({
      ok: true,
      pa: 0x8000_1234n,
    });
    expect(r.events()).toEqual([]);
  });

  it('SMMUEN = 0: F_TRANSL_FORBIDDEN', () => {
    const r = s1(1);
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    expect(r.t.translated({ sid: 1, addr: 0x1000n, access: 'write' }).ok).toBe(false);
    expectEvent(oneEvent(r), 'F_TRANSL_FORBIDDEN', { StreamID: 1, RnW: 0, InputAddr: 0x1000 });
  });
});

describe('ATC and CMD_ATC_INV', () => {
  /** An ATC filled with pages 0..3 of SID 1 without PASID, page 0 of PASID 7, page 0 of SID 2. */
  function filled(): { r: TRig; atc: Atc } {
    const r = s1(1);
    r.ste(2, { V: 1, Config: 5, S1ContextPtr: CD_AREA, EATS: 1 });
    const atc = new Atc();
    r.t.attachAtc(atc);
    for (let i = 0; i < 4; i++) {
      const req = { sid: 1, iova: BigInt(VA + 0x1000 * i) };
      atc.fill(req, r.t.atsTranslate(req));
    }
    atc.fill({ sid: 1, ssid: 7, iova: BigInt(VA) }, tr(r));
    atc.fill({ sid: 2, iova: BigInt(VA) }, tr(r, { sid: 2 }));
    expect(atc.size).toBe(6);
    return { r, atc };
  }
  const keys = (atc: Atc) =>
    atc.list().map((e) => `${e.sid}/${e.ssid ?? '-'}/${(e.base - VA) / 0x1000}`);

  it('Size n invalidates 4 KiB · 2^n aligned to itself', () => {
    const { r, atc } = filled();
    // Size 1 at VA + 0x3000: the 8 KiB block VA + 0x2000..0x3fff (PASID-less: every PASID).
    r.sync(cmd('ATC_INV', { StreamID: 1, Addr: BigInt(VA + 0x3000), Size: 1 }));
    expect(keys(atc)).toEqual(['1/-/0', '1/-/1', '1/7/0', '2/-/0']);
  });

  it('with a PASID only that PASID goes; Global widens it to every PASID', () => {
    const { r, atc } = filled();
    r.sync(cmd('ATC_INV', { StreamID: 1, SSV: 1, SubstreamID: 7, Addr: BigInt(VA), Size: 0 }));
    expect(keys(atc)).toEqual(['1/-/0', '1/-/1', '1/-/2', '1/-/3', '2/-/0']);
    r.sync(
      cmd('ATC_INV', { StreamID: 1, SSV: 1, SubstreamID: 9, Global: 1, Addr: BigInt(VA), Size: 0 }),
    );
    expect(keys(atc)).toEqual(['1/-/1', '1/-/2', '1/-/3', '2/-/0']);
  });

  it('Size 52 invalidates everything of the StreamID', () => {
    const { r, atc } = filled();
    r.sync(cmd('ATC_INV', { StreamID: 1, Size: 52 }));
    expect(keys(atc)).toEqual(['2/-/0']);
  });

  it('ATC_INV is IGNORED while SMMUEN = 0', () => {
    const { r, atc } = filled();
    r.smmu.mmioWrite(OFF.CR0, 4, r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    r.sync(cmd('ATC_INV', { StreamID: 1, Size: 52 }));
    expect(atc.size).toBe(6);
  });
});

describe('split-stage ATS with stage-1 tables outside the identity map', () => {
  it('stage-1 descriptors are fetched through stage 2; the output is the IPA', () => {
    const r = trig();
    const t1 = pgtable(r, 'ARM_64_LPAE_S1');
    const t2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(t1.map(VA, 0x9000_0000, 0x1000, RW)).toBe(0);
    // Move the stage-1 tables: the guest sees them at IPA + 0x4000_0000 (stage 2 maps
    // IPA 0x5000_0000.. → PA 0x1000_0000..), and the CD points there.
    const shift = 0x4000_0000;
    expect(t2.map(0x1000_0000 + shift, 0x1000_0000, 0x1000_0000, RW)).toBe(0);
    expect(t2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    // Rewrite every table descriptor of the VA's walk to point at the shifted IPAs.
    let table = t1.pgd;
    for (let level = 0; level < 3; level++) {
      const a = table + 8 * (Math.floor(VA / 2 ** (12 + 9 * (3 - level))) % 512);
      const d = r.mem.read64(a);
      table = Number(d & 0xffff_ffff_f000n);
      r.mem.write64(a, d + BigInt(shift));
    }
    writeCd(r.mem, CD_AREA, s1Cd(t1, 5, { TTB0: t1.pgd + shift }));
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, EATS: 2, ...s2Ste(t2, 1) });
    // The output IPA 0x9000_0000 is not mapped at stage 2: split stage does not need it.
    expect(tr(r)).toMatchObject({
      status: 'SUCCESS',
      translated: 0x9000_0000n,
      read: true,
      write: true,
      splitStage: true,
    });
    // Without the stage-2 mapping of the tables the request completes with R = W = 0.
    const r2 = trig();
    const u1 = pgtable(r2, 'ARM_64_LPAE_S1');
    const u2 = pgtable(r2, 'ARM_64_LPAE_S2');
    expect(u1.map(VA, 0x9000_0000, 0x1000, RW)).toBe(0);
    expect(u2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    writeCd(r2.mem, CD_AREA, s1Cd(u1, 5));
    r2.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, EATS: 2, ...s2Ste(u2, 1) });
    expect(tr(r2)).toMatchObject({ status: 'SUCCESS', read: false, write: false });
    expect(r2.events()).toEqual([]);
  });
});
