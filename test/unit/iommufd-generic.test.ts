// iommufd generic ioctl rules and object lifecycle — checklist rows 1–12 of the iommufd digest §16
// (selftest iommufd.cmd_length, ioas_destroy, vdevice_tombstone). Bytes are built by hand.

import { describe, expect, it } from 'vitest';
import {
  attach,
  destroy,
  E,
  hwptAlloc,
  ioasAlloc,
  ioasMap,
  nestedRig,
  R,
  rig,
  S,
  vdeviceAlloc,
  viommuAlloc,
} from './iommufd-harness.ts';

describe('row 1: unknown ioctl number → ENOTTY', () => {
  it('nr beyond the table, below the base, or a wrong direction/size encoding', () => {
    const r = rig();
    const s = new S(64);
    expect(r.p.ioctl(r.fd, 0x3b95, s.b)).toBe(E.ENOTTY); // after HW_QUEUE_ALLOC (7.x NOIOMMU_GET_PA)
    expect(r.p.ioctl(r.fd, 0x3bff, s.b)).toBe(E.ENOTTY);
    expect(r.p.ioctl(r.fd, 0x3b10, s.b)).toBe(E.ENOTTY); // VFIO compat range (not modelled)
    // _IOW(';', 0x81, 12): same nr, different request number → -ENOIOCTLCMD → ENOTTY
    const iow = (1 << 30) | (12 << 16) | 0x3b81;
    expect(r.p.ioctl(r.fd, iow, new S(12).b)).toBe(E.ENOTTY);
  });
});

/** min_size of each ioctl = offsetofend(struct, last mandatory member), from the header by hand. */
const MIN_SIZES: [string, number, number, number][] = [
  // name, request, kernel sizeof, min_size
  ['DESTROY', R.DESTROY, 8, 8],
  ['IOAS_ALLOC', R.IOAS_ALLOC, 12, 12],
  ['IOAS_ALLOW_IOVAS', R.IOAS_ALLOW_IOVAS, 24, 24],
  ['IOAS_COPY', R.IOAS_COPY, 40, 40],
  ['IOAS_IOVA_RANGES', R.IOAS_IOVA_RANGES, 32, 32],
  ['IOAS_MAP', R.IOAS_MAP, 40, 40],
  ['IOAS_UNMAP', R.IOAS_UNMAP, 24, 24],
  ['OPTION', R.OPTION, 24, 24],
  ['VFIO_IOAS', R.VFIO_IOAS, 12, 12],
  ['HWPT_ALLOC', R.HWPT_ALLOC, 48, 24],
  ['GET_HW_INFO', R.GET_HW_INFO, 40, 32],
  ['HWPT_SET_DIRTY_TRACKING', R.HWPT_SET_DIRTY_TRACKING, 16, 16],
  ['HWPT_GET_DIRTY_BITMAP', R.HWPT_GET_DIRTY_BITMAP, 48, 48],
  ['HWPT_INVALIDATE', R.HWPT_INVALIDATE, 32, 32],
  ['FAULT_QUEUE_ALLOC', R.FAULT_QUEUE_ALLOC, 16, 16],
  ['IOAS_MAP_FILE', R.IOAS_MAP_FILE, 40, 40],
  ['VIOMMU_ALLOC', R.VIOMMU_ALLOC, 40, 24],
  ['VDEVICE_ALLOC', R.VDEVICE_ALLOC, 24, 24],
  ['IOAS_CHANGE_PROCESS', R.IOAS_CHANGE_PROCESS, 8, 8],
  ['VEVENTQ_ALLOC', R.VEVENTQ_ALLOC, 32, 28],
  ['HW_QUEUE_ALLOC', R.HW_QUEUE_ALLOC, 40, 40],
];

