// A recording fake of the kernel for the VMM unit tests: it implements the VMM's syscall surface
// and decodes every ioctl with byte offsets written here by hand from the kernel headers
// (include/uapi/linux/iommufd.h, include/uapi/linux/vfio.h) — never through src/iommufd/uapi.ts —
// so a layout mistake in the VMM shows up as a wrong decoded value. Behaviour is the minimum the
// VMM needs: IDs from 1, a vSTE check written from the UAPI doc of struct iommu_hwpt_arm_smmuv3,
// scriptable failures, and a vEVENTQ fd fed by the test.

/** One decoded ioctl. */
export interface FakeCall {
  readonly name: string;
  readonly fd: number;
  readonly f: Record<string, bigint>;
  /** Driver data the call pointed at (vSTE words, invalidation commands). */
  readonly data: bigint[];
  ret: number;
}

const EIO = 5;
const ENOENT = 2;
const PAGE = 4096;

// Request numbers: _IO(';' = 0x3b, nr).
const REQ: Record<number, string> = {
  15232: 'IOMMU_DESTROY',
  15233: 'IOMMU_IOAS_ALLOC',
  15236: 'IOMMU_IOAS_IOVA_RANGES',
  15237: 'IOMMU_IOAS_MAP',
  15238: 'IOMMU_IOAS_UNMAP',
  15241: 'IOMMU_HWPT_ALLOC',
  15242: 'IOMMU_GET_HW_INFO',
  15245: 'IOMMU_HWPT_INVALIDATE',
  15248: 'IOMMU_VIOMMU_ALLOC',
  15249: 'IOMMU_VDEVICE_ALLOC',
  15251: 'IOMMU_VEVENTQ_ALLOC',
  // VFIO_BASE 100 + 18/19/20.
  15222: 'VFIO_DEVICE_BIND_IOMMUFD',
  15223: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
  15224: 'VFIO_DEVICE_DETACH_IOMMUFD_PT',
};

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Host ID registers the fake reports (QEMU virt values unless overridden). */
export interface FakeHostIdr {
  idr: number[];
  iidr: number;
  aidr: number;
}

/** Kernel-side vSTE check of the UAPI doc: V=0 accepted; else only the allowed fields, Cfg ∈ {abort, bypass, S1}, EATS ≤ 1. */
export function fakeValidateVste(w0: bigint, w1: bigint): number {
  if ((w0 & 1n) === 0n) return 0;
  // word0: V[0], Cfg[3:1], S1Fmt[5:4], S1ContextPtr[51:6], S1CDMax[63:59].
  const allowed0 = 0xf80f_ffff_ffff_ffffn;
  // word1: S1DSS[1:0], S1CIR[3:2], S1COR[5:4], S1CSH[7:6], S1STALLD[27], EATS[29:28].
  const allowed1 = 0x3800_00ffn;
  if ((w0 & ~allowed0) !== 0n || (w1 & ~allowed1) !== 0n) return -EIO;
  const cfg = Number((w0 >> 1n) & 7n);
  if (cfg !== 0 && cfg !== 4 && cfg !== 5) return -EIO;
  if (((w1 >> 28n) & 3n) > 1n) return -EIO;
  return 0;
}

/** The fake kernel + process. */
export class FakeKernel {
  readonly calls: FakeCall[] = [];
  readonly hostIdr: FakeHostIdr = {
    idr: [0x0d44101b, 0x02730010, 0, 0x1414, 0, 0x74],
    iidr: 0x43b,
    aidr: 1,
  };
  /** Errno to return (once) for the next call of a given ioctl name. */
  readonly failNext = new Map<string, number>();
  /** Custom invalidation behaviour: return {ret, handled} to fail, undefined to succeed. */
  invalidate: ((cmds: bigint[][]) => { ret: number; handled: number } | undefined) | undefined;
  /** Byte chunks the vEVENTQ fd returns, one per read. */
  readonly veventq: Uint8Array[] = [];
  /** Invalidation commands that took effect, in order. */
  readonly executed: bigint[][] = [];
  private readonly pages = new Map<number, Uint8Array>();
  private nextVa = 0x7f00_0000_0000;
  private nextId = 1;
  private readonly fds = new Map<number, string>();
  private nextFd = 3;
  veventqFd = -1;
  readonly attached = new Map<number, number>();

