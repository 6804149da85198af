// A PCI-like device on the host as the kernel model sees it: its VFIO cdev node
// (/dev/vfio/devices/vfioN), the SMMU instance and StreamIDs it sits behind (firmware IORT/DT
// facts), its PCI capabilities (ATS, PASID), IOMMU group, IORT CANWBS and reserved regions, and the
// arm-smmu-v3 master the driver created for it at probe.

import type { Master } from './arm-smmu-v3/driver.ts';
import type { ResvRegion } from './domain.ts';

/** Host configuration of a device. */
export interface HostDeviceConfig {
  /** Name used in logs; default `vfio<N>`. */
  readonly name?: string;
  /** SMMU instance index (default 0). */
  readonly smmu?: number;
  /** StreamID (single) … */
  readonly sid?: number;
  /** … or several StreamIDs. */
  readonly sids?: readonly number[];
  /** PCI ATS capability (default false). */
  readonly ats?: boolean;
  /** PASID width (0 = no PASID capability; default 0). */
  readonly pasidBits?: number;
  /** IOMMU group id (default: a group of its own). */
  readonly group?: number;
  /** IORT CANWBS (default true). */
  readonly canwbs?: boolean;
  /** Firmware dma-can-stall (default false). */
  readonly stall?: boolean;
  /** Extra reserved regions (beyond the SMMU driver's SW MSI window). */
  readonly resvRegions?: readonly ResvRegion[];
}

/** A device of the host. */
export interface HostDevice {
  readonly index: number;
  readonly name: string;
  /** `/dev/vfio/devices/vfio<index>`. */
  readonly path: string;
  readonly smmu: number;
  readonly sids: readonly number[];
  readonly ats: boolean;
  readonly pasidBits: number;
  readonly group: number;
  readonly canwbs: boolean;
  readonly stall: boolean;
  readonly resvRegions: readonly ResvRegion[];
  readonly master: Master;
  /** Set while a VFIO cdev fd has it bound (one bind at a time). */
  boundBy: unknown;
}
