// IOAS ioctls against drivers/iommu/iommufd/ioas.c + io_pagetable.c rules: MAP/UNMAP/COPY/
// IOVA_RANGES/ALLOW_IOVAS, OPTION (RLIMIT_MODE, HUGE_PAGES), pinning and accounting, checklist
// row 85 (unmap of unmapped / split → ENOENT; too small range array → EMSGSIZE). Bytes by hand.

import { describe, expect, it } from 'vitest';
import { attach, E, hwptAlloc, ioasAlloc, ioasMap, R, rig, S } from './iommufd-harness.ts';

const U64_MAX = (1n << 64n) - 1n;

function unmap(r: ReturnType<typeof rig>, ioas: number, iova: bigint, length: bigint) {
  const s = new S(24).u32(4, ioas).u64(8, iova).u64(16, length);
  return { rc: r.io(r.fd, R.IOAS_UNMAP, s), length: s.g64(16) };
}

function ranges(r: ReturnType<typeof rig>, ioas: number, cap: number) {
  const arr = r.p.mmap(4096);
  const s = new S(32).u32(4, ioas).u32(8, cap).u64(16, arr);
  const rc = r.io(r.fd, R.IOAS_IOVA_RANGES, s);
  const raw = r.p.readMem(arr, 16 * Math.max(cap, 1));
  const dv = new DataView(raw.buffer);
  const out: [bigint, bigint][] = [];
  for (let i = 0; i < Math.min(cap, s.g32(8)); i++) {
    out.push([dv.getBigUint64(16 * i, true), dv.getBigUint64(16 * i + 8, true)]);
  }
  return { rc, num: s.g32(8), align: s.g64(24), out };
}

describe('IOMMU_IOAS_MAP', () => {
  it('flag and range checks in kernel order', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const va = r.p.mmap(0x4000);
    // iova >= ULONG_MAX → EOVERFLOW (before the R/W check)
    expect(
      r.io(
        r.fd,
        R.IOAS_MAP,
        new S(40).u32(4, 1).u32(8, ioas).u64(16, va).u64(24, 0x1000).u64(32, U64_MAX),
      ),
    ).toBe(E.EOVERFLOW);
    // neither READABLE nor WRITEABLE → EINVAL
    expect(
      r.io(r.fd, R.IOAS_MAP, new S(40).u32(4, 1).u32(8, ioas).u64(16, va).u64(24, 0x1000)),
    ).toBe(E.EINVAL);
    // unknown IOAS → ENOENT
    expect(r.io(r.fd, R.IOAS_MAP, new S(40).u32(4, 7).u32(8, 99).u64(16, va).u64(24, 0x1000))).toBe(
      E.ENOENT,
    );
    // length 0 at a non-zero user address: uptr + (0 - 1) overflows → EOVERFLOW
    expect(r.io(r.fd, R.IOAS_MAP, new S(40).u32(4, 7).u32(8, ioas).u64(16, va).u64(24, 0))).toBe(
      E.EOVERFLOW,
    );
    // FIXED_IOVA overlapping an existing mapping → EEXIST
    expect(ioasMap(r, ioas, 0x10000n, 0x2000, { va })).toBe(0);
    expect(ioasMap(r, ioas, 0x11000n, 0x2000, { va })).toBe(E.EEXIST);
  });

  it('without FIXED_IOVA the kernel picks an IOVA (never 0, aligned to the length) and writes it back', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const s = new S(40).u32(4, 6).u32(8, ioas).u64(16, r.p.mmap(0x4000)).u64(24, 0x4000);
    expect(r.io(r.fd, R.IOAS_MAP, s)).toBe(0);
    const iova = s.g64(32);
    // iopt_alloc_iova starts at PAGE_SIZE, aligned to min(roundup_pow2(len), lowest bit of uptr)
    expect(iova).toBe(0x4000n);
    const s2 = new S(40).u32(4, 6).u32(8, ioas).u64(16, r.p.mmap(0x1000)).u64(24, 0x1000);
    expect(r.io(r.fd, R.IOAS_MAP, s2)).toBe(0);
    expect(s2.g64(32)).toBe(0x1000n);
  });

  it('pins user memory only while a domain mirrors the IOAS; an unmapped VA faults at that point', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    expect(ioasMap(r, ioas, 0x4000_0000n, 0x3000)).toBe(0);
    expect(r.p.pinnedVm).toBe(0);
    // a mapping of memory the process never mmapped is accepted while nothing needs the pages …
    expect(ioasMap(r, ioas, 0x5000_0000n, 0x1000, { va: 0x1000n })).toBe(0);
    // … and the domain that would have to pin it cannot be created (EFAULT); nothing changed
    const h = hwptAlloc(r, r.devid[0] as number, ioas, 0);
    expect(h.rc).toBe(E.EFAULT);
    expect(r.p.pinnedVm).toBe(0);
    expect(unmap(r, ioas, 0x5000_0000n, 0x1000n).rc).toBe(0);
    const h2 = hwptAlloc(r, r.devid[0] as number, ioas, 0);
    expect(h2.rc).toBe(0);
    expect(r.p.pinnedVm).toBe(3);
    expect(r.host.userAccount.lockedVm).toBe(3);
    // a later map pins right away
    expect(ioasMap(r, ioas, 0x6000_0000n, 0x2000)).toBe(0);
    expect(r.p.pinnedVm).toBe(5);
    // with a domain the alignment is 4 KiB
    expect(ioasMap(r, ioas, 0x7000_0800n, 0x1000)).toBe(E.EINVAL);
  });

  it('RLIMIT_MEMLOCK: pinning beyond the limit → ENOMEM, nothing pinned', () => {
    const r = rig({ options: { rlimitMemlock: 0x4000 } });
    const ioas = ioasAlloc(r);
    expect(hwptAlloc(r, r.devid[0] as number, ioas, 0).rc).toBe(0);
    expect(ioasMap(r, ioas, 0x4000_0000n, 0x4000)).toBe(0);
    expect(ioasMap(r, ioas, 0x5000_0000n, 0x1000)).toBe(E.ENOMEM);
    expect(r.p.pinnedVm).toBe(4);
    expect(unmap(r, ioas, 0x4000_0000n, 0x4000n).rc).toBe(0);
    expect(r.p.pinnedVm).toBe(0);
    expect(r.host.userAccount.lockedVm).toBe(0);
  });
});

