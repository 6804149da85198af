// The VMM: one host process that owns the guest's RAM and offers the guest one accelerated
// virtual SMMUv3 per physical SMMU (QEMU `-device arm-smmuv3,accel=on`, one per host SMMU as its
// cover letter recommends; iommufd.rst: one vIOMMU per physical IOMMU instance). Set-up through
// the syscall facade only: open /dev/iommu, IOMMU_IOAS_ALLOC, mmap guest RAM and IOMMU_IOAS_MAP it
// at IOVA = GPA (stage 2 is GPA → HPA), then per vSMMU the objects of backend.ts, the vIDRs of
// vidr.ts and the emulated register file of vsmmu.ts. Tear-down releases everything leaf first.

import { hex } from '../arch/bits.ts';
import { errnoName } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import type { TraceSink } from '../arch/trace.ts';
import { getU32, getU64, IOAS_MAP, UAPI_STRUCTS as S } from '../iommufd/uapi.ts';
import { type AccelDeviceConfig, NestingBackend } from './backend.ts';
import { newCounters, type VmmCounters } from './counters.ts';
import type { VmmSyscalls } from './facade.ts';
import { GuestRam } from './guest-ram.ts';
import { IoctlIssuer, type VmmLogEntry, type VmmLogger } from './ioctl.ts';
import { buildVidr, hostMismatch, type VidrPlan } from './vidr.ts';
import { VirtualSmmu, type VsmmuOptions } from './vsmmu.ts';

/** One vSMMU: the devices behind one physical SMMU, the VMM's plan and emulation options. */
export interface VsmmuConfig {
  /** Name in logs (default `vsmmu<N>`). */
  readonly name?: string;
  readonly devices: readonly AccelDeviceConfig[];
  /** vIDR choices (the vSIDs come from `devices`). */
  readonly plan?: Omit<VidrPlan, 'vsids'>;
  readonly options?: VsmmuOptions;
}

/** VMM configuration. */
export interface VmmConfig {
  /** Guest RAM: guest-physical base (default 0x4000_0000, QEMU virt) and size (default 16 MiB). */
  readonly ram?: { readonly base?: number; readonly size?: number };
  readonly smmus: readonly VsmmuConfig[];
  /** Log sink (the VMM's stderr); lines are also kept in `Vmm.logLines`. */
  readonly log?: VmmLogger;
  /** Trace sink for ioctl, command and event trace events. */
  readonly trace?: TraceSink;
}

/** Default guest RAM base (QEMU virt: RAM at 1 GiB, clear of the 128 MiB MSI window). */
export const DEFAULT_RAM_BASE = 0x4000_0000;
/** Default guest RAM size. */
export const DEFAULT_RAM_SIZE = 16 * 1024 * 1024;

/** A running VMM with its vSMMUs. */
export class Vmm {
  readonly ram: GuestRam;
  readonly smmus: readonly VirtualSmmu[];
  readonly counters: VmmCounters;
  /** Every line the VMM logged. */
  readonly logLines: VmmLogEntry[];
  readonly iommufd: number;
  readonly ioasId: number;
  private readonly io: IoctlIssuer;
  private closed = false;

  private constructor(
    io: IoctlIssuer,
    ram: GuestRam,
    smmus: VirtualSmmu[],
    counters: VmmCounters,
    logLines: VmmLogEntry[],
    iommufd: number,
    ioasId: number,
  ) {
    this.io = io;
    this.ram = ram;
    this.smmus = smmus;
    this.counters = counters;
    this.logLines = logLines;
    this.iommufd = iommufd;
    this.ioasId = ioasId;
  }

