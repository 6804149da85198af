// An open /dev/iommu (struct iommufd_ctx, drivers/iommu/iommufd/main.c): the object xarray, the
// ioctl dispatcher with the generic rules of the iommufd UAPI, IOMMU_DESTROY, IOMMU_OPTION,
// IOMMU_VFIO_IOAS, and release on close.
//
// Dispatch (iommufd_fops_ioctl): nr outside the table → the VFIO compat path (not modelled: ENOTTY);
// `size` read first (-EFAULT when unreadable); a request number that differs from the table entry
// (direction/size bits) → -ENOIOCTLCMD, which userspace sees as ENOTTY; size < min_size → EINVAL;
// copy_struct_from_user(kernel size, user size): shorter → zero-extended, longer → the extra bytes
// must be zero (else E2BIG). Handlers answer 0 or a negative errno and write their output back
// with iommufd_ucmd_respond (min(user, kernel) bytes).

import { ERRNO, errnoName } from '../arch/errno.ts';
import type { Host } from './host.ts';
import type { AccountMode, UserAccount } from './io-pagetable.ts';
import * as hwpt from './ioctl-hwpt.ts';
import * as ioas from './ioctl-ioas.ts';
import * as viommu from './ioctl-viommu.ts';
import type { IoasObj } from './objects.ts';
import {
  type AnyObject,
  HwptNestedObj,
  type HwptPagingObj,
  type IommufdObject,
  type ObjType,
} from './objects.ts';
import type { FileOps, Process } from './process.ts';
import { IOMMUFD_CMD_BASE, IOMMUFD_IOCTLS, type IoctlDef, OPTION, VFIO_IOAS_OP } from './uapi.ts';
import { Ucmd } from './ucmd.ts';

const { ENOTTY, EFAULT, EINVAL, E2BIG, ENOENT, EBUSY, EOPNOTSUPP, ENOMEM, EPERM, ENODEV } = ERRNO;

/** A slot of the xarray: an object, a reserved ID (object being created) or a tombstone. */
type Slot = AnyObject | 'reserved' | 'tombstone';

/** The highest ID (xa_limit_31b). */
const ID_LIMIT = 0x7fff_ffff;

type Handler = (ctx: IommufdCtx, u: Ucmd) => number;

/** The handler of each ioctl number (absent = not in this kernel's table). */
const HANDLERS: Readonly<Record<string, Handler>> = {
  IOMMU_DESTROY: (c, u) => c.destroyIoctl(u),
  IOMMU_IOAS_ALLOC: ioas.ioasAlloc,
  IOMMU_IOAS_ALLOW_IOVAS: ioas.ioasAllowIovas,
  IOMMU_IOAS_COPY: ioas.ioasCopy,
  IOMMU_IOAS_IOVA_RANGES: ioas.ioasIovaRanges,
  IOMMU_IOAS_MAP: ioas.ioasMap,
  IOMMU_IOAS_UNMAP: ioas.ioasUnmap,
  IOMMU_OPTION: (c, u) => c.optionIoctl(u),
  IOMMU_VFIO_IOAS: (c, u) => c.vfioIoasIoctl(u),
  IOMMU_HWPT_ALLOC: hwpt.hwptAlloc,
  IOMMU_GET_HW_INFO: hwpt.getHwInfo,
  IOMMU_HWPT_SET_DIRTY_TRACKING: hwpt.setDirtyTracking,
  IOMMU_HWPT_GET_DIRTY_BITMAP: hwpt.getDirtyBitmap,
  IOMMU_HWPT_INVALIDATE: hwpt.hwptInvalidate,
  IOMMU_FAULT_QUEUE_ALLOC: viommu.faultQueueAlloc,
  IOMMU_IOAS_MAP_FILE: ioas.ioasMapFile,
  IOMMU_VIOMMU_ALLOC: viommu.viommuAlloc,
  IOMMU_VDEVICE_ALLOC: viommu.vdeviceAlloc,
  IOMMU_IOAS_CHANGE_PROCESS: ioas.ioasChangeProcess,
  IOMMU_VEVENTQ_ALLOC: viommu.veventqAlloc,
  IOMMU_HW_QUEUE_ALLOC: viommu.hwQueueAlloc,
};

/** The ioctl table of the modelled kernels (0x80 … 0x94; 0x95 arrived after v6.19). */
const TABLE: readonly IoctlDef[] = IOMMUFD_IOCTLS.filter((d) => d.nr <= 0x94);

/** An iommufd context. */
export class IommufdCtx implements FileOps {
  readonly label = '/dev/iommu';
  readonly host: Host;
  /** The process that opened it (pinned-page accounting goes to the mapping process). */
  readonly proc: Process;
  private readonly slots = new Map<number, Slot>();
  /** IOPT_PAGES_ACCOUNT_USER (0) or _MM (1) for new mappings. */
  accountMode: AccountMode = 'user';
  /** The VFIO compatibility IOAS (IOMMU_VFIO_IOAS). */
  vfioIoas: IoasObj | null = null;
  /** File references: the opening fd, bound devices, open vEVENTQ fds. */
  fileRefs = 1;
  released = false;

