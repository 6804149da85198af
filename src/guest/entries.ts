// Stream Table Entries and Context Descriptors as Linux's arm-smmu-v3 driver builds and installs
// them (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c, v6.18): arm_smmu_make_abort_ste,
// _make_bypass_ste, _make_cdtable_ste, _make_s2_domain_ste, _make_s1_cd, and the hitless update
// algorithm arm_smmu_write_entry with arm_smmu_get_ste_used / _get_ste_update_safe /
// _get_cd_used (iommufd-smmuv3.md §13.1). The SMMU reads an entry with only 64-bit single-copy
// atomicity (IHI 0070 H.a §3.21.3), so an update is a sequence of qword stores, each followed by a
// configuration invalidation and CMD_SYNC when it changed something, ordered so the SMMU never acts
// on a mix of old and new fields. Field positions come from the STE/CD/L1 tables of src/arch.

import { CD, L1CD } from '../arch/cd.ts';
import { L1STD, STE, STE_CFG, STE_EATS, STE_S1DSS, STE_STRW } from '../arch/ste.ts';
import type { IoPgtableTcr } from '../pgtable/builder.ts';
import { type FieldSlot, fieldSlots, get, maskOfSlots, put } from './encode.ts';

/** Qwords in an STE or a CD. */
export const ENTRY_QWORDS = 8;

const E = fieldSlots(STE, [
  'V',
  'Config',
  'S1Fmt',
  'S1ContextPtr',
  'S1CDMax',
  'S1DSS',
  'S1CIR',
  'S1COR',
  'S1CSH',
  'S1STALLD',
  'EATS',
  'STRW',
  'MEV',
  'SHCFG',
  'S2FWB',
  'S2VMID',
  'S2T0SZ',
  'S2SL0',
  'S2IR0',
  'S2OR0',
  'S2SH0',
  'S2TG',
  'S2PS',
  'S2AA64',
  'S2ENDI',
  'S2PTW',
  'S2S',
  'S2R',
  'S2TTB',
]);

const D = fieldSlots(CD, [
  'T0SZ',
  'TG0',
  'IR0',
  'OR0',
  'SH0',
  'EPD0',
  'EPD1',
  'V',
  'IPS',
  'AA64',
  'HD',
  'HA',
  'S',
  'R',
  'A',
  'ASET',
  'ASID',
  'TTB0',
  'MAIR0',
  'MAIR1',
]);

const L1S = fieldSlots(L1STD, ['Span', 'L2Ptr']);
const L1C = fieldSlots(L1CD, ['V', 'L2Ptr']);

/** STE.S1C{IR,OR} "write-back read-allocate" and the shareability/cache codes Linux uses. */
export const ATTR = {
  /** STRTAB_STE_1_S1C_CACHE_WBRA. */
  S1C_CACHE_WBRA: 1,
  /** ARM_SMMU_SH_ISH. */
  SH_ISH: 3,
  /** STRTAB_STE_1_SHCFG_INCOMING. */
  SHCFG_INCOMING: 1,
} as const;

/** The VTCR sub-fields of STE word 2 (Linux STRTAB_STE_2_VTCR, bits [50:32]). */
const VTCR_SLOTS: readonly FieldSlot[] = [
  E.S2T0SZ,
  E.S2SL0,
  E.S2IR0,
  E.S2OR0,
  E.S2SH0,
  E.S2TG,
  E.S2PS,
];

function zero(): bigint[] {
  return new Array<bigint>(ENTRY_QWORDS).fill(0n);
}

// ------------------------------------------------------------------------------------------------
// STE and CD construction

/** arm_smmu_make_abort_ste: V=1, Config=abort. */
export function makeAbortSte(): bigint[] {
  const t = zero();
  put(t, E.V, 1);
  put(t, E.Config, STE_CFG.ABORT);
  return t;
}

/** arm_smmu_make_bypass_ste: V=1, Config=bypass, SHCFG=incoming when the SMMU has ATTR_TYPES_OVR. */
export function makeBypassSte(attrTypesOvr: boolean): bigint[] {
  const t = zero();
  put(t, E.V, 1);
  put(t, E.Config, STE_CFG.BYPASS);
  if (attrTypesOvr) put(t, E.SHCFG, ATTR.SHCFG_INCOMING);
  return t;
}

/** What an STE needs to know about the SMMU and the master. */
export interface SteContext {
  /** ARM_SMMU_FEAT_ATTR_TYPES_OVR. */
  readonly attrTypesOvr: boolean;
  /** ARM_SMMU_FEAT_STALLS. */
  readonly stalls: boolean;
  /** master->stall_enabled. */
  readonly stallEnabled: boolean;
  /** ARM_SMMU_FEAT_E2H (a guest kernel runs at EL1: false). */
  readonly e2h: boolean;
}

