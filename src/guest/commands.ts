// Command construction as Linux's arm-smmu-v3 driver does it (drivers/iommu/arm/arm-smmu-v3/
// arm-smmu-v3.c arm_smmu_cmdq_build_cmd, v6.18): a small description of the command is turned into
// the two 64-bit words of a queue entry (Arm IHI 0070 H.a §4, field positions from the command
// tables of src/arch/cmd.ts). Only the fields Linux fills are written; everything else is zero.

import { CFGI_RANGE_ALL, CMD_OP, COMMANDS } from '../arch/cmd.ts';
import { type FieldSlot, fieldSlot, put } from './encode.ts';

/** Shareability and memory-type values the driver uses for CMD_SYNC MSIs (Linux ARM_SMMU_SH_ISH, MEMATTR_OIWB). */
export const SYNC_MSI = { MSH_ISH: 3, MSIATTR_OIWB: 0xf } as const;

/** CMD_SYNC completion signal encodings (CMDQ_SYNC_0_CS_*). */
export const SYNC_CS = { NONE: 0, IRQ: 1, SEV: 2 } as const;

/** CMD_RESUME response encodings as Linux names them (CMDQ_RESUME_0_RESP_*: Ac/Ab bits). */
export const RESUME_RESP = { TERM: 0, RETRY: 1, ABORT: 2 } as const;

/** PRI_RESP response codes (Linux enum pri_resp). */
export const PRI_RESP = { DENY: 0, FAIL: 1, SUCC: 2 } as const;

/** A command before encoding (struct arm_smmu_cmdq_ent). */
export type CmdEnt =
  | { readonly op: 'CFGI_STE'; readonly sid: number; readonly leaf: boolean }
  | { readonly op: 'CFGI_ALL' }
  | { readonly op: 'CFGI_CD'; readonly sid: number; readonly ssid: number; readonly leaf: boolean }
  | { readonly op: 'CFGI_CD_ALL'; readonly sid: number }
  | { readonly op: 'PREFETCH_CONFIG'; readonly sid: number }
  | { readonly op: 'TLBI_NH_ALL' | 'TLBI_S12_VMALL'; readonly vmid: number }
  | { readonly op: 'TLBI_NH_ASID'; readonly vmid: number; readonly asid: number }
  | { readonly op: 'TLBI_NSNH_ALL' | 'TLBI_EL2_ALL' }
  | ({ readonly op: 'TLBI_NH_VA' | 'TLBI_S2_IPA' } & TlbiRange)
  | {
      readonly op: 'ATC_INV';
      readonly sid: number;
      readonly ssid: number;
      readonly ssv: boolean;
      readonly global: boolean;
      readonly size: number;
      readonly addr: number;
    }
  | {
      readonly op: 'PRI_RESP';
      readonly sid: number;
      readonly ssid: number;
      readonly ssv: boolean;
      readonly grpid: number;
      readonly resp: number;
    }
  | { readonly op: 'RESUME'; readonly sid: number; readonly stag: number; readonly resp: number }
  | { readonly op: 'CMD_SYNC'; readonly msiAddr?: number | undefined };

/** The operands of a (range) TLB invalidation by address (struct arm_smmu_cmdq_ent.tlbi). */
export interface TlbiRange {
  readonly vmid: number;
  readonly asid: number;
  readonly num: number;
  readonly scale: number;
  readonly leaf: boolean;
  readonly ttl: number;
  readonly tg: number;
  readonly addr: number;
}

const C = COMMANDS;
const S = {
  op: fieldSlot(C.CFGI_STE, 'Opcode'),
  cfgiSid: fieldSlot(C.CFGI_STE, 'StreamID'),
  cfgiLeaf: fieldSlot(C.CFGI_STE, 'Leaf'),
  cfgiRange: fieldSlot(C.CFGI_STE_RANGE, 'Range'),
  cdSsid: fieldSlot(C.CFGI_CD, 'SubstreamID'),
  prefetchSid: fieldSlot(C.PREFETCH_CONFIG, 'StreamID'),
  vmid: fieldSlot(C.TLBI_NH_VA, 'VMID'),
  asid: fieldSlot(C.TLBI_NH_VA, 'ASID'),
  num: fieldSlot(C.TLBI_NH_VA, 'NUM'),
  scale: fieldSlot(C.TLBI_NH_VA, 'SCALE'),
  tlbiLeaf: fieldSlot(C.TLBI_NH_VA, 'Leaf'),
  ttl: fieldSlot(C.TLBI_NH_VA, 'TTL'),
  tg: fieldSlot(C.TLBI_NH_VA, 'TG'),
  va: fieldSlot(C.TLBI_NH_VA, 'Addr'),
  ipa: fieldSlot(C.TLBI_S2_IPA, 'IPA'),
  atcSsv: fieldSlot(C.ATC_INV, 'SSV'),
  atcGlobal: fieldSlot(C.ATC_INV, 'Global'),
  atcSsid: fieldSlot(C.ATC_INV, 'SubstreamID'),
  atcSid: fieldSlot(C.ATC_INV, 'StreamID'),
  atcSize: fieldSlot(C.ATC_INV, 'Size'),
  atcAddr: fieldSlot(C.ATC_INV, 'Addr'),
  priSsv: fieldSlot(C.PRI_RESP, 'SSV'),
  priSsid: fieldSlot(C.PRI_RESP, 'SubstreamID'),
  priSid: fieldSlot(C.PRI_RESP, 'StreamID'),
  priGrp: fieldSlot(C.PRI_RESP, 'PRGIndex'),
  priResp: fieldSlot(C.PRI_RESP, 'Resp'),
  resSid: fieldSlot(C.RESUME, 'StreamID'),
  resAc: fieldSlot(C.RESUME, 'Ac'),
  resAb: fieldSlot(C.RESUME, 'Ab'),
  resStag: fieldSlot(C.RESUME, 'STAG'),
  syncCs: fieldSlot(C.CMD_SYNC, 'CS'),
  syncMsh: fieldSlot(C.CMD_SYNC, 'MSH'),
  syncAttr: fieldSlot(C.CMD_SYNC, 'MSIAttr'),
  syncAddr: fieldSlot(C.CMD_SYNC, 'MSIAddr'),
} as const satisfies Record<string, FieldSlot>;