describe('row 85 and IOMMU_IOAS_UNMAP', () => {
  it('unmap of nothing → ENOENT; splitting a mapping → ENOENT; superset unmaps whole areas', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    expect(unmap(r, ioas, 0x10000n, 0x1000n).rc).toBe(E.ENOENT);
    expect(ioasMap(r, ioas, 0x10000n, 0x4000)).toBe(0);
    expect(ioasMap(r, ioas, 0x20000n, 0x1000)).toBe(0);
    expect(unmap(r, ioas, 0x11000n, 0x1000n).rc).toBe(E.ENOENT); // inside
    expect(unmap(r, ioas, 0x10000n, 0x2000n).rc).toBe(E.ENOENT); // truncating
    expect(unmap(r, ioas, 0x10000n, 0x0n).rc).toBe(E.EINVAL);
    const all = unmap(r, ioas, 0n, U64_MAX);
    expect(all.rc).toBe(0);
    expect(all.length).toBe(0x5000n);
    // 0/U64_MAX on an empty IOAS succeeds with 0 bytes
    expect(unmap(r, ioas, 0n, U64_MAX)).toEqual({ rc: 0, length: 0n });
  });

  it('a superset covering several areas unmaps them all and reports the bytes', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    expect(ioasMap(r, ioas, 0x10000n, 0x2000)).toBe(0);
    expect(ioasMap(r, ioas, 0x13000n, 0x1000)).toBe(0);
    expect(unmap(r, ioas, 0x8000n, 0x20000n)).toEqual({ rc: 0, length: 0x3000n });
  });
});

