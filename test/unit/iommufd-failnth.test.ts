// fail_nth over a whole nested set-up (the iommufd selftest iommufd_fail_nth.c is the anchor):
// for n = 1, 2, … the n-th internal allocation / pin / object lookup fails; the ioctl that hits it
// must return an errno and leave every object, refcount, pinned page and installed STE exactly as
// before the call. The walk ends when n exceeds the number of failure points of the sequence.

import { describe, expect, it } from 'vitest';
import { createHost } from '../../src/iommufd/host.ts';
import type { IommufdCtx } from '../../src/iommufd/iommufd.ts';
import { E, R, S } from './iommufd-harness.ts';

type Step = { name: string; run: () => number };

function scenario(failNth: number | undefined) {
  const host = createHost({ options: failNth === undefined ? {} : { failNth } });
  const p = host.process();
  const fd = p.open('/dev/iommu');
  const dfd = p.open('/dev/vfio/devices/vfio0');
  const ram = p.mmap(0x8000);
  const vsteVa = p.mmap(4096);
  const vste = new Uint8Array(16);
  new DataView(vste.buffer).setBigUint64(0, 0x1n | (5n << 1n) | 0x4000_0000n, true);
  p.write(vsteVa, vste);
  const cmdVa = p.mmap(4096);
  const cmd = new Uint8Array(16);
  cmd[0] = 0x30; // TLBI_NSNH_ALL
  p.write(cmdVa, cmd);
  const ids = { dev: 0, ioas: 0, parent: 0, viommu: 0, vdev: 0, nested: 0, qfd: 0 };
  const io = (f: number, req: number, s: S) => p.ioctl(f, req, s.b);
  const steps: Step[] = [
    {
      name: 'bind',
      run: () => {
        const s = new S(24).u32(8, fd);
        const rc = io(dfd, R.VFIO_BIND, s);
        ids.dev = s.g32(12);
        return rc;
      },
    },
    {
      name: 'ioas',
      run: () => {
        const s = new S(12);
        const rc = io(fd, R.IOAS_ALLOC, s);
        ids.ioas = s.g32(8);
        return rc;
      },
    },
    {
      name: 'map',
      run: () =>
        io(
          fd,
          R.IOAS_MAP,
          new S(40).u32(4, 7).u32(8, ids.ioas).u64(16, ram).u64(24, 0x4000).u64(32, 0x4000_0000),
        ),
    },
    {
      name: 'nest-parent',
      run: () => {
        const s = new S(48).u32(4, 1).u32(8, ids.dev).u32(12, ids.ioas);
        const rc = io(fd, R.HWPT_ALLOC, s);
        ids.parent = s.g32(16);
        return rc;
      },
    },
    { name: 'attach-parent', run: () => io(dfd, R.VFIO_ATTACH, new S(16).u32(8, ids.parent)) },
    {
      name: 'map-more',
      run: () =>
        io(
          fd,
          R.IOAS_MAP,
          new S(40)
            .u32(4, 7)
            .u32(8, ids.ioas)
            .u64(16, ram + 0x4000n)
            .u64(24, 0x4000)
            .u64(32, 0x5000_0000),
        ),
    },
    {
      name: 'viommu',
      run: () => {
        const s = new S(40).u32(8, 1).u32(12, ids.dev).u32(16, ids.parent);
        const rc = io(fd, R.VIOMMU_ALLOC, s);
        ids.viommu = s.g32(20);
        return rc;
      },
    },
    {
      name: 'vdevice',
      run: () => {
        const s = new S(24).u32(4, ids.viommu).u32(8, ids.dev).u64(16, 0x99);
        const rc = io(fd, R.VDEVICE_ALLOC, s);
        ids.vdev = s.g32(12);
        return rc;
      },
    },
    {
      name: 'veventq',
      run: () => {
        const s = new S(32).u32(8, ids.viommu).u32(12, 1).u32(16, 8);
        const rc = io(fd, R.VEVENTQ_ALLOC, s);
        ids.qfd = s.g32(24);
        return rc;
      },
    },
    {
      name: 'nested',
      run: () => {
        const s = new S(48)
          .u32(8, ids.dev)
          .u32(12, ids.viommu)
          .u32(24, 2)
          .u32(28, 16)
          .u64(32, vsteVa);
        const rc = io(fd, R.HWPT_ALLOC, s);
        ids.nested = s.g32(16);
        return rc;
      },
    },
    { name: 'attach-nested', run: () => io(dfd, R.VFIO_ATTACH, new S(16).u32(8, ids.nested)) },
    {
      name: 'invalidate',
      run: () =>
        io(
          fd,
          R.HWPT_INVALIDATE,
          new S(32).u32(4, ids.viommu).u64(8, cmdVa).u32(16, 1).u32(20, 16).u32(24, 1),
        ),
    },
    { name: 'get-hw-info', run: () => io(fd, R.GET_HW_INFO, new S(40).u32(8, ids.dev).u32(12, 0)) },
    {
      name: 'unmap',
      run: () =>
        io(fd, R.IOAS_UNMAP, new S(24).u32(4, ids.ioas).u64(8, 0x5000_0000).u64(16, 0x4000)),
    },
  ];
  const snapshot = () => {
    const d = host.devices[0];
    const ctx = (d?.boundBy as { ctx?: IommufdCtx } | null)?.ctx;
    const io = ctx?.peek(ids.ioas);
    const iopt = io?.type === 'IOAS' ? io.iopt : undefined;
    return JSON.stringify({
      objects: ctx?.objects() ?? null,
      areas: iopt?.areas.map((a) => `${a.iova}+${a.last}`) ?? [],
      reserved: iopt?.reserved.length ?? 0,
      domains:
        iopt?.domains.map((x) =>
          [0x4000_0000, 0x4000_3000, 0x5000_0000].map((a) => x.iovaToPhys(a)),
        ) ?? [],
      align: iopt?.iovaAlignment ?? 0,
      bound: d?.boundBy !== null,
      pinnedVm: p.pinnedVm,
      pinnedPages: p.pinnedPageCount,
      lockedVm: host.userAccount.lockedVm,
      ste: host
        .smmu(0)
        .readSte(8)
        .map((w) => w.toString(16)),
      vmids: [...host.smmu(0).driver.vmids],
      fds: p.listFds().map((f) => f.fd),
    });
  };
  return { host, steps, snapshot };
}

