// The stale-translation sanitizer under the VMM: the kernel model (createHost, its own SMMU model
// reached as host.smmu(0).hw), the VMM vSMMU over the ioctl interface, the Linux-like guest driver
// programming the vSMMU, and device DMA through guest stage 1 over host stage 2. The sanitizer
// watches the host SMMU: guest TLBIs reach it forwarded by the VMM and the kernel (VMID forced),
// the guest's page tables live in host memory behind the VMM's RAM mapping. Expected PTE
// addresses are derived here: the guest PTE's guest-physical address from the VMSAv8-64 4 KiB
// layout (index = VA[47-9L:39-9L] at level L), its host-physical address by observing which host
// word a same-value rewrite through the VMM's RAM mapping touches.

import { describe, expect, it } from 'vitest';
import { GuestArmSmmuV3, type GuestDomain } from '../../src/guest/arm-smmu-v3.ts';
import { createHost, type Host } from '../../src/iommufd/host.ts';
import { enableSanitizer, type Sanitizer } from '../../src/smmu/sanitizer.ts';
import type { Smmu } from '../../src/smmu/smmu.ts';
import { Vmm } from '../../src/vmm/index.ts';

const BASE = 0x4000_0000;
const SIZE = 8 << 20;
const VSID0 = 0x100;
const PSID0 = 0x8;
const BUF = BASE + 0x40_0000;
const IOVA = 0x10_0000;

interface World {
  readonly host: Host;
  readonly vmm: Vmm;
  readonly driver: GuestArmSmmuV3;
  readonly dom: GuestDomain;
  readonly san: Sanitizer;
}

function world(bugs: { forgetTlbiOnUnmap?: boolean; invalidateWrongAsid?: boolean } = {}): World {
  const host = createHost();
  let driver: GuestArmSmmuV3 | undefined;
  const vmm = Vmm.create(host.process(), {
    ram: { base: BASE, size: SIZE },
    smmus: [
      {
        devices: [{ path: '/dev/vfio/devices/vfio0', vsid: VSID0, name: 'nic' }],
        options: { irq: (l) => driver?.interrupt(l) },
      },
    ],
  });
  const san = enableSanitizer(host.smmu(0).hw as Smmu, {
    sidLabel: (sid) => (sid === PSID0 ? `vSID 0x${VSID0.toString(16)}` : `0x${sid.toString(16)}`),
  });
  let next = BASE + (1 << 20);
  const alloc = {
    alloc(bytes: number): number | undefined {
      let size = 64;
      while (size < bytes) size *= 2;
      const a = Math.ceil(next / size) * size;
      if (a + size > BASE + SIZE) return undefined;
      next = a + size;
      vmm.ram.writeBytes(a, new Uint8Array(size));
      return a;
    },
    free(): void {},
  };
  driver = new GuestArmSmmuV3(
    { mmio: vmm.smmus[0] as Vmm['smmus'][number], ram: { mem: vmm.ram.guestView(), alloc } },
    { msiDoorbell: BASE + 0x1000, interrupts: 'wired', bugs },
  );
  expect(driver.probe()).toBe(0);
  const nic = driver.addDevice({ name: 'nic', sids: [VSID0] });
  const dom = driver.allocDomain({ stage: 1 });
  if (typeof nic === 'number' || typeof dom === 'number') throw new Error('guest set-up failed');
  expect(driver.attach(nic, dom)).toBe(0);
  expect(driver.map(dom, IOVA, BUF, 16 * 4096)).toBe(0);
  return { host, vmm, driver, dom, san };
}

function dma(w: World, iova: number, access: 'read' | 'write' = 'read'): boolean {
  const r = w.host.dma(0, { iova: BigInt(iova), access });
  w.vmm.pollEvents();
  return r.ok;
}

