// The runner's behaviour around the examples: raw-ioctl byte layout (offsets written here by hand
// from include/uapi/linux/iommufd.h, linux-libc-dev 7.3.4), labels bound from output members,
// failed expectations (the run stops, the step says what was expected and what happened), `out`
// and memory checks, counter deltas, and a result that serialises to JSON without bigints.

import { describe, expect, it } from 'vitest';
import { UAPI_STRUCTS } from '../../src/iommufd/uapi.ts';
import { encodeArgs } from '../../src/scenario/ioctls.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { runScenario } from '../../src/scenario/run.ts';

function run(yaml: string) {
  return runScenario(parseScenario(yaml, 't.yaml'));
}

function le32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off, true);
}

function le64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
}

describe('raw ioctl layout', () => {
  it('struct iommu_hwpt_alloc: size, members at their header offsets, LE', () => {
    // size 0, flags 4, dev_id 8, pt_id 12, out_hwpt_id 16, __reserved 20, data_type 24,
    // data_len 28, data_uptr 32 (__aligned_u64), fault_id 40, __reserved2 44; sizeof 48.
    const b = encodeArgs(
      UAPI_STRUCTS.iommu_hwpt_alloc,
      new Map<string, bigint>([
        ['flags', 1n],
        ['dev_id', 0x11n],
        ['pt_id', 0x22n],
        ['data_type', 2n],
        ['data_len', 16n],
        ['data_uptr', 0x7f00_dead_b000n],
        ['fault_id', 0x33n],
      ]),
    );
    expect(b.length).toBe(48);
    expect(le32(b, 0)).toBe(48);
    expect(le32(b, 4)).toBe(1);
    expect(le32(b, 8)).toBe(0x11);
    expect(le32(b, 12)).toBe(0x22);
    expect(le32(b, 16)).toBe(0);
    expect(le32(b, 24)).toBe(2);
    expect(le32(b, 28)).toBe(16);
    expect(le64(b, 32)).toBe(0x7f00_dead_b000n);
    expect(le32(b, 40)).toBe(0x33);
  });

  it('an explicit size larger than sizeof grows the buffer with a zero tail; smaller keeps sizeof', () => {
    const big = encodeArgs(UAPI_STRUCTS.iommu_ioas_alloc, new Map([['size', 24n]]));
    expect(big.length).toBe(24);
    expect(le32(big, 0)).toBe(24);
    expect([...big.subarray(12)].every((x) => x === 0)).toBe(true);
    const small = encodeArgs(UAPI_STRUCTS.iommu_ioas_alloc, new Map([['size', 8n]]));
    expect(small.length).toBe(12);
    expect(le32(small, 0)).toBe(8);
  });

  it('the kernel model sees the layout: EINVAL below the minimum size, a zero tail beyond sizeof accepted', () => {
    const r = run(`steps:
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
    args: { size: 8 }
    expect: EINVAL
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
    args: { size: 64 }
    bind: { out_ioas_id: a }
  - ioctl: IOMMU_DESTROY
    fd: iommufd
    args: { id: $a }
  - ioctl: IOMMU_DESTROY
    fd: iommufd
    args: { id: $a }
    expect: ENOENT
`);
    expect(r.ok, JSON.stringify(r, null, 1)).toBe(true);
    expect(r.steps.map((s) => s.errno ?? 'ok')).toEqual(['EINVAL', 'ok', 'ok', 'ENOENT']);
  });
});

