// iommufd kernel-model benchmarks (issue 5): ioctl dispatch including struct decode for a simple
// ioctl (IOMMU_OPTION GET), IOAS_MAP + IOAS_UNMAP of 4 KiB with and without a nest-parent S2
// mirroring the IOAS (pinning, S2 page table, TLBI + CMD_SYNC through the SMMU model), guest
// HWPT_INVALIDATE with 1 and 63 commands, nested HWPT alloc + attach (+ replace back + destroy),
// and a mixed loop reported as ioctls per second. Part of `npm run bench` (bench/run.ts).

import { bench, do_not_optimize } from 'mitata';
import { createHost } from '../src/iommufd/host.ts';
import { type Figure, fmtNs, fmtRate, median, medianNs, type Results } from './summary.ts';

const R = {
  DESTROY: 0x3b80,
  IOAS_ALLOC: 0x3b81,
  IOAS_MAP: 0x3b85,
  IOAS_UNMAP: 0x3b86,
  OPTION: 0x3b87,
  HWPT_ALLOC: 0x3b89,
  HWPT_INVALIDATE: 0x3b8d,
  VIOMMU_ALLOC: 0x3b90,
  VDEVICE_ALLOC: 0x3b91,
  VFIO_BIND: 0x3b76,
  VFIO_ATTACH: 0x3b77,
} as const;

function struct(size: number): { b: Uint8Array; dv: DataView } {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, size, true);
  return { b, dv };
}

function setup(withParent: boolean) {
  const host = createHost();
  const p = host.process();
  const fd = p.open('/dev/iommu');
  const dfd = p.open('/dev/vfio/devices/vfio0');
  const bind = struct(24);
  bind.dv.setInt32(8, fd, true);
  p.ioctl(dfd, R.VFIO_BIND, bind.b);
  const dev = bind.dv.getUint32(12, true);
  const ioas = struct(12);
  p.ioctl(fd, R.IOAS_ALLOC, ioas.b);
  const ioasId = ioas.dv.getUint32(8, true);
  let parent = 0;
  let viommu = 0;
  if (withParent) {
    const h = struct(48);
    h.dv.setUint32(4, 1, true);
    h.dv.setUint32(8, dev, true);
    h.dv.setUint32(12, ioasId, true);
    p.ioctl(fd, R.HWPT_ALLOC, h.b);
    parent = h.dv.getUint32(16, true);
    const at = struct(16);
    at.dv.setUint32(8, parent, true);
    p.ioctl(dfd, R.VFIO_ATTACH, at.b);
    const vi = struct(40);
    vi.dv.setUint32(8, 1, true);
    vi.dv.setUint32(12, dev, true);
    vi.dv.setUint32(16, parent, true);
    p.ioctl(fd, R.VIOMMU_ALLOC, vi.b);
    viommu = vi.dv.getUint32(20, true);
    const vd = struct(24);
    vd.dv.setUint32(4, viommu, true);
    vd.dv.setUint32(8, dev, true);
    vd.dv.setBigUint64(16, 0x99n, true);
    p.ioctl(fd, R.VDEVICE_ALLOC, vd.b);
  }
  return { host, p, fd, dfd, dev, ioasId, parent, viommu };
}

function mapUnmapPair(s: ReturnType<typeof setup>) {
  const va = s.p.mmap(4096);
  s.p.write(va, new Uint8Array([1]));
  const map = struct(40);
  map.dv.setUint32(4, 7, true);
  map.dv.setUint32(8, s.ioasId, true);
  map.dv.setBigUint64(16, va, true);
  map.dv.setBigUint64(24, 4096n, true);
  map.dv.setBigUint64(32, 0x4000_0000n, true);
  const unmap = struct(24);
  unmap.dv.setUint32(4, s.ioasId, true);
  unmap.dv.setBigUint64(8, 0x4000_0000n, true);
  unmap.dv.setBigUint64(16, 4096n, true);
  return () => {
    map.dv.setUint32(0, 40, true);
    const a = s.p.ioctl(s.fd, R.IOAS_MAP, map.b);
    unmap.dv.setBigUint64(16, 4096n, true);
    const b = s.p.ioctl(s.fd, R.IOAS_UNMAP, unmap.b);
    if (a | b) throw new Error(`map/unmap ${a} ${b}`);
  };
}

function invalidate(s: ReturnType<typeof setup>, n: number) {
  const cmds = s.p.mmap(16 * 64);
  const b = new Uint8Array(16 * n);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < n; i++) {
    dv.setBigUint64(16 * i, 0x12n | (1n << 48n), true); // TLBI_NH_VA ASID 1
    dv.setBigUint64(16 * i + 8, BigInt(0x1000_0000 + i * 4096) | 1n, true);
  }
  s.p.write(cmds, b);
  const inv = struct(32);
  inv.dv.setUint32(4, s.viommu, true);
  inv.dv.setBigUint64(8, cmds, true);
  inv.dv.setUint32(16, 1, true);
  inv.dv.setUint32(20, 16, true);
  return () => {
    inv.dv.setUint32(24, n, true);
    const rc = s.p.ioctl(s.fd, R.HWPT_INVALIDATE, inv.b);
    if (rc) throw new Error(`invalidate ${rc}`);
  };
}

