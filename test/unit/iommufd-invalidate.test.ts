// IOMMU_HWPT_INVALIDATE through a vIOMMU (checklist rows 62–73; hw_pagetable.c
// iommufd_hwpt_invalidate + arm_vsmmu_cache_invalidate / arm_vsmmu_convert_user_cmd) and the parent
// S2 maintenance on unmap (row 74). Commands are built by hand (IHI 0070 §4: opcode 7:0, VMID 47:32,
// SID 63:32, SSID 31:12, ASID 63:48) and checked in the SMMU's executed-command log.

import { describe, expect, it } from 'vitest';
import { E, ioasMap, nestedRig, R, S } from './iommufd-harness.ts';

type Cmd = readonly [bigint, bigint];

const op = (o: number, rest = 0n): bigint => BigInt(o) | rest;
const VMID = (v: number) => BigInt(v) << 32n;
const SID = (v: number | bigint) => BigInt(v) << 32n;
const ASID = (v: number) => BigInt(v) << 48n;

function invalidate(
  n: ReturnType<typeof nestedRig>,
  cmds: readonly Cmd[],
  o: {
    id?: number;
    type?: number;
    entryLen?: number;
    entryNum?: number;
    reserved?: number;
    uptr?: bigint;
  } = {},
) {
  const len = o.entryLen ?? 16;
  const buf = n.p.mmap(Math.max(4096, cmds.length * len));
  const b = new Uint8Array(Math.max(1, cmds.length * len));
  const dv = new DataView(b.buffer);
  cmds.forEach(([w0, w1], i) => {
    // entries shorter than 16 bytes carry only their first entry_len bytes
    const e = new Uint8Array(16);
    const edv = new DataView(e.buffer);
    edv.setBigUint64(0, w0, true);
    edv.setBigUint64(8, w1, true);
    b.set(e.subarray(0, Math.min(16, len)), i * len);
  });
  n.p.write(buf, b);
  void dv;
  const s = new S(32)
    .u32(4, o.id ?? n.viommu)
    .u64(8, o.uptr ?? buf)
    .u32(16, o.type ?? 1)
    .u32(20, len)
    .u32(24, o.entryNum ?? cmds.length)
    .u32(28, o.reserved ?? 0);
  const m = n.host.smmu(0).mark();
  const rc = n.io(n.fd, R.HWPT_INVALIDATE, s);
  return { rc, done: s.g32(24), issued: n.host.smmu(0).commandsSince(m), buf };
}

const vmidOf = (n: ReturnType<typeof nestedRig>) =>
  Number((n.host.smmu(0).readSte(8)[2] as bigint) & 0xffffn);

describe('HWPT_INVALIDATE core checks (rows 62–66)', () => {
  it('row 62: __reserved → EOPNOTSUPP with entry_num written back as 0', () => {
    const n = nestedRig({}, { vsid: 1n });
    const r = invalidate(n, [[op(0x30), 0n]], { reserved: 1 });
    expect(r).toMatchObject({ rc: E.EOPNOTSUPP, done: 0 });
  });

  it('row 63: entry_num ≠ 0 with data_uptr 0 or entry_len 0 → EINVAL, entry_num 0', () => {
    const n = nestedRig({}, { vsid: 1n });
    expect(invalidate(n, [[op(0x30), 0n]], { uptr: 0n })).toMatchObject({ rc: E.EINVAL, done: 0 });
    const s = new S(32).u32(4, n.viommu).u64(8, 0x1000n).u32(16, 1).u32(20, 0).u32(24, 3);
    expect(n.io(n.fd, R.HWPT_INVALIDATE, s)).toBe(E.EINVAL);
    expect(s.g32(24)).toBe(0);
  });

  it('row 64: missing → ENOENT; nested HWPT → EOPNOTSUPP; paging/IOAS → EINVAL', () => {
    const n = nestedRig({}, { vsid: 1n });
    const c: Cmd[] = [[op(0x30), 0n]];
    expect(invalidate(n, c, { id: 99 }).rc).toBe(E.ENOENT);
    const nh = new S(48)
      .u32(8, n.devid[0] as number)
      .u32(12, n.viommu)
      .u32(24, 2)
      .u32(28, 16);
    const vste = n.p.mmap(4096);
    n.p.write(vste, new Uint8Array([0x09, 0, 0, 0, 0, 0, 0, 0]));
    nh.u64(32, vste);
    expect(n.io(n.fd, R.HWPT_ALLOC, nh)).toBe(0);
    expect(invalidate(n, c, { id: nh.g32(16) }).rc).toBe(E.EOPNOTSUPP);
    expect(invalidate(n, c, { id: n.parent }).rc).toBe(E.EINVAL);
    expect(invalidate(n, c, { id: n.ioas }).rc).toBe(E.EINVAL);
  });

  it('rows 65/66: data_type ≠ 1 → EINVAL; mainline entry_num 0 → EINVAL (v7 strict: success)', () => {
    const n = nestedRig({}, { vsid: 1n });
    expect(invalidate(n, [[op(0x30), 0n]], { type: 0 })).toMatchObject({ rc: E.EINVAL, done: 0 });
    expect(invalidate(n, [], { entryNum: 0 })).toMatchObject({ rc: E.EINVAL, done: 0 });
    const v7 = nestedRig({ profile: 'v7' }, { vsid: 1n });
    expect(invalidate(v7, [], { entryNum: 0 })).toMatchObject({ rc: 0, done: 0 });
  });
});

