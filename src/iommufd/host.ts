// The host the kernel model runs on (interfaces.md §2): physical memory, one or more SMMUv3
// instances (the hardware model of src/smmu, programmed by the host arm-smmu-v3 driver through
// MMIO), PCI-like devices with StreamIDs and VFIO cdev nodes, a kernel-version profile with its
// behaviour switches, host options (kernel_capabilities, fail_nth, RLIMIT_MEMLOCK/capabilities)
// and the inspection hooks users and tests need (readSte, commandsSince, injectEvent).

import { ERRNO } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import type { TraceSink } from '../arch/trace.ts';
import { SparseMemory } from '../mem/sparse-memory.ts';
import type { IdRegisters } from '../smmu/features.ts';
import { Smmu } from '../smmu/smmu.ts';
import { createTranslation } from '../smmu/translate.ts';
import type { TranslateRequest, TranslateResult } from '../smmu/types.ts';
import {
  ArmSmmuV3,
  type ArmSmmuV3Options,
  type HandledEvent,
  type LoggedCommand,
} from './arm-smmu-v3/driver.ts';
import { LoopbackSmmu, QEMU_VIRT_IDRS, type SmmuPort } from './arm-smmu-v3/smmu-port.ts';
import type { HostDevice, HostDeviceConfig } from './host-device.ts';
import { FaultInjector, PAGE_SIZE, PageAllocator } from './host-memory.ts';
import type { UserAccount } from './io-pagetable.ts';
import { IommufdCtx } from './iommufd.ts';
import { IommufdGroup } from './objects.ts';
import { type FileOps, Process, type ProcessHost } from './process.ts';
import {
  DEFAULT_PROFILE,
  type KernelProfileName,
  type KernelSwitches,
  resolveProfile,
} from './profile.ts';
import { HW_INFO_ARM_SMMUV3_KCAP } from './uapi.ts';
import { VfioDeviceFile } from './vfio-device.ts';

/** Which SMMU model backs an instance. */
export type SmmuModelChoice =
  /** The hardware model of src/smmu (default). */
  | 'smmu'
  /** Register-level stand-in without translation. */
  | 'loopback'
  /** A custom port. */
  | ((mem: SparseMemory, ids: IdRegisters, iidr: number) => SmmuPort);

/** Configuration of one SMMU instance. */
export interface HostSmmuConfig {
  /** Raw ID registers (missing ones: QEMU 10.0.2 `virt`). */
  readonly idr?: Partial<IdRegisters>;
  readonly iidr?: number;
  readonly model?: SmmuModelChoice;
  /** Driver options (FORCE_SYNC quirk, disable_bypass, queue sizes). */
  readonly options?: ArmSmmuV3Options;
}

/** Host options. */
export interface HostOptions {
  /**
   * Experimental `kernel_capabilities` (formats.md §7): true = both vSTE bits, a number = those
   * bits. Absent: the struct stays 40 bytes and vSTE validation is mainline's.
   */
  readonly kernelCapabilities?: boolean | number;
  /** fail_nth: the n-th internal allocation/pin/lookup fails once. */
  readonly failNth?: number;
  /** RLIMIT_MEMLOCK of new processes in bytes (default unlimited). */
  readonly rlimitMemlock?: number;
  /** CAP_IPC_LOCK of new processes (default false). */
  readonly capIpcLock?: boolean;
  /** CAP_SYS_RESOURCE of new processes (default true). */
  readonly capSysResource?: boolean;
}

/** Host configuration. */
export interface HostConfig {
  /** Kernel profile (default: the newest stable one, v6.19). */
  readonly profile?: KernelProfileName;
  /** Per-switch overrides of the profile. */
  readonly switches?: Partial<KernelSwitches>;
  /** Physical address width (default 48). */
  readonly paBits?: number;
  /** Host RAM the kernel allocates from (default 1 GiB at 0x4000_0000). */
  readonly ram?: { readonly base?: number; readonly size?: number };
  readonly smmus?: readonly HostSmmuConfig[];
  /** Devices (default: vfio0 at StreamID 0x8 and vfio1 at 0x10, both on SMMU 0). */
  readonly devices?: readonly HostDeviceConfig[];
  readonly options?: HostOptions;
  readonly trace?: TraceSink;
}

