// SMMUv3 nesting through iommufd: nested HWPT allocation and vSTE validation (checklist rows 29–39),
// vIOMMU (40–45), vDEVICE (46–50), attach/replace and the physical STE (51–60). Expected STE words
// are derived in the test from the rules of the iommufd digest §8.2–§8.4 (arm_smmu_validate_vste,
// arm_smmu_make_nested_domain_ste), starting from the parent S2 STE observed in the stream table.

import { describe, expect, it } from 'vitest';
import { deviceChangePt } from '../../src/iommufd/device.ts';
import {
  attach,
  destroy,
  E,
  hwptAlloc,
  ioasAlloc,
  nestedAlloc,
  nestedRig,
  R,
  rig,
  S,
  vdeviceAlloc,
  viommuAlloc,
  vsteBuf,
} from './iommufd-harness.ts';

const M64 = (1n << 64n) - 1n;
// STE word 0: V bit 0, Config 3:1, S1Fmt 5:4, S1ContextPtr 51:6, S1CDMax 63:59.
const V = 1n;
const cfg = (c: number) => BigInt(c) << 1n;
const CTX = 0x8765_4000n; // a CD table address in guest IPA space (64-byte aligned)
// word 1: S1DSS 1:0, S1CIR 3:2, S1COR 5:4, S1CSH 7:6, MEV 19, S1STALLD 27, EATS 29:28
const EATS = (v: number) => BigInt(v) << 28n;
const MEV = 1n << 19n;
const S1_W0 = V | cfg(5) | CTX;
const S1_W1 = 0x2n | (1n << 2n) | (1n << 4n) | (3n << 6n); // S1DSS=SSID0, CIR/COR WBRA, CSH ISH
const QEMU_IDR0 = 0x0d44101b;

describe('nested HWPT allocation (rows 29–33)', () => {
  it('row 29: pt_id = HWPT_PAGING → EOPNOTSUPP; row 30: pt_id = HWPT_NESTED → EINVAL', () => {
    const n = nestedRig({}, { vsid: 1n });
    const d = n.devid[0] as number;
    const uptr = vsteBuf(n, S1_W0, S1_W1);
    expect(hwptAlloc(n, d, n.parent, 0, { type: 2, len: 16, uptr }).rc).toBe(E.EOPNOTSUPP);
    const nh = nestedAlloc(n, d, n.viommu, S1_W0, S1_W1);
    expect(nh.rc).toBe(0);
    expect(hwptAlloc(n, d, nh.id, 0, { type: 2, len: 16, uptr }).rc).toBe(E.EINVAL);
  });

  it('row 31: a vIOMMU of another SMMU instance → EINVAL', () => {
    const n = nestedRig(
      { smmus: [{}, {}], devices: [{ sid: 8 }, { sid: 8, smmu: 1 }] },
      { bind: 2 },
    );
    expect(nestedAlloc(n, n.devid[1] as number, n.viommu, S1_W0, S1_W1).rc).toBe(E.EINVAL);
  });

  it('row 32: flags other than FAULT_ID_VALID → EOPNOTSUPP (PASID passes the core, not the driver)', () => {
    const n = nestedRig();
    const d = n.devid[0] as number;
    for (const f of [1, 2, 8, 1 << 9]) {
      expect(nestedAlloc(n, d, n.viommu, S1_W0, S1_W1, f).rc).toBe(E.EOPNOTSUPP);
    }
  });

  it('row 33: data_type ≠ 2 → EINVAL; data_len ≠ 16 → EINVAL; bad uptr → EFAULT', () => {
    const n = nestedRig();
    const d = n.devid[0] as number;
    const uptr = vsteBuf(n, S1_W0, S1_W1);
    expect(hwptAlloc(n, d, n.viommu, 0, { type: 1, len: 16, uptr }).rc).toBe(E.EINVAL);
    expect(hwptAlloc(n, d, n.viommu, 0, { type: 2, len: 8, uptr }).rc).toBe(E.EINVAL);
    expect(hwptAlloc(n, d, n.viommu, 0, { type: 2, len: 24, uptr }).rc).toBe(E.EINVAL);
    expect(hwptAlloc(n, d, n.viommu, 0, { type: 2, len: 16, uptr: 0x1230n }).rc).toBe(E.EFAULT);
    // data_len 0 with a non-NONE type is the core's consistency check (EINVAL)
    expect(hwptAlloc(n, d, n.viommu, 0, { type: 2, len: 0, uptr }).rc).toBe(E.EINVAL);
  });
});

