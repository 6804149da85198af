// PASID (SubstreamID) DMA through the nested path, end to end with the real pieces: the kernel
// model (createHost), the SMMU hardware model with its translation side, the VMM's vSMMU and the
// Linux-like guest driver. The host SMMU registers are QEMU's `virt` values with an IDR1.SSIDSIZE
// (and, for the 2-level case, IDR0.CD2L) override, since QEMU's own SSIDSIZE is 0.
//
// Expected behaviour, derived from the rules (IHI 0070 §5.2 S1Fmt/S1CDMax/S1DSS, §5.4 CD.V, §7.3.11
// C_BAD_CD; Linux arm-smmu-v3 arm_smmu_set_pasid / arm_smmu_blocking_set_dev_pasid /
// arm_smmu_probe_device):
//  - RID attached to a stage-1 domain → STE S1DSS = SSID0: a DMA without SSID uses CD 0;
//  - PASID 5 attached to another domain → CD 5 of the same table: a DMA with SSID 5 uses CD 5;
//  - PASID 5 detached → CD 5 cleared (V = 0): a DMA with SSID 5 is C_BAD_CD with SSV = 1 and
//    SubstreamID = 5; the kernel forwards it (C_BAD_CD is a forwarded event ID) with the vSID;
//  - master->ssid_bits = min(IDR1.SSIDSIZE, device PASID width): with SSIDSIZE = 0 a PASID attach
//    fails with EINVAL.
// Data is checked in host physical memory against patterns written through guest RAM.
import { describe, expect, it } from 'vitest';
import { GuestArmSmmuV3, type GuestDomain } from '../../src/guest/arm-smmu-v3.ts';
import { createHost, type Host } from '../../src/iommufd/host.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { formatResult } from '../../src/scenario/result.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import { createTranslation } from '../../src/smmu/translate.ts';
import { Vmm } from '../../src/vmm/index.ts';

const BASE = 0x4000_0000;
const SIZE = 8 << 20;
const VSID0 = 0x100;
const VSID1 = 0x200;
const EINVAL = 22;

// QEMU 10.0.2 virt IDR0/IDR1 (formats.md §6), with field positions from IHI 0070 §6.3.1/§6.3.2:
// IDR0.CD2L is bit 19, IDR1.SSIDSIZE is bits [10:6].
const QEMU_IDR0 = 0x0d44101b;
const QEMU_IDR1 = 0x02730010;
const CD2L = 1 << 19;
function withSsidsize(idr1: number, n: number): number {
  return ((idr1 & ~(0x1f << 6)) | (n << 6)) >>> 0;
}

interface Opts {
  /** Host IDR1.SSIDSIZE. */
  readonly hostSsid: number;
  /** Host IDR0.CD2L. */
  readonly cd2l?: boolean;
  /** The VMM's requested SSIDSIZE. */
  readonly planSsid: number;
  /** PCI PASID width of device 0 (host and guest firmware view). */
  readonly pasidBits: number;
  /** Kernel profile (default v6.19). */
  readonly profile?: 'v6.17' | 'v6.19' | 'v7';
}

interface World {
  host: Host;
  vmm: Vmm;
  driver: GuestArmSmmuV3;
  smmu: () => Smmu;
  /** Commands the host driver issued to the SMMU hardware (opcode, words). */
  hostCmds: { opcode: string; words: readonly [bigint, bigint] }[];
}

