// Test harness for the iommufd kernel model: ioctl request numbers and struct bytes are written
// here BY HAND from include/uapi/linux/iommufd.h and vfio.h (linux-libc-dev 7.3.4), with literal
// offsets — never through the model's own UAPI tables — so a layout bug in the model cannot hide.
//   _IO(';', nr) = 0x3b00 | nr; VFIO_BASE = 100 → BIND 0x3b76, ATTACH 0x3b77, DETACH 0x3b78.

import { ERRNO } from '../../src/arch/errno.ts';
import { createHost, type HostConfig } from '../../src/iommufd/host.ts';
import type { Process } from '../../src/iommufd/process.ts';

/** Request numbers, by hand. */
export const R = {
  DESTROY: 0x3b80,
  IOAS_ALLOC: 0x3b81,
  IOAS_ALLOW_IOVAS: 0x3b82,
  IOAS_COPY: 0x3b83,
  IOAS_IOVA_RANGES: 0x3b84,
  IOAS_MAP: 0x3b85,
  IOAS_UNMAP: 0x3b86,
  OPTION: 0x3b87,
  VFIO_IOAS: 0x3b88,
  HWPT_ALLOC: 0x3b89,
  GET_HW_INFO: 0x3b8a,
  HWPT_SET_DIRTY_TRACKING: 0x3b8b,
  HWPT_GET_DIRTY_BITMAP: 0x3b8c,
  HWPT_INVALIDATE: 0x3b8d,
  FAULT_QUEUE_ALLOC: 0x3b8e,
  IOAS_MAP_FILE: 0x3b8f,
  VIOMMU_ALLOC: 0x3b90,
  VDEVICE_ALLOC: 0x3b91,
  IOAS_CHANGE_PROCESS: 0x3b92,
  VEVENTQ_ALLOC: 0x3b93,
  HW_QUEUE_ALLOC: 0x3b94,
  VFIO_BIND: 0x3b76,
  VFIO_ATTACH: 0x3b77,
  VFIO_DETACH: 0x3b78,
} as const;

/** Negative errnos. */
export const E = Object.fromEntries(Object.entries(ERRNO).map(([k, v]) => [k, -v])) as {
  readonly [K in keyof typeof ERRNO]: number;
};

/** A struct buffer with little-endian setters/getters at literal offsets. */
export class S {
  readonly b: Uint8Array;
  readonly dv: DataView;
  constructor(size: number, sizeField: number = size) {
    this.b = new Uint8Array(size);
    this.dv = new DataView(this.b.buffer);
    if (size >= 4) this.dv.setUint32(0, sizeField, true);
  }
  u8(off: number, v: number): this {
    this.dv.setUint8(off, v);
    return this;
  }
  u16(off: number, v: number): this {
    this.dv.setUint16(off, v, true);
    return this;
  }
  u32(off: number, v: number): this {
    this.dv.setUint32(off, v >>> 0, true);
    return this;
  }
  u64(off: number, v: bigint | number): this {
    this.dv.setBigUint64(off, BigInt(v), true);
    return this;
  }
  g32(off: number): number {
    return this.dv.getUint32(off, true);
  }
  g64(off: number): bigint {
    return this.dv.getBigUint64(off, true);
  }
  g8(off: number): number {
    return this.dv.getUint8(off);
  }
}

/** A process with an open iommufd and (optionally) bound devices. */
export interface Rig {
  host: ReturnType<typeof createHost>;
  p: Process;
  fd: number;
  /** Device fds by index. */
  dfd: number[];
  /** out_devid by device index. */
  devid: number[];
  io(fd: number, req: number, s: S): number;
}

/** Opens /dev/iommu and binds `bind` devices (VFIO_DEVICE_BIND_IOMMUFD by hand). */
export function rig(config: HostConfig = {}, bind = 1): Rig {
  const host = createHost(config);
  const p = host.process();
  const fd = p.open('/dev/iommu');
  const r: Rig = {
    host,
    p,
    fd,
    dfd: [],
    devid: [],
    io: (f, req, s) => p.ioctl(f, req, s.b),
  };
  for (let i = 0; i < bind; i++) {
    const dfd = p.open(`/dev/vfio/devices/vfio${i}`);
    // struct vfio_device_bind_iommufd { u32 argsz, flags; s32 iommufd; u32 out_devid; u64 token_uuid_ptr; }
    const s = new S(24).u32(8, fd);
    const rc = p.ioctl(dfd, R.VFIO_BIND, s.b);
    if (rc !== 0) throw new Error(`bind vfio${i}: ${rc}`);
    r.dfd.push(dfd);
    r.devid.push(s.g32(12));
  }
  return r;
}

