// Shared types of the SMMUv3 hardware model (Arm IHI 0070 H.a): the translate() contract of
// interfaces.md §4, the event-record shape, the features decoded from the ID registers, and the
// seam between the register/queue side (smmu.ts) and the translation side (translate.ts).

import type { EventRecord, TraceSink } from '../arch/trace.ts';
import type { SparseMemory } from '../mem/sparse-memory.ts';

/** Direction of an incoming transaction. */
export type Access = 'read' | 'write';

/** An incoming transaction presented to the SMMU (interfaces.md §4). */
export interface TranslateRequest {
  readonly sid: number;
  /** undefined = no SubstreamID (SSV=0). */
  readonly ssid?: number | undefined;
  readonly iova: bigint;
  readonly access: Access;
  /** Privileged (PnU=1). Default false. */
  readonly priv?: boolean | undefined;
  /** Instruction fetch (InD=1). Default false; writes are always data. */
  readonly inst?: boolean | undefined;
}

/** Memory attributes of a successful translation (as far as they are modelled). */
export interface MemAttrs {
  /** MAIR-style attribute byte of the output (stage-1 AttrIndx → MAIR, combined with stage 2). */
  readonly memAttr?: number;
  /** Shareability: 0 NSH, 2 OSH, 3 ISH. */
  readonly sh?: number;
  readonly priv?: boolean;
  readonly inst?: boolean;
  readonly alloc?: number;
}

export type { EventRecord } from '../arch/trace.ts';

/** Outcome of a transaction. `event` is absent when the transaction was aborted silently. */
export type TranslateResult =
  | { readonly ok: true; readonly pa: bigint; readonly attrs: MemAttrs }
  | {
      readonly ok: false;
      readonly event?: EventRecord;
      /** Present when the transaction is stalled (awaiting CMD_RESUME / CMD_STALL_TERM). */
      readonly stalled?: { readonly stag: number };
      /**
       * Terminated with RAZ/WI semantics (CD.A == 0, IHI 0070 §3.12): reads complete with zeros,
       * writes are ignored, instead of an abort reported to the device.
       */
      readonly razwi?: true;
    };

/** Features decoded once from the ID registers (IDR0–IDR5, AIDR). */
export interface SmmuFeatures {
  readonly s1p: boolean;
  readonly s2p: boolean;
  /** IDR0.TTF: bit 0 AArch32, bit 1 AArch64 tables supported. */
  readonly ttf: number;
  readonly cohacc: boolean;
  /** IDR0.HTTU: 0 none, 1 access flag, 2 access + dirty, 3 + HAFT. */
  readonly httu: number;
  readonly hyp: boolean;
  readonly ats: boolean;
  readonly ns1ats: boolean;
  readonly asid16: boolean;
  readonly msi: boolean;
  readonly sev: boolean;
  readonly atos: boolean;
  readonly pri: boolean;
  readonly vmw: boolean;
  readonly vmid16: boolean;
  readonly cd2l: boolean;
  readonly vatos: boolean;
  /** IDR0.TTENDIAN: 0 mixed, 2 LE only, 3 BE only. */
  readonly ttendian: number;
  /** IDR0.STALL_MODEL: 0 stall+terminate, 1 terminate only, 2 stall forced. */
  readonly stallModel: number;
  /** IDR0.TERM_MODEL: 1 = RAZ/WI termination not supported (CD.A must be 1). */
  readonly termModel: boolean;
  /** IDR0.ST_LEVEL: 0 linear only, 1 two-level supported. */
  readonly stLevel: number;
  readonly attrTypesOvr: boolean;
  readonly attrPermsOvr: boolean;
  readonly tablesPreset: boolean;
  readonly queuesPreset: boolean;
  readonly rel: boolean;
  /** log2 of queue sizes (entries). */
  readonly cmdqs: number;
  readonly eventqs: number;
  readonly priqs: number;
  readonly ssidSize: number;
  readonly sidSize: number;
  /** IDR3 features. */
  readonly had: boolean;
  readonly pbha: boolean;
  readonly xnx: boolean;
  readonly pps: boolean;
  readonly mpam: boolean;
  readonly fwb: boolean;
  readonly stt: boolean;
  readonly ril: boolean;
  readonly bbml: number;
  readonly e0pd: boolean;
  /** IDR5. */
  readonly stallMax: number;
  /** IDR5.VAX: 0 48-bit VA, 1 52-bit VA. */
  readonly vax: number;
  readonly gran4k: boolean;
  readonly gran16k: boolean;
  readonly gran64k: boolean;
  /** Output address size in bits (decoded from IDR5.OAS). */
  readonly oas: number;
  /** Stage-2 input size in bits (IAS: OAS, or max(OAS, 40) with AArch32 tables). */
  readonly ias: number;
  /** AIDR.ArchMinorRev (0 = v3.0 … 4 = v3.4). */
  readonly minorRev: number;
}