describe('command conversion (rows 67–71)', () => {
  it('row 67: short entries are zero-extended; longer ones need a zero tail (E2BIG)', () => {
    const n = nestedRig({}, { vsid: 1n });
    // entry_len 8: only word 0 is given (TLBI_NH_ASID ASID 5); word 1 reads as 0
    const short = invalidate(n, [[op(0x11, ASID(5)), 0xffn]], { entryLen: 8 });
    expect(short.rc).toBe(0);
    expect(short.issued[0]?.words).toEqual([op(0x11, ASID(5) | VMID(vmidOf(n))), 0n]);
    const ok = invalidate(n, [[op(0x30), 0n]], { entryLen: 24 });
    expect(ok.rc).toBe(0);
    // a non-zero byte in the tail of a 24-byte entry
    const buf = n.p.mmap(4096);
    const b = new Uint8Array(24);
    b[0] = 0x30;
    b[20] = 1;
    n.p.write(buf, b);
    const s = new S(32).u32(4, n.viommu).u64(8, buf).u32(16, 1).u32(20, 24).u32(24, 1);
    expect(n.io(n.fd, R.HWPT_INVALIDATE, s)).toBe(E.E2BIG);
    expect(s.g32(24)).toBe(0);
  });

  it('row 68: opcodes outside the allow-list → EIO', () => {
    const n = nestedRig({}, { vsid: 1n });
    for (const o of [0x01, 0x03, 0x04, 0x20, 0x28, 0x2a, 0x41, 0x44, 0x46, 0x99]) {
      expect(invalidate(n, [[op(o), 0n]])).toMatchObject({ rc: E.EIO, done: 0 });
    }
  });

  it('row 69: TLBI NH_* get the vIOMMU VMID; NSNH_ALL becomes NH_ALL(VMID) with word 1 = 0', () => {
    const n = nestedRig({}, { vsid: 1n });
    const vm = vmidOf(n);
    const r = invalidate(n, [
      [op(0x30), 0x1234n],
      [op(0x10, VMID(0xbeef)), 0n],
      [op(0x11, VMID(3) | ASID(7)), 0n],
      [op(0x12, VMID(3) | ASID(7) | (2n << 12n)), 0xdead_b000n | 1n],
      [op(0x13, VMID(3)), 0xc000n],
    ]);
    expect(r).toMatchObject({ rc: 0, done: 5 });
    expect(r.issued.map((c) => c.words)).toEqual([
      [op(0x10, VMID(vm)), 0n],
      [op(0x10, VMID(vm)), 0n],
      [op(0x11, VMID(vm) | ASID(7)), 0n],
      [op(0x12, VMID(vm) | ASID(7) | (2n << 12n)), 0xdead_b000n | 1n],
      [op(0x13, VMID(vm)), 0xc000n],
      [op(0x46) | (2n << 12n) | (3n << 22n) | (0xfn << 24n), 0n],
    ]);
  });

  it('row 70: ATC_INV / CFGI_CD / CFGI_CD_ALL: vSID → pSID; unknown vSID → EIO', () => {
    const n = nestedRig({}, { vsid: 0x99n });
    const r = invalidate(n, [
      [op(0x05, SID(0x99) | (4n << 12n)), 1n],
      [op(0x06, SID(0x99)), 0n],
      [op(0x40, SID(0x99)), 52n],
    ]);
    expect(r.rc).toBe(0);
    // the device's physical StreamID is 8
    expect(r.issued.slice(0, 3).map((c) => c.words)).toEqual([
      [op(0x05, SID(8) | (4n << 12n)), 1n],
      [op(0x06, SID(8)), 0n],
      [op(0x40, SID(8)), 52n],
    ]);
    expect(invalidate(n, [[op(0x06, SID(0x98)), 0n]])).toMatchObject({ rc: E.EIO, done: 0 });
  });

  it('row 71: entry_num counts converted commands; the unissued block before a failure is dropped', () => {
    const n = nestedRig({}, { vsid: 1n });
    const ok: Cmd = [op(0x30), 0n];
    const bad: Cmd = [op(0x03), 0n];
    const r = invalidate(n, [ok, ok, bad, ok]);
    expect(r).toMatchObject({ rc: E.EIO, done: 2 });
    expect(r.issued).toEqual([]);
    // 63 commands form a block (CMDQ_BATCH_ENTRIES - 1) issued with a CMD_SYNC before the 64th
    const many: Cmd[] = Array.from({ length: 70 }, () => ok);
    many[66] = bad;
    const r2 = invalidate(n, many);
    expect(r2).toMatchObject({ rc: E.EIO, done: 66 });
    expect(r2.issued.length).toBe(64);
    expect(r2.issued[63]?.name).toBe('CMD_SYNC');
    // 127 good commands: two blocks (63 + 63) and a tail of 1, each with its CMD_SYNC
    const r3 = invalidate(
      n,
      Array.from({ length: 127 }, () => ok),
    );
    expect(r3).toMatchObject({ rc: 0, done: 127 });
    expect(r3.issued.filter((c) => c.name === 'CMD_SYNC').length).toBe(3);
    expect(r3.issued.length).toBe(130);
  });

  it('row 72 (v7 strict): a bad field fails its whole block; entry_num counts issued blocks', () => {
    const n = nestedRig({ profile: 'v7' }, { vsid: 1n });
    const ok: Cmd = [op(0x30), 0n];
    const r = invalidate(n, [ok, ok, [op(0x30, 1n << 40n), 0n]]);
    expect(r).toMatchObject({ rc: E.EIO, done: 0 });
    expect(r.issued).toEqual([]);
    const many: Cmd[] = Array.from({ length: 65 }, () => ok);
    many[64] = [op(0x10), 1n]; // NH_ALL with a word-1 bit set
    const r2 = invalidate(n, many);
    expect(r2).toMatchObject({ rc: E.EIO, done: 63 });
    // mainline passes the same bits through
    const m = nestedRig({}, { vsid: 1n });
    expect(invalidate(m, [[op(0x30, 1n << 40n), 0n]]).rc).toBe(0);
  });

  it('row 73: entry_num is written back even when the call fails', () => {
    const n = nestedRig({}, { vsid: 1n });
    const r = invalidate(n, [
      [op(0x30), 0n],
      [op(0x46), 0n],
    ]);
    expect(r).toMatchObject({ rc: E.EIO, done: 1 });
  });
});

