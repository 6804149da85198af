// HW page-table ioctls (drivers/iommu/iommufd/hw_pagetable.c, device.c iommufd_get_hw_info):
// IOMMU_HWPT_ALLOC (paging incl. NEST_PARENT, nested through a vIOMMU), IOMMU_GET_HW_INFO (the
// data_len zero-fill/truncate rules, out_capabilities, the experimental kernel_capabilities),
// IOMMU_HWPT_SET_DIRTY_TRACKING / _GET_DIRTY_BITMAP, IOMMU_HWPT_INVALIDATE.

import { ERRNO } from '../arch/errno.ts';
import { allocDomainNested, cacheInvalidate, type UserArray } from './arm-smmu-v3/vsmmu.ts';
import { attachForAlloc, deviceDetach } from './device.ts';
import { ULONG_MAX } from './io-pagetable.ts';
import type { IoctlHandlerCtx } from './ioctl-common.ts';
import {
  type DeviceObj,
  HwptNestedObj,
  HwptPagingObj,
  type IoasObj,
  type ViommuObj,
} from './objects.ts';
import {
  DIRTY,
  HW_CAP,
  HW_INFO_FLAG,
  HW_INFO_TYPE,
  HWPT_ALLOC,
  HWPT_DATA,
  setU32,
  UAPI_STRUCTS,
} from './uapi.ts';
import type { Ucmd } from './ucmd.ts';

const { EOPNOTSUPP, EINVAL, ENOENT, EFAULT, EOVERFLOW, ENOMEM } = ERRNO;

const O_ALLOC = UAPI_STRUCTS.iommu_hwpt_alloc.off;
const O_INFO = UAPI_STRUCTS.iommu_hw_info.off;
const O_INV = UAPI_STRUCTS.iommu_hwpt_invalidate.off;
const PAGING_VALID_FLAGS =
  HWPT_ALLOC.NEST_PARENT | HWPT_ALLOC.DIRTY_TRACKING | HWPT_ALLOC.FAULT_ID_VALID | HWPT_ALLOC.PASID;

/** IOMMU_CAP_DIRTY_TRACKING of a device (arm_smmu_dbm_capable: HTTU HD on a coherent SMMU). */
export function dirtyCapable(idev: DeviceObj): boolean {
  const f = idev.master.smmu.features;
  return f.httuHd && f.coherency;
}

/**
 * iommufd_hwpt_paging_alloc: a HWPT_PAGING holding a reference on the IOAS, its domain added to
 * the IOAS (pinning and mapping every area). With `immediateAttach` the device is attached first
 * (auto domains). The object's ID is reserved, not published: the caller finalizes it.
 */
export function allocHwptPaging(
  ctx: IoctlHandlerCtx,
  ioas: IoasObj,
  idev: DeviceObj,
  flags: number,
  hasUserData: boolean,
  opts: { immediateAttach: boolean; auto: boolean },
): HwptPagingObj | number {
  if (flags & ~PAGING_VALID_FLAGS) return -EOPNOTSUPP;
  if (flags & HWPT_ALLOC.DIRTY_TRACKING && !dirtyCapable(idev)) return -EOPNOTSUPP;
  if (flags & HWPT_ALLOC.FAULT_ID_VALID && flags & HWPT_ALLOC.NEST_PARENT) return -EOPNOTSUPP;
  const smmu = idev.master.smmu;
  const domain = smmu.domainAllocPaging(
    flags & ~HWPT_ALLOC.FAULT_ID_VALID,
    hasUserData,
    dirtyCapable(idev),
  );
  if (typeof domain === 'number') return domain;
  const h = new HwptPagingObj(
    ioas,
    domain,
    (flags & HWPT_ALLOC.NEST_PARENT) !== 0,
    opts.auto,
    (flags & HWPT_ALLOC.PASID) !== 0,
  );
  const id = ctx.alloc(h);
  if (id < 0) {
    domain.free();
    return id;
  }
  ioas.users++;
  if (opts.immediateAttach) {
    const rc = attachForAlloc(idev, h);
    if (rc) {
      ioas.users--;
      domain.free();
      ctx.abort(h);
      return rc;
    }
  }
  const rc = ioas.iopt.addDomain(domain);
  if (rc) {
    if (opts.immediateAttach) deviceDetach(ctx, idev);
    ioas.users--;
    domain.free();
    ctx.abort(h);
    return rc;
  }
  ioas.hwpts.push(h);
  return h;
}

