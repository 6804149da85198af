// The UAPI tables and the table-driven readers/writers of src/iommufd/uapi.ts against sizes and
// offsets written by hand from include/uapi/linux/iommufd.h (the oracle test compares them with a
// compiler; this one runs everywhere), and round trips of the little-endian helpers.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeStruct,
  encodeStruct,
  getU64,
  IOMMUFD_IOCTLS,
  REQ,
  readMember,
  setU64,
  UAPI_STRUCTS,
  writeMember,
} from '../../src/iommufd/uapi.ts';

describe('UAPI tables', () => {
  it('sizes and selected offsets (by hand from the header)', () => {
    const S = UAPI_STRUCTS;
    expect(S.iommu_hwpt_alloc.size).toBe(48);
    expect(S.iommu_hwpt_alloc.off).toMatchObject({
      data_type: 24,
      data_len: 28,
      data_uptr: 32,
      fault_id: 40,
      __reserved2: 44,
    });
    expect(S.iommu_hw_info.size).toBe(40);
    expect(S.iommu_hw_info.off).toMatchObject({
      in_data_type: 24,
      out_data_type: 24,
      out_max_pasid_log2: 28,
      __reserved: 29,
      out_capabilities: 32,
    });
    expect(S.iommu_option.off).toMatchObject({ op: 8, __reserved: 10, object_id: 12, val64: 16 });
    expect(S.iommu_hw_info_arm_smmuv3.size).toBe(40);
    expect(S.iommu_hw_info_arm_smmuv3_kcaps.size).toBe(44);
    expect(S.iommu_veventq_alloc.size).toBe(32);
    expect(S.vfio_device_bind_iommufd.off).toMatchObject({
      iommufd: 8,
      out_devid: 12,
      token_uuid_ptr: 16,
    });
    expect(S.vfio_device_detach_iommufd_pt.size).toBe(12);
  });

  it('request numbers are _IO(";", nr)', () => {
    for (const d of IOMMUFD_IOCTLS) expect(d.request).toBe(0x3b00 + d.nr);
    expect(REQ.VFIO_DEVICE_BIND_IOMMUFD).toBe(0x3b76);
    expect(REQ.VFIO_DEVICE_DETACH_IOMMUFD_PT).toBe(0x3b78);
    const mins = Object.fromEntries(IOMMUFD_IOCTLS.map((d) => [d.name, d.minSize]));
    expect(mins).toMatchObject({
      IOMMU_HWPT_ALLOC: 24,
      IOMMU_GET_HW_INFO: 32,
      IOMMU_VIOMMU_ALLOC: 24,
      IOMMU_VEVENTQ_ALLOC: 28,
    });
  });

  it('encode / decode round trip, arrays included', () => {
    const s = UAPI_STRUCTS.iommu_hw_info_arm_smmuv3;
    const b = encodeStruct(s, { flags: 1, idr: [1, 2, 3, 4, 5, 6], aidr: 0xffff_ffffn });
    expect(b.length).toBe(40);
    expect(readMember(b, s, 'idr', 5)).toBe(6n);
    expect(decodeStruct(s, b)).toMatchObject({
      flags: 1n,
      idr: [1n, 2n, 3n, 4n, 5n, 6n],
      aidr: 0xffff_ffffn,
    });
    const m = encodeStruct(UAPI_STRUCTS.iommu_ioas_map, { flags: 7 });
    expect(new DataView(m.buffer).getUint32(0, true)).toBe(40); // size defaults to sizeof
    writeMember(m, UAPI_STRUCTS.vfio_device_bind_iommufd, 'iommufd', -1);
    expect(readMember(m, UAPI_STRUCTS.vfio_device_bind_iommufd, 'iommufd')).toBe(-1n);
  });

  it('u64 little-endian helpers match DataView over the whole range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const b = new Uint8Array(8);
        setU64(b, 0, v);
        expect(new DataView(b.buffer).getBigUint64(0, true)).toBe(v);
        expect(getU64(b, 0)).toBe(v);
      }),
    );
  });
});
