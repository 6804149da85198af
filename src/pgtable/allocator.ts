// Page allocators for translation tables. io-pgtable-arm allocates zeroed, naturally aligned
// tables (at least 64 bytes, drivers/iommu/io-pgtable-arm.c __arm_lpae_alloc_pages) from the
// kernel page allocator; here the caller supplies the allocator, so the same builder can place a
// host stage-2 in host memory and a guest stage-1 in guest RAM.

import { VsmmuError } from '../arch/errors.ts';
import type { SparseMemory } from '../mem/sparse-memory.ts';

/** Source of zeroed, size-aligned table memory. */
export interface PageAllocator {
  /** Returns the address of `bytes` zeroed bytes aligned to `bytes` (a power of two ≥ 64), or undefined when out of memory. */
  alloc(bytes: number): number | undefined;
  /** Returns memory obtained from `alloc` (same size). */
  free(addr: number, bytes: number): void;
}

/**
 * A bump allocator over one address range with per-size free lists. Blocks are zeroed on
 * allocation and every 4 KiB page of a block is written once, so it is backed even when the
 * memory treats never-written pages as aborting.
 */
export class RegionAllocator implements PageAllocator {
  private next: number;
  private readonly end: number;
  private readonly freeLists = new Map<number, number[]>();
  private readonly live = new Map<number, number>();
  private readonly mem: SparseMemory;
  /** Bytes currently allocated. */
  inUse = 0;

  constructor(mem: SparseMemory, base: number, size: number) {
    this.mem = mem;
    if (!Number.isInteger(base) || base < 0 || size <= 0 || base + size > mem.limit) {
      throw new VsmmuError('BAD_CONFIG', `allocator region ${base}+${size} outside memory`);
    }
    this.next = base;
    this.end = base + size;
  }

  /** Number of live blocks. */
  get liveBlocks(): number {
    return this.live.size;
  }

  /** Whether `addr` is the start of a live block. */
  isLive(addr: number): boolean {
    return this.live.has(addr);
  }

  alloc(bytes: number): number | undefined {
    let size = 64;
    while (size < bytes) size *= 2;
    let addr = this.freeLists.get(size)?.pop();
    if (addr === undefined) {
      const start = Math.ceil(this.next / size) * size;
      if (start + size > this.end) return undefined;
      addr = start;
      this.next = start + size;
    }
    this.mem.fill(addr, size, 0);
    for (let p = addr; p < addr + size; p += 4096) this.mem.write32(p, 0);
    this.live.set(addr, size);
    this.inUse += size;
    return addr;
  }

  free(addr: number, _bytes: number): void {
    const size = this.live.get(addr);
    if (size === undefined) return;
    this.live.delete(addr);
    this.inUse -= size;
    let list = this.freeLists.get(size);
    if (!list) {
      list = [];
      this.freeLists.set(size, list);
    }
    list.push(addr);
  }
}
