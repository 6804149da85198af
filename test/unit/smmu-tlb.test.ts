// TLB and configuration-cache behaviour with architected invalidation (IHI 0070 H.a §3.17 tags,
// §3.21 invalidation, §4.3 CFGI_*, §4.4 TLBI_*; smmuv3-arch.md [5.1]–[5.6]). The pattern of each
// test: translate (fills the cache), change the structure in memory without invalidating (the
// stale result stays observable), issue a command that must NOT remove it (stale still), then the
// matching command (the new result appears). Commands go through the real Command queue.

import { describe, expect, it } from 'vitest';
import type { RawFields } from '../../src/arch/fields.ts';
import type { SparseMemory } from '../../src/mem/sparse-memory.ts';
import type { IoPgtable } from '../../src/pgtable/index.ts';
import {
  CD_AREA,
  cmd,
  L2_AREA,
  pgtable,
  RW,
  STRTAB,
  s1Cd,
  s2Ste,
  type TRig,
  trig,
  writeCd,
  writeL1cd,
} from './smmu-translate-kit.ts';

const VA = 0x40_0000;
const PA1 = 0x8000_0000;
const PA2 = 0x8800_0000;

/** Reference walk to the descriptor that maps `va` at `level` (4K granule, DDI 0487 D8). */
function descAddr(
  mem: SparseMemory,
  pgd: number,
  va: number,
  inputBits: number,
  level: number,
): number {
  const start = inputBits > 39 ? 0 : 1;
  let table = pgd;
  for (let l = start; ; l++) {
    const shift = 12 + 9 * (3 - l);
    const width = l === start ? inputBits - shift : 9;
    const a = table + 8 * (Math.floor(va / 2 ** shift) % 2 ** width);
    if (l === level) return a;
    table = Number(mem.read64(a) & 0xffff_ffff_f000n);
  }
}

/** Points the leaf descriptor of `va` at `pa` (keeps its attributes). */
function remap(mem: SparseMemory, p: IoPgtable, va: number, pa: number, inputBits = 48): void {
  const a = descAddr(mem, p.pgd, va, inputBits, 3);
  const d = mem.read64(a);
  mem.write64(a, (d & ~0xffff_ffff_f000n) | BigInt(pa));
}

/** Clears nG in the leaf descriptor of `va` (a global translation). */
function makeGlobal(mem: SparseMemory, p: IoPgtable, va: number): void {
  const a = descAddr(mem, p.pgd, va, 48, 3);
  mem.write64(a, mem.read64(a) & ~(1n << 11n));
}

const pa = (r: TRig, sid: number, va = VA, ssid?: number): bigint | undefined => {
  const res = r.smmu.translate({ sid, ssid, iova: BigInt(va), access: 'read' });
  return res.ok ? res.pa : undefined;
};

interface S1 {
  r: TRig;
  p: IoPgtable;
}

/** Stage-1 stream `sid` (VMID `vmid` via S2VMID, ASID `asid`) mapping `pages` VAs → PA1 + i·4K. */
function s1Stream(
  r: TRig,
  sid: number,
  asid: number,
  vmid: number,
  pages = 1,
  cd: RawFields = {},
): IoPgtable {
  const p = pgtable(r, 'ARM_64_LPAE_S1');
  for (let i = 0; i < pages; i++)
    expect(p.map(VA + 0x1000 * i, PA1 + 0x1000 * i, 0x1000, RW)).toBe(0);
  const cdAddr = CD_AREA + 0x1000 * sid;
  writeCd(r.mem, cdAddr, s1Cd(p, asid, cd));
  r.ste(sid, { V: 1, Config: 5, S1ContextPtr: cdAddr, S2VMID: vmid });
  return p;
}

function stale(): S1 {
  const r = trig();
  const p = s1Stream(r, 1, 5, 1);
  expect(pa(r, 1)).toBe(BigInt(PA1));
  remap(r.mem, p, VA, PA2);
  // No invalidation yet: the cached translation is still used.
  expect(pa(r, 1)).toBe(BigInt(PA1));
  return { r, p };
}

