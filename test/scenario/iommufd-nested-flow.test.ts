// Issue 5 "done means": from raw ioctl bytes only — IOAS → map guest RAM → nest-parent HWPT →
// vIOMMU → vDEVICE → nested HWPT from a vSTE → attach → a device DMA translated through a guest
// stage 1 (CD and tables written by hand into guest RAM) and the host stage 2 → invalidations →
// a fault delivered through the vEVENTQ with the vSID; and the same flow with an invalid vSTE
// failing with EIO while the device stays on its previous HWPT.
//
// Guest structures are encoded by hand from IHI 0070 §5.4 (CD) and DDI 0487 D8 (VMSAv8-64 4K
// descriptors): CD word 0 = T0SZ 5:0 | TG0 7:6 | IRGN0 9:8 | ORGN0 11:10 | SH0 13:12 | EPD1 30 |
// V 31 | IPS 34:32 | AA64 41 | R 45 | A 46 | ASET 47 | ASID 63:48; word 1 = TTB0; word 3 = MAIR.
// Table descriptor = addr | 0b11; page descriptor = addr | AF(10) | SH(9:8) | AP(7:6) | AttrIndx(4:2) | 0b11.

import { describe, expect, it } from 'vitest';
import { createHost } from '../../src/iommufd/host.ts';
import { R, S } from '../unit/iommufd-harness.ts';

const GUEST_RAM_IPA = 0x4000_0000n;
const GUEST_RAM_SIZE = 0x100_0000; // 16 MiB
const VSID = 0x99n;

function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

function setup(profile: 'v6.17' | 'v6.19' = 'v6.19') {
  const host = createHost({ profile });
  const p = host.process();
  const fd = p.open('/dev/iommu');
  const dfd = p.open('/dev/vfio/devices/vfio0');
  const io = (f: number, req: number, s: S) => p.ioctl(f, req, s.b);
  const ram = p.mmap(GUEST_RAM_SIZE);
  /** Guest RAM access by IPA (what the guest itself would do). */
  const gw = (ipa: bigint, bytes: Uint8Array) => p.write(ram + (ipa - GUEST_RAM_IPA), bytes);
  const gr = (ipa: bigint, n: number) => p.readMem(ram + (ipa - GUEST_RAM_IPA), n);

  const bind = new S(24).u32(8, fd);
  expect(io(dfd, R.VFIO_BIND, bind)).toBe(0);
  const dev = bind.g32(12);
  const ioas = new S(12);
  expect(io(fd, R.IOAS_ALLOC, ioas)).toBe(0);
  const ioasId = ioas.g32(8);
  // map guest RAM at its IPA: FIXED_IOVA | WRITEABLE | READABLE
  const map = new S(40)
    .u32(4, 7)
    .u32(8, ioasId)
    .u64(16, ram)
    .u64(24, GUEST_RAM_SIZE)
    .u64(32, GUEST_RAM_IPA);
  expect(io(fd, R.IOAS_MAP, map)).toBe(0);
  const parent = new S(48).u32(4, 1).u32(8, dev).u32(12, ioasId);
  expect(io(fd, R.HWPT_ALLOC, parent)).toBe(0);
  const s2 = parent.g32(16);
  expect(io(dfd, R.VFIO_ATTACH, new S(16).u32(8, s2))).toBe(0);
  const vi = new S(40).u32(8, 1).u32(12, dev).u32(16, s2);
  expect(io(fd, R.VIOMMU_ALLOC, vi)).toBe(0);
  const viommu = vi.g32(20);
  const vd = new S(24).u32(4, viommu).u32(8, dev).u64(16, VSID);
  expect(io(fd, R.VDEVICE_ALLOC, vd)).toBe(0);
  const vq = new S(32).u32(8, viommu).u32(12, 1).u32(16, 8);
  expect(io(fd, R.VEVENTQ_ALLOC, vq)).toBe(0);
  return { host, p, fd, dfd, io, ram, gw, gr, dev, ioasId, s2, viommu, qfd: vq.g32(24) };
}

// Guest layout (IPAs).
const CD_IPA = 0x4000_1000n;
const L0 = 0x4000_2000n;
const L1 = 0x4000_3000n;
const L2 = 0x4000_4000n;
const L3 = 0x4000_5000n;
const BUF_A = 0x4010_0000n;
const BUF_B = 0x4020_0000n;
const IOVA = 0x1000_0000n; // guest IOVA (stage-1 input)

function pageDesc(ipa: bigint): bigint {
  // AttrIndx 1 (MAIR byte 1 = 0xff, Normal WB), AP = 01 (RW at any EL), SH = 3, AF
  return ipa | (1n << 10n) | (3n << 8n) | (1n << 6n) | (1n << 2n) | 0b11n;
}

function buildGuestS1(g: ReturnType<typeof setup>, target: bigint): void {
  // IOVA 0x1000_0000: L0 index 0, L1 index 0, L2 index 0x80, L3 index 0
  g.gw(L0, le64(L1 | 0b11n));
  g.gw(L1, le64(L2 | 0b11n));
  g.gw(L2 + 0x80n * 8n, le64(L3 | 0b11n));
  g.gw(L3, le64(pageDesc(target)));
  const w0 =
    16n |
    (0n << 6n) |
    (1n << 8n) |
    (1n << 10n) |
    (3n << 12n) |
    (1n << 30n) |
    (1n << 31n) |
    (4n << 32n) |
    (1n << 41n) |
    (1n << 45n) |
    (1n << 46n) |
    (1n << 47n) |
    (1n << 48n);
  const cd = new Uint8Array(64);
  cd.set(le64(w0), 0);
  cd.set(le64(L0), 8);
  cd.set(le64(0xffn << 8n), 24); // MAIR: attr 1 = Normal WB
  g.gw(CD_IPA, cd);
}