/** A master's CD table as the STE points at it (struct arm_smmu_ctx_desc_cfg). */
export interface CdTableRef {
  readonly pa: number;
  /** STE.S1Fmt: 0 linear, 2 two-level with 64 KiB leaves. */
  readonly s1fmt: number;
  readonly s1cdmax: number;
}

/** arm_smmu_make_cdtable_ste: stage 1 through the master's CD table. */
export function makeCdtableSte(
  cd: CdTableRef,
  ctx: SteContext,
  atsEnabled: boolean,
  s1dss: number,
): bigint[] {
  const t = zero();
  put(t, E.V, 1);
  put(t, E.Config, STE_CFG.S1_TRANS);
  put(t, E.S1Fmt, cd.s1fmt);
  put(t, E.S1ContextPtr, cd.pa);
  put(t, E.S1CDMax, cd.s1cdmax);
  put(t, E.S1DSS, s1dss);
  put(t, E.S1CIR, ATTR.S1C_CACHE_WBRA);
  put(t, E.S1COR, ATTR.S1C_CACHE_WBRA);
  put(t, E.S1CSH, ATTR.SH_ISH);
  if (ctx.stalls && !ctx.stallEnabled) put(t, E.S1STALLD, 1);
  put(t, E.EATS, atsEnabled ? STE_EATS.FULL : STE_EATS.ABORT);
  if (ctx.attrTypesOvr && s1dss === STE_S1DSS.BYPASS) put(t, E.SHCFG, ATTR.SHCFG_INCOMING);
  // StreamWorld NS-EL1 with VMID 0 (reserved for stage-2-bypass EL1 STEs); EL2-E2H with VHE.
  put(t, E.STRW, ctx.e2h ? STE_STRW.EL2 : STE_STRW.NS_EL1);
  if (!ctx.e2h) put(t, E.S2VMID, 0);
  return t;
}

/** Stage-2 translation parameters of a domain (struct arm_smmu_s2_cfg + io-pgtable VTCR). */
export interface S2Params {
  readonly vmid: number;
  readonly vtcr: IoPgtableTcr;
  /** VTTBR: base of the stage-2 start-level table(s). */
  readonly vttbr: number;
  /** IO_PGTABLE_QUIRK_ARM_S2FWB in effect. */
  readonly s2fwb: boolean;
}

/** arm_smmu_make_s2_domain_ste: stage 2 only. */
export function makeS2DomainSte(s2: S2Params, ctx: SteContext, atsEnabled: boolean): bigint[] {
  const t = zero();
  put(t, E.V, 1);
  put(t, E.Config, STE_CFG.S2_TRANS);
  put(t, E.EATS, atsEnabled ? STE_EATS.FULL : STE_EATS.ABORT);
  if (s2.s2fwb) put(t, E.S2FWB, 1);
  if (ctx.attrTypesOvr) put(t, E.SHCFG, ATTR.SHCFG_INCOMING);
  put(t, E.S2VMID, s2.vmid);
  put(t, E.S2T0SZ, s2.vtcr.tsz);
  put(t, E.S2SL0, s2.vtcr.sl);
  put(t, E.S2IR0, s2.vtcr.irgn);
  put(t, E.S2OR0, s2.vtcr.orgn);
  put(t, E.S2SH0, s2.vtcr.sh);
  put(t, E.S2TG, s2.vtcr.tg);
  put(t, E.S2PS, s2.vtcr.ps);
  put(t, E.S2AA64, 1);
  put(t, E.S2PTW, 1);
  if (ctx.stallEnabled) put(t, E.S2S, 1);
  put(t, E.S2R, 1);
  put(t, E.S2TTB, s2.vttbr);
  return t;
}

/** Stage-1 translation parameters of a domain (struct arm_smmu_ctx_desc + io-pgtable TCR). */
export interface S1Params {
  readonly asid: number;
  readonly tcr: IoPgtableTcr;
  readonly ttbr: number;
  readonly mair: bigint;
  /** IO_PGTABLE_QUIRK_ARM_HD: hardware Access flag and dirty state. */
  readonly hd: boolean;
}