function hwptNestedViaViommu(
  ctx: IoctlHandlerCtx,
  u: Ucmd,
  viommu: ViommuObj,
  idev: DeviceObj,
  flags: number,
): HwptNestedObj | number {
  if (idev.master.smmu.index !== viommu.iommu) return -EINVAL;
  if (flags & ~(HWPT_ALLOC.FAULT_ID_VALID | HWPT_ALLOC.PASID)) return -EOPNOTSUPP;
  const dataLen = u.u32(O_ALLOC.data_len as number);
  if (!dataLen) return -EOPNOTSUPP;
  const vsmmu = viommu.vsmmu;
  if (!vsmmu) return -EOPNOTSUPP;
  if (ctx.host.faults.hit('alloc')) return -ENOMEM;
  const uptr = u.u64n(O_ALLOC.data_uptr as number);
  const domain = allocDomainNested(
    vsmmu,
    flags & ~HWPT_ALLOC.FAULT_ID_VALID,
    {
      type: u.u32(O_ALLOC.data_type as number),
      len: dataLen,
      read: (len) => u.readUser(uptr, len),
    },
    ctx.host.kernelCapabilities,
  );
  if (typeof domain === 'number') return domain;
  const h = new HwptNestedObj(viommu, domain);
  const id = ctx.alloc(h);
  if (id < 0) return id;
  viommu.users++;
  return h;
}

/** IOMMU_HWPT_ALLOC. */
export function hwptAlloc(ctx: IoctlHandlerCtx, u: Ucmd): number {
  if (u.u32(O_ALLOC.__reserved as number)) return -EOPNOTSUPP;
  const dataType = u.u32(O_ALLOC.data_type as number);
  const dataLen = u.u32(O_ALLOC.data_len as number);
  if ((dataType === HWPT_DATA.NONE && dataLen) || (dataType !== HWPT_DATA.NONE && !dataLen)) {
    return -EINVAL;
  }
  const idev = ctx.get(u.u32(O_ALLOC.dev_id as number), 'DEVICE');
  if (!idev) return -ENOENT;
  const pt = ctx.get(u.u32(O_ALLOC.pt_id as number));
  if (!pt) return -EINVAL;
  const flags = u.u32(O_ALLOC.flags as number);
  let h: HwptPagingObj | HwptNestedObj | number;
  if (pt.type === 'IOAS') {
    h = allocHwptPaging(ctx, pt, idev, flags, dataLen !== 0, {
      immediateAttach: false,
      auto: false,
    });
  } else if (pt.type === 'HWPT_PAGING') {
    // iommufd_hwpt_nested_alloc: arm-smmu-v3 has no domain_alloc_nested (nesting only via vIOMMU).
    if (flags & ~(HWPT_ALLOC.FAULT_ID_VALID | HWPT_ALLOC.PASID) || !dataLen) return -EOPNOTSUPP;
    return -EOPNOTSUPP;
  } else if (pt.type === 'VIOMMU') {
    h = hwptNestedViaViommu(ctx, u, pt, idev, flags);
  } else return -EINVAL;
  if (typeof h === 'number') return h;
  if (flags & HWPT_ALLOC.FAULT_ID_VALID) {
    const fault = ctx.get(u.u32(O_ALLOC.fault_id as number), 'FAULT');
    if (!fault) {
      ctx.abortHwpt(h);
      return -ENOENT;
    }
    h.fault = fault;
    fault.users++;
  }
  u.set32(O_ALLOC.out_hwpt_id as number, h.id);
  u.respond(UAPI_STRUCTS.iommu_hwpt_alloc.size);
  ctx.finalize(h);
  return 0;
}

