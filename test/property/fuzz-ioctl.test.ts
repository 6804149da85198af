// Bad-input fuzzing of the iommufd kernel model (drivers/iommu/iommufd/main.c ioctl dispatch and
// the VFIO cdev bind/attach/detach of drivers/vfio/device_cdev.c): random request numbers (mostly
// real ones) with struct bytes built member by member (sensible ids, pointers to real user memory,
// sizes around the struct size) and then mutated (bit flips, truncation/extension, random words).
// Property: ioctl never throws, returns 0 or a negative errno of the known table, and a FAILED
// ioctl leaves the observable state unchanged. Kernel-faithful exceptions (docs/iommufd.md
// "Failed ioctls leave no trace, except …"): IOMMU_IOAS_UNMAP may already have removed earlier
// areas before failing, and IOMMU_HWPT_INVALIDATE has issued every complete block before the
// failing entry (issued commands are not part of the snapshot, so only UNMAP is exempted).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERRNO } from '../../src/arch/errno.ts';
import type { IommufdCtx } from '../../src/iommufd/iommufd.ts';
import type { KernelProfileName } from '../../src/iommufd/profile.ts';
import { IOMMUFD_IOCTLS, REQ, UAPI_STRUCTS, type UapiStruct } from '../../src/iommufd/uapi.ts';
import { attach, ioasMap, nestedAlloc, nestedRig, R, S } from '../unit/iommufd-harness.ts';

/** The value type of an arbitrary. */
type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;

const KNOWN_NEG = new Set(Object.values(ERRNO).map((v) => -v));

/** The targets: iommufd ioctls on the iommufd fd, the VFIO cdev ones on the device fd. */
const TARGETS: { request: number; struct: UapiStruct; onDevice: boolean }[] = [
  ...IOMMUFD_IOCTLS.map((d) => ({ request: d.request, struct: d.struct, onDevice: false })),
  {
    request: REQ.VFIO_DEVICE_BIND_IOMMUFD,
    struct: UAPI_STRUCTS.vfio_device_bind_iommufd,
    onDevice: true,
  },
  {
    request: REQ.VFIO_DEVICE_ATTACH_IOMMUFD_PT,
    struct: UAPI_STRUCTS.vfio_device_attach_iommufd_pt,
    onDevice: true,
  },
  {
    request: REQ.VFIO_DEVICE_DETACH_IOMMUFD_PT,
    struct: UAPI_STRUCTS.vfio_device_detach_iommufd_pt,
    onDevice: true,
  },
];

interface WorldConfig {
  readonly profile: KernelProfileName;
  readonly kcap: boolean;
}

const worldArb = fc.record({
  profile: fc.constantFrom<KernelProfileName>('v6.17', 'v6.19', 'v7'),
  kcap: fc.boolean(),
});

