// IOAS ioctls (drivers/iommu/iommufd/ioas.c): IOMMU_IOAS_ALLOC, _IOVA_RANGES, _ALLOW_IOVAS, _MAP,
// _MAP_FILE, _COPY, _UNMAP, _CHANGE_PROCESS. Check order and errnos follow the kernel functions
// (flags/__reserved → EOPNOTSUPP, ≥ ULONG_MAX → EOVERFLOW, neither READABLE nor WRITEABLE →
// EINVAL, IOAS lookup → ENOENT, then the io_pagetable rules of ./io-pagetable.ts).

import { ERRNO } from '../arch/errno.ts';
import { IOMMU_PROT } from './domain.ts';
import { type AccountMode, IoptPages, ULONG_MAX } from './io-pagetable.ts';
import type { IoctlHandlerCtx } from './ioctl-common.ts';
import { IoasObj } from './objects.ts';
import { IOAS_MAP, UAPI_STRUCTS } from './uapi.ts';
import type { Ucmd } from './ucmd.ts';

const { EOPNOTSUPP, EOVERFLOW, EINVAL, ENOENT, EFAULT, EMSGSIZE, ENOMEM, EBADF } = ERRNO;

const MAP_FLAGS = IOAS_MAP.FIXED_IOVA | IOAS_MAP.WRITEABLE | IOAS_MAP.READABLE;
const O_MAP = UAPI_STRUCTS.iommu_ioas_map.off;
const O_COPY = UAPI_STRUCTS.iommu_ioas_copy.off;
const O_UNMAP = UAPI_STRUCTS.iommu_ioas_unmap.off;
const O_RANGES = UAPI_STRUCTS.iommu_ioas_iova_ranges.off;

/** conv_iommu_prot: IOMMU_CACHE always (iommufd requires coherent IOMMUs). */
function convProt(flags: number): number {
  let p = IOMMU_PROT.CACHE;
  if (flags & IOAS_MAP.WRITEABLE) p |= IOMMU_PROT.WRITE;
  if (flags & IOAS_MAP.READABLE) p |= IOMMU_PROT.READ;
  return p;
}

/** IOMMU_IOAS_ALLOC. */
export function ioasAlloc(ctx: IoctlHandlerCtx, u: Ucmd): number {
  if (u.u32(4)) return -EOPNOTSUPP;
  const io = new IoasObj(ctx.host.faults);
  const id = ctx.alloc(io);
  if (id < 0) return id;
  u.set32(8, id);
  u.respond(UAPI_STRUCTS.iommu_ioas_alloc.size);
  ctx.finalize(io);
  return 0;
}

/** IOMMU_IOAS_IOVA_RANGES: EMSGSIZE (after writing num_iovas back) when the array is too small. */
export function ioasIovaRanges(ctx: IoctlHandlerCtx, u: Ucmd): number {
  if (u.u32(O_RANGES.__reserved as number)) return -EOPNOTSUPP;
  const io = ctx.get(u.u32(4), 'IOAS');
  if (!io) return -ENOENT;
  const max = u.u32(8);
  const ptr = u.u64n(16);
  const ranges = io.iopt.iovaRanges();
  let n = 0;
  for (const r of ranges) {
    if (n < max) {
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, r.start, true);
      dv.setBigUint64(8, r.last, true);
      if (!u.writeUser(ptr + n * 16, b)) return -EFAULT;
    }
    n++;
  }
  u.set32(8, n);
  u.set64n(24, io.iopt.iovaAlignment);
  u.respond(UAPI_STRUCTS.iommu_ioas_iova_ranges.size);
  return n > max ? -EMSGSIZE : 0;
}

/** IOMMU_IOAS_ALLOW_IOVAS. */
export function ioasAllowIovas(ctx: IoctlHandlerCtx, u: Ucmd): number {
  if (u.u32(12)) return -EOPNOTSUPP;
  const io = ctx.get(u.u32(4), 'IOAS');
  if (!io) return -ENOENT;
  const num = u.u32(8);
  const ptr = u.u64n(16);
  const list: { start: bigint; last: bigint }[] = [];
  for (let i = 0; i < num; i++) {
    const b = u.readUser(ptr < 0 ? -1 : ptr + i * 16, 16);
    if (!b) return -EFAULT;
    const dv = new DataView(b.buffer, b.byteOffset, 16);
    const start = dv.getBigUint64(0, true);
    const last = dv.getBigUint64(8, true);
    if (start >= last) return -EINVAL;
    if (list.some((r) => r.start <= last && r.last >= start)) return -EINVAL;
    if (ctx.host.faults.hit('alloc')) return -ENOMEM;
    list.push({ start, last });
  }
  return io.iopt.setAllowIova(list);
}