/** An SMMU instance with the inspection hooks of interfaces.md §2. */
export interface HostSmmu {
  readonly index: number;
  /** The host driver instance. */
  readonly driver: ArmSmmuV3;
  /** The hardware port (the src/smmu model unless configured otherwise). */
  readonly port: SmmuPort;
  /** The hardware model object when the src/smmu model backs this instance. */
  readonly hw: Smmu | undefined;
  /** The 8 STE words the hardware reads for a StreamID. */
  readSte(sid: number): bigint[];
  /** A mark for commandsSince. */
  mark(): number;
  /** Commands the driver issued through the queue since `mark`. */
  commandsSince(mark: number): LoggedCommand[];
  /**
   * Offers a raw event record as if the SMMU had raised it, then runs the driver's event handler.
   * Returns whether the record reached the event queue.
   */
  injectEvent(raw: readonly [bigint, bigint, bigint, bigint]): boolean;
  /** Events the driver handled (forwarded to a vEVENTQ or logged). */
  readonly handledEvents: readonly HandledEvent[];
}

function portOfSmmu(s: Smmu): SmmuPort {
  return {
    read32: (o) => s.read32(o),
    write32: (o, v) => s.write32(o, v),
    read64: (o) => s.mmioRead(o, 8),
    write64: (o, v) => s.mmioWrite(o, 8, v),
    recordEvent: (raw) => s.recordEvent(raw),
    translate: (req) => s.translate(req),
  };
}

/** The host. */
export class Host implements ProcessHost {
  readonly mem: SparseMemory;
  readonly profile: KernelProfileName;
  readonly switches: KernelSwitches;
  readonly faults: FaultInjector;
  readonly pages: PageAllocator;
  readonly trace: TraceSink | undefined;
  readonly devices: HostDevice[] = [];
  readonly userAccount: UserAccount = { lockedVm: 0 };
  readonly kernelCapabilitiesEnabled: boolean;
  readonly kernelCapabilities: number;
  private readonly smmuList: HostSmmu[] = [];
  private readonly options: HostOptions;
  private nextPid = 100;
  /** DMA ownership of iommu groups: group id → owning iommufd context and bound count. */
  private readonly groupOwners = new Map<number, { ctx: IommufdCtx; count: number }>();
  /** iommufd_group objects per (context, group). */
  private readonly groups = new WeakMap<IommufdCtx, Map<number, IommufdGroup>>();

