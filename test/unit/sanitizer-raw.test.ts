// The stale-translation sanitizer (src/smmu/sanitizer.ts) driven with raw table writes and raw
// commands on the SMMU model (no driver): each case changes a descriptor the SMMU has walked and
// then issues an invalidation that, by the rules, does not complete or does not cover it —
// IHI 0070 H.a §4.7.3 (completion only at CMD_SYNC), §4.4.1.1 (range, TG, TTL, Leaf), §4.4.2
// (ASID scope; global entries survive TLBI_NH_ASID), §4.4.3 (TLBI_S2_IPA need not remove combined
// stage 1+2 entries), §3.21.1 / DDI 0487 D8.17 R_RVJDB (walk caches: a table descriptor change
// needs Leaf = 0), §3.21.3 / §4.3 (STE changes need CFGI + CMD_SYNC). Descriptor addresses are
// derived here from the VMSAv8-64 4 KiB layout: at level L a descriptor maps 2^(12 + 9·(3 − L))
// bytes, the start level takes the remaining input bits, table address = descriptor[47:12].

import { describe, expect, it } from 'vitest';
import type { RawFields } from '../../src/arch/fields.ts';
import type { SparseMemory } from '../../src/mem/sparse-memory.ts';
import type { IoPgtable } from '../../src/pgtable/index.ts';
import { enableSanitizer, type Sanitizer } from '../../src/smmu/sanitizer.ts';
import {
  CD_AREA,
  cmd,
  pgtable,
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
const PA2 = 0x8010_0000;
const IPA = 0x9000_0000;
const ASID = 7;
const VMID = 2;

/** Address of the descriptor at `level` for `addr` (4 KiB granule, `inputBits`-bit input). */
function descAddr(
  mem: SparseMemory,
  pgd: number,
  inputBits: number,
  addr: number,
  level: number,
): number {
  // Start level: enough levels of 9 bits above the 12-bit page offset.
  const start = 3 - Math.ceil((inputBits - 12) / 9) + 1;
  let table = pgd;
  for (let l = start; ; l++) {
    const shift = 12 + 9 * (3 - l);
    const bits = Math.min(9, inputBits - shift);
    const index = Math.floor(addr / 2 ** shift) % 2 ** bits;
    const at = table + 8 * index;
    if (l === level) return at;
    const desc = mem.read64(at);
    expect(desc & 3n).toBe(3n);
    table = Number(desc & 0x0000_ffff_ffff_f000n);
  }
}

interface S1 {
  readonly r: TRig;
  readonly p: IoPgtable;
  readonly san: Sanitizer;
}

/** Stage-1-only stream: VA..VA+4 pages → PA.., CD with ASID 7, STE S2VMID 0. */
function s1(cd: RawFields = {}): S1 {
  const r = trig();
  const p = pgtable(r, 'ARM_64_LPAE_S1');
  expect(p.map(VA, PA, 0x4000, RW)).toBe(0);
  writeCd(r.mem, CD_AREA, s1Cd(p, ASID, cd));
  r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
  const san = enableSanitizer(r.smmu);
  return { r, p, san };
}

function dma(r: TRig, iova: number): boolean {
  return r.smmu.translate({ sid: SID, iova: BigInt(iova), access: 'read' }).ok;
}

describe('sanitizer: completion and scope (stage 1)', () => {
  it('a covering TLBI without CMD_SYNC is reported as missing CMD_SYNC until the sync', () => {
    const { r, p, san } = s1();
    expect(dma(r, VA)).toBe(true);
    const pte = descAddr(r.mem, p.pgd, 48, VA, 3);
    const old = r.mem.read64(pte);
    r.mem.write64(pte, 0n);
    r.cmd(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA), Leaf: 1 }));
    // The model has already dropped the entry (it misses and faults), but completion is only
    // guaranteed by a later CMD_SYNC: the DMA could still use the old translation.
    dma(r, VA);
    expect(san.reports).toHaveLength(1);
    expect(san.reports[0]).toMatchObject({
      kind: 'stale-tlb',
      iova: BigInt(VA),
      pte: { pa: BigInt(pte), old, new: 0n, level: 3, stage: 1, leaf: true },
      missing: 'CMD_SYNC',
    });
    expect(san.reports[0]?.detail).toContain('TLBI_NH_VA');
    r.sync();
    expect(dma(r, VA)).toBe(false);
    expect(san.reports).toHaveLength(1);
    expect(san.tracked.stale).toBe(0);
  });

  it('a TLBI consumed before the change does not cover it (break-before-make order)', () => {
    const { r, p, san } = s1();
    expect(dma(r, VA)).toBe(true);
    r.cmd(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA), Leaf: 1 }));
    r.mem.write64(descAddr(r.mem, p.pgd, 48, VA, 3), 0n);
    r.sync();
    dma(r, VA);
    expect(san.reports.map((x) => x.missing)).toEqual(['TLBI']);
  });

  it('a range TLBI that misses the page is reported as a range miss', () => {
    const { r, p, san } = s1();
    expect(r.smmu.features.ril).toBe(true);
    expect(dma(r, VA)).toBe(true);
    expect(dma(r, VA + 0x1000)).toBe(true);
    const pte = descAddr(r.mem, p.pgd, 48, VA, 3);
    r.mem.write64(pte, 0n);
    // TG = 1 (4K), NUM = 1, SCALE = 0: (1 + 1)·2^0 pages from VA + 0x1000 — pages 1 and 2 only.
    r.sync(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA + 0x1000), TG: 1, NUM: 1 }));
    dma(r, VA);
    expect(dma(r, VA + 0x1000)).toBe(true);
    expect(san.reports).toHaveLength(1);
    expect(san.reports[0]).toMatchObject({ iova: BigInt(VA), pte: { pa: BigInt(pte) } });
    expect(san.reports[0]?.missing).toBe('range');
    // The same range from VA covers it.
    r.sync(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA), TG: 1, NUM: 1 }));
    dma(r, VA);
    expect(san.reports).toHaveLength(1);
  });

  it('a TTL hint for another level does not cover the leaf', () => {
    const { r, p, san } = s1();
    expect(dma(r, VA)).toBe(true);
    r.mem.write64(descAddr(r.mem, p.pgd, 48, VA, 3), 0n);
    // TTL = 2: only level-2 leaves must go; the entry is a level-3 page.
    r.sync(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA), TG: 1, TTL: 2, Leaf: 1 }));
    dma(r, VA);
    expect(san.reports.map((x) => x.missing)).toEqual(['TTL']);
    r.sync(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA), TG: 1, TTL: 3, Leaf: 1 }));
    dma(r, VA);
    expect(san.reports).toHaveLength(1);
  });

  it('a table descriptor change with only a leaf TLBI is reported (walk caches)', () => {
    const { r, p, san } = s1();
    expect(dma(r, VA)).toBe(true);
    const l2 = descAddr(r.mem, p.pgd, 48, VA, 2);
    const old = r.mem.read64(l2);
    // A new level-3 table mapping VA → PA2, and the level-2 descriptor pointed at it.
    const table = 0x7000_0000;
    r.mem.write64(
      table + 8 * (Math.floor(VA / 4096) % 512),
      r.mem.read64(descAddr(r.mem, p.pgd, 48, VA, 3)) - BigInt(PA) + BigInt(PA2),
    );
    const next = (old & ~0x0000_ffff_ffff_f000n) | BigInt(table);
    r.mem.write64(l2, next);
    r.sync(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA), Leaf: 1 }));
    // The model walks again (its TLB has no walk cache) and reaches PA2; a walk cache could still
    // hold the old level-2 descriptor.
    const res = r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expect(res).toMatchObject({ ok: true, pa: BigInt(PA2) });
    expect(san.reports).toHaveLength(1);
    expect(san.reports[0]).toMatchObject({
      iova: BigInt(VA),
      pte: { pa: BigInt(l2), old, new: next, level: 2, stage: 1, leaf: false },
      missing: 'leaf',
    });
    // The same TLBI with Leaf = 0 removes walk-cache entries too.
    r.sync(cmd('TLBI_NH_VA', { VMID: 0, ASID, Addr: BigInt(VA), Leaf: 0 }));
    dma(r, VA);
    expect(san.reports).toHaveLength(1);
  });

  it('global entries survive TLBI_NH_ASID but fall to TLBI_NH_VAA', () => {
    const { r, p, san } = s1();
    const pte = descAddr(r.mem, p.pgd, 48, VA, 3);
    // nG is bit 11: make the page global before any walk (no use yet, so no report).
    r.mem.write64(pte, r.mem.read64(pte) & ~(1n << 11n));
    expect(dma(r, VA)).toBe(true);
    r.mem.write64(pte, 0n);
    r.sync(cmd('TLBI_NH_ASID', { VMID: 0, ASID }));
    dma(r, VA);
    expect(san.reports.map((x) => x.missing)).toEqual(['ASID']);
    expect(san.reports[0]?.detail).toContain('global');
    r.sync(cmd('TLBI_NH_VAA', { VMID: 0, Addr: BigInt(VA) }));
    dma(r, VA);
    expect(san.reports).toHaveLength(1);
  });

  it('changes confined to the Access flag or software bits are not reported', () => {
    const { r, p, san } = s1();
    expect(dma(r, VA)).toBe(true);
    const pte = descAddr(r.mem, p.pgd, 48, VA, 3);
    // AF is bit 10; bits [58:55] are reserved for software.
    r.mem.write64(pte, (r.mem.read64(pte) & ~(1n << 10n)) | (0xfn << 55n));
    expect(dma(r, VA)).toBe(true);
    expect(san.reports).toEqual([]);
    // An output-address change is.
    r.mem.write64(pte, r.mem.read64(pte) + 0x1000n);
    dma(r, VA);
    expect(san.reports.map((x) => x.missing)).toEqual(['TLBI']);
  });
});