describe('expectations', () => {
  it('a failed expectation stops the run and reports expected vs actual', () => {
    const r = run(`steps:
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
    expect: EINVAL
  - log: never reached
`);
    expect(r.ok).toBe(false);
    expect(r.steps).toHaveLength(1);
    expect(r.steps[0]).toMatchObject({
      ok: false,
      ret: 0,
      expected: 'EINVAL',
      actual: 'ok',
      line: 2,
    });
    expect(r.log.some((l) => l.includes('step 0 (line 2, ioctl) failed'))).toBe(true);
    expect(r.log).not.toContain('never reached');
  });

  it('out members are compared after the call', () => {
    const ok = run(`steps:
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
    out: { out_ioas_id: 1, size: 12 }
`);
    expect(ok.ok).toBe(true);
    const bad = run(`steps:
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
    out: { out_ioas_id: 7 }
`);
    expect(bad.ok).toBe(false);
    expect(bad.steps[0]).toMatchObject({
      expected: { out_ioas_id: '0x7' },
      actual: { out_ioas_id: '0x1' },
    });
  });

  it('memory checks read the VMM process memory the buffers live in', () => {
    const r = run(`steps:
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
    bind: { out_ioas_id: ioas }
  - ioctl: IOMMU_IOAS_IOVA_RANGES
    fd: iommufd
    args: { ioas_id: $ioas, num_iovas: 2, allowed_iovas: { buffer: [], size: 32, fill: 0xaa, as: r } }
    out: { num_iovas: 1 }
  - memory: $r
    u64: [0, "0xffff_ffff_ffff_ffff", "0xaaaa_aaaa_aaaa_aaaa"]
`);
    // An IOAS with no device attached has one range, [0, ULONG_MAX] (iommufd io_pagetable.c).
    expect(r.ok, JSON.stringify(r.steps)).toBe(true);
    const bad = run(`steps:
  - write: "0x10"
    u32: [1]
`);
    expect(bad.ok).toBe(false);
    expect(bad.steps[0]?.actual).toBe('unmapped');
  });

  it('counter deltas count from the previous expect-counters step', () => {
    const r = run(`steps:
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
  - expect-counters: { ioctls: { IOMMU_IOAS_ALLOC: 1 } }
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
  - expect-counters: { ioctls: { IOMMU_IOAS_ALLOC: 2 } }
    delta: true
  - expect-counters: { ioctls: { IOMMU_IOAS_ALLOC: { min: 3, max: 3 } } }
`);
    expect(r.ok, JSON.stringify(r.steps)).toBe(true);
    const bad = run(`steps:
  - expect-counters: { ioctls: { IOMMU_IOAS_ALLOC: 1 } }
`);
    expect(bad.steps[0]).toMatchObject({
      ok: false,
      expected: { 'ioctls.IOMMU_IOAS_ALLOC': 1 },
      actual: { 'ioctls.IOMMU_IOAS_ALLOC': 0 },
    });
  });

  it('expect-log finds host and VMM lines; absent: true inverts it', () => {
    const r = run(`steps:
  - log: hello from the scenario
  - expect-log: hello from
  - expect-log: goodbye
    absent: true
`);
    expect(r.ok).toBe(true);
  });

  it('the result is plain JSON (64-bit values as "0x…" strings)', () => {
    const r = run(`machine: { guest: {} }
steps:
  - attach: vfio0
    domain: d
  - dma: vfio0
    iova: "0xdead_0000"
    read: 4
    expect: fault
    event: { type: F_TRANSLATION, fields: { InputAddr: "0xdead_0000" } }
`);
    expect(r.ok, JSON.stringify(r.log)).toBe(true);
    const text = JSON.stringify(r);
    const back = JSON.parse(text);
    expect(back.steps[1].events[0].type).toBe('F_TRANSLATION');
    expect(back.steps[1].events[0].fields.InputAddr).toBe('0xdead0000');
    expect(back.counters.guestExits).toBeGreaterThan(0);
  });

  it('machine.guest.driver-bug plants the driver bugs: the stale translation keeps serving DMA', () => {
    const story = (bug: string, tlbi: number, after: string) => `machine:
  guest: { driver-bug: ${bug} }
steps:
  - attach: vfio0
    domain: d
  - map: d
    iova: "0x1000"
    size: 0x1000
  - dma: vfio0
    iova: "0x1000"
    write: [9]
  - unmap: d
    iova: "0x1000"
    size: 0x1000
  - expect-counters: { smmuCommands: { TLBI_NH_VA: ${tlbi} } }
    delta: true
  - dma: vfio0
    iova: "0x1000"
    read: 1
${after}
`;
    // Forgotten TLBI: nothing reaches the SMMU, the cached translation still answers.
    expect(run(story('forget-tlbi', 0, '    data: [9]')).ok).toBe(true);
    // Wrong ASID: a TLBI is issued, but for another ASID, so the entry survives.
    expect(run(story('wrong-asid', 1, '    data: [9]')).ok).toBe(true);
    // The correct driver: the same DMA faults.
    expect(run(story('none', 1, '    expect: fault')).ok).toBe(true);
  });
});