describe('IOMMU_IOAS_IOVA_RANGES / ALLOW_IOVAS', () => {
  it('a fresh IOAS has the full range; attaching reserves the SW MSI window', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const fresh = ranges(r, ioas, 4);
    expect(fresh.rc).toBe(0);
    expect(fresh.out).toEqual([[0n, U64_MAX]]);
    expect(fresh.align).toBe(1n);
    expect(attach(r, 0, ioas).rc).toBe(0); // auto domain
    const after = ranges(r, ioas, 4);
    // MSI_IOVA_BASE 0x8000000, length 0x100000; the S1 domain's aperture ends at 2^48 - 1
    expect(after.out).toEqual([
      [0n, 0x7ff_ffffn],
      [0x810_0000n, (1n << 48n) - 1n],
    ]);
    expect(after.align).toBe(4096n);
    // too small an array → EMSGSIZE, num_iovas = the needed count
    const small = ranges(r, ioas, 1);
    expect(small.rc).toBe(E.EMSGSIZE);
    expect(small.num).toBe(2);
  });

  it('ALLOW_IOVAS: start >= last → EINVAL; overlap → EINVAL; reserved meet → EADDRINUSE', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const arr = r.p.mmap(4096);
    const put = (list: [bigint, bigint][]) => {
      const b = new Uint8Array(16 * list.length);
      const dv = new DataView(b.buffer);
      list.forEach(([s, l], i) => {
        dv.setBigUint64(16 * i, s, true);
        dv.setBigUint64(16 * i + 8, l, true);
      });
      r.p.write(arr, b);
      return r.io(
        r.fd,
        R.IOAS_ALLOW_IOVAS,
        new S(24).u32(4, ioas).u32(8, list.length).u64(16, arr),
      );
    };
    expect(put([[0x1000n, 0x1000n]])).toBe(E.EINVAL);
    expect(
      put([
        [0x1000n, 0x4fffn],
        [0x3000n, 0x8fffn],
      ]),
    ).toBe(E.EINVAL);
    expect(put([[0x100_0000n, 0x1ff_ffffn]])).toBe(0);
    // the next auto-allocated IOVA lands inside the allowed range
    const s = new S(40).u32(4, 6).u32(8, ioas).u64(16, r.p.mmap(0x1000)).u64(24, 0x1000);
    expect(r.io(r.fd, R.IOAS_MAP, s)).toBe(0);
    expect(s.g64(32)).toBe(0x100_0000n);
    expect(attach(r, 0, ioas).rc).toBe(0);
    expect(put([[0x800_0000n, 0x8ff_ffffn]])).toBe(E.EADDRINUSE);
  });
});

describe('IOMMU_IOAS_COPY', () => {
  it('copies a mapped range to another IOAS; unmapped source → ENOENT; pages pinned once', () => {
    const r = rig({}, 2);
    const a = ioasAlloc(r);
    const b = ioasAlloc(r);
    expect(hwptAlloc(r, r.devid[0] as number, a, 0).rc).toBe(0);
    expect(hwptAlloc(r, r.devid[1] as number, b, 0).rc).toBe(0);
    expect(ioasMap(r, a, 0x10000n, 0x4000)).toBe(0);
    expect(r.p.pinnedVm).toBe(4);
    const c = new S(40)
      .u32(4, 7)
      .u32(8, b)
      .u32(12, a)
      .u64(16, 0x4000)
      .u64(24, 0x80000)
      .u64(32, 0x10000);
    expect(r.io(r.fd, R.IOAS_COPY, c)).toBe(0);
    expect(r.p.pinnedVm).toBe(4);
    const bad = new S(40)
      .u32(4, 7)
      .u32(8, b)
      .u32(12, a)
      .u64(16, 0x1000)
      .u64(24, 0x90000)
      .u64(32, 0x20000);
    expect(r.io(r.fd, R.IOAS_COPY, bad)).toBe(E.ENOENT);
    expect(r.io(r.fd, R.IOAS_COPY, new S(40).u32(4, 0x8 | 7))).toBe(E.EOPNOTSUPP);
    // unmapping the source keeps the copy (and its pins)
    expect(unmap(r, a, 0x10000n, 0x4000n).rc).toBe(0);
    expect(r.p.pinnedVm).toBe(4);
    expect(unmap(r, b, 0x80000n, 0x4000n).rc).toBe(0);
    expect(r.p.pinnedVm).toBe(0);
  });
});

