// What a guest kernel has of memory: its RAM, addressed by guest-physical address, and a page
// allocator for coherent DMA memory (Linux dma_alloc_coherent: zeroed, naturally aligned blocks).
// The driver writes its stream table, CD tables, queues and io-pgtables here and nowhere else.
// Bare metal, guest RAM is the SMMU's own physical memory; under a VMM it is a view of the VMM's
// memory, so only this small interface is required.

import { VsmmuError } from '../arch/errors.ts';
import type { SparseMemory, WordMemory } from '../mem/sparse-memory.ts';
import { type PageAllocator, RegionAllocator } from '../pgtable/allocator.ts';

/** The word accesses the driver and its io-pgtable make (SparseMemory satisfies it). */
export type GuestMemory = WordMemory;

/** Guest RAM plus the allocator the driver takes DMA memory from. */
export interface GuestRam {
  readonly mem: GuestMemory;
  readonly alloc: PageAllocator;
}

/**
 * Guest RAM over a SparseMemory: the driver allocates from [base, base + size). Usage errors
 * (range outside the memory) throw VsmmuError.
 */
export function createGuestRam(mem: SparseMemory, base: number, size: number): GuestRam {
  if (!Number.isInteger(base) || !Number.isInteger(size) || base < 0 || size <= 0) {
    throw new VsmmuError('BAD_CONFIG', `guest RAM region ${base}+${size} is not valid`);
  }
  return { mem, alloc: new RegionAllocator(mem, base, size) };
}