function nestedCycle(s: ReturnType<typeof setup>) {
  const vste = s.p.mmap(4096);
  const v = new Uint8Array(16);
  new DataView(v.buffer).setBigUint64(0, 0x1n | (5n << 1n) | 0x4000_1000n, true);
  s.p.write(vste, v);
  const alloc = struct(48);
  const at = struct(16);
  const back = struct(16);
  const del = struct(8);
  return () => {
    alloc.b.fill(0);
    alloc.dv.setUint32(0, 48, true);
    alloc.dv.setUint32(8, s.dev, true);
    alloc.dv.setUint32(12, s.viommu, true);
    alloc.dv.setUint32(24, 2, true);
    alloc.dv.setUint32(28, 16, true);
    alloc.dv.setBigUint64(32, vste, true);
    const a = s.p.ioctl(s.fd, R.HWPT_ALLOC, alloc.b);
    const id = alloc.dv.getUint32(16, true);
    at.dv.setUint32(8, id, true);
    const b = s.p.ioctl(s.dfd, R.VFIO_ATTACH, at.b);
    back.dv.setUint32(8, s.parent, true);
    const c = s.p.ioctl(s.dfd, R.VFIO_ATTACH, back.b);
    del.dv.setUint32(4, id, true);
    const d = s.p.ioctl(s.fd, R.DESTROY, del.b);
    if (a | b | c | d) throw new Error(`nested cycle ${a} ${b} ${c} ${d}`);
  };
}

/** Bench names, their issue-5.11 labels and whether they count as one simple ioctl (≤ 2 µs). */
const ROWS = [
  ['5.11 IOMMU_OPTION GET (dispatch + decode + respond)', 1, true],
  ['5.11 IOAS_MAP 4K + IOAS_UNMAP, no domain', 2, true],
  ['5.11 IOAS_MAP 4K + IOAS_UNMAP, nest-parent S2 (pin, PTE, TLBI+sync)', 2, false],
  ['5.11 HWPT_INVALIDATE, 1 command', 1, true],
  ['5.11 HWPT_INVALIDATE, 63 commands', 1, false],
  ['5.11 nested HWPT alloc + attach (+ replace back + destroy)', 4, false],
] as const;

/** Registers the kernel-model benches; returns the function that turns results into figures. */
export function registerIommufd(): (results: Results) => Figure[] {
  const plain = setup(false);
  const nested = setup(true);
  const opt = struct(24);
  opt.dv.setUint16(8, 1, true); // OP_GET of RLIMIT_MODE
  const fns = [
    () => do_not_optimize(plain.p.ioctl(plain.fd, R.OPTION, opt.b)),
    mapUnmapPair(plain),
    mapUnmapPair(nested),
    invalidate(nested, 1),
    invalidate(nested, 63),
    nestedCycle(nested),
  ];
  ROWS.forEach(([name], i) => {
    bench(name, fns[i] as () => void);
  });

  return (results) => {
    const out: Figure[] = ROWS.map(([name, ioctls, simple]) => {
      const ns = medianNs(results, name);
      const per = ns / ioctls;
      return {
        name,
        value: fmtNs(ns),
        baseline: ioctls > 1 ? `${fmtNs(per)} per ioctl` : '',
        ratio: '',
        target: simple ? '≤ 2 µs/ioctl' : '',
        met: simple ? per <= 2000 : undefined,
      };
    });
    // Mixed loop: ioctls per second over a realistic mix (OPTION, MAP/UNMAP without domain,
    // invalidate 1 command); median of 5 runs.
    const pair = mapUnmapPair(plain);
    const inv = invalidate(nested, 1);
    const rates: number[] = [];
    for (let r = 0; r < 6; r++) {
      const n = 20_000;
      const t0 = performance.now();
      let ioctls = 0;
      for (let i = 0; i < n; i++) {
        plain.p.ioctl(plain.fd, R.OPTION, opt.b);
        pair();
        inv();
        ioctls += 4;
      }
      if (r > 0) rates.push(ioctls / ((performance.now() - t0) / 1000));
    }
    const rate = median(rates);
    out.push({
      name: '5.11 mixed ioctl loop (OPTION, MAP, UNMAP, INVALIDATE)',
      value: fmtRate(rate, 'ioctl'),
      baseline: '',
      ratio: '',
      target: '≥ 100 k ioctl/s',
      met: rate >= 100_000,
    });
    return out;
  };
}