describe('sanitizer: stage 2 and nested', () => {
  /** Nested stream: stage 1 VA → IPA (ASID 7), stage 2 IPA → PA (VMID 2), tables identity-mapped. */
  function nested(): { r: TRig; s1p: IoPgtable; s2p: IoPgtable; san: Sanitizer } {
    const r = trig();
    const s1p = pgtable(r, 'ARM_64_LPAE_S1');
    const s2p = pgtable(r, 'ARM_64_LPAE_S2', { ias: 39 });
    expect(s1p.map(VA, IPA, 0x1000, RW)).toBe(0);
    expect(s2p.map(CD_AREA, CD_AREA, 0x1000, RW)).toBe(0);
    expect(s2p.map(0x1000_0000, 0x1000_0000, 0x1000_0000, RW)).toBe(0);
    expect(s2p.map(IPA, PA, 0x1000, RW)).toBe(0);
    writeCd(r.mem, CD_AREA, s1Cd(s1p, ASID));
    r.ste(SID, { V: 1, Config: 7, S1ContextPtr: CD_AREA, ...s2Ste(s2p, VMID) });
    const san = enableSanitizer(r.smmu);
    return { r, s1p, s2p, san };
  }

  it('TLBI_S2_IPA alone after a stage-2 change leaves the combined entry: reported', () => {
    const { r, s2p, san } = nested();
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' })).toMatchObject({
      ok: true,
      pa: BigInt(PA),
    });
    const pte = descAddr(r.mem, s2p.pgd, 39, IPA, 3);
    const old = r.mem.read64(pte);
    // Move the IPA to PA2 (stage-2 leaf OA change).
    const next = old - BigInt(PA) + BigInt(PA2);
    r.mem.write64(pte, next);
    r.sync(cmd('TLBI_S2_IPA', { VMID, IPA: BigInt(IPA), Leaf: 1 }));
    // §4.4.3: the model keeps its combined entry, so the DMA still goes to PA.
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' })).toMatchObject({
      pa: BigInt(PA),
    });
    expect(san.reports).toHaveLength(1);
    expect(san.reports[0]).toMatchObject({
      iova: BigInt(VA),
      pte: { pa: BigInt(pte), old, new: next, level: 3, stage: 2, leaf: true },
      missing: 'S12',
    });
    // Adding the stage-1 side (NH_ALL for the VMID) completes it.
    r.sync(cmd('TLBI_NH_ALL', { VMID }));
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' })).toMatchObject({
      pa: BigInt(PA2),
    });
    expect(san.reports).toHaveLength(1);
    expect(san.tracked.stale).toBe(0);
  });

  it('TLBI_NH_ALL alone after a stage-2 change leaves the stage-2 entries: reported', () => {
    const { r, s2p, san } = nested();
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    const pte = descAddr(r.mem, s2p.pgd, 39, IPA, 3);
    r.mem.write64(pte, 0n);
    r.sync(cmd('TLBI_NH_ALL', { VMID }));
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expect(san.reports.map((x) => [x.pte.stage, x.missing])).toEqual([[2, 'S2']]);
    // TLBI_S12_VMALL covers every stage.
    r.sync(cmd('TLBI_S12_VMALL', { VMID }));
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    expect(san.reports).toHaveLength(1);
  });

  it('a stage-1 change under nesting with the right TLBI + CMD_SYNC is silent', () => {
    const { r, s1p, san } = nested();
    r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' });
    r.mem.write64(descAddr(r.mem, s1p.pgd, 48, VA, 3), 0n);
    r.sync(cmd('TLBI_NH_VA', { VMID, ASID, Addr: BigInt(VA), Leaf: 1 }));
    expect(r.smmu.translate({ sid: SID, iova: BigInt(VA), access: 'read' }).ok).toBe(false);
    expect(san.reports).toEqual([]);
  });

  it('stage-2-only stream: TLBI_S2_IPA with another VMID is reported as a wrong VMID', () => {
    const r = trig();
    const s2p = pgtable(r, 'ARM_64_LPAE_S2', { ias: 39 });
    expect(s2p.map(IPA, PA, 0x1000, RW)).toBe(0);
    r.ste(SID, { V: 1, Config: 6, ...s2Ste(s2p, VMID) });
    const san = enableSanitizer(r.smmu);
    expect(r.smmu.translate({ sid: SID, iova: BigInt(IPA), access: 'write' }).ok).toBe(true);
    const pte = descAddr(r.mem, s2p.pgd, 39, IPA, 3);
    r.mem.write64(pte, 0n);
    r.sync(cmd('TLBI_S2_IPA', { VMID: VMID + 1, IPA: BigInt(IPA) }));
    r.smmu.translate({ sid: SID, iova: BigInt(IPA), access: 'write' });
    expect(san.reports).toHaveLength(1);
    expect(san.reports[0]).toMatchObject({
      iova: BigInt(IPA),
      access: 'write',
      pte: { pa: BigInt(pte), new: 0n, level: 3, stage: 2, leaf: true },
      missing: 'VMID',
    });
    r.sync(cmd('TLBI_S2_IPA', { VMID, IPA: BigInt(IPA) }));
    r.smmu.translate({ sid: SID, iova: BigInt(IPA), access: 'write' });
    expect(san.reports).toHaveLength(1);
  });
});

