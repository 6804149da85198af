// A host process as the kernel sees it (interfaces.md §2): an address space of anonymous mappings
// (page granular, backed by host physical pages allocated on first touch or pin), a file-descriptor
// table, and the syscalls a VMM makes — mmap/munmap, open, ioctl, read, poll, close. Pointers inside
// ioctl structs are virtual addresses of this process; a pointer into unmapped memory gives -EFAULT
// exactly where the kernel's copy_from_user/copy_to_user/pin_user_pages would.
//
// Kernel references: mm/mmap.c (page-granular anonymous mappings), mm/gup.c (pinning),
// fs/ioctl.c (ioctl on a bad fd → EBADF), fs/read_write.c.

import { hex } from '../arch/bits.ts';
import { ERRNO } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import { PAGE_SHIFT, PAGE_SIZE } from './host-memory.ts';

/** What an open file does (the kernel's file_operations, reduced). */
export interface FileOps {
  /** ioctl(fd, request, arg): `arg` is the caller's struct bytes; output is written back into it. */
  ioctl(request: number, arg: Uint8Array): number;
  /** read(fd, n): bytes read or a negative errno. Absent → EINVAL. */
  read?(n: number): Uint8Array | number;
  /** write(fd, bytes): bytes consumed or a negative errno. Absent → EINVAL. */
  write?(bytes: Uint8Array): number;
  /** poll(): POLLIN-style readiness mask (0 when nothing to read). */
  poll?(): number;
  /** The last reference went away. */
  release(): void;
  /** Short description for inspection (`/dev/iommu`, `[iommufd-veventq]`, …). */
  readonly label: string;
}

/** poll() bits (include/uapi/asm-generic/poll.h). */
export const POLL = { IN: 0x1, RDNORM: 0x40 } as const;

/** The kernel side of the host a process talks to (implemented by Host). */
export interface ProcessHost {
  /** Allocates one zeroed physical page for process memory; -1 when out of memory. */
  allocUserPage(): number;
  /** Frees a physical page that backed process memory. */
  freeUserPage(pa: number): void;
  /** Physical memory access; `readPhys` returns a fresh copy that the caller owns. */
  readPhys(pa: number, len: number): Uint8Array;
  writePhys(pa: number, bytes: Uint8Array): void;
  /** Opens a device path for `proc`; a FileOps or a negative errno. */
  openPath(proc: Process, path: string): FileOps | number;
}

interface Vma {
  start: number;
  end: number;
}

/** Lowest address handed out by mmap (like the kernel's mmap_base, arbitrary but fixed). */
const MMAP_BASE = 0x7f00_0000_0000;
/** Largest user address (47-bit user space). */
const TASK_SIZE = 0x8000_0000_0000;

/** A process: address space + fd table. */
export class Process {
  private readonly vmas: Vma[] = [];
  /** Virtual page number → physical address of its backing page. */
  private readonly pages = new Map<number, number>();
  /** Pin counts per virtual page (pages with pins cannot be unmapped from under DMA). */
  private readonly pins = new Map<number, number>();
  private readonly fds = new Map<number, FileOps>();
  private nextMmap = MMAP_BASE;
  /** RLIMIT_MEMLOCK in bytes (Infinity = unlimited). */
  rlimitMemlock: number;
  /** CAP_IPC_LOCK: pinned pages are not accounted. */
  capIpcLock: boolean;
  /** CAP_SYS_RESOURCE: may change IOMMU_OPTION_RLIMIT_MODE. */
  capSysResource: boolean;
  /** mm->pinned_vm (pages). */
  pinnedVm = 0;
  /** mm->locked_vm (pages; used by RLIMIT_MODE=1 process accounting). */
  lockedVm = 0;

  private readonly host: ProcessHost;
  readonly pid: number;

  constructor(
    host: ProcessHost,
    pid: number,
    opts: { rlimitMemlock?: number; capIpcLock?: boolean; capSysResource?: boolean } = {},
  ) {
    this.host = host;
    this.pid = pid;
    this.rlimitMemlock = opts.rlimitMemlock ?? Number.POSITIVE_INFINITY;
    this.capIpcLock = opts.capIpcLock ?? false;
    this.capSysResource = opts.capSysResource ?? true;
  }

  // ---- memory ----

  /** Anonymous private mapping of `length` bytes (rounded up to pages); returns its address. */
  mmap(length: number | bigint): bigint {
    const len = Number(length);
    if (!Number.isSafeInteger(len) || len <= 0) {
      throw new VsmmuError('BAD_ARGUMENT', `mmap length ${String(length)} must be positive`);
    }
    const size = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
    const start = this.nextMmap;
    if (start + size > TASK_SIZE) throw new VsmmuError('OUT_OF_RANGE', 'address space exhausted');
    // One guard page between mappings keeps overruns from landing in the next mapping.
    this.nextMmap = start + size + PAGE_SIZE;
    this.vmas.push({ start, end: start + size });
    this.vmas.sort((a, b) => a.start - b.start);
    return BigInt(start);
  }

