// vIOMMU-side ioctls (drivers/iommu/iommufd/viommu.c, eventq.c): IOMMU_VIOMMU_ALLOC,
// IOMMU_VDEVICE_ALLOC, IOMMU_VEVENTQ_ALLOC with its read-only fd (the record stream, LOST_EVENTS,
// sequence numbers), IOMMU_HW_QUEUE_ALLOC (no HW queue on a plain SMMUv3) and
// IOMMU_FAULT_QUEUE_ALLOC (object and fd only). Event reporting (iommufd_viommu_report_event and
// iommufd_vevent_handler) lives here too.

import { ERRNO } from '../arch/errno.ts';
import type { Master } from './arm-smmu-v3/driver.ts';
import { forwardEvent, type ViommuCore, vsmmuInit } from './arm-smmu-v3/vsmmu.ts';
import type { IoctlHandlerCtx } from './ioctl-common.ts';
import type { IommufdCtx } from './iommufd.ts';
import { FaultObj, VdeviceObj, type VeventNode, VeventqObj, ViommuObj } from './objects.ts';
import { type FileOps, POLL } from './process.ts';
import {
  HW_QUEUE_TYPE,
  setU32,
  UAPI_STRUCTS,
  VEVENTQ_FLAG,
  VEVENTQ_TYPE,
  VIOMMU_TYPE,
} from './uapi.ts';
import type { Ucmd } from './ucmd.ts';

const { EOPNOTSUPP, EINVAL, ENOENT, EEXIST, ENOMEM, ESPIPE } = ERRNO;
const INT_MAX = 0x7fff_ffff;

const O_VI = UAPI_STRUCTS.iommu_viommu_alloc.off;
const O_VD = UAPI_STRUCTS.iommu_vdevice_alloc.off;
const O_VQ = UAPI_STRUCTS.iommu_veventq_alloc.off;

/** The ViommuCore a vSMMU talks to. */
function viommuCore(viommu: ViommuObj): ViommuCore {
  return {
    vdevIdOf(m: Master): bigint | undefined {
      for (const v of viommu.vdevs.values()) if (v.idev.master === m) return v.virtId;
      return undefined;
    },
    masterOfVid(virtId: bigint): Master | undefined {
      return viommu.vdevs.get(virtId)?.idev.master;
    },
    reportEvent(type: number, data: Uint8Array): number {
      return reportEvent(viommu, type, data);
    },
  };
}

/** iommufd_viommu_report_event + iommufd_vevent_handler. */
export function reportEvent(viommu: ViommuObj, type: number, data: Uint8Array): number {
  const q = viommu.veventqs.get(type);
  if (!q) return -EOPNOTSUPP;
  let node: VeventNode;
  if (q.numEvents === q.depth) node = q.lostHeader;
  else {
    node = { lost: false, sequence: 0, data: data.slice() };
    q.numEvents++;
  }
  // The lost-events header only ever sits at the tail: a new node replaces it there.
  if (q.deliver.length > 0 && q.deliver[q.deliver.length - 1] === q.lostHeader) q.deliver.pop();
  q.deliver.push(node);
  node.sequence = q.sequence;
  q.sequence = (q.sequence + 1) & INT_MAX;
  return 0;
}