export type { TraceEvent, TraceSink } from '../arch/trace.ts';

/** Register state the translation side reads (owned by the register side). */
export interface SmmuRegisterView {
  /** CR0ACK value currently in effect (SMMUEN = bit 0). */
  readonly cr0ack: number;
  readonly cr1: number;
  readonly cr2: number;
  readonly gbpa: number;
  readonly strtabBase: bigint;
  readonly strtabBaseCfg: number;
}

/** What the translation side needs from the register/queue side. */
export interface SmmuCore {
  readonly mem: SparseMemory;
  readonly features: SmmuFeatures;
  readonly regs: SmmuRegisterView;
  /**
   * Offers an event record to the event queue; returns true when written, false when discarded
   * (queue disabled, full — which signals overflow — or in an error state).
   */
  recordEvent(raw: readonly [bigint, bigint, bigint, bigint]): boolean;
  readonly trace: TraceSink | undefined;
}

/**
 * Access flags of the number-path entry `translateFast`: a read is 0; PRIV = PnU, INST = InD
 * (ignored for writes, which are always data).
 */
export const FAST_ACCESS = { READ: 0, WRITE: 1, PRIV: 2, INST: 4 } as const;

/**
 * Negative results of `translateFast` (a PA is ≥ 0): the transaction was terminated (abort,
 * with or without an event), terminated with RAZ/WI semantics (CD.A == 0), or stalled. The
 * full outcome (event record, STAG) is `lastResult()`.
 */
export const FAST_RESULT = { ABORT: -1, RAZWI: -2, STALLED: -3 } as const;

/** The translation side: stream table, CD tables, walks, caches, stalls. */
export interface TranslationSide {
  translate(req: TranslateRequest): TranslateResult;
  /**
   * Number-path transaction (hot callers): `ssid` −1 = no SubstreamID, `iova` < 2^53, `flags`
   * of FAST_ACCESS. Returns the PA or a FAST_RESULT code; no allocation on a TLB hit. The side
   * checks the arguments itself (fast-args.ts: the same typed usage errors as the SMMU's).
   */
  translateFast?(sid: number, ssid: number, iova: number, flags: number): number;
  /** The outcome of the last `translateFast` as `translate` would have returned it. */
  lastResult?(): TranslateResult;
  /**
   * Records `r` as that outcome: the SMMU took its object path for a number-path call (SMMUEN =
   * 0), so the side's own hit path never needs to know which path ran last.
   */
  setLastResult?(r: TranslateResult): void;
  /**
   * Executes a command that passed the queue side's validity checks (opcode, feature gates,
   * reserved fields): CFGI_*, TLBI_*, ATC_INV, PREFETCH_*, RESUME, STALL_TERM, PRI_RESP.
   */
  execute(opcode: number, w0: bigint, w1: bigint): void;
  /** SMMUEN went 1 → 0: outstanding stalls are marked for abort, STAGs freed. */
  onDisable(): void;
}
