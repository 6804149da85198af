// The Linux iommufd user API as data: every struct of include/uapi/linux/iommufd.h that the model
// reads or writes (plus the VFIO cdev bind/attach/detach structs of include/uapi/linux/vfio.h), as
// a table {member, offset, size} computed with the C layout rules the kernel headers rely on
// (natural alignment, `__aligned_u64`/`__aligned_le64` = 8), the ioctl request numbers
// (`_IO(';', nr)`, nr from 0x80 for iommufd, VFIO_BASE 100 + 18/19/20 for VFIO), the minimum sizes
// of the ioctl table in drivers/iommu/iommufd/main.c (offsetofend of the last mandatory member), the
// UAPI constants, and little-endian readers/writers driven by the table.
//
// Checked against the headers of linux-libc-dev 7.3.4 and 6.12 by
// test/oracle/iommufd-header-layout.test.ts (a generated C program prints sizeof/offsetof).
// Names are the kernel's spelling.

/** C scalar types used by the iommufd UAPI. */
export type CType = 'u8' | 'u16' | 'u32' | 's32' | 'u64';

const CSIZE: Readonly<Record<CType, number>> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8 };

/** One struct member. */
export interface UapiMember {
  /** Kernel spelling, e.g. `out_hwpt_id`. */
  readonly name: string;
  readonly type: CType;
  /** Byte offset (offsetof). */
  readonly offset: number;
  /** Total byte size (sizeof member; arrays: element size × count). */
  readonly size: number;
  /** Array length, absent for scalars. */
  readonly count?: number;
  /** Members of a C union share an offset; the later ones carry `union: true`. */
  readonly union?: boolean;
}

/** Where a struct is defined. */
export type UapiHeader = 'linux/iommufd.h' | 'linux/vfio.h' | 'experimental';

/** A UAPI struct layout. */
export interface UapiStruct {
  readonly name: string;
  readonly header: UapiHeader;
  /** sizeof(struct). */
  readonly size: number;
  readonly members: readonly UapiMember[];
  /** Offsets by member name. */
  readonly off: Readonly<Record<string, number>>;
  /** Kernel release that introduced the struct (informational; the header test uses presence). */
  readonly since: string;
}

type MemberSpec = readonly [name: string, type: CType, count?: number | undefined, union?: 'union'];

function defineStruct(
  name: string,
  header: UapiHeader,
  since: string,
  specs: readonly MemberSpec[],
): UapiStruct {
  const members: UapiMember[] = [];
  const off: Record<string, number> = {};
  let pos = 0;
  let align = 1;
  let lastStart = 0;
  for (const [mname, type, count, union] of specs) {
    const es = CSIZE[type];
    align = Math.max(align, es);
    const size = es * (count ?? 1);
    let offset: number;
    if (union) {
      // A C union member: same offset as the previous member.
      offset = lastStart;
    } else {
      offset = Math.ceil(pos / es) * es;
      pos = offset + size;
      lastStart = offset;
    }
    const m: UapiMember =
      count === undefined
        ? union
          ? { name: mname, type, offset, size, union: true }
          : { name: mname, type, offset, size }
        : { name: mname, type, offset, size, count };
    members.push(m);
    off[mname] = offset;
  }
  const size = Math.ceil(pos / align) * align;
  return { name, header, size, members, off, since };
}

const I = 'linux/iommufd.h';
const V = 'linux/vfio.h';