describe('rows 2–4: size rules (selftest TEST_LENGTH)', () => {
  for (const [name, req, ksize, min] of MIN_SIZES) {
    it(`${name}: size ${min - 1} → EINVAL; non-zero byte past ${ksize} → E2BIG`, () => {
      const r = rig();
      const small = new S(ksize + 16, min - 1);
      expect(r.p.ioctl(r.fd, req, small.b)).toBe(E.EINVAL);
      const big = new S(ksize + 16, ksize + 16);
      big.u8(ksize + 3, 0x5a);
      expect(r.p.ioctl(r.fd, req, big.b)).toBe(E.E2BIG);
    });
  }

  it('a zero tail past the kernel size is accepted (IOAS_ALLOC with size 64)', () => {
    const r = rig();
    const s = new S(64, 64);
    expect(r.io(r.fd, R.IOAS_ALLOC, s)).toBe(0);
    expect(s.g32(8)).toBeGreaterThan(0);
    // write-back is min(user, kernel) = 12 bytes: the tail stays untouched (zero)
    expect([...s.b.subarray(12)].every((x) => x === 0)).toBe(true);
  });

  it('row 4: a short struct (≥ min_size) reads missing fields as 0: HWPT_ALLOC of 24 bytes', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    // size 24: data_type/data_len/data_uptr/fault_id missing → NONE/0 → a paging HWPT
    const s = new S(48, 24).u32(8, r.devid[0] as number).u32(12, ioas);
    s.u32(24, 2).u32(28, 16); // bytes beyond `size` must be ignored
    expect(r.io(r.fd, R.HWPT_ALLOC, s)).toBe(0);
    expect(s.g32(16)).toBeGreaterThan(0);
    // only 24 bytes are written back: the bytes past `size` are unchanged
    expect(s.g32(24)).toBe(2);
  });

  it('output is written back as min(user size, kernel size) bytes', () => {
    const r = rig();
    // a non-zero byte past the kernel size inside `size` is E2BIG …
    expect(r.io(r.fd, R.IOAS_ALLOC, new S(16, 16).u32(12, 0xdeadbeef))).toBe(E.E2BIG);
    // … but memory past `size` is never read nor written
    const s = new S(16, 12).u32(12, 0xdeadbeef);
    expect(r.io(r.fd, R.IOAS_ALLOC, s)).toBe(0);
    expect(s.g32(8)).toBeGreaterThan(0);
    expect(s.g32(12)).toBe(0xdeadbeef);
  });
});

describe('row 5: unreadable/unwritable user memory → EFAULT', () => {
  it('a struct shorter than its size field, and bad user pointers inside structs', () => {
    const r = rig();
    // size claims 12 but only 8 bytes are mapped
    const s = new S(8, 12);
    expect(r.p.ioctl(r.fd, R.IOAS_ALLOC, s.b)).toBe(E.EFAULT);
    expect(r.p.ioctl(r.fd, R.IOAS_ALLOC, new Uint8Array(2))).toBe(E.EFAULT);
    // IOVA_RANGES into an unmapped array pointer
    const ioas = ioasAlloc(r);
    const q = new S(32).u32(4, ioas).u32(8, 4).u64(16, 0x1234000n);
    expect(r.io(r.fd, R.IOAS_IOVA_RANGES, q)).toBe(E.EFAULT);
  });
});

describe('row 6: non-zero flags / __reserved → EOPNOTSUPP', () => {
  it('IOAS_ALLOC flags, IOAS_MAP __reserved, IOVA_RANGES __reserved, OPTION __reserved', () => {
    const r = rig();
    expect(r.io(r.fd, R.IOAS_ALLOC, new S(12).u32(4, 1))).toBe(E.EOPNOTSUPP);
    const ioas = ioasAlloc(r);
    const m = new S(40).u32(4, 7).u32(8, ioas).u32(12, 1).u64(16, r.p.mmap(4096)).u64(24, 4096);
    expect(r.io(r.fd, R.IOAS_MAP, m)).toBe(E.EOPNOTSUPP);
    expect(r.io(r.fd, R.IOAS_IOVA_RANGES, new S(32).u32(4, ioas).u32(12, 1))).toBe(E.EOPNOTSUPP);
    expect(r.io(r.fd, R.OPTION, new S(24).u32(4, 0).u16(10, 1))).toBe(E.EOPNOTSUPP);
    expect(r.io(r.fd, R.IOAS_MAP, new S(40).u32(4, 0x10 | 7).u32(8, ioas))).toBe(E.EOPNOTSUPP);
  });
});

