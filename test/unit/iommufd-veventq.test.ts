// vEVENTQ (checklist rows 75–82; eventq.c iommufd_veventq_alloc / report / read, arm_smmu_handle_event)
// and the remaining objects (rows 83–84: FAULT_QUEUE_ALLOC, HW_QUEUE_ALLOC). Event records are built
// by hand (IHI 0070 §7.3: ID 7:0, SID 63:32; word 1 STALL bit 31, S2 bit 39) and offered to the SMMU
// as if it had raised them; the read() stream is parsed by hand (header {u32 flags; u32 sequence}
// then 32 bytes of record).

import { describe, expect, it } from 'vitest';
import { attach, destroy, E, nestedAlloc, nestedRig, R, S } from './iommufd-harness.ts';

type Rec = [bigint, bigint, bigint, bigint];

const evt = (id: number, sid: number, w1 = 0n, addr = 0x1234_5000n): Rec => [
  BigInt(id) | (BigInt(sid) << 32n),
  w1,
  addr,
  0n,
];

function veventq(
  n: ReturnType<typeof nestedRig>,
  depth: number,
  o: { type?: number; flags?: number; viommu?: number } = {},
) {
  const s = new S(32)
    .u32(4, o.flags ?? 0)
    .u32(8, o.viommu ?? n.viommu)
    .u32(12, o.type ?? 1)
    .u32(16, depth);
  const rc = n.io(n.fd, R.VEVENTQ_ALLOC, s);
  return { rc, id: s.g32(20), fd: s.g32(24) };
}

interface Parsed {
  lost: boolean;
  seq: number;
  rec?: Rec;
}

