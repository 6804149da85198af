// The host arm-smmu-v3 driver's command log (driver.ts `commandsSince`, the issue path of
// arm_smmu_cmdq_issue_cmdlist): it keeps the newest 65,536 commands in a ring that grows from 256
// entries, so marks stay absolute across growth and wrap-around. The expected words are built by
// hand from IHI 0070 §4 (opcode 7:0, VMID 47:32, ASID 63:48, VA in W1 from bit 12) and the
// kernel's conversion rule (arm_vsmmu_convert_user_cmd replaces the VMID), one ioctl at a time.

import { describe, expect, it } from 'vitest';
import { nestedRig, R, S } from './iommufd-harness.ts';

const TLBI_NH_VA = 0x12n;
const CMD_SYNC = 0x46;
const PER_IOCTL = 63; // CMDQ_BATCH_ENTRIES - 1: one block, then one CMD_SYNC
const LIMIT = 65536;

describe('driver command log', () => {
  it('keeps the newest 65,536 commands with absolute marks across growth and wrap', () => {
    const n = nestedRig({}, { vsid: 1n });
    const drv = n.host.smmu(0);
    const vmid = BigInt(Number((drv.readSte(8)[2] as bigint) & 0xffffn));
    const buf = n.p.mmap(PER_IOCTL * 16);
    const bytes = new Uint8Array(PER_IOCTL * 16);
    const dv = new DataView(bytes.buffer);
    const req = new S(32).u32(4, n.viommu).u64(8, buf).u32(16, 1).u32(20, 16);
    const m0 = drv.mark();
    const ioctls = Math.ceil((LIMIT + 3000) / (PER_IOCTL + 1));
    // Command c (0-based over the run): ASID 1, VA page c, the guest's VMID field set to 0x7777.
    const guestW0 = TLBI_NH_VA | (0x7777n << 32n) | (1n << 48n);
    for (let j = 0; j < ioctls; j++) {
      for (let k = 0; k < PER_IOCTL; k++) {
        dv.setBigUint64(16 * k, guestW0, true);
        dv.setBigUint64(16 * k + 8, BigInt(j * PER_IOCTL + k) << 12n, true);
      }
      n.p.write(buf, bytes);
      req.u32(24, PER_IOCTL);
      expect(n.io(n.fd, R.HWPT_INVALIDATE, req)).toBe(0);
    }
    const end = drv.mark();
    expect(end - m0).toBe(ioctls * (PER_IOCTL + 1));

    // What the hardware must have been sent for sequence number `seq` (≥ m0).
    const expected = (seq: number): readonly [bigint, bigint] | 'sync' => {
      const j = Math.floor((seq - m0) / (PER_IOCTL + 1));
      const k = (seq - m0) % (PER_IOCTL + 1);
      if (k === PER_IOCTL) return 'sync';
      const w0 = TLBI_NH_VA | (vmid << 32n) | (1n << 48n);
      return [w0, BigInt(j * PER_IOCTL + k) << 12n];
    };

    const all = drv.commandsSince(0);
    expect(all.length).toBe(LIMIT);
    all.forEach((c, i) => {
      expect(c.seq).toBe(end - LIMIT + i);
      const want = expected(c.seq);
      if (want === 'sync') {
        expect(c.opcode).toBe(CMD_SYNC);
        expect(c.name).toBe('CMD_SYNC');
      } else {
        expect(c.name).toBe('TLBI_NH_VA');
        expect(c.words).toEqual(want);
      }
    });
    // A recent mark: exactly the commands since it; marks beyond the end: nothing.
    const recent = drv.commandsSince(end - 5);
    expect(recent.map((c) => c.seq)).toEqual([end - 5, end - 4, end - 3, end - 2, end - 1]);
    expect(drv.commandsSince(end)).toEqual([]);
    expect(drv.commandsSince(end - 0.5)).toEqual([]);
    expect(drv.commandsSince(Number.NaN)).toEqual([]);
  });

  it('keeps everything before the ring first wraps, across its growth steps', () => {
    const n = nestedRig({}, { vsid: 1n });
    const drv = n.host.smmu(0);
    const before = drv.commandsSince(0);
    const buf = n.p.mmap(4096);
    const bytes = new Uint8Array(16);
    const dv = new DataView(bytes.buffer);
    dv.setBigUint64(0, 0x30n, true); // TLBI_NSNH_ALL → TLBI_NH_ALL with the vSMMU's VMID
    n.p.write(buf, bytes);
    const req = new S(32).u32(4, n.viommu).u64(8, buf).u32(16, 1).u32(20, 16);
    for (let i = 0; i < 300; i++) {
      req.u32(24, 1);
      expect(n.io(n.fd, R.HWPT_INVALIDATE, req)).toBe(0);
    }
    const all = drv.commandsSince(0);
    expect(all.length).toBe(before.length + 600);
    expect(all.slice(0, before.length)).toEqual(before);
    all.forEach((c, i) => {
      expect(c.seq).toBe(i);
    });
    const names = all.slice(before.length).map((c) => c.name);
    for (let i = 0; i < 300; i++) {
      expect(names[2 * i]).toBe('TLBI_NH_ALL');
      expect(names[2 * i + 1]).toBe('CMD_SYNC');
    }
  });
});
