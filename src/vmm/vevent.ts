// Parsing what read(2) returns on a vEVENTQ fd (include/uapi/linux/iommufd.h: struct
// iommufd_vevent_header {flags, sequence} then struct iommu_vevent_arm_smmuv3 {le64 evt[4]};
// drivers/iommu/iommufd/eventq.c): header/record pairs, possibly ended by a lone header with
// IOMMU_VEVENTQ_FLAG_LOST_EVENTS. Sequence numbers count every report (delivered or lost) in
// [0, INT_MAX] and wrap to 0; a lost header carries the sequence of the last dropped report, and a
// later real event may replace it, so losses are counted from sequence gaps (QEMU's
// smmuv3_accel_event_read and OpenVMM's reader do the same).

import { getU32, getU64, UAPI_STRUCTS, VEVENTQ_FLAG } from '../iommufd/uapi.ts';

/** A 32-byte SMMUv3 event record (four little-endian 64-bit words). */
export type RawEvent = readonly [bigint, bigint, bigint, bigint];

const HDR = UAPI_STRUCTS.iommufd_vevent_header;
const EVT = UAPI_STRUCTS.iommu_vevent_arm_smmuv3;
/** Bytes of one header + SMMUv3 record. */
export const VEVENT_RECORD_BYTES = HDR.size + EVT.size;
/** Sequence numbers wrap after INT_MAX. */
const SEQ_MOD = 2 ** 31;

/** One read's worth of parsed vEVENTQ data. */
export interface VeventBatch {
  readonly records: readonly { readonly sequence: number; readonly raw: RawEvent }[];
  /** Reports lost on the host side (sequence gaps and LOST_EVENTS headers). */
  readonly lost: number;
  /** A LOST_EVENTS header was seen. */
  readonly overflowHeader: boolean;
  /** Trailing bytes that did not form a whole record (never produced by the kernel). */
  readonly truncatedBytes: number;
}

/** Tracks sequence numbers across reads of one vEVENTQ. */
export class VeventReader {
  /** The sequence number the next report should carry. */
  private expected = 0;

  /** Parses the bytes of one read. */
  parse(bytes: Uint8Array): VeventBatch {
    const records: { sequence: number; raw: RawEvent }[] = [];
    let lost = 0;
    let overflowHeader = false;
    let off = 0;
    while (off + HDR.size <= bytes.length) {
      const flags = getU32(bytes, off + (HDR.off['flags'] as number));
      const seq = getU32(bytes, off + (HDR.off['sequence'] as number));
      if ((flags & VEVENTQ_FLAG.LOST_EVENTS) !== 0) {
        // The header stands for every report from `expected` up to and including `seq`.
        overflowHeader = true;
        lost += mod(seq - this.expected + 1);
        this.expected = mod(seq + 1);
        off += HDR.size;
        continue;
      }
      if (off + VEVENT_RECORD_BYTES > bytes.length) break;
      lost += mod(seq - this.expected);
      this.expected = mod(seq + 1);
      const p = off + HDR.size;
      records.push({
        sequence: seq,
        raw: [getU64(bytes, p), getU64(bytes, p + 8), getU64(bytes, p + 16), getU64(bytes, p + 24)],
      });
      off += VEVENT_RECORD_BYTES;
    }
    return { records, lost, overflowHeader, truncatedBytes: bytes.length - off };
  }
}

function mod(x: number): number {
  return ((x % SEQ_MOD) + SEQ_MOD) % SEQ_MOD;
}
