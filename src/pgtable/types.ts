// Public types of the translation-table layer (pgtable): the walk parameters decoded from a CD
// (stage 1) or an STE (stage 2), the access being translated, and the walk outcome — either a
// successful translation or a fault *value* carrying what an SMMU event record needs
// (IHI 0070 §7.3.12–§7.3.16: F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION, §7.3.11
// F_WALK_EABT; S2/CLASS/IPA/TTRnW semantics of §7.3). Descriptor formats: Arm DDI 0487 D8
// (VMSAv8-64 translation tables). These types are a contract with the SMMU translation side:
// keep them stable.

/** Translation granule size in bytes. */
export type Granule = 4096 | 16384 | 65536;

/** Translation stage. */
export type Stage = 1 | 2;

/**
 * Everything one stage's walk needs, decoded once from the CD (stage 1) or STE (stage 2) and
 * safe to cache with the configuration. All addresses are numbers below 2^53.
 */
export interface StageParams {
  /** Translation granule (CD.TG0 / STE.S2TG decoded). */
  readonly granule: Granule;
  /**
   * Base of the start-level table (CD.TTB0 / STE.S2TTB). For a nested stage 1 this is an IPA.
   * The caller has already checked it against the output size (C_BAD_CD / C_BAD_STE, IHI 0070
   * §3.4.3); low bits below the start table's size are ignored.
   */
  readonly ttb: number;
  /** Input address size in bits: 64 − TxSZ (CD.T0SZ / STE.S2T0SZ). */
  readonly inputBits: number;
  /**
   * Level the walk starts at (−1..3): `s1StartLevel()` for stage 1, `s2StartLevel()` for
   * stage 2 (which also validates S2SL0). Index bits beyond one table at the start level are
   * concatenated tables (stage 2) — the walker derives the start table size from inputBits.
   */
  readonly startLevel: number;
  /**
   * Effective output address size in bits: min(CD.IPS or STE.S2PS, SMMU_IDR5.OAS). The walker
   * further caps it at 48 for 4K/16K granules when `ds` is false (DDI 0487 D8.3, 52-bit OA needs
   * DS=1 there).
   */
  readonly outputBits: number;
  /** TCR.DS / FEAT_LPA2 descriptor format for 4K and 16K granules (ignored for 64K). */
  readonly ds: boolean;
  /**
   * The SMMU implements 52-bit physical addresses (FEAT_LPA, IDR5.OAS = 52): with the 64K
   * granule OA[51:48] sit in descriptor bits [15:12] and level-1 blocks (4 TiB) are valid.
   */
  readonly lpa: boolean;
  /** Hardware Access flag update (CD.HA / STE.S2HA). */
  readonly ha: boolean;
  /** Hardware dirty-state update via DBM (CD.HD / STE.S2HD); effective only together with `ha`. */
  readonly hd: boolean;
  /** Access flag fault disable (CD.AFFD / STE.S2AFFD): AF = 0 behaves as AF = 1 when `ha` is 0. */
  readonly affd: boolean;
  /** Stage 1: hierarchical attributes disabled (CD.HAD0) — APTable/XNTable/PXNTable ignored. */
  readonly had?: boolean;
  /** Stage 1: write implies execute-never (CD.WXN). */
  readonly wxn?: boolean;
  /** Stage 1: privileged access never to EL0-readable data (CD.PAN). */
  readonly pan?: boolean;
  /** Stage 2: forced write-back MemAttr encoding (STE.S2FWB). */
  readonly fwb?: boolean;
  /** Stage 2: FEAT_XNX, descriptor XN is two bits [54:53] (SMMU_IDR3.XNX); else bit 54 only. */
  readonly xnx?: boolean;
  /** Stage 2: protected table walk (STE.S2PTW) — stage-1 walks into stage-2 Device memory fault. */
  readonly ptw?: boolean;
  /**
   * IMPDEF modelling choice: an instruction fetch also needs read permission (default true).
   * A PE needs only execute permission; an SMMU treats an instruction fetch as a read.
   */
  readonly execNeedsRead?: boolean;
}

/** Both stages of a translation; at least one is present. Nested = both. */
export interface WalkConfig {
  readonly s1?: StageParams | undefined;
  readonly s2?: StageParams | undefined;
}

/** The access being translated (post STE/CD attribute overrides). */
export interface WalkRequest {
  /** Input address (VA for stage 1, IPA for a stage-2-only walk); an integer below 2^53. */
  readonly address: number;
  /** Write (RnW = 0). */
  readonly write: boolean;
  /** Instruction fetch (InD = 1); never together with `write`. */
  readonly exec: boolean;
  /** Privileged (PnU = 1). */
  readonly priv: boolean;
}