/** Every UAPI struct of the model, by kernel name. */
export const UAPI_STRUCTS = {
  iommu_destroy: defineStruct('iommu_destroy', I, '6.2', [
    ['size', 'u32'],
    ['id', 'u32'],
  ]),
  iommu_ioas_alloc: defineStruct('iommu_ioas_alloc', I, '6.2', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['out_ioas_id', 'u32'],
  ]),
  iommu_iova_range: defineStruct('iommu_iova_range', I, '6.2', [
    ['start', 'u64'],
    ['last', 'u64'],
  ]),
  iommu_ioas_iova_ranges: defineStruct('iommu_ioas_iova_ranges', I, '6.2', [
    ['size', 'u32'],
    ['ioas_id', 'u32'],
    ['num_iovas', 'u32'],
    ['__reserved', 'u32'],
    ['allowed_iovas', 'u64'],
    ['out_iova_alignment', 'u64'],
  ]),
  iommu_ioas_allow_iovas: defineStruct('iommu_ioas_allow_iovas', I, '6.2', [
    ['size', 'u32'],
    ['ioas_id', 'u32'],
    ['num_iovas', 'u32'],
    ['__reserved', 'u32'],
    ['allowed_iovas', 'u64'],
  ]),
  iommu_ioas_map: defineStruct('iommu_ioas_map', I, '6.2', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['ioas_id', 'u32'],
    ['__reserved', 'u32'],
    ['user_va', 'u64'],
    ['length', 'u64'],
    ['iova', 'u64'],
  ]),
  iommu_ioas_noiommu_get_pa: defineStruct('iommu_ioas_noiommu_get_pa', I, '7.x', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['ioas_id', 'u32'],
    ['__reserved', 'u32'],
    ['iova', 'u64'],
    ['length', 'u64'],
    ['out_phys', 'u64'],
  ]),
  iommu_ioas_map_file: defineStruct('iommu_ioas_map_file', I, '6.13', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['ioas_id', 'u32'],
    ['fd', 's32'],
    ['start', 'u64'],
    ['length', 'u64'],
    ['iova', 'u64'],
  ]),
  iommu_ioas_copy: defineStruct('iommu_ioas_copy', I, '6.2', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['dst_ioas_id', 'u32'],
    ['src_ioas_id', 'u32'],
    ['length', 'u64'],
    ['dst_iova', 'u64'],
    ['src_iova', 'u64'],
  ]),
  iommu_ioas_unmap: defineStruct('iommu_ioas_unmap', I, '6.2', [
    ['size', 'u32'],
    ['ioas_id', 'u32'],
    ['iova', 'u64'],
    ['length', 'u64'],
  ]),
  iommu_option: defineStruct('iommu_option', I, '6.2', [
    ['size', 'u32'],
    ['option_id', 'u32'],
    ['op', 'u16'],
    ['__reserved', 'u16'],
    ['object_id', 'u32'],
    ['val64', 'u64'],
  ]),
  iommu_vfio_ioas: defineStruct('iommu_vfio_ioas', I, '6.2', [
    ['size', 'u32'],
    ['ioas_id', 'u32'],
    ['op', 'u16'],
    ['__reserved', 'u16'],
  ]),
  iommu_hwpt_vtd_s1: defineStruct('iommu_hwpt_vtd_s1', I, '6.8', [
    ['flags', 'u64'],
    ['pgtbl_addr', 'u64'],
    ['addr_width', 'u32'],
    ['__reserved', 'u32'],
  ]),
  iommu_hwpt_arm_smmuv3: defineStruct('iommu_hwpt_arm_smmuv3', I, '6.13', [['ste', 'u64', 2]]),
  iommu_hwpt_amd_guest: defineStruct('iommu_hwpt_amd_guest', I, '7.x', [['dte', 'u64', 4]]),
  iommu_hwpt_alloc: defineStruct('iommu_hwpt_alloc', I, '6.6', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['dev_id', 'u32'],
    ['pt_id', 'u32'],
    ['out_hwpt_id', 'u32'],
    ['__reserved', 'u32'],
    ['data_type', 'u32'],
    ['data_len', 'u32'],
    ['data_uptr', 'u64'],
    ['fault_id', 'u32'],
    ['__reserved2', 'u32'],
  ]),
  iommu_hw_info_vtd: defineStruct('iommu_hw_info_vtd', I, '6.6', [
    ['flags', 'u32'],
    ['__reserved', 'u32'],
    ['cap_reg', 'u64'],
    ['ecap_reg', 'u64'],
  ]),
  iommu_hw_info_arm_smmuv3: defineStruct('iommu_hw_info_arm_smmuv3', I, '6.13', [
    ['flags', 'u32'],
    ['__reserved', 'u32'],
    ['idr', 'u32', 6],
    ['iidr', 'u32'],
    ['aidr', 'u32'],
  ]),
  iommu_hw_info_tegra241_cmdqv: defineStruct('iommu_hw_info_tegra241_cmdqv', I, '6.17', [
    ['flags', 'u32'],
    ['version', 'u8'],
    ['log2vcmdqs', 'u8'],
    ['log2vsids', 'u8'],
    ['__reserved', 'u8'],
  ]),
  iommu_hw_info_amd: defineStruct('iommu_hw_info_amd', I, '7.x', [
    ['efr', 'u64'],
    ['efr2', 'u64'],
  ]),
  iommu_hw_info: defineStruct('iommu_hw_info', I, '6.6', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['dev_id', 'u32'],
    ['data_len', 'u32'],
    ['data_uptr', 'u64'],
    ['in_data_type', 'u32'],
    ['out_data_type', 'u32', undefined, 'union'],
    ['out_max_pasid_log2', 'u8'],
    ['__reserved', 'u8', 3],
    ['out_capabilities', 'u64'],
  ]),
  iommu_hwpt_set_dirty_tracking: defineStruct('iommu_hwpt_set_dirty_tracking', I, '6.7', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['hwpt_id', 'u32'],
    ['__reserved', 'u32'],
  ]),
  iommu_hwpt_get_dirty_bitmap: defineStruct('iommu_hwpt_get_dirty_bitmap', I, '6.7', [
    ['size', 'u32'],
    ['hwpt_id', 'u32'],
    ['flags', 'u32'],
    ['__reserved', 'u32'],
    ['iova', 'u64'],
    ['length', 'u64'],
    ['page_size', 'u64'],
    ['data', 'u64'],
  ]),
  iommu_hwpt_vtd_s1_invalidate: defineStruct('iommu_hwpt_vtd_s1_invalidate', I, '6.8', [
    ['addr', 'u64'],
    ['npages', 'u64'],
    ['flags', 'u32'],
    ['__reserved', 'u32'],
  ]),
  iommu_viommu_arm_smmuv3_invalidate: defineStruct(
    'iommu_viommu_arm_smmuv3_invalidate',
    I,
    '6.14',
    [['cmd', 'u64', 2]],
  ),
  iommu_hwpt_invalidate: defineStruct('iommu_hwpt_invalidate', I, '6.8', [
    ['size', 'u32'],
    ['hwpt_id', 'u32'],
    ['data_uptr', 'u64'],
    ['data_type', 'u32'],
    ['entry_len', 'u32'],
    ['entry_num', 'u32'],
    ['__reserved', 'u32'],
  ]),
  iommu_hwpt_pgfault: defineStruct('iommu_hwpt_pgfault', I, '6.11', [
    ['flags', 'u32'],
    ['dev_id', 'u32'],
    ['pasid', 'u32'],
    ['grpid', 'u32'],
    ['perm', 'u32'],
    ['__reserved', 'u32'],
    ['addr', 'u64'],
    ['length', 'u32'],
    ['cookie', 'u32'],
  ]),
  iommu_hwpt_page_response: defineStruct('iommu_hwpt_page_response', I, '6.11', [
    ['cookie', 'u32'],
    ['code', 'u32'],
  ]),
  iommu_fault_alloc: defineStruct('iommu_fault_alloc', I, '6.11', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['out_fault_id', 'u32'],
    ['out_fault_fd', 'u32'],
  ]),
  iommu_viommu_tegra241_cmdqv: defineStruct('iommu_viommu_tegra241_cmdqv', I, '6.17', [
    ['out_vintf_mmap_offset', 'u64'],
    ['out_vintf_mmap_length', 'u64'],
  ]),
  iommu_viommu_alloc: defineStruct('iommu_viommu_alloc', I, '6.13', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['type', 'u32'],
    ['dev_id', 'u32'],
    ['hwpt_id', 'u32'],
    ['out_viommu_id', 'u32'],
    ['data_len', 'u32'],
    ['__reserved', 'u32'],
    ['data_uptr', 'u64'],
  ]),
  iommu_vdevice_alloc: defineStruct('iommu_vdevice_alloc', I, '6.13', [
    ['size', 'u32'],
    ['viommu_id', 'u32'],
    ['dev_id', 'u32'],
    ['out_vdevice_id', 'u32'],
    ['virt_id', 'u64'],
  ]),
  iommu_ioas_change_process: defineStruct('iommu_ioas_change_process', I, '6.14', [
    ['size', 'u32'],
    ['__reserved', 'u32'],
  ]),
  iommufd_vevent_header: defineStruct('iommufd_vevent_header', I, '6.15', [
    ['flags', 'u32'],
    ['sequence', 'u32'],
  ]),
  iommu_vevent_arm_smmuv3: defineStruct('iommu_vevent_arm_smmuv3', I, '6.15', [['evt', 'u64', 4]]),
  iommu_vevent_tegra241_cmdqv: defineStruct('iommu_vevent_tegra241_cmdqv', I, '6.17', [
    ['lvcmdq_err_map', 'u64', 2],
  ]),
  iommu_veventq_alloc: defineStruct('iommu_veventq_alloc', I, '6.15', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['viommu_id', 'u32'],
    ['type', 'u32'],
    ['veventq_depth', 'u32'],
    ['out_veventq_id', 'u32'],
    ['out_veventq_fd', 'u32'],
    ['__reserved', 'u32'],
  ]),
  iommu_hw_queue_alloc: defineStruct('iommu_hw_queue_alloc', I, '6.17', [
    ['size', 'u32'],
    ['flags', 'u32'],
    ['viommu_id', 'u32'],
    ['type', 'u32'],
    ['index', 'u32'],
    ['out_hw_queue_id', 'u32'],
    ['nesting_parent_iova', 'u64'],
    ['length', 'u64'],
  ]),
  vfio_device_bind_iommufd: defineStruct('vfio_device_bind_iommufd', V, '6.6', [
    ['argsz', 'u32'],
    ['flags', 'u32'],
    ['iommufd', 's32'],
    ['out_devid', 'u32'],
    ['token_uuid_ptr', 'u64'],
  ]),
  vfio_device_attach_iommufd_pt: defineStruct('vfio_device_attach_iommufd_pt', V, '6.6', [
    ['argsz', 'u32'],
    ['flags', 'u32'],
    ['pt_id', 'u32'],
    ['pasid', 'u32'],
  ]),
  vfio_device_detach_iommufd_pt: defineStruct('vfio_device_detach_iommufd_pt', V, '6.6', [
    ['argsz', 'u32'],
    ['flags', 'u32'],
    ['pasid', 'u32'],
  ]),
  /**
   * formats.md §7 (never merged upstream): `iommu_hw_info_arm_smmuv3` grown by a
   * `kernel_capabilities` bitmask at offset 40. Used only when the host enables it.
   */
  iommu_hw_info_arm_smmuv3_kcaps: defineStruct(
    'iommu_hw_info_arm_smmuv3',
    'experimental',
    'never',
    [
      ['flags', 'u32'],
      ['__reserved', 'u32'],
      ['idr', 'u32', 6],
      ['iidr', 'u32'],
      ['aidr', 'u32'],
      ['kernel_capabilities', 'u32'],
    ],
  ),
} as const;

