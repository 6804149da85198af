// The system calls of the VMM process as a scenario sees them (interfaces.md §2): the kernel
// model's Process behind a thin wrapper that counts every ioctl by its macro name
// (include/uapi/linux/iommufd.h, vfio.h) — the VMM's own calls and the scenario's raw ioctl steps go
// through the same wrapper, so the `ioctls` counter of a run (issue 6 item 5) covers both.

import type { Process } from '../iommufd/process.ts';
import { requestName } from '../iommufd/uapi.ts';

/** The syscall surface of one process, counting ioctls. */
export class CountingSyscalls {
  readonly proc: Process;
  /** ioctls by macro name (`0x…` for unknown request numbers). */
  readonly ioctls: Record<string, number> = {};
  /** Called after every ioctl (name, return value). */
  onIoctl: ((name: string, ret: number) => void) | undefined;

  constructor(proc: Process) {
    this.proc = proc;
  }

  open(path: string): number {
    return this.proc.open(path);
  }

  ioctl(fd: number, request: number, bytes: Uint8Array): number {
    const name = requestName(request >>> 0) ?? `0x${(request >>> 0).toString(16)}`;
    this.ioctls[name] = (this.ioctls[name] ?? 0) + 1;
    const ret = this.proc.ioctl(fd, request, bytes);
    this.onIoctl?.(name, ret);
    return ret;
  }

  read(fdOrVa: number | bigint, n: number): Uint8Array | number {
    return this.proc.read(fdOrVa, n);
  }

  poll(fd: number): number {
    return this.proc.poll(fd);
  }

  close(fd: number): number {
    return this.proc.close(fd);
  }

  mmap(length: number | bigint): bigint {
    return this.proc.mmap(length);
  }

  write(va: bigint, bytes: Uint8Array): void {
    this.proc.write(va, bytes);
  }

  /** copy_from_user-style read of process memory: bytes, or null when unmapped. */
  peek(va: bigint, len: number): Uint8Array | null {
    if (va < 0n || va >= 1n << 53n) return null;
    return this.proc.copyFromUser(Number(va), len);
  }
}
