// The MMIO window a guest driver uses to reach an SMMUv3 programming interface (Arm IHI 0070 H.a
// §6.1–§6.2: register page 0 at offset 0, page 1 at +64 KiB; 32-bit and 64-bit accesses). This is
// all the guest driver knows of the SMMU: the same driver runs against the hardware model directly
// (bare metal) or against a VMM's emulated vSMMU, which only has to offer these four calls — like
// readl/writel/readq/writeq on an ioremap()ed region in Linux.

/** Register access to an SMMU's two register pages; offsets are bytes from page 0. */
export interface SmmuMmio {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  read64(offset: number): bigint;
  write64(offset: number, value: bigint): void;
}

/** Anything with the `mmioRead`/`mmioWrite` shape of the SMMU model and of VMM MMIO handlers. */
export interface MmioRegion {
  mmioRead(offset: number, size: 4 | 8): number | bigint;
  mmioWrite(offset: number, size: 4 | 8, value: bigint): void;
}

/** Adapts an `mmioRead/mmioWrite` region (e.g. the SMMU model) to the guest's MMIO interface. */
export function mmioFromRegion(region: MmioRegion): SmmuMmio {
  return {
    read32: (offset) => Number(region.mmioRead(offset, 4)) >>> 0,
    write32: (offset, value) => region.mmioWrite(offset, 4, BigInt(value >>> 0)),
    read64: (offset) => BigInt(region.mmioRead(offset, 8)),
    write64: (offset, value) => region.mmioWrite(offset, 8, value),
  };
}

/** Access counts of a counting MMIO wrapper (each access is a guest exit under a VMM). */
export interface MmioCounts {
  reads: number;
  writes: number;
}

/** Wraps an MMIO interface and counts its accesses (`counts` is live). */
export function countingMmio(inner: SmmuMmio): SmmuMmio & { readonly counts: MmioCounts } {
  const counts: MmioCounts = { reads: 0, writes: 0 };
  return {
    counts,
    read32(offset) {
      counts.reads++;
      return inner.read32(offset);
    },
    write32(offset, value) {
      counts.writes++;
      inner.write32(offset, value);
    },
    read64(offset) {
      counts.reads++;
      return inner.read64(offset);
    },
    write64(offset, value) {
      counts.writes++;
      inner.write64(offset, value);
    },
  };
}