/** A fresh nested world: IOAS with a mapping, nest parent, vIOMMU, vDEVICE, nested HWPT attached. */
function world(cfg: WorldConfig = { profile: 'v6.19', kcap: false }) {
  const r = nestedRig(
    { profile: cfg.profile, options: { kernelCapabilities: cfg.kcap } },
    { vsid: 0x10n, bind: 2 },
  );
  if (ioasMap(r, r.ioas, 0x4000_0000n, 0x4000) !== 0) throw new Error('map');
  const n = nestedAlloc(r, r.devid[0] as number, r.viommu, 0x1n | (5n << 1n) | 0x4000_0000n, 0n);
  if (n.rc) throw new Error(`nested ${n.rc}`);
  if (attach(r, 0, n.id).rc) throw new Error('attach nested');
  // a user buffer holding plausible payloads: vSTE, TLBI commands, iova ranges
  const buf = r.p.mmap(0x4000);
  const b = new Uint8Array(0x100);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, 0x1n | (5n << 1n) | 0x4000_0000n, true); // vSTE word 0
  b[16] = 0x30; // CMD_TLBI_NSNH_ALL
  b[32] = 0x12; // CMD_TLBI_NH_VA
  dv.setBigUint64(48, 0x1000n, true); // iova range [0x1000, 0xffff_ffff]
  dv.setBigUint64(56, 0xffff_ffffn, true);
  r.p.write(buf, b);
  // IOMMU_IOAS_IOVA_RANGES through the ioctl itself: rc, num_iovas, alignment, the ranges
  const probe = r.p.mmap(4096);
  const probeRanges = () => {
    const s = new S(32).u32(4, r.ioas).u32(8, 4).u64(16, probe);
    const rc = r.io(r.fd, R.IOAS_IOVA_RANGES, s);
    return [rc, s.g32(8), String(s.g64(24)), [...r.p.readMem(probe, 64)].join(',')];
  };
  if (probeRanges()[0] !== 0) throw new Error('IOVA_RANGES probe');
  const snapshot = () => {
    const d = r.host.devices[0];
    const ctx = (d?.boundBy as { ctx?: IommufdCtx } | null)?.ctx;
    const io = ctx?.peek(r.ioas);
    const iopt = io?.type === 'IOAS' ? io.iopt : undefined;
    return {
      objects: JSON.stringify(ctx?.objects() ?? null),
      areas: JSON.stringify(iopt?.areas.map((a) => `${a.iova}+${a.last}`) ?? []),
      rest: JSON.stringify({
        ranges: probeRanges(),
        bound: r.host.devices.map((x) => x.boundBy !== null),
        pinnedVm: r.p.pinnedVm,
        lockedVm: r.host.userAccount.lockedVm,
        ste: [8, 0x10].map((sid) =>
          r.host
            .smmu(0)
            .readSte(sid)
            .map((w) => w.toString(16)),
        ),
        vmids: [...r.host.smmu(0).driver.vmids],
        fds: r.p.listFds().map((f) => f.fd),
      }),
    };
  };
  return { r, buf, snapshot, ids: [r.ioas, r.parent, r.viommu, r.vdev, n.id, ...r.devid] };
}

type World = ReturnType<typeof world>;

/** One member value choice, resolved against the world at run time. */
const valueArb = fc.oneof(
  { weight: 40, arbitrary: fc.nat(7).map((n) => ({ k: 'smart' as const, n })) },
  { weight: 3, arbitrary: fc.constant({ k: 'zero' as const, n: 0 }) },
  { weight: 5, arbitrary: fc.nat(7).map((n) => ({ k: 'id' as const, n })) },
  { weight: 2, arbitrary: fc.nat(0x100).map((n) => ({ k: 'ptr' as const, n })) },
  { weight: 2, arbitrary: fc.nat(40).map((n) => ({ k: 'small' as const, n })) },
  { weight: 2, arbitrary: fc.nat(0xffff_ffff).map((n) => ({ k: 'any' as const, n })) },
  { weight: 1, arbitrary: fc.constant({ k: 'ones' as const, n: 0 }) },
);

const opArb = fc.record({
  target: fc.oneof(
    { weight: 9, arbitrary: fc.nat(TARGETS.length - 1).map((i) => ({ t: i, raw: 0 })) },
    { weight: 1, arbitrary: fc.nat(0xffff_ffff).map((raw) => ({ t: -1, raw })) },
  ),
  values: fc.array(valueArb, { minLength: 16, maxLength: 16 }),
  sizeDelta: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: -24, max: 24 }) },
  ),
  sizeFieldDelta: fc.oneof(
    { weight: 6, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: -24, max: 24 }) },
    { weight: 1, arbitrary: fc.nat(0xffff_ffff) },
  ),
  flips: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as number[]) },
    { weight: 2, arbitrary: fc.array(fc.nat(64 * 8 - 1), { minLength: 1, maxLength: 3 }) },
  ),
  dev: fc.nat(1),
});

type Op = Of<typeof opArb>;