/** IOMMU_VIOMMU_ALLOC. */
export function viommuAlloc(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const type = u.u32(O_VI.type as number);
  if (u.u32(O_VI.flags as number) || type === VIOMMU_TYPE.DEFAULT) return -EOPNOTSUPP;
  const idev = ctx.get(u.u32(O_VI.dev_id as number), 'DEVICE');
  if (!idev) return -ENOENT;
  const smmu = idev.master.smmu;
  // get_viommu_size: 0 for an unsupported type, no nesting, FORCE_SYNC, or !CANWBS && !S2FWB.
  if (type !== VIOMMU_TYPE.ARM_SMMUV3 || !smmu.viommuSupported(idev.master)) return -EOPNOTSUPP;
  const parent = ctx.get(u.u32(O_VI.hwpt_id as number), 'HWPT_PAGING');
  if (!parent) return -ENOENT;
  if (!parent.nestParent) return -EINVAL;
  const viommu = new ViommuObj(type, parent, smmu.index);
  const id = ctx.alloc(viommu);
  if (id < 0) return id;
  parent.users++;
  // arm_vsmmu_init; the ARM_SMMUV3 type ignores driver data.
  const vs = vsmmuInit(smmu, parent.domain, viommuCore(viommu));
  if (typeof vs === 'number') {
    parent.users--;
    ctx.abort(viommu);
    return vs;
  }
  viommu.vsmmu = vs;
  if (!smmu.forwardEvent) smmu.forwardEvent = forwardEvent;
  u.set32(O_VI.out_viommu_id as number, id);
  u.respond(UAPI_STRUCTS.iommu_viommu_alloc.size);
  ctx.finalize(viommu);
  return 0;
}

/** IOMMU_VDEVICE_ALLOC. */
export function vdeviceAlloc(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const virtId = u.u64(O_VD.virt_id as number);
  const viommu = ctx.get(u.u32(O_VD.viommu_id as number), 'VIOMMU');
  if (!viommu) return -ENOENT;
  const idev = ctx.get(u.u32(O_VD.dev_id as number), 'DEVICE');
  if (!idev) return -ENOENT;
  if (viommu.iommu !== idev.master.smmu.index) return -EINVAL;
  if (idev.dying) return -ENOENT;
  if (idev.vdev) return -EEXIST;
  const vdev = new VdeviceObj(viommu, idev, virtId);
  const id = ctx.alloc(vdev);
  if (id < 0) return id;
  if (viommu.vdevs.has(virtId)) {
    ctx.abort(vdev);
    return -EEXIST;
  }
  // arm_vsmmu_vdevice_init (newest kernels): one StreamID per vDEVICE.
  if (ctx.host.switches.vdeviceSingleSid && idev.master.info.sids.length !== 1) {
    ctx.abort(vdev);
    return -EOPNOTSUPP;
  }
  viommu.users++;
  viommu.vdevs.set(virtId, vdev);
  idev.vdev = vdev;
  u.set32(O_VD.out_vdevice_id as number, id);
  u.respond(UAPI_STRUCTS.iommu_vdevice_alloc.size);
  ctx.finalize(vdev);
  return 0;
}

/** The vEVENTQ fd (iommufd_veventq_fops). */
class VeventqFile implements FileOps {
  readonly label = '[iommufd-veventq]';
  readonly q: VeventqObj;
  readonly ctx: IommufdCtx;

  constructor(q: VeventqObj, ctx: IommufdCtx) {
    this.q = q;
    this.ctx = ctx;
  }

  ioctl(): number {
    return -ERRNO.ENOTTY;
  }

  /** Whole records only: header (8 bytes) + 32-byte payload; the LOST header has no payload. */
  read(count: number, ppos = 0): Uint8Array | number {
    if (ppos) return -ESPIPE;
    const out: number[] = [];
    const q = this.q;
    while (q.deliver.length > 0) {
      const cur = q.deliver[0] as VeventNode;
      const left = count - out.length;
      if (left < 8) break;
      const dlen = cur.data ? cur.data.length : 0;
      if (!cur.lost && 8 + dlen > left) break;
      q.deliver.shift();
      const hdr = new Uint8Array(8);
      setU32(hdr, 0, cur.lost ? VEVENTQ_FLAG.LOST_EVENTS : 0);
      setU32(hdr, 4, cur.sequence);
      out.push(...hdr);
      if (cur.data) out.push(...cur.data);
      if (!cur.lost) q.numEvents--;
    }
    return Uint8Array.from(out);
  }

  poll(): number {
    return this.q.deliver.length > 0 ? POLL.IN | POLL.RDNORM : 0;
  }