describe('vSTE validation (rows 34–39)', () => {
  it('row 34: V=0 is accepted whatever the other bits; the device gets an abort STE', () => {
    const n = nestedRig({}, { vsid: 3n });
    const nh = nestedAlloc(n, n.devid[0] as number, n.viommu, 0xffff_ffff_ffff_fffen, M64);
    expect(nh.rc).toBe(0);
    expect(attach(n, 0, nh.id).rc).toBe(0);
    // abort STE: V | Config 0, everything else 0
    expect(n.host.smmu(0).readSte(8)).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
  });

  it('row 35: any bit outside the nesting masks → EIO', () => {
    const n = nestedRig();
    const d = n.devid[0] as number;
    // word 0 allowed: 0xf80fffffffffffff → bits 58:52 are not allowed
    for (const b of [52n, 55n, 58n]) {
      expect(nestedAlloc(n, d, n.viommu, S1_W0 | (1n << b), S1_W1).rc).toBe(E.EIO);
    }
    // word 1 allowed: 0x380000ff
    for (const b of [8n, 19n, 25n, 26n, 30n, 31n, 44n, 63n]) {
      expect(nestedAlloc(n, d, n.viommu, S1_W0, S1_W1 | (1n << b)).rc).toBe(E.EIO);
    }
    expect(nestedAlloc(n, d, n.viommu, S1_W0 | (0x1fn << 59n), S1_W1 | (1n << 27n)).rc).toBe(0);
  });

  it('row 36: Config ∉ {0 abort, 4 bypass, 5 S1} → EIO', () => {
    const n = nestedRig();
    const d = n.devid[0] as number;
    for (const c of [1, 2, 3, 6, 7]) {
      expect(nestedAlloc(n, d, n.viommu, V | cfg(c), 0n).rc).toBe(E.EIO);
    }
    for (const c of [0, 4, 5]) expect(nestedAlloc(n, d, n.viommu, V | cfg(c), 0n).rc).toBe(0);
  });

  it('row 37: EATS ∈ {0, 1} only; EATS is stripped; ATS only for S1 + EATS=1 on an ATS device', () => {
    const cfgAts = {
      smmus: [{ idr: { idr0: QEMU_IDR0 | (1 << 10) } }],
      devices: [{ sid: 8, ats: true }],
    };
    const n = nestedRig(cfgAts, { vsid: 9n });
    const d = n.devid[0] as number;
    expect(nestedAlloc(n, d, n.viommu, S1_W0, EATS(2)).rc).toBe(E.EIO);
    expect(nestedAlloc(n, d, n.viommu, S1_W0, EATS(3)).rc).toBe(E.EIO);
    const ats = nestedAlloc(n, d, n.viommu, S1_W0, S1_W1 | EATS(1));
    expect(ats.rc).toBe(0);
    expect(attach(n, 0, ats.id).rc).toBe(0);
    expect((n.host.smmu(0).readSte(8)[1] as bigint) & EATS(3)).toBe(EATS(1));
    const noats = nestedAlloc(n, d, n.viommu, S1_W0, S1_W1);
    expect(attach(n, 0, noats.id).rc).toBe(0);
    expect((n.host.smmu(0).readSte(8)[1] as bigint) & EATS(3)).toBe(0n);
  });

  it('row 38: FAULT_ID_VALID with a bad fault_id → ENOENT; a real fault object is referenced', () => {
    const n = nestedRig();
    const d = n.devid[0] as number;
    const s = new S(48).u32(4, 4).u32(8, d).u32(12, n.viommu).u32(24, 2).u32(28, 16);
    s.u64(32, vsteBuf(n, S1_W0, S1_W1)).u32(40, 0xffff_ffff);
    expect(n.io(n.fd, R.HWPT_ALLOC, s)).toBe(E.ENOENT);
    const fq = new S(16);
    expect(n.io(n.fd, R.FAULT_QUEUE_ALLOC, fq)).toBe(0);
    const fid = fq.g32(8);
    s.u32(40, fid);
    expect(n.io(n.fd, R.HWPT_ALLOC, s)).toBe(0);
    expect(n.p.close(fq.g32(12))).toBe(0);
    expect(destroy(n, fid)).toBe(E.EBUSY); // the nested HWPT holds it
    expect(destroy(n, s.g32(16))).toBe(0);
    expect(destroy(n, fid)).toBe(0);
  });

  it('row 39: the nested HWPT holds the vIOMMU', () => {
    const n = nestedRig();
    const nh = nestedAlloc(n, n.devid[0] as number, n.viommu, S1_W0, S1_W1);
    expect(destroy(n, n.viommu)).toBe(E.EBUSY);
    expect(destroy(n, nh.id)).toBe(0);
    expect(destroy(n, n.viommu)).toBe(0);
  });
});

