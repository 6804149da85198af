// The syscall surface a VMM uses (interfaces.md §2): the Linux system calls QEMU, Cloud Hypervisor
// and OpenVMM make to run an accelerated vSMMU — open(2) on /dev/iommu and a VFIO cdev,
// ioctl(2) with byte-exact structs (include/uapi/linux/iommufd.h, include/uapi/linux/vfio.h),
// read(2)/poll(2) on the vEVENTQ fd, mmap(2) for guest RAM and ioctl payloads, close(2). The VMM
// reaches the kernel model only through this interface; the kernel model's `Process` satisfies it
// structurally, and unit tests substitute a recording fake.

/** What the VMM may do to the kernel: the system calls of one host process. */
export interface VmmSyscalls {
  /** open(path): an fd or a negative errno. */
  open(path: string): number;
  /** ioctl(fd, request, bytes): 0 (or a positive value) or a negative errno; output is written into `bytes`. */
  ioctl(fd: number, request: number, bytes: Uint8Array): number;
  /** read(fd, n) on a file (bytes or a negative errno), or read of the process's own memory at a VA. */
  read(fdOrVa: number | bigint, n: number): Uint8Array | number;
  /** poll(fd): readiness mask (POLLIN when readable) or a negative errno. */
  poll(fd: number): number;
  /** close(fd): 0 or a negative errno. */
  close(fd: number): number;
  /** Anonymous mapping of `length` bytes; returns its virtual address. */
  mmap(length: number | bigint): bigint;
  /** Writes the process's own memory at a VA. */
  write(va: bigint, bytes: Uint8Array): void;
}

/** poll() bit for "readable" (include/uapi/asm-generic/poll.h POLLIN). */
export const POLLIN = 0x1;