describe('fail_nth walk over a nested set-up', () => {
  it('the unarmed sequence succeeds step by step', () => {
    const s = scenario(undefined);
    for (const st of s.steps) expect(`${st.name}: ${st.run()}`).toBe(`${st.name}: 0`);
  });

  it('every failure point returns an errno and changes nothing', () => {
    const seen = new Map<string, number>();
    let n = 1;
    for (; n < 400; n++) {
      const s = scenario(n);
      let failed = false;
      for (const st of s.steps) {
        const before = s.snapshot();
        const rc = st.run();
        if (rc !== 0) {
          expect(
            s.host.faults.fired,
            `n=${n} ${st.name} failed without a fault (${rc})`,
          ).toBeDefined();
          // a failed lookup is ENOENT, except where the kernel maps it (HWPT_ALLOC pt_id → EINVAL)
          expect([E.ENOMEM, E.ENOENT, E.EFAULT, E.EINVAL]).toContain(rc);
          expect(s.snapshot(), `n=${n} ${st.name}`).toBe(before);
          seen.set(st.name, (seen.get(st.name) ?? 0) + 1);
          failed = true;
          break;
        }
        expect(s.host.faults.fired, `n=${n} ${st.name} swallowed a fault`).toBeUndefined();
      }
      if (!failed) break;
    }
    // the walk ran out of failure points (the sequence then succeeds) and every step was hit
    expect(n).toBeLessThan(400);
    for (const name of [
      'bind',
      'ioas',
      'map',
      'nest-parent',
      'attach-parent',
      'viommu',
      'vdevice',
      'veventq',
      'nested',
      'attach-nested',
      'invalidate',
    ]) {
      expect(seen.get(name), name).toBeGreaterThan(0);
    }
  });
});
