// The host side of one vSMMU: the iommufd objects a VMM creates for one physical SMMU and the
// ioctls that keep them in step with the guest (drivers/iommu/iommufd/*, arm-smmu-v3-iommufd.c;
// QEMU hw/arm/smmuv3-accel.c, OpenVMM iommufd_nesting.rs, Cloud Hypervisor devices/src/iommu/
// iommufd.rs). Set-up: bind each VFIO cdev (VFIO_DEVICE_BIND_IOMMUFD), IOMMU_GET_HW_INFO,
// a NEST_PARENT stage-2 HWPT on the guest-RAM IOAS, attach the devices to it
// (VFIO_DEVICE_ATTACH_IOMMUFD_PT), IOMMU_VIOMMU_ALLOC, one IOMMU_VDEVICE_ALLOC per device with
// virt_id = vSID, pre-allocated abort and bypass nested HWPTs, and IOMMU_VEVENTQ_ALLOC. Run time:
// make-before-break installs (allocate, attach-replace, then destroy the old stage-1 HWPT; never
// park on abort between two stage-1 HWPTs — vmm-designs.md pitfall 2), ordered
// IOMMU_HWPT_INVALIDATE batches through the vIOMMU, and reads of the vEVENTQ fd.

import { hex64 } from '../arch/bits.ts';
import { errnoName } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import {
  getU32,
  HW_INFO_TYPE,
  HWPT_ALLOC,
  HWPT_DATA,
  INVALIDATE_DATA,
  UAPI_STRUCTS as S,
  setU64,
  VEVENTQ_TYPE,
  VIOMMU_TYPE,
} from '../iommufd/uapi.ts';
import { POLLIN } from './facade.ts';
import type { IoctlIssuer, IoctlName, VmmLogger } from './ioctl.ts';
import type { HostSmmuInfo } from './vidr.ts';

/** A device the VMM assigns to the guest behind this vSMMU. */
export interface AccelDeviceConfig {
  /** VFIO cdev path, e.g. `/dev/vfio/devices/vfio0`. */
  readonly path: string;
  /** The guest StreamID of the device (vSID = virt_id of its vDEVICE). */
  readonly vsid: number;
  /** Name for logs (default: the path). */
  readonly name?: string;
}

/** What a device is attached to. */
export type AttachKind = 'parent' | 'abort' | 'bypass' | 'nested' | 'none';

/** Host state of one assigned device. */
export interface AccelDevice {
  readonly name: string;
  readonly path: string;
  readonly vsid: number;
  /** VFIO cdev fd and iommufd device ID. */
  readonly fd: number;
  readonly devId: number;
  /** vDEVICE ID (0 when none). */
  vdeviceId: number;
  /** Current attachment. */
  attached: AttachKind;
  hwptId: number;
  /** vSTE of the current nested stage-1 HWPT. */
  vste: readonly [bigint, bigint] | undefined;
}

/** Outcome of moving a device to a new configuration. */
export type InstallResult =
  | { readonly ok: true; readonly kind: AttachKind; readonly unchanged: boolean }
  | { readonly ok: false; readonly stage: 'alloc' | 'attach'; readonly errno: number };

/** Outcome of one IOMMU_HWPT_INVALIDATE. */
export interface InvalidateResult {
  readonly ret: number;
  /** `entry_num` as written back by the kernel (not a safe resume point). */
  readonly handled: number;
}

function setupError(what: string, ret: number): never {
  throw new VsmmuError('BAD_CONFIG', `vSMMU set-up failed: ${what}: ${errnoName(ret)} (${ret})`);
}

/** Encodes the two vSTE words as `struct iommu_hwpt_arm_smmuv3` (little-endian). */
export function vsteBytes(vste: readonly [bigint, bigint]): Uint8Array {
  const b = new Uint8Array(S.iommu_hwpt_arm_smmuv3.size);
  setU64(b, 0, vste[0]);
  setU64(b, 8, vste[1]);
  return b;
}