  constructor(host: Host, proc: Process) {
    this.host = host;
    this.proc = proc;
  }

  /** Per-user pinned-page accounting shared by the host. */
  get userAccount(): UserAccount {
    return this.host.userAccount;
  }

  // ---- object table ----

  /** Objects currently visible (ID → object), for inspection. */
  objects(): { id: number; type: ObjType | 'tombstone'; users: number }[] {
    const out: { id: number; type: ObjType | 'tombstone'; users: number }[] = [];
    for (const [id, s] of [...this.slots.entries()].sort((a, b) => a[0] - b[0])) {
      if (s === 'reserved') continue;
      if (s === 'tombstone') out.push({ id, type: 'tombstone', users: 0 });
      else out.push({ id, type: s.type, users: s.users });
    }
    return out;
  }

  /** True when the xarray holds no entry at all (tombstones count). */
  get empty(): boolean {
    return this.slots.size === 0;
  }

  /** The object of `id` for inspection (no fail_nth point, no type check); undefined if none. */
  peek(id: number): AnyObject | undefined {
    const s = this.slots.get(id);
    return s === undefined || s === 'reserved' || s === 'tombstone' ? undefined : s;
  }

  /** iommufd_get_object: the object of `id` with type `type` (any when undefined). */
  get<T extends AnyObject['type']>(
    id: number,
    type?: T,
  ): Extract<AnyObject, { type: T }> | undefined {
    if (this.host.faults.hit('lookup')) return undefined;
    const s = this.slots.get(id);
    if (!s || s === 'reserved' || s === 'tombstone' || s.dying) return undefined;
    if (type !== undefined && s.type !== type) return undefined;
    return s as Extract<AnyObject, { type: T }>;
  }

  /** _iommufd_object_alloc: reserves the lowest free ID for `obj`; -ENOMEM on failure. */
  alloc(obj: IommufdObject): number {
    if (this.host.faults.hit('alloc')) return -ENOMEM; // kzalloc
    if (this.host.faults.hit('alloc')) return -ENOMEM; // xa_alloc
    let id = 1;
    while (this.slots.has(id)) id++;
    if (id > ID_LIMIT) return -ENOMEM;
    obj.id = id;
    this.slots.set(id, 'reserved');
    return id;
  }

  /** iommufd_object_finalize: publishes the object. */
  finalize(obj: AnyObject): void {
    this.slots.set(obj.id, obj);
  }

  /** iommufd_object_abort: frees a reserved ID (the caller undid everything else). */
  abort(obj: IommufdObject): void {
    if (this.slots.get(obj.id) === 'reserved') this.slots.delete(obj.id);
    obj.id = 0;
  }

  /**
   * iommufd_object_remove: removes `obj` when the xarray holds the only reference. `tombstone`
   * keeps the ID reserved until close. 0, -ENOENT or -EBUSY.
   */
  remove(id: number, opts: { tombstone?: boolean; callerRef?: boolean } = {}): number {
    const s = this.slots.get(id);
    if (!s || s === 'reserved' || s === 'tombstone') return -ENOENT;
    if (opts.callerRef) s.users--;
    if (s.users !== 1) {
      if (opts.callerRef) s.users++;
      return -EBUSY;
    }
    s.users = 0;
    if (opts.tombstone) this.slots.set(id, 'tombstone');
    else this.slots.delete(id);
    if (this.vfioIoas === s) this.vfioIoas = null;
    s.destroy();
    return 0;
  }

  // ---- FileOps ----

  ioctl(request: number, arg: Uint8Array): number {
    const rc = this.dispatch(request, arg);
    const tr = this.host.trace;
    if (tr) {
      const name = TABLE.find((d) => d.request === request)?.name ?? `0x${request.toString(16)}`;
      tr({ kind: 'ioctl', name, ret: rc, bytes: arg.slice() });
    }
    return rc;
  }