/** Name of a UAPI struct table. */
export type UapiStructName = keyof typeof UAPI_STRUCTS;

/** offsetofend(struct, member). */
export function offsetofend(s: UapiStruct, member: string): number {
  const m = s.members.find((x) => x.name === member);
  if (!m) throw new Error(`${s.name} has no member ${member}`);
  return m.offset + m.size;
}

/** `_IO(type, nr)`: direction none, size 0 (include/uapi/asm-generic/ioctl.h). */
export function ioNone(type: number, nr: number): number {
  return ((type & 0xff) << 8) | (nr & 0xff);
}

/** IOMMUFD_TYPE (';'). */
export const IOMMUFD_TYPE = 0x3b;
/** IOMMUFD_CMD_BASE. */
export const IOMMUFD_CMD_BASE = 0x80;
/** VFIO_TYPE (';') and VFIO_BASE. */
export const VFIO_TYPE = 0x3b;
/** VFIO_BASE. */
export const VFIO_BASE = 100;

/** One ioctl of the iommufd table (drivers/iommu/iommufd/main.c `iommufd_ioctl_ops`). */
export interface IoctlDef {
  /** Macro name, e.g. `IOMMU_IOAS_MAP`. */
  readonly name: string;
  /** `_IOC_NR`. */
  readonly nr: number;
  /** Full request number `_IO(';', nr)`. */
  readonly request: number;
  readonly struct: UapiStruct;
  /** The member whose end is the minimum accepted `size` (the table's `_last`). */
  readonly last: string;
  /** offsetofend(struct, last). */
  readonly minSize: number;
  /** First kernel release with this ioctl (informational). */
  readonly since: string;
}