/**
 * Permission summary of one stage's leaf, after hierarchical permissions, PAN, WXN and the
 * `execNeedsRead` choice, as a bit mask of `PERM` flags. Stage 2 permissions do not depend on
 * privilege except for XNX. `checkPermission` (walker.ts) evaluates an access against it.
 */
export type PermMask = number;

/** Bits of a PermMask. */
export const PERM = {
  /** privileged read */
  PR: 1,
  /** privileged write */
  PW: 2,
  /** privileged execute */
  PX: 4,
  /** unprivileged read */
  UR: 8,
  /** unprivileged write */
  UW: 16,
  /** unprivileged execute */
  UX: 32,
  /**
   * A write is permitted only through a hardware dirty-state update (DBM with HA/HD): a cached
   * translation must be walked again (so the descriptor is marked dirty) before a write uses it.
   */
  DIRTY_PENDING: 64,
  /** Stage 1 PAN: privileged *data* accesses are not permitted (instruction fetches unaffected). */
  PAN: 128,
} as const;

/** Result of `checkPermission` on a cached translation. */
export const PERM_CHECK = {
  /** Access permitted. */
  OK: 0,
  /** Permission fault. */
  FAULT: 1,
  /** Permitted, but a dirty-state update is due: walk again instead of using the cached entry. */
  WALK: 2,
} as const;

/** Translation-related fault kinds (event IDs 0x10–0x13, 0x0B). */
export type FaultType = 'translation' | 'addrSize' | 'access' | 'permission' | 'walkEabt';

/**
 * Event CLASS: what the faulting stage-2 walk was translating — a CD/L1CD fetch, a stage-1
 * table descriptor (TT), or the transaction's input (IN). Stage-1 faults are IN, except a
 * stage-1 descriptor fetch abort, which is TT (IHI 0070 §7.3.11).
 */
export type FaultClass = 'CD' | 'TT' | 'IN';

/** Successful translation. */
export interface WalkOk {
  readonly ok: true;
  /** Output address of the request (PA; for a stage-1-only walk the S1 output). */
  readonly oa: number;
  /** The intermediate address: the S1 output when nested, else the input (S2-only) or `oa` (S1-only). */
  readonly ipa: number;
  /** Leaf level of the last stage walked. */
  readonly level: number;
  /** log2 of the translation size usable for caching: min over the stages' block sizes. */
  readonly blockShift: number;
  /** The last stage's leaf descriptor (as in memory after any HTTU update), low and high u32. */
  readonly descLo: number;
  readonly descHi: number;
  /** Stage-1 leaf level, block shift, descriptor and permissions (−1 / 0 without stage 1). */
  readonly s1Level: number;
  readonly s1BlockShift: number;
  readonly s1DescLo: number;
  readonly s1DescHi: number;
  readonly s1Perms: PermMask;
  /** Stage-2 leaf level, block shift, descriptor and permissions (−1 / 0 without stage 2). */
  readonly s2Level: number;
  readonly s2BlockShift: number;
  readonly s2DescLo: number;
  readonly s2DescHi: number;
  readonly s2Perms: PermMask;
  /** Stage-1 AttrIndx (MAIR index), −1 without stage 1. */
  readonly attrIndx: number;
  /** Stage-1 descriptor SH (0 NSH, 2 OSH, 3 ISH); with DS = 1 the caller uses CD.SH0 instead. −1 without stage 1. */
  readonly sh: number;
  /** Stage-1 not-global (ASID-tagged). */
  readonly nG: boolean;
  /** Stage-2 MemAttr[3:0] (descriptor bits [5:2]), −1 without stage 2. */
  readonly memAttr: number;
  /** Stage-2 descriptor SH, −1 without stage 2. */
  readonly s2Sh: number;
  /** Contiguous hint of the last stage's leaf. */
  readonly contiguous: boolean;
}

/** A translation fault, as a value (never thrown). */
export interface WalkFault {
  readonly ok: false;
  readonly fault: FaultType;
  /** Stage that faulted (event S2 bit = stage === 2). */
  readonly stage: Stage;
  /** Level at which the fault was found (the start level for an out-of-range input). */
  readonly level: number;
  /** Event CLASS (see FaultClass). */
  readonly class: FaultClass;
  /** Stage-2 faults: the IPA being translated (event IPA field); undefined for stage 1. */
  readonly ipa: number | undefined;
  /** walkEabt: the PA of the descriptor access that aborted (event FetchAddr). */
  readonly fetchAddr: number | undefined;
  /**
   * Stage-2 fault with CLASS TT: true when the stage-1 descriptor access was a read, false when
   * it was a hardware update write (event TTRnW). Undefined otherwise.
   */
  readonly ttRead: boolean | undefined;
}

/** Outcome of a walk. */
export type WalkResult = WalkOk | WalkFault;