function newPages(
  ctx: IoctlHandlerCtx,
  u: Ucmd,
  uptr: bigint,
  length: bigint,
  writable: boolean,
): IoptPages | number {
  // iopt_alloc_user_pages: uptr + (length - 1) must not overflow (unsigned: length 0 wraps);
  // then iopt_alloc_pages: length 0 / huge → EINVAL.
  if (uptr + ((length - 1n) & ULONG_MAX) > ULONG_MAX) return -EOVERFLOW;
  if (length === 0n || length > ULONG_MAX - 4096n) return -EINVAL;
  if (ctx.host.faults.hit('alloc')) return -ENOMEM;
  // Process addresses and lengths beyond 2^53 cannot be mapped memory: pinning them would fault.
  const va = uptr < 1n << 53n ? Number(uptr) : -1;
  const len = length < 1n << 53n ? Number(length) : -1;
  if (va < 0 || len < 0) return -EFAULT;
  let mode: AccountMode = u.proc.capIpcLock ? 'none' : 'user';
  if (ctx.accountMode === 'mm' && mode === 'user') mode = 'mm';
  return new IoptPages(u.proc, va, len, writable, mode, ctx.userAccount);
}

/** IOMMU_IOAS_MAP: pins user memory (when a domain mirrors the IOAS) and maps it. */
export function ioasMap(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const flags = u.u32(4);
  if (flags & ~MAP_FLAGS || u.u32(12)) return -EOPNOTSUPP;
  const uva = u.u64(O_MAP.user_va as number);
  const length = u.u64(O_MAP.length as number);
  const iova = u.u64(O_MAP.iova as number);
  if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOAS_MAP.WRITEABLE | IOAS_MAP.READABLE))) return -EINVAL;
  const io = ctx.get(u.u32(8), 'IOAS');
  if (!io) return -ENOENT;
  const pages = newPages(ctx, u, uva, length, (flags & IOAS_MAP.WRITEABLE) !== 0);
  if (typeof pages === 'number') return pages;
  const startByte = pages.userVa - pages.uptr;
  const r = io.iopt.mapPages(
    [{ pages, startByte, length: pages.length }],
    length,
    (flags & IOAS_MAP.FIXED_IOVA) !== 0,
    iova,
    convProt(flags),
  );
  if (typeof r === 'number') return r;
  pages.refs--; // the list's reference moved into the area
  u.set64(O_MAP.iova as number, r);
  return u.respond(UAPI_STRUCTS.iommu_ioas_map.size);
}

/** IOMMU_IOAS_MAP_FILE: memfd mappings are not modelled; a non-memfd fd → EINVAL. */
export function ioasMapFile(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const flags = u.u32(4);
  if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
  const length = u.u64(24);
  const iova = u.u64(32);
  if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOAS_MAP.WRITEABLE | IOAS_MAP.READABLE))) return -EINVAL;
  const io = ctx.get(u.u32(8), 'IOAS');
  if (!io) return -ENOENT;
  const fd = u.u32(12) | 0;
  if (fd < 0 || !u.proc.file(fd)) return -EBADF;
  // IMPDEF (model scope): only anonymous memory exists in the model; no fd is a memfd.
  return -EINVAL;
}

/** IOMMU_IOAS_COPY: maps an existing range of one IOAS into another (pages shared, pinned once). */
export function ioasCopy(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const flags = u.u32(4);
  if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
  const length = u.u64(O_COPY.length as number);
  const dst = u.u64(O_COPY.dst_iova as number);
  const src = u.u64(O_COPY.src_iova as number);
  if (length >= ULONG_MAX || src >= ULONG_MAX || dst >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOAS_MAP.WRITEABLE | IOAS_MAP.READABLE))) return -EINVAL;
  const srcIoas = ctx.get(u.u32(12), 'IOAS');
  if (!srcIoas) return -ENOENT;
  const slices = srcIoas.iopt.getPages(src, length);
  if (typeof slices === 'number') return slices;
  const dstIoas = ctx.get(u.u32(8), 'IOAS');
  if (!dstIoas) return -ENOENT;
  const r = dstIoas.iopt.mapPages(
    slices,
    length,
    (flags & IOAS_MAP.FIXED_IOVA) !== 0,
    dst,
    convProt(flags),
  );
  if (typeof r === 'number') return r;
  u.set64(O_COPY.dst_iova as number, r);
  return u.respond(UAPI_STRUCTS.iommu_ioas_copy.size);
}

/** IOMMU_IOAS_UNMAP: whole mappings only (split → ENOENT); 0/U64_MAX unmaps everything. */
export function ioasUnmap(ctx: IoctlHandlerCtx, u: Ucmd): number {
  const io = ctx.get(u.u32(4), 'IOAS');
  if (!io) return -ENOENT;
  const iova = u.u64(O_UNMAP.iova as number);
  const length = u.u64(O_UNMAP.length as number);
  let unmapped: bigint;
  if (iova === 0n && length === ULONG_MAX) {
    unmapped = io.iopt.unmapAll();
  } else {
    if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
    const r = io.iopt.unmapIova(iova, length);
    if (r.rc) return r.rc;
    unmapped = r.unmapped;
  }
  u.set64(O_UNMAP.length as number, unmapped);
  return u.respond(UAPI_STRUCTS.iommu_ioas_unmap.size);
}

/** IOMMU_IOAS_CHANGE_PROCESS: only file mappings can move; any user-VA mapping → EINVAL. */
export function ioasChangeProcess(ctx: IoctlHandlerCtx, u: Ucmd): number {
  if (u.u32(4)) return -EOPNOTSUPP;
  for (const o of ctx.objects()) {
    if (o.type !== 'IOAS') continue;
    const io = ctx.get(o.id, 'IOAS');
    if (io && io.iopt.areas.length > 0) return -EINVAL;
  }
  return 0;
}
