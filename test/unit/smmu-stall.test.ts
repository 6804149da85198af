// The stall model (IHI 0070 H.a §3.12.2, §4.7.1 CMD_RESUME, §4.7.2 CMD_STALL_TERM, §5.5,
// SMMU_CR0.SMMUEN; smmuv3-arch.md [2.1], [6]): a Translation-related fault with CD.S = 1 (stage 1)
// or STE.S2S = 1 (stage 2) is recorded with Stall = 1 and a STAG, whatever CD.R / STE.S2R say, and
// the transaction waits; CMD_RESUME retries it as a new transaction or terminates it (abort, or
// RAZ/WI unless TERM_MODEL), CMD_STALL_TERM and SMMUEN 1 → 0 abort every stall concerned, and a
// STAG/StreamID pair naming nothing is a no-op. Other faults never stall.

import { describe, expect, it } from 'vitest';
import type { RawFields } from '../../src/arch/fields.ts';
import type { StallResolution } from '../../src/smmu/translate.ts';
import type { SmmuFeatures } from '../../src/smmu/types.ts';
import { OFF, SMMUEN } from './smmu-kit.ts';
import {
  CD_AREA,
  cmd,
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

const VA = 0x40_0000;
const PA = 0x8000_0000;

interface StallRig {
  r: TRig;
  ends: StallResolution[];
  /** Maps VA → PA (the fix before a retry). */
  fix(): void;
}

/** Stage-1 streams 1 and 2 whose CDs stall (CD.S = 1, CD.R = 0); VA is not mapped yet. */
function stalling(features: Partial<SmmuFeatures> = {}, cd: RawFields = {}): StallRig {
  const ends: StallResolution[] = [];
  const r = trig({ features, topts: { onStallEnd: (e) => ends.push(e) } });
  const p = pgtable(r, 'ARM_64_LPAE_S1');
  writeCd(r.mem, CD_AREA, s1Cd(p, 5, { S: 1, R: 0, ...cd }));
  r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
  r.ste(2, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
  return { r, ends, fix: () => expect(p.map(VA, PA, 0x1000, RW)).toBe(0) };
}

const access = (r: TRig, sid: number, va = VA) =>
  r.smmu.translate({ sid, iova: BigInt(va), access: 'write', priv: true });

describe('stalling a transaction', () => {
  it('a stage-1 fault with CD.S = 1 is recorded with Stall = 1 and a STAG, R ignored', () => {
    const { r } = stalling();
    const res = access(r, 1);
    expect(res.ok).toBe(false);
    const stag = !res.ok && res.stalled ? res.stalled.stag : -1;
    expect(stag).toBeGreaterThanOrEqual(0);
    const e = oneEvent(r);
    expectExact(e, 'F_TRANSLATION', {
      StreamID: 1,
      Stall: 1,
      STAG: stag,
      S2: 0,
      CLASS: 2,
      RnW: 0,
      PnU: 1,
      InputAddr: VA,
    });
    expect(!res.ok && res.event).toEqual(e);
    expect(r.t.stalls().map((s) => [s.sid, s.stag])).toEqual([[1, stag]]);
  });

  it('outstanding stalls have distinct STAGs', () => {
    const { r } = stalling();
    const a = access(r, 1);
    const b = access(r, 1, VA + 0x1000);
    const tags = [a, b].map((x) => (!x.ok && x.stalled ? x.stalled.stag : -1));
    expect(new Set(tags).size).toBe(2);
    expect(r.events().map((e) => e.fields['STAG'])).toEqual(tags.map(BigInt));
  });

  it('a stage-2 fault with STE.S2S = 1 stalls (S2 = 1, IPA), S2R ignored', () => {
    const ends: StallResolution[] = [];
    const r = trig({ topts: { onStallEnd: (e) => ends.push(e) } });
    const p = pgtable(r, 'ARM_64_LPAE_S2');
    r.ste(3, { V: 1, Config: 6, ...s2Ste(p, 1, { S2S: 1, S2R: 0 }) });
    const res = r.smmu.translate({ sid: 3, iova: BigInt(VA + 0x10), access: 'read' });
    expect(!res.ok && res.stalled).toBeTruthy();
    expectEvent(oneEvent(r), 'F_TRANSLATION', { S2: 1, Stall: 1, IPA: VA, CLASS: 2 });
    expect(p.map(VA, PA, 0x1000, RW)).toBe(0);
    const stag = !res.ok && res.stalled ? res.stalled.stag : -1;
    r.sync(cmd('RESUME', { StreamID: 3, STAG: stag, Ac: 1 }));
    expect(ends).toEqual([
      {
        sid: 3,
        stag,
        req: { sid: 3, iova: BigInt(VA + 0x10), access: 'read' },
        end: 'retry',
        result: { ok: true, pa: BigInt(PA + 0x10), attrs: expect.anything() },
      },
    ]);
  });

  it('STALL_MODEL 0b10 (stall forced): CD.S must be 1, and the fault stalls', () => {
    const { r } = stalling({ stallModel: 2 });
    // S2S must be 1 as well with a stage-2 STE; this stage-1-only STE has no stage 2.
    const res = access(r, 1);
    expect(!res.ok && res.stalled).toBeTruthy();
  });

  it('F_WALK_EABT and configuration errors never stall', () => {
    const { r } = stalling();
    r.mem.addAbortRange(0x1000_0000, 0x1000); // the pgd of the stage-1 table
    const res = access(r, 1);
    expect(!res.ok && res.stalled).toBeUndefined();
    const e = oneEvent(r);
    expect(e.type).toBe('F_WALK_EABT');
    expect(r.t.stalls()).toEqual([]);
  });

  it('with every STAG in use (IDR5.STALL_MAX) a stall becomes a termination (Stall = 0)', () => {
    const { r } = stalling({ stallMax: 2 }, { R: 1 });
    access(r, 1, VA);
    access(r, 1, VA + 0x1000);
    const third = access(r, 1, VA + 0x2000);
    expect(third).toMatchObject({ ok: false });
    expect(!third.ok && third.stalled).toBeUndefined();
    expect(r.events().map((e) => e.fields['Stall'])).toEqual([1n, 1n, 0n]);
  });
});

describe('CMD_RESUME and CMD_STALL_TERM', () => {
  function stalled(features: Partial<SmmuFeatures> = {}): StallRig & { stag: number } {
    const s = stalling(features);
    const res = access(s.r, 1);
    s.r.events();
    return { ...s, stag: !res.ok && res.stalled ? res.stalled.stag : -1 };
  }

  it('Ac = 1 retries as a new transaction (new lookups: the fixed mapping translates)', () => {
    const s = stalled();
    s.fix();
    s.r.sync(cmd('RESUME', { StreamID: 1, STAG: s.stag, Ac: 1 }));
    expect(s.ends).toHaveLength(1);
    expect(s.ends[0]).toMatchObject({
      sid: 1,
      stag: s.stag,
      end: 'retry',
      result: { ok: true, pa: BigInt(PA) },
    });
    expect(s.r.t.stalls()).toEqual([]);
  });

  it('a retry that faults again stalls again, with a new record', () => {
    const s = stalled();
    s.r.sync(cmd('RESUME', { StreamID: 1, STAG: s.stag, Ac: 1 }));
    expect(s.ends[0]?.result).toMatchObject({ ok: false, stalled: expect.anything() });
    expect(s.r.events().map((e) => [e.type, e.fields['Stall']])).toEqual([['F_TRANSLATION', 1n]]);
    expect(s.r.t.stalls()).toHaveLength(1);
  });

  it('Ac = 0, Ab = 1 aborts; Ac = 0, Ab = 0 is RAZ/WI', () => {
    const a = stalled();
    a.r.sync(cmd('RESUME', { StreamID: 1, STAG: a.stag, Ac: 0, Ab: 1 }));
    expect(a.ends.map((e) => e.end)).toEqual(['abort']);
    const z = stalled();
    z.r.sync(cmd('RESUME', { StreamID: 1, STAG: z.stag, Ac: 0, Ab: 0 }));
    expect(z.ends.map((e) => e.end)).toEqual(['razwi']);
  });

  it('a RESUME naming no stalled transaction (wrong StreamID or STAG) has no effect', () => {
    const s = stalled();
    s.r.sync(
      cmd('RESUME', { StreamID: 2, STAG: s.stag, Ac: 1 }),
      cmd('RESUME', { StreamID: 1, STAG: s.stag + 1, Ac: 1 }),
    );
    expect(s.ends).toEqual([]);
    expect(s.r.t.stalls()).toHaveLength(1);
  });

  it('CMD_STALL_TERM(SID) aborts every stall of that StreamID only', () => {
    const s = stalled();
    access(s.r, 1, VA + 0x1000);
    const other = access(s.r, 2);
    s.r.sync(cmd('STALL_TERM', { StreamID: 1 }));
    expect(s.ends.map((e) => [e.sid, e.end])).toEqual([
      [1, 'abort'],
      [1, 'abort'],
    ]);
    expect(s.r.t.stalls().map((x) => x.sid)).toEqual([2]);
    expect(!other.ok && other.stalled).toBeTruthy();
  });

  it('SMMUEN 1 → 0 aborts every stall and frees the STAGs', () => {
    const s = stalled();
    access(s.r, 2);
    s.r.smmu.mmioWrite(OFF.CR0, 4, s.r.smmu.mmioRead(OFF.CR0, 4) & ~SMMUEN);
    expect(s.ends.map((e) => e.end)).toEqual(['abort', 'abort']);
    expect(s.r.t.stalls()).toEqual([]);
  });

  it('CMD_RESUME is CERROR_ILL with STALL_MODEL 0b01 (no stalls exist)', () => {
    const r = trig({ features: { stallModel: 1 } });
    const cons = r.cmd(cmd('RESUME', { StreamID: 1, STAG: 0, Ac: 1 }));
    // CMDQ_CONS.ERR[30:24] = CERROR_ILL (1), CONS stays at 0.
    expect(Math.floor(cons / 2 ** 24) % 128).toBe(1);
  });
});