/** The arm-smmu-v3 hw_info payload (raw IDRs, IIDR, AIDR; kernel_capabilities when enabled). */
function smmuHwInfo(ctx: IoctlHandlerCtx, idev: DeviceObj): Uint8Array {
  const smmu = idev.master.smmu;
  const kcapsOn = ctx.host.kernelCapabilitiesEnabled;
  const data = new Uint8Array(kcapsOn ? 44 : 40);
  setU32(data, 0, 0);
  setU32(data, 4, 0);
  for (let i = 0; i < 6; i++) setU32(data, 8 + 4 * i, smmu.idr[i] ?? 0);
  setU32(data, 32, smmu.iidr);
  setU32(data, 36, smmu.aidr);
  if (kcapsOn) setU32(data, 40, ctx.host.kernelCapabilities);
  return data;
}

/** IOMMU_GET_HW_INFO. */
export function getHwInfo(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const flags = u.u32(4);
  if (flags & ~HW_INFO_FLAG.INPUT_TYPE) return -EOPNOTSUPP;
  const r0 = O_INFO.__reserved as number;
  if (u.cmd[r0] || u.cmd[r0 + 1] || u.cmd[r0 + 2]) return -EOPNOTSUPP;
  if (!(flags & HW_INFO_FLAG.INPUT_TYPE))
    u.set32(O_INFO.in_data_type as number, HW_INFO_TYPE.DEFAULT);
  const idev = ctx.get(u.u32(8), 'DEVICE');
  if (!idev) return -ENOENT;
  const inType = u.u32(O_INFO.in_data_type as number);
  // arm_smmu_hw_info: only DEFAULT / ARM_SMMUV3 (no implementation-specific info here).
  if (inType !== HW_INFO_TYPE.DEFAULT && inType !== HW_INFO_TYPE.ARM_SMMUV3) return -EOPNOTSUPP;
  if (ctx.host.faults.hit('alloc')) return -ENOMEM;
  const data = smmuHwInfo(ctx, idev);
  u.set32(O_INFO.out_data_type as number, HW_INFO_TYPE.ARM_SMMUV3);
  const userLen = u.u32(12);
  const ptr = u.u64n(16);
  const copyLen = Math.min(userLen, data.length);
  if (copyLen > 0 && !u.writeUser(ptr, data.subarray(0, copyLen))) return -EFAULT;
  if (
    copyLen < userLen &&
    !u.writeUser(ptr < 0 ? -1 : ptr + copyLen, new Uint8Array(userLen - copyLen))
  ) {
    return -EFAULT;
  }
  u.set32(12, data.length);
  let caps = 0n;
  if (dirtyCapable(idev)) caps |= BigInt(HW_CAP.DIRTY_TRACKING);
  const smmu = idev.master.smmu;
  if (ctx.host.switches.reportAtsNotSupported && !smmu.atsSupported(idev.master)) {
    caps |= BigInt(HW_CAP.PCI_ATS_NOT_SUPPORTED);
  }
  const pasid = Math.min(idev.dev.pasidBits, smmu.ssidBits);
  u.cmd[O_INFO.out_max_pasid_log2 as number] = pasid;
  u.set64(O_INFO.out_capabilities as number, caps);
  return u.respond(UAPI_STRUCTS.iommu_hw_info.size);
}

/**
 * iopt_set_dirty_tracking: EOPNOTSUPP for a domain without dirty ops; enabling first clears the
 * dirty state of every mapped page (iopt_clear_dirty_data); the SMMUv3 op itself is a no-op.
 */
export function setDirtyTracking(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const flags = u.u32(4);
  if (flags & ~DIRTY.TRACKING_ENABLE) return -EOPNOTSUPP;
  if (u.u32(12)) return -EOPNOTSUPP;
  const h = ctx.get(u.u32(8), 'HWPT_PAGING');
  if (!h) return -ENOENT;
  if (!h.domain.dirtyOps) return -EOPNOTSUPP;
  const enable = (flags & DIRTY.TRACKING_ENABLE) !== 0;
  if (enable) {
    for (const a of h.ioas.iopt.areas) {
      const off = a.startByte % 4096;
      const len = Number(a.last - a.iova + 1n) + off;
      h.domain.readAndClearDirty(
        Number(a.iova) - off,
        Math.ceil(len / 4096) * 4096,
        false,
        () => {},
      );
    }
  }
  h.domain.dirtyTracking = enable;
  return 0;
}

/**
 * IOMMU_HWPT_GET_DIRTY_BITMAP (iopt_read_and_clear_dirty_data): range checks, EOPNOTSUPP without
 * dirty ops, the range must be covered by contiguous areas (EINVAL), then one bit per
 * `page_size` set in the user bitmap for every dirty page (existing bits are kept).
 */
