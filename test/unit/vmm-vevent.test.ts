// vEVENTQ read parsing (include/uapi/linux/iommufd.h iommufd_vevent_header + iommu_vevent_arm_smmuv3;
// drivers/iommu/iommufd/eventq.c sequence and LOST_EVENTS rules, iommufd-smmuv3.md §10.2–§10.3).
import { describe, expect, it } from 'vitest';
import { VeventReader } from '../../src/vmm/index.ts';
import { veventBytes } from './vmm-fake-kernel.ts';

const R = (x: number) => [BigInt(x), 1n, 2n, 3n] as const;

describe('vEVENTQ reader', () => {
  it('splits header/record pairs and keeps the words verbatim', () => {
    const r = new VeventReader();
    const b = r.parse(
      veventBytes([
        { seq: 0, raw: R(7) },
        { seq: 1, raw: R(9) },
      ]),
    );
    expect(b.records.map((x) => x.raw)).toEqual([R(7), R(9)]);
    expect(b.lost).toBe(0);
    expect(b.truncatedBytes).toBe(0);
  });

  it('selftest pattern (depth 2): s, s+1, LOST(s+2), then s+3 counts one loss', () => {
    const r = new VeventReader();
    const b1 = r.parse(veventBytes([{ seq: 0, raw: R(0) }, { seq: 1, raw: R(1) }, { lost: 2 }]));
    expect(b1.lost).toBe(1);
    expect(b1.overflowHeader).toBe(true);
    const b2 = r.parse(veventBytes([{ seq: 3, raw: R(3) }]));
    expect(b2.lost).toBe(0);
  });

  it('a re-stamped LOST header stands for every dropped report', () => {
    const r = new VeventReader();
    // Depth 2, five reports: s+2..s+4 dropped, the header carries s+4.
    expect(
      r.parse(veventBytes([{ seq: 0, raw: R(0) }, { seq: 1, raw: R(1) }, { lost: 4 }])).lost,
    ).toBe(3);
  });

  it('a real event that replaced the LOST header shows the loss as a sequence gap', () => {
    const r = new VeventReader();
    r.parse(veventBytes([{ seq: 0, raw: R(0) }]));
    expect(r.parse(veventBytes([{ seq: 4, raw: R(4) }])).lost).toBe(3);
  });

  it('sequence numbers wrap after INT_MAX', () => {
    const r = new VeventReader();
    const max = 2 ** 31 - 1;
    // Start tracking right before the wrap: the first report seen is max − 1 (max − 1 lost before it).
    expect(
      r.parse(
        veventBytes([
          { seq: max - 1, raw: R(0) },
          { seq: max, raw: R(1) },
        ]),
      ).lost,
    ).toBe(max - 1);
    expect(
      r.parse(
        veventBytes([
          { seq: 0, raw: R(2) },
          { seq: 2, raw: R(3) },
        ]),
      ).lost,
    ).toBe(1);
  });

  it('ignores a trailing partial record', () => {
    const r = new VeventReader();
    const full = veventBytes([{ seq: 0, raw: R(0) }]);
    const b = r.parse(full.subarray(0, 30));
    expect(b.records).toHaveLength(0);
    expect(b.truncatedBytes).toBe(30);
  });
});
