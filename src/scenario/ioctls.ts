// The raw ioctls a scenario may issue (formats.md §5): every iommufd request of
// include/uapi/linux/iommufd.h and the VFIO cdev bind/attach/detach of include/uapi/linux/vfio.h,
// by macro name, with the request number and the struct layout of the model's UAPI tables, plus the
// byte encoding of a step's `args` (members by kernel name, little-endian; `size`/`argsz` default to
// sizeof) and the decoding of its output members.

import {
  IOMMUFD_IOCTLS,
  REQ,
  readMember,
  UAPI_STRUCTS,
  type UapiMember,
  type UapiStruct,
  writeMember,
} from '../iommufd/uapi.ts';

/** One ioctl a scenario can name. */
export interface ScenarioIoctl {
  readonly name: string;
  readonly request: number;
  readonly struct: UapiStruct;
}

const VFIO: readonly ScenarioIoctl[] = [
  {
    name: 'VFIO_DEVICE_BIND_IOMMUFD',
    request: REQ.VFIO_DEVICE_BIND_IOMMUFD,
    struct: UAPI_STRUCTS.vfio_device_bind_iommufd,
  },
  {
    name: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
    request: REQ.VFIO_DEVICE_ATTACH_IOMMUFD_PT,
    struct: UAPI_STRUCTS.vfio_device_attach_iommufd_pt,
  },
  {
    name: 'VFIO_DEVICE_DETACH_IOMMUFD_PT',
    request: REQ.VFIO_DEVICE_DETACH_IOMMUFD_PT,
    struct: UAPI_STRUCTS.vfio_device_detach_iommufd_pt,
  },
];

/** Every ioctl by macro name. */
export const SCENARIO_IOCTLS: ReadonlyMap<string, ScenarioIoctl> = new Map(
  [
    ...IOMMUFD_IOCTLS.map((d) => ({ name: d.name, request: d.request, struct: d.struct })),
    ...VFIO,
  ].map((d) => [d.name, d]),
);

/** The member of a struct by kernel name (C union members included). */
export function memberOf(s: UapiStruct, name: string): UapiMember | undefined {
  return s.members.find((m) => m.name === name);
}

/** The name of the struct's leading size member (`size` or `argsz`), if it has one. */
export function sizeMember(s: UapiStruct): string | undefined {
  const first = s.members[0];
  return first && (first.name === 'size' || first.name === 'argsz') ? first.name : undefined;
}

/** A member value to write: a scalar or the elements of an array member. */
export type MemberValue = bigint | readonly bigint[];

/**
 * Lays out an ioctl struct: zeroes, `size`/`argsz` = sizeof unless given, then every given member.
 * When the given size exceeds sizeof the buffer grows to it (the extra bytes stay zero, which is
 * what copy_struct_from_user accepts).
 */
export function encodeArgs(s: UapiStruct, values: ReadonlyMap<string, MemberValue>): Uint8Array {
  const sm = sizeMember(s);
  const given = sm !== undefined ? values.get(sm) : undefined;
  const want = typeof given === 'bigint' && given <= 0x1_0000n ? Number(given) : s.size;
  const b = new Uint8Array(Math.max(s.size, want));
  if (sm !== undefined) writeMember(b, s, sm, s.size);
  for (const [name, v] of values) {
    if (typeof v === 'bigint') writeMember(b, s, name, v);
    else {
      v.forEach((x, i) => {
        writeMember(b, s, name, x, i);
      });
    }
  }
  return b;
}

/** Reads a member (arrays as element lists). */
export function decodeMember(s: UapiStruct, b: Uint8Array, name: string): MemberValue {
  const m = memberOf(s, name);
  if (!m) return 0n;
  if (m.count === undefined) return readMember(b, s, name);
  const out: bigint[] = [];
  for (let i = 0; i < m.count; i++) out.push(readMember(b, s, name, i));
  return out;
}
