// How the arm-smmu-v3 driver builds stream table entries and context descriptors
// (arm_smmu_make_abort_ste, arm_smmu_make_bypass_ste, arm_smmu_make_cdtable_ste,
// arm_smmu_make_s2_domain_ste, arm_smmu_make_s1_cd, arm_smmu_make_nested_domain_ste in
// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c and arm-smmu-v3-iommufd.c), and the vSTE validation of
// the nesting interface (arm_smmu_validate_vste). Pure functions over bigint words; field positions
// per IHI 0070 §5.2/§5.4 through ./defs.ts.

import {
  CACHE,
  CD,
  EATS,
  fieldGet,
  fieldPrep,
  S1DSS,
  SH,
  STE,
  STE_0_NESTING_ALLOWED,
  STE_1_NESTING_ALLOWED,
  STE_CFG,
  STRW,
  VTCR,
} from './defs.ts';

/** Driver/master facts the STE builders depend on. */
export interface SteContext {
  /** ARM_SMMU_FEAT_ATTR_TYPES_OVR (IDR1.ATTR_TYPES_OVR). */
  readonly attrTypesOvr: boolean;
  /** ARM_SMMU_FEAT_STALLS (IDR0.STALL_MODEL allows stalls). */
  readonly stalls: boolean;
  /** ARM_SMMU_FEAT_E2H. */
  readonly e2h: boolean;
  /** The master has stalls enabled (firmware dma-can-stall). */
  readonly stallEnabled: boolean;
}

/** A stage-2 io-pgtable configuration as the STE needs it (io_pgtable_cfg.arm_lpae_s2_cfg). */
export interface S2Cfg {
  readonly vmid: number;
  readonly vttbr: bigint;
  readonly vtcr: {
    readonly tsz: number;
    readonly sl: number;
    readonly irgn: number;
    readonly orgn: number;
    readonly sh: number;
    readonly tg: number;
    readonly ps: number;
  };
  /** IO_PGTABLE_QUIRK_ARM_S2FWB. */
  readonly s2fwb: boolean;
}

/** A CD table as the STE points at it. */
export interface CdTableCfg {
  readonly dma: bigint;
  readonly s1fmt: number;
  readonly s1cdmax: number;
}

function zero(): bigint[] {
  return new Array<bigint>(8).fill(0n);
}

/** arm_smmu_make_abort_ste. */
export function makeAbortSte(): bigint[] {
  const t = zero();
  t[0] = STE.V | fieldPrep(STE.CFG, STE_CFG.ABORT);
  return t;
}

/** arm_smmu_make_bypass_ste. */
export function makeBypassSte(ctx: SteContext): bigint[] {
  const t = zero();
  t[0] = STE.V | fieldPrep(STE.CFG, STE_CFG.BYPASS);
  if (ctx.attrTypesOvr) t[1] = fieldPrep(STE.SHCFG, 1);
  return t;
}

/** arm_smmu_make_cdtable_ste. */
export function makeCdtableSte(
  ctx: SteContext,
  cd: CdTableCfg,
  atsEnabled: boolean,
  s1dss: number,
): bigint[] {
  const t = zero();
  t[0] =
    STE.V |
    fieldPrep(STE.CFG, STE_CFG.S1_TRANS) |
    fieldPrep(STE.S1FMT, cd.s1fmt) |
    (cd.dma & STE.S1CTXPTR) |
    fieldPrep(STE.S1CDMAX, cd.s1cdmax);
  let w1 =
    fieldPrep(STE.S1DSS, s1dss) |
    fieldPrep(STE.S1CIR, CACHE.WBWA) |
    fieldPrep(STE.S1COR, CACHE.WBWA) |
    fieldPrep(STE.S1CSH, SH.ISH) |
    (ctx.stalls && !ctx.stallEnabled ? STE.S1STALLD : 0n) |
    fieldPrep(STE.EATS, atsEnabled ? EATS.TRANS : EATS.ABT);
  if (ctx.attrTypesOvr && s1dss === S1DSS.BYPASS) w1 |= fieldPrep(STE.SHCFG, 1);
  if (ctx.e2h) w1 |= fieldPrep(STE.STRW, STRW.EL2);
  else {
    w1 |= fieldPrep(STE.STRW, STRW.NSEL1);
    // VMID 0 is reserved for stage-1 / bypass EL1 STEs.
    t[2] = fieldPrep(STE.S2VMID, 0);
  }
  t[1] = w1;
  return t;
}

function vtcrPrep(name: keyof typeof VTCR, v: number): bigint {
  const [hi, lo] = VTCR[name];
  return (BigInt(v) & ((1n << BigInt(hi - lo + 1)) - 1n)) << BigInt(lo);
}

/** arm_smmu_make_s2_domain_ste. */
export function makeS2DomainSte(ctx: SteContext, s2: S2Cfg, atsEnabled: boolean): bigint[] {
  const t = zero();
  t[0] = STE.V | fieldPrep(STE.CFG, STE_CFG.S2_TRANS);
  let w1 = fieldPrep(STE.EATS, atsEnabled ? EATS.TRANS : EATS.ABT);
  if (s2.s2fwb) w1 |= STE.S2FWB;
  if (ctx.attrTypesOvr) w1 |= fieldPrep(STE.SHCFG, 1);
  t[1] = w1;
  const v = s2.vtcr;
  const vtcrVal =
    vtcrPrep('T0SZ', v.tsz) |
    vtcrPrep('SL0', v.sl) |
    vtcrPrep('IR0', v.irgn) |
    vtcrPrep('OR0', v.orgn) |
    vtcrPrep('SH0', v.sh) |
    vtcrPrep('TG', v.tg) |
    vtcrPrep('PS', v.ps);
  t[2] =
    fieldPrep(STE.S2VMID, s2.vmid) |
    fieldPrep(STE.VTCR, vtcrVal) |
    STE.S2AA64 |
    STE.S2PTW |
    (ctx.stallEnabled ? STE.S2S : 0n) |
    STE.S2R;
  t[3] = s2.vttbr & STE.S2TTB;
  return t;
}