/** arm_smmu_make_s1_cd: a valid stage-1 CD for TTB0, TTB1 walks disabled. */
export function makeS1Cd(s1: S1Params, stallEnabled: boolean): bigint[] {
  const t = zero();
  put(t, D.T0SZ, s1.tcr.tsz);
  put(t, D.TG0, s1.tcr.tg);
  put(t, D.IR0, s1.tcr.irgn);
  put(t, D.OR0, s1.tcr.orgn);
  put(t, D.SH0, s1.tcr.sh);
  put(t, D.EPD1, 1);
  put(t, D.V, 1);
  put(t, D.IPS, s1.tcr.ps);
  put(t, D.AA64, 1);
  if (stallEnabled) put(t, D.S, 1);
  put(t, D.R, 1);
  put(t, D.A, 1);
  put(t, D.ASET, 1);
  put(t, D.ASID, s1.asid);
  if (s1.hd) {
    put(t, D.HA, 1);
    put(t, D.HD, 1);
  }
  put(t, D.TTB0, s1.ttbr);
  // MAIR occupies the whole of word 3 (MAIR0 = attributes 0-3, MAIR1 = 4-7).
  put(t, D.MAIR0, s1.mair & 0xffff_ffffn);
  put(t, D.MAIR1, s1.mair >> 32n);
  return t;
}

/** arm_smmu_write_strtab_l1_desc: Span = STRTAB_SPLIT + 1, L2Ptr. */
export function makeL1Std(l2pa: number, split: number): bigint {
  const t = [0n];
  put(t, L1S.Span, split + 1);
  put(t, L1S.L2Ptr, l2pa);
  return t[0] as bigint;
}

/** arm_smmu_write_cd_l1_desc: L2Ptr | V. */
export function makeL1Cd(l2pa: number): bigint {
  const t = [0n];
  put(t, L1C.L2Ptr, l2pa);
  put(t, L1C.V, 1);
  return t[0] as bigint;
}

/** The STE.Config of an entry. */
export function steConfig(ent: readonly bigint[]): number {
  return Number(get(ent, E.Config));
}

/** The STE.EATS of an entry. */
export function steEats(ent: readonly bigint[]): number {
  return Number(get(ent, E.EATS));
}

// ------------------------------------------------------------------------------------------------
// Used bits and the hitless writer

const STE_S1_W0 = maskOfSlots(E.S1Fmt, E.S1ContextPtr, E.S1CDMax);
const STE_S1_W1 = maskOfSlots(
  E.S1DSS,
  E.S1CIR,
  E.S1COR,
  E.S1CSH,
  E.S1STALLD,
  E.STRW,
  E.EATS,
  E.MEV,
);
const STE_S2_W1 = maskOfSlots(E.S2FWB, E.EATS, E.SHCFG, E.MEV);
const STE_S2_W2 = maskOfSlots(E.S2VMID, ...VTCR_SLOTS, E.S2AA64, E.S2ENDI, E.S2PTW, E.S2S, E.S2R);
const ALL_ONES = (1n << 64n) - 1n;

/** arm_smmu_get_ste_used: the STE bits the SMMU reads in the entry's configuration. */
export function steUsed(ent: readonly bigint[]): bigint[] {
  const used = zero();
  used[0] = E.V.mask;
  if (get(ent, E.V) === 0n) return used;
  const cfg = steConfig(ent);
  used[0] |= E.Config.mask;
  if (cfg & 1) {
    // Stage 1 translates.
    used[0] |= STE_S1_W0;
    used[1] = (used[1] as bigint) | STE_S1_W1;
    used[2] = (used[2] as bigint) | E.S2VMID.mask;
    // IHI 0070 §13.5: SHCFG applies when stage 1 is bypassed through S1DSS.
    if (Number(get(ent, E.S1DSS)) === STE_S1DSS.BYPASS)
      used[1] = (used[1] as bigint) | E.SHCFG.mask;
  }
  if (cfg & 2) {
    // Stage 2 translates.
    used[1] = (used[1] as bigint) | STE_S2_W1;
    used[2] = (used[2] as bigint) | STE_S2_W2;
    used[3] = (used[3] as bigint) | E.S2TTB.mask;
  }
  if (cfg === STE_CFG.BYPASS) used[1] = (used[1] as bigint) | E.SHCFG.mask;
  return used;
}

/**
 * arm_smmu_get_ste_update_safe: bits that may change in place — MEV always (coalesced events are
 * always possible), EATS between 0 and TRANS unless either entry uses S1CHK or S2S.
 */