describe('row 7: IDs from 1, lookups by type → ENOENT', () => {
  it('first object gets ID 1; IDs are the lowest free ones (reused after destroy)', () => {
    const r = rig({}, 0);
    expect(ioasAlloc(r)).toBe(1);
    expect(ioasAlloc(r)).toBe(2);
    expect(ioasAlloc(r)).toBe(3);
    expect(destroy(r, 2)).toBe(0);
    expect(ioasAlloc(r)).toBe(2);
  });

  it('missing ID and wrong type → ENOENT', () => {
    const r = rig();
    const dev = r.devid[0] as number;
    // IOAS_MAP naming the device object (a wrong type)
    const m = new S(40).u32(4, 7).u32(8, dev).u64(16, r.p.mmap(4096)).u64(24, 4096);
    expect(r.io(r.fd, R.IOAS_MAP, m)).toBe(E.ENOENT);
    const m2 = new S(40).u32(4, 7).u32(8, 77).u64(16, r.p.mmap(4096)).u64(24, 4096);
    expect(r.io(r.fd, R.IOAS_MAP, m2)).toBe(E.ENOENT);
  });
});

describe('rows 8–10: IOMMU_DESTROY', () => {
  it('row 8: referenced objects → EBUSY and nothing changes; row 9: unknown → ENOENT', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const h = hwptAlloc(r, r.devid[0] as number, ioas, 0);
    expect(h.rc).toBe(0);
    expect(destroy(r, ioas)).toBe(E.EBUSY); // the HWPT holds the IOAS
    expect(attach(r, 0, h.id).rc).toBe(0);
    expect(destroy(r, h.id)).toBe(E.EBUSY); // attached
    expect(destroy(r, r.devid[0] as number)).toBe(E.EBUSY); // a bound device (VFIO holds it)
    expect(destroy(r, 999)).toBe(E.ENOENT);
    expect(destroy(r, 0)).toBe(E.ENOENT);
    // everything still works after the refused destroys
    expect(ioasMap(r, ioas, 0x4000_0000n, 0x2000)).toBe(0);
    // detach, then the HWPT and the IOAS go
    expect(r.io(r.dfd[0] as number, R.VFIO_DETACH, new S(12))).toBe(0);
    expect(destroy(r, h.id)).toBe(0);
    expect(destroy(r, ioas)).toBe(0);
    expect(destroy(r, ioas)).toBe(E.ENOENT);
  });

  it('row 11: unbinding a device with a vDEVICE leaves a tombstone (ENOENT, ID not reused)', () => {
    const n = nestedRig({}, { vsid: 0x99n });
    expect(n.vdev).toBeGreaterThan(0);
    expect(n.p.close(n.dfd[0] as number)).toBe(0); // unbind
    expect(destroy(n, n.vdev)).toBe(E.ENOENT);
    // a new object never takes the tombstone's ID
    const ids = [ioasAlloc(n), ioasAlloc(n), ioasAlloc(n)];
    expect(ids).not.toContain(n.vdev);
    expect(n.host.devices[0]?.boundBy).toBeNull();
  });

  it('row 12: closing the iommufd destroys everything leaf-first (pinned pages released)', () => {
    const n = nestedRig({}, { vsid: 0x10n });
    expect(ioasMap(n, n.ioas, 0x4000_0000n, 0x4000)).toBe(0);
    expect(n.p.pinnedVm).toBe(4);
    // VEVENTQ with an open fd
    const q = new S(32).u32(8, n.viommu).u32(12, 1).u32(16, 4);
    expect(n.io(n.fd, R.VEVENTQ_ALLOC, q)).toBe(0);
    n.p.exit();
    expect(n.p.pinnedVm).toBe(0);
    expect(n.p.pinnedPageCount).toBe(0);
    expect(n.host.devices[0]?.boundBy).toBeNull();
  });
});

describe('vDEVICE/vIOMMU references', () => {
  it('vIOMMU is pinned by its vDEVICE; parent by the vIOMMU', () => {
    const n = nestedRig({}, { vsid: 0x5n });
    expect(destroy(n, n.viommu)).toBe(E.EBUSY);
    expect(destroy(n, n.parent)).toBe(E.EBUSY);
    expect(destroy(n, n.vdev)).toBe(0);
    expect(destroy(n, n.viommu)).toBe(0);
    // a second vIOMMU on the same parent works
    expect(viommuAlloc(n, n.devid[0] as number, n.parent).rc).toBe(0);
    expect(vdeviceAlloc(n, 1234, n.devid[0] as number, 1n).rc).toBe(E.ENOENT);
  });
});
