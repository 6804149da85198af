// The guest side of a scenario machine (issue 6 items 1–3; architecture.md "three journeys"): the
// VMM process runs the VMM vSMMU (src/vmm) over the kernel model through the syscall facade; the
// guest's RAM is the VMM's guest-RAM mapping seen by guest-physical address; a Linux-like
// arm-smmu-v3 guest driver (src/guest) programs the vSMMU's emulated register pages and keeps its
// stream table, CD tables, queues and io-pgtables in that RAM; the assigned devices are DMA
// masters (src/devices) whose transactions go to the host SMMU model — guest stage 1 over the host
// stage 2 — exactly as a passthrough device's would. Interrupts the vSMMU raises are delivered to
// the guest driver as they would be by the VMM's interrupt controller.

import { hex } from '../arch/bits.ts';
import { errnoName } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import type { EventRecord } from '../arch/trace.ts';
import { DmaMaster, type DmaPort } from '../devices/device.ts';
import {
  GuestArmSmmuV3,
  type GuestDomain,
  type GuestMaster,
  IOMMU_PROT,
  isErr,
} from '../guest/arm-smmu-v3.ts';
import { VMM_CODE_LINES } from '../vmm/code-size.ts';
import { DEFAULT_RAM_BASE, Vmm } from '../vmm/vmm.ts';
import {
  type DmaOutcome,
  type DmaRequest,
  deviceOf,
  type GuestSide,
  runDma,
  type StepOutcome,
  type World,
} from './machine.ts';
import { guestRamAllocator } from './nested-machine.ts';
import type { ScenarioTrace } from './result.ts';
import type { Machine } from './schema.ts';

/** Default guest RAM size of a scenario guest (16 MiB). */
export const SCENARIO_GUEST_RAM = 16 * 1024 * 1024;

interface GuestDev {
  readonly name: string;
  readonly vsid: number;
  readonly dma: DmaMaster;
  master: GuestMaster | undefined;
}

interface Domain {
  readonly type: 's1' | 'bypass' | 'abort';
  readonly domain: GuestDomain | undefined;
}