  constructor(config: HostConfig = {}) {
    this.profile = config.profile ?? DEFAULT_PROFILE;
    this.switches = resolveProfile(this.profile, config.switches);
    this.options = config.options ?? {};
    this.faults = new FaultInjector();
    this.trace = config.trace;
    const kc = this.options.kernelCapabilities;
    this.kernelCapabilitiesEnabled = kc !== undefined && kc !== false;
    this.kernelCapabilities =
      kc === true
        ? HW_INFO_ARM_SMMUV3_KCAP.VSTE_SHCFG | HW_INFO_ARM_SMMUV3_KCAP.VSTE_MTCFG
        : typeof kc === 'number'
          ? kc >>> 0
          : 0;
    this.mem = new SparseMemory({ paBits: config.paBits ?? 48 });
    const base = config.ram?.base ?? 0x4000_0000;
    const size = config.ram?.size ?? 0x4000_0000;
    this.pages = new PageAllocator(this.mem, base, size);
    const tableAlloc = {
      allocTable: (pages: number, align: number) =>
        this.faults.hit('alloc') ? -1 : this.pages.alloc(pages, align),
      freeTable: (pa: number, pages: number) => this.pages.release(pa, pages),
    };
    const smmus = config.smmus ?? [{}];
    smmus.forEach((sc, index) => {
      const ids: IdRegisters = { ...toIdRegs(QEMU_VIRT_IDRS), ...sc.idr };
      const iidr = sc.iidr ?? 0;
      let port: SmmuPort;
      let hw: Smmu | undefined;
      const model = sc.model ?? 'smmu';
      if (model === 'smmu') {
        hw = new Smmu({
          mem: this.mem,
          idr: ids,
          iidr,
          translation: (core) => createTranslation(core),
          ...(config.trace ? { trace: config.trace } : {}),
        });
        port = portOfSmmu(hw);
      } else if (model === 'loopback') {
        port = new LoopbackSmmu(this.mem, {
          idr: [ids.idr0, ids.idr1, ids.idr2, ids.idr3, ids.idr4, ids.idr5],
          iidr,
          aidr: ids.aidr,
        });
      } else port = model(this.mem, ids, iidr);
      const driver = new ArmSmmuV3(
        index,
        port,
        {
          mem: this.mem,
          alloc: tableAlloc,
          faults: this.faults,
          switches: this.switches,
          trace: config.trace,
        },
        sc.options ?? {},
      );
      this.smmuList.push({
        index,
        driver,
        port,
        hw,
        readSte: (sid) => driver.readSte(sid),
        mark: () => driver.mark(),
        commandsSince: (m) => driver.commandsSince(m),
        injectEvent: (raw) => {
          const ok = port.recordEvent ? port.recordEvent(raw) : false;
          driver.handleEvents();
          return ok;
        },
        get handledEvents() {
          return driver.handledEvents;
        },
      });
    });
    const devs = config.devices ?? [{ sid: 0x8 }, { sid: 0x10 }];
    devs.forEach((dc, i) => {
      this.addDevice(dc, i);
    });
    // fail_nth counts from here: host bring-up never fails.
    this.faults.arm(this.options.failNth);
  }

  private addDevice(dc: HostDeviceConfig, index: number): void {
    const smmuIndex = dc.smmu ?? 0;
    const s = this.smmuList[smmuIndex];
    if (!s) throw new VsmmuError('BAD_CONFIG', `device ${index}: no SMMU ${smmuIndex}`);
    const sids = dc.sids ?? [dc.sid ?? 8 * (index + 1)];
    if (sids.length === 0) throw new VsmmuError('BAD_CONFIG', `device ${index}: no StreamID`);
    const name = dc.name ?? `vfio${index}`;
    const master = s.driver.addMaster({
      name,
      sids,
      ats: dc.ats ?? false,
      pasidBits: dc.pasidBits ?? 0,
      stallEnabled: dc.stall ?? false,
      canwbs: dc.canwbs ?? true,
    });
    if (typeof master === 'number') {
      throw new VsmmuError('BAD_CONFIG', `device ${name}: the SMMU driver refused it (${master})`);
    }
    this.devices.push({
      index,
      name,
      path: `/dev/vfio/devices/vfio${index}`,
      smmu: smmuIndex,
      sids,
      ats: dc.ats ?? false,
      pasidBits: dc.pasidBits ?? 0,
      group: dc.group ?? 1000 + index,
      canwbs: dc.canwbs ?? true,
      stall: dc.stall ?? false,
      resvRegions: dc.resvRegions ?? [],
      master,
      boundBy: null,
    });
  }

  /** The SMMU instance `i` with its inspection hooks. */
  smmu(i = 0): HostSmmu {
    const s = this.smmuList[i];
    if (!s) throw new VsmmuError('BAD_ARGUMENT', `no SMMU ${i}`);
    return s;
  }

  /** Number of SMMU instances. */
  get smmuCount(): number {
    return this.smmuList.length;
  }

  /** Device node paths (`/dev/vfio/devices/vfioN`). */
  devicePaths(): string[] {
    return this.devices.map((d) => d.path);
  }