describe('vIOMMU (rows 40–45)', () => {
  it('row 40: flags ≠ 0 or type 0 → EOPNOTSUPP; bad dev_id → ENOENT', () => {
    const r = rig();
    const ioas = ioasAlloc(r);
    const p = hwptAlloc(r, r.devid[0] as number, ioas, 1);
    const d = r.devid[0] as number;
    expect(r.io(r.fd, R.VIOMMU_ALLOC, new S(40).u32(4, 1).u32(8, 1).u32(12, d).u32(16, p.id))).toBe(
      E.EOPNOTSUPP,
    );
    expect(viommuAlloc(r, d, p.id, 0).rc).toBe(E.EOPNOTSUPP);
    expect(viommuAlloc(r, 99, p.id).rc).toBe(E.ENOENT);
  });

  it('row 41: no nesting, FORCE_SYNC, !CANWBS && !S2FWB, unsupported type → EOPNOTSUPP', () => {
    const mk = (config: Parameters<typeof rig>[0], type = 1) => {
      const r = rig(config);
      const ioas = ioasAlloc(r);
      const p = hwptAlloc(r, r.devid[0] as number, ioas, 0);
      return viommuAlloc(r, r.devid[0] as number, p.id, type).rc;
    };
    expect(mk({ smmus: [{ idr: { idr0: QEMU_IDR0 & ~2 } }] })).toBe(E.EOPNOTSUPP);
    expect(mk({ smmus: [{ options: { forceSync: true } }] })).toBe(E.EOPNOTSUPP);
    expect(mk({ devices: [{ sid: 8, canwbs: false }] })).toBe(E.EOPNOTSUPP);
    expect(mk({}, 2)).toBe(E.EOPNOTSUPP);
    // !CANWBS is fine when the SMMU has S2FWB (IDR3.FWB)
    const r = rig({
      devices: [{ sid: 8, canwbs: false }],
      smmus: [{ idr: { idr3: 0x1414 | (1 << 8) } }],
    });
    const ioas = ioasAlloc(r);
    const p = hwptAlloc(r, r.devid[0] as number, ioas, 1);
    expect(viommuAlloc(r, r.devid[0] as number, p.id).rc).toBe(0);
  });

  it('row 42: hwpt missing / not paging → ENOENT; not a nest parent → EINVAL', () => {
    const n = nestedRig();
    const d = n.devid[0] as number;
    expect(viommuAlloc(n, d, 0).rc).toBe(E.ENOENT);
    const nh = nestedAlloc(n, d, n.viommu, S1_W0, S1_W1);
    expect(viommuAlloc(n, d, nh.id).rc).toBe(E.ENOENT);
    const plain = hwptAlloc(n, d, n.ioas, 0);
    expect(viommuAlloc(n, d, plain.id).rc).toBe(E.EINVAL);
  });

  it('row 43: a parent on another SMMU instance → EINVAL', () => {
    const n = nestedRig(
      { smmus: [{}, {}], devices: [{ sid: 8 }, { sid: 8, smmu: 1 }] },
      { bind: 2 },
    );
    expect(viommuAlloc(n, n.devid[1] as number, n.parent).rc).toBe(E.EINVAL);
  });

  it('rows 44–45: the vIOMMU uses the parent VMID and pins the parent; driver data is ignored', () => {
    const n = nestedRig({}, { vsid: 1n });
    expect(destroy(n, n.parent)).toBe(E.EBUSY);
    const s = new S(40)
      .u32(8, 1)
      .u32(12, n.devid[0] as number)
      .u32(16, n.parent)
      .u32(24, 64)
      .u64(32, 0x1111n);
    expect(n.io(n.fd, R.VIOMMU_ALLOC, s)).toBe(0);
    // the VMID in the installed S2 STE is the one the vIOMMU forces into guest TLBIs
    const vmid = (n.host.smmu(0).readSte(8)[2] as bigint) & 0xffffn;
    const cmds = n.p.mmap(4096);
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 0x10n | (0x77n << 32n), true); // TLBI_NH_ALL, VMID 0x77
    n.p.write(cmds, b);
    const m = n.host.smmu(0).mark();
    const inv = new S(32).u32(4, n.viommu).u64(8, cmds).u32(16, 1).u32(20, 16).u32(24, 1);
    expect(n.io(n.fd, R.HWPT_INVALIDATE, inv)).toBe(0);
    const issued = n.host.smmu(0).commandsSince(m);
    expect(issued.map((c) => c.name)).toEqual(['TLBI_NH_ALL', 'CMD_SYNC']);
    expect((issued[0]?.words[0] as bigint) >> 32n).toBe(vmid);
  });
});

