// The stale-translation sanitizer (src/smmu/sanitizer.ts) on a bare-metal machine: the Linux-like
// guest driver on the real SMMU model, DMA from the memcpy engine. Expectations come from the
// rules, not from the sanitizer: a correct driver (PTE write, then TLBI + CMD_SYNC before any DMA,
// IHI 0070 §3.21.1/§4.7.3, DDI 0487 D8.17 R_GPPYH) must give no report; each planted bug leaves a
// changed leaf PTE whose invalidation never completed, so the next DMA to that page is reported
// with that PTE. The PTE address is derived here by walking the 4 KiB / 48-bit stage-1 table the
// way VMSAv8-64 defines it (index = VA[47-9L:39-9L] at level L, table address = descriptor[47:12]).

import { describe, expect, it } from 'vitest';
import { deviceIdentity } from '../../src/devices/device.ts';
import { MemcpyEngine } from '../../src/devices/dma-engine.ts';
import type { GuestDomain, GuestMaster } from '../../src/guest/arm-smmu-v3.ts';
import type { SparseMemory } from '../../src/mem/sparse-memory.ts';
import { enableSanitizer, type Sanitizer } from '../../src/smmu/sanitizer.ts';
import {
  DATA_BASE,
  type Machine,
  type MachineOptions,
  machine,
  must,
  pattern,
} from './guest-kit.ts';

const SID = 0x10;
const IOVA_SRC = 0x10_0000;
const IOVA_DST = 0x20_0000;
const PA_SRC = DATA_BASE;
const PA_DST = DATA_BASE + 0x10_0000;

interface Rig extends Machine {
  readonly master: GuestMaster;
  readonly domain: GuestDomain;
  readonly engine: MemcpyEngine;
  readonly san: Sanitizer;
}

function rig(opts: MachineOptions = {}, pages = 2): Rig {
  const m = machine(opts);
  expect(m.probeResult).toBe(0);
  const san = enableSanitizer(m.smmu);
  const master = must(m.driver.addDevice({ name: 'edu', sids: [SID] }));
  const domain = must(m.driver.allocDomain());
  expect(m.driver.attach(master, domain)).toBe(0);
  expect(m.driver.map(domain, IOVA_SRC, PA_SRC, pages * 4096)).toBe(0);
  expect(m.driver.map(domain, IOVA_DST, PA_DST, pages * 4096)).toBe(0);
  m.mem.writeBytes(PA_SRC, pattern(pages * 4096, 7));
  const engine = new MemcpyEngine(deviceIdentity({ name: 'edu', streamIds: [SID] }), m.smmu);
  return { ...m, master, domain, engine, san };
}

/** PA of the level-3 descriptor of `va` (4 KiB granule, 48-bit VA, walk from level 0). */
function l3PteAddr(mem: SparseMemory, pgd: number, va: number): number {
  let table = pgd;
  for (let level = 0; level < 3; level++) {
    const index = Math.floor(va / 2 ** (39 - 9 * level)) % 512;
    const desc = mem.read64(table + 8 * index);
    // Bits [1:0] = 0b11: a table descriptor.
    expect(desc & 3n).toBe(3n);
    table = Number(desc & 0x0000_ffff_ffff_f000n);
  }
  return table + 8 * (Math.floor(va / 4096) % 512);
}