function ioctl(
  name: string,
  nr: number,
  struct: UapiStruct,
  last: string,
  since: string,
): IoctlDef {
  return {
    name,
    nr,
    request: ioNone(IOMMUFD_TYPE, nr),
    struct,
    last,
    minSize: offsetofend(struct, last),
    since,
  };
}

const S = UAPI_STRUCTS;

/** The iommufd ioctls, in command-number order (include/uapi/linux/iommufd.h). */
export const IOMMUFD_IOCTLS: readonly IoctlDef[] = [
  ioctl('IOMMU_DESTROY', 0x80, S.iommu_destroy, 'id', '6.2'),
  ioctl('IOMMU_IOAS_ALLOC', 0x81, S.iommu_ioas_alloc, 'out_ioas_id', '6.2'),
  ioctl('IOMMU_IOAS_ALLOW_IOVAS', 0x82, S.iommu_ioas_allow_iovas, 'allowed_iovas', '6.2'),
  ioctl('IOMMU_IOAS_COPY', 0x83, S.iommu_ioas_copy, 'src_iova', '6.2'),
  ioctl('IOMMU_IOAS_IOVA_RANGES', 0x84, S.iommu_ioas_iova_ranges, 'out_iova_alignment', '6.2'),
  ioctl('IOMMU_IOAS_MAP', 0x85, S.iommu_ioas_map, 'iova', '6.2'),
  ioctl('IOMMU_IOAS_UNMAP', 0x86, S.iommu_ioas_unmap, 'length', '6.2'),
  ioctl('IOMMU_OPTION', 0x87, S.iommu_option, 'val64', '6.2'),
  ioctl('IOMMU_VFIO_IOAS', 0x88, S.iommu_vfio_ioas, '__reserved', '6.2'),
  ioctl('IOMMU_HWPT_ALLOC', 0x89, S.iommu_hwpt_alloc, '__reserved', '6.6'),
  ioctl('IOMMU_GET_HW_INFO', 0x8a, S.iommu_hw_info, '__reserved', '6.6'),
  ioctl(
    'IOMMU_HWPT_SET_DIRTY_TRACKING',
    0x8b,
    S.iommu_hwpt_set_dirty_tracking,
    '__reserved',
    '6.7',
  ),
  ioctl('IOMMU_HWPT_GET_DIRTY_BITMAP', 0x8c, S.iommu_hwpt_get_dirty_bitmap, 'data', '6.7'),
  ioctl('IOMMU_HWPT_INVALIDATE', 0x8d, S.iommu_hwpt_invalidate, '__reserved', '6.8'),
  ioctl('IOMMU_FAULT_QUEUE_ALLOC', 0x8e, S.iommu_fault_alloc, 'out_fault_fd', '6.11'),
  ioctl('IOMMU_IOAS_MAP_FILE', 0x8f, S.iommu_ioas_map_file, 'iova', '6.13'),
  ioctl('IOMMU_VIOMMU_ALLOC', 0x90, S.iommu_viommu_alloc, 'out_viommu_id', '6.13'),
  ioctl('IOMMU_VDEVICE_ALLOC', 0x91, S.iommu_vdevice_alloc, 'virt_id', '6.13'),
  ioctl('IOMMU_IOAS_CHANGE_PROCESS', 0x92, S.iommu_ioas_change_process, '__reserved', '6.14'),
  ioctl('IOMMU_VEVENTQ_ALLOC', 0x93, S.iommu_veventq_alloc, 'out_veventq_fd', '6.15'),
  ioctl('IOMMU_HW_QUEUE_ALLOC', 0x94, S.iommu_hw_queue_alloc, 'length', '6.17'),
  ioctl('IOMMU_IOAS_NOIOMMU_GET_PA', 0x95, S.iommu_ioas_noiommu_get_pa, 'out_phys', '7.x'),
];

