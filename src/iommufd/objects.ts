// The iommufd object model (drivers/iommu/iommufd/iommufd_private.h, main.c): every user-visible
// object has an ID in the context's xarray (lowest free ID from 1, 31-bit limit, reused after
// destroy, tombstones keep theirs until close) and a `users` count — 1 for the xarray itself plus
// one per reference from another object, attachment or open fd. IOMMU_DESTROY succeeds only when
// the xarray holds the sole reference.

import type { Master, SmmuDomain } from './arm-smmu-v3/driver.ts';
import type { ArmNestedDomain, ArmVsmmu } from './arm-smmu-v3/vsmmu.ts';
import type { HostDevice } from './host-device.ts';
import type { FaultInjector } from './host-memory.ts';
import { IoPagetable } from './io-pagetable.ts';

/** Object types (enum iommufd_object_type). */
export type ObjType =
  | 'DEVICE'
  | 'HWPT_PAGING'
  | 'HWPT_NESTED'
  | 'IOAS'
  | 'ACCESS'
  | 'FAULT'
  | 'VIOMMU'
  | 'VDEVICE'
  | 'VEVENTQ'
  | 'HW_QUEUE';

/** Base of every object. */
export abstract class IommufdObject {
  abstract readonly type: ObjType;
  id = 0;
  /** refcount `users`: starts at 1 (the xarray's reference). */
  users = 1;
  /** Being destroyed (lookups fail with ENOENT). */
  dying = false;
  /** Releases what the object holds (refs on other objects, driver state). */
  abstract destroy(): void;
}

/** An IO address space. */
export class IoasObj extends IommufdObject {
  readonly type = 'IOAS' as const;
  readonly iopt: IoPagetable;
  /** HWPT_PAGINGs mirroring this IOAS (hwpt_list). */
  readonly hwpts: HwptPagingObj[] = [];

  constructor(faults: FaultInjector) {
    super();
    this.iopt = new IoPagetable(faults);
  }

  destroy(): void {
    this.iopt.unmapAll();
  }
}

/** A bound device (struct iommufd_device). */
export class DeviceObj extends IommufdObject {
  readonly type = 'DEVICE' as const;
  readonly dev: HostDevice;
  readonly master: Master;
  /** The HWPT the device is attached to (non-PASID). */
  hwpt: HwptPagingObj | HwptNestedObj | null = null;
  /** Its vDEVICE (at most one, on any vIOMMU). */
  vdev: VdeviceObj | null = null;
  /** dev->iommu_group. */
  readonly group: IommufdGroup;

  constructor(dev: HostDevice, master: Master, group: IommufdGroup) {
    super();
    this.dev = dev;
    this.master = master;
    this.group = group;
  }

  destroy(): void {}
}

/** Per-iommu_group state (struct iommufd_group). */
export class IommufdGroup {
  /** The HWPT the group is attached to. */
  hwpt: HwptPagingObj | HwptNestedObj | null = null;
  /** Devices of the group attached to `hwpt`. */
  readonly devices = new Set<DeviceObj>();
  readonly id: number;

  constructor(id: number) {
    this.id = id;
  }
}

/** A paging HWPT (kernel- managed page table mirroring an IOAS). */
export class HwptPagingObj extends IommufdObject {
  readonly type = 'HWPT_PAGING' as const;
  readonly ioas: IoasObj;
  readonly domain: SmmuDomain;
  readonly nestParent: boolean;
  readonly autoDomain: boolean;
  readonly pasidCompat: boolean;
  fault: FaultObj | null = null;

  constructor(
    ioas: IoasObj,
    domain: SmmuDomain,
    nestParent: boolean,
    autoDomain: boolean,
    pasidCompat: boolean,
  ) {
    super();
    this.ioas = ioas;
    this.domain = domain;
    this.nestParent = nestParent;
    this.autoDomain = autoDomain;
    this.pasidCompat = pasidCompat;
  }