/** The iommufd objects of one vSMMU (one physical SMMU). */
export class NestingBackend {
  readonly devices: AccelDevice[] = [];
  /** Host hw_info of the SMMU behind the devices. */
  host: HostSmmuInfo = { idr: [0, 0, 0, 0, 0, 0], iidr: 0, aidr: 0 };
  parentHwptId = 0;
  viommuId = 0;
  abortHwptId = 0;
  bypassHwptId = 0;
  veventqId = 0;
  veventqFd = -1;
  private readonly io: IoctlIssuer;
  private readonly iommufd: number;
  private readonly log: VmmLogger;

  constructor(io: IoctlIssuer, iommufd: number, log: VmmLogger) {
    this.io = io;
    this.iommufd = iommufd;
    this.log = log;
  }

  private must(
    name: IoctlName,
    fd: number,
    s: (typeof S)[keyof typeof S],
    v: Record<string, bigint | number>,
  ): Uint8Array {
    const r = this.io.call(name, fd, s, v);
    if (r.ret < 0) setupError(name, r.ret);
    return r.bytes;
  }

  /** Opens and binds the devices and reads the host SMMU's hw_info (first half of set-up). */
  bindDevices(configs: readonly AccelDeviceConfig[]): HostSmmuInfo[] {
    const infos: HostSmmuInfo[] = [];
    for (const c of configs) {
      const fd = this.io.sys.open(c.path);
      if (fd < 0) setupError(`open ${c.path}`, fd);
      const bind = this.must('VFIO_DEVICE_BIND_IOMMUFD', fd, S.vfio_device_bind_iommufd, {
        iommufd: this.iommufd,
      });
      const devId = getU32(bind, S.vfio_device_bind_iommufd.off['out_devid'] as number);
      this.devices.push({
        name: c.name ?? c.path,
        path: c.path,
        vsid: c.vsid,
        fd,
        devId,
        vdeviceId: 0,
        attached: 'none',
        hwptId: 0,
        vste: undefined,
      });
      infos.push(this.hwInfo(devId));
    }
    if (infos[0]) this.host = infos[0];
    return infos;
  }

  private hwInfo(devId: number): HostSmmuInfo {
    const D = S.iommu_hw_info_arm_smmuv3;
    const uptr = this.io.stage(new Uint8Array(D.size));
    const out = this.must('IOMMU_GET_HW_INFO', this.iommufd, S.iommu_hw_info, {
      dev_id: devId,
      data_len: D.size,
      data_uptr: uptr,
    });
    const type = getU32(out, S.iommu_hw_info.off['out_data_type'] as number);
    if (type !== HW_INFO_TYPE.ARM_SMMUV3) {
      throw new VsmmuError(
        'BAD_CONFIG',
        `vSMMU set-up failed: hw_info type ${type} is not ARM_SMMUV3`,
      );
    }
    const data = this.io.unstage(D.size);
    const idrOff = D.off['idr'] as number;
    return {
      idr: [0, 1, 2, 3, 4, 5].map((i) => getU32(data, idrOff + 4 * i)),
      iidr: getU32(data, D.off['iidr'] as number),
      aidr: getU32(data, D.off['aidr'] as number),
    };
  }