  /** Removes the mapping of [va, va+length) (whole pages); pinned pages stay allocated. */
  munmap(va: bigint, length: number | bigint): void {
    const start = Number(va);
    const end = start + Math.ceil(Number(length) / PAGE_SIZE) * PAGE_SIZE;
    if (start % PAGE_SIZE !== 0)
      throw new VsmmuError('BAD_ARGUMENT', 'munmap address not page aligned');
    const next: Vma[] = [];
    for (const v of this.vmas) {
      if (v.end <= start || v.start >= end) next.push(v);
      else {
        if (v.start < start) next.push({ start: v.start, end: start });
        if (v.end > end) next.push({ start: end, end: v.end });
      }
    }
    this.vmas.length = 0;
    this.vmas.push(...next);
    for (let p = start; p < end; p += PAGE_SIZE) {
      const vpn = p / PAGE_SIZE;
      const pa = this.pages.get(vpn);
      if (pa === undefined) continue;
      // A pinned page keeps its physical page (the pin holds a reference), like the kernel; it
      // is freed by the last unpin.
      if (this.pins.has(vpn)) continue;
      this.pages.delete(vpn);
      this.host.freeUserPage(pa);
    }
  }

  /** True when [va, va+len) lies in mappings. */
  isMapped(va: number, len: number): boolean {
    if (len === 0) return true;
    let p = va;
    const end = va + len;
    while (p < end) {
      const v = this.vmaAt(p);
      if (!v) return false;
      p = v.end;
    }
    return true;
  }

  private vmaAt(va: number): Vma | undefined {
    for (const v of this.vmas) if (va >= v.start && va < v.end) return v;
    return undefined;
  }

  private backing(vpn: number, alloc: boolean): number {
    const pa = this.pages.get(vpn);
    if (pa !== undefined) return pa;
    if (!alloc) return -1;
    const np = this.host.allocUserPage();
    if (np < 0) return -1;
    this.pages.set(vpn, np);
    return np;
  }