/** Asserts that `miss` commands leave the stale translation and `hit` removes it. */
function check(
  miss: (readonly [bigint, bigint])[],
  hit: readonly [bigint, bigint],
  s = stale(),
): void {
  for (const c of miss) {
    s.r.sync(c);
    expect(pa(s.r, 1), `not removed by ${c[0].toString(16)}`).toBe(BigInt(PA1));
  }
  s.r.sync(hit);
  expect(pa(s.r, 1)).toBe(BigInt(PA2));
}

describe('stage-1 TLB entries and TLBI_NH_*', () => {
  it('a remapped PTE is not seen until invalidated; CFGI_* never touch the TLB', () => {
    check(
      [cmd('CFGI_STE_RANGE', { Range: 31 }), cmd('CFGI_STE', { StreamID: 1 })],
      cmd('TLBI_NSNH_ALL'),
    );
  });

  it('TLBI_NH_ALL(VMID): wrong VMID keeps, matching VMID removes', () => {
    check([cmd('TLBI_NH_ALL', { VMID: 2 })], cmd('TLBI_NH_ALL', { VMID: 1 }));
  });

  it('TLBI_NH_ASID(VMID, ASID): wrong ASID or VMID keeps', () => {
    check(
      [cmd('TLBI_NH_ASID', { VMID: 1, ASID: 6 }), cmd('TLBI_NH_ASID', { VMID: 2, ASID: 5 })],
      cmd('TLBI_NH_ASID', { VMID: 1, ASID: 5 }),
    );
  });

  it('TLBI_NH_VA(VMID, ASID, Addr): other address, ASID or VMID keeps', () => {
    check(
      [
        cmd('TLBI_NH_VA', { VMID: 1, ASID: 5, Addr: BigInt(VA + 0x1000) }),
        cmd('TLBI_NH_VA', { VMID: 1, ASID: 6, Addr: BigInt(VA) }),
        cmd('TLBI_NH_VA', { VMID: 2, ASID: 5, Addr: BigInt(VA) }),
      ],
      cmd('TLBI_NH_VA', { VMID: 1, ASID: 5, Addr: BigInt(VA), Leaf: 1 }),
    );
  });

  it('TLBI_NH_VAA(VMID, Addr): any ASID; other address or VMID keeps', () => {
    check(
      [
        cmd('TLBI_NH_VAA', { VMID: 1, Addr: BigInt(VA - 0x1000) }),
        cmd('TLBI_NH_VAA', { VMID: 3, Addr: BigInt(VA) }),
      ],
      cmd('TLBI_NH_VAA', { VMID: 1, Addr: BigInt(VA) }),
    );
  });

  it('TLBI_S12_VMALL(VMID) removes stage-1 entries of the VMID', () => {
    check([cmd('TLBI_S12_VMALL', { VMID: 4 })], cmd('TLBI_S12_VMALL', { VMID: 1 }));
  });

  it('TLBI_EL2_* and TLBI_S2_IPA do not touch NS-EL1 stage-1 entries', () => {
    check(
      [
        cmd('TLBI_EL2_ALL'),
        cmd('TLBI_EL2_VAA', { Addr: BigInt(VA) }),
        cmd('TLBI_S2_IPA', { VMID: 1, IPA: BigInt(VA) }),
      ],
      cmd('TLBI_NH_ALL', { VMID: 1 }),
    );
  });

  it('global entries (nG = 0): NH_ASID keeps them; NH_VA with any ASID removes them', () => {
    const r = trig();
    const p = s1Stream(r, 1, 5, 1);
    makeGlobal(r.mem, p, VA);
    expect(pa(r, 1)).toBe(BigInt(PA1));
    expect(r.t.tlbEntries()[0]).toMatchObject({ asid: undefined, kind: 'S1' });
    remap(r.mem, p, VA, PA2);
    check(
      [cmd('TLBI_NH_ASID', { VMID: 1, ASID: 5 })],
      cmd('TLBI_NH_VA', { VMID: 1, ASID: 99, Addr: BigInt(VA) }),
      { r, p },
    );
  });

  it('entries are tagged by (VMID, ASID), not StreamID: streams sharing the tags share entries', () => {
    const r = trig();
    s1Stream(r, 1, 5, 1);
    // Stream 2 has the same VMID and ASID but its own table mapping VA → PA2.
    const p2 = pgtable(r, 'ARM_64_LPAE_S1');
    expect(p2.map(VA, PA2, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA + 0x8000, s1Cd(p2, 5));
    r.ste(2, { V: 1, Config: 5, S1ContextPtr: CD_AREA + 0x8000, S2VMID: 1 });
    expect(pa(r, 1)).toBe(BigInt(PA1));
    expect(pa(r, 2)).toBe(BigInt(PA1)); // served by stream 1's entry
    // A different VMID is a different tag.
    r.ste(3, { V: 1, Config: 5, S1ContextPtr: CD_AREA + 0x8000, S2VMID: 2 });
    expect(pa(r, 3)).toBe(BigInt(PA2));
  });

  it('invalid → valid needs no TLBI: faulting walks are not cached', () => {
    const r = trig();
    const p = s1Stream(r, 1, 5, 1);
    expect(pa(r, 1, VA + 0x5000)).toBeUndefined();
    expect(p.map(VA + 0x5000, PA2, 0x1000, RW)).toBe(0);
    expect(pa(r, 1, VA + 0x5000)).toBe(BigInt(PA2));
  });

  it('F_PERMISSION may be served from a cached entry', () => {
    const r = trig();
    const p = s1Stream(r, 1, 5, 1);
    expect(pa(r, 1)).toBe(BigInt(PA1));
    // Make the page read-only in memory; the cached entry still allows writes until a TLBI.
    const a = descAddr(r.mem, p.pgd, VA, 48, 3);
    r.mem.write64(a, r.mem.read64(a) | (1n << 7n));
    expect(r.smmu.translate({ sid: 1, iova: BigInt(VA), access: 'write' }).ok).toBe(true);
    r.sync(cmd('TLBI_NH_VA', { VMID: 1, ASID: 5, Addr: BigInt(VA) }));
    expect(r.smmu.translate({ sid: 1, iova: BigInt(VA), access: 'write' }).ok).toBe(false);
    expect(r.events()[0]?.type).toBe('F_PERMISSION');
    // The faulting walk cached nothing; a read caches the read-only translation, after which
    // the write's permission fault comes from the TLB (no new walk).
    expect(pa(r, 1)).toBe(BigInt(PA1));
    const walks = r.t.stats.walks;
    expect(r.smmu.translate({ sid: 1, iova: BigInt(VA), access: 'write' }).ok).toBe(false);
    expect(r.t.stats.walks).toBe(walks);
    expect(r.events()[0]?.type).toBe('F_PERMISSION');
  });
});

describe('EL2 StreamWorlds (STRW = 0b10) and TLBI_EL2_*', () => {
  function el2(e2h: boolean): S1 {
    const r = trig({ e2h });
    const p = pgtable(r, 'ARM_64_LPAE_S1');
    expect(p.map(VA, PA1, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(p, 9));
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, STRW: 2 });
    expect(pa(r, 1)).toBe(BigInt(PA1));
    remap(r.mem, p, VA, PA2);
    return { r, p };
  }

  it('EL2 (E2H = 0): entries have no ASID/VMID; NH_* and NSNH_ALL keep them, EL2_ALL removes', () => {
    const s = el2(false);
    expect(s.r.t.tlbEntries()[0]).toMatchObject({ world: 1, asid: undefined, vmid: 0 });
    check(
      [cmd('TLBI_NSNH_ALL'), cmd('TLBI_NH_ALL', { VMID: 0 }), cmd('TLBI_S12_VMALL', { VMID: 0 })],
      cmd('TLBI_EL2_ALL'),
      s,
    );
  });

  it('EL2: TLBI_EL2_VA ignores the ASID; TLBI_EL2_VAA by address', () => {
    check(
      [cmd('TLBI_EL2_VA', { ASID: 3, Addr: BigInt(VA + 0x1000) })],
      cmd('TLBI_EL2_VA', { ASID: 3, Addr: BigInt(VA) }),
      el2(false),
    );
    check(
      [cmd('TLBI_EL2_VAA', { Addr: BigInt(VA + 0x2000) })],
      cmd('TLBI_EL2_VAA', { Addr: BigInt(VA) }),
      el2(false),
    );
  });

  it('EL2-E2H: entries carry the ASID; TLBI_EL2_ASID matches it', () => {
    const s = el2(true);
    expect(s.r.t.tlbEntries()[0]).toMatchObject({ world: 2, asid: 9 });
    check(
      [cmd('TLBI_EL2_ASID', { ASID: 8 }), cmd('TLBI_NSNH_ALL')],
      cmd('TLBI_EL2_ASID', { ASID: 9 }),
      s,
    );
  });

  it('EL2-E2H: TLBI_EL2_VA needs the ASID (or a global entry)', () => {
    check(
      [cmd('TLBI_EL2_VA', { ASID: 8, Addr: BigInt(VA) })],
      cmd('TLBI_EL2_VA', { ASID: 9, Addr: BigInt(VA) }),
      el2(true),
    );
  });
});

