// IOMMU_GET_HW_INFO (checklist rows 13–20, device.c iommufd_get_hw_info + arm_smmu_hw_info), the
// experimental kernel_capabilities growth of iommu_hw_info_arm_smmuv3 (formats.md §7) in both
// directions, and IOMMU_HWPT_ALLOC for paging / nest-parent HWPTs (rows 21–28, hw_pagetable.c +
// arm_smmu_domain_alloc_paging_flags). Bytes by hand; expected IDRs are QEMU 10.0.2 `virt`'s.

import { describe, expect, it } from 'vitest';
import { attach, destroy, E, hwptAlloc, ioasAlloc, R, rig, S, vsteBuf } from './iommufd-harness.ts';

const QEMU_IDR: readonly number[] = [0x0d44101b, 0x02730010, 0, 0x1414, 0, 0x74];
const IDR0 = 0x0d44101b;

function hwInfo(
  r: ReturnType<typeof rig>,
  opts: {
    devid?: number;
    dataLen: number;
    flags?: number;
    inType?: number;
    size?: number;
    fill?: number;
  },
) {
  const buf = r.p.mmap(4096);
  r.p.write(buf, new Uint8Array(64).fill(opts.fill ?? 0xee));
  const s = new S(opts.size ?? 40)
    .u32(4, opts.flags ?? 0)
    .u32(8, opts.devid ?? (r.devid[0] as number))
    .u32(12, opts.dataLen)
    .u64(16, buf)
    .u32(24, opts.inType ?? 0);
  const rc = r.io(r.fd, R.GET_HW_INFO, s);
  return { rc, s, data: r.p.readMem(buf, 64) };
}

function u32le(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off, true);
}

describe('GET_HW_INFO (rows 13–20)', () => {
  it('row 13: flags other than INPUT_TYPE, or any __reserved byte → EOPNOTSUPP', () => {
    const r = rig();
    expect(hwInfo(r, { dataLen: 40, flags: 2 }).rc).toBe(E.EOPNOTSUPP);
    const s = new S(40).u32(8, r.devid[0] as number).u8(30, 1);
    expect(r.io(r.fd, R.GET_HW_INFO, s)).toBe(E.EOPNOTSUPP);
  });

  it('row 14: bad dev_id → ENOENT', () => {
    const r = rig();
    expect(hwInfo(r, { dataLen: 40, devid: 77 }).rc).toBe(E.ENOENT);
  });

  it('rows 15/16: the input type counts only with INPUT_TYPE; other types → EOPNOTSUPP', () => {
    const r = rig();
    expect(hwInfo(r, { dataLen: 40, inType: 3 }).rc).toBe(0); // ignored without the flag
    expect(hwInfo(r, { dataLen: 40, flags: 1, inType: 3 }).rc).toBe(E.EOPNOTSUPP); // TEGRA241
    expect(hwInfo(r, { dataLen: 40, flags: 1, inType: 1 }).rc).toBe(E.EOPNOTSUPP); // VTD
    expect(hwInfo(r, { dataLen: 40, flags: 1, inType: 2 }).rc).toBe(0);
    expect(hwInfo(r, { dataLen: 40, flags: 1, inType: 0 }).rc).toBe(0);
  });

  it('rows 17–19: type 2, data_len 40 whatever the buffer; raw registers; truncate / zero-fill', () => {
    const r = rig();
    const exact = hwInfo(r, { dataLen: 40 });
    expect(exact.rc).toBe(0);
    expect(exact.s.g32(24)).toBe(2);
    expect(exact.s.g32(12)).toBe(40);
    expect(u32le(exact.data, 0)).toBe(0); // flags
    expect(u32le(exact.data, 4)).toBe(0); // __reserved
    for (let i = 0; i < 6; i++) expect(u32le(exact.data, 8 + 4 * i)).toBe(QEMU_IDR[i]);
    expect(u32le(exact.data, 32)).toBe(0); // IIDR
    expect(u32le(exact.data, 36)).toBe(1); // AIDR (SMMUv3.1)
    expect(exact.data[40]).toBe(0xee); // nothing written past data_len
    const small = hwInfo(r, { dataLen: 12 });
    expect(small.rc).toBe(0);
    expect(small.s.g32(12)).toBe(40);
    expect(u32le(small.data, 8)).toBe(QEMU_IDR[0]);
    expect(small.data[12]).toBe(0xee);
    const big = hwInfo(r, { dataLen: 56 });
    expect(big.s.g32(12)).toBe(40);
    expect([...big.data.subarray(40, 56)].every((x) => x === 0)).toBe(true);
    expect(big.data[56]).toBe(0xee);
    const zero = hwInfo(r, { dataLen: 0 });
    expect(zero.rc).toBe(0);
    expect(zero.s.g32(12)).toBe(40);
    expect(zero.data[0]).toBe(0xee);
  });

  it('row 18: an unmapped data_uptr with data_len > 0 → EFAULT', () => {
    const r = rig();
    const s = new S(40)
      .u32(8, r.devid[0] as number)
      .u32(12, 40)
      .u64(16, 0x10n);
    expect(r.io(r.fd, R.GET_HW_INFO, s)).toBe(E.EFAULT);
  });

  it('row 20: no dirty tracking (HTTU 0), no PASID; with HTTU=2 DIRTY_TRACKING is reported', () => {
    const r = rig();
    const x = hwInfo(r, { dataLen: 40 });
    expect(x.s.g64(32)).toBe(0n);
    expect(x.s.g8(28)).toBe(0);
    // IDR0.HTTU (7:6) = 2 → access + dirty; COHACC is set in QEMU's IDR0
    const r2 = rig({ smmus: [{ idr: { idr0: IDR0 | (2 << 6) } }] });
    expect(hwInfo(r2, { dataLen: 40 }).s.g64(32)).toBe(1n);
  });

  it('row 20 (v7 profile): PCI_ATS_NOT_SUPPORTED for a device without ATS', () => {
    const r = rig({ profile: 'v7' });
    expect(hwInfo(r, { dataLen: 40 }).s.g64(32)).toBe(8n);
  });

  it('PASID: out_max_pasid_log2 = min(device PASID width, IDR1.SSIDSIZE)', () => {
    const idr1 = (QEMU_IDR[1] as number) | (5 << 6); // SSIDSIZE = 5
    const r = rig({ smmus: [{ idr: { idr1 } }], devices: [{ sid: 8, pasidBits: 8 }] });
    expect(hwInfo(r, { dataLen: 40 }).s.g8(28)).toBe(5);
  });
});