/** A validated vSTE (arm_smmu_nested_domain's ste[] and enable_ats). */
export interface ValidVste {
  readonly ste: readonly [bigint, bigint];
  readonly enableAts: boolean;
}

/** Extra vSTE word-1 bits a kernel with `kernel_capabilities` accepts (formats.md §7). */
export interface VsteWidening {
  /** IOMMU_HW_INFO_ARM_SMMUV3_VSTE_SHCFG. */
  readonly shcfg: boolean;
  /** IOMMU_HW_INFO_ARM_SMMUV3_VSTE_MTCFG (MTCFG, MemAttr, ALLOCCFG). */
  readonly mtcfg: boolean;
}

/**
 * arm_smmu_validate_vste: V=0 → all-zero (abort) and accepted; bits outside the nesting masks,
 * Config ∉ {abort, bypass, S1} or EATS ∉ {0, 1} → -EIO (returned as 'EIO'). EATS is cleared from
 * the stored word 1; ATS is enabled only for an S1 vSTE with EATS=TRANS.
 */
export function validateVste(
  w0: bigint,
  w1: bigint,
  widen: VsteWidening = { shcfg: false, mtcfg: false },
): ValidVste | 'EIO' {
  if (!(w0 & STE.V)) return { ste: [0n, 0n], enableAts: false };
  let allowed1 = STE_1_NESTING_ALLOWED;
  if (widen.shcfg) allowed1 |= STE.SHCFG;
  if (widen.mtcfg) allowed1 |= STE.MTCFG | STE.MEMATTR | STE.ALLOCCFG;
  if (w0 & ~STE_0_NESTING_ALLOWED & ((1n << 64n) - 1n)) return 'EIO';
  if (w1 & ~allowed1 & ((1n << 64n) - 1n)) return 'EIO';
  const cfg = Number(fieldGet(STE.CFG, w0));
  if (cfg !== STE_CFG.ABORT && cfg !== STE_CFG.BYPASS && cfg !== STE_CFG.S1_TRANS) return 'EIO';
  const eats = Number(fieldGet(STE.EATS, w1));
  const stored1 = w1 & ~STE.EATS & ((1n << 64n) - 1n);
  if (eats !== EATS.ABT && eats !== EATS.TRANS) return 'EIO';
  return { ste: [w0, stored1], enableAts: cfg === STE_CFG.S1_TRANS && eats === EATS.TRANS };
}

/** The effective configuration of a stored vSTE (V=0 reads as abort). */
export function vsteConfig(ste: readonly [bigint, bigint]): number {
  if (!(ste[0] & STE.V)) return STE_CFG.ABORT;
  return Number(fieldGet(STE.CFG, ste[0]));
}

/**
 * arm_smmu_make_nested_domain_ste: S1 → NESTED(7) merging the vSTE over the parent's S2 STE, with
 * MEV; bypass → the parent's S2 STE; abort / V=0 → abort.
 */
export function makeNestedDomainSte(
  ctx: SteContext,
  vste: readonly [bigint, bigint],
  parent: S2Cfg,
  atsEnabled: boolean,
): bigint[] {
  const cfg = vsteConfig(vste);
  if (cfg === STE_CFG.S1_TRANS) {
    const t = makeS2DomainSte(ctx, parent, atsEnabled);
    t[0] = STE.V | fieldPrep(STE.CFG, STE_CFG.NESTED) | (vste[0] & ~STE.CFG & ((1n << 64n) - 1n));
    t[1] = (t[1] as bigint) | vste[1] | STE.MEV;
    return t;
  }
  if (cfg === STE_CFG.BYPASS) return makeS2DomainSte(ctx, parent, atsEnabled);
  return makeAbortSte();
}

/** A stage-1 table configuration as a CD needs it (io_pgtable_cfg.arm_lpae_s1_cfg). */
export interface S1Cfg {
  readonly asid: number;
  readonly ttbr: bigint;
  readonly tcr: {
    readonly tsz: number;
    readonly tg: number;
    readonly irgn: number;
    readonly orgn: number;
    readonly sh: number;
    readonly ips: number;
  };
  readonly mair: bigint;
  /** IO_PGTABLE_QUIRK_ARM_HD: hardware dirty-state update (dirty tracking). */
  readonly hd?: boolean;
}

/** arm_smmu_make_s1_cd (`stallEnabled`: the master has stalls enabled → CD.S). */
export function makeS1Cd(s1: S1Cfg, stallEnabled = false): bigint[] {
  const t = zero();
  const c = s1.tcr;
  t[0] =
    fieldPrep(CD.T0SZ, c.tsz) |
    fieldPrep(CD.TG0, c.tg) |
    fieldPrep(CD.IRGN0, c.irgn) |
    fieldPrep(CD.ORGN0, c.orgn) |
    fieldPrep(CD.SH0, c.sh) |
    fieldPrep(CD.IPS, c.ips) |
    CD.V |
    CD.EPD1 |
    CD.AA64 |
    (stallEnabled ? CD.S : 0n) |
    CD.R |
    CD.A |
    CD.ASET |
    fieldPrep(CD.ASID, s1.asid) |
    // IO_PGTABLE_QUIRK_ARM_HD: dirty-state update needs both HA and HD.
    (s1.hd ? CD.HA | CD.HD : 0n);
  t[1] = s1.ttbr & CD.TTB0;
  t[3] = s1.mair & ((1n << 64n) - 1n);
  return t;
}