/** Builds the VMM, the guest driver and the devices on top of `w.host`; sets `w.guest`. */
export function buildGuestWorld(w: World, m: Machine, trace?: ScenarioTrace): StepOutcome {
  const g = m.guest ?? {};
  const base = Number(g.base ?? BigInt(DEFAULT_RAM_BASE));
  const size = Number(g.ram ?? BigInt(SCENARIO_GUEST_RAM));
  const log: string[] = [];
  const v = m.vmm;
  let driver: GuestArmSmmuV3 | undefined;
  let vmm: Vmm;
  try {
    vmm = Vmm.create(w.sys, {
      ram: { base, size },
      smmus: [
        {
          devices: w.devices.map((d) => ({ path: d.path, vsid: d.vsid, name: d.name })),
          plan: {
            ssidBits: v?.['ssid-bits'] ?? Math.max(0, ...w.devices.map((d) => d.pasidBits)),
            ats: v?.ats ?? w.devices.some((d) => d.ats),
            ...(v?.ril !== undefined ? { ril: v.ril } : {}),
            ...(v?.oas !== undefined ? { oas: v.oas } : {}),
          },
          options: {
            policy: v?.['invalid-vste'] ?? 'log-event-abort',
            irq: (line) => {
              if (driver && line !== 'cmdq-sync') driver.interrupt(line);
            },
          },
        },
      ],
      log: (e) => log.push(`vmm: ${e.level === 'info' ? '' : `${e.level}: `}${e.text}`),
      ...(trace ? { trace: (e) => (e.kind === 'ioctl' ? undefined : trace(e, 'vmm')) } : {}),
    });
  } catch (e) {
    if (e instanceof VsmmuError) return { ok: false, detail: e.message };
    throw e;
  }
  const vsmmu = vmm.smmus[0];
  if (!vsmmu) return { ok: false, detail: 'the VMM has no vSMMU' };
  log.push(`vmm: the VMM's vSMMU is ${VMM_CODE_LINES} lines of code (src/vmm)`);
  const ram = { mem: vmm.ram.guestView(), alloc: guestRamAllocator(vmm.ram) };
  const bug = g['driver-bug'] ?? 'none';
  driver = new GuestArmSmmuV3(
    { mmio: vsmmu, ram, log: (line) => log.push(`guest: ${line}`) },
    {
      interrupts: 'wired',
      bugs: { forgetTlbiOnUnmap: bug === 'forget-tlbi', invalidateWrongAsid: bug === 'wrong-asid' },
    },
  );
  const drv = driver;
  const probe = drv.probe();
  if (probe !== 0) return { ok: false, detail: `guest driver probe failed: ${errnoName(probe)}` };

  const devs = new Map<string, GuestDev>();
  for (const d of w.devices) {
    const port: DmaPort = {
      translate: (req) => w.host.dma(d.hostIndex, req),
      mem: w.host.mem,
    };
    const dma = new DmaMaster(deviceOf(d), port);
    const master = drv.addDevice({
      name: d.name,
      sids: [d.vsid],
      ats: d.ats,
      pasidBits: d.pasidBits,
    });
    if (isErr(master)) {
      return { ok: false, detail: `guest: adding ${d.name} failed: ${errnoName(master)}` };
    }
    devs.set(d.name, { name: d.name, vsid: d.vsid, dma, master });
  }
  const domains = new Map<string, Domain>();
  let eventMark = drv.eventMark();
  const dataAlloc = ram.alloc;

  const fail = (what: string, ret: number): StepOutcome =>
    ret < 0 ? { ok: false, detail: `${what}: ${errnoName(ret)}`, errno: ret } : { ok: true };
  const present = (name: string): GuestDev | string => {
    const d = devs.get(name);
    if (!d) return `no device ${name}`;
    if (!d.master) return `${name} was hot-unplugged`;
    return d;
  };
  /** The VMM's event loop and the guest's interrupt handling after host-side activity. */
  const settle = () => {
    vmm.pollEvents();
  };

  const labels = new Map<string, bigint>();
  /** Host page → guest page of guest RAM, learnt by gpaOf. */
  const gpaOfPage = new Map<number, number>();
  const b = vsmmu.backend;
  labels.set('iommufd', BigInt(vmm.iommufd));
  labels.set('ioas', BigInt(vmm.ioasId));
  labels.set('nest_parent', BigInt(b.parentHwptId));
  labels.set('viommu', BigInt(b.viommuId));
  labels.set('abort_hwpt', BigInt(b.abortHwptId));
  labels.set('bypass_hwpt', BigInt(b.bypassHwptId));
  labels.set('veventq', BigInt(b.veventqId));
  labels.set('veventq_fd', BigInt(b.veventqFd));
  labels.set('guest_ram_va', vmm.ram.va);
  const refreshDeviceLabels = () => {
    for (const dev of b.devices) {
      labels.set(dev.name, BigInt(dev.fd));
      labels.set(`${dev.name}.dev_id`, BigInt(dev.devId));
      labels.set(`${dev.name}.vdevice`, BigInt(dev.vdeviceId));
      labels.set(`${dev.name}.hwpt`, BigInt(dev.hwptId));
    }
  };
  refreshDeviceLabels();

  const side: GuestSide = {
    attach(device, name, type, ssid) {
      const d = present(device);
      if (typeof d === 'string') return { ok: false, detail: d };
      const master = d.master as GuestMaster;
      let dom = domains.get(name);
      if (!dom) {
        if (type === 's1') {
          const gd = drv.allocDomain({ stage: 1 });
          if (isErr(gd)) return fail(`allocating domain ${name}`, gd);
          dom = { type, domain: gd };
        } else dom = { type, domain: undefined };
        domains.set(name, dom);
      }
      if (ssid !== undefined) {
        // iommu_attach_device_pasid → arm_smmu_set_pasid (stage-1 domains only; check.ts).
        if (dom.type !== 's1') return { ok: false, detail: `domain ${name} is not stage 1` };
        const ret = drv.attachPasid(master, ssid, dom.domain as GuestDomain);
        settle();
        return fail(`attach ${device} PASID ${ssid} to ${name}`, ret);
      }
      const ret =
        dom.type === 's1'
          ? drv.attach(master, dom.domain as GuestDomain)
          : dom.type === 'bypass'
            ? drv.attachIdentity(master)
            : drv.attachBlocked(master);
      settle();
      return fail(`attach ${device} to ${name}`, ret);
    },
    detach(device, ssid) {
      const d = present(device);
      if (typeof d === 'string') return { ok: false, detail: d };
      const master = d.master as GuestMaster;
      // A PASID detach (iommu_detach_device_pasid: blocked domain on that PASID) or the RID's.
      const ret = ssid !== undefined ? drv.detachPasid(master, ssid) : drv.detach(master);
      settle();
      return fail(`detach ${device}${ssid !== undefined ? ` PASID ${ssid}` : ''}`, ret);
    },
    hotUnplug(device) {
      const d = present(device);
      if (typeof d === 'string') return { ok: false, detail: d };
      drv.removeDevice(d.master as GuestMaster);
      d.master = undefined;
      // device_del in the VMM: the vSMMU forgets the stream and the host objects go away.
      vsmmu.removeDevice(d.vsid);
      settle();
      return { ok: true };
    },
    map(name, iova, size, pa, prot) {
      const dom = domains.get(name)?.domain;
      if (!dom) return { ok: false, detail: `domain ${name} has no page table` };
      let gpa: number;
      if (pa === undefined) {
        const a = dataAlloc.alloc(Number(size));
        if (a === undefined) return { ok: false, detail: 'guest RAM exhausted' };
        gpa = a;
      } else gpa = Number(pa);
      const p =
        (prot.includes('r') ? IOMMU_PROT.READ : 0) | (prot.includes('w') ? IOMMU_PROT.WRITE : 0);
      const ret = drv.map(dom, iova, gpa, Number(size), p);
      log.push(`guest: map ${hex(iova)}+${hex(size)} → GPA ${hex(gpa)} (${prot})`);
      return fail(`map ${hex(iova)}`, ret);
    },
    unmap(name, iova, size) {
      const dom = domains.get(name)?.domain;
      if (!dom) return { ok: false, detail: `domain ${name} has no page table` };
      const n = drv.unmap(dom, iova, Number(size));
      settle();
      if (n < 0) return fail(`unmap ${hex(iova)}`, n);
      if (n !== Number(size))
        return { ok: false, detail: `unmap ${hex(iova)} unmapped ${n} bytes` };
      return { ok: true };
    },
    dma(device, req: DmaRequest): DmaOutcome {
      const d = devs.get(device);
      if (!d) return { ok: false, detail: `no device ${device}` };
      const out = runDma(d.dma, req, req.ssid !== undefined ? { ssid: req.ssid } : {});
      settle();
      return out;
    },
    mmioWrite(offset, sz, value) {
      if (sz === 8) vsmmu.write64(offset, value);
      else vsmmu.write32(offset, Number(value & 0xffff_ffffn));
      settle();
    },
    mmioRead(offset, sz) {
      return sz === 8 ? vsmmu.read64(offset) : BigInt(vsmmu.read32(offset));
    },
    commands(entries) {
      const ret = drv.submitCommands(entries, true);
      settle();
      return fail('guest command submission', ret);
    },
    takeEvents(): EventRecord[] {
      settle();
      drv.processEvents();
      const evs = drv.eventsSince(eventMark).map((e) => e.record);
      eventMark = drv.eventMark();
      return evs;
    },
    exits: () => vmm.counters.exits,
    takeLog: () => log.splice(0, log.length),
    writeSte(device, words, invalidate) {
      const d = devs.get(device);
      if (!d) return { ok: false, detail: `no device ${device}` };
      const pa = drv.stePa(d.vsid);
      if (pa === undefined) return { ok: false, detail: `no guest STE for vSID ${hex(d.vsid)}` };
      // Word 0 last, so a valid-looking entry never appears with stale upper words.
      for (let i = 7; i >= 0; i--) ram.mem.write64(pa + 8 * i, words[i] ?? 0n);
      log.push(
        `guest: STE ${hex(d.vsid)} at GPA ${hex(pa)} := ${words.map((x) => hex(x)).join(' ')}`,
      );
      if (!invalidate) return { ok: true };
      const ret = drv.issue({ op: 'CFGI_STE', sid: d.vsid, leaf: true }, true);
      settle();
      return fail(`CFGI_STE ${hex(d.vsid)}`, ret);
    },
    labels() {
      refreshDeviceLabels();
      return labels;
    },
    gpaOf(hpa) {
      const page = Number(hpa - (hpa % 4096n));
      const known = gpaOfPage.get(page);
      if (known !== undefined) return BigInt(known) + (hpa % 4096n);
      // The VMM pinned all of guest RAM when it mapped it into the IOAS (pin_user_pages over the
      // whole mmap), so each guest page has one fixed host page. Asking the process for the pins
      // again (and dropping them) reads that correspondence without changing anything.
      const proc = w.sys.proc;
      const pages = Math.floor(size / 4096);
      if (proc.pinnedPageCount < pages) return undefined;
      const va = Number(vmm.ram.va);
      for (let first = 0; first < pages; first += 4096) {
        const n = Math.min(4096, pages - first);
        const pas = proc.pinPages(va + first * 4096, n);
        if (typeof pas === 'number') return undefined;
        proc.unpinPages(va + first * 4096, n);
        const i = pas.indexOf(page);
        if (i >= 0) {
          gpaOfPage.set(page, base + (first + i) * 4096);
          return BigInt(base + (first + i) * 4096) + (hpa % 4096n);
        }
      }
      return undefined;
    },
  };
  w.guest = side;
  return { ok: true };
}
