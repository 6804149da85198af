// Kernel-version behaviour profiles (formats.md §8; errata of the iommufd digest). The kernel's
// observable behaviour changed between releases; the host takes a profile and every difference is
// one named switch here, so a VMM developer can run the same flow against each kernel.
//
// Sources: arm-smmu-v3-iommufd.c (v6.17: vDEVICE required for every nested attach; later
// 9f0b286fe401/81c45c62dc3e allow abort/bypass without one), arm-smmu-v3.c update_safe
// (2781f2a930ab, f3c1d372dbb8, 7cad80048595; Cc stable, in 6.19.y), the strict command validation of
// the 7.x tree (iommufd.h 7.3: "the kernel rejects, with -EIO, any command carrying … an unsupported
// field").

import { VsmmuError } from '../arch/errors.ts';

/** A named kernel profile. */
export type KernelProfileName = 'v6.17' | 'v6.19' | 'v7';

/** The switches a profile sets. */
export interface KernelSwitches {
  /**
   * A nested HWPT whose vSTE is abort/bypass (incl. V=0) may be attached without a vDEVICE for
   * the device (false: every nested attach without a vDEVICE fails ENOENT).
   */
  readonly nestedAttachWithoutVdevice: boolean;
  /** The hitless STE writer treats MEV and EATS=TRANS as update-safe bits (§13.1 step 2). */
  readonly steUpdateSafe: boolean;
  /**
   * HWPT_INVALIDATE validates every field of every command per opcode and fails a whole
   * 63-command block on one bad entry (EIO); entry_num = 0 succeeds.
   */
  readonly strictInvalidate: boolean;
  /** ATS is enabled for a bypass vSTE (an unconfirmed later change; opt-in variant only). */
  readonly atsForBypassVste: boolean;
  /** IOMMU_HW_INFO's out_capabilities carries PCI_ATS_NOT_SUPPORTED for devices without ATS. */
  readonly reportAtsNotSupported: boolean;
  /** vDEVICE allocation fails EOPNOTSUPP for a device with more than one StreamID. */
  readonly vdeviceSingleSid: boolean;
}

/** The profiles (default: the newest stable one, v6.19). */
export const KERNEL_PROFILES: Readonly<Record<KernelProfileName, KernelSwitches>> = {
  'v6.17': {
    nestedAttachWithoutVdevice: false,
    steUpdateSafe: false,
    strictInvalidate: false,
    atsForBypassVste: false,
    reportAtsNotSupported: false,
    vdeviceSingleSid: false,
  },
  'v6.19': {
    nestedAttachWithoutVdevice: true,
    steUpdateSafe: true,
    strictInvalidate: false,
    atsForBypassVste: false,
    reportAtsNotSupported: false,
    vdeviceSingleSid: false,
  },
  v7: {
    nestedAttachWithoutVdevice: true,
    steUpdateSafe: true,
    strictInvalidate: true,
    atsForBypassVste: false,
    reportAtsNotSupported: true,
    vdeviceSingleSid: true,
  },
};

/** The default profile. */
export const DEFAULT_PROFILE: KernelProfileName = 'v6.19';

/** Switches of a profile, with per-switch overrides. */
export function resolveProfile(
  name: KernelProfileName | undefined,
  overrides: Partial<KernelSwitches> = {},
): KernelSwitches {
  const n = name ?? DEFAULT_PROFILE;
  const base = KERNEL_PROFILES[n];
  if (!base) throw new VsmmuError('BAD_CONFIG', `unknown kernel profile ${String(name)}`);
  return { ...base, ...overrides };
}
