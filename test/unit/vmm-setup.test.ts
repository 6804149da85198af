// VMM set-up through the syscall facade (fake kernel decoding the ioctls by hand-written offsets)
// and the vIDR derivation from IOMMU_GET_HW_INFO (UAPI doc of struct iommu_hw_info_arm_smmuv3:
// only the whitelisted fields may be read).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VsmmuError } from '../../src/arch/errors.ts';
import { buildVidr, type HostSmmuInfo, Vmm } from '../../src/vmm/index.ts';
import { FakeKernel } from './vmm-fake-kernel.ts';
import { makeKit, RAM_BASE } from './vmm-kit.ts';

/** Bits [hi:lo] of a u32. */
function bits(v: number, hi: number, lo: number): number {
  return Math.floor(v / 2 ** lo) % 2 ** (hi - lo + 1);
}

describe('VMM set-up ioctl sequence', () => {
  it('issues the iommufd/VFIO calls a VMM needs, with correctly laid-out structs', () => {
    const { k, vmm, v } = makeKit();
    const names = k.calls.map((c) => c.name);
    expect(names).toEqual([
      'IOMMU_IOAS_ALLOC',
      'IOMMU_IOAS_MAP',
      'VFIO_DEVICE_BIND_IOMMUFD',
      'IOMMU_GET_HW_INFO',
      'VFIO_DEVICE_BIND_IOMMUFD',
      'IOMMU_GET_HW_INFO',
      'IOMMU_HWPT_ALLOC',
      'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      'IOMMU_VIOMMU_ALLOC',
      'IOMMU_VDEVICE_ALLOC',
      'IOMMU_VDEVICE_ALLOC',
      'IOMMU_HWPT_ALLOC',
      'IOMMU_HWPT_ALLOC',
      'IOMMU_VEVENTQ_ALLOC',
      'IOMMU_IOAS_IOVA_RANGES',
      // GBPA resets to bypass with SMMUEN = 0: both devices go to the bypass HWPT.
      'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
    ]);
    const map = k.named('IOMMU_IOAS_MAP')[0]?.f ?? {};
    // FIXED_IOVA | WRITEABLE | READABLE = 1 | 2 | 4.
    expect(map['flags']).toBe(7n);
    expect(map['iova']).toBe(BigInt(RAM_BASE));
    expect(map['length']).toBe(0x10_0000n);
    expect(map['user_va']).toBe(vmm.ram.va);
    const ioasId = map['ioas_id'];
    const bind = k.named('VFIO_DEVICE_BIND_IOMMUFD')[0]?.f ?? {};
    expect(bind['argsz']).toBe(24n);
    expect(bind['iommufd']).toBe(BigInt(vmm.iommufd));
    const [parent, abort, bypass] = k.named('IOMMU_HWPT_ALLOC');
    // NEST_PARENT on the IOAS, no driver data.
    expect(parent?.f['flags']).toBe(1n);
    expect(parent?.f['pt_id']).toBe(ioasId);
    expect(parent?.f['data_type']).toBe(0n);
    const vi = k.named('IOMMU_VIOMMU_ALLOC')[0]?.f ?? {};
    expect(vi['type']).toBe(1n);
    expect(vi['hwpt_id']).toBe(BigInt(v.backend.parentHwptId));
    const vds = k.named('IOMMU_VDEVICE_ALLOC').map((c) => c.f['virt_id']);
    expect(vds).toEqual([0x8n, 0x10n]);
    // Abort vSTE: V only; bypass: V | Config 0b100 << 1.
    expect(abort?.data).toEqual([1n, 0n]);
    expect(bypass?.data).toEqual([0x9n, 0n]);
    expect(abort?.f['pt_id']).toBe(BigInt(v.backend.viommuId));
    expect(abort?.f['data_type']).toBe(2n);
    expect(abort?.f['data_len']).toBe(16n);
    const q = k.named('IOMMU_VEVENTQ_ALLOC')[0]?.f ?? {};
    expect(q['type']).toBe(1n);
    // Depth = entries of the largest guest event queue the vIDR allows (EVENTQS 8 → 256).
    expect(q['veventq_depth']).toBe(256n);
    expect(v.streams().map((s) => s.attached)).toEqual(['bypass', 'bypass']);
    expect(v.streams().map((s) => s.hwptId)).toEqual([
      v.backend.bypassHwptId,
      v.backend.bypassHwptId,
    ]);
  });

  it('fails cleanly, naming the ioctl and errno, and logs the struct', () => {
    const k = new FakeKernel();
    k.failNext.set('IOMMU_VIOMMU_ALLOC', -95);
    const lines: string[] = [];
    let err: unknown;
    try {
      Vmm.create(k, {
        smmus: [{ devices: [{ path: '/dev/vfio/devices/vfio0', vsid: 1 }] }],
        log: (e) => lines.push(e.text),
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VsmmuError);
    expect(String((err as Error).message)).toMatch(/IOMMU_VIOMMU_ALLOC.*EOPNOTSUPP/);
    expect(
      lines.some((l) =>
        /IOMMU_VIOMMU_ALLOC failed: EOPNOTSUPP.*iommu_viommu_alloc \{size=40/.test(l),
      ),
    ).toBe(true);
  });

  it('traces every ioctl with its name and return value', () => {
    const events: { name: string; ret: number }[] = [];
    const { k } = makeKit({}, {}, undefined, {
      trace: (e) => {
        if (e.kind === 'ioctl') events.push({ name: e.name, ret: e.ret });
      },
    });
    expect(events).toEqual(k.calls.map((c) => ({ name: c.name, ret: c.ret })));
  });

  it('tears down leaf first', () => {
    const { k, vmm, v } = makeKit();
    const ids = {
      q: v.backend.veventqId,
      abort: v.backend.abortHwptId,
      bypass: v.backend.bypassHwptId,
      vi: v.backend.viommuId,
      parent: v.backend.parentHwptId,
    };
    const mark = k.calls.length;
    vmm.shutdown();
    const after = k.calls.slice(mark);
    const destroyed = after.filter((c) => c.name === 'IOMMU_DESTROY').map((c) => Number(c.f['id']));
    const pos = (id: number) => destroyed.indexOf(id);
    expect(pos(ids.q)).toBeGreaterThanOrEqual(0);
    expect(pos(ids.q)).toBeLessThan(pos(ids.abort));
    expect(pos(ids.abort)).toBeLessThan(pos(ids.vi));
    expect(pos(ids.vi)).toBeLessThan(pos(ids.parent));
    expect(pos(ids.parent)).toBeLessThan(pos(vmm.ioasId));
    expect(after.filter((c) => c.name === 'VFIO_DEVICE_DETACH_IOMMUFD_PT')).toHaveLength(2);
  });
});

// QEMU virt host IDRs: IDR0 0x0d44101b, IDR1 0x02730010, IDR3 0x1414, IDR5 0x74.
const QEMU_HOST: HostSmmuInfo = {
  idr: [0x0d44101b, 0x02730010, 0, 0x1414, 0, 0x74],
  iidr: 0,
  aidr: 1,
};

describe('vIDR construction', () => {
  it('derives every field as documented', () => {
    const v = buildVidr(QEMU_HOST, { vsids: [0x8, 0x10] });
    const i0 = v.idr.idr0;
    expect(bits(i0, 0, 0)).toBe(0); // S2P
    expect(bits(i0, 1, 1)).toBe(1); // S1P
    expect(bits(i0, 3, 2)).toBe(2); // TTF AArch64
    expect(bits(i0, 4, 4)).toBe(1); // COHACC
    expect(bits(i0, 7, 6)).toBe(0); // HTTU
    expect(bits(i0, 10, 10)).toBe(0); // ATS
    expect(bits(i0, 12, 12)).toBe(1); // ASID16 from host
    expect(bits(i0, 13, 13)).toBe(1); // MSI (plan default)
    expect(bits(i0, 14, 14)).toBe(1); // SEV
    expect(bits(i0, 18, 18)).toBe(0); // VMID16: no S2 in the guest
    expect(bits(i0, 22, 21)).toBe(2); // TTENDIAN from host (LE)
    expect(bits(i0, 25, 24)).toBe(1); // STALL_MODEL terminate only
    expect(bits(i0, 26, 26)).toBe(1); // TERM_MODEL from host
    expect(bits(i0, 28, 27)).toBe(1); // ST_LEVEL 2-level
    const i1 = v.idr.idr1;
    expect(bits(i1, 5, 0)).toBe(16); // SIDSIZE
    expect(bits(i1, 10, 6)).toBe(0); // SSIDSIZE
    expect(bits(i1, 20, 16)).toBe(8); // EVENTQS
    expect(bits(i1, 25, 21)).toBe(8); // CMDQS
    expect(bits(v.idr.idr3, 10, 10)).toBe(1); // RIL from host
    expect(bits(v.idr.idr5, 2, 0)).toBe(4); // OAS 44 bits
    expect(bits(v.idr.idr5, 6, 4)).toBe(7); // GRAN4K/16K/64K from host
    expect(v.idr.aidr).toBe(2);
    expect(
      v.fields.every((f) => ['host', 'vmm', 'plan'].includes(f.origin) && f.why.length > 0),
    ).toBe(true);
  });

  it('sizes SIDSIZE from the StreamID plan and caps SSIDSIZE by the host', () => {
    const host: HostSmmuInfo = {
      ...QEMU_HOST,
      idr: [0x0d44101b, 0x02730010 | (5 << 6), 0, 0x1414, 0, 0x74],
    };
    const v = buildVidr(host, {
      vsids: [0x1_2345],
      ssidBits: 8,
      ats: true,
      irq: 'wired',
      sev: false,
      ril: false,
    });
    expect(bits(v.idr.idr1, 5, 0)).toBe(17);
    expect(bits(v.idr.idr1, 10, 6)).toBe(5);
    expect(bits(v.idr.idr0, 10, 10)).toBe(1);
    expect(bits(v.idr.idr0, 13, 13)).toBe(0);
    expect(bits(v.idr.idr0, 14, 14)).toBe(0);
    expect(bits(v.idr.idr3, 10, 10)).toBe(0);
  });

  it('refuses hosts it cannot back', () => {
    const noAa64 = { ...QEMU_HOST, idr: [0x0d44101b & ~0b1100, 0x02730010, 0, 0x1414, 0, 0x74] };
    expect(() => buildVidr(noAa64, { vsids: [1] })).toThrow(VsmmuError);
    const forcedStall = {
      ...QEMU_HOST,
      idr: [(0x0d44101b & ~(3 << 24)) | (2 << 24), 0x02730010, 0, 0x1414, 0, 0x74],
    };
    expect(() => buildVidr(forcedStall, { vsids: [1] })).toThrow(/stall/);
  });

  it('never depends on host fields outside the UAPI whitelist', () => {
    // Whitelisted bit masks (UAPI doc): IDR0 ST_LEVEL[28:27] TERM_MODEL[26] STALL_MODEL[25:24]
    // TTENDIAN[22:21] CD2L[19] ASID16[12] TTF[3:2]; IDR1 SSIDSIZE[10:6] SIDSIZE[5:0];
    // IDR3 BBML[12:11] RIL[10]; IDR5 VAX[11:10] GRAN64K[6] GRAN16K[5] GRAN4K[4].
    const allowed = [0x1f68_100c, 0x7ff, 0, 0x1c00, 0, 0xc70];
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 6, maxLength: 6 }),
        (base, junk) => {
          // A host the VMM can use: AArch64 tables, not stall-forced, some granule.
          const b = base.map((x) => x >>> 0);
          b[0] = ((b[0] as number) | 0b1000) & ~(1 << 25);
          b[5] = (b[5] as number) | 0x10;
          const noisy = b.map(
            (x, i) =>
              ((x & (allowed[i] as number)) | ((junk[i] as number) & ~(allowed[i] as number))) >>>
              0,
          );
          const a = buildVidr({ idr: b, iidr: 1, aidr: 1 }, { vsids: [3] });
          const n = buildVidr({ idr: noisy, iidr: 0xffff_ffff, aidr: 7 }, { vsids: [3] });
          expect(n.idr).toEqual(a.idr);
          expect(n.iidr).toBe(a.iidr);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('docs/vmm.md', () => {
  it('documents the origin of every advertised vIDR field', () => {
    const doc = readFileSync(resolve(import.meta.dirname, '../../docs/vmm.md'), 'utf8');
    const documented = new Set<string>();
    for (const line of doc.split('\n')) {
      const cell = line.split('|')[1]?.trim() ?? '';
      const m = /^(IDR\d|IIDR|AIDR)(?:\.(.*))?$/.exec(cell);
      if (!m) continue;
      const reg = m[1] as string;
      const names = m[2] === undefined ? [reg] : m[2].split(',').map((x) => x.trim());
      for (const n of names) documented.add(`${reg}.${n}`);
    }
    const v = buildVidr(QEMU_HOST, { vsids: [1] });
    const missing = v.fields.map((f) => `${f.reg}.${f.field}`).filter((k) => !documented.has(k));
    expect(missing).toEqual([]);
  });
});