describe('kernel_capabilities (formats.md §7) through the data_len rules', () => {
  it('a capable kernel returns 44 bytes; an old 40-byte VMM never sees the field', () => {
    const r = rig({ options: { kernelCapabilities: true } });
    const old = hwInfo(r, { dataLen: 40 });
    expect(old.rc).toBe(0);
    expect(old.s.g32(12)).toBe(44);
    expect(old.data[40]).toBe(0xee); // untouched beyond the old struct
    const neu = hwInfo(r, { dataLen: 44 });
    expect(u32le(neu.data, 40)).toBe(3); // VSTE_SHCFG | VSTE_MTCFG
  });

  it('a new 44-byte VMM on an old kernel reads 0 from the zero-filled tail (data_len 40)', () => {
    const r = rig();
    const neu = hwInfo(r, { dataLen: 44 });
    expect(neu.s.g32(12)).toBe(40);
    expect(u32le(neu.data, 40)).toBe(0);
  });

  it('vSTE validation widens only for advertised bits', () => {
    // STE word 1: SHCFG 45:44, MTCFG 36, MemAttr 35:32, ALLOCCFG 43:40 (IHI 0070 §5.2)
    const shcfg = 1n << 44n;
    const mtcfg = (1n << 36n) | (0xfn << 32n);
    const s1 = 0x1n | (5n << 1n); // V, Config = S1
    const run = (kc: number | undefined, w1: bigint) => {
      const cfg = kc === undefined ? {} : { options: { kernelCapabilities: kc } };
      const r = rig(cfg);
      const ioas = ioasAlloc(r);
      const p = hwptAlloc(r, r.devid[0] as number, ioas, 1);
      const vi = new S(40)
        .u32(8, 1)
        .u32(12, r.devid[0] as number)
        .u32(16, p.id);
      expect(r.io(r.fd, R.VIOMMU_ALLOC, vi)).toBe(0);
      return hwptAlloc(r, r.devid[0] as number, vi.g32(20), 0, {
        type: 2,
        len: 16,
        uptr: vsteBuf(r, s1, w1),
      }).rc;
    };
    expect(run(undefined, shcfg)).toBe(E.EIO);
    expect(run(1, shcfg)).toBe(0);
    expect(run(1, mtcfg)).toBe(E.EIO);
    expect(run(2, mtcfg)).toBe(0);
    expect(run(2, shcfg)).toBe(E.EIO);
  });
});

