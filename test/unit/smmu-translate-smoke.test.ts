import { describe, expect, it } from 'vitest';
import { pgtable, RW, s1Cd, s2Ste, trig, writeCd, CD_AREA } from './smmu-translate-kit.ts';

describe('smoke', () => {
  it('s1', () => {
    const r = trig();
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    expect(p.map(0x40_0000, 0x8000_0000, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(p, 5));
    r.ste(3, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
    const res = r.smmu.translate({ sid: 3, iova: 0x40_0123n, access: 'read' });
    expect(res).toMatchObject({ ok: true, pa: 0x8000_0123n });
    const bad = r.smmu.translate({ sid: 3, iova: 0x50_0123n, access: 'read' });
    expect(bad.ok).toBe(false);
    console.log(r.events().map((e) => [e.type, e.fields]));
    console.log(r.t.tlbEntries(), r.t.stats);
  });
  it('nested', () => {
    const r = trig();
    const s1 = pgtable(r, 'ARM_64_LPAE_S1', { oas: 44 });
    const s2 = pgtable(r, 'ARM_64_LPAE_S2', { ias: 44, oas: 44 });
    // identity-map the s1 tables region and CD area at stage 2
    expect(s2.map(0x1000_0000, 0x1000_0000, 0x1000_0000, RW)).toBe(0);
    expect(s2.map(CD_AREA, CD_AREA, 0x20_0000, RW)).toBe(0);
    expect(s1.map(0x40_0000, 0x9000_0000, 0x1000, RW)).toBe(0);
    expect(s2.map(0x9000_0000, 0xa000_0000, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(s1, 5));
    r.ste(3, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2, 9) });
    const res = r.smmu.translate({ sid: 3, iova: 0x40_0123n, access: 'write' });
    expect(res).toMatchObject({ ok: true, pa: 0xa000_0123n });
    console.log(r.events().map((e) => [e.type, e.fields]), res);
  });
});