describe('IOMMU_OPTION', () => {
  it('RLIMIT_MODE: object_id → EOPNOTSUPP; GET; SET needs an empty context (EBUSY) and 0/1', () => {
    const r = rig({}, 0);
    const opt = (op: number, val: bigint, obj = 0) => {
      const s = new S(24).u32(4, 0).u16(8, op).u32(12, obj).u64(16, val);
      return { rc: r.io(r.fd, R.OPTION, s), val: s.g64(16) };
    };
    expect(opt(1, 0n, 5).rc).toBe(E.EOPNOTSUPP);
    expect(opt(1, 99n)).toEqual({ rc: 0, val: 0n });
    expect(opt(0, 2n).rc).toBe(E.EINVAL);
    expect(opt(0, 1n).rc).toBe(0);
    expect(opt(1, 0n)).toEqual({ rc: 0, val: 1n });
    ioasAlloc(r);
    expect(opt(0, 0n).rc).toBe(E.EBUSY);
    expect(opt(7, 0n).rc).toBe(E.EOPNOTSUPP);
  });

  it('RLIMIT_MODE SET without CAP_SYS_RESOURCE → EPERM', () => {
    const r = rig({ options: { capSysResource: false } }, 0);
    expect(r.io(r.fd, R.OPTION, new S(24).u64(16, 1))).toBe(E.EPERM);
  });

  it('HUGE_PAGES is per IOAS: GET defaults to 1; SET 0 forces PAGE_SIZE alignment', () => {
    const r = rig({}, 0);
    const ioas = ioasAlloc(r);
    const s = new S(24).u32(4, 1).u16(8, 1).u32(12, ioas).u64(16, 7);
    expect(r.io(r.fd, R.OPTION, s)).toBe(0);
    expect(s.g64(16)).toBe(1n);
    expect(r.io(r.fd, R.OPTION, new S(24).u32(4, 1).u16(8, 0).u32(12, ioas).u64(16, 0))).toBe(0);
    expect(ranges(r, ioas, 1).align).toBe(4096n);
    expect(r.io(r.fd, R.OPTION, new S(24).u32(4, 1).u16(8, 0).u32(12, 77))).toBe(E.ENOENT);
  });
});

describe('attach to an IOAS (automatic domain)', () => {
  it('creates a HWPT, writes its ID back, reuses it, and destroys it on the last detach', () => {
    const r = rig({}, 2);
    const ioas = ioasAlloc(r);
    expect(ioasMap(r, ioas, 0x4000_0000n, 0x2000)).toBe(0);
    const a = attach(r, 0, ioas);
    expect(a.rc).toBe(0);
    expect(a.ptId).not.toBe(ioas);
    expect(r.p.pinnedVm).toBe(2); // the new domain pinned the mapping
    // the second device gets the same automatic HWPT
    expect(attach(r, 1, ioas)).toEqual({ rc: 0, ptId: a.ptId });
    expect(r.io(r.fd, R.DESTROY, new S(8).u32(4, a.ptId))).toBe(E.EBUSY);
    expect(r.io(r.dfd[0] as number, R.VFIO_DETACH, new S(12))).toBe(0);
    expect(r.io(r.dfd[1] as number, R.VFIO_DETACH, new S(12))).toBe(0);
    // the last detach destroyed the automatic HWPT and unpinned
    expect(r.io(r.fd, R.DESTROY, new S(8).u32(4, a.ptId))).toBe(E.ENOENT);
    expect(r.p.pinnedVm).toBe(0);
    // STE back to abort (blocking domain)
    expect(r.host.smmu(0).readSte(8)).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
  });

  it('an IOAS mapping inside the SW MSI window makes the attach fail with EADDRINUSE', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    expect(ioasMap(r, ioas, 0x800_0000n, 0x1000)).toBe(0);
    expect(attach(r, 0, ioas).rc).toBe(E.EADDRINUSE);
    expect(r.p.pinnedVm).toBe(0);
  });
});
