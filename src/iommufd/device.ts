// Device binding and attachment (drivers/iommu/iommufd/device.c): iommufd_device_bind/unbind,
// iommufd_device_attach/replace/detach on the group, automatic domains for an IOAS attach,
// reserved-region enforcement in the IOAS (a nested HWPT uses its parent's IOAS — erratum 3), and
// the driver attach (arm-smmu-v3 paging or nested). Attach rules: another HWPT on the same group →
// EINVAL; the same device again → EBUSY; replace when not attached → EINVAL; replace to the same
// HWPT → success with nothing done.

import { ERRNO } from '../arch/errno.ts';
import { MSI_IOVA_BASE, MSI_IOVA_LENGTH } from './arm-smmu-v3/defs.ts';
import { attachDevNested } from './arm-smmu-v3/vsmmu.ts';
import type { ResvRegion } from './domain.ts';
import type { HostDevice } from './host-device.ts';
import { allocHwptPaging } from './ioctl-hwpt.ts';
import type { IommufdCtx } from './iommufd.ts';
import {
  DeviceObj,
  HwptNestedObj,
  HwptPagingObj,
  type IoasObj,
  type IommufdGroup,
} from './objects.ts';

const { EINVAL, EBUSY, ENOENT } = ERRNO;

type Hwpt = HwptPagingObj | HwptNestedObj;

/** The reserved regions of a device (arm_smmu_get_resv_regions: the SW MSI window + firmware). */
export function resvRegions(dev: HostDevice): ResvRegion[] {
  return [
    { start: MSI_IOVA_BASE, last: MSI_IOVA_BASE + MSI_IOVA_LENGTH - 1n, type: 'sw-msi' },
    ...dev.resvRegions,
  ];
}

function pagingOf(h: Hwpt): HwptPagingObj {
  return h instanceof HwptNestedObj ? h.parent : h;
}

/** iommufd_device_bind: the device object (users 2: the xarray and the driver) or -errno. */
export function deviceBind(ctx: IommufdCtx, dev: HostDevice): DeviceObj | number {
  const group = ctx.host.groupFor(dev, ctx);
  if (typeof group === 'number') return group;
  const idev = new DeviceObj(dev, dev.master, group);
  const id = ctx.alloc(idev);
  if (id < 0) return id;
  // The calling driver (VFIO) is a user until unbind.
  idev.users++;
  ctx.finalize(idev);
  ctx.host.claimGroup(dev, ctx);
  // Claiming DMA ownership moves the device to the blocking domain.
  dev.master.smmu.attachBlocked(dev.master);
  return idev;
}

/**
 * iommufd_device_unbind: detaches, force-destroys a vDEVICE (its ID becomes a tombstone) and removes
 * the device object.
 */
export function deviceUnbind(ctx: IommufdCtx, idev: DeviceObj): void {
  if (idev.hwpt) deviceDetach(ctx, idev);
  idev.dying = true;
  const vdev = idev.vdev;
  if (vdev) {
    // iommufd_device_pre_destroy → iommufd_object_tombstone_user on the vDEVICE.
    vdev.users = 1;
    ctx.remove(vdev.id, { tombstone: true });
  }
  ctx.remove(idev.id, { callerRef: true });
  ctx.host.releaseGroup(idev.dev, ctx);
}

/** The driver attach of one device to a HWPT's domain. */
function driverAttach(idev: DeviceObj, hwpt: Hwpt): number {
  const m = idev.master;
  if (hwpt instanceof HwptNestedObj) return attachDevNested(hwpt.domain, m);
  return m.smmu.attachPaging(m, hwpt.domain);
}

/** iommufd_device_do_attach. */
function doAttach(idev: DeviceObj, hwpt: Hwpt): number {
  const group: IommufdGroup = idev.group;
  if (group.hwpt && group.hwpt !== hwpt) return -EINVAL;
  if (group.devices.has(idev)) return -EBUSY;
  const paging = pagingOf(hwpt);
  const iopt = paging.ioas.iopt;
  let rc = iopt.enforceResvRegions(resvRegions(idev.dev), idev);
  if (rc) return rc;
  if (group.devices.size === 0) {
    rc = driverAttach(idev, hwpt);
    if (rc) {
      iopt.removeReserved(idev);
      return rc;
    }
    group.hwpt = hwpt;
  }
  hwpt.users++;
  group.devices.add(idev);
  idev.hwpt = hwpt;
  return 0;
}

