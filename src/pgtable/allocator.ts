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

/** Zeroes `size` bytes at `addr` of whatever memory an allocator hands out (e.g. guest RAM). */
export type ZeroFill = (addr: number, size: number) => void;

/**
 * A bump allocator over one address range with per-size free lists. Blocks are zeroed on
 * allocation. Over a SparseMemory every 4 KiB page of a block is also written once, so it is
 * backed even when the memory treats never-written pages as aborting; over any other memory the
 * caller's ZeroFill clears the block.
 */
export class RegionAllocator implements PageAllocator {
  private next: number;
  private readonly end: number;
  private readonly freeLists = new Map<number, number[]>();
  private readonly live = new Map<number, number>();
  private readonly zero: ZeroFill;
  /** Bytes currently allocated. */
  inUse = 0;

  constructor(mem: SparseMemory | ZeroFill, base: number, size: number) {
    if (typeof mem === 'function') {
      this.zero = mem;
    } else {
      if (base + size > mem.limit) {
        throw new VsmmuError('BAD_CONFIG', `allocator region ${base}+${size} outside memory`);
      }
      this.zero = (addr, bytes) => {
        mem.fill(addr, bytes, 0);
        for (let p = addr; p < addr + bytes; p += 4096) mem.write32(p, 0);
      };
    }
    if (!Number.isInteger(base) || base < 0 || size <= 0) {
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
    this.zero(addr, size);
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