  /**
   * Starts a VMM in the host process `sys`: iommufd, IOAS, guest RAM and every vSMMU. Throws
   * VsmmuError('BAD_CONFIG') when the configuration is impossible or a set-up ioctl fails (the
   * message names the ioctl and errno; the log has the struct).
   */
  static create(sys: VmmSyscalls, config: VmmConfig): Vmm {
    const counters = newCounters();
    const logLines: VmmLogEntry[] = [];
    const sink = config.log;
    const log: VmmLogger = (e) => {
      logLines.push(e);
      sink?.(e);
    };
    const io = new IoctlIssuer(sys, counters, log, config.trace);
    const base = config.ram?.base ?? DEFAULT_RAM_BASE;
    const size = config.ram?.size ?? DEFAULT_RAM_SIZE;
    if (config.smmus.length === 0)
      throw new VsmmuError('BAD_CONFIG', 'a VMM needs at least one vSMMU');
    const vsids = new Set<number>();
    for (const s of config.smmus) {
      if (s.devices.length === 0) throw new VsmmuError('BAD_CONFIG', 'every vSMMU needs a device');
      for (const d of s.devices) {
        if (vsids.has(d.vsid))
          throw new VsmmuError('BAD_CONFIG', `vSID ${hex(d.vsid)} is used twice`);
        vsids.add(d.vsid);
      }
    }
    const iommufd = sys.open('/dev/iommu');
    if (iommufd < 0) fail('open /dev/iommu', iommufd);
    const ioas = io.call('IOMMU_IOAS_ALLOC', iommufd, S.iommu_ioas_alloc, {});
    if (ioas.ret < 0) fail('IOMMU_IOAS_ALLOC', ioas.ret);
    const ioasId = getU32(ioas.bytes, S.iommu_ioas_alloc.off['out_ioas_id'] as number);
    const ram = new GuestRam(sys, base, size);
    const map = io.call('IOMMU_IOAS_MAP', iommufd, S.iommu_ioas_map, {
      flags: IOAS_MAP.FIXED_IOVA | IOAS_MAP.READABLE | IOAS_MAP.WRITEABLE,
      ioas_id: ioasId,
      user_va: ram.va,
      length: size,
      iova: base,
    });
    if (map.ret < 0) fail('IOMMU_IOAS_MAP of guest RAM', map.ret);

    const smmus: VirtualSmmu[] = [];
    config.smmus.forEach((sc, i) => {
      const name = sc.name ?? `vsmmu${i}`;
      const backend = new NestingBackend(io, iommufd, log);
      const infos = backend.bindDevices(sc.devices);
      for (let k = 1; k < infos.length; k++) {
        const diff = hostMismatch(backend.host, infos[k] ?? backend.host);
        if (diff) {
          throw new VsmmuError(
            'BAD_CONFIG',
            `${name}: ${sc.devices[k]?.path} sits behind a different SMMU (${diff}); one vSMMU per physical SMMU`,
          );
        }
      }
      const vidr = buildVidr(backend.host, { ...sc.plan, vsids: sc.devices.map((d) => d.vsid) });
      if (2 ** vidr.features.oas < base + size) {
        throw new VsmmuError(
          'BAD_CONFIG',
          `${name}: guest RAM ends at ${hex(base + size)}, beyond the ${vidr.features.oas}-bit vOAS`,
        );
      }
      backend.createObjects(ioasId, 2 ** vidr.features.eventqs);
      checkIovaRange(io, iommufd, ioasId, vidr.features.oas, name, log);
      const opts = { ...(config.trace ? { trace: config.trace } : {}), ...sc.options };
      const v = new VirtualSmmu(name, ram, backend, vidr, counters, log, opts);
      v.start();
      smmus.push(v);
      log({
        level: 'info',
        text: `${name}: ${sc.devices.length} device(s), vIOMMU ${backend.viommuId}, parent HWPT ${backend.parentHwptId}, abort/bypass HWPT ${backend.abortHwptId}/${backend.bypassHwptId}, vEVENTQ fd ${backend.veventqFd}`,
      });
    });
    return new Vmm(io, ram, smmus, counters, logLines, iommufd, ioasId);
  }

  /** The VMM event loop's vEVENTQ handlers: drains every vEVENTQ. Returns records read. */
  pollEvents(): number {
    let n = 0;
    for (const s of this.smmus) n += s.pollEvents();
    return n;
  }

  /** Releases every host object, unmaps guest RAM from the IOAS and closes the iommufd. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.smmus) s.backend.teardown();
    this.io.call('IOMMU_IOAS_UNMAP', this.iommufd, S.iommu_ioas_unmap, {
      ioas_id: this.ioasId,
      iova: this.ram.base,
      length: this.ram.size,
    });
    this.io.call('IOMMU_DESTROY', this.iommufd, S.iommu_destroy, { id: this.ioasId });
    this.io.sys.close(this.iommufd);
  }
}

function fail(what: string, ret: number): never {
  throw new VsmmuError('BAD_CONFIG', `VMM set-up failed: ${what}: ${errnoName(ret)} (${ret})`);
}

/**
 * IOMMU_IOAS_IOVA_RANGES once the devices are attached: the usable IOVA (guest IPA) space. A
 * careful VMM warns when it is narrower than the vOAS it advertises (guest IPAs above it can
 * only fault in stage 2).
 */
function checkIovaRange(
  io: IoctlIssuer,
  iommufd: number,
  ioasId: number,
  oas: number,
  name: string,
  log: VmmLogger,
): void {
  const cap = 16;
  const R = S.iommu_iova_range;
  const uptr = io.stage(new Uint8Array(R.size * cap));
  const r = io.call('IOMMU_IOAS_IOVA_RANGES', iommufd, S.iommu_ioas_iova_ranges, {
    ioas_id: ioasId,
    num_iovas: cap,
    allowed_iovas: uptr,
  });
  if (r.ret < 0) return;
  const n = Math.min(cap, getU32(r.bytes, S.iommu_ioas_iova_ranges.off['num_iovas'] as number));
  if (n === 0) return;
  const data = io.unstage(R.size * n);
  const last = getU64(data, R.size * (n - 1) + (R.off['last'] as number));
  if (last < (1n << BigInt(oas)) - 1n) {
    log({
      level: 'warn',
      text: `${name}: the IOAS ends at ${hex(last)}, below the ${oas}-bit vOAS; guest IPAs above it fault in stage 2`,
    });
  }
}