describe('HWPT_ALLOC paging / nest parent (rows 21–28)', () => {
  it('row 21: __reserved → EOPNOTSUPP; row 22: data_type/data_len consistency → EINVAL', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const d = r.devid[0] as number;
    expect(r.io(r.fd, R.HWPT_ALLOC, new S(48).u32(8, d).u32(12, ioas).u32(20, 1))).toBe(
      E.EOPNOTSUPP,
    );
    expect(r.io(r.fd, R.HWPT_ALLOC, new S(48).u32(8, d).u32(12, ioas).u32(28, 16))).toBe(E.EINVAL);
    expect(r.io(r.fd, R.HWPT_ALLOC, new S(48).u32(8, d).u32(12, ioas).u32(24, 2))).toBe(E.EINVAL);
  });

  it('row 23: bad dev_id → ENOENT; pt_id missing → EINVAL; pt_id of another type → EINVAL', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    expect(hwptAlloc(r, 99, ioas, 0).rc).toBe(E.ENOENT);
    expect(hwptAlloc(r, r.devid[0] as number, 99, 0).rc).toBe(E.EINVAL);
    expect(hwptAlloc(r, r.devid[0] as number, r.devid[0] as number, 0).rc).toBe(E.EINVAL);
  });

  it('rows 24–26: unknown flags, DIRTY without HTTU, NEST_PARENT combinations, driver data → EOPNOTSUPP', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const d = r.devid[0] as number;
    expect(hwptAlloc(r, d, ioas, 1 << 4).rc).toBe(E.EOPNOTSUPP);
    expect(hwptAlloc(r, d, ioas, 2).rc).toBe(E.EOPNOTSUPP); // DIRTY_TRACKING, HTTU = 0
    expect(hwptAlloc(r, d, ioas, 1 | 4).rc).toBe(E.EOPNOTSUPP); // NEST_PARENT | FAULT_ID_VALID
    expect(hwptAlloc(r, d, ioas, 1 | 8).rc).toBe(E.EOPNOTSUPP); // NEST_PARENT | PASID
    expect(hwptAlloc(r, d, ioas, 0, { type: 2, len: 16, uptr: vsteBuf(r, 0n, 0n) }).rc).toBe(
      E.EOPNOTSUPP,
    );
    expect(r.host.smmu(0).driver.vmids.size).toBe(0); // nothing was allocated
  });

  it('row 26: NEST_PARENT on an SMMU without S1P → EOPNOTSUPP', () => {
    const r = rig({ smmus: [{ idr: { idr0: (QEMU_IDR[0] as number) & ~2 } }] });
    const ioas = ioasAlloc(r);
    expect(hwptAlloc(r, r.devid[0] as number, ioas, 1).rc).toBe(E.EOPNOTSUPP);
    expect(hwptAlloc(r, r.devid[0] as number, ioas, 0).rc).toBe(0); // falls back to a stage-2 domain
  });

  it('row 27: NEST_PARENT gives a stage-2 domain with its own VMID (from 1); S2FWB iff IDR3.FWB', () => {
    const r = rig({}, 2);
    const ioas = ioasAlloc(r);
    const a = hwptAlloc(r, r.devid[0] as number, ioas, 1);
    const b = hwptAlloc(r, r.devid[1] as number, ioas, 1);
    expect(attach(r, 0, a.id).rc).toBe(0);
    expect(attach(r, 1, b.id).rc).toBe(0);
    const ste0 = r.host.smmu(0).readSte(0x8);
    const ste1 = r.host.smmu(0).readSte(0x10);
    // STE word 0: V | Config 6 (S2) = 0xd; word 2 bits 15:0 = S2VMID
    expect(ste0[0]).toBe(0xdn);
    expect((ste0[2] as bigint) & 0xffffn).toBe(1n);
    expect((ste1[2] as bigint) & 0xffffn).toBe(2n);
    expect((ste0[1] as bigint) & (1n << 25n)).toBe(0n); // no S2FWB on QEMU (IDR3.FWB = 0)
    const rf = rig({ smmus: [{ idr: { idr3: (QEMU_IDR[3] as number) | (1 << 8) } }] });
    const iof = ioasAlloc(rf);
    const f = hwptAlloc(rf, rf.devid[0] as number, iof, 1);
    expect(attach(rf, 0, f.id).rc).toBe(0);
    expect((rf.host.smmu(0).readSte(0x8)[1] as bigint) & (1n << 25n)).toBe(1n << 25n);
  });

  it('row 28: the HWPT holds its IOAS (IOAS destroy → EBUSY until the HWPT goes)', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const h = hwptAlloc(r, r.devid[0] as number, ioas, 1);
    expect(destroy(r, ioas)).toBe(E.EBUSY);
    expect(destroy(r, h.id)).toBe(0);
    expect(destroy(r, ioas)).toBe(0);
  });

  it('dirty tracking ioctls answer EOPNOTSUPP on a domain without dirty ops', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const h = hwptAlloc(r, r.devid[0] as number, ioas, 0);
    expect(r.io(r.fd, R.HWPT_SET_DIRTY_TRACKING, new S(16).u32(4, 1).u32(8, h.id))).toBe(
      E.EOPNOTSUPP,
    );
    expect(r.io(r.fd, R.HWPT_SET_DIRTY_TRACKING, new S(16).u32(4, 2).u32(8, h.id))).toBe(
      E.EOPNOTSUPP,
    );
    expect(r.io(r.fd, R.HWPT_SET_DIRTY_TRACKING, new S(16).u32(4, 1).u32(8, 99))).toBe(E.ENOENT);
    const gb = new S(48)
      .u32(4, h.id)
      .u64(16, 0)
      .u64(24, 0x10000)
      .u64(32, 0x1000)
      .u64(40, r.p.mmap(4096));
    expect(r.io(r.fd, R.HWPT_GET_DIRTY_BITMAP, gb)).toBe(E.EOPNOTSUPP);
    const gb0 = new S(48).u32(4, h.id).u64(16, 0).u64(24, 0x10000).u64(32, 0);
    expect(r.io(r.fd, R.HWPT_GET_DIRTY_BITMAP, gb0)).toBe(E.EINVAL); // page_size 0
  });
});