  // ---- memory ----

  mmap(length: number | bigint): bigint {
    const va = this.nextVa;
    const n = Math.ceil(Number(length) / PAGE);
    for (let i = 0; i < n; i++) this.pages.set(va / PAGE + i, new Uint8Array(PAGE));
    this.nextVa += (n + 1) * PAGE;
    return BigInt(va);
  }

  private bytesAt(va: number, n: number): Uint8Array | undefined {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const p = this.pages.get(Math.floor((va + i) / PAGE));
      if (!p) return undefined;
      out[i] = p[(va + i) % PAGE] as number;
    }
    return out;
  }

  write(va: bigint, bytes: Uint8Array): void {
    const a = Number(va);
    for (let i = 0; i < bytes.length; i++) {
      const p = this.pages.get(Math.floor((a + i) / PAGE));
      if (!p) throw new Error(`fake: write to unmapped ${a + i}`);
      p[(a + i) % PAGE] = bytes[i] as number;
    }
  }

  read(fdOrVa: number | bigint, n: number): Uint8Array | number {
    if (typeof fdOrVa === 'bigint') {
      const b = this.bytesAt(Number(fdOrVa), n);
      if (!b) throw new Error('fake: read of unmapped memory');
      return b;
    }
    if (fdOrVa !== this.veventqFd) return -9;
    const chunk = this.veventq.shift();
    return chunk ?? new Uint8Array(0);
  }

  poll(fd: number): number {
    if (fd !== this.veventqFd) return -9;
    return this.veventq.length > 0 ? 1 : 0;
  }

  open(path: string): number {
    const fd = this.nextFd++;
    this.fds.set(fd, path);
    return fd;
  }

  close(fd: number): number {
    return this.fds.delete(fd) ? 0 : -9;
  }

  /** Reads `n` little-endian u64 words at a user VA. */
  words(va: bigint, n: number): bigint[] {
    const b = this.bytesAt(Number(va), 8 * n);
    if (!b) throw new Error('fake: bad pointer');
    const d = dv(b);
    return Array.from({ length: n }, (_, i) => d.getBigUint64(8 * i, true));
  }

  // ---- ioctl ----

  ioctl(fd: number, request: number, b: Uint8Array): number {
    const name = REQ[request] ?? `0x${request.toString(16)}`;
    const d = dv(b);
    const u32 = (o: number) => BigInt(d.getUint32(o, true));
    const u64 = (o: number) => d.getBigUint64(o, true);
    const f: Record<string, bigint> = {};
    const data: bigint[] = [];
    const call: FakeCall = { name, fd, f, data, ret: 0 };
    this.calls.push(call);
    const forced = this.failNext.get(name);
    const id = () => this.nextId++;
    let ret = 0;
    switch (name) {
      case 'IOMMU_IOAS_ALLOC':
        d.setUint32(8, id(), true);
        break;
      case 'IOMMU_IOAS_MAP':
        Object.assign(f, {
          flags: u32(4),
          ioas_id: u32(8),
          user_va: u64(16),
          length: u64(24),
          iova: u64(32),
        });
        break;
      case 'IOMMU_IOAS_UNMAP':
        Object.assign(f, { ioas_id: u32(4), iova: u64(8), length: u64(16) });
        break;
      case 'IOMMU_IOAS_IOVA_RANGES': {
        Object.assign(f, { ioas_id: u32(4), num_iovas: u32(8), allowed_iovas: u64(16) });
        const r = new Uint8Array(16);
        new DataView(r.buffer).setBigUint64(8, (1n << 48n) - 1n, true);
        this.write(f['allowed_iovas'] as bigint, r);
        d.setUint32(8, 1, true);
        break;
      }
      case 'VFIO_DEVICE_BIND_IOMMUFD':
        Object.assign(f, {
          argsz: u32(0),
          flags: u32(4),
          iommufd: u32(8),
          out_devid: BigInt(this.nextId),
        });
        d.setUint32(12, id(), true);
        break;
      case 'VFIO_DEVICE_ATTACH_IOMMUFD_PT':
        Object.assign(f, { argsz: u32(0), flags: u32(4), pt_id: u32(8), pasid: u32(12) });
        if (forced === undefined) this.attached.set(fd, Number(f['pt_id']));
        break;
      case 'VFIO_DEVICE_DETACH_IOMMUFD_PT':
        Object.assign(f, { argsz: u32(0) });
        this.attached.delete(fd);
        break;
      case 'IOMMU_GET_HW_INFO': {
        Object.assign(f, {
          size: u32(0),
          flags: u32(4),
          dev_id: u32(8),
          data_len: u32(12),
          data_uptr: u64(16),
        });
        const p = new Uint8Array(40);
        const pd = dv(p);
        this.hostIdr.idr.forEach((v, i) => {
          pd.setUint32(8 + 4 * i, v, true);
        });
        pd.setUint32(32, this.hostIdr.iidr, true);
        pd.setUint32(36, this.hostIdr.aidr, true);
        this.write(f['data_uptr'] as bigint, p.subarray(0, Number(f['data_len'])));
        d.setUint32(12, 40, true);
        d.setUint32(24, 2, true);
        break;
      }
      case 'IOMMU_HWPT_ALLOC': {
        Object.assign(f, {
          flags: u32(4),
          dev_id: u32(8),
          pt_id: u32(12),
          data_type: u32(24),
          data_len: u32(28),
          data_uptr: u64(32),
        });
        if (f['data_type'] === 2n) {
          data.push(...this.words(f['data_uptr'] as bigint, 2));
          ret = fakeValidateVste(data[0] as bigint, data[1] as bigint);
        }
        if (ret === 0) d.setUint32(16, id(), true);
        break;
      }
      case 'IOMMU_VIOMMU_ALLOC':
        Object.assign(f, { flags: u32(4), type: u32(8), dev_id: u32(12), hwpt_id: u32(16) });
        d.setUint32(20, id(), true);
        break;
      case 'IOMMU_VDEVICE_ALLOC':
        Object.assign(f, { viommu_id: u32(4), dev_id: u32(8), virt_id: u64(16) });
        d.setUint32(12, id(), true);
        break;
      case 'IOMMU_VEVENTQ_ALLOC': {
        Object.assign(f, {
          flags: u32(4),
          viommu_id: u32(8),
          type: u32(12),
          veventq_depth: u32(16),
        });
        d.setUint32(20, id(), true);
        this.veventqFd = this.open('[veventq]');
        d.setUint32(24, this.veventqFd, true);
        break;
      }
      case 'IOMMU_HWPT_INVALIDATE': {
        Object.assign(f, {
          hwpt_id: u32(4),
          data_uptr: u64(8),
          data_type: u32(16),
          entry_len: u32(20),
          entry_num: u32(24),
        });
        const n = Number(f['entry_num']);
        const cmds: bigint[][] = [];
        const all = this.words(f['data_uptr'] as bigint, 2 * n);
        for (let i = 0; i < n; i++) cmds.push([all[2 * i] as bigint, all[2 * i + 1] as bigint]);
        data.push(...all);
        const fail = this.invalidate?.(cmds);
        if (fail) {
          d.setUint32(24, fail.handled, true);
          ret = fail.ret;
        } else {
          this.executed.push(...cmds);
        }
        break;
      }
      case 'IOMMU_DESTROY':
        Object.assign(f, { id: u32(4) });
        if (f['id'] === 0n) ret = -ENOENT;
        break;
      default:
        ret = -25;
    }
    if (forced !== undefined) {
      this.failNext.delete(name);
      ret = forced;
    }
    call.ret = ret;
    return ret;
  }

  /** Calls of one ioctl. */
  named(name: string): FakeCall[] {
    return this.calls.filter((c) => c.name === name);
  }
}

/** Bytes of a vEVENTQ read: header {flags, sequence} + 4 LE words per record. */
export function veventBytes(
  items: readonly ({ seq: number; raw: readonly bigint[] } | { lost: number })[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const it of items) {
    if ('lost' in it) {
      const h = new Uint8Array(8);
      new DataView(h.buffer).setUint32(0, 1, true);
      new DataView(h.buffer).setUint32(4, it.lost, true);
      parts.push(h);
    } else {
      const r = new Uint8Array(40);
      const v = new DataView(r.buffer);
      v.setUint32(4, it.seq, true);
      it.raw.forEach((w, i) => {
        v.setBigUint64(8 + 8 * i, w, true);
      });
      parts.push(r);
    }
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