/** Request numbers by macro name (iommufd and VFIO cdev). */
export const REQ = {
  IOMMU_DESTROY: ioNone(IOMMUFD_TYPE, 0x80),
  IOMMU_IOAS_ALLOC: ioNone(IOMMUFD_TYPE, 0x81),
  IOMMU_IOAS_ALLOW_IOVAS: ioNone(IOMMUFD_TYPE, 0x82),
  IOMMU_IOAS_COPY: ioNone(IOMMUFD_TYPE, 0x83),
  IOMMU_IOAS_IOVA_RANGES: ioNone(IOMMUFD_TYPE, 0x84),
  IOMMU_IOAS_MAP: ioNone(IOMMUFD_TYPE, 0x85),
  IOMMU_IOAS_UNMAP: ioNone(IOMMUFD_TYPE, 0x86),
  IOMMU_OPTION: ioNone(IOMMUFD_TYPE, 0x87),
  IOMMU_VFIO_IOAS: ioNone(IOMMUFD_TYPE, 0x88),
  IOMMU_HWPT_ALLOC: ioNone(IOMMUFD_TYPE, 0x89),
  IOMMU_GET_HW_INFO: ioNone(IOMMUFD_TYPE, 0x8a),
  IOMMU_HWPT_SET_DIRTY_TRACKING: ioNone(IOMMUFD_TYPE, 0x8b),
  IOMMU_HWPT_GET_DIRTY_BITMAP: ioNone(IOMMUFD_TYPE, 0x8c),
  IOMMU_HWPT_INVALIDATE: ioNone(IOMMUFD_TYPE, 0x8d),
  IOMMU_FAULT_QUEUE_ALLOC: ioNone(IOMMUFD_TYPE, 0x8e),
  IOMMU_IOAS_MAP_FILE: ioNone(IOMMUFD_TYPE, 0x8f),
  IOMMU_VIOMMU_ALLOC: ioNone(IOMMUFD_TYPE, 0x90),
  IOMMU_VDEVICE_ALLOC: ioNone(IOMMUFD_TYPE, 0x91),
  IOMMU_IOAS_CHANGE_PROCESS: ioNone(IOMMUFD_TYPE, 0x92),
  IOMMU_VEVENTQ_ALLOC: ioNone(IOMMUFD_TYPE, 0x93),
  IOMMU_HW_QUEUE_ALLOC: ioNone(IOMMUFD_TYPE, 0x94),
  IOMMU_IOAS_NOIOMMU_GET_PA: ioNone(IOMMUFD_TYPE, 0x95),
  VFIO_DEVICE_BIND_IOMMUFD: ioNone(VFIO_TYPE, VFIO_BASE + 18),
  VFIO_DEVICE_ATTACH_IOMMUFD_PT: ioNone(VFIO_TYPE, VFIO_BASE + 19),
  VFIO_DEVICE_DETACH_IOMMUFD_PT: ioNone(VFIO_TYPE, VFIO_BASE + 20),
} as const;