describe('dirty tracking on an SMMU with HTTU (IDR0.HTTU = 2)', () => {
  it('DIRTY_TRACKING HWPT: enable clears, a device write marks its page, GET_DIRTY_BITMAP reports and clears', () => {
    const r = rig({ smmus: [{ idr: { idr0: IDR0 | (2 << 6) } }] });
    const ioas = ioasAlloc(r);
    const h = hwptAlloc(r, r.devid[0] as number, ioas, 2); // DIRTY_TRACKING
    expect(h.rc).toBe(0);
    expect(attach(r, 0, h.id).rc).toBe(0);
    const s = new S(40)
      .u32(4, 7)
      .u32(8, ioas)
      .u64(16, r.p.mmap(0x4000))
      .u64(24, 0x4000)
      .u64(32, 0x10_0000);
    expect(r.io(r.fd, R.IOAS_MAP, s)).toBe(0);
    expect(r.io(r.fd, R.HWPT_SET_DIRTY_TRACKING, new S(16).u32(4, 1).u32(8, h.id))).toBe(0);
    const bitmapVa = r.p.mmap(4096);
    const get = (flags = 0) => {
      r.p.write(bitmapVa, new Uint8Array(8));
      const g = new S(48)
        .u32(4, h.id)
        .u32(8, flags)
        .u64(16, 0x10_0000)
        .u64(24, 0x4000)
        .u64(32, 0x1000)
        .u64(40, bitmapVa);
      const rc = r.io(r.fd, R.HWPT_GET_DIRTY_BITMAP, g);
      return { rc, bits: r.p.readMem(bitmapVa, 1)[0] };
    };
    expect(get()).toEqual({ rc: 0, bits: 0 }); // enabling cleaned every page
    const w = r.host.dma(0, { iova: 0x10_2010n, access: 'write' }); // page 2
    expect(w.ok).toBe(true);
    expect(r.host.dma(0, { iova: 0x10_0000n, access: 'read' }).ok).toBe(true); // reads don't dirty
    expect(get(1)).toEqual({ rc: 0, bits: 0b100 }); // NO_CLEAR
    expect(get()).toEqual({ rc: 0, bits: 0b100 });
    expect(get()).toEqual({ rc: 0, bits: 0 }); // cleared by the previous read
    // a range not fully mapped → EINVAL
    const bad = new S(48)
      .u32(4, h.id)
      .u64(16, 0x10_0000)
      .u64(24, 0x8000)
      .u64(32, 0x1000)
      .u64(40, bitmapVa);
    expect(r.io(r.fd, R.HWPT_GET_DIRTY_BITMAP, bad)).toBe(E.EINVAL);
  });
});
