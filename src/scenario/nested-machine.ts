// A ready-made nested machine (architecture.md "three journeys"): a host with the SMMUv3 hardware
// model and the kernel model (src/iommufd), a VMM process whose vSMMU (src/vmm) talks to the kernel
// only through ioctls, guest RAM behind the VMM's mapping, a probed Linux-like guest arm-smmu-v3
// driver (src/guest) with its page allocator in guest RAM, and passthrough DMA masters
// (src/devices) whose transactions go through guest stage 1 over host stage 2. The demo, the
// benchmarks and programs that want the whole stack without writing a scenario start here.

import type { TraceSink } from '../arch/trace.ts';
import { DmaMaster, type DmaPort, deviceIdentity } from '../devices/device.ts';
import { GuestArmSmmuV3 } from '../guest/arm-smmu-v3.ts';
import { createHost, type Host, type HostSmmuConfig } from '../iommufd/host.ts';
import type { KernelProfileName } from '../iommufd/profile.ts';
import { type PageAllocator, RegionAllocator } from '../pgtable/allocator.ts';
import { enableSanitizer, type Sanitizer } from '../smmu/sanitizer.ts';
import type { Smmu } from '../smmu/smmu.ts';
import type { Translation } from '../smmu/translate.ts';
import type { GuestRam } from '../vmm/guest-ram.ts';
import type { InvalidStePolicy } from '../vmm/index.ts';
import { Vmm } from '../vmm/vmm.ts';

/** One assigned device: the host's device cdev, the StreamID the guest sees, a name. */
export interface NestedDevice {
  readonly name: string;
  /** The guest's StreamID (vSID) for the device. */
  readonly vsid: number;
  /** The host device cdev (default `/dev/vfio/devices/vfioN`, N = index). */
  readonly path?: string;
}

/** Options of a nested machine. */
export interface NestedMachineOptions {
  readonly devices?: readonly NestedDevice[];
  /** Guest-physical base and size of guest RAM (default 0x4000_0000, 16 MiB). */
  readonly ram?: { readonly base?: number; readonly size?: number };
  /** The VMM's invalid-vSTE policy (default `log-event-abort`). */
  readonly policy?: InvalidStePolicy;
  readonly profile?: KernelProfileName;
  /** The host SMMU's configuration (ID registers, driver options). */
  readonly hostSmmu?: HostSmmuConfig;
  /** Enable the stale-translation sanitizer on the host SMMU before anything boots. */
  readonly sanitizer?: boolean;
  /** Receives the VMM's trace events (ioctls, guest commands). */
  readonly trace?: TraceSink;
  /** The guest driver's planted bugs (for sanitizer demonstrations). */
  readonly driverBugs?: {
    readonly forgetTlbiOnUnmap?: boolean;
    readonly invalidateWrongAsid?: boolean;
  };
}

/** The machine. */
export interface NestedMachine {
  readonly host: Host;
  /** The host's SMMU hardware model. */
  readonly hw: Smmu;
  /** Its translation side (statistics: walks, TLB hits, …). */
  readonly translation: Translation;
  readonly vmm: Vmm;
  readonly vsmmu: Vmm['smmus'][number];
  readonly driver: GuestArmSmmuV3;
  /** The guest kernel's page allocator (zeroed, naturally aligned blocks of guest RAM). */
  readonly alloc: PageAllocator;
  /** A DMA master per device, by name, issuing transactions with the host StreamID. */
  readonly dma: ReadonlyMap<string, DmaMaster>;
  readonly sanitizer: Sanitizer | undefined;
  readonly guestLog: string[];
  readonly vmmLog: string[];
}

/** Default guest RAM: 16 MiB at guest-physical 0x4000_0000. */
export const NESTED_RAM_BASE = 0x4000_0000;
const NESTED_RAM_SIZE = 16 << 20;

/**
 * dma_alloc_coherent for the guest kernel: zeroed, naturally aligned blocks from guest RAM in
 * [start, end) (default: all of it), bottom-up, freed blocks reused per size.
 */
export function guestRamAllocator(
  ram: GuestRam,
  start = ram.base,
  end = ram.base + ram.size,
): RegionAllocator {
  return new RegionAllocator(
    (addr, size) => ram.writeBytes(addr, new Uint8Array(size)),
    start,
    end - start,
  );
}

/**
 * Builds and boots the machine: host, VMM set-up (iommufd objects, vSMMU), guest driver probe.
 * Throws when the VMM or the guest cannot come up (a configuration problem of the caller).
 */
export function createNestedMachine(opts: NestedMachineOptions = {}): NestedMachine {
  const devices = opts.devices ?? [{ name: 'dma0', vsid: 0x100 }];
  const host = createHost({
    ...(opts.profile ? { profile: opts.profile } : {}),
    ...(opts.hostSmmu ? { smmus: [opts.hostSmmu] } : {}),
  });
  const hostSmmu = host.smmu(0);
  const hw = hostSmmu.hw;
  const translation = hw?.translationSide as Translation | undefined;
  if (!hw || !translation) throw new Error('nested machine: the host SMMU has no hardware model');
  const sanitizer = opts.sanitizer ? enableSanitizer(hw) : undefined;

  const base = opts.ram?.base ?? NESTED_RAM_BASE;
  const size = opts.ram?.size ?? NESTED_RAM_SIZE;
  const vmmLog: string[] = [];
  let driver: GuestArmSmmuV3 | undefined;
  const vmm = Vmm.create(host.process(), {
    ram: { base, size },
    smmus: [
      {
        devices: devices.map((d, i) => ({
          path: d.path ?? `/dev/vfio/devices/vfio${i}`,
          vsid: d.vsid,
          name: d.name,
        })),
        options: {
          policy: opts.policy ?? 'log-event-abort',
          irq: (line) => {
            if (driver && line !== 'cmdq-sync') driver.interrupt(line);
          },
        },
      },
    ],
    log: (e) => vmmLog.push(e.text),
    ...(opts.trace ? { trace: opts.trace } : {}),
  });
  const vsmmu = vmm.smmus[0] as Vmm['smmus'][number];
  const alloc = guestRamAllocator(vmm.ram, base + (1 << 20));
  const guestLog: string[] = [];
  driver = new GuestArmSmmuV3(
    { mmio: vsmmu, ram: { mem: vmm.ram.guestView(), alloc }, log: (l) => guestLog.push(l) },
    {
      interrupts: 'wired',
      ...(opts.driverBugs ? { bugs: opts.driverBugs } : {}),
    },
  );
  const probe = driver.probe();
  if (probe !== 0) throw new Error(`nested machine: guest driver probe failed (${probe})`);

  const dma = new Map<string, DmaMaster>();
  const hostDevices = host.devicePaths();
  devices.forEach((d, i) => {
    const path = d.path ?? `/dev/vfio/devices/vfio${i}`;
    const index = hostDevices.indexOf(path);
    const sid = host.devices[index]?.sids[0];
    if (index < 0 || sid === undefined) throw new Error(`nested machine: no host device ${path}`);
    const port: DmaPort = { translate: (r) => host.dma(index, r), mem: host.mem };
    dma.set(d.name, new DmaMaster(deviceIdentity({ name: d.name, streamIds: [sid] }), port));
  });
  return {
    host,
    hw,
    translation,
    vmm,
    vsmmu,
    driver,
    alloc,
    dma,
    sanitizer,
    guestLog,
    vmmLog,
  };
}
