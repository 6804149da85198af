// One ioctl in flight (struct iommufd_ucmd): the kernel's copy of the user struct (zero-extended
// to the kernel size), the user's `size`, the user bytes to write the response into, and the
// process whose memory the struct's pointers refer to. `respond` is iommufd_ucmd_respond: it copies
// min(user size, kernel size) bytes back, as the kernel does.

import { ERRNO } from '../arch/errno.ts';
import type { Process } from './process.ts';
import { getU16, getU32, getU64, getU64Num, setU32, setU64, setU64Num } from './uapi.ts';

/** An ioctl in flight. */
export class Ucmd {
  /** Kernel copy of the struct (length = kernel size). */
  readonly cmd: Uint8Array;
  /** The user's `size` field. */
  readonly userSize: number;
  /** The user's bytes (the struct in user memory). */
  readonly user: Uint8Array;
  readonly proc: Process;

  constructor(cmd: Uint8Array, userSize: number, user: Uint8Array, proc: Process) {
    this.cmd = cmd;
    this.userSize = userSize;
    this.user = user;
    this.proc = proc;
  }

  u16(off: number): number {
    return getU16(this.cmd, off);
  }

  u32(off: number): number {
    return getU32(this.cmd, off);
  }

  u64(off: number): bigint {
    return getU64(this.cmd, off);
  }

  /** A u64 as a number, or -1 when ≥ 2^53. */
  u64n(off: number): number {
    return getU64Num(this.cmd, off);
  }

  set32(off: number, v: number): void {
    setU32(this.cmd, off, v);
  }

  set64(off: number, v: bigint): void {
    setU64(this.cmd, off, v);
  }

  set64n(off: number, v: number): void {
    setU64Num(this.cmd, off, v);
  }

  /** iommufd_ucmd_respond: copies min(user size, `len`) bytes of the kernel struct back. */
  respond(len: number): number {
    const n = Math.min(this.userSize, len, this.cmd.length);
    const user = this.user;
    const cmd = this.cmd;
    if (n <= user.length) {
      // A plain loop: structs are a few dozen bytes, cheaper than a subarray view plus set.
      for (let i = 0; i < n; i++) user[i] = cmd[i] as number;
    } else user.set(cmd.subarray(0, n)); // RangeError, as before
    return 0;
  }

  /** copy_to_user of one field (offset, length) of the kernel struct. */
  respondField(off: number, len: number): number {
    if (off + len > this.user.length) return -ERRNO.EFAULT;
    this.user.set(this.cmd.subarray(off, off + len), off);
    return 0;
  }

  /** copy_from_user at a process address: bytes or null for a fault. */
  readUser(va: number, len: number): Uint8Array | null {
    if (va < 0) return null;
    return this.proc.copyFromUser(va, len);
  }

  /** copy_to_user at a process address: false for a fault. */
  writeUser(va: number, bytes: Uint8Array): boolean {
    if (va < 0) return false;
    return this.proc.copyToUser(va, bytes);
  }
}
