// SMMUv3 nesting through iommufd (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c): the vIOMMU
// slice of a physical SMMU (arm_vsmmu: parent S2 domain, shared VMID), nested domains from a guest
// vSTE (arm_vsmmu_alloc_domain_nested + arm_smmu_validate_vste), nested attach
// (arm_smmu_attach_dev_nested with the vmaster / vDEVICE rule that changed between v6.17 and v6.19,
// the ATS decision of §8.4, the physical STE of §8.3), guest invalidation conversion and batching
// (arm_vsmmu_convert_user_cmd, arm_vsmmu_cache_invalidate; the strict per-opcode validation of newer
// kernels as a profile switch), and event forwarding with the vSID (arm_vmaster_report_event).

import { joinU64 } from '../../arch/bits.ts';
import { ERRNO } from '../../arch/errno.ts';
import type { NestedDomain } from '../domain.ts';
import {
  getU32,
  HW_INFO_ARM_SMMUV3_KCAP,
  HWPT_DATA,
  INVALIDATE_DATA,
  setU64,
  VEVENTQ_TYPE,
} from '../uapi.ts';
import { CMD, CMDF, CMDQ_BATCH_ENTRIES, EVT, fieldGet, fieldPrep, STE_CFG } from './defs.ts';
import type { ArmSmmuV3, Master, NestedAttachment, SmmuDomain } from './driver.ts';
import { makeNestedDomainSte, validateVste, vsteConfig } from './ste.ts';

const { EINVAL, EIO, ENOENT, ENOMEM, EOPNOTSUPP, EBUSY, EFAULT, E2BIG } = ERRNO;
const U64 = (1n << 64n) - 1n;

/** What the vSMMU needs from the iommufd core's vIOMMU object. */
export interface ViommuCore {
  /** iommufd_viommu_get_vdev_id: the virt_id of the vDEVICE of `m` in this vIOMMU. */
  vdevIdOf(m: Master): bigint | undefined;
  /** iommufd_viommu_find_dev: the master of the vDEVICE with `virtId`. */
  masterOfVid(virtId: bigint): Master | undefined;
  /** iommufd_viommu_report_event: 0 or -EOPNOTSUPP (no vEVENTQ of that type) / -ENOMEM. */
  reportEvent(type: number, data: Uint8Array): number;
}

/** struct arm_vsmmu. */
export class ArmVsmmu {
  readonly smmu: ArmSmmuV3;
  readonly s2Parent: SmmuDomain;
  readonly vmid: number;
  readonly core: ViommuCore;

  constructor(smmu: ArmSmmuV3, s2Parent: SmmuDomain, core: ViommuCore) {
    this.smmu = smmu;
    this.s2Parent = s2Parent;
    // The vIOMMU shares the parent's VMID (it does not own one).
    this.vmid = s2Parent.vmid;
    this.core = core;
  }
}

/** arm_vsmmu_init: EINVAL when the parent S2 lives on another SMMU. */
export function vsmmuInit(
  smmu: ArmSmmuV3,
  parent: SmmuDomain,
  core: ViommuCore,
): ArmVsmmu | number {
  if (parent.smmu !== smmu) return -EINVAL;
  return new ArmVsmmu(smmu, parent, core);
}

/** struct arm_smmu_nested_domain. */
export class ArmNestedDomain implements NestedDomain {
  readonly kind = 'nested' as const;
  readonly vsmmu: ArmVsmmu;
  readonly ste: readonly [bigint, bigint];
  readonly enableAts: boolean;

  constructor(vsmmu: ArmVsmmu, ste: readonly [bigint, bigint], enableAts: boolean) {
    this.vsmmu = vsmmu;
    this.ste = ste;
    this.enableAts = enableAts;
  }

  get iommu(): number {
    return this.vsmmu.smmu.index;
  }

  get parent(): SmmuDomain {
    return this.vsmmu.s2Parent;
  }

  free(): void {}
}

/** User data of a HWPT_ALLOC (struct iommu_user_data). */
export interface UserData {
  readonly type: number;
  readonly len: number;
  /** Reads `len` bytes at the user pointer: the bytes or null for a fault. */
  read(len: number): Uint8Array | null;
}

