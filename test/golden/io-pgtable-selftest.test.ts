// The Linux io-pgtable-arm selftest, replayed against the model. Source: the kernel's
// drivers/iommu/io-pgtable-arm-selftests.c (arm_lpae_do_selftests / arm_lpae_run_tests; before
// the split it lived in io-pgtable-arm.c under CONFIG_IOMMU_IO_PGTABLE_LPAE_SELFTEST):
// page-size sets {4K|2M|1G}, {16K|32M}, {64K|512M} × (IAS, OAS) from {32,36,40,42,44,48} with
// IAS ≤ OAS = 63 configurations, each run for ARM_64_LPAE_S1 and ARM_64_LPAE_S2 with a coherent
// walk, the NO_WARN quirk and dummy TLB ops that check every flush size is in the bitmap.
// Steps: empty table translates nothing; per page size at 1 GiB steps map, overlapping map
// fails, iova_to_phys; then unmap, iova_to_phys = 0, remap write-only, iova_to_phys; finally
// map/unmap the last largest page below 2^IAS (concatenated-pgd corner case).
// On top of the kernel's checks, every successful iova_to_phys is compared with the walker.

import { describe, expect, it } from 'vitest';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import {
  IOMMU_PROT,
  IoPgtable,
  type IoPgtableFmt,
  RegionAllocator,
  type TlbOp,
  walkS1,
  walkS2,
} from '../../src/pgtable/index.ts';

const SZ_1G = 2 ** 30;
const SZ_2G = 2 ** 31;
const PGSIZES = [4096 + 2 ** 21 + 2 ** 30, 16384 + 2 ** 25, 65536 + 2 ** 29];
const ADDRESS_SIZES = [32, 36, 40, 42, 44, 48];
const { READ, WRITE, NOEXEC, CACHE } = IOMMU_PROT;

function setBits(bitmap: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 53; b++) if (Math.floor(bitmap / 2 ** b) % 2) out.push(b);
  return out;
}

/** arm_lpae_run_tests for one format; returns a failure description or undefined. */
function runTests(
  fmt: IoPgtableFmt,
  pgsizeBitmap: number,
  ias: number,
  oas: number,
): string | undefined {
  const mem = new SparseMemory();
  const alloc = new RegionAllocator(mem, 0x1000_0000, 0x1000_0000);
  const badFlushes: TlbOp[] = [];
  const tlb = (op: TlbOp): void => {
    const size = op.op === 'flush_walk' ? op.size : op.granule;
    // dummy_tlb_flush: WARN_ON(!(size & pgsize_bitmap))
    if (!setBits(pgsizeBitmap).some((b) => b === Math.log2(size))) badFlushes.push(op);
  };
  const ops = IoPgtable.create(mem, alloc, {
    fmt,
    pgsizeBitmap,
    ias,
    oas,
    coherentWalk: true,
    quirks: { noWarn: true },
    tlb,
  });
  if (!ops) return 'alloc_io_pgtable_ops failed';
  const params = ops.stageParams();
  const walkPa = (va: number, write: boolean): number | undefined => {
    const req = { address: va, write, exec: false, priv: false };
    const r = fmt === 'ARM_64_LPAE_S1' ? walkS1(mem, params, req) : walkS2(mem, params, req);
    return r.ok ? r.oa : undefined;
  };
  // The walker uses a write access where the mapping is write-only (stage 2 then denies reads).
  const checkPhys = (va: number, want: number, write = false): string | undefined => {
    const got = ops.iovaToPhys(va);
    if (got !== want) return `iova_to_phys(${va.toString(16)}) = ${got.toString(16)}`;
    const w = walkPa(va, write);
    if (want !== 0 && w !== want) return `walker(${va.toString(16)}) = ${w?.toString(16)}`;
    if (want === 0 && w !== undefined) return `walker(${va.toString(16)}) translated`;
    return undefined;
  };

  // Initial sanity checks: empty page tables provide no translations.
  for (const va of [42, SZ_1G + 42, SZ_2G + 42]) {
    const e = checkPhys(va, 0);
    if (e) return `empty: ${e}`;
  }
  // Distinct mappings of different granule sizes.
  let iova = 0;
  for (const j of setBits(ops.pgsizeBitmap)) {
    const size = 2 ** j;
    let r = ops.mapPages(iova, iova, size, 1, READ | WRITE | NOEXEC | CACHE);
    if (r.ret) return `map ${size} at ${iova}: ${r.ret}`;
    // Overlapping mappings must fail.
    r = ops.mapPages(iova, iova + size, size, 1, READ | NOEXEC);
    if (!r.ret) return `overlapping map ${size} at ${iova} succeeded`;
    const e = checkPhys(iova + 42, iova + 42);
    if (e) return e;
    iova += SZ_1G;
  }
  // Full unmap, then remap write-only.
  iova = 0;
  for (const j of setBits(ops.pgsizeBitmap)) {
    const size = 2 ** j;
    if (ops.unmapPages(iova, size, 1, false) !== size) return `unmap ${size} at ${iova}`;
    let e = checkPhys(iova + 42, 0);
    if (e) return e;
    const r = ops.mapPages(iova, iova, size, 1, WRITE);
    if (r.ret) return `remap ${size} at ${iova}: ${r.ret}`;
    e = checkPhys(iova + 42, iova + 42, true);
    if (e) return e;
    iova += SZ_1G;
  }
  // Map/unmap the last largest supported page of the IAS.
  const size = 2 ** Math.max(...setBits(ops.pgsizeBitmap));
  iova = 2 ** ops.ias - size;
  const r = ops.mapPages(iova, iova, size, 1, READ | WRITE | NOEXEC | CACHE);
  if (r.ret) return `last page map: ${r.ret}`;
  if (r.mapped !== size) return `last page mapped ${r.mapped}`;
  if (ops.unmapPages(iova, size, 1, false) !== size) return 'last page unmap';
  if (badFlushes.length)
    return `flush with a size outside the bitmap: ${JSON.stringify(badFlushes[0])}`;
  ops.free();
  if (alloc.liveBlocks !== 0) return `leaked ${alloc.liveBlocks} tables`;
  return undefined;
}

describe('io-pgtable-arm selftest (arm_lpae_do_selftests)', () => {
  let pass = 0;
  let fail = 0;
  for (const pgsize of PGSIZES) {
    for (let j = 0; j < ADDRESS_SIZES.length; j++) {
      // Don't use ias > oas as it is not valid for stage-2.
      for (let k = 0; k <= j; k++) {
        const ias = ADDRESS_SIZES[k] as number;
        const oas = ADDRESS_SIZES[j] as number;
        it(`pgsize_bitmap 0x${pgsize.toString(16)}, IAS ${ias} OAS ${oas}`, () => {
          for (const fmt of ['ARM_64_LPAE_S1', 'ARM_64_LPAE_S2'] as const) {
            const err = runTests(fmt, pgsize, ias, oas);
            if (err) fail++;
            else pass++;
            expect(err, fmt).toBeUndefined();
          }
        });
      }
    }
  }
  it('completed with 126 PASS 0 FAIL (63 configurations × 2 formats)', () => {
    expect({ pass, fail }).toEqual({ pass: 126, fail: 0 });
  });
});
