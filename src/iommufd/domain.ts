// The seam between the iommufd core and an IOMMU driver (include/linux/iommu.h `iommu_domain`,
// `iommu_ops`, `iommu_domain_ops`, `iommufd_viommu_ops`), reduced to what the model needs. The
// core (ioctls, objects, IOAS) calls the driver only through these interfaces, like the kernel.

/** IOMMU_READ / IOMMU_WRITE / IOMMU_CACHE (include/linux/iommu.h). */
export const IOMMU_PROT = { READ: 1 << 0, WRITE: 1 << 1, CACHE: 1 << 2 } as const;

/** A paging domain (an io-pgtable the core fills from an IOAS). */
export interface PagingDomain {
  readonly kind: 'paging';
  /** 1 = stage-1 (CD-based), 2 = stage-2 (VMID-based). */
  readonly stage: 1 | 2;
  readonly nestParent: boolean;
  /** Page sizes the domain maps (bit n = 2^n bytes). */
  readonly pgsizeBitmap: number;
  /** Last IOVA the domain translates (the geometry aperture end). */
  readonly apertureEnd: bigint;
  /** Dirty tracking enabled (IOMMU_HWPT_SET_DIRTY_TRACKING). */
  dirtyTracking: boolean;
  /** Maps one page-size-aligned range; 0 or a negative errno (-ENOMEM on table allocation). */
  map(iova: number, pa: number, size: number, prot: number): number;
  /** Unmaps; returns the bytes unmapped. Issues the TLB invalidations the driver needs. */
  unmap(iova: number, size: number): number;
  /** The PA an IOVA maps to, or -1. */
  iovaToPhys(iova: number): number;
  /** Releases the page tables and IDs. */
  free(): void;
  /** Which physical IOMMU instance the domain belongs to. */
  readonly iommu: number;
}

/** A nested domain (user-managed stage 1 on top of a parent paging domain). */
export interface NestedDomain {
  readonly kind: 'nested';
  readonly iommu: number;
  readonly parent: PagingDomain;
  free(): void;
}

/** Any attachable domain. */
export type IommuDomain = PagingDomain | NestedDomain;

/** A reserved IOVA region of a device (include/linux/iommu.h `iommu_resv_region`). */
export interface ResvRegion {
  readonly start: bigint;
  readonly last: bigint;
  readonly type: 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi';
}