  /**
   * Second half of set-up: nest parent on `ioasId`, devices attached to it, vIOMMU, vDEVICEs,
   * abort/bypass nested HWPTs and a vEVENTQ of `veventqDepth` records.
   */
  createObjects(ioasId: number, veventqDepth: number): void {
    const first = this.devices[0];
    if (!first) throw new VsmmuError('BAD_CONFIG', 'a vSMMU needs at least one device');
    const parent = this.must('IOMMU_HWPT_ALLOC', this.iommufd, S.iommu_hwpt_alloc, {
      flags: HWPT_ALLOC.NEST_PARENT,
      dev_id: first.devId,
      pt_id: ioasId,
      data_type: HWPT_DATA.NONE,
    });
    this.parentHwptId = getU32(parent, S.iommu_hwpt_alloc.off['out_hwpt_id'] as number);
    // Devices translate GPA → HPA through the parent until the guest programs the vSMMU.
    for (const d of this.devices) {
      const r = this.attach(d, this.parentHwptId);
      if (r < 0) setupError(`attach ${d.name} to the nest parent`, r);
      d.attached = 'parent';
      d.hwptId = this.parentHwptId;
    }
    const vi = this.must('IOMMU_VIOMMU_ALLOC', this.iommufd, S.iommu_viommu_alloc, {
      type: VIOMMU_TYPE.ARM_SMMUV3,
      dev_id: first.devId,
      hwpt_id: this.parentHwptId,
    });
    this.viommuId = getU32(vi, S.iommu_viommu_alloc.off['out_viommu_id'] as number);
    // vDEVICEs first: the StreamID plan is known, and older kernels need one for every nested
    // attach (iommufd-smmuv3.md erratum 1).
    for (const d of this.devices) {
      const vd = this.must('IOMMU_VDEVICE_ALLOC', this.iommufd, S.iommu_vdevice_alloc, {
        viommu_id: this.viommuId,
        dev_id: d.devId,
        virt_id: d.vsid,
      });
      d.vdeviceId = getU32(vd, S.iommu_vdevice_alloc.off['out_vdevice_id'] as number);
    }
    // Abort: V=1, Config=0b000; bypass: V=1, Config=0b100.
    this.abortHwptId = this.allocNestedOrThrow(first.devId, [0x1n, 0n], 'abort');
    this.bypassHwptId = this.allocNestedOrThrow(first.devId, [0x9n, 0n], 'bypass');
    const q = this.must('IOMMU_VEVENTQ_ALLOC', this.iommufd, S.iommu_veventq_alloc, {
      viommu_id: this.viommuId,
      type: VEVENTQ_TYPE.ARM_SMMUV3,
      veventq_depth: veventqDepth,
    });
    this.veventqId = getU32(q, S.iommu_veventq_alloc.off['out_veventq_id'] as number);
    this.veventqFd = getU32(q, S.iommu_veventq_alloc.off['out_veventq_fd'] as number);
  }

  private allocNestedOrThrow(devId: number, vste: readonly [bigint, bigint], what: string): number {
    const r = this.allocNested(devId, vste);
    if (r < 0) setupError(`IOMMU_HWPT_ALLOC (${what} vSTE)`, r);
    return r;
  }

  /** IOMMU_HWPT_ALLOC of a nested HWPT on the vIOMMU: the new ID or a negative errno. */
  allocNested(devId: number, vste: readonly [bigint, bigint]): number {
    const uptr = this.io.stage(vsteBytes(vste));
    const r = this.io.call(
      'IOMMU_HWPT_ALLOC',
      this.iommufd,
      S.iommu_hwpt_alloc,
      {
        dev_id: devId,
        pt_id: this.viommuId,
        data_type: HWPT_DATA.ARM_SMMUV3,
        data_len: S.iommu_hwpt_arm_smmuv3.size,
        data_uptr: uptr,
      },
      `vSTE ste[0]=${hex64(vste[0])} ste[1]=${hex64(vste[1])}`,
    );
    if (r.ret < 0) return r.ret;
    return getU32(r.bytes, S.iommu_hwpt_alloc.off['out_hwpt_id'] as number);
  }

  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT (a replace when already attached). */
  private attach(d: AccelDevice, hwptId: number): number {
    return this.io.call('VFIO_DEVICE_ATTACH_IOMMUFD_PT', d.fd, S.vfio_device_attach_iommufd_pt, {
      pt_id: hwptId,
    }).ret;
  }

  /** IOMMU_DESTROY; failures are logged (a leak until the iommufd is closed). */
  destroy(id: number): number {
    if (id === 0) return 0;
    return this.io.call('IOMMU_DESTROY', this.iommufd, S.iommu_destroy, { id }).ret;
  }

  /**
   * Moves a device to abort, bypass or a new nested stage-1 HWPT from `vste`, make-before-break.
   * Nothing changes when the request matches the current attachment.
   */
  install(
    d: AccelDevice,
    kind: 'abort' | 'bypass' | 'nested',
    vste?: readonly [bigint, bigint],
  ): InstallResult {
    let target: number;
    let fresh = false;
    if (kind === 'nested') {
      const v = vste as readonly [bigint, bigint];
      if (d.attached === 'nested' && d.vste && d.vste[0] === v[0] && d.vste[1] === v[1]) {
        return { ok: true, kind, unchanged: true };
      }
      const id = this.allocNested(d.devId, v);
      if (id < 0) return { ok: false, stage: 'alloc', errno: id };
      target = id;
      fresh = true;
    } else {
      target = kind === 'abort' ? this.abortHwptId : this.bypassHwptId;
      if (d.hwptId === target) return { ok: true, kind, unchanged: true };
    }
    const r = this.attach(d, target);
    if (r < 0) {
      if (fresh) this.destroy(target);
      return { ok: false, stage: 'attach', errno: r };
    }
    const old = d.attached === 'nested' ? d.hwptId : 0;
    d.attached = kind;
    d.hwptId = target;
    d.vste = kind === 'nested' ? vste : undefined;
    // The previous stage-1 HWPT goes only after the replace took effect.
    if (old !== 0) this.destroy(old);
    return { ok: true, kind, unchanged: false };
  }