function world(o: Opts): World {
  let hw: Smmu | undefined;
  const hostCmds: World['hostCmds'] = [];
  const host = createHost({
    ...(o.profile ? { profile: o.profile } : {}),
    trace: (e) => {
      if (e.kind === 'command' && e.source === 'host-driver')
        hostCmds.push({ opcode: e.opcode, words: e.words });
    },
    smmus: [
      {
        idr: {
          idr0: (QEMU_IDR0 | (o.cd2l ? CD2L : 0)) >>> 0,
          idr1: withSsidsize(QEMU_IDR1, o.hostSsid),
        },
        model: (mem, ids, iidr) => {
          const s = new Smmu({
            mem,
            idr: ids,
            iidr,
            translation: (core) => createTranslation(core),
          });
          hw = s;
          return {
            read32: (off) => s.read32(off),
            write32: (off, v) => s.write32(off, v),
            read64: (off) => s.mmioRead(off, 8),
            write64: (off, v) => s.mmioWrite(off, 8, v),
            recordEvent: (r) => s.recordEvent(r),
            translate: (q) => s.translate(q),
          };
        },
      },
    ],
    devices: [
      { sid: 0x8, pasidBits: o.pasidBits },
      { sid: 0x10, pasidBits: 0 },
    ],
  });
  let driver: GuestArmSmmuV3 | undefined;
  const vmm = Vmm.create(host.process(), {
    ram: { base: BASE, size: SIZE },
    smmus: [
      {
        devices: [
          { path: '/dev/vfio/devices/vfio0', vsid: VSID0, name: 'pasid-dev' },
          { path: '/dev/vfio/devices/vfio1', vsid: VSID1, name: 'other' },
        ],
        plan: { ssidBits: o.planSsid },
        options: { irq: (l) => driver?.interrupt(l) },
      },
    ],
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
    { msiDoorbell: BASE + 0x1000, interrupts: 'wired' },
  );
  return {
    host,
    vmm,
    driver,
    hostCmds,
    smmu: () => {
      if (!hw) throw new Error('no SMMU model');
      return hw;
    },
  };
}

function ok<T>(x: T | number): T {
  if (typeof x === 'number') throw new Error(`guest driver error ${x}`);
  return x;
}

function pattern(seed: number): Uint8Array {
  return Uint8Array.from({ length: 64 }, (_, i) => (i * 13 + seed) & 0xff);
}

/** Bits [hi:lo] of a u64 word (an independent bigint helper for the test). */
function bits(w: bigint, hi: number, lo: number): number {
  return Number((w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
}

const IOVA = 0x10_0000;
const RID_BUF = BASE + 0x40_0000;
const PASID_BUF = BASE + 0x50_0000;

/**
 * Attaches the RID to one domain and PASID `ssid` to another, both mapping IOVA to different
 * guest pages, and checks that DMA with and without the SSID lands on the right page.
 */
function attachBoth(w: World, ssid: number) {
  const { host, vmm, driver } = w;
  expect(driver.probe()).toBe(0);
  const dev = ok(driver.addDevice({ name: 'pasid-dev', sids: [VSID0], pasidBits: 16 }));
  const ridDom = ok(driver.allocDomain({ stage: 1 }));
  const pasidDom = ok(driver.allocDomain({ stage: 1 }));
  expect(driver.attach(dev, ridDom)).toBe(0);
  expect(driver.attachPasid(dev, ssid, pasidDom)).toBe(0);
  const a = pattern(3);
  const b = pattern(101);
  vmm.ram.writeBytes(RID_BUF + 0x80, a);
  vmm.ram.writeBytes(PASID_BUF + 0x80, b);
  expect(driver.map(ridDom, IOVA, RID_BUF, 4096)).toBe(0);
  expect(driver.map(pasidDom, IOVA, PASID_BUF, 4096)).toBe(0);

  const rid = host.dma(0, { iova: BigInt(IOVA + 0x80), access: 'read' });
  expect(
    rid.ok,
    JSON.stringify(rid, (_, v) => (typeof v === 'bigint' ? hex(v) : v)),
  ).toBe(true);
  if (rid.ok) expect(host.mem.readBytes(Number(rid.pa), 64)).toEqual(a);
  const pas = host.dma(0, { iova: BigInt(IOVA + 0x80), ssid, access: 'read' });
  expect(
    pas.ok,
    JSON.stringify(pas, (_, v) => (typeof v === 'bigint' ? hex(v) : v)),
  ).toBe(true);
  if (pas.ok) expect(host.mem.readBytes(Number(pas.pa), 64)).toEqual(b);
  // The two translations land on different host pages (different guest pages behind them).
  if (rid.ok && pas.ok) expect(rid.pa).not.toBe(pas.pa);
  return { dev, ridDom, pasidDom };
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** Detaches PASID `ssid`: a DMA with it faults (C_BAD_CD) and the guest sees vSID + SSID. */
function detachAndFault(
  w: World,
  dev: ReturnType<typeof attachBoth>['dev'],
  ssid: number,
  ridPattern: Uint8Array,
): void {
  const { host, vmm, driver } = w;
  vmm.pollEvents();
  const before = driver.events.length;
  expect(driver.detachPasid(dev, ssid)).toBe(0);
  const r = host.dma(0, { iova: BigInt(IOVA + 0x80), ssid, access: 'read' });
  expect(r.ok).toBe(false);
  // The RID keeps working.
  const rid = host.dma(0, { iova: BigInt(IOVA + 0x80), access: 'read' });
  expect(rid.ok).toBe(true);
  if (rid.ok) expect(host.mem.readBytes(Number(rid.pa), 64)).toEqual(ridPattern);
  expect(vmm.pollEvents()).toBe(1);
  const evs = driver.events.slice(before);
  expect(evs).toHaveLength(1);
  // §5.4 V: a CD with V = 0 is ILLEGAL → C_BAD_CD (§7.3.11), which carries SSV and SubstreamID.
  expect(evs[0]?.record.type).toBe('C_BAD_CD');
  expect(evs[0]?.sid).toBe(VSID0);
  expect(evs[0]?.ssid).toBe(ssid);
}

describe('PASID DMA through the nested path', () => {
  for (const profile of ['v6.17', 'v6.19', 'v7'] as const) {
    it(`linear CD table on the ${profile} kernel profile (v7: strict invalidation checks)`, () => {
      const w = world({ hostSsid: 8, planSsid: 8, pasidBits: 16, profile });
      const { dev } = attachBoth(w, 5);
      detachAndFault(w, dev, 5, pattern(3));
      expect(w.vmm.counters.ioctlFailures).toEqual({});
    });
  }

  it('linear CD table: RID and PASID 5 on different domains, then PASID 5 detached', () => {
    const w = world({ hostSsid: 8, planSsid: 8, pasidBits: 16 });
    const { dev } = attachBoth(w, 5);
    // The guest's CFGI_CD for CD 5 reached the host SMMU re-targeted to the physical StreamID:
    // §4.3.3 CMD_CFGI_CD: opcode 0x05 [7:0], SubstreamID [31:12], StreamID [63:32], Leaf W1[0].
    const cfgiCd = w.hostCmds
      .filter((c) => bits(c.words[0], 7, 0) === 0x05)
      .map((c) => [bits(c.words[0], 63, 32), bits(c.words[0], 31, 12), bits(c.words[1], 0, 0)]);
    expect(cfgiCd).toContainEqual([0x8, 5, 1]);
    expect(cfgiCd.every(([sid]) => sid === 0x8)).toBe(true);
    // The guest built a linear table: STE S1Fmt = 0 (§5.2 word 0 [5:4]), S1CDMax = 8 ([63:59]),
    // S1DSS = SSID0 (0b10, word 1 [1:0]); min(vSSIDSIZE 8, device 16) = 8.
    const ste = w.vmm.ram.readWords(w.driver.stePa(VSID0) as number, 2) as bigint[];
    expect(bits(ste[0] as bigint, 5, 4)).toBe(0);
    expect(bits(ste[0] as bigint, 63, 59)).toBe(8);
    expect(bits(ste[1] as bigint, 1, 0)).toBe(2);
    detachAndFault(w, dev, 5, pattern(3));
  });

  it('2-level CD table (CD2L, 64 KiB leaves): RID and PASID 5, then PASID 5 detached', () => {
    const w = world({ hostSsid: 16, cd2l: true, planSsid: 12, pasidBits: 16 });
    const { dev } = attachBoth(w, 5);
    // More than 1024 contexts with CD2L → Linux's 2-level format with 64 KiB leaves (S1Fmt 0b10).
    const ste = w.vmm.ram.readWords(w.driver.stePa(VSID0) as number, 2) as bigint[];
    expect(bits(ste[0] as bigint, 5, 4)).toBe(2);
    expect(bits(ste[0] as bigint, 63, 59)).toBe(12);
    detachAndFault(w, dev, 5, pattern(3));
  });

  it('2-level CD table: a PASID in a second leaf (SSID 1029) gets its own L2 table', () => {
    const w = world({ hostSsid: 16, cd2l: true, planSsid: 12, pasidBits: 16 });
    const { dev } = attachBoth(w, 1029);
    detachAndFault(w, dev, 1029, pattern(3));
  });

  it('RID blocked (S1DSS terminate) with a PASID: no-SSID DMA is refused, PASID DMA works', () => {
    const w = world({ hostSsid: 8, planSsid: 8, pasidBits: 16 });
    const { host, vmm, driver } = w;
    expect(driver.probe()).toBe(0);
    const dev = ok(driver.addDevice({ name: 'pasid-dev', sids: [VSID0], pasidBits: 16 }));
    const dom = ok(driver.allocDomain({ stage: 1 }));
    expect(driver.attachPasid(dev, 5, dom)).toBe(0);
    const b = pattern(77);
    vmm.ram.writeBytes(PASID_BUF, b);
    expect(driver.map(dom, IOVA, PASID_BUF, 4096)).toBe(0);
    const pas = host.dma(0, { iova: BigInt(IOVA), ssid: 5, access: 'read' });
    expect(pas.ok).toBe(true);
    if (pas.ok) expect(host.mem.readBytes(Number(pas.pa), 64)).toEqual(b);
    vmm.pollEvents();
    const before = driver.events.length;
    // §5.2 S1DSS 0b00: a transaction without SSID aborts with F_STREAM_DISABLED.
    const rid = host.dma(0, { iova: BigInt(IOVA), access: 'read' });
    expect(rid.ok).toBe(false);
    vmm.pollEvents();
    const evs = driver.events.slice(before);
    expect(evs.map((e) => [e.record.type, e.sid])).toEqual([['F_STREAM_DISABLED', VSID0]]);
    // Last PASID gone: the STE goes back to a plain abort STE, and the PASID DMA now faults.
    expect(driver.detachPasid(dev, 5)).toBe(0);
    const gone = host.dma(0, { iova: BigInt(IOVA), ssid: 5, access: 'read' });
    expect(gone.ok).toBe(false);
  });

  it('RID identity (S1DSS bypass) with a PASID: no-SSID DMA goes GPA → host page', () => {
    const w = world({ hostSsid: 8, planSsid: 8, pasidBits: 16 });
    const { host, vmm, driver } = w;
    expect(driver.probe()).toBe(0);
    const dev = ok(driver.addDevice({ name: 'pasid-dev', sids: [VSID0], pasidBits: 16 }));
    expect(driver.attachIdentity(dev)).toBe(0);
    const dom = ok(driver.allocDomain({ stage: 1 }));
    expect(driver.attachPasid(dev, 5, dom)).toBe(0);
    const a = pattern(9);
    const b = pattern(200);
    vmm.ram.writeBytes(RID_BUF, a);
    vmm.ram.writeBytes(PASID_BUF, b);
    expect(driver.map(dom, RID_BUF, PASID_BUF, 4096)).toBe(0);
    // Without SSID: stage 1 bypassed, the IOVA is the GPA.
    const rid = host.dma(0, { iova: BigInt(RID_BUF), access: 'read' });
    expect(rid.ok).toBe(true);
    if (rid.ok) expect(host.mem.readBytes(Number(rid.pa), 64)).toEqual(a);
    // With SSID 5: the same IOVA goes through the PASID domain to the other page.
    const pas = host.dma(0, { iova: BigInt(RID_BUF), ssid: 5, access: 'read' });
    expect(pas.ok).toBe(true);
    if (pas.ok) expect(host.mem.readBytes(Number(pas.pa), 64)).toEqual(b);
  });

  it('vSSIDSIZE = 0 (host has substreams, VMM does not ask): a guest PASID attach fails', () => {
    const w = world({ hostSsid: 8, planSsid: 0, pasidBits: 16 });
    const { driver, vmm } = w;
    expect(driver.probe()).toBe(0);
    // vIDR1.SSIDSIZE (bits [10:6]) is 0.
    expect(bits(BigInt(vmm.smmus[0]?.read32(0x04) ?? 0), 10, 6)).toBe(0);
    const dev = ok(driver.addDevice({ name: 'pasid-dev', sids: [VSID0], pasidBits: 16 }));
    const dom = ok(driver.allocDomain({ stage: 1 }));
    expect(driver.attach(dev, ok(driver.allocDomain({ stage: 1 })))).toBe(0);
    expect(driver.attachPasid(dev, 5, dom)).toBe(-EINVAL);
    expect(driver.attachPasid(dev, 1, dom)).toBe(-EINVAL);
  });

  it('host without substreams (QEMU virt SSIDSIZE = 0): the vSMMU cannot advertise them', () => {
    const w = world({ hostSsid: 0, planSsid: 8, pasidBits: 16 });
    const { driver, vmm } = w;
    expect(bits(BigInt(vmm.smmus[0]?.read32(0x04) ?? 0), 10, 6)).toBe(0);
    expect(driver.probe()).toBe(0);
    const dev = ok(driver.addDevice({ name: 'pasid-dev', sids: [VSID0], pasidBits: 16 }));
    const dom = ok(driver.allocDomain({ stage: 1 }));
    expect(driver.attachPasid(dev, 5, dom)).toBe(-EINVAL);
  });

  it('a device without a PASID capability cannot attach a PASID', () => {
    const w = world({ hostSsid: 8, planSsid: 8, pasidBits: 0 });
    const { driver } = w;
    expect(driver.probe()).toBe(0);
    const dev = ok(driver.addDevice({ name: 'pasid-dev', sids: [VSID0], pasidBits: 0 }));
    const dom = ok(driver.allocDomain({ stage: 1 }));
    expect(driver.attachPasid(dev, 5, dom)).toBe(-EINVAL);
  });

  it('re-attaching PASID 5 to another domain (hitless CD update) retargets its DMA', () => {
    const w = world({ hostSsid: 8, planSsid: 8, pasidBits: 16 });
    const { host, vmm, driver } = w;
    const { dev, ridDom } = attachBoth(w, 5);
    const c = pattern(55);
    const third = BASE + 0x60_0000;
    vmm.ram.writeBytes(third + 0x80, c);
    const dom3: GuestDomain = ok(driver.allocDomain({ stage: 1 }));
    expect(driver.map(dom3, IOVA, third, 4096)).toBe(0);
    expect(driver.attachPasid(dev, 5, dom3)).toBe(0);
    const pas = host.dma(0, { iova: BigInt(IOVA + 0x80), ssid: 5, access: 'read' });
    expect(pas.ok).toBe(true);
    if (pas.ok) expect(host.mem.readBytes(Number(pas.pa), 64)).toEqual(c);
    expect(ridDom.freed).toBe(false);
  });
});

describe('PASID configuration caching through the nested path', () => {
  for (const [name, opts, ssid, firstEvent] of [
    // Linear table: CD 5 exists (V = 0) as soon as the RID has its CD table → C_BAD_CD.
    ['linear', { hostSsid: 8, planSsid: 8, pasidBits: 16 }, 5, 'C_BAD_CD'],
    // 2-level: the L1CD of leaf 1 is invalid until the PASID attach → C_BAD_SUBSTREAMID (§5.3).
    [
      '2-level',
      { hostSsid: 16, cd2l: true, planSsid: 12, pasidBits: 16 },
      1029,
      'C_BAD_SUBSTREAMID',
    ],
  ] as const) {
    it(`${name}: a DMA before the PASID attach caches the invalid entry; the attach's CFGI_CD clears it`, () => {
      const w = world(opts);
      const { host, vmm, driver } = w;
      expect(driver.probe()).toBe(0);
      const dev = ok(driver.addDevice({ name: 'pasid-dev', sids: [VSID0], pasidBits: 16 }));
      const ridDom = ok(driver.allocDomain({ stage: 1 }));
      expect(driver.attach(dev, ridDom)).toBe(0);
      // The device uses the PASID before the guest set it up: refused, reported with vSID + SSID.
      const early = host.dma(0, { iova: BigInt(IOVA), ssid, access: 'read' });
      expect(early.ok).toBe(false);
      expect(vmm.pollEvents()).toBe(1);
      const ev = driver.events.at(-1);
      expect(ev?.record.type).toBe(firstEvent);
      expect(ev?.sid).toBe(VSID0);
      // C_BAD_SUBSTREAMID has no SSV: its SubstreamID field is always valid (§7.3.9).
      if (firstEvent === 'C_BAD_CD') expect(ev?.ssid).toBe(ssid);
      else expect(Number(ev?.record.fields['SubstreamID'])).toBe(ssid);

      const dom = ok(driver.allocDomain({ stage: 1 }));
      const b = pattern(42);
      vmm.ram.writeBytes(PASID_BUF, b);
      expect(driver.map(dom, IOVA, PASID_BUF, 4096)).toBe(0);
      expect(driver.attachPasid(dev, ssid, dom)).toBe(0);
      const pas = host.dma(0, { iova: BigInt(IOVA), ssid, access: 'read' });
      expect(pas.ok).toBe(true);
      if (pas.ok) expect(host.mem.readBytes(Number(pas.pa), 64)).toEqual(b);
    });
  }
});

// The same story through the scenario language (the path the scenario engineer reported): the
// `ssid` of attach/detach must reach the guest driver's PASID calls.
function scenario(ssidsize: number, steps: string): ReturnType<typeof runScenario> {
  const yaml = `name: pasid
machine:
  smmu:
    idr:
      idr1: { SSIDSIZE: ${ssidsize} }
  devices:
    - { name: acc0, sid: 0x8, vsid: 0x20, pasid-bits: 8 }
  guest: {}
steps:
${steps}`;
  return runScenario(parseScenario(yaml, 'pasid.yaml'));
}

describe('PASID steps of the scenario language', () => {
  const attachBothSteps = `  - attach: acc0
    domain: rid
  - attach: acc0
    domain: p5
    ssid: 5
  - map: rid
    iova: "0x1000_0000"
    size: 0x1000
    pa: "0x4080_0000"
  - map: p5
    iova: "0x1000_0000"
    size: 0x1000
    pa: "0x4081_0000"
  - dma: acc0
    iova: "0x1000_0000"
    write: "0xaa"
  - dma: acc0
    iova: "0x1000_0000"
    ssid: 5
    write: "0xbb"
  - memory: $guest_ram_va
    offset: 0x80_0000
    bytes: "0xaa"
  - memory: $guest_ram_va
    offset: 0x81_0000
    bytes: "0xbb"
`;
  it('attach with ssid attaches the PASID, not the RID; detach with ssid detaches only it', () => {
    const r = scenario(
      8,
      `${attachBothSteps}  - detach: acc0
    ssid: 5
  - dma: acc0
    iova: "0x1000_0000"
    ssid: 5
    read: 1
    expect: fault
    event: { type: C_BAD_CD, fields: { StreamID: 0x8, SSV: 1, SubstreamID: 5 } }
  - expect-events:
      - { type: C_BAD_CD, fields: { StreamID: 0x20, SSV: 1, SubstreamID: 5 } }
  - dma: acc0
    iova: "0x1000_0000"
    read: 1
    data: "0xaa"
`,
    );
    expect(r.ok, formatResult(r)).toBe(true);
  });

  it('a PASID attach fails when the host (and so the vSMMU) has SSIDSIZE = 0', () => {
    const r = scenario(0, attachBothSteps);
    expect(r.ok).toBe(false);
    // The RID attach works; the PASID attach is the first failing step (EINVAL from the driver).
    const failed = r.steps.filter((s) => !s.ok);
    expect(failed[0]?.index).toBe(1);
    expect(formatResult(r)).toMatch(/EINVAL/);
  });
});

describe('S1CDMax beyond the vSSIDSIZE (host SSIDSIZE wider than the vSMMU advertises)', () => {
  // §5.2 S1CDMax: "allowable range is 0 to SMMU_IDR1.SSIDSIZE inclusive. Other values are
  // ILLEGAL" — judged against the vSMMU's SSIDSIZE (8 here), not the host's (16), which the kernel
  // would happily program. An ILLEGAL STE behaves as V = 0: under the default policy the guest
  // gets C_BAD_STE for its vSID and the stream aborts.
  function rewriteCdMax(w: World, cdMax: number): void {
    const pa = w.driver.stePa(VSID0) as number;
    const [w0] = w.vmm.ram.readWords(pa, 1) as bigint[];
    const nw0 = ((w0 as bigint) & ~(0x1fn << 59n)) | (BigInt(cdMax) << 59n);
    w.vmm.ram.writeWords(pa, [nw0]);
    w.driver.submitCommands([[0x03n | (BigInt(VSID0) << 32n), 1n]]);
  }

  it('S1CDMax = 12 > vSSIDSIZE 8 is refused: C_BAD_STE with the vSID, stream aborted', () => {
    const w = world({ hostSsid: 16, planSsid: 8, pasidBits: 16 });
    const { host, vmm, driver } = w;
    const { dev } = attachBoth(w, 5);
    const v = vmm.smmus[0] as Vmm['smmus'][number];
    expect(v.streams()[0]?.attached).toBe('nested');
    vmm.pollEvents();
    const before = driver.events.length;
    rewriteCdMax(w, 12);
    vmm.pollEvents();
    const evs = driver.events.slice(before);
    expect(evs.map((e) => [e.record.type, e.sid])).toEqual([['C_BAD_STE', VSID0]]);
    expect(v.streams()[0]?.attached).toBe('abort');
    expect(host.dma(0, { iova: BigInt(IOVA + 0x80), ssid: 5, access: 'read' }).ok).toBe(false);
    expect(host.dma(0, { iova: BigInt(IOVA + 0x80), access: 'read' }).ok).toBe(false);
    expect(vmm.logLines.map((l) => l.text).join('\n')).toMatch(/S1CDMax 12 > SSIDSIZE 8/);
    // The guest's own Linux-like value (= ssid_bits = 8) installs again.
    rewriteCdMax(w, 8);
    expect(v.streams()[0]?.attached).toBe('nested');
    const pas = host.dma(0, { iova: BigInt(IOVA + 0x80), ssid: 5, access: 'read' });
    expect(pas.ok).toBe(true);
    expect(dev.present).toBe(true);
  });
});