describe('row 74: unmap on a nest-parent S2', () => {
  it('TLBI_S2_IPA for the range, then TLBI_NH_ALL(VMID) + sync', () => {
    const n = nestedRig({}, { vsid: 1n });
    expect(ioasMap(n, n.ioas, 0x4000_0000n, 0x2000)).toBe(0);
    const vm = vmidOf(n);
    const m = n.host.smmu(0).mark();
    const s = new S(24).u32(4, n.ioas).u64(8, 0x4000_0000n).u64(16, 0x2000n);
    expect(n.io(n.fd, R.IOAS_UNMAP, s)).toBe(0);
    const names = n.host
      .smmu(0)
      .commandsSince(m)
      .map((c) => c.name);
    expect(names).toEqual(['TLBI_S2_IPA', 'CMD_SYNC', 'TLBI_NH_ALL', 'CMD_SYNC']);
    const ipa = n.host.smmu(0).commandsSince(m)[0]?.words as Cmd;
    // QEMU advertises RIL (IDR3 bit 10): __arm_smmu_tlb_inv_range with num_pages = 2 takes
    // scale = ffs(2) = 1 and num = (2 >> 1) & 31 = 1 → SCALE 1 (bits 24:20), NUM = num - 1 = 0;
    // TG = (12 - 10) / 2 = 1, TTL = 4 - ((12 - 3) / (12 - 3)) = 3, leaf
    expect(ipa[0]).toBe(op(0x2a, VMID(vm) | (1n << 20n)));
    expect(ipa[1]).toBe(0x4000_0000n | (1n << 10n) | (3n << 8n) | 1n);
    const nh = n.host.smmu(0).commandsSince(m)[2]?.words as Cmd;
    expect(nh[0]).toBe(op(0x10, VMID(vm)));
  });
});