/** IOMMU_IOAS_ALLOC → id. */
export function ioasAlloc(r: Rig): number {
  const s = new S(12);
  const rc = r.io(r.fd, R.IOAS_ALLOC, s);
  if (rc) throw new Error(`IOAS_ALLOC ${rc}`);
  return s.g32(8);
}

/** IOMMU_IOAS_MAP (FIXED | R | W by default) of fresh process memory → rc. */
export function ioasMap(
  r: Rig,
  ioas: number,
  iova: bigint,
  length: number,
  opts: { flags?: number; va?: bigint } = {},
): number {
  const va = opts.va ?? r.p.mmap(length);
  const s = new S(40)
    .u32(4, opts.flags ?? 7)
    .u32(8, ioas)
    .u64(16, va)
    .u64(24, length)
    .u64(32, iova);
  return r.io(r.fd, R.IOAS_MAP, s);
}

/** IOMMU_HWPT_ALLOC → { rc, id }. */
export function hwptAlloc(
  r: Rig,
  devid: number,
  ptId: number,
  flags: number,
  data?: { type: number; len: number; uptr: bigint },
): { rc: number; id: number } {
  const s = new S(48).u32(4, flags).u32(8, devid).u32(12, ptId);
  if (data) s.u32(24, data.type).u32(28, data.len).u64(32, data.uptr);
  const rc = r.io(r.fd, R.HWPT_ALLOC, s);
  return { rc, id: s.g32(16) };
}

/** VFIO_DEVICE_ATTACH_IOMMUFD_PT → { rc, ptId }. */
export function attach(r: Rig, dev: number, ptId: number): { rc: number; ptId: number } {
  const s = new S(16).u32(8, ptId);
  const rc = r.io(r.dfd[dev] as number, R.VFIO_ATTACH, s);
  return { rc, ptId: s.g32(8) };
}

/** IOMMU_VIOMMU_ALLOC (type ARM_SMMUV3 = 1) → { rc, id }. */
export function viommuAlloc(
  r: Rig,
  devid: number,
  hwpt: number,
  type = 1,
): { rc: number; id: number } {
  const s = new S(40).u32(8, type).u32(12, devid).u32(16, hwpt);
  const rc = r.io(r.fd, R.VIOMMU_ALLOC, s);
  return { rc, id: s.g32(20) };
}

/** IOMMU_VDEVICE_ALLOC → { rc, id }. */
export function vdeviceAlloc(
  r: Rig,
  viommu: number,
  devid: number,
  virtId: bigint,
): { rc: number; id: number } {
  const s = new S(24).u32(4, viommu).u32(8, devid).u64(16, virtId);
  const rc = r.io(r.fd, R.VDEVICE_ALLOC, s);
  return { rc, id: s.g32(12) };
}

/** Writes a vSTE (two LE u64) into fresh process memory → its address. */
export function vsteBuf(r: Rig, w0: bigint, w1: bigint): bigint {
  const va = r.p.mmap(4096);
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, w0, true);
  dv.setBigUint64(8, w1, true);
  r.p.write(va, b);
  return va;
}

/** IOMMU_HWPT_ALLOC of a nested HWPT from a vSTE (data_type ARM_SMMUV3 = 2, len 16). */
export function nestedAlloc(
  r: Rig,
  devid: number,
  viommu: number,
  w0: bigint,
  w1: bigint,
  flags = 0,
) {
  return hwptAlloc(r, devid, viommu, flags, { type: 2, len: 16, uptr: vsteBuf(r, w0, w1) });
}

/** IOMMU_DESTROY → rc. */
export function destroy(r: Rig, id: number): number {
  return r.io(r.fd, R.DESTROY, new S(8).u32(4, id));
}

/**
 * A complete nested set-up: IOAS, nest-parent S2, attached; vIOMMU; vDEVICE (vsid); returns ids.
 */
export function nestedRig(config: HostConfig = {}, opts: { vsid?: bigint; bind?: number } = {}) {
  const r = rig(config, opts.bind ?? 1);
  const ioas = ioasAlloc(r);
  const parent = hwptAlloc(r, r.devid[0] as number, ioas, 1);
  if (parent.rc) throw new Error(`nest parent ${parent.rc}`);
  const at = attach(r, 0, parent.id);
  if (at.rc) throw new Error(`attach parent ${at.rc}`);
  const vi = viommuAlloc(r, r.devid[0] as number, parent.id);
  if (vi.rc) throw new Error(`viommu ${vi.rc}`);
  let vdev = 0;
  if (opts.vsid !== undefined) {
    const v = vdeviceAlloc(r, vi.id, r.devid[0] as number, opts.vsid);
    if (v.rc) throw new Error(`vdevice ${v.rc}`);
    vdev = v.id;
  }
  return { ...r, ioas, parent: parent.id, viommu: vi.id, vdev };
}