  destroy(): void {
    this.ioas.iopt.removeDomain(this.domain);
    const i = this.ioas.hwpts.indexOf(this);
    if (i >= 0) this.ioas.hwpts.splice(i, 1);
    this.ioas.users--;
    this.domain.free();
    if (this.fault) this.fault.users--;
  }
}

/** A nested HWPT (user-managed stage 1 through a vIOMMU). */
export class HwptNestedObj extends IommufdObject {
  readonly type = 'HWPT_NESTED' as const;
  readonly viommu: ViommuObj;
  readonly domain: ArmNestedDomain;
  fault: FaultObj | null = null;

  constructor(viommu: ViommuObj, domain: ArmNestedDomain) {
    super();
    this.viommu = viommu;
    this.domain = domain;
  }

  /** The parent paging HWPT. */
  get parent(): HwptPagingObj {
    return this.viommu.hwpt;
  }

  destroy(): void {
    this.viommu.users--;
    if (this.fault) this.fault.users--;
  }
}

/** A vIOMMU. */
export class ViommuObj extends IommufdObject {
  readonly type = 'VIOMMU' as const;
  readonly viommuType: number;
  /** The nest-parent HWPT. */
  readonly hwpt: HwptPagingObj;
  /** Physical IOMMU instance. */
  readonly iommu: number;
  vsmmu: ArmVsmmu | null = null;
  /** vDEVICEs by virt_id. */
  readonly vdevs = new Map<bigint, VdeviceObj>();
  /** vEVENTQs by type. */
  readonly veventqs = new Map<number, VeventqObj>();

  constructor(viommuType: number, hwpt: HwptPagingObj, iommu: number) {
    super();
    this.viommuType = viommuType;
    this.hwpt = hwpt;
    this.iommu = iommu;
  }

  destroy(): void {
    this.hwpt.users--;
  }
}

/** A vDEVICE. */
export class VdeviceObj extends IommufdObject {
  readonly type = 'VDEVICE' as const;
  readonly viommu: ViommuObj;
  readonly idev: DeviceObj;
  readonly virtId: bigint;

  constructor(viommu: ViommuObj, idev: DeviceObj, virtId: bigint) {
    super();
    this.viommu = viommu;
    this.idev = idev;
    this.virtId = virtId;
  }

  destroy(): void {
    this.viommu.vdevs.delete(this.virtId);
    if (this.idev.vdev === this) this.idev.vdev = null;
    this.viommu.users--;
  }
}

/** One queued vEVENT (data) or the lost-events header. */
export interface VeventNode {
  readonly lost: boolean;
  sequence: number;
  readonly data: Uint8Array | null;
}

/** A vEVENTQ. */
export class VeventqObj extends IommufdObject {
  readonly type = 'VEVENTQ' as const;
  readonly viommu: ViommuObj;
  readonly veventqType: number;
  readonly depth: number;
  readonly deliver: VeventNode[] = [];
  numEvents = 0;
  sequence = 0;
  /** The per-queue lost-events header (re-stamped and re-used). */
  readonly lostHeader: VeventNode = { lost: true, sequence: 0, data: null };

  constructor(viommu: ViommuObj, veventqType: number, depth: number) {
    super();
    this.viommu = viommu;
    this.veventqType = veventqType;
    this.depth = depth;
  }

  destroy(): void {
    this.viommu.veventqs.delete(this.veventqType);
    this.viommu.users--;
    this.deliver.length = 0;
  }
}

/** A fault queue (IOMMU_FAULT_QUEUE_ALLOC); PRI is not modelled beyond the object. */
export class FaultObj extends IommufdObject {
  readonly type = 'FAULT' as const;
  destroy(): void {}
}

/** Any object. */
export type AnyObject =
  | IoasObj
  | DeviceObj
  | HwptPagingObj
  | HwptNestedObj
  | ViommuObj
  | VdeviceObj
  | VeventqObj
  | FaultObj;
