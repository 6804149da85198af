// Linux errno numbers (include/uapi/asm-generic/errno-base.h and errno.h, plus the kernel-internal
// ENOIOCTLCMD from include/linux/errno.h). The kernel model returns negative numbers (-22); text,
// JSON and YAML use the names ("EINVAL"); this table maps both ways (interfaces.md §3).

/** errno values by name. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  ENODATA: 61,
  ETIME: 62,
  EOVERFLOW: 75,
  EBADFD: 77,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
  /** Kernel-internal (never reaches userspace: the ioctl layer turns it into ENOTTY). */
  ENOIOCTLCMD: 515,
} as const;

/** An errno name. */
export type ErrnoName = keyof typeof ERRNO;

const BY_NUMBER = new Map<number, ErrnoName>(
  (Object.entries(ERRNO) as [ErrnoName, number][]).map(([k, v]) => [v, k]),
);

/** Name of an errno given as a positive or negative number (`-22` → `EINVAL`). */
export function errnoName(n: number): string {
  return BY_NUMBER.get(Math.abs(n)) ?? `E#${Math.abs(n)}`;
}

/** Number of an errno name (`EINVAL` → 22); undefined for unknown names. */
export function errnoNumber(name: string): number | undefined {
  return (ERRNO as Record<string, number>)[name];
}