/** Name of a request number (for traces); undefined when unknown. */
export function requestName(request: number): string | undefined {
  for (const [k, v] of Object.entries(REQ)) if (v === request) return k;
  return undefined;
}

// ---- UAPI constants (enum values of the headers) ----

/** enum iommufd_ioas_map_flags. */
export const IOAS_MAP = {
  FIXED_IOVA: 1 << 0,
  WRITEABLE: 1 << 1,
  READABLE: 1 << 2,
} as const;

/** enum iommufd_option / iommufd_option_ops. */
export const OPTION = {
  RLIMIT_MODE: 0,
  HUGE_PAGES: 1,
  OP_SET: 0,
  OP_GET: 1,
} as const;

/** enum iommufd_vfio_ioas_op. */
export const VFIO_IOAS_OP = { GET: 0, SET: 1, CLEAR: 2 } as const;

/** enum iommufd_hwpt_alloc_flags. */
export const HWPT_ALLOC = {
  NEST_PARENT: 1 << 0,
  DIRTY_TRACKING: 1 << 1,
  FAULT_ID_VALID: 1 << 2,
  PASID: 1 << 3,
} as const;

/** enum iommu_hwpt_data_type. */
export const HWPT_DATA = { NONE: 0, VTD_S1: 1, ARM_SMMUV3: 2, AMD_GUEST: 3 } as const;