function nestedHwpt(
  g: ReturnType<typeof setup>,
  w0: bigint,
  w1: bigint,
): { rc: number; id: number } {
  const va = g.p.mmap(4096);
  const b = new Uint8Array(16);
  b.set(le64(w0), 0);
  b.set(le64(w1), 8);
  g.p.write(va, b);
  const s = new S(48).u32(8, g.dev).u32(12, g.viommu).u32(24, 2).u32(28, 16).u64(32, va);
  return { rc: g.io(g.fd, R.HWPT_ALLOC, s), id: s.g32(16) };
}

// vSTE: V | Config 5 (S1) | S1Fmt 0 | S1ContextPtr = CD_IPA | S1CDMax 0; word 1: CIR/COR WBRA, CSH ISH
const VSTE_W0 = 0x1n | (5n << 1n) | CD_IPA;
const VSTE_W1 = (1n << 2n) | (1n << 4n) | (3n << 6n);

describe('nested SMMUv3 flow from raw ioctl bytes', () => {
  it('guest S1 + host S2 DMA, invalidation, fault through the vEVENTQ', () => {
    const g = setup();
    buildGuestS1(g, BUF_A);
    const nh = nestedHwpt(g, VSTE_W0, VSTE_W1);
    expect(nh.rc).toBe(0);
    expect(g.io(g.dfd, R.VFIO_ATTACH, new S(16).u32(8, nh.id))).toBe(0);

    // A device write through guest S1 (IOVA → IPA BUF_A) and host S2 (IPA → host PA).
    const r = g.host.dma(0, { iova: IOVA + 0x24n, access: 'write' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // The PA the SMMU produced is the host page behind the VMM's mapping of BUF_A.
    g.host.mem.writeBytes(Number(r.pa), new Uint8Array([0xab, 0xcd]));
    expect([...g.gr(BUF_A + 0x24n, 2)]).toEqual([0xab, 0xcd]);

    // The guest remaps the IOVA to BUF_B and invalidates: TLBI_NH_VA (ASID 1, VA, leaf) + CFGI_CD.
    g.gw(L3, le64(pageDesc(BUF_B)));
    const cmds = g.p.mmap(4096);
    const c = new Uint8Array(32);
    c.set(le64(0x12n | (1n << 48n)), 0); // TLBI_NH_VA, ASID 1 (VMID forced by the kernel)
    c.set(le64(IOVA | 1n), 8); // VA, LEAF
    c.set(le64(0x05n | (VSID << 32n)), 16); // CFGI_CD, SID = vSID
    c.set(le64(1n), 24); // LEAF
    g.p.write(cmds, c);
    const inv = new S(32).u32(4, g.viommu).u64(8, cmds).u32(16, 1).u32(20, 16).u32(24, 2);
    expect(g.io(g.fd, R.HWPT_INVALIDATE, inv)).toBe(0);
    expect(inv.g32(24)).toBe(2);
    const r2 = g.host.dma(0, { iova: IOVA + 0x24n, access: 'write' });
    expect(r2.ok).toBe(true);
    if (!r2.ok) return;
    g.host.mem.writeBytes(Number(r2.pa), new Uint8Array([0x5a]));
    expect(g.gr(BUF_B + 0x24n, 1)[0]).toBe(0x5a);

    // A DMA to an IOVA the guest never mapped: F_TRANSLATION, forwarded with the vSID.
    const bad = 0x2000_0000n;
    const r3 = g.host.dma(0, { iova: bad, access: 'read' });
    expect(r3.ok).toBe(false);
    const got = g.p.read(g.qfd, 4096) as Uint8Array;
    expect(got.length).toBe(40);
    const dv = new DataView(got.buffer, got.byteOffset);
    expect(dv.getUint32(0, true)).toBe(0); // flags
    expect(dv.getUint32(4, true)).toBe(0); // sequence
    const w0 = dv.getBigUint64(8, true);
    expect(w0 & 0xffn).toBe(0x10n); // F_TRANSLATION
    expect(w0 >> 32n).toBe(VSID);
    expect(dv.getBigUint64(24, true)).toBe(bad); // input address
  });

  it('an invalid vSTE fails with EIO and the device stays on its previous HWPT', () => {
    const g = setup();
    buildGuestS1(g, BUF_A);
    const before = g.host.smmu(0).readSte(8);
    // Config 6 (S2 translate) is not allowed in a vSTE
    const bad = nestedHwpt(g, 0x1n | (6n << 1n), 0n);
    expect(bad.rc).toBe(-5);
    expect(g.host.smmu(0).readSte(8)).toEqual(before);
    // The device still translates through the parent S2 (IPA in, host PA out).
    const r = g.host.dma(0, { iova: BUF_A + 0x10n, access: 'write' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    g.host.mem.writeBytes(Number(r.pa), new Uint8Array([0x77]));
    expect(g.gr(BUF_A + 0x10n, 1)[0]).toBe(0x77);
  });

  it('v6.17: attaching an S1 nested HWPT without a vDEVICE fails ENOENT, S2 still in place', () => {
    const g = setup('v6.17');
    buildGuestS1(g, BUF_A);
    // drop the vDEVICE (ID 5: device 1, IOAS 2, S2 3, vIOMMU 4, vDEVICE 5)
    expect(g.io(g.fd, R.DESTROY, new S(8).u32(4, 5))).toBe(0);
    const nh = nestedHwpt(g, VSTE_W0, VSTE_W1);
    expect(nh.rc).toBe(0);
    const before = g.host.smmu(0).readSte(8);
    expect(g.io(g.dfd, R.VFIO_ATTACH, new S(16).u32(8, nh.id))).toBe(-2);
    expect(g.host.smmu(0).readSte(8)).toEqual(before);
  });
});