/**
 * arm_vsmmu_alloc_domain_nested: flags ≠ 0 → EOPNOTSUPP; iommu_copy_struct_from_user (type ≠
 * ARM_SMMUV3 → EINVAL, len ≠ 16 → EINVAL, fault → EFAULT); arm_smmu_validate_vste (→ EIO).
 * `kcaps` widens the accepted vSTE fields (the experimental kernel_capabilities).
 */
export function allocDomainNested(
  vsmmu: ArmVsmmu,
  flags: number,
  data: UserData,
  kcaps: number,
): ArmNestedDomain | number {
  if (flags) return -EOPNOTSUPP;
  if (data.type !== HWPT_DATA.ARM_SMMUV3) return -EINVAL;
  if (data.len < 16 || data.len > 16) return -EINVAL;
  const bytes = data.read(16);
  if (!bytes) return -EFAULT;
  const w0 = (BigInt(getU32(bytes, 4)) << 32n) | BigInt(getU32(bytes, 0));
  const w1 = (BigInt(getU32(bytes, 12)) << 32n) | BigInt(getU32(bytes, 8));
  const v = validateVste(w0, w1, {
    shcfg: (kcaps & HW_INFO_ARM_SMMUV3_KCAP.VSTE_SHCFG) !== 0,
    mtcfg: (kcaps & HW_INFO_ARM_SMMUV3_KCAP.VSTE_MTCFG) !== 0,
  });
  if (v === 'EIO') return -EIO;
  if (vsmmu.smmu.faults.hit('alloc')) return -ENOMEM;
  return new ArmNestedDomain(vsmmu, v.ste, v.enableAts);
}

/**
 * arm_smmu_attach_dev_nested: EINVAL (other SMMU), EBUSY (SSIDs in use), ENOENT (no vDEVICE for
 * the device — for every vSTE in v6.17, only for S1 in v6.19); installs the physical STE with the
 * hitless writer and records the vmaster (the vSID snapshot used for events).
 */
export function attachDevNested(nested: ArmNestedDomain, m: Master): number {
  const smmu = nested.vsmmu.smmu;
  if (smmu !== m.smmu) return -EINVAL;
  if (m.ssidsInUse > 0) return -EBUSY;
  const cfg = vsteConfig(nested.ste);
  // The VM controls ATS through the vSTE's EATS (it must then send ATC invalidations).
  let disableAts = !nested.enableAts;
  if (smmu.switches.atsForBypassVste && cfg === STE_CFG.BYPASS) disableAts = false;
  const vsid = nested.vsmmu.core.vdevIdOf(m);
  let vmaster: Master['vmaster'] = null;
  if (vsid === undefined) {
    const relaxed =
      smmu.switches.nestedAttachWithoutVdevice && (cfg === STE_CFG.ABORT || cfg === STE_CFG.BYPASS);
    if (!relaxed) return -ENOENT;
  } else {
    if (smmu.faults.hit('alloc')) return -ENOMEM; // struct arm_smmu_vmaster
    vmaster = { vsmmu: nested.vsmmu, vsid };
  }
  if (smmu.faults.hit('alloc')) return -ENOMEM; // struct arm_smmu_master_domain
  const atsEnabled = !disableAts && smmu.atsSupported(m);
  const ste = makeNestedDomainSte(smmu.steCtx(m), nested.ste, nested.parent.s2Cfg(), atsEnabled);
  const att: NestedAttachment = {
    kind: 'nested',
    vste: nested.ste,
    enableAts: nested.enableAts,
    parent: nested.parent,
  };
  smmu.commitNested(m, att, ste, atsEnabled, vmaster);
  return 0;
}

/** The user array of a HWPT_INVALIDATE (struct iommu_user_data_array). */
export interface UserArray {
  readonly type: number;
  readonly entryLen: number;
  readonly entryNum: number;
  /** Reads `len` bytes at byte offset `off` of the array: the bytes or null for a fault. */
  read(off: number, len: number): Uint8Array | null;
}

/**
 * iommu_copy_struct_from_full_user_array for 16-byte commands: one copy of the whole array (the
 * kernel's fast path when entry_len matches), entries shorter than 16 bytes zero-extended, longer
 * ones needing a zero tail (E2BIG); a fault → EFAULT.
 */