/** enum iommu_hw_info_type. */
export const HW_INFO_TYPE = {
  NONE: 0,
  DEFAULT: 0,
  INTEL_VTD: 1,
  ARM_SMMUV3: 2,
  TEGRA241_CMDQV: 3,
  AMD: 4,
} as const;

/** enum iommufd_hw_capabilities. */
export const HW_CAP = {
  DIRTY_TRACKING: 1 << 0,
  PCI_PASID_EXEC: 1 << 1,
  PCI_PASID_PRIV: 1 << 2,
  PCI_ATS_NOT_SUPPORTED: 1 << 3,
} as const;

/** enum iommufd_hw_info_flags. */
export const HW_INFO_FLAG = { INPUT_TYPE: 1 << 0 } as const;

/**
 * `kernel_capabilities` bits of the experimental grown `iommu_hw_info_arm_smmuv3` (formats.md §7;
 * never merged upstream).
 */
export const HW_INFO_ARM_SMMUV3_KCAP = {
  /** The kernel accepts STE.SHCFG in a vSTE. */
  VSTE_SHCFG: 1 << 0,
  /** The kernel accepts STE.MTCFG, MemAttr and ALLOCCFG in a vSTE. */
  VSTE_MTCFG: 1 << 1,
} as const;

/** enum iommufd_hwpt_set_dirty_tracking_flags / get_dirty_bitmap_flags. */
export const DIRTY = { TRACKING_ENABLE: 1, GET_BITMAP_NO_CLEAR: 1 } as const;

/** enum iommu_hwpt_invalidate_data_type. */
export const INVALIDATE_DATA = { VTD_S1: 0, VIOMMU_ARM_SMMUV3: 1 } as const;

/** enum iommu_viommu_type. */
export const VIOMMU_TYPE = { DEFAULT: 0, ARM_SMMUV3: 1, TEGRA241_CMDQV: 2 } as const;

/** enum iommu_veventq_type. */
export const VEVENTQ_TYPE = { DEFAULT: 0, ARM_SMMUV3: 1, TEGRA241_CMDQV: 2 } as const;

/** enum iommu_veventq_flag. */
export const VEVENTQ_FLAG = { LOST_EVENTS: 1 << 0 } as const;

/** enum iommu_hw_queue_type. */
export const HW_QUEUE_TYPE = { DEFAULT: 0, TEGRA241_CMDQV: 1 } as const;

/** VFIO cdev flags. */
export const VFIO_FLAG = {
  BIND_FLAG_TOKEN: 1 << 0,
  ATTACH_PASID: 1 << 0,
  DETACH_PASID: 1 << 0,
} as const;

// ---- little-endian access driven by the table ----

/** Reads a u32 (little-endian) at `off`. */
export function getU32(b: Uint8Array, off: number): number {
  return (
    ((b[off] ?? 0) | ((b[off + 1] ?? 0) << 8) | ((b[off + 2] ?? 0) << 16)) +
    (b[off + 3] ?? 0) * 0x100_0000
  );
}

/** Reads a u16 (little-endian) at `off`. */
export function getU16(b: Uint8Array, off: number): number {
  return (b[off] ?? 0) | ((b[off + 1] ?? 0) << 8);
}