  /** A new process (the VMM). */
  process(
    opts: { rlimitMemlock?: number; capIpcLock?: boolean; capSysResource?: boolean } = {},
  ): Process {
    const o = this.options;
    return new Process(this, this.nextPid++, {
      rlimitMemlock: opts.rlimitMemlock ?? o.rlimitMemlock ?? Number.POSITIVE_INFINITY,
      capIpcLock: opts.capIpcLock ?? o.capIpcLock ?? false,
      capSysResource: opts.capSysResource ?? o.capSysResource ?? true,
    });
  }

  /** Arms fail_nth (undefined disarms); counting restarts. */
  setFailNth(n: number | undefined): void {
    this.faults.arm(n);
  }

  /**
   * A device DMA: the transaction goes to the device's SMMU; the driver's event handler then
   * drains any event the SMMU recorded. Needs an SMMU model with a translation side.
   */
  dma(
    device: number | string,
    req: Omit<TranslateRequest, 'sid'> & { sid?: number },
  ): TranslateResult {
    const d =
      typeof device === 'number'
        ? this.devices[device]
        : this.devices.find((x) => x.name === device);
    if (!d) throw new VsmmuError('BAD_ARGUMENT', `no device ${String(device)}`);
    const s = this.smmu(d.smmu);
    if (!s.port.translate) throw new VsmmuError('BAD_STATE', 'this SMMU model does not translate');
    const r = s.port.translate({ ...req, sid: req.sid ?? (d.sids[0] as number) });
    s.driver.handleEvents();
    return r;
  }

  // ---- ProcessHost ----

  allocUserPage(): number {
    return this.pages.alloc(1, PAGE_SIZE);
  }

  freeUserPage(pa: number): void {
    this.pages.release(pa, 1);
  }

  readPhys(pa: number, len: number): Uint8Array {
    return this.mem.readBytes(pa, len);
  }

  writePhys(pa: number, bytes: Uint8Array): void {
    this.mem.writeBytes(pa, bytes);
  }

  openPath(proc: Process, path: string): FileOps | number {
    if (path === '/dev/iommu') return new IommufdCtx(this, proc);
    const d = this.devices.find((x) => x.path === path);
    if (d) return new VfioDeviceFile(d, proc);
    return -ERRNO.ENOENT;
  }

  // ---- groups (iommu_device_claim_dma_owner) ----

  /** The iommufd_group of a device in `ctx`, or -EBUSY when another context owns the group. */
  groupFor(dev: HostDevice, ctx: IommufdCtx): IommufdGroup | number {
    const owner = this.groupOwners.get(dev.group);
    if (owner && owner.ctx !== ctx) return -ERRNO.EBUSY;
    let m = this.groups.get(ctx);
    if (!m) {
      m = new Map();
      this.groups.set(ctx, m);
    }
    let g = m.get(dev.group);
    if (!g) {
      g = new IommufdGroup(dev.group);
      m.set(dev.group, g);
    }
    return g;
  }

  /** Takes DMA ownership of the device's group for `ctx`. */
  claimGroup(dev: HostDevice, ctx: IommufdCtx): void {
    const o = this.groupOwners.get(dev.group);
    if (o) o.count++;
    else this.groupOwners.set(dev.group, { ctx, count: 1 });
  }

  /** Releases DMA ownership (the device returns to the boot state: abort). */
  releaseGroup(dev: HostDevice, _ctx: IommufdCtx): void {
    const o = this.groupOwners.get(dev.group);
    if (!o) return;
    o.count--;
    if (o.count === 0) this.groupOwners.delete(dev.group);
  }
}

function toIdRegs(ids: { idr: readonly number[]; aidr: number }): IdRegisters {
  const [idr0 = 0, idr1 = 0, idr2 = 0, idr3 = 0, idr4 = 0, idr5 = 0] = ids.idr;
  return { idr0, idr1, idr2, idr3, idr4, idr5, aidr: ids.aidr };
}

/** Creates a host (interfaces.md §2). */
export function createHost(config: HostConfig = {}): Host {
  return new Host(config);
}
