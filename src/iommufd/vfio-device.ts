// A VFIO device cdev fd (/dev/vfio/devices/vfioN; drivers/vfio/device_cdev.c, iommufd.c):
// VFIO_DEVICE_BIND_IOMMUFD (argsz ≥ offsetofend(out_devid), flags ⊆ {TOKEN}, iommufd ≥ 0; a
// second bind → EINVAL; a bad fd → EBADF, not an iommufd → EBADFD), VFIO_DEVICE_ATTACH_IOMMUFD_PT
// (attach when unattached, replace otherwise; pt_id written back), VFIO_DEVICE_DETACH_IOMMUFD_PT,
// and unbind on close. Other ioctls before bind → EINVAL; unknown ioctls → ENOTTY.

import { ERRNO } from '../arch/errno.ts';
import { deviceBind, deviceChangePt, deviceDetach, deviceUnbind } from './device.ts';
import type { HostDevice } from './host-device.ts';
import { IommufdCtx } from './iommufd.ts';
import type { DeviceObj } from './objects.ts';
import type { FileOps, Process } from './process.ts';
import { getU32, REQ, setU32, VFIO_FLAG } from './uapi.ts';

const { EINVAL, EFAULT, EBADF, EBADFD, ENOTTY, EOPNOTSUPP, E2BIG } = ERRNO;

/** An open VFIO device cdev. */
export class VfioDeviceFile implements FileOps {
  readonly label: string;
  readonly dev: HostDevice;
  readonly proc: Process;
  ctx: IommufdCtx | null = null;
  idev: DeviceObj | null = null;
  /** vdev->iommufd_attached. */
  attached = false;

  constructor(dev: HostDevice, proc: Process) {
    this.dev = dev;
    this.proc = proc;
    this.label = dev.path;
  }

  ioctl(request: number, arg: Uint8Array): number {
    if (request === REQ.VFIO_DEVICE_BIND_IOMMUFD) return this.bind(arg);
    if (!this.idev) return -EINVAL;
    switch (request) {
      case REQ.VFIO_DEVICE_ATTACH_IOMMUFD_PT:
        return this.attach(arg);
      case REQ.VFIO_DEVICE_DETACH_IOMMUFD_PT:
        return this.detach(arg);
      default:
        return -ENOTTY;
    }
  }

  private bind(arg: Uint8Array): number {
    const minsz = 16;
    if (arg.length < 4) return -EFAULT;
    const userSize = getU32(arg, 0);
    if (userSize < minsz) return -EINVAL;
    if (userSize > arg.length) return -EFAULT;
    // copy_struct_from_user(&bind, minsz, arg, user_size): bytes beyond minsz must be zero.
    for (let i = minsz; i < userSize; i++) if (arg[i] !== 0) return -E2BIG;
    const flags = getU32(arg, 4);
    const fd = getU32(arg, 8) | 0;
    if (fd < 0 || flags & ~VFIO_FLAG.BIND_FLAG_TOKEN) return -EINVAL;
    if (this.idev || this.dev.boundBy) return -EINVAL;
    // vfio-pci devices without a VF token: the TOKEN flag is refused.
    if (flags & VFIO_FLAG.BIND_FLAG_TOKEN) return -EINVAL;
    const f = this.proc.file(fd);
    if (!f) return -EBADF;
    if (!(f instanceof IommufdCtx)) return -EBADFD;
    const idev = deviceBind(f, this.dev);
    if (typeof idev === 'number') return idev;
    f.fileRefs++;
    this.ctx = f;
    this.idev = idev;
    this.dev.boundBy = this;
    setU32(arg, 12, idev.id);
    return 0;
  }

  private attach(arg: Uint8Array): number {
    const minsz = 12;
    if (arg.length < minsz) return -EFAULT;
    if (getU32(arg, 0) < minsz) return -EINVAL;
    const flags = getU32(arg, 4);
    if (flags & ~VFIO_FLAG.ATTACH_PASID) return -EINVAL;
    // IMPDEF (model scope): PASID attachment is not modelled.
    if (flags & VFIO_FLAG.ATTACH_PASID) return -EOPNOTSUPP;
    const ctx = this.ctx as IommufdCtx;
    const idev = this.idev as DeviceObj;
    const r = deviceChangePt(ctx, idev, getU32(arg, 8), this.attached);
    if (r < 0) return r;
    this.attached = true;
    setU32(arg, 8, r);
    return 0;
  }

  private detach(arg: Uint8Array): number {
    const minsz = 8;
    if (arg.length < minsz) return -EFAULT;
    if (getU32(arg, 0) < minsz) return -EINVAL;
    const flags = getU32(arg, 4);
    if (flags & ~VFIO_FLAG.DETACH_PASID) return -EINVAL;
    if (flags & VFIO_FLAG.DETACH_PASID) return -EOPNOTSUPP;
    if (this.attached) {
      deviceDetach(this.ctx as IommufdCtx, this.idev as DeviceObj);
      this.attached = false;
    }
    return 0;
  }

  release(): void {
    const ctx = this.ctx;
    const idev = this.idev;
    if (ctx && idev) {
      deviceUnbind(ctx, idev);
      this.dev.boundBy = null;
      this.idev = null;
      this.ctx = null;
      this.attached = false;
      ctx.release();
    }
  }
}