export function getDirtyBitmap(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const flags = u.u32(8);
  if (flags & ~DIRTY.GET_BITMAP_NO_CLEAR || u.u32(12)) return -EOPNOTSUPP;
  const h = ctx.get(u.u32(4), 'HWPT_PAGING');
  if (!h) return -ENOENT;
  const iova = u.u64(16);
  const length = u.u64(24);
  const pageSize = u.u64(32);
  const last = iova + ((length - 1n) & ULONG_MAX);
  if (last > ULONG_MAX) return -EOVERFLOW;
  const align = BigInt(h.ioas.iopt.iovaAlignment);
  if (iova % align !== 0n || (last + 1n) % align !== 0n) return -EINVAL;
  if (pageSize === 0n) return -EINVAL;
  if (iova % pageSize !== 0n || (last + 1n) % pageSize !== 0n) return -EINVAL;
  if (!h.domain.dirtyOps) return -EOPNOTSUPP;
  // The range must be mapped by contiguous areas.
  if (!h.ioas.iopt.covered(iova, length)) return -EINVAL;
  const data = u.u64n(40);
  const ps = Number(pageSize);
  const base = Number(iova);
  const end = base + Number(length);
  let fault = false;
  const rc = h.domain.readAndClearDirty(
    base,
    Number(length),
    (flags & DIRTY.GET_BITMAP_NO_CLEAR) !== 0,
    (a, size) => {
      for (let p = Math.max(a, base); p < Math.min(a + size, end); p += ps) {
        const bitIdx = Math.floor((p - base) / ps);
        const byte = data < 0 ? -1 : data + Math.floor(bitIdx / 8);
        const cur = u.readUser(byte, 1);
        if (!cur || !u.writeUser(byte, Uint8Array.of((cur[0] as number) | (1 << (bitIdx % 8)))))
          fault = true;
      }
    },
  );
  if (fault) return -EFAULT;
  return rc;
}

/** IOMMU_HWPT_INVALIDATE: entry_num is written back even on failure. */
/**
 * The user array of IOMMU_HWPT_INVALIDATE (a class rather than an object with a closure: a
 * closure made per call costs a property definition each under tsx's name-keeping transform).
 */
class InvalidationArray implements UserArray {
  readonly type: number;
  readonly entryLen: number;
  readonly entryNum: number;
  private readonly u: Ucmd;
  private readonly uptr: number;

  constructor(type: number, entryLen: number, entryNum: number, u: Ucmd, uptr: number) {
    this.type = type;
    this.entryLen = entryLen;
    this.entryNum = entryNum;
    this.u = u;
    this.uptr = uptr;
  }

  read(off: number, len: number): Uint8Array | null {
    return this.u.readUser(this.uptr < 0 ? -1 : this.uptr + off, len);
  }
}

export function hwptInvalidate(ctx: IoctlHandlerCtx, u: Ucmd): number {
  let rc = 0;
  let done = 0;
  const entryNum = u.u32(O_INV.entry_num as number);
  const uptr = u.u64n(O_INV.data_uptr as number);
  const entryLen = u.u32(O_INV.entry_len as number);
  if (u.u32(O_INV.__reserved as number)) rc = -EOPNOTSUPP;
  else if (entryNum && (uptr === 0 || !entryLen))
    rc = -EINVAL; // u64n is 0 only for 0
  else {
    const pt = ctx.get(u.u32(4));
    if (!pt) rc = -ENOENT;
    else if (pt.type === 'HWPT_NESTED')
      rc = -EOPNOTSUPP; // no cache_invalidate_user on SMMUv3
    else if (pt.type === 'VIOMMU') {
      if (!pt.vsmmu) rc = -EOPNOTSUPP;
      else {
        const r = cacheInvalidate(
          pt.vsmmu,
          new InvalidationArray(u.u32(O_INV.data_type as number), entryLen, entryNum, u, uptr),
        );
        rc = r.rc;
        done = r.done;
      }
    } else rc = -EINVAL;
  }
  u.set32(O_INV.entry_num as number, done);
  u.respond(UAPI_STRUCTS.iommu_hwpt_invalidate.size);
  return rc;
}