const OPCODE: Readonly<Record<CmdEnt['op'], number>> = {
  CFGI_STE: CMD_OP.CFGI_STE,
  CFGI_ALL: CMD_OP.CFGI_STE_RANGE,
  CFGI_CD: CMD_OP.CFGI_CD,
  CFGI_CD_ALL: CMD_OP.CFGI_CD_ALL,
  PREFETCH_CONFIG: CMD_OP.PREFETCH_CONFIG,
  TLBI_NH_ALL: CMD_OP.TLBI_NH_ALL,
  TLBI_NH_ASID: CMD_OP.TLBI_NH_ASID,
  TLBI_NH_VA: CMD_OP.TLBI_NH_VA,
  TLBI_S2_IPA: CMD_OP.TLBI_S2_IPA,
  TLBI_S12_VMALL: CMD_OP.TLBI_S12_VMALL,
  TLBI_NSNH_ALL: CMD_OP.TLBI_NSNH_ALL,
  TLBI_EL2_ALL: CMD_OP.TLBI_EL2_ALL,
  ATC_INV: CMD_OP.ATC_INV,
  PRI_RESP: CMD_OP.PRI_RESP,
  RESUME: CMD_OP.RESUME,
  CMD_SYNC: CMD_OP.CMD_SYNC,
};

/** Encodes a command into its two words (arm_smmu_cmdq_build_cmd). */
export function buildCmd(ent: CmdEnt): [bigint, bigint] {
  const w: bigint[] = [0n, 0n];
  put(w, S.op, OPCODE[ent.op]);
  switch (ent.op) {
    case 'TLBI_NSNH_ALL':
    case 'TLBI_EL2_ALL':
      break;
    case 'PREFETCH_CONFIG':
      put(w, S.prefetchSid, ent.sid);
      break;
    case 'CFGI_CD':
      put(w, S.cdSsid, ent.ssid);
      put(w, S.cfgiSid, ent.sid);
      put(w, S.cfgiLeaf, ent.leaf ? 1 : 0);
      break;
    case 'CFGI_STE':
      put(w, S.cfgiSid, ent.sid);
      put(w, S.cfgiLeaf, ent.leaf ? 1 : 0);
      break;
    case 'CFGI_CD_ALL':
      put(w, S.cfgiSid, ent.sid);
      break;
    case 'CFGI_ALL':
      // Cover the entire StreamID range.
      put(w, S.cfgiRange, CFGI_RANGE_ALL);
      break;
    case 'TLBI_NH_VA':
    case 'TLBI_S2_IPA':
      put(w, S.num, ent.num);
      put(w, S.scale, ent.scale);
      put(w, S.vmid, ent.vmid);
      if (ent.op === 'TLBI_NH_VA') put(w, S.asid, ent.asid);
      put(w, S.tlbiLeaf, ent.leaf ? 1 : 0);
      put(w, S.ttl, ent.ttl);
      put(w, S.tg, ent.tg);
      put(w, ent.op === 'TLBI_NH_VA' ? S.va : S.ipa, ent.addr);
      break;
    case 'TLBI_NH_ASID':
      put(w, S.asid, ent.asid);
      put(w, S.vmid, ent.vmid);
      break;
    case 'TLBI_NH_ALL':
    case 'TLBI_S12_VMALL':
      put(w, S.vmid, ent.vmid);
      break;
    case 'ATC_INV':
      put(w, S.atcSsv, ent.ssv ? 1 : 0);
      put(w, S.atcGlobal, ent.global ? 1 : 0);
      put(w, S.atcSsid, ent.ssid);
      put(w, S.atcSid, ent.sid);
      put(w, S.atcSize, ent.size);
      put(w, S.atcAddr, ent.addr);
      break;
    case 'PRI_RESP':
      put(w, S.priSsv, ent.ssv ? 1 : 0);
      put(w, S.priSsid, ent.ssid);
      put(w, S.priSid, ent.sid);
      put(w, S.priGrp, ent.grpid);
      put(w, S.priResp, ent.resp);
      break;
    case 'RESUME':
      put(w, S.resSid, ent.sid);
      // Linux's 2-bit RESP field spans Ac (bit 12) and Ab (bit 13).
      put(w, S.resAc, ent.resp & 1);
      put(w, S.resAb, ent.resp >= 2 ? 1 : 0);
      put(w, S.resStag, ent.stag);
      break;
    case 'CMD_SYNC':
      if (ent.msiAddr !== undefined) {
        put(w, S.syncCs, SYNC_CS.IRQ);
        put(w, S.syncAddr, ent.msiAddr);
      } else {
        put(w, S.syncCs, SYNC_CS.SEV);
      }
      put(w, S.syncMsh, SYNC_MSI.MSH_ISH);
      put(w, S.syncAttr, SYNC_MSI.MSIATTR_OIWB);
      break;
  }
  return [w[0] as bigint, w[1] as bigint];
}