  release(): void {
    this.q.users--;
    this.ctx.release();
  }
}

/** IOMMU_VEVENTQ_ALLOC. */
export function veventqAlloc(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const type = u.u32(O_VQ.type as number);
  if (
    u.u32(O_VQ.flags as number) ||
    u.u32(O_VQ.__reserved as number) ||
    type === VEVENTQ_TYPE.DEFAULT
  ) {
    return -EOPNOTSUPP;
  }
  const depth = u.u32(O_VQ.veventq_depth as number);
  if (!depth) return -EINVAL;
  const viommu = ctx.get(u.u32(O_VQ.viommu_id as number), 'VIOMMU');
  if (!viommu) return -ENOENT;
  if (viommu.veventqs.has(type)) return -EEXIST;
  const q = new VeventqObj(viommu, type, depth);
  const id = ctx.alloc(q);
  if (id < 0) return id;
  // get_unused_fd_flags + anon inode file (fail_nth points).
  if (ctx.host.faults.hit('alloc')) {
    ctx.abort(q);
    return -ENOMEM;
  }
  viommu.users++;
  viommu.veventqs.set(type, q);
  const file = new VeventqFile(q, ctx);
  q.users++; // the fd's reference
  ctx.fileRefs++; // the fd holds the iommufd context
  const fd = u.proc.installFile(file);
  u.set32(O_VQ.out_veventq_id as number, id);
  u.set32(O_VQ.out_veventq_fd as number, fd);
  u.respond(UAPI_STRUCTS.iommu_veventq_alloc.size);
  ctx.finalize(q);
  return 0;
}

/** IOMMU_HW_QUEUE_ALLOC: a plain SMMUv3 vIOMMU has no HW queue ops (EOPNOTSUPP after checks). */
export function hwQueueAlloc(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const type = u.u32(12);
  if (u.u32(4) || type === HW_QUEUE_TYPE.DEFAULT) return -EOPNOTSUPP;
  const length = u.u64(32);
  if (length === 0n) return -EINVAL;
  const base = u.u64(24);
  if (base + length - 1n >= 1n << 64n) return -ERRNO.EOVERFLOW;
  const viommu = ctx.get(u.u32(8), 'VIOMMU');
  if (!viommu) return -ENOENT;
  return -EOPNOTSUPP;
}

/** The fault-queue fd (PRI is not modelled: nothing is ever readable). */
class FaultFile implements FileOps {
  readonly label = '[iommufd-pgfault]';
  readonly fault: FaultObj;
  readonly ctx: IommufdCtx;

  constructor(fault: FaultObj, ctx: IommufdCtx) {
    this.fault = fault;
    this.ctx = ctx;
  }

  ioctl(): number {
    return -ERRNO.ENOTTY;
  }

  read(): Uint8Array {
    return new Uint8Array(0);
  }

  /** Responses: count must be a multiple of 8; unknown cookies → EINVAL. */
  write(bytes: Uint8Array): number {
    if (bytes.length % 8 !== 0) return -ESPIPE;
    return bytes.length === 0 ? 0 : -EINVAL;
  }

  poll(): number {
    return 0;
  }

  release(): void {
    this.fault.users--;
    this.ctx.release();
  }
}

/** IOMMU_FAULT_QUEUE_ALLOC. */
export function faultQueueAlloc(ctx: IoctlHandlerCtx, u: Ucmd): number {
  if (u.u32(4)) return -EOPNOTSUPP;
  const f = new FaultObj();
  const id = ctx.alloc(f);
  if (id < 0) return id;
  if (ctx.host.faults.hit('alloc')) {
    ctx.abort(f);
    return -ENOMEM;
  }
  f.users++;
  ctx.fileRefs++;
  const fd = u.proc.installFile(new FaultFile(f, ctx));
  u.set32(8, id);
  u.set32(12, fd);
  u.respond(UAPI_STRUCTS.iommu_fault_alloc.size);
  ctx.finalize(f);
  return 0;
}