function copyFullArray(arr: UserArray): [bigint, bigint][] | number {
  if (arr.type !== INVALIDATE_DATA.VIOMMU_ARM_SMMUV3) return -EINVAL;
  if (arr.entryNum === 0) return -EINVAL;
  const len = arr.entryLen;
  const all = arr.read(0, arr.entryNum * len);
  if (!all) {
    // Entry by entry (copy_struct_from_user per entry) to report the first error in order.
    for (let i = 0; i < arr.entryNum; i++) {
      const b = arr.read(i * len, len);
      if (!b) return -EFAULT;
      for (let k = 16; k < len; k++) if (b[k] !== 0) return -E2BIG;
    }
    return -EFAULT;
  }
  const n = arr.entryNum;
  const out: [bigint, bigint][] = new Array(n);
  if (len >= 16) {
    for (let i = 0; i < n; i++) {
      const off = i * len;
      for (let k = 16; k < len; k++) if (all[off + k] !== 0) return -E2BIG;
      out[i] = [
        joinU64(getU32(all, off), getU32(all, off + 4)),
        joinU64(getU32(all, off + 8), getU32(all, off + 12)),
      ];
    }
    return out;
  }
  const e = new Uint8Array(16);
  const edv = new DataView(e.buffer);
  for (let i = 0; i < n; i++) {
    const off = i * len;
    e.fill(0);
    e.set(all.subarray(off, off + len));
    out[i] = [edv.getBigUint64(0, true), edv.getBigUint64(8, true)];
  }
  return out;
}

const TLBI_NH_ALL_OP = fieldPrep(CMDF.OP, CMD.TLBI_NH_ALL);
const KEEP_BUT_VMID = ~CMDF.VMID & U64;
const KEEP_BUT_SID = ~CMDF.SID & U64;

/**
 * arm_vsmmu_convert_user_cmd (mainline): the converted command or -EIO. `vmid` is the vSMMU's
 * VMID already in the command's VMID field (FIELD_PREP, computed once per ioctl).
 */
function convertUserCmd(
  vsmmu: ArmVsmmu,
  cmd: [bigint, bigint],
  vmid: bigint,
): [bigint, bigint] | number {
  const op = Number(cmd[0] & 0xffn);
  switch (op) {
    case CMD.TLBI_NSNH_ALL:
      return [TLBI_NH_ALL_OP | vmid, 0n];
    case CMD.TLBI_NH_VA:
    case CMD.TLBI_NH_VAA:
    case CMD.TLBI_NH_ALL:
    case CMD.TLBI_NH_ASID:
      return [(cmd[0] & KEEP_BUT_VMID) | vmid, cmd[1]];
    case CMD.ATC_INV:
    case CMD.CFGI_CD:
    case CMD.CFGI_CD_ALL: {
      const vsid = fieldGet(CMDF.SID, cmd[0]);
      const m = vsmmu.core.masterOfVid(vsid);
      const sid = m?.info.sids[0];
      if (sid === undefined) return -EIO;
      return [(cmd[0] & KEEP_BUT_SID) | fieldPrep(CMDF.SID, sid), cmd[1]];
    }
    default:
      return -EIO;
  }
}

/** Per-opcode fields a strict kernel accepts (the newest tree's validation; profile `v7`). */
function strictCheck(vsmmu: ArmVsmmu, cmd: readonly [bigint, bigint]): boolean {
  const smmu = vsmmu.smmu;
  const f = smmu.features;
  const op = Number(cmd[0] & 0xffn);
  const asidMask = fieldPrep(CMDF.ASID, (1n << BigInt(smmu.asidBits)) - 1n);
  const range = f.rangeInv ? CMDF.NUM | CMDF.SCALE : 0n;
  const range1 = f.rangeInv ? CMDF.TG | CMDF.TTL : 0n;
  let m0 = CMDF.OP;
  let m1 = 0n;
  switch (op) {
    case CMD.TLBI_NSNH_ALL:
      break;
    case CMD.TLBI_NH_ALL:
      m0 |= CMDF.VMID;
      break;
    case CMD.TLBI_NH_ASID:
      m0 |= CMDF.VMID | asidMask;
      break;
    case CMD.TLBI_NH_VA:
    case CMD.TLBI_NH_VAA: {
      m0 |= CMDF.VMID | range | (op === CMD.TLBI_NH_VA ? asidMask : 0n);
      m1 |= CMDF.LEAF | CMDF.VA | range1;
      const tg = Number(fieldGet(CMDF.TG, cmd[1]));
      const num = fieldGet(CMDF.NUM, cmd[0]);
      const scale = fieldGet(CMDF.SCALE, cmd[0]);
      const ttl = fieldGet(CMDF.TTL, cmd[1]);
      if (tg === 0 && (num || scale || ttl)) return false;
      if (tg !== 0 && num === 0n && scale === 0n && ttl === 0n) return false;
      break;
    }
    case CMD.ATC_INV:
      if (!f.ats) return false;
      if (fieldGet(CMDF.ATC_SIZE, cmd[1]) > 52n) return false;
      m0 |= CMDF.SID | (smmu.ssidBits ? CMDF.SSV | CMDF.SSID | CMDF.ATC_GLOBAL : 0n);
      m1 |= CMDF.ATC_SIZE | CMDF.ATC_ADDR;
      break;
    case CMD.CFGI_CD:
      m0 |= CMDF.SID | (smmu.ssidBits ? CMDF.SSID : 0n);
      m1 |= CMDF.LEAF;
      break;
    case CMD.CFGI_CD_ALL:
      m0 |= CMDF.SID;
      break;
    default:
      return false;
  }
  return (cmd[0] & ~m0 & U64) === 0n && (cmd[1] & ~m1 & U64) === 0n;
}