describe('vDEVICE (rows 46–50)', () => {
  it('row 46: bad vIOMMU or device → ENOENT; row 48: EEXIST twice; row 50: holds the vIOMMU', () => {
    const n = nestedRig({}, {});
    const d = n.devid[0] as number;
    expect(vdeviceAlloc(n, 99, d, 1n).rc).toBe(E.ENOENT);
    expect(vdeviceAlloc(n, n.viommu, 99, 1n).rc).toBe(E.ENOENT);
    const v = vdeviceAlloc(n, n.viommu, d, 0x99n);
    expect(v.rc).toBe(0);
    expect(vdeviceAlloc(n, n.viommu, d, 0x88n).rc).toBe(E.EEXIST); // the device has one
    expect(destroy(n, n.viommu)).toBe(E.EBUSY);
    expect(destroy(n, v.id)).toBe(0);
    expect(vdeviceAlloc(n, n.viommu, d, 0x88n).rc).toBe(0);
  });

  it('row 48: the same virt_id in one vIOMMU → EEXIST', () => {
    const n = nestedRig({}, { bind: 2 });
    expect(vdeviceAlloc(n, n.viommu, n.devid[0] as number, 0x99n).rc).toBe(0);
    expect(vdeviceAlloc(n, n.viommu, n.devid[1] as number, 0x99n).rc).toBe(E.EEXIST);
    expect(vdeviceAlloc(n, n.viommu, n.devid[1] as number, 0x98n).rc).toBe(0);
  });

  it('row 47: a device behind another SMMU → EINVAL', () => {
    const n = nestedRig(
      { smmus: [{}, {}], devices: [{ sid: 8 }, { sid: 8, smmu: 1 }] },
      { bind: 2 },
    );
    expect(vdeviceAlloc(n, n.viommu, n.devid[1] as number, 1n).rc).toBe(E.EINVAL);
  });

  it('row 49: more than one StreamID → EOPNOTSUPP in the v7 profile only', () => {
    const two = { devices: [{ sids: [8, 9] }] };
    const a = nestedRig({ ...two, profile: 'v7' });
    expect(vdeviceAlloc(a, a.viommu, a.devid[0] as number, 1n).rc).toBe(E.EOPNOTSUPP);
    const b = nestedRig({ ...two, profile: 'v6.19' });
    expect(vdeviceAlloc(b, b.viommu, b.devid[0] as number, 1n).rc).toBe(0);
  });
});