/** Guest-physical address of the level-3 PTE of `va` in the guest's stage-1 table. */
function guestPte(w: World, va: number): number {
  let table = w.dom.pgtable.pgd;
  for (let level = 0; level < 3; level++) {
    const index = Math.floor(va / 2 ** (39 - 9 * level)) % 512;
    const desc = w.vmm.ram.read64(table + 8 * index) ?? 0n;
    expect(desc & 3n).toBe(3n);
    table = Number(desc & 0x0000_ffff_ffff_f000n);
  }
  return table + 8 * (Math.floor(va / 4096) % 512);
}

/** Host-physical address behind a guest-physical word (observed on a same-value rewrite). */
function hostPa(w: World, gpa: number): number {
  const seen: number[] = [];
  const stop = w.host.mem.observe((a) => {
    if (a.kind === 'write') seen.push(a.pa);
  });
  w.vmm.ram.writeWords(gpa, [w.vmm.ram.read64(gpa) ?? 0n]);
  stop();
  expect(seen).toHaveLength(1);
  return seen[0] as number;
}

describe('sanitizer under the VMM (guest S1 over host S2)', () => {
  it('the correct guest driver gives no report over a long workload', () => {
    const w = world();
    for (let round = 0; round < 24; round++) {
      const off = (round % 8) * 4096;
      expect(dma(w, IOVA + off)).toBe(true);
      expect(dma(w, IOVA + off + 8 * 4096, 'write')).toBe(true);
      expect(w.driver.unmap(w.dom, IOVA + off, 4096)).toBe(4096);
      expect(dma(w, IOVA + off)).toBe(false);
      expect(w.driver.map(w.dom, IOVA + off, BUF + ((round * 3) % 16) * 4096, 4096)).toBe(0);
      expect(dma(w, IOVA + off)).toBe(true);
    }
    expect(w.san.reports).toEqual([]);
    expect(w.san.stats.walks).toBeGreaterThan(24);
    expect(w.san.stats.changes).toBeGreaterThan(20);
    expect(w.san.stats.invalidations).toBeGreaterThan(24);
  });

  it('forgetTlbiOnUnmap is caught with the guest PTE (at its host address)', () => {
    const w = world({ forgetTlbiOnUnmap: true });
    expect(dma(w, IOVA)).toBe(true);
    const gpa = guestPte(w, IOVA);
    const pa = hostPa(w, gpa);
    const old = w.vmm.ram.read64(gpa) ?? 0n;
    expect(old & 0x0000_ffff_ffff_f000n).toBe(BigInt(BUF));
    expect(w.driver.unmap(w.dom, IOVA, 4096)).toBe(4096);
    expect(dma(w, IOVA)).toBe(true);
    expect(w.san.reports).toHaveLength(1);
    expect(w.san.reports[0]).toMatchObject({
      kind: 'stale-tlb',
      sid: PSID0,
      iova: BigInt(IOVA),
      pte: { pa: BigInt(pa), old, new: 0n, level: 3, stage: 1, leaf: true },
      missing: 'TLBI',
    });
    expect(w.san.lines()[0]).toContain(`sid=vSID 0x${VSID0.toString(16)}`);
  });

  it('invalidateWrongAsid is caught as a wrong ASID (the VMM forwards the TLBI faithfully)', () => {
    const w = world({ invalidateWrongAsid: true });
    expect(dma(w, IOVA + 0x2000)).toBe(true);
    const gpa = guestPte(w, IOVA + 0x2000);
    const pa = hostPa(w, gpa);
    w.driver.unmap(w.dom, IOVA + 0x2000, 4096);
    dma(w, IOVA + 0x2000);
    expect(w.san.reports).toHaveLength(1);
    expect(w.san.reports[0]).toMatchObject({
      iova: BigInt(IOVA + 0x2000),
      pte: { pa: BigInt(pa), new: 0n, level: 3, stage: 1 },
      missing: 'ASID',
    });
    // The guest's own full flush (TLBI_NH_ASID + CMD_SYNC through the VMM) completes it.
    w.driver.flushIotlbAll(w.dom);
    expect(dma(w, IOVA + 0x2000)).toBe(false);
    expect(w.san.reports).toHaveLength(1);
  });
});