/** A plausible value for a member, by its kernel name. */
function smart(w: World, name: string, n: number): bigint {
  if (/flags|reserved|op$|option_id/.test(name)) return 0n;
  if (/(^|_)(id|fd)$|^dev_id|iommufd/.test(name)) return BigInt(w.ids[n % w.ids.length] ?? 0);
  if (/ptr|uptr|user_va|allowed_iovas|data$/.test(name)) return w.buf;
  if (/length/.test(name)) return BigInt((n + 1) * 0x1000);
  if (/iova|start/.test(name)) return 0x4000_0000n + BigInt(n * 0x1000);
  if (/type/.test(name)) return BigInt(n & 3);
  if (/len|num|depth/.test(name)) return BigInt([0, 1, 2, 16, 8, 32, 4, 64][n] ?? 0);
  return 0n;
}

function resolve(w: World, v: { k: string; n: number }, size: number, name: string): bigint {
  switch (v.k) {
    case 'smart':
      return smart(w, name, v.n);
    case 'id':
      return BigInt(w.ids[v.n % w.ids.length] ?? 0);
    case 'ptr':
      return w.buf + BigInt(v.n & ~7);
    case 'small':
      return BigInt(v.n === 0 ? size : v.n);
    case 'any':
      return BigInt(v.n);
    case 'ones':
      return 0xffff_ffff_ffff_ffffn;
    default:
      return 0n;
  }
}

/** Builds the argument bytes of one op → { fd, request, bytes }. */
function build(w: World, op: Op): { fd: number; request: number; bytes: Uint8Array } {
  const t = op.target.t >= 0 ? TARGETS[op.target.t] : undefined;
  const struct = t?.struct ?? UAPI_STRUCTS.iommu_ioas_map;
  const len = Math.max(0, struct.size + op.sizeDelta);
  const bytes = new Uint8Array(len);
  const dv = new DataView(bytes.buffer);
  struct.members.forEach((m, i) => {
    if (m.union || m.count !== undefined) return;
    const v = op.values[i % op.values.length] ?? { k: 'zero', n: 0 };
    const x = m.name === 'size' || m.name === 'argsz' ? 0n : resolve(w, v, struct.size, m.name);
    if (m.offset + m.size > len) return;
    if (m.size === 8) dv.setBigUint64(m.offset, x, true);
    else if (m.size === 4) dv.setUint32(m.offset, Number(x & 0xffff_ffffn), true);
    else if (m.size === 2) dv.setUint16(m.offset, Number(x & 0xffffn), true);
    else dv.setUint8(m.offset, Number(x & 0xffn));
  });
  // size/argsz: the struct size, possibly off by a delta or random
  if (len >= 4) {
    const sf =
      op.sizeFieldDelta >= -24 && op.sizeFieldDelta <= 24
        ? Math.max(0, len + op.sizeFieldDelta)
        : op.sizeFieldDelta;
    dv.setUint32(0, sf >>> 0, true);
  }
  for (const f of op.flips) {
    const byte = f >> 3;
    if (byte < len) bytes[byte] = (bytes[byte] as number) ^ (1 << (f & 7));
  }
  const request = t ? t.request : op.target.raw;
  const fd = t?.onDevice ? (w.r.dfd[op.dev] as number) : w.r.fd;
  return { fd, request, bytes };
}