export function steUpdateSafe(cur: readonly bigint[], tgt: readonly bigint[]): bigint[] {
  const safe = zero();
  const s1chk = BigInt(STE_EATS.SPLIT) << E.EATS.shift;
  const trans = BigInt(STE_EATS.FULL) << E.EATS.shift;
  const c1 = (cur[1] ?? 0n) | (tgt[1] ?? 0n);
  const c2 = (cur[2] ?? 0n) | (tgt[2] ?? 0n);
  if (!(c1 & s1chk) && !(c2 & E.S2S.mask)) safe[1] = (safe[1] as bigint) | trans;
  safe[1] = (safe[1] as bigint) | E.MEV.mask;
  return safe;
}

/** arm_smmu_get_cd_used: V alone while invalid, else every bit except the TTB0 walk fields under EPD0. */
export function cdUsed(ent: readonly bigint[]): bigint[] {
  const used = zero();
  used[0] = D.V.mask;
  if (get(ent, D.V) === 0n) return used;
  for (let i = 0; i < ENTRY_QWORDS; i++) used[i] = ALL_ONES;
  if (get(ent, D.EPD0) !== 0n) {
    used[0] = (used[0] as bigint) & ~maskOfSlots(D.T0SZ, D.TG0, D.IR0, D.OR0, D.SH0) & ALL_ONES;
    used[1] = (used[1] as bigint) & ~D.TTB0.mask & ALL_ONES;
  }
  return used;
}

/** How an entry is stored and synchronised (struct arm_smmu_entry_writer + ops). */
export interface EntryWriterOps {
  used(ent: readonly bigint[]): bigint[];
  safe?(cur: readonly bigint[], tgt: readonly bigint[]): bigint[];
  /** Reads qword i of the live entry. */
  read(i: number): bigint;
  /** Stores qword i of the live entry (one 64-bit single-copy-atomic store). */
  write(i: number, v: bigint): void;
  /** CFGI_STE/CFGI_CD for this entry + CMD_SYNC. */
  sync(): void;
}

/** The update the writer chose (for tests and traces). */
export type EntryUpdate = 'none' | 'hitless' | 'breaking' | 'in-place';

function entrySet(
  w: EntryWriterOps,
  entry: bigint[],
  target: readonly bigint[],
  start: number,
  len: number,
): void {
  let changed = false;
  for (let i = start; i < start + len; i++) {
    const t = target[i] as bigint;
    if (entry[i] !== t) {
      w.write(i, t);
      entry[i] = t;
      changed = true;
    }
  }
  if (changed) w.sync();
}

/**
 * arm_smmu_write_entry: moves the live entry to `target` hitlessly when only one qword's used
 * bits change, else with a breaking V=0 sequence. Returns which kind of update it made.
 */
export function writeEntry(w: EntryWriterOps, target: readonly bigint[]): EntryUpdate {
  const entry: bigint[] = [];
  for (let i = 0; i < ENTRY_QWORDS; i++) entry.push(w.read(i));
  const targetUsed = w.used(target);
  const curUsed = w.used(entry);
  const safe = w.safe ? w.safe(entry, target) : zero();
  const unusedUpdate = zero();
  let diff = 0;
  let diffCount = 0;
  let critical = -1;
  for (let i = 0; i < ENTRY_QWORDS; i++) {
    // Safe bits count only when both entries use them.
    const s = (safe[i] as bigint) & (targetUsed[i] as bigint) & (curUsed[i] as bigint);
    const cu = (curUsed[i] as bigint) & ~s & ALL_ONES;
    unusedUpdate[i] = ((entry[i] as bigint) & cu) | ((target[i] as bigint) & ~cu & ALL_ONES);
    if (((unusedUpdate[i] as bigint) & (targetUsed[i] as bigint)) !== target[i]) {
      diff |= 1 << i;
      diffCount++;
      if (critical < 0) critical = i;
    }
  }
  if (diffCount === 1) {
    // Hitless: write what the current entry ignores, then the critical qword, then clean up.
    unusedUpdate[critical] = entry[critical] as bigint;
    entrySet(w, entry, unusedUpdate, 0, ENTRY_QWORDS);
    entrySet(w, entry, target, critical, 1);
    entrySet(w, entry, target, 0, ENTRY_QWORDS);
    return 'hitless';
  }
  if (diff) {
    // Breaking: V=0, the other qwords, then qword 0 with V=1.
    unusedUpdate[0] = 0n;
    entrySet(w, entry, unusedUpdate, 0, 1);
    entrySet(w, entry, target, 1, ENTRY_QWORDS - 1);
    entrySet(w, entry, target, 0, 1);
    return 'breaking';
  }
  const before = entry.join(',');
  entrySet(w, entry, target, 0, ENTRY_QWORDS);
  return before === entry.join(',') ? 'none' : 'in-place';
}