/** Reads a u64 (little-endian) at `off` as a bigint. */
export function getU64(b: Uint8Array, off: number): bigint {
  return (BigInt(getU32(b, off + 4)) << 32n) | BigInt(getU32(b, off));
}

/**
 * Reads a u64 at `off` as a number when it is below 2^53, else -1 (callers treat -1 as "too big",
 * which the kernel's `>= ULONG_MAX` / overflow checks turn into an errno).
 */
export function getU64Num(b: Uint8Array, off: number): number {
  const hi = getU32(b, off + 4);
  if (hi >= 0x20_0000) return -1;
  return hi * 0x1_0000_0000 + getU32(b, off);
}

/** Writes a u32 (little-endian). */
export function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/** Writes a u16 (little-endian). */
export function setU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
}

/** Writes a u64 (little-endian) from a bigint. */
export function setU64(b: Uint8Array, off: number, v: bigint): void {
  const x = BigInt.asUintN(64, v);
  setU32(b, off, Number(x & 0xffff_ffffn));
  setU32(b, off + 4, Number(x >> 32n));
}

/** Writes a u64 (little-endian) from a non-negative number below 2^53. */
export function setU64Num(b: Uint8Array, off: number, v: number): void {
  setU32(b, off, v >>> 0);
  setU32(b, off + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
}

function memberOf(s: UapiStruct, name: string): UapiMember {
  const m = s.members.find((x) => x.name === name);
  if (!m) throw new Error(`${s.name} has no member ${name}`);
  return m;
}

/** Reads a member (element `index` of an array member) as a bigint. */
export function readMember(b: Uint8Array, s: UapiStruct, name: string, index = 0): bigint {
  const m = memberOf(s, name);
  const es = CSIZE[m.type];
  const off = m.offset + index * es;
  switch (m.type) {
    case 'u8':
      return BigInt(b[off] ?? 0);
    case 'u16':
      return BigInt(getU16(b, off));
    case 'u32':
      return BigInt(getU32(b, off));
    case 's32':
      return BigInt(getU32(b, off) | 0);
    case 'u64':
      return getU64(b, off);
  }
}

/** Writes a member (element `index` of an array member) from a bigint or number. */
export function writeMember(
  b: Uint8Array,
  s: UapiStruct,
  name: string,
  value: bigint | number,
  index = 0,
): void {
  const m = memberOf(s, name);
  const es = CSIZE[m.type];
  const off = m.offset + index * es;
  const v = BigInt(value);
  switch (m.type) {
    case 'u8':
      b[off] = Number(v & 0xffn);
      return;
    case 'u16':
      setU16(b, off, Number(v & 0xffffn));
      return;
    case 'u32':
    case 's32':
      setU32(b, off, Number(BigInt.asUintN(32, v)));
      return;
    case 'u64':
      setU64(b, off, v);
      return;
  }
}

/**
 * Builds a struct's bytes from member values (unspecified members are 0; `size`/`argsz` default to
 * sizeof). A convenience for callers (VMM, CLI); the tests build their bytes by hand instead.
 */
export function encodeStruct(
  s: UapiStruct,
  values: Readonly<Record<string, bigint | number | readonly (bigint | number)[]>>,
): Uint8Array {
  const b = new Uint8Array(s.size);
  const first = s.members[0];
  if (first && (first.name === 'size' || first.name === 'argsz') && !(first.name in values)) {
    setU32(b, 0, s.size);
  }
  for (const [k, v] of Object.entries(values)) {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) writeMember(b, s, k, v[i] as bigint | number, i);
    } else writeMember(b, s, k, v as bigint | number);
  }
  return b;
}

/** Decodes every member of a struct into a record (arrays as lists). */
export function decodeStruct(s: UapiStruct, b: Uint8Array): Record<string, bigint | bigint[]> {
  const out: Record<string, bigint | bigint[]> = {};
  for (const m of s.members) {
    if (m.count !== undefined) {
      const xs: bigint[] = [];
      for (let i = 0; i < m.count; i++) xs.push(readMember(b, s, m.name, i));
      out[m.name] = xs;
    } else out[m.name] = readMember(b, s, m.name);
  }
  return out;
}