/**
 * arm_vsmmu_cache_invalidate: copies the whole array, converts command by command and issues
 * blocks of up to CMDQ_BATCH_ENTRIES-1 commands, each followed by CMD_SYNC. `done` is the
 * kernel's entry_num write-back: commands converted before a failing one (mainline: the unissued
 * tail of the current block is dropped), or converted-1 after a failed issue.
 */
export function cacheInvalidate(vsmmu: ArmVsmmu, arr: UserArray): { rc: number; done: number } {
  const smmu = vsmmu.smmu;
  const strict = smmu.switches.strictInvalidate;
  if (strict && arr.type === INVALIDATE_DATA.VIOMMU_ARM_SMMUV3 && arr.entryNum === 0) {
    return { rc: 0, done: 0 };
  }
  if (smmu.faults.hit('alloc')) return { rc: -ENOMEM, done: 0 }; // kcalloc of the commands
  const cmds = copyFullArray(arr);
  if (typeof cmds === 'number') return { rc: cmds, done: 0 };
  const block = CMDQ_BATCH_ENTRIES - 1;
  const vmid = fieldPrep(CMDF.VMID, vsmmu.vmid);
  if (strict) {
    // Every command of a block is validated before any of it is issued.
    let done = 0;
    for (let start = 0; start < cmds.length; start += block) {
      const part = cmds.slice(start, start + block);
      const converted: [bigint, bigint][] = [];
      for (const c of part) {
        if (!strictCheck(vsmmu, c)) return { rc: -EIO, done };
        const r = convertUserCmd(vsmmu, c, vmid);
        if (typeof r === 'number') return { rc: r, done };
        converted.push(r);
      }
      const rc = smmu.issue(converted, true);
      if (rc) return { rc, done };
      done += part.length;
    }
    return { rc: 0, done };
  }
  let last = 0;
  let cur = 0;
  const out: [bigint, bigint][] = [];
  while (cur !== cmds.length) {
    const r = convertUserCmd(vsmmu, cmds[cur] as [bigint, bigint], vmid);
    if (typeof r === 'number') return { rc: r, done: cur };
    out.push(r);
    cur++;
    if (cur !== cmds.length && cur - last !== block) continue;
    const rc = smmu.issue(last === 0 && cur === out.length ? out : out.slice(last, cur), true);
    if (rc) return { rc, done: cur - 1 };
    last = cur;
  }
  return { rc: 0, done: cur };
}

/**
 * arm_vmaster_report_event: the record with its StreamID replaced by the vSID, reported to the
 * vIOMMU's ARM_SMMUV3 vEVENTQ (32 little-endian bytes).
 */
export function forwardEvent(m: Master, raw: readonly [bigint, bigint, bigint, bigint]): number {
  const vm = m.vmaster;
  if (!vm) return -ENOENT;
  const vsmmu = vm.vsmmu as ArmVsmmu;
  const data = new Uint8Array(32);
  setU64(data, 0, (raw[0] & ~EVT.SID & U64) | fieldPrep(EVT.SID, vm.vsid));
  setU64(data, 8, raw[1]);
  setU64(data, 16, raw[2]);
  setU64(data, 24, raw[3]);
  return vsmmu.core.reportEvent(VEVENTQ_TYPE.ARM_SMMUV3, data);
}