  private dispatch(request: number, arg: Uint8Array): number {
    const nr = request & 0xff;
    if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= TABLE.length) return -ENOTTY;
    if (arg.length < 4) return -EFAULT;
    const userSize =
      (arg[0] ?? 0) | ((arg[1] ?? 0) << 8) | ((arg[2] ?? 0) << 16) | ((arg[3] ?? 0) << 24);
    const usize = userSize >>> 0;
    const op = TABLE[nr - IOMMUFD_CMD_BASE] as IoctlDef;
    if (op.request !== request) return -ENOTTY;
    if (usize < op.minSize) return -EINVAL;
    // copy_struct_from_user(kernel size, user size).
    const ksize = op.struct.size;
    if (usize > arg.length) return -EFAULT;
    if (usize > ksize) {
      for (let i = ksize; i < usize; i++) if (arg[i] !== 0) return -E2BIG;
    }
    const cmd = new Uint8Array(ksize);
    cmd.set(arg.subarray(0, Math.min(usize, ksize)));
    const handler = HANDLERS[op.name];
    if (!handler) return -ENOTTY;
    return handler(this, new Ucmd(cmd, usize, arg, this.proc));
  }

  release(): void {
    this.fileRefs--;
    if (this.fileRefs > 0 || this.released) return;
    this.released = true;
    this.destroyAll();
  }

  /** iommufd_fops_release: destroys every object whose only reference is the xarray's, repeatedly. */
  destroyAll(): void {
    for (;;) {
      let destroyed = 0;
      let seen = 0;
      for (const [id, s] of [...this.slots.entries()].sort((a, b) => a[0] - b[0])) {
        if (s === 'reserved' || s === 'tombstone') continue;
        seen++;
        if (s.users !== 1) continue;
        s.users = 0;
        this.slots.delete(id);
        s.destroy();
        destroyed++;
      }
      if (seen === 0 || destroyed === 0) break;
    }
    for (const [id, s] of [...this.slots.entries()]) if (s === 'tombstone') this.slots.delete(id);
  }

  // ---- simple ioctls ----

  /** IOMMU_DESTROY: never waits; EBUSY while referenced, ENOENT for unknown IDs and tombstones. */
  destroyIoctl(u: Ucmd): number {
    // A bound device also has its driver's (VFIO's) reference: only unbind destroys it.
    return this.remove(u.u32(4));
  }

  /** iommufd_object_abort_and_destroy of an unpublished HWPT. */
  abortHwpt(h: HwptPagingObj | HwptNestedObj): void {
    if (h instanceof HwptNestedObj) {
      h.viommu.users--;
      h.domain.free();
    } else this.abortHwptPaging(h);
    this.abort(h);
  }

  /** Undoes allocHwptPaging for an object that was never published. */
  abortHwptPaging(h: HwptPagingObj): void {
    h.ioas.iopt.removeDomain(h.domain);
    const i = h.ioas.hwpts.indexOf(h);
    if (i >= 0) h.ioas.hwpts.splice(i, 1);
    h.ioas.users--;
    h.domain.free();
    this.abort(h);
  }

  /** IOMMU_OPTION (RLIMIT_MODE, HUGE_PAGES). */
  optionIoctl(u: Ucmd): number {
    if (u.u16(10)) return -EOPNOTSUPP;
    const optionId = u.u32(4);
    const op = u.u16(8);
    const objectId = u.u32(12);
    let rc: number;
    if (optionId === OPTION.RLIMIT_MODE) {
      if (objectId) return -EOPNOTSUPP;
      if (op === OPTION.OP_GET) {
        u.set64(16, this.accountMode === 'mm' ? 1n : 0n);
        rc = 0;
      } else if (op === OPTION.OP_SET) {
        if (!this.proc.capSysResource) return -EPERM;
        if (!this.empty) return -EBUSY;
        const v = u.u64(16);
        if (v === 0n) this.accountMode = 'user';
        else if (v === 1n) this.accountMode = 'mm';
        else return -EINVAL;
        rc = 0;
      } else return -EOPNOTSUPP;
    } else if (optionId === OPTION.HUGE_PAGES) {
      const io = this.get(objectId, 'IOAS');
      if (!io) return -ENOENT;
      if (op === OPTION.OP_GET) {
        u.set64(16, io.iopt.disableLargePages ? 0n : 1n);
        rc = 0;
      } else if (op === OPTION.OP_SET) {
        const v = u.u64(16);
        if (v === 0n) rc = io.iopt.disableLarge();
        else if (v === 1n) {
          io.iopt.enableLarge();
          rc = 0;
        } else rc = -EINVAL;
      } else rc = -EOPNOTSUPP;
    } else return -EOPNOTSUPP;
    if (rc) return rc;
    // Only val64 is copied back.
    return u.respondField(16, 8);
  }

  /** IOMMU_VFIO_IOAS (GET / SET / CLEAR of the compatibility IOAS). */
  vfioIoasIoctl(u: Ucmd): number {
    if (u.u16(10)) return -EOPNOTSUPP;
    const op = u.u16(8);
    switch (op) {
      case VFIO_IOAS_OP.GET: {
        const io = this.vfioIoas;
        if (!io) return -ENODEV;
        u.set32(4, io.id);
        return u.respond(12);
      }
      case VFIO_IOAS_OP.SET: {
        const io = this.get(u.u32(4), 'IOAS');
        if (!io) return -ENOENT;
        this.vfioIoas = io;
        return 0;
      }
      case VFIO_IOAS_OP.CLEAR:
        this.vfioIoas = null;
        return 0;
      default:
        return -EOPNOTSUPP;
    }
  }

  /** Human-readable errno for logs. */
  static errname(rc: number): string {
    return rc < 0 ? errnoName(rc) : String(rc);
  }
}