  /** One IOMMU_HWPT_INVALIDATE on the vIOMMU with `cmds` (16-byte guest commands). */
  invalidate(cmds: readonly (readonly [bigint, bigint])[]): InvalidateResult {
    const E = S.iommu_viommu_arm_smmuv3_invalidate;
    const arr = new Uint8Array(E.size * cmds.length);
    cmds.forEach((c, i) => {
      setU64(arr, i * E.size, c[0]);
      setU64(arr, i * E.size + 8, c[1]);
    });
    const uptr = this.io.stage(arr);
    const r = this.io.call(
      'IOMMU_HWPT_INVALIDATE',
      this.iommufd,
      S.iommu_hwpt_invalidate,
      {
        hwpt_id: this.viommuId,
        data_uptr: uptr,
        data_type: INVALIDATE_DATA.VIOMMU_ARM_SMMUV3,
        entry_len: E.size,
        entry_num: cmds.length,
      },
      `commands ${cmds.map((c) => `[${hex64(c[0])}, ${hex64(c[1])}]`).join(' ')}`,
    );
    return {
      ret: r.ret,
      handled: getU32(r.bytes, S.iommu_hwpt_invalidate.off['entry_num'] as number),
    };
  }

  /** Whether the vEVENTQ fd is readable (poll). */
  eventsPending(): boolean {
    if (this.veventqFd < 0) return false;
    const p = this.io.sys.poll(this.veventqFd);
    return p > 0 && (p & POLLIN) !== 0;
  }

  /** read(2) of up to `n` bytes from the vEVENTQ fd: bytes (possibly empty) or a negative errno. */
  readEvents(n: number): Uint8Array | number {
    const r = this.io.sys.read(this.veventqFd, n);
    if (typeof r === 'number' && r < 0) {
      this.log({
        level: 'error',
        text: `read(vEVENTQ fd ${this.veventqFd}) failed: ${errnoName(r)} (${r})`,
      });
    }
    return typeof r === 'number' ? (r < 0 ? r : new Uint8Array(0)) : r;
  }

  /**
   * Removes one device (hot-unplug): detach, destroy its stage-1 HWPT and vDEVICE, close its cdev
   * (which unbinds it). Destroying the vDEVICE before unbinding avoids a tombstone ID.
   */
  removeDevice(d: AccelDevice): void {
    this.io.call('VFIO_DEVICE_DETACH_IOMMUFD_PT', d.fd, S.vfio_device_detach_iommufd_pt, {});
    if (d.attached === 'nested') this.destroy(d.hwptId);
    d.attached = 'none';
    d.hwptId = 0;
    d.vste = undefined;
    this.destroy(d.vdeviceId);
    d.vdeviceId = 0;
    this.io.sys.close(d.fd);
    const i = this.devices.indexOf(d);
    if (i >= 0) this.devices.splice(i, 1);
  }

  /** Tears everything down, leaves first (vEVENTQ, devices, proxies, vIOMMU, parent). */
  teardown(): void {
    if (this.veventqFd >= 0) {
      this.io.sys.close(this.veventqFd);
      this.veventqFd = -1;
    }
    this.destroy(this.veventqId);
    this.veventqId = 0;
    for (const d of [...this.devices]) this.removeDevice(d);
    this.destroy(this.abortHwptId);
    this.destroy(this.bypassHwptId);
    this.destroy(this.viommuId);
    this.destroy(this.parentHwptId);
    this.abortHwptId = this.bypassHwptId = this.viommuId = this.parentHwptId = 0;
  }
}
