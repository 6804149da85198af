// Host physical memory management for the kernel model: a page allocator over the host's sparse
// physical memory (kernel allocations — stream table, queues, CD tables, page tables — and the pages
// that back process memory come from it) and the fail_nth-style fault injector that makes the n-th
// internal allocation or pin fail (the iommufd selftest `fail_nth` is the anchor:
// tools/testing/selftests/iommu/iommufd_fail_nth.c).

import { VsmmuError } from '../arch/errors.ts';
import type { SparseMemory } from '../mem/sparse-memory.ts';

/** Host page size (the kernel's PAGE_SIZE). */
export const PAGE_SIZE = 4096;
/** log2(PAGE_SIZE). */
export const PAGE_SHIFT = 12;

/** Allocates 4 KiB physical pages from [base, base + size). */
export class PageAllocator {
  private next: number;
  private readonly end: number;
  private readonly free: number[] = [];
  /** Pages currently allocated. */
  inUse = 0;

  readonly mem: SparseMemory;
  readonly base: number;
  readonly size: number;

  constructor(mem: SparseMemory, base: number, size: number) {
    this.mem = mem;
    this.base = base;
    this.size = size;
    if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || base + size > mem.limit) {
      throw new VsmmuError(
        'BAD_CONFIG',
        'physical RAM range must be page aligned and inside PA space',
      );
    }
    this.next = base;
    this.end = base + size;
  }

  /**
   * Allocates `pages` contiguous zeroed pages aligned to `alignBytes` (a power of two ≥ 4 KiB);
   * returns the PA or -1 when memory is exhausted.
   */
  alloc(pages = 1, alignBytes = PAGE_SIZE): number {
    if (pages === 1 && alignBytes <= PAGE_SIZE && this.free.length > 0) {
      const pa = this.free.pop() as number;
      this.mem.fill(pa, PAGE_SIZE, 0);
      this.inUse++;
      return pa;
    }
    const start = Math.ceil(this.next / alignBytes) * alignBytes;
    const len = pages * PAGE_SIZE;
    if (start + len > this.end) return -1;
    // Pages skipped by the alignment go to the free list.
    for (let p = this.next; p < start; p += PAGE_SIZE) this.free.push(p);
    this.next = start + len;
    this.mem.fill(start, len, 0);
    this.inUse += pages;
    return start;
  }

  /** Frees `pages` pages starting at `pa`. */
  release(pa: number, pages = 1): void {
    for (let i = 0; i < pages; i++) this.free.push(pa + i * PAGE_SIZE);
    this.inUse -= pages;
  }
}

/** Kind of an injectable failure point. */
export type FaultPoint = 'alloc' | 'pin' | 'lookup';

/**
 * The fail_nth switch: when `failNth` is set, the n-th failure point reached (counting from 1)
 * fails once. Counting restarts with `arm(n)`.
 */
export class FaultInjector {
  failNth: number | undefined;
  /** Failure points passed since the last arm(). */
  count = 0;
  /** The point that failed, if any. */
  fired: FaultPoint | undefined;

  constructor(failNth?: number) {
    this.failNth = failNth;
  }

  /** Arms (or with undefined disarms) the switch and resets the counter. */
  arm(n: number | undefined): void {
    this.failNth = n;
    this.count = 0;
    this.fired = undefined;
  }

  /** True when this failure point must fail. */
  hit(kind: FaultPoint): boolean {
    if (this.failNth === undefined) return false;
    this.count++;
    if (this.count === this.failNth) {
      this.fired = kind;
      return true;
    }
    return false;
  }
}
