// End to end with the real pieces: the kernel model (src/iommufd createHost, reached only through
// its process facade), the SMMU hardware model with its translation side, the Linux-like guest
// driver (src/guest) programming the VMM's vSMMU through MMIO, and device DMA through guest
// stage 1 over host stage 2. Data is checked in host physical memory against what was written
// through guest RAM; faults must reach the guest with the vSID, not the physical StreamID.
import { describe, expect, it } from 'vitest';
import { GuestArmSmmuV3 } from '../../src/guest/arm-smmu-v3.ts';
import { createHost, type Host } from '../../src/iommufd/host.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import { createTranslation } from '../../src/smmu/translate.ts';
import { type InvalidStePolicy, Vmm } from '../../src/vmm/index.ts';

const BASE = 0x4000_0000;
const SIZE = 8 << 20;
// Host StreamIDs 0x8 and 0x10 (the host default); the guest sees them as 0x100 and 0x200.
const VSID0 = 0x100;
const VSID1 = 0x200;

interface World {
  host: Host;
  vmm: Vmm;
  driver: GuestArmSmmuV3;
  guestLog: string[];
}

function world(policy: InvalidStePolicy = 'log-event-abort'): World {
  const host = createHost({
    smmus: [
      {
        model: (mem, ids, iidr) => {
          const s = new Smmu({
            mem,
            idr: ids,
            iidr,
            translation: (core) => createTranslation(core),
          });
          return {
            read32: (o) => s.read32(o),
            write32: (o, v) => s.write32(o, v),
            read64: (o) => s.mmioRead(o, 8),
            write64: (o, v) => s.mmioWrite(o, 8, v),
            recordEvent: (r) => s.recordEvent(r),
            translate: (q) => s.translate(q),
          };
        },
      },
    ],
  });
  let driver: GuestArmSmmuV3 | undefined;
  const vmm = Vmm.create(host.process(), {
    ram: { base: BASE, size: SIZE },
    smmus: [
      {
        devices: [
          { path: '/dev/vfio/devices/vfio0', vsid: VSID0, name: 'nic' },
          { path: '/dev/vfio/devices/vfio1', vsid: VSID1, name: 'dma' },
        ],
        options: { policy, irq: (l) => driver?.interrupt(l) },
      },
    ],
  });
  // The guest kernel's page allocator: zeroed, naturally aligned blocks above the first MiB.
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
  const guestLog: string[] = [];
  driver = new GuestArmSmmuV3(
    {
      mmio: vmm.smmus[0] as Vmm['smmus'][number],
      ram: { mem: vmm.ram.guestView(), alloc },
      log: (l) => guestLog.push(l),
    },
    { msiDoorbell: BASE + 0x1000, interrupts: 'wired' },
  );
  return { host, vmm, driver, guestLog };
}

function ok<T>(x: T | number): T {
  if (typeof x === 'number') throw new Error(`guest driver error ${x}`);
  return x;
}