describe('stage-2 and combined entries', () => {
  it('stage-2-only entries: TLBI_S2_IPA(VMID, IPA); NH_* keep them', () => {
    const r = trig();
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    expect(s2.map(VA, PA1, 0x1000, RW)).toBe(0);
    r.ste(1, { V: 1, Config: 6, ...s2Ste(s2, 3) });
    expect(pa(r, 1)).toBe(BigInt(PA1));
    expect(r.t.tlbEntries()[0]).toMatchObject({ kind: 'S2', vmid: 3 });
    remap(r.mem, s2, VA, PA2, 40);
    check(
      [
        cmd('TLBI_NH_ALL', { VMID: 3 }),
        cmd('TLBI_NH_VAA', { VMID: 3, Addr: BigInt(VA) }),
        cmd('TLBI_S2_IPA', { VMID: 4, IPA: BigInt(VA) }),
        cmd('TLBI_S2_IPA', { VMID: 3, IPA: BigInt(VA + 0x1000) }),
      ],
      cmd('TLBI_S2_IPA', { VMID: 3, IPA: BigInt(VA) }),
      { r, p: s2 },
    );
  });

  it('TLBI_S12_VMALL and TLBI_NSNH_ALL remove stage-2-only entries', () => {
    for (const c of [cmd('TLBI_S12_VMALL', { VMID: 3 }), cmd('TLBI_NSNH_ALL')]) {
      const r = trig();
      const s2 = pgtable(r, 'ARM_64_LPAE_S2');
      expect(s2.map(VA, PA1, 0x1000, RW)).toBe(0);
      r.ste(1, { V: 1, Config: 6, ...s2Ste(s2, 3) });
      expect(pa(r, 1)).toBe(BigInt(PA1));
      remap(r.mem, s2, VA, PA2, 40);
      check([cmd('TLBI_S12_VMALL', { VMID: 5 })], c, { r, p: s2 });
    }
  });

  /** Nested stream 1 (VMID 2, ASID 7): VA → IPA (stage 1) → PA1 (stage 2). */
  function nestedStale(): S1 {
    const r = trig();
    const s1 = pgtable(r, 'ARM_64_LPAE_S1');
    const s2 = pgtable(r, 'ARM_64_LPAE_S2');
    const ipa = 0x9000_0000;
    expect(s1.map(VA, ipa, 0x1000, RW)).toBe(0);
    expect(s2.map(0x1000_0000, 0x1000_0000, 0x1000_0000, RW)).toBe(0);
    expect(s2.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    expect(s2.map(ipa, PA1, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(s1, 7));
    r.ste(1, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2, 2) });
    expect(pa(r, 1)).toBe(BigInt(PA1));
    expect(r.t.tlbEntries()[0]).toMatchObject({ kind: 'S12', vmid: 2, asid: 7, ipa: BigInt(ipa) });
    // The hypervisor moves the IPA's backing page (a stage-2 change).
    remap(r.mem, s2, ipa, PA2, 40);
    return { r, p: s2 };
  }

  it('combined stage 1+2 entries survive TLBI_S2_IPA alone (§4.4.3); NH_VAA removes them', () => {
    check(
      [cmd('TLBI_S2_IPA', { VMID: 2, IPA: 0x9000_0000n })],
      cmd('TLBI_NH_VAA', { VMID: 2, Addr: BigInt(VA) }),
      nestedStale(),
    );
  });

  it('combined entries fall to TLBI_S12_VMALL, TLBI_NH_ALL, TLBI_NH_VA and TLBI_NSNH_ALL', () => {
    check([], cmd('TLBI_S12_VMALL', { VMID: 2 }), nestedStale());
    check([], cmd('TLBI_NH_ALL', { VMID: 2 }), nestedStale());
    check([], cmd('TLBI_NH_VA', { VMID: 2, ASID: 7, Addr: BigInt(VA) }), nestedStale());
    check([cmd('TLBI_EL2_ALL')], cmd('TLBI_NSNH_ALL'), nestedStale());
  });

  it('a stage-2 permission fault served from a combined entry reports the IPA', () => {
    const s = nestedStale();
    s.r.sync(cmd('TLBI_NSNH_ALL'));
    const a = descAddr(s.r.mem, s.p.pgd, 0x9000_0000, 40, 3);
    // Stage-2 read-only (clear S2AP[1]) after caching a read.
    expect(pa(s.r, 1)).toBe(BigInt(PA2));
    s.r.mem.write64(a, s.r.mem.read64(a) & ~(1n << 7n));
    s.r.sync(cmd('TLBI_S12_VMALL', { VMID: 2 }));
    expect(pa(s.r, 1)).toBe(BigInt(PA2));
    const walks = s.r.t.stats.walks;
    expect(s.r.smmu.translate({ sid: 1, iova: BigInt(VA + 0x10), access: 'write' }).ok).toBe(false);
    expect(s.r.t.stats.walks).toBe(walks);
    const e = s.r.events()[0];
    expect(e?.type).toBe('F_PERMISSION');
    expect(e?.fields).toMatchObject({ S2: 1n, CLASS: 2n, IPA: 0x9000_0000n });
  });
});