function readAll(n: ReturnType<typeof nestedRig>, fd: number, count = 4096): Parsed[] {
  const b = n.p.read(fd, count);
  if (typeof b === 'number') throw new Error(`read ${b}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const out: Parsed[] = [];
  let off = 0;
  while (off < b.length) {
    const flags = dv.getUint32(off, true);
    const seq = dv.getUint32(off + 4, true);
    off += 8;
    if (flags & 1) {
      out.push({ lost: true, seq });
      continue;
    }
    const rec: Rec = [0n, 0n, 0n, 0n];
    for (let i = 0; i < 4; i++) rec[i] = dv.getBigUint64(off + 8 * i, true);
    off += 32;
    out.push({ lost: false, seq, rec });
  }
  return out;
}

/** A nested rig with the device attached to an S1 nested HWPT through vSID `vsid`. */
function attachedRig(vsid = 0x99n, config = {}) {
  const n = nestedRig(config, { vsid });
  const nh = nestedAlloc(n, n.devid[0] as number, n.viommu, 0x1n | (5n << 1n) | 0x4000_0000n, 0n);
  expect(nh.rc).toBe(0);
  expect(attach(n, 0, nh.id).rc).toBe(0);
  return { ...n, nested: nh.id };
}

describe('VEVENTQ_ALLOC (row 75)', () => {
  it('flags / __reserved / type 0 → EOPNOTSUPP; depth 0 → EINVAL; bad vIOMMU → ENOENT; twice → EEXIST', () => {
    const n = nestedRig();
    expect(veventq(n, 4, { flags: 1 }).rc).toBe(E.EOPNOTSUPP);
    expect(
      n.io(n.fd, R.VEVENTQ_ALLOC, new S(32).u32(8, n.viommu).u32(12, 1).u32(16, 4).u32(28, 1)),
    ).toBe(E.EOPNOTSUPP);
    expect(veventq(n, 4, { type: 0 }).rc).toBe(E.EOPNOTSUPP);
    expect(veventq(n, 0).rc).toBe(E.EINVAL);
    expect(veventq(n, 4, { viommu: 99 }).rc).toBe(E.ENOENT);
    const q = veventq(n, 4);
    expect(q.rc).toBe(0);
    expect(q.fd).toBeGreaterThan(2);
    expect(veventq(n, 4).rc).toBe(E.EEXIST);
    expect(veventq(n, 4, { type: 2 }).rc).toBe(0); // another type on the same vIOMMU
  });
});

describe('event forwarding (rows 76, 82)', () => {
  it('row 82: forwarded IDs, verbatim except SID ← vSID; 32-byte payload', () => {
    const n = attachedRig(0x99n);
    const q = veventq(n, 16);
    const smmu = n.host.smmu(0);
    const rec = evt(0x10, 8, 1n << 35n, 0xdead_b000n); // F_TRANSLATION, read
    rec[3] = 0x4000_1000n;
    expect(smmu.injectEvent(rec)).toBe(true);
    const got = readAll(n, q.fd);
    expect(got).toHaveLength(1);
    expect(got[0]?.rec).toEqual([0x10n | (0x99n << 32n), 1n << 35n, 0xdead_b000n, 0x4000_1000n]);
    expect(got[0]?.seq).toBe(0);
    // every listed ID is forwarded
    for (const id of [0x04, 0x06, 0x08, 0x0a, 0x11, 0x12, 0x13]) smmu.injectEvent(evt(id, 8));
    expect(readAll(n, q.fd).map((e) => Number((e.rec as Rec)[0] & 0xffn))).toEqual([
      0x04, 0x06, 0x08, 0x0a, 0x11, 0x12, 0x13,
    ]);
  });

  it('row 82: other IDs, stall events, stage-2 faults and masters without a vmaster stay on the host', () => {
    const n = attachedRig(0x99n, { bind: 2 });
    const q = veventq(n, 16);
    const smmu = n.host.smmu(0);
    smmu.injectEvent(evt(0x02, 8)); // C_BAD_STREAMID
    smmu.injectEvent(evt(0x09, 8)); // F_CD_FETCH
    smmu.injectEvent(evt(0x10, 8, 1n << 31n)); // stall
    smmu.injectEvent(evt(0x10, 8, 1n << 39n)); // S2 fault
    smmu.injectEvent(evt(0x10, 0x10)); // vfio1: no vDEVICE / vmaster
    expect(readAll(n, q.fd)).toEqual([]);
    expect(smmu.handledEvents.slice(-5).every((e) => e.outcome === 'logged')).toBe(true);
  });

  it('row 76: no vEVENTQ of the type → the event is logged on the host', () => {
    const n = attachedRig(0x99n);
    n.host.smmu(0).injectEvent(evt(0x10, 8));
    const last = n.host.smmu(0).handledEvents.at(-1);
    expect(last?.outcome).toBe('logged');
  });

  it('row 59: the vSID is a snapshot taken at attach', () => {
    const n = attachedRig(0x99n);
    const q = veventq(n, 16);
    expect(destroy(n, n.vdev)).toBe(0);
    const v = new S(24)
      .u32(4, n.viommu)
      .u32(8, n.devid[0] as number)
      .u64(16, 0x77n);
    expect(n.io(n.fd, R.VDEVICE_ALLOC, v)).toBe(0);
    n.host.smmu(0).injectEvent(evt(0x10, 8));
    expect(((readAll(n, q.fd)[0] as Parsed).rec as Rec)[0] >> 32n).toBe(0x99n);
    // re-attach picks up the new vSID
    expect(attach(n, 0, n.parent).rc).toBe(0);
    expect(attach(n, 0, n.nested).rc).toBe(0);
    n.host.smmu(0).injectEvent(evt(0x10, 8));
    expect(((readAll(n, q.fd)[0] as Parsed).rec as Rec)[0] >> 32n).toBe(0x77n);
  });
});

describe('queue depth, LOST_EVENTS and sequence (rows 77–80)', () => {
  it('depth 2: three events → e0, e1, {LOST, 2}; one more → e3 replaces the LOST header', () => {
    const n = attachedRig();
    const q = veventq(n, 2);
    const smmu = n.host.smmu(0);
    for (let i = 0; i < 3; i++) smmu.injectEvent(evt(0x10, 8, 0n, BigInt(0x1000 * (i + 1))));
    const first = readAll(n, q.fd);
    expect(first.map((e) => [e.lost, e.seq])).toEqual([
      [false, 0],
      [false, 1],
      [true, 2],
    ]);
    smmu.injectEvent(evt(0x10, 8, 0n, 0x9000n));
    const next = readAll(n, q.fd);
    expect(next.map((e) => [e.lost, e.seq])).toEqual([[false, 3]]);
  });

  it('row 79: a new event after a tail LOST header removes it (the gap shows the loss)', () => {
    const n = attachedRig();
    const q = veventq(n, 1);
    const smmu = n.host.smmu(0);
    smmu.injectEvent(evt(0x10, 8)); // seq 0 queued
    smmu.injectEvent(evt(0x10, 8)); // full → LOST header, seq 1
    smmu.injectEvent(evt(0x10, 8)); // still full → LOST re-stamped, seq 2
    const a = readAll(n, q.fd, 40); // room for one record only
    expect(a.map((e) => [e.lost, e.seq])).toEqual([[false, 0]]);
    smmu.injectEvent(evt(0x10, 8)); // seq 3 replaces the tail LOST header
    expect(readAll(n, q.fd).map((e) => [e.lost, e.seq])).toEqual([[false, 3]]);
  });

  it('row 80: whole records only; nothing fits → 0 bytes; empty → 0; LOST header is 8 bytes', () => {
    const n = attachedRig();
    const q = veventq(n, 1);
    const smmu = n.host.smmu(0);
    expect(n.p.read(q.fd, 64)).toEqual(new Uint8Array(0));
    expect(n.p.poll(q.fd)).toBe(0);
    smmu.injectEvent(evt(0x10, 8));
    smmu.injectEvent(evt(0x10, 8));
    expect(n.p.poll(q.fd)).toBe(0x41); // POLLIN | POLLRDNORM
    expect((n.p.read(q.fd, 39) as Uint8Array).length).toBe(0);
    expect((n.p.read(q.fd, 47) as Uint8Array).length).toBe(40);
    const lost = n.p.read(q.fd, 8) as Uint8Array;
    expect([...lost]).toEqual([1, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('row 78: the sequence wraps at INT_MAX to 0', () => {
    const n = attachedRig();
    const q = veventq(n, 4);
    const obj = n.host.devices[0]?.boundBy as {
      ctx: { get(id: number, t: string): { sequence: number } };
    };
    obj.ctx.get(q.id, 'VEVENTQ').sequence = 0x7fff_ffff;
    n.host.smmu(0).injectEvent(evt(0x10, 8));
    n.host.smmu(0).injectEvent(evt(0x10, 8));
    expect(readAll(n, q.fd).map((e) => e.seq)).toEqual([0x7fff_ffff, 0]);
  });
});

describe('row 81: references of the vEVENTQ', () => {
  it('the open fd pins the vEVENTQ; the vEVENTQ pins the vIOMMU', () => {
    const n = attachedRig();
    const q = veventq(n, 4);
    expect(destroy(n, q.id)).toBe(E.EBUSY);
    expect(n.p.close(q.fd)).toBe(0);
    const v2 = veventq(n, 4, { type: 2 });
    expect(n.p.close(v2.fd)).toBe(0);
    expect(destroy(n, q.id)).toBe(0);
    // the TEGRA-typed queue is still there: the vIOMMU stays referenced
    expect(destroy(n, n.vdev)).toBe(0);
    expect(destroy(n, n.viommu)).toBe(E.EBUSY);
    expect(destroy(n, v2.id)).toBe(0);
  });
});

describe('rows 83–84: fault queue and HW queue', () => {
  it('row 83: FAULT_QUEUE_ALLOC flags → EOPNOTSUPP; misaligned response write → ESPIPE', () => {
    const n = nestedRig();
    expect(n.io(n.fd, R.FAULT_QUEUE_ALLOC, new S(16).u32(4, 1))).toBe(E.EOPNOTSUPP);
    const s = new S(16);
    expect(n.io(n.fd, R.FAULT_QUEUE_ALLOC, s)).toBe(0);
    const fd = s.g32(12);
    expect(n.p.writeFd(fd, new Uint8Array(5))).toBe(E.ESPIPE);
    expect(n.p.writeFd(fd, new Uint8Array(8))).toBe(E.EINVAL); // unknown cookie
  });

  it('row 84: HW_QUEUE_ALLOC flags / type 0 → EOPNOTSUPP; length 0 → EINVAL; overflow → EOVERFLOW', () => {
    const n = nestedRig();
    const hq = (o: {
      flags?: number;
      type?: number;
      base?: bigint;
      len?: bigint;
      viommu?: number;
    }) =>
      n.io(
        n.fd,
        R.HW_QUEUE_ALLOC,
        new S(40)
          .u32(4, o.flags ?? 0)
          .u32(8, o.viommu ?? n.viommu)
          .u32(12, o.type ?? 1)
          .u64(24, o.base ?? 0x1000n)
          .u64(32, o.len ?? 0x1000n),
      );
    expect(hq({ flags: 1 })).toBe(E.EOPNOTSUPP);
    expect(hq({ type: 0 })).toBe(E.EOPNOTSUPP);
    expect(hq({ len: 0n })).toBe(E.EINVAL);
    expect(hq({ base: (1n << 64n) - 0x800n })).toBe(E.EOVERFLOW);
    expect(hq({ viommu: 99 })).toBe(E.ENOENT);
    expect(hq({})).toBe(E.EOPNOTSUPP); // a plain SMMUv3 vIOMMU has no HW queue
  });
});

describe('the register-level loopback SMMU', () => {
  it('runs the driver (queues, STEs, events) without a translation side', () => {
    const n = attachedRig(0x99n, { smmus: [{ model: 'loopback' }] });
    const q = veventq(n, 4);
    expect(n.host.smmu(0).hw).toBeUndefined();
    expect((n.host.smmu(0).readSte(8)[0] as bigint) & 0xen).toBe(7n << 1n); // NESTED
    n.host.smmu(0).injectEvent(evt(0x10, 8));
    expect(readAll(n, q.fd).map((e) => Number(((e.rec as Rec)[0] >> 32n) & 0xffn))).toEqual([0x99]);
    expect(() => n.host.dma(0, { iova: 0n, access: 'read' })).toThrow(/does not translate/);
  });
});