/** iommufd_device_do_replace: returns the old HWPT (for auto-domain cleanup) or -errno. */
function doReplace(idev: DeviceObj, hwpt: Hwpt): Hwpt | null | number {
  const group = idev.group;
  const old = group.hwpt;
  if (!old) return -EINVAL;
  if (!group.devices.has(idev)) return -EINVAL;
  if (hwpt === old) return null;
  const newIoas: IoasObj = pagingOf(hwpt).ioas;
  const oldIoas: IoasObj = pagingOf(old).ioas;
  const devices = [...group.devices];
  if (newIoas !== oldIoas) {
    for (let i = 0; i < devices.length; i++) {
      const d = devices[i] as DeviceObj;
      const rc = newIoas.iopt.enforceResvRegions(resvRegions(d.dev), d);
      if (rc) {
        for (let j = 0; j < i; j++) newIoas.iopt.removeReserved(devices[j]);
        return rc;
      }
    }
  }
  const rc = driverAttach(idev, hwpt);
  if (rc) {
    if (newIoas !== oldIoas) for (const d of devices) newIoas.iopt.removeReserved(d);
    return rc;
  }
  if (newIoas !== oldIoas) for (const d of devices) oldIoas.iopt.removeReserved(d);
  hwpt.users += devices.length;
  old.users -= devices.length;
  group.hwpt = hwpt;
  for (const d of devices) d.hwpt = hwpt;
  return old;
}

function destroyIfAuto(ctx: IommufdCtx, h: Hwpt | null): void {
  if (h instanceof HwptPagingObj && h.autoDomain && h.users === 1) ctx.remove(h.id);
}

/**
 * iommufd_device_attach / iommufd_device_replace with a pt_id: HWPT (paging or nested) or IOAS
 * (auto domain). Returns the attached HWPT id or -errno.
 */
export function deviceChangePt(
  ctx: IommufdCtx,
  idev: DeviceObj,
  ptId: number,
  replace: boolean,
): number {
  const pt = ctx.get(ptId);
  if (!pt) return -ENOENT;
  if (pt instanceof HwptPagingObj || pt instanceof HwptNestedObj) {
    if (replace) {
      const r = doReplace(idev, pt);
      if (typeof r === 'number') return r;
      destroyIfAuto(ctx, r);
    } else {
      const rc = doAttach(idev, pt);
      if (rc) return rc;
    }
    return pt.id;
  }
  if (pt.type === 'IOAS') return autoDomain(ctx, idev, pt, replace);
  return -EINVAL;
}

/** iommufd_device_auto_get_domain. */
function autoDomain(ctx: IommufdCtx, idev: DeviceObj, ioas: IoasObj, replace: boolean): number {
  for (const h of ioas.hwpts) {
    if (!h.autoDomain) continue;
    const r = replace ? doReplace(idev, h) : doAttach(idev, h);
    if (typeof r === 'number' && r < 0) {
      if (r === -EINVAL) continue;
      return r;
    }
    if (replace && r !== null && typeof r !== 'number') destroyIfAuto(ctx, r);
    return h.id;
  }
  const h = allocHwptPaging(ctx, ioas, idev, 0, false, { immediateAttach: !replace, auto: true });
  if (typeof h === 'number') return h;
  if (replace) {
    const r = doReplace(idev, h);
    if (typeof r === 'number') {
      ctx.abortHwptPaging(h);
      return r;
    }
    ctx.finalize(h);
    destroyIfAuto(ctx, r);
  } else ctx.finalize(h);
  return h.id;
}

/** The attach step used by an immediate-attach paging allocation. */
export function attachForAlloc(idev: DeviceObj, h: HwptPagingObj): number {
  return doAttach(idev, h);
}

/** iommufd_device_detach. */
export function deviceDetach(ctx: IommufdCtx, idev: DeviceObj): void {
  const hwpt = idev.hwpt;
  if (!hwpt) return;
  const group = idev.group;
  group.devices.delete(idev);
  idev.hwpt = null;
  if (group.devices.size === 0) {
    idev.master.smmu.attachBlocked(idev.master);
    group.hwpt = null;
  }
  pagingOf(hwpt).ioas.iopt.removeReserved(idev);
  hwpt.users--;
  destroyIfAuto(ctx, hwpt);
}