describe('sanitizer: the correct guest driver', () => {
  it('gives no report over a long map / DMA / unmap / remap workload', () => {
    const r = rig({}, 4);
    let dmas = 0;
    for (let round = 0; round < 40; round++) {
      const page = round % 4;
      const off = page * 4096;
      expect(r.engine.copy({ src: IOVA_SRC + off, dst: IOVA_DST + off, len: 4096 }).ok).toBe(true);
      dmas += 2;
      // Unmap one source page (TLBI + CMD_SYNC), then DMA to it faults; remap it elsewhere.
      expect(r.driver.unmap(r.domain, IOVA_SRC + off, 4096)).toBe(4096);
      expect(r.engine.copy({ src: IOVA_SRC + off, dst: IOVA_DST + off, len: 4096 }).ok).toBe(false);
      dmas += 1;
      r.driver.processEvents();
      const where = PA_SRC + 0x40_0000 + (round % 7) * 4096;
      expect(r.driver.map(r.domain, IOVA_SRC + off, where, 4096)).toBe(0);
      expect(r.engine.copy({ src: IOVA_SRC + off, dst: IOVA_DST + off, len: 4096 }).ok).toBe(true);
      dmas += 2;
      // A whole-range unmap + remap of the destination every few rounds.
      if (round % 5 === 4) {
        expect(r.driver.unmap(r.domain, IOVA_DST, 4 * 4096)).toBe(4 * 4096);
        expect(r.driver.map(r.domain, IOVA_DST, PA_DST, 4 * 4096)).toBe(0);
      }
    }
    expect(r.san.reports).toEqual([]);
    // The sanitizer did look: walks, invalidations and changes were all seen.
    expect(r.san.stats.dmas).toBe(dmas);
    expect(r.san.stats.walks).toBeGreaterThan(40);
    expect(r.san.stats.invalidations).toBeGreaterThan(40);
    expect(r.san.stats.changes).toBeGreaterThan(40);
  });

  it('does not flag invalid → valid: a faulting walk caches nothing (DDI 0487 D8.16 R_XCLRD)', () => {
    const r = rig();
    const iova = 0x30_0000;
    expect(r.engine.copy({ src: iova, dst: IOVA_DST, len: 4096 }).ok).toBe(false);
    r.driver.processEvents();
    // The driver only writes the PTE (no TLBI needed, none issued).
    const mark = r.smmu.commandMark();
    expect(r.driver.map(r.domain, iova, PA_SRC, 4096)).toBe(0);
    expect(r.smmu.commandsSince(mark).map((c) => c.name)).toEqual([]);
    expect(r.engine.copy({ src: iova, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    expect(r.san.reports).toEqual([]);
  });

  it('does not flag a change to a descriptor no walk has used', () => {
    const r = rig({ driver: { bugs: { forgetTlbiOnUnmap: true } } });
    // IOVA_SRC + 0x1000 was mapped but never used by a DMA: unmapping it without a TLBI leaves
    // nothing that could be cached.
    expect(r.driver.unmap(r.domain, IOVA_SRC + 0x1000, 4096)).toBe(4096);
    expect(r.engine.copy({ src: IOVA_SRC + 0x1000, dst: IOVA_DST, len: 4096 }).ok).toBe(false);
    expect(r.san.reports).toEqual([]);
  });
});

describe('sanitizer: planted driver bugs', () => {
  it('forgetTlbiOnUnmap: the DMA after unmap is reported with the exact PTE, address and cause', () => {
    const r = rig({ driver: { bugs: { forgetTlbiOnUnmap: true } } });
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    const ptePa = l3PteAddr(r.mem, r.domain.pgtable.pgd, IOVA_SRC);
    const before = r.mem.read64(ptePa);
    // A valid page descriptor for PA_SRC: bits [1:0] = 0b11 and OA[47:12] = PA_SRC.
    expect(before & 3n).toBe(3n);
    expect(before & 0x0000_ffff_ffff_f000n).toBe(BigInt(PA_SRC));
    expect(r.driver.unmap(r.domain, IOVA_SRC, 4096)).toBe(4096);
    expect(r.mem.read64(ptePa)).toBe(0n);
    expect(r.san.reports).toEqual([]);
    // The model's TLB still serves the old translation; the sanitizer reports the read.
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    expect(r.san.reports).toHaveLength(1);
    const rep = r.san.reports[0];
    expect(rep).toMatchObject({
      kind: 'stale-tlb',
      sid: SID,
      iova: BigInt(IOVA_SRC),
      access: 'read',
      pte: { pa: BigInt(ptePa), old: before, new: 0n, level: 3, stage: 1, leaf: true },
      missing: 'TLBI',
      count: 1,
    });
    expect(rep?.changedAt).toBeLessThan(rep?.dmaAt ?? 0);
    // The rendered line names the PTE and the address.
    const line = r.san.lines()[0] ?? '';
    expect(line).toContain(`iova=0x${IOVA_SRC.toString(16)}`);
    expect(line).toContain(`@0x${ptePa.toString(16)}`);
    expect(line).toContain('missing TLBI');
    // The same DMA again is counted on the same report; another page is not flagged.
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    expect(r.san.reports).toHaveLength(1);
    expect(r.san.reports[0]?.count).toBe(2);
    expect(r.engine.copy({ src: IOVA_SRC + 0x1000, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    expect(r.san.reports).toHaveLength(1);
    // A completed covering invalidation (TLBI_NH_ASID + CMD_SYNC) ends it.
    r.driver.flushIotlbAll(r.domain);
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(false);
    expect(r.san.reports).toHaveLength(1);
  });

  it('invalidateWrongAsid: reported as a wrong ASID, with the PTE', () => {
    const r = rig({ driver: { bugs: { invalidateWrongAsid: true } } });
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    const ptePa = l3PteAddr(r.mem, r.domain.pgtable.pgd, IOVA_SRC);
    const before = r.mem.read64(ptePa);
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    // The write to the destination page (still mapped) is fine; the source read is stale.
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    expect(r.san.reports).toHaveLength(1);
    expect(r.san.reports[0]).toMatchObject({
      kind: 'stale-tlb',
      sid: SID,
      iova: BigInt(IOVA_SRC),
      pte: { pa: BigInt(ptePa), old: before, new: 0n, level: 3, stage: 1 },
      missing: 'ASID',
    });
    const asid = r.domain.asid;
    expect(r.san.reports[0]?.detail).toContain(`ASID ${asid + 1}`);
    expect(r.san.reports[0]?.detail).toContain(`ASID ${asid}`);
  });

  it('a bug switched on at run time is caught from then on', () => {
    const r = rig();
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    r.driver.map(r.domain, IOVA_SRC, PA_SRC, 4096);
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    expect(r.san.reports).toEqual([]);
    r.driver.bugs.forgetTlbiOnUnmap = true;
    r.driver.unmap(r.domain, IOVA_DST, 4096);
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    expect(r.san.reports.map((x) => [x.iova, x.access, x.missing])).toEqual([
      [BigInt(IOVA_DST), 'write', 'TLBI'],
    ]);
  });

  it('disable() removes every hook: nothing more is reported', () => {
    const r = rig({ driver: { bugs: { forgetTlbiOnUnmap: true } } });
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    r.san.disable();
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    expect(r.san.reports).toEqual([]);
    // A second sanitizer can be enabled once the first is gone.
    const again = enableSanitizer(r.smmu);
    expect(again.reports).toEqual([]);
    expect(() => enableSanitizer(r.smmu)).toThrow(/already enabled/);
  });
});