describe('VMM vSMMU end to end (kernel model + SMMU model + guest driver)', () => {
  it('guest S1 over host S2: map, DMA, unmap + invalidate, fault with the vSID', () => {
    const { host, vmm, driver } = world();
    expect(driver.probe()).toBe(0);
    const v = vmm.smmus[0] as Vmm['smmus'][number];
    // After probe (SMMUEN = 1, no STE written for them yet) both streams abort.
    expect(v.streams().map((s) => s.attached)).toEqual(['abort', 'abort']);
    const nic = ok(driver.addDevice({ name: 'nic', sids: [VSID0] }));
    const dom = ok(driver.allocDomain({ stage: 1 }));
    expect(driver.attach(nic, dom)).toBe(0);
    expect(v.streams()[0]?.attached).toBe('nested');
    // The kernel composed a nested physical STE (Config 0b111) for the device's real StreamID.
    const pste = host.smmu(0).readSte(0x8);
    expect(Number(((pste[0] as bigint) >> 1n) & 7n)).toBe(7);

    const buf = BASE + 0x40_0000;
    const pattern = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + 3) & 0xff);
    vmm.ram.writeBytes(buf + 0x100, pattern);
    expect(driver.map(dom, 0x10_0000, buf, 4096)).toBe(0);
    const r = host.dma(0, { iova: 0x10_0100n, access: 'read' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // The translation lands on the host page that backs guest RAM.
    expect(host.mem.readBytes(Number(r.pa), 64)).toEqual(pattern);

    const before = vmm.counters.ioctls['IOMMU_HWPT_INVALIDATE'] ?? 0;
    expect(driver.unmap(dom, 0x10_0000, 4096)).toBe(4096);
    expect(vmm.counters.ioctls['IOMMU_HWPT_INVALIDATE'] ?? 0).toBeGreaterThan(before);
    const r2 = host.dma(0, { iova: 0x10_0100n, access: 'read' });
    expect(r2.ok).toBe(false);
    // Hardware → vEVENTQ → VMM → guest event queue → guest driver.
    expect(vmm.pollEvents()).toBe(1);
    const evs = driver.events;
    expect(evs).toHaveLength(1);
    expect(evs[0]?.record.type).toBe('F_TRANSLATION');
    expect(evs[0]?.sid).toBe(VSID0);
    expect(evs[0]?.record.fields['InputAddr']).toBe(0x10_0100n);
    expect(vmm.counters.eventsInjected).toBe(1);
  });

  for (const policy of ['log-event-abort', 'cerror-keep', 'silent-abort'] as const) {
    it(`invalid vSTE under ${policy}`, () => {
      const { host, vmm, driver } = world(policy);
      expect(driver.probe()).toBe(0);
      const v = vmm.smmus[0] as Vmm['smmus'][number];
      const dev = ok(driver.addDevice({ name: 'dma', sids: [VSID1] }));
      const dom = ok(driver.allocDomain({ stage: 1 }));
      expect(driver.attach(dev, dom)).toBe(0);
      const s1 = v.streams()[1]?.hwptId;
      // A broken guest writes a stage-2 Config (ILLEGAL on this S1-only vSMMU) into its STE.
      const pa = driver.stePa(VSID1) as number;
      vmm.ram.writeWords(pa, [1n | (6n << 1n)]);
      const errsBefore = driver.stats.commandErrors;
      driver.submitCommands([[0x03n | (BigInt(VSID1) << 32n), 1n]]);
      vmm.pollEvents();
      const log = vmm.logLines.map((l) => l.text).join('\n');
      expect(log).toMatch(/IOMMU_HWPT_ALLOC failed: EIO/);
      if (policy === 'cerror-keep') {
        expect(v.streams()[1]?.hwptId).toBe(s1);
        expect(driver.stats.commandErrors).toBe(errsBefore + 1);
        expect(driver.events).toHaveLength(0);
      } else {
        expect(v.streams()[1]?.hwptId).toBe(v.backend.abortHwptId);
        expect(driver.stats.commandErrors).toBe(errsBefore);
        const bad = driver.events.filter((e) => e.record.type === 'C_BAD_STE');
        expect(bad.map((e) => e.sid)).toEqual(policy === 'log-event-abort' ? [VSID1] : []);
        // The physical stream aborts silently.
        const r = host.dma(1, { iova: 0x1000n, access: 'read' });
        expect(r.ok).toBe(false);
        expect(vmm.pollEvents()).toBe(0);
      }
      // The guest keeps running: a later valid configuration installs again.
      expect(driver.attach(dev, ok(driver.allocDomain({ stage: 1 })))).toBe(0);
      expect(v.streams()[1]?.attached).toBe('nested');
    });
  }

  it('works on the v6.17 kernel profile (vDEVICE needed for every nested attach)', () => {
    const host = createHost({ profile: 'v6.17' });
    const vmm = Vmm.create(host.process(), {
      ram: { base: BASE, size: SIZE },
      smmus: [{ devices: [{ path: '/dev/vfio/devices/vfio0', vsid: VSID0 }] }],
    });
    expect(vmm.smmus[0]?.streams()[0]?.attached).toBe('bypass');
    expect(vmm.counters.ioctlFailures).toEqual({});
  });

  it('one vSMMU per physical SMMU; a vSMMU spanning two SMMUs fails set-up', () => {
    const two = () =>
      createHost({
        smmus: [{}, {}],
        devices: [
          { sid: 0x8, smmu: 0 },
          { sid: 0x8, smmu: 1 },
        ],
      });
    const vmm = Vmm.create(two().process(), {
      ram: { base: BASE, size: SIZE },
      smmus: [
        { devices: [{ path: '/dev/vfio/devices/vfio0', vsid: 1 }] },
        { devices: [{ path: '/dev/vfio/devices/vfio1', vsid: 2 }] },
      ],
    });
    expect(vmm.smmus).toHaveLength(2);
    expect(vmm.smmus[0]?.backend.viommuId).not.toBe(vmm.smmus[1]?.backend.viommuId);
    const lines: string[] = [];
    expect(() =>
      Vmm.create(two().process(), {
        ram: { base: BASE, size: SIZE },
        smmus: [
          {
            devices: [
              { path: '/dev/vfio/devices/vfio0', vsid: 1 },
              { path: '/dev/vfio/devices/vfio1', vsid: 2 },
            ],
          },
        ],
        log: (e) => lines.push(e.text),
      }),
    ).toThrow(/set-up failed/);
    expect(lines.some((l) => /ioctl \S+ failed: E[A-Z]+ \(-\d+\); \w+ \{/.test(l))).toBe(true);
  });

  it('hot-unplug releases the device objects', () => {
    const { vmm, driver } = world();
    expect(driver.probe()).toBe(0);
    const v = vmm.smmus[0] as Vmm['smmus'][number];
    const dev = ok(driver.addDevice({ name: 'nic', sids: [VSID0] }));
    expect(driver.attach(dev, ok(driver.allocDomain({ stage: 1 })))).toBe(0);
    expect(v.removeDevice(VSID0)).toBe(true);
    expect(v.streams().map((s) => s.vsid)).toEqual([VSID1]);
    expect(vmm.counters.ioctlFailures).toEqual({});
    // The guest's later commands for that StreamID are harmless no-ops.
    driver.removeDevice(dev);
    expect(driver.stats.commandErrors).toBe(0);
  });

  it('shuts down cleanly and releases every object', () => {
    const { vmm, driver } = world();
    expect(driver.probe()).toBe(0);
    vmm.shutdown();
    expect(vmm.counters.ioctlFailures).toEqual({});
  });
});