describe('range invalidation (§4.4.1.1, IDR3.RIL)', () => {
  /** Eight 4K pages VA..VA+7·4K → PA1..; all cached, then all remapped to PA2 + i·4K. */
  function eight(features = {}): S1 {
    const r = trig({ features });
    const p = s1Stream(r, 1, 5, 1, 8);
    for (let i = 0; i < 8; i++) expect(pa(r, 1, VA + 0x1000 * i)).toBe(BigInt(PA1 + 0x1000 * i));
    for (let i = 0; i < 8; i++) remap(r.mem, p, VA + 0x1000 * i, PA2 + 0x1000 * i);
    return { r, p };
  }
  /** Which of the eight pages now translate to their new PA. */
  const fresh = (s: S1): number[] =>
    [0, 1, 2, 3, 4, 5, 6, 7].filter(
      (i) => pa(s.r, 1, VA + 0x1000 * i) === BigInt(PA2 + 0x1000 * i),
    );

  it('TG = 4K, SCALE 1, NUM 1: (1+1)·2^1 = 4 pages from Addr', () => {
    const s = eight();
    s.r.sync(
      cmd('TLBI_NH_VA', {
        VMID: 1,
        ASID: 5,
        Addr: BigInt(VA + 0x2000),
        TG: 1,
        SCALE: 1,
        NUM: 1,
        TTL: 3,
      }),
    );
    expect(fresh(s)).toEqual([2, 3, 4, 5]);
  });

  it('TTL names the leaf level: a level-2 hint keeps level-3 entries', () => {
    const s = eight();
    s.r.sync(cmd('TLBI_NH_VAA', { VMID: 1, Addr: BigInt(VA), TG: 1, NUM: 7, TTL: 2 }));
    expect(fresh(s)).toEqual([]);
    s.r.sync(cmd('TLBI_NH_VAA', { VMID: 1, Addr: BigInt(VA), TG: 1, NUM: 7, TTL: 0 }));
    expect(fresh(s)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('TG names the granule: a 64K range keeps 4K-granule entries', () => {
    const s = eight();
    s.r.sync(cmd('TLBI_NH_VAA', { VMID: 1, Addr: BigInt(VA), TG: 3, NUM: 3 }));
    expect(fresh(s)).toEqual([]);
  });

  it('without IDR3.RIL the range fields are RES0: one address only', () => {
    const s = eight({ ril: false });
    s.r.sync(cmd('TLBI_NH_VAA', { VMID: 1, Addr: BigInt(VA + 0x3000), TG: 1, NUM: 3, TTL: 3 }));
    expect(fresh(s)).toEqual([3]);
  });
});

describe('configuration caches and CFGI_* (§4.3)', () => {
  /** Stream `sid` as bypass; cached; then rewritten as Config 0b000 (abort) without a CFGI. */
  function staleSte(r: TRig, sid: number): void {
    r.ste(sid, { V: 1, Config: 4 });
    expect(pa(r, sid, 0x1000)).toBe(0x1000n);
    r.ste(sid, { V: 1, Config: 0 });
    expect(pa(r, sid, 0x1000)).toBe(0x1000n);
  }

  it('CFGI_STE(SID): other StreamIDs and TLBIs keep the stale STE', () => {
    const r = trig();
    staleSte(r, 6);
    r.sync(
      cmd('CFGI_STE', { StreamID: 7 }),
      cmd('TLBI_NSNH_ALL'),
      cmd('CFGI_CD_ALL', { StreamID: 6 }),
    );
    expect(pa(r, 6, 0x1000)).toBe(0x1000n);
    r.sync(cmd('CFGI_STE', { StreamID: 6, Leaf: 1 }));
    expect(pa(r, 6, 0x1000)).toBeUndefined();
  });

  it('CFGI_STE_RANGE(SID, Range): the aligned block of 2^(Range+1) StreamIDs', () => {
    const r = trig();
    staleSte(r, 6);
    staleSte(r, 9);
    // Range 1: 4 StreamIDs; SID 5 names block 4..7.
    r.sync(cmd('CFGI_STE_RANGE', { StreamID: 5, Range: 1 }));
    expect(pa(r, 6, 0x1000)).toBeUndefined();
    expect(pa(r, 9, 0x1000)).toBe(0x1000n);
    r.sync(cmd('CFGI_STE_RANGE', { StreamID: 0, Range: 3 })); // 0..15
    expect(pa(r, 9, 0x1000)).toBeUndefined();
  });

  it('CFGI_ALL (CFGI_STE_RANGE with Range 31) ignores the StreamID', () => {
    const r = trig();
    staleSte(r, 6);
    staleSte(r, 200);
    r.sync(cmd('CFGI_STE_RANGE', { StreamID: 3, Range: 31 }));
    expect(pa(r, 6, 0x1000)).toBeUndefined();
    expect(pa(r, 200, 0x1000)).toBeUndefined();
  });

  it('an STE cached while V = 0 stays invalid until CFGI_STE', () => {
    const r = trig();
    r.ste(3, { V: 0 });
    expect(pa(r, 3, 0x1000)).toBeUndefined();
    expect(r.events()[0]?.type).toBe('C_BAD_STE');
    r.ste(3, { V: 1, Config: 4 });
    expect(pa(r, 3, 0x1000)).toBeUndefined();
    expect(r.events()[0]?.type).toBe('C_BAD_STE');
    r.sync(cmd('CFGI_STE', { StreamID: 3 }));
    expect(pa(r, 3, 0x1000)).toBe(0x1000n);
  });

  it('CFGI_STE with Leaf = 1 keeps the L1STD; Leaf = 0 drops it too', () => {
    const r = trig({ strtab: { fmt: '2level', log2size: 16, split: 8 } });
    r.l1(0, 9, L2_AREA);
    r.ste(4, { V: 1, Config: 4 });
    expect(pa(r, 4, 0x1000)).toBe(0x1000n);
    // Move the level-2 array: the new one has an aborting STE 4.
    const newL2 = L2_AREA + 0x10_0000;
    r.l1(0, 9, newL2);
    r.mem.write64(newL2 + 64 * 4, 0b0001n); // V = 1, Config 0b000
    r.sync(cmd('CFGI_STE', { StreamID: 4, Leaf: 1 }));
    // The STE is re-fetched through the cached (old) L1STD.
    expect(pa(r, 4, 0x1000)).toBe(0x1000n);
    r.sync(cmd('CFGI_STE', { StreamID: 4, Leaf: 0 }));
    expect(pa(r, 4, 0x1000)).toBeUndefined();
    expect(r.mem.read64(STRTAB)).toBeGreaterThan(0n);
  });

  /** Stream 1 with CDs 0..3 (S1CDMax 2); CD `n` maps VA → PA1 + n·1M. */
  function cds(): { r: TRig; p: IoPgtable[] } {
    const r = trig();
    const p: IoPgtable[] = [];
    for (let n = 0; n < 4; n++) {
      const t = pgtable(r, 'ARM_64_LPAE_S1');
      expect(t.map(VA, PA1 + n * 0x10_0000, 0x1000, RW)).toBe(0);
      writeCd(r.mem, CD_AREA + 64 * n, s1Cd(t, 20 + n));
      p.push(t);
    }
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 2, S1DSS: 2 });
    for (let n = 1; n < 4; n++) expect(pa(r, 1, VA, n)).toBe(BigInt(PA1 + n * 0x10_0000));
    return { r, p };
  }

  /** Rewrites CD `n` to use ASID 99 with CD `m`'s table; returns the PA it would give. */
  function swapCd(s: { r: TRig; p: IoPgtable[] }, n: number, m: number): bigint {
    writeCd(s.r.mem, CD_AREA + 64 * n, s1Cd(s.p[m] as IoPgtable, 99));
    return BigInt(PA1 + m * 0x10_0000);
  }

  it('CFGI_CD(SID, SSID): other SubstreamIDs keep their cached CD', () => {
    const s = cds();
    const want = swapCd(s, 2, 3);
    s.r.sync(
      cmd('CFGI_CD', { StreamID: 1, SubstreamID: 1 }),
      cmd('CFGI_CD', { StreamID: 2, SubstreamID: 2 }),
    );
    expect(pa(s.r, 1, VA, 2)).toBe(BigInt(PA1 + 2 * 0x10_0000));
    s.r.sync(cmd('CFGI_CD', { StreamID: 1, SubstreamID: 2, Leaf: 1 }));
    expect(pa(s.r, 1, VA, 2)).toBe(want);
  });

  it('CFGI_CD_ALL(SID) drops every CD of the StreamID; CFGI_STE(SID) does too', () => {
    const s = cds();
    const w1 = swapCd(s, 1, 0);
    const w3 = swapCd(s, 3, 0);
    s.r.sync(cmd('CFGI_CD_ALL', { StreamID: 1 }));
    expect(pa(s.r, 1, VA, 1)).toBe(w1);
    expect(pa(s.r, 1, VA, 3)).toBe(w3);
    const w2 = swapCd(s, 2, 0);
    s.r.sync(cmd('CFGI_STE', { StreamID: 1 }));
    expect(pa(s.r, 1, VA, 2)).toBe(w2);
  });

  it('CFGI_CD with Leaf = 0 also drops the L1CD', () => {
    const r = trig();
    const leafA = CD_AREA + 0x10_0000;
    const leafB = CD_AREA + 0x20_0000;
    const t = pgtable(r, 'ARM_64_LPAE_S1');
    expect(t.map(VA, PA1, 0x1000, RW)).toBe(0);
    writeCd(r.mem, leafA + 64 * 5, s1Cd(t, 30));
    writeL1cd(r.mem, CD_AREA, true, leafA);
    r.ste(1, { V: 1, Config: 5, S1ContextPtr: CD_AREA, S1CDMax: 8, S1Fmt: 1 });
    expect(pa(r, 1, VA, 5)).toBe(BigInt(PA1));
    // Point the L1CD at a leaf whose CD 5 is invalid.
    writeL1cd(r.mem, CD_AREA, true, leafB);
    r.sync(cmd('CFGI_CD', { StreamID: 1, SubstreamID: 5, Leaf: 1 }));
    expect(pa(r, 1, VA, 5)).toBe(BigInt(PA1)); // old L1CD → old leaf, CD re-fetched there
    r.sync(cmd('CFGI_CD', { StreamID: 1, SubstreamID: 5, Leaf: 0 }));
    expect(pa(r, 1, VA, 5)).toBeUndefined();
    expect(r.events().map((e) => e.type)).toEqual(['C_BAD_CD']);
  });
});

describe('capacity, replacement and the no-caching mode (IMPDEF)', () => {
  /** Three pages A, B, C of stream 1 with a 2-entry TLB; returns the VAs still cached. */
  function replay(eviction: 'lru' | 'fifo'): number[] {
    const r = trig({ topts: { tlbCapacity: 2, eviction } });
    s1Stream(r, 1, 5, 1, 3);
    const A = VA;
    const B = VA + 0x1000;
    const C = VA + 0x2000;
    pa(r, 1, A);
    pa(r, 1, B);
    pa(r, 1, A); // hit: A becomes most recent under LRU
    pa(r, 1, C); // evicts one
    return r.t
      .tlbEntries()
      .map((e) => Number(e.input))
      .sort((x, y) => x - y);
  }

  it('LRU evicts the least recently used entry', () => {
    expect(replay('lru')).toEqual([VA, VA + 0x2000]);
  });

  it('FIFO evicts the oldest entry', () => {
    expect(replay('fifo')).toEqual([VA + 0x1000, VA + 0x2000]);
  });

  it('CLOCK (the default) gives entries hit since the last sweep a second chance', () => {
    // Hand-derived with a 3-entry TLB, fills and hits setting the reference bit:
    //   fill A B C            queue A1 B1 C1
    //   fill D: every head has its bit → A0 B0 C0 rotate once, A is evicted → B0 C0 D1
    //   hit B                 B1 C0 D1
    //   fill E: B has its bit → to the back as B0; C has none → evicted → D1 B0 E1
    // (without the second chance, B would have gone instead of C).
    const r = trig({ topts: { tlbCapacity: 3 } });
    s1Stream(r, 1, 5, 1, 5);
    const page = (i: number): number => VA + i * 0x1000;
    for (const i of [0, 1, 2, 3]) pa(r, 1, page(i));
    pa(r, 1, page(1));
    pa(r, 1, page(4));
    // Replacement order (next victim candidate first).
    expect(r.t.tlbEntries().map((e) => Number(e.input))).toEqual([page(3), page(1), page(4)]);
  });

  it('caching: false walks every time and never serves a stale translation', () => {
    const r = trig({ topts: { caching: false } });
    const p = s1Stream(r, 1, 5, 1);
    expect(pa(r, 1)).toBe(BigInt(PA1));
    remap(r.mem, p, VA, PA2);
    expect(pa(r, 1)).toBe(BigInt(PA2));
    expect(r.t.stats).toMatchObject({ walks: 2, tlbHits: 0, steFetches: 2, cdFetches: 2 });
    expect(r.t.tlbEntries()).toEqual([]);
    expect(r.t.configEntries()).toEqual([]);
  });

  it('counters: walks, TLB hits/misses, configuration fetches and hits', () => {
    const r = trig();
    s1Stream(r, 1, 5, 1, 2);
    pa(r, 1, VA);
    pa(r, 1, VA);
    pa(r, 1, VA + 0x1000);
    expect(r.t.stats).toMatchObject({
      transactions: 3,
      walks: 2,
      tlbMisses: 2,
      tlbHits: 1,
      steFetches: 1,
      steHits: 2,
      cdFetches: 1,
      cdHits: 2,
    });
  });

  it('trace events: config fetch, tlb fill/hit/invalidate', () => {
    const kinds: string[] = [];
    const r = trig({
      trace: (e) => {
        if (e.kind === 'tlb' || e.kind === 'config') kinds.push(`${e.kind}:${e.op}`);
      },
    });
    s1Stream(r, 1, 5, 1);
    pa(r, 1);
    pa(r, 1);
    r.sync(cmd('TLBI_NSNH_ALL'), cmd('CFGI_STE_RANGE', { Range: 31 }));
    expect(kinds).toEqual([
      'config:fetch',
      'config:fetch',
      'tlb:fill',
      'tlb:hit',
      'tlb:invalidate',
      'config:invalidate',
    ]);
  });
});