describe('sanitizer: configuration structures (§3.21.3)', () => {
  it('an STE change without CFGI + CMD_SYNC is a stale-config report', () => {
    const { r, san } = s1();
    expect(dma(r, VA)).toBe(true);
    // STE word 0: Config [3:1] = 0b000 (abort). The SMMU may still use the cached STE.
    const stePa = 0x100_0000 + 64 * SID;
    const old = r.mem.read64(stePa);
    const next = old & ~0b1110n;
    r.mem.write64(stePa, next);
    expect(dma(r, VA)).toBe(true);
    expect(san.reports).toHaveLength(1);
    expect(san.reports[0]).toMatchObject({
      kind: 'stale-config',
      structure: 'STE',
      sid: SID,
      pte: { pa: BigInt(stePa), old, new: next, level: 0, stage: 0 },
      missing: 'CFGI',
    });
    r.cmd(cmd('CFGI_STE', { StreamID: SID, Leaf: 1 }));
    dma(r, VA);
    expect(san.reports.map((x) => x.missing)).toEqual(['CFGI', 'CMD_SYNC']);
    r.sync();
    expect(dma(r, VA)).toBe(false);
    expect(san.reports).toHaveLength(2);
  });

  it('a CD change is covered by CFGI_CD of its SubstreamID index, not by another StreamID', () => {
    const { r, san } = s1();
    expect(dma(r, VA)).toBe(true);
    // CD word 0 bit 31 is V.
    r.mem.write64(CD_AREA, r.mem.read64(CD_AREA) & ~(1n << 31n));
    r.sync(cmd('CFGI_CD', { StreamID: SID + 1, SubstreamID: 0, Leaf: 1 }));
    dma(r, VA);
    expect(san.reports.map((x) => [x.kind, x.structure, x.missing])).toEqual([
      ['stale-config', 'CD', 'CFGI'],
    ]);
    r.sync(cmd('CFGI_CD', { StreamID: SID, SubstreamID: 0, Leaf: 1 }));
    dma(r, VA);
    expect(san.reports).toHaveLength(1);
  });
});

describe('sanitizer: cost', () => {
  it("leaves the memory's access counter and the SMMU's results unchanged", () => {
    const run = (on: boolean): [number, unknown[]] => {
      const r = trig();
      const p = pgtable(r, 'ARM_64_LPAE_S1');
      p.map(VA, PA, 0x4000, RW);
      writeCd(r.mem, CD_AREA, s1Cd(p, ASID));
      r.ste(SID, { V: 1, Config: 5, S1ContextPtr: CD_AREA });
      if (on) enableSanitizer(r.smmu);
      const before = r.mem.accesses;
      const out: unknown[] = [];
      for (let i = 0; i < 8; i++) {
        out.push(
          r.smmu.translate({ sid: SID, iova: BigInt(VA + (i % 5) * 0x1000), access: 'read' }),
        );
        if (i === 3) {
          r.mem.write64(descAddr(r.mem, p.pgd, 48, VA, 3), 0n);
          r.sync(cmd('TLBI_NH_ASID', { VMID: 0, ASID }));
        }
      }
      return [r.mem.accesses - before, out];
    };
    expect(run(true)).toEqual(run(false));
  });
});