describe('fuzz: iommufd ioctls with random and mutated struct bytes', () => {
  it('never throws, returns 0 or a known errno, and a failure changes nothing', () => {
    let failures = 0;
    let successes = 0;
    fc.assert(
      fc.property(worldArb, fc.array(opArb, { minLength: 1, maxLength: 6 }), (cfg, ops) => {
        const w = world(cfg);
        for (const op of ops) {
          const { fd, request, bytes } = build(w, op);
          const before = w.snapshot();
          const rc = w.r.p.ioctl(fd, request, bytes);
          expect(Number.isInteger(rc)).toBe(true);
          if (rc === 0) {
            successes++;
            continue;
          }
          failures++;
          expect(KNOWN_NEG.has(rc), `rc ${rc}`).toBe(true);
          const after = w.snapshot();
          expect(after.objects).toBe(before.objects);
          expect(after.rest).toBe(before.rest);
          // kernel-faithful exception: a failed UNMAP may have removed earlier whole areas
          if (request !== REQ.IOMMU_IOAS_UNMAP) expect(after.areas).toBe(before.areas);
        }
      }),
      { numRuns: 1500, seed: 0x18f0, endOnFailure: true },
    );
    // the generator reaches both outcomes
    expect(successes).toBeGreaterThan(0);
    expect(failures).toBeGreaterThan(0);
  });

  it('random request numbers on every fd kind never throw', () => {
    fc.assert(
      fc.property(
        fc.nat(0xffff_ffff),
        fc.uint8Array({ maxLength: 80 }),
        fc.nat(3),
        (req, bytes, which) => {
          const w = world();
          const fds = [w.r.fd, w.r.dfd[0] as number, 99, -1];
          const rc = w.r.p.ioctl(fds[which] as number, req, bytes);
          expect(rc === 0 || KNOWN_NEG.has(rc)).toBe(true);
        },
      ),
      { numRuns: 60, seed: 0x18f1 },
    );
  });

  it('read/write/poll/close and ioctls interleaved on every fd (vEVENTQ included) never throw', () => {
    const fdOp = fc.record({
      k: fc.constantFrom('read', 'write', 'poll', 'close', 'event', 'ioctl'),
      fd: fc.nat(8),
      n: fc.oneof(fc.nat(64), fc.integer({ min: -5, max: 1 << 20 })),
      bytes: fc.uint8Array({ maxLength: 48 }),
      op: opArb,
    });
    fc.assert(
      fc.property(fc.array(fdOp, { minLength: 1, maxLength: 12 }), (ops) => {
        const w = world();
        // struct iommu_veventq_alloc: viommu_id @8, type @12 (ARM_SMMUV3 = 1), depth @16
        const q = new S(32).u32(8, w.r.viommu).u32(12, 1).u32(16, 4);
        expect(w.r.io(w.r.fd, R.VEVENTQ_ALLOC, q)).toBe(0);
        for (const o of ops) {
          let rc: Uint8Array | number;
          if (o.k === 'read') rc = w.r.p.read(o.fd, o.n);
          else if (o.k === 'write') rc = w.r.p.writeFd(o.fd, o.bytes);
          else if (o.k === 'poll') rc = w.r.p.poll(o.fd);
          else if (o.k === 'close') rc = w.r.p.close(o.fd);
          else if (o.k === 'event') {
            // a C_BAD_CD (0x0a) for StreamID 8 with random other bits, as the hardware writes
            const raw = [0n, 0n, 0n, 0n].map((_, i) =>
              o.bytes.length > 8 * i + 7
                ? new DataView(o.bytes.buffer, o.bytes.byteOffset).getBigUint64(8 * i, true)
                : 0n,
            );
            raw[0] = ((raw[0] as bigint) & ~(0xffn | (0xffff_ffffn << 32n))) | 0x0an | (8n << 32n);
            w.r.host.smmu(0).injectEvent(raw as [bigint, bigint, bigint, bigint]);
            rc = 0;
          } else {
            const b = build(w, o.op);
            rc = w.r.p.ioctl(b.fd, b.request, b.bytes);
          }
          if (typeof rc === 'number')
            expect(rc >= 0 || KNOWN_NEG.has(rc), `${o.k} ${rc}`).toBe(true);
        }
      }),
      { numRuns: 150, seed: 0x18fb, endOnFailure: true },
    );
  });

  it('the request numbers fuzzed are the hand-written ones of the harness', () => {
    expect(REQ.IOMMU_IOAS_MAP).toBe(R.IOAS_MAP);
    expect(REQ.IOMMU_IOAS_IOVA_RANGES).toBe(R.IOAS_IOVA_RANGES);
    expect(REQ.VFIO_DEVICE_ATTACH_IOMMUFD_PT).toBe(R.VFIO_ATTACH);
  });
});