  /** The kernel's copy_from_user: the bytes, or null for a fault. */
  copyFromUser(va: number, len: number): Uint8Array | null {
    if (va < 0 || !Number.isSafeInteger(va) || !this.isMapped(va, len)) return null;
    const vpn0 = Math.floor(va / PAGE_SIZE);
    const off0 = va - vpn0 * PAGE_SIZE;
    if (len > 0 && off0 + len <= PAGE_SIZE) {
      // Within one page (every ioctl struct and most arrays): the backing bytes are the copy.
      const pa = this.backing(vpn0, false);
      if (pa >= 0) return this.host.readPhys(pa + off0, len);
    }
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = va + done;
      const vpn = Math.floor(a / PAGE_SIZE);
      const off = a - vpn * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - done);
      const pa = this.backing(vpn, false);
      if (pa >= 0) out.set(this.host.readPhys(pa + off, n), done);
      done += n;
    }
    return out;
  }

  /** The kernel's copy_to_user: false for a fault (nothing is written then). */
  copyToUser(va: number, bytes: Uint8Array): boolean {
    if (va < 0 || !Number.isSafeInteger(va) || !this.isMapped(va, bytes.length)) return false;
    let done = 0;
    while (done < bytes.length) {
      const a = va + done;
      const vpn = Math.floor(a / PAGE_SIZE);
      const off = a - vpn * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, bytes.length - done);
      const pa = this.backing(vpn, true);
      if (pa < 0) return false;
      this.host.writePhys(pa + off, bytes.subarray(done, done + n));
      done += n;
    }
    return true;
  }

  /** The VMM's own memory read (throws for unmapped memory: a segfault is the caller's bug). */
  readMem(va: bigint, len: number): Uint8Array {
    const b = this.copyFromUser(Number(va), len);
    if (!b) throw new VsmmuError('OUT_OF_RANGE', `read of unmapped memory at ${hex(va)}`);
    return b;
  }

  /** The VMM's own memory write (throws for unmapped memory). */
  write(va: bigint, bytes: Uint8Array): void {
    if (!this.copyToUser(Number(va), bytes)) {
      throw new VsmmuError('OUT_OF_RANGE', `write to unmapped memory at ${hex(va)}`);
    }
  }

  /**
   * pin_user_pages of `npages` pages from page-aligned `va`: the physical addresses, or a negative
   * errno (-EFAULT for an address outside every mapping, -ENOMEM when memory is exhausted).
   * Allocates backing pages on the way (the pin faults them in).
   */
  pinPages(va: number, npages: number): number[] | number {
    if (!this.isMapped(va, npages * PAGE_SIZE)) return -ERRNO.EFAULT;
    const out: number[] = [];
    for (let i = 0; i < npages; i++) {
      const vpn = va / PAGE_SIZE + i;
      const pa = this.backing(vpn, true);
      if (pa < 0) {
        for (let j = 0; j < i; j++) this.unpinOne(va / PAGE_SIZE + j);
        return -ERRNO.ENOMEM;
      }
      this.pins.set(vpn, (this.pins.get(vpn) ?? 0) + 1);
      out.push(pa);
    }
    return out;
  }

  private unpinOne(vpn: number): void {
    const c = this.pins.get(vpn) ?? 0;
    if (c > 1) {
      this.pins.set(vpn, c - 1);
      return;
    }
    this.pins.delete(vpn);
    // The mapping went away while pinned: the pin held the last reference to the page.
    if (!this.isMapped(vpn * PAGE_SIZE, 1)) {
      const pa = this.pages.get(vpn);
      if (pa !== undefined) {
        this.pages.delete(vpn);
        this.host.freeUserPage(pa);
      }
    }
  }

  /** unpin_user_pages for pages pinned by pinPages. */
  unpinPages(va: number, npages: number): void {
    for (let i = 0; i < npages; i++) this.unpinOne(va / PAGE_SIZE + i);
  }

  /** Number of virtual pages currently pinned at least once. */
  get pinnedPageCount(): number {
    return this.pins.size;
  }

  // ---- files ----

  private allocFd(): number {
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    return fd;
  }

  /** Installs a file and returns its fd (used by the kernel for anon-inode fds). */
  installFile(f: FileOps): number {
    const fd = this.allocFd();
    this.fds.set(fd, f);
    return fd;
  }

  /** The file behind an fd (kernel-internal fget). */
  file(fd: number): FileOps | undefined {
    return this.fds.get(fd);
  }

  /** open(path): an fd or a negative errno (-ENOENT for an unknown path). */
  open(path: string): number {
    const f = this.host.openPath(this, path);
    if (typeof f === 'number') return f;
    return this.installFile(f);
  }

  /** ioctl(fd, request, bytes) → 0 (or a positive value) | -errno; output is written into `bytes`. */
  ioctl(fd: number, request: number, bytes: Uint8Array): number {
    const f = this.fds.get(fd);
    if (!f) return -ERRNO.EBADF;
    return f.ioctl(request >>> 0, bytes);
  }

  /**
   * read: with a bigint address, the VMM reads its own memory (`read(va, len)`); with an fd, the
   * read(2) syscall (`read(fd, n)` → bytes or -errno).
   */
  read(fdOrVa: number | bigint, n: number): Uint8Array | number {
    if (typeof fdOrVa === 'bigint') return this.readMem(fdOrVa, n);
    const f = this.fds.get(fdOrVa);
    if (!f) return -ERRNO.EBADF;
    if (!f.read) return -ERRNO.EINVAL;
    return f.read(n);
  }

  /** write(2) on an fd (fault queue responses). */
  writeFd(fd: number, bytes: Uint8Array): number {
    const f = this.fds.get(fd);
    if (!f) return -ERRNO.EBADF;
    if (!f.write) return -ERRNO.EINVAL;
    return f.write(bytes);
  }

  /** poll(fd): the ready mask (POLLIN|POLLRDNORM when readable), or -EBADF. */
  poll(fd: number): number {
    const f = this.fds.get(fd);
    if (!f) return -ERRNO.EBADF;
    return f.poll ? f.poll() : 0;
  }

  /** close(fd): 0 or -EBADF. */
  close(fd: number): number {
    const f = this.fds.get(fd);
    if (!f) return -ERRNO.EBADF;
    this.fds.delete(fd);
    f.release();
    return 0;
  }

  /** Closes every fd (process exit), highest first. */
  exit(): void {
    for (const fd of [...this.fds.keys()].sort((a, b) => b - a)) this.close(fd);
  }

  /** Open fds and what they are. */
  listFds(): { fd: number; label: string }[] {
    return [...this.fds.entries()].map(([fd, f]) => ({ fd, label: f.label }));
  }
}

/** Page number of an address (for callers computing pin ranges). */
export function pageOf(va: number): number {
  return Math.floor(va / PAGE_SIZE);
}

/** log2 page size, re-exported for callers of the process API. */
export { PAGE_SHIFT, PAGE_SIZE };