describe('attach / replace (rows 51–60)', () => {
  it('row 51: pt_id missing → ENOENT; a wrong object type → EINVAL', () => {
    const n = nestedRig({}, { vsid: 1n });
    expect(attach(n, 0, 99).rc).toBe(E.ENOENT);
    expect(attach(n, 0, n.viommu).rc).toBe(E.EINVAL);
    expect(attach(n, 0, n.vdev).rc).toBe(E.EINVAL);
  });

  it('row 52: same device again → EBUSY; another HWPT for the group → EINVAL; replace rules', () => {
    const r = rig(
      {
        devices: [
          { sid: 8, group: 7 },
          { sid: 16, group: 7 },
        ],
      },
      2,
    );
    const ioas = ioasAlloc(r);
    const a = hwptAlloc(r, r.devid[0] as number, ioas, 0);
    const b = hwptAlloc(r, r.devid[0] as number, ioas, 0);
    const ctx = r.host.devices[0]?.boundBy as {
      ctx: Parameters<typeof deviceChangePt>[0];
      idev: Parameters<typeof deviceChangePt>[1];
    };
    const ctx1 = r.host.devices[1]?.boundBy as typeof ctx;
    // replace when not attached → EINVAL
    expect(deviceChangePt(ctx.ctx, ctx.idev, a.id, true)).toBe(E.EINVAL);
    expect(deviceChangePt(ctx.ctx, ctx.idev, a.id, false)).toBe(a.id);
    expect(deviceChangePt(ctx.ctx, ctx.idev, a.id, false)).toBe(E.EBUSY);
    // the other device of the group: another HWPT → EINVAL, the same one joins
    expect(deviceChangePt(ctx1.ctx, ctx1.idev, b.id, false)).toBe(E.EINVAL);
    expect(deviceChangePt(ctx1.ctx, ctx1.idev, a.id, false)).toBe(a.id);
    // through VFIO a second attach is a replace; to the same HWPT it does nothing
    const v = rig();
    const vi = ioasAlloc(v);
    const va = hwptAlloc(v, v.devid[0] as number, vi, 0);
    expect(attach(v, 0, va.id).rc).toBe(0);
    const m = v.host.smmu(0).mark();
    expect(attach(v, 0, va.id).rc).toBe(0);
    expect(v.host.smmu(0).commandsSince(m)).toEqual([]);
  });

  it('row 53: a nested HWPT of another SMMU instance → EINVAL', () => {
    const n = nestedRig(
      { smmus: [{}, {}], devices: [{ sid: 8 }, { sid: 8, smmu: 1 }] },
      { bind: 2, vsid: 1n },
    );
    const nh = nestedAlloc(n, n.devid[0] as number, n.viommu, V | cfg(4), 0n);
    expect(nh.rc).toBe(0);
    expect(attach(n, 1, nh.id).rc).toBe(E.EINVAL);
  });

  it('row 54: a master with active PASIDs (SSID > 0) → EBUSY', () => {
    const n = nestedRig({}, { vsid: 1n });
    const nh = nestedAlloc(n, n.devid[0] as number, n.viommu, S1_W0, S1_W1);
    (n.host.devices[0]?.master as { ssidsInUse: number }).ssidsInUse = 1;
    expect(attach(n, 0, nh.id).rc).toBe(E.EBUSY);
  });

  it('rows 55/56: attach without a vDEVICE — v6.17: ENOENT for all; v6.19: only S1 → ENOENT', () => {
    for (const profile of ['v6.17', 'v6.19'] as const) {
      const n = nestedRig({ profile });
      const d = n.devid[0] as number;
      const s1 = nestedAlloc(n, d, n.viommu, S1_W0, S1_W1);
      const byp = nestedAlloc(n, d, n.viommu, V | cfg(4), 0n);
      const abt = nestedAlloc(n, d, n.viommu, V | cfg(0), 0n);
      const inv = nestedAlloc(n, d, n.viommu, 0n, 0n);
      expect(attach(n, 0, s1.id).rc).toBe(E.ENOENT);
      const relaxed = profile === 'v6.19' ? 0 : E.ENOENT;
      expect(attach(n, 0, byp.id).rc).toBe(relaxed);
      expect(attach(n, 0, abt.id).rc).toBe(relaxed);
      expect(attach(n, 0, inv.id).rc).toBe(relaxed);
    }
  });

  it('row 57: pSTE = abort / parent S2 / NESTED merge + MEV, derived from the parent STE', () => {
    const n = nestedRig({}, { vsid: 0x42n });
    const d = n.devid[0] as number;
    const parent = n.host.smmu(0).readSte(8); // the plain S2 STE of the nest parent
    expect(parent[0]).toBe(0xdn);
    const s1 = nestedAlloc(n, d, n.viommu, S1_W0 | (3n << 59n), S1_W1 | (1n << 27n));
    expect(attach(n, 0, s1.id).rc).toBe(0);
    const want = [...parent];
    // §8.3: w0 = V | Config 7 | vSTE.w0 without Config; w1 = P.w1 | vSTE.w1 (EATS cleared) | MEV
    want[0] = V | cfg(7) | ((S1_W0 | (3n << 59n)) & ~(7n << 1n));
    want[1] = (parent[1] as bigint) | S1_W1 | (1n << 27n) | MEV;
    expect(n.host.smmu(0).readSte(8)).toEqual(want);
    const byp = nestedAlloc(n, d, n.viommu, V | cfg(4), 0n);
    expect(attach(n, 0, byp.id).rc).toBe(0);
    expect(n.host.smmu(0).readSte(8)).toEqual(parent);
    const abt = nestedAlloc(n, d, n.viommu, V | cfg(0), 0n);
    expect(attach(n, 0, abt.id).rc).toBe(0);
    expect(n.host.smmu(0).readSte(8)).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
  });

  it('row 58: a bypass vSTE never enables ATS, even with EATS requested and an ATS device', () => {
    const cfgAts = {
      smmus: [{ idr: { idr0: QEMU_IDR0 | (1 << 10) } }],
      devices: [{ sid: 8, ats: true }],
    };
    const n = nestedRig(cfgAts, { vsid: 2n });
    const byp = nestedAlloc(n, n.devid[0] as number, n.viommu, V | cfg(4), EATS(1));
    expect(attach(n, 0, byp.id).rc).toBe(0);
    expect((n.host.smmu(0).readSte(8)[1] as bigint) & EATS(3)).toBe(0n);
    // opt-in variant: the reported later change enables it
    const v = nestedRig({ ...cfgAts, switches: { atsForBypassVste: true } }, { vsid: 2n });
    const b2 = nestedAlloc(v, v.devid[0] as number, v.viommu, V | cfg(4), 0n);
    expect(attach(v, 0, b2.id).rc).toBe(0);
    expect((v.host.smmu(0).readSte(8)[1] as bigint) & EATS(3)).toBe(EATS(1));
  });

  it('row 60: an attached nested HWPT cannot be destroyed (EBUSY); detached it can', () => {
    const n = nestedRig({}, { vsid: 1n });
    const nh = nestedAlloc(n, n.devid[0] as number, n.viommu, S1_W0, S1_W1);
    expect(attach(n, 0, nh.id).rc).toBe(0);
    expect(destroy(n, nh.id)).toBe(E.EBUSY);
    expect(attach(n, 0, n.parent).rc).toBe(0); // replace back to the S2
    expect(destroy(n, nh.id)).toBe(0);
  });

  it('a failed nested attach leaves the device on its previous HWPT (STE unchanged)', () => {
    const n = nestedRig({ profile: 'v6.17' });
    const before = n.host.smmu(0).readSte(8);
    const nh = nestedAlloc(n, n.devid[0] as number, n.viommu, S1_W0, S1_W1);
    const m = n.host.smmu(0).mark();
    expect(attach(n, 0, nh.id).rc).toBe(E.ENOENT);
    expect(n.host.smmu(0).readSte(8)).toEqual(before);
    expect(n.host.smmu(0).commandsSince(m)).toEqual([]);
    expect(destroy(n, nh.id)).toBe(0); // not referenced by the failed attach
  });
});
