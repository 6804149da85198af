// STE and CD parsing and validation for the SMMUv3 translation side (Arm IHI 0070 H.a §5.2 STE
// with the §5.2.2 validity pseudocode, §5.4 CD with §5.4.2, §5.5 stall/terminate rules, §3.4 and
// §3.4.3 address sizes and out-of-range pointers, §5 reserved-field policy). Structures arrive as
// little-endian u32 halves (number path, typescript.md §8.5); field positions are read once at
// module load from the arch field tables (src/arch/ste.ts, cd.ts) instead of being re-typed here.
// The result of a parse is a compact, cacheable value: an ILLEGAL structure is a value too
// (smmuv3-arch.md [1.1]: it acts as V == 0 and may itself be cached).

import { addrField, field } from '../arch/bits.ts';
import { CD } from '../arch/cd.ts';
import { definedMask, findField, type StructDef } from '../arch/fields.ts';
import { STE } from '../arch/ste.ts';
import { s1StartLevel, s2StartLevel, tg0Decode } from '../pgtable/format.ts';
import type { Granule, StageParams } from '../pgtable/types.ts';
import type { SmmuFeatures } from './types.ts';

/** Position of a field: u32 index of the word's low half, and the bit range within the word. */
export interface FieldPos {
  readonly w: number;
  readonly hi: number;
  readonly lo: number;
}

/** The position of `name` in `def` (number path), derived from the field table. */
export function fieldPos(def: StructDef, name: string): FieldPos {
  const f = findField(def, name);
  return { w: 2 * f.word, hi: f.hi, lo: f.lo };
}

/** Reads a field of at most 32 bits from little-endian u32 halves. */
export function rd(words: Uint32Array, p: FieldPos): number {
  return field(words[p.w] as number, words[p.w + 1] as number, p.hi, p.lo);
}

/** Reads an address field kept in place (bits [hi:lo] of the word, as a number < 2^53). */
export function rdAddr(words: Uint32Array, p: FieldPos): number {
  return addrField(words[p.w] as number, words[p.w + 1] as number, p.hi, p.lo);
}

const S = (n: string): FieldPos => fieldPos(STE, n);
const C = (n: string): FieldPos => fieldPos(CD, n);

/** STE field positions (IHI 0070 §5.2). */
export const STE_F = {
  V: S('V'),
  Config: S('Config'),
  S1Fmt: S('S1Fmt'),
  S1ContextPtr: S('S1ContextPtr'),
  S1CDMax: S('S1CDMax'),
  S1DSS: S('S1DSS'),
  CONT: S('CONT'),
  MEV: S('MEV'),
  S2FWB: S('S2FWB'),
  S1STALLD: S('S1STALLD'),
  EATS: S('EATS'),
  STRW: S('STRW'),
  MemAttr: S('MemAttr'),
  MTCFG: S('MTCFG'),
  ALLOCCFG: S('ALLOCCFG'),
  SHCFG: S('SHCFG'),
  PRIVCFG: S('PRIVCFG'),
  INSTCFG: S('INSTCFG'),
  S2VMID: S('S2VMID'),
  S2T0SZ: S('S2T0SZ'),
  S2SL0: S('S2SL0'),
  S2TG: S('S2TG'),
  S2PS: S('S2PS'),
  S2AA64: S('S2AA64'),
  S2ENDI: S('S2ENDI'),
  S2AFFD: S('S2AFFD'),
  S2PTW: S('S2PTW'),
  S2HD: S('S2HD'),
  S2HA: S('S2HA'),
  S2S: S('S2S'),
  S2R: S('S2R'),
  S2HAFT: S('S2HAFT'),
  S2TTB: S('S2TTB'),
} as const;

/** CD field positions (IHI 0070 §5.4). */
export const CD_F = {
  T0SZ: C('T0SZ'),
  TG0: C('TG0'),
  EPD0: C('EPD0'),
  ENDI: C('ENDI'),
  T1SZ: C('T1SZ'),
  TG1: C('TG1'),
  EPD1: C('EPD1'),
  V: C('V'),
  IPS: C('IPS'),
  AFFD: C('AFFD'),
  WXN: C('WXN'),
  TBI0: C('TBI0'),
  TBI1: C('TBI1'),
  PAN: C('PAN'),
  AA64: C('AA64'),
  HD: C('HD'),
  HA: C('HA'),
  S: C('S'),
  R: C('R'),
  A: C('A'),
  ASET: C('ASET'),
  ASID: C('ASID'),
  HAD0: C('HAD0'),
  E0PD0: C('E0PD0'),
  HAFT: C('HAFT'),
  TTB0: C('TTB0'),
  HAD1: C('HAD1'),
  E0PD1: C('E0PD1'),
  TTB1: C('TTB1'),
  MAIR0: C('MAIR0'),
  MAIR1: C('MAIR1'),
} as const;

/**
 * Reserved-bit masks per u32 half: bits outside every field of the table, plus the fields of
 * features this model does not implement (they are RES0 without the feature): v3.4 permission
 * indirection/overlays, D128, DPT, VMS, LPA2 (DS) and MPAM.
 */
function reservedMasks(def: StructDef, unimplemented: readonly string[]): Uint32Array {
  const out = new Uint32Array(2 * def.words);
  for (let w = 0; w < def.words; w++) {
    let m = ~definedMask(def, w) & ((1n << 64n) - 1n);
    for (const n of unimplemented) {
      const f = findField(def, n);
      if (f.word === w) m |= ((1n << BigInt(f.hi - f.lo + 1)) - 1n) << BigInt(f.lo);
    }
    out[2 * w] = Number(m & 0xffff_ffffn);
    out[2 * w + 1] = Number(m >> 32n);
  }
  return out;
}

const STE_RESERVED = reservedMasks(STE, [
  'S1PIE',
  'S1MPAM',
  'S2PIE',
  'S2POE',
  'DPT_VMATCH',
  'S2SL0_2',
  'S2DS',
  'S2SKL',
  'PARTID',
  'PMG',
  'AssuredOnly',
  'TL0',
  'TL1',
  'VMSPtr',
  'S2POI',
]);
const CD_RESERVED = reservedMasks(CD, [
  'AIE',
  'DS',
  'PIE',
  'PnCH',
  'PARTID',
  'PMG',
  'PIIU',
  'PIIP',
]);

function anyReserved(words: Uint32Array, mask: Uint32Array): boolean {
  for (let i = 0; i < mask.length; i++)
    if (((words[i] as number) & (mask[i] as number)) !== 0) return true;
  return false;
}

/** Address sizes of the IPS / S2PS / OAS encodings (0b111 = 56 bits, SMMUv3.4). */
const PS_BITS = [32, 36, 40, 42, 44, 48, 52, 56] as const;

/** StreamWorld of a stream (§5.2 STRW with SMMU_CR2.E2H). */
export const WORLD = { NS_EL1: 0, EL2: 1, EL2_E2H: 2 } as const;

/** Behaviour switches of STE/CD validation (each an IMPDEF or CONSTRAINED UNPREDICTABLE choice). */
export interface ConfigPolicies {
  /** IMPDEF: §5 — non-zero Reserved structure bits make the structure ILLEGAL, or are ignored. */
  readonly reservedBits: 'ignore' | 'illegal';
  /**
   * CONSTRAINED UNPREDICTABLE: §3.4.3 — a nested STE whose S1ContextPtr (an IPA) is beyond IAS:
   * C_BAD_STE, or a stage-2 Translation fault on the untruncated address.
   */
  readonly nestedCdPtrBeyondIas: 'c_bad_ste' | 's2-fault';
}

/** What validation needs from the SMMU besides the structure. */
export interface ConfigContext {
  readonly features: SmmuFeatures;
  /** SMMU_CR2.E2H in effect (only meaningful with IDR0.HYP). */
  readonly e2h: boolean;
  readonly policies: ConfigPolicies;
}

/** A parsed STE. `kind` 'illegal' also covers V == 0 (both report C_BAD_STE). */
export interface SteConfig {
  readonly kind: 'illegal' | 'abort' | 'bypass' | 'translate';
  /** Why the STE is ILLEGAL (diagnostics; the architectural outcome is C_BAD_STE). */
  readonly reason: string;
  /** The 16 u32 halves as fetched (for inspection). */
  readonly words: Uint32Array;
  /** Stage 1 translates (Config[0]). */
  readonly s1: boolean;
  /** Stage 2 translates (Config[1]). */
  readonly s2: boolean;
  /** Effective S1Fmt (0 linear, 1 4 KiB leaves, 2 64 KiB leaves); 0 when there is one CD. */
  readonly s1Fmt: number;
  /** S1CDMax when substreams exist (SSIDSIZE ≠ 0), else 0. */
  readonly s1CdMax: number;
  /** S1ContextPtr (a PA, or an IPA when stage 2 translates). */
  readonly s1ContextPtr: number;
  /** Effective S1DSS (0b11 behaves as 0b00). */
  readonly s1Dss: number;
  readonly s1StallD: boolean;
  /** Effective EATS (0 when IGNORED; 0b11 without DPT behaves as 0b00). */
  readonly eats: number;
  /** StreamWorld (WORLD). */
  readonly world: number;
  /** VMID tag (S2VMID when not IGNORED, else 0). */
  readonly vmid: number;
  /** Stage-2 walk parameters (when stage 2 translates). */
  readonly s2Params: StageParams | undefined;
  /** Stage-2 tables are big-endian (S2ENDI). */
  readonly s2BigEndian: boolean;
  /** Stage-2 faults stall (S2S). */
  readonly s2s: boolean;
  /** Record terminated stage-2 faults (S2R). */
  readonly s2r: boolean;
  /** Attribute overrides (§13: effective values, incoming = -1). */
  readonly privcfg: number;
  readonly instcfg: number;
  /** MemAttr when MTCFG = 1 and ATTR_TYPES_OVR, else -1. */
  readonly memAttr: number;
  /** SHCFG effective (1 = use incoming), ATTR_TYPES_OVR gated. */
  readonly shcfg: number;
  /** ALLOCCFG effective (0xxx = incoming). */
  readonly alloccfg: number;
  /** CONT hint (log2 of the span of identical STEs). */
  readonly cont: number;
}

/** One half (TTB0 or TTB1) of a stage-1 context. */
export interface CdHalf {
  /** Walks enabled (effective EPDx == 0). */
  readonly enabled: boolean;
  /** Walk parameters (undefined when the half is disabled). */
  readonly params: StageParams | undefined;
  /** Input size in bits: 64 − TxSZ. */
  readonly inputBits: number;
  /** 2^inputBits: the first VA (TTB0 half) outside the range. */
  readonly limit: number;
  /** Top byte ignored (AddrTop 55 instead of 63). */
  readonly tbi: boolean;
  /** Unprivileged accesses to this half fault (E0PDx, SMMUv3.3). */
  readonly e0pd: boolean;
}

/** A parsed CD. */
export interface CdConfig {
  /** False: V == 0 or ILLEGAL (C_BAD_CD). */
  readonly valid: boolean;
  readonly reason: string;
  readonly words: Uint32Array;
  readonly asid: number;
  readonly aset: boolean;
  /** TTB0 and TTB1 halves; the EL2 (non-E2H) StreamWorld has a single range (TTB0). */
  readonly halves: readonly [CdHalf, CdHalf];
  readonly twoRanges: boolean;
  /** Stall on stage-1 faults (CD.S). */
  readonly stall: boolean;
  /** Record terminated stage-1 faults (CD.R). */
  readonly record: boolean;
  /** Abort (true) or RAZ/WI (false) terminated stage-1 faults (CD.A). */
  readonly abort: boolean;
  /** MAIR as u32 halves (attributes 0–3, 4–7). */
  readonly mairLo: number;
  readonly mairHi: number;
  readonly bigEndian: boolean;
}

const DISABLED_HALF: CdHalf = {
  enabled: false,
  params: undefined,
  inputBits: 0,
  limit: 0,
  tbi: false,
  e0pd: false,
};

function illegalSte(words: Uint32Array, reason: string): SteConfig {
  return {
    kind: 'illegal',
    reason,
    words,
    s1: false,
    s2: false,
    s1Fmt: 0,
    s1CdMax: 0,
    s1ContextPtr: 0,
    s1Dss: 0,
    s1StallD: false,
    eats: 0,
    world: WORLD.NS_EL1,
    vmid: 0,
    s2Params: undefined,
    s2BigEndian: false,
    s2s: false,
    s2r: false,
    privcfg: -1,
    instcfg: -1,
    memAttr: -1,
    shcfg: 1,
    alloccfg: 0,
    cont: 0,
  };
}

/** Endianness rule shared by STE.S2ENDI and CD.ENDI (§5.2 S2ENDI, §5.4 ENDI): undefined = OK. */
function endianConflict(bigEndian: boolean, ttendian: number): string | undefined {
  if (bigEndian && ttendian === 0b10) return 'big-endian tables but IDR0.TTENDIAN is little only';
  if (!bigEndian && ttendian === 0b11) return 'little-endian tables but IDR0.TTENDIAN is big only';
  return undefined;
}

/** TxSZ limits of a stage-1 half (§5.4 T0SZ): [min, max]. */
function txszLimits(f: SmmuFeatures, granule: Granule): [number, number] {
  const max = f.stt ? (granule === 65536 ? 47 : 48) : 39;
  // 52-bit VA (IDR5.VAX == 1) needs the 64K granule (or DS, not modelled).
  const min = f.vax === 1 && granule === 65536 ? 12 : 16;
  return [min, max];
}

/**
 * Parses and validates an STE (§5.2, §5.2.2 order). Never throws: every guest-controlled value
 * maps to a kind.
 */
export function parseSte(words: Uint32Array, ctx: ConfigContext): SteConfig {
  const f = ctx.features;
  if (rd(words, STE_F.V) === 0) return illegalSte(words, 'V == 0');
  if (ctx.policies.reservedBits === 'illegal' && anyReserved(words, STE_RESERVED)) {
    return illegalSte(words, 'non-zero Reserved bits');
  }
  const config = rd(words, STE_F.Config);
  const permsOvr = f.attrPermsOvr;
  const typesOvr = f.attrTypesOvr;
  // §13 attribute overrides: PRIVCFG/INSTCFG need ATTR_PERMS_OVR, MTCFG/SHCFG/ALLOCCFG need
  // ATTR_TYPES_OVR; without them the incoming attributes are used.
  const privcfg = permsOvr ? rd(words, STE_F.PRIVCFG) : 0;
  const instcfg = permsOvr ? rd(words, STE_F.INSTCFG) : 0;
  const mtcfg = typesOvr && rd(words, STE_F.MTCFG) === 1;
  const base = {
    reason: '',
    words,
    s1Fmt: 0,
    s1CdMax: 0,
    s1ContextPtr: 0,
    s1Dss: 0,
    s1StallD: false,
    eats: 0,
    vmid: 0,
    s2Params: undefined,
    s2BigEndian: false,
    s2s: false,
    s2r: false,
    privcfg: privcfg >= 2 ? privcfg : -1,
    instcfg: instcfg >= 2 ? instcfg : -1,
    memAttr: mtcfg ? rd(words, STE_F.MemAttr) : -1,
    shcfg: typesOvr ? rd(words, STE_F.SHCFG) : 1,
    alloccfg: typesOvr ? rd(words, STE_F.ALLOCCFG) : 0,
    cont: rd(words, STE_F.CONT),
  };
  // §5.2 Config: 0b0xx is a valid STE that aborts every transaction without an event.
  if ((config & 0b100) === 0) {
    return { ...base, kind: 'abort', s1: false, s2: false, world: WORLD.NS_EL1 };
  }
  const s1 = (config & 1) === 1;
  const s2 = (config & 2) === 2;
  const vmid = rd(words, STE_F.S2VMID);
  if (!s1 && !s2) {
    // Bypass: S1*/S2* fields IGNORED (the VMID is not used without translation).
    return { ...base, kind: 'bypass', s1: false, s2: false, world: WORLD.NS_EL1 };
  }
  const fail = (reason: string): SteConfig => illegalSte(words, reason);
  if (s1 && !f.s1p) return fail('stage 1 configured but IDR0.S1P == 0');
  if (s2 && !f.s2p) return fail('stage 2 configured but IDR0.S2P == 0');
  const s2s = s2 && rd(words, STE_F.S2S) === 1;
  // §5.2 EATS (IGNORED without ATS or when Config[1:0] == 00).
  let eats = f.ats ? rd(words, STE_F.EATS) : 0;
  if (eats === 0b10 && (config !== 0b111 || s2s || f.ns1ats)) {
    return fail('EATS == 0b10 (split-stage ATS) needs nested config, S2S == 0 and NS1ATS == 0');
  }
  if (eats === 0b01 && s2s) return fail('EATS == 0b01 with S2S == 1');
  // EATS 0b11 (DPT) is not modelled: behaves as 0b00.
  if (eats === 0b11) eats = 0;
  // §5.2 STRW: in use for stage-1-only STEs when EL2 is implemented.
  let world: number = WORLD.NS_EL1;
  if (f.s1p && f.hyp && config === 0b101) {
    const strw = rd(words, STE_F.STRW);
    if ((strw & 1) === 1) return fail('STRW reserved value');
    if (strw === 0b10) world = ctx.e2h ? WORLD.EL2_E2H : WORLD.EL2;
  }
  let s1Fmt = 0;
  let s1CdMax = 0;
  let s1ContextPtr = 0;
  let s1Dss = 0;
  let s1StallD = false;
  if (s1) {
    s1StallD = rd(words, STE_F.S1STALLD) === 1;
    // §5.2 S1STALLD / §5.5: only meaningful with the stall-and-terminate model.
    if (s1StallD && f.stallModel !== 0b00) return fail('S1STALLD == 1 with STALL_MODEL != 0b00');
    const cdMax = rd(words, STE_F.S1CDMax);
    if (f.ssidSize !== 0) {
      if (cdMax > f.ssidSize) return fail('S1CDMax > IDR1.SSIDSIZE');
      s1CdMax = cdMax;
      if (cdMax !== 0) {
        const fmt = rd(words, STE_F.S1Fmt);
        if ((fmt === 0b01 || fmt === 0b10) && !f.cd2l) return fail('2-level CD table without CD2L');
        s1Fmt = fmt === 0b11 ? 0 : fmt;
        const dss = rd(words, STE_F.S1DSS);
        s1Dss = dss === 0b11 ? 0 : dss;
      }
    }
    s1ContextPtr = rdAddr(words, STE_F.S1ContextPtr);
    if (!s2) {
      // §3.4.3: a stage-1-only context pointer (a PA) beyond OAS is ILLEGAL from SMMUv3.1.
      if (s1ContextPtr >= 2 ** f.oas) return fail('S1ContextPtr beyond OAS');
    } else if (s1ContextPtr >= 2 ** f.ias && ctx.policies.nestedCdPtrBeyondIas === 'c_bad_ste') {
      // CONSTRAINED UNPREDICTABLE: §3.4.3 — nested S1ContextPtr beyond IAS: C_BAD_STE (this
      // choice) or a stage-2 Translation fault on the untruncated IPA (policy 's2-fault').
      return fail('S1ContextPtr beyond IAS');
    }
  }
  let s2Params: StageParams | undefined;
  let s2BigEndian = false;
  let s2r = false;
  if (s2) {
    const aa64 = rd(words, STE_F.S2AA64) === 1;
    if (aa64 && (f.ttf & 2) === 0) return fail('AArch64 stage 2 without IDR0.TTF[1]');
    if (!aa64) {
      // AArch32 (VMSAv8-32 LPAE) stage-2 tables are not modelled: with TTF[0] == 1 this is a
      // documented model departure (reported as C_BAD_STE), otherwise it is ILLEGAL.
      return fail(
        (f.ttf & 1) === 0 ? 'AArch32 stage 2 without IDR0.TTF[0]' : 'AArch32 stage 2 not modelled',
      );
    }
    // §5.5: S2S must match the stall model.
    if (s2s && f.stallModel === 0b01) return fail('S2S == 1 with STALL_MODEL == 0b01');
    if (!s2s && f.stallModel === 0b10) return fail('S2S == 0 with STALL_MODEL == 0b10');
    const s2ha = rd(words, STE_F.S2HA) === 1;
    const s2hd = rd(words, STE_F.S2HD) === 1;
    const s2haft = rd(words, STE_F.S2HAFT) === 1;
    if ((s2ha || s2hd) && f.httu === 0) return fail('S2HA/S2HD with IDR0.HTTU == 0');
    if (s2hd && f.httu === 1) return fail('S2HD with IDR0.HTTU == 0b01');
    if (s2haft && f.httu === 0b11 && !s2ha) return fail('S2HAFT without S2HA');
    const tg = rd(words, STE_F.S2TG);
    const granule = tg0Decode(tg);
    if (!granule) return fail('S2TG reserved');
    if (!granuleSupported(f, granule)) return fail('S2TG granule not in IDR5');
    const psCode = rd(words, STE_F.S2PS);
    const outputBits = Math.min(PS_BITS[psCode] as number, f.oas);
    const ttb = rdAddr(words, STE_F.S2TTB);
    if (ttb >= 2 ** outputBits) return fail('S2TTB outside the effective S2PS');
    if (granule !== 65536 && ttb >= 2 ** 48) return fail('S2TTB above 48 bits');
    const t0sz = rd(words, STE_F.S2T0SZ);
    const max = f.stt ? (granule === 65536 ? 47 : 48) : 39;
    const min = f.minorRev === 0 ? 64 - f.ias : Math.max(granule === 65536 ? 12 : 16, 64 - f.ias);
    if (t0sz < min || t0sz > max) return fail('S2T0SZ out of range');
    const startLevel = s2StartLevel({ tg, sl0: rd(words, STE_F.S2SL0), t0sz, pamax: f.oas });
    if (startLevel === undefined) return fail('S2SL0 inconsistent with S2T0SZ/S2TG');
    s2BigEndian = rd(words, STE_F.S2ENDI) === 1;
    const endian = endianConflict(s2BigEndian, f.ttendian);
    if (endian) return fail(`S2ENDI: ${endian}`);
    s2r = rd(words, STE_F.S2R) === 1;
    s2Params = {
      granule,
      ttb,
      inputBits: 64 - t0sz,
      startLevel,
      outputBits,
      ds: false,
      lpa: f.oas >= 52,
      ha: s2ha,
      hd: s2hd && s2ha,
      affd: rd(words, STE_F.S2AFFD) === 1,
      fwb: f.fwb && rd(words, STE_F.S2FWB) === 1,
      xnx: f.xnx,
      ptw: rd(words, STE_F.S2PTW) === 1,
    };
  }
  // §5.2 S2VMID: used for NS-EL1 streams whenever stage 2 is implemented (also stage-1-only).
  let tagVmid = 0;
  if (f.s2p && world === WORLD.NS_EL1) {
    if (!f.vmid16 && vmid > 0xff) return fail('S2VMID[15:8] != 0 without VMID16');
    tagVmid = vmid;
  }
  return {
    ...base,
    kind: 'translate',
    s1,
    s2,
    s1Fmt,
    s1CdMax,
    s1ContextPtr,
    s1Dss,
    s1StallD,
    eats,
    world,
    vmid: tagVmid,
    s2Params,
    s2BigEndian,
    s2s,
    s2r,
  };
}

function granuleSupported(f: SmmuFeatures, g: Granule): boolean {
  return g === 4096 ? f.gran4k : g === 16384 ? f.gran16k : f.gran64k;
}

/** TG1 encoding (16K = 1, 4K = 2, 64K = 3; 0 reserved) → granule. */
function tg1Granule(tg1: number): Granule | undefined {
  return tg1 === 1 ? 16384 : tg1 === 2 ? 4096 : tg1 === 3 ? 65536 : undefined;
}

function invalidCd(words: Uint32Array, reason: string): CdConfig {
  return {
    valid: false,
    reason,
    words,
    asid: 0,
    aset: false,
    halves: [DISABLED_HALF, DISABLED_HALF],
    twoRanges: false,
    stall: false,
    record: false,
    abort: true,
    mairLo: 0,
    mairHi: 0,
    bigEndian: false,
  };
}

/**
 * Parses and validates a CD (§5.4, §5.4.2) in the context of the STE that reached it (stall
 * disable, stage-2 format, StreamWorld).
 */
export function parseCd(words: Uint32Array, ste: SteConfig, ctx: ConfigContext): CdConfig {
  const f = ctx.features;
  if (rd(words, CD_F.V) === 0) return invalidCd(words, 'V == 0');
  if (ctx.policies.reservedBits === 'illegal' && anyReserved(words, CD_RESERVED)) {
    return invalidCd(words, 'non-zero Reserved bits');
  }
  const fail = (reason: string): CdConfig => invalidCd(words, reason);
  const stall = rd(words, CD_F.S) === 1;
  // §5.5 stall rules.
  if (stall && ste.s1StallD) return fail('CD.S == 1 with STE.S1STALLD == 1');
  if (stall && f.stallModel === 0b01) return fail('CD.S == 1 with STALL_MODEL == 0b01');
  if (!stall && f.stallModel === 0b10) return fail('CD.S == 0 with STALL_MODEL == 0b10');
  const abort = rd(words, CD_F.A) === 1;
  if (!abort && f.termModel) return fail('CD.A == 0 with IDR0.TERM_MODEL == 1');
  const el2 = ste.world === WORLD.EL2;
  const twoRanges = !el2;
  const epd0 = !el2 && rd(words, CD_F.EPD0) === 1;
  const epd1 = el2 || rd(words, CD_F.EPD1) === 1;
  const bigEndian = rd(words, CD_F.ENDI) === 1;
  if (!(epd0 && epd1)) {
    const endian = endianConflict(bigEndian, f.ttendian);
    if (endian) return fail(`ENDI: ${endian}`);
  }
  const aa64 = rd(words, CD_F.AA64) === 1;
  if (!aa64) {
    // AArch32 stage-1 tables are not modelled (documented departure when TTF[0] == 1).
    return fail((f.ttf & 1) === 0 ? 'AArch32 CD without IDR0.TTF[0]' : 'AArch32 CD not modelled');
  }
  if ((f.ttf & 2) === 0) return fail('AArch64 CD without IDR0.TTF[1]');
  const ha = rd(words, CD_F.HA) === 1;
  const hd = rd(words, CD_F.HD) === 1;
  if ((ha || hd) && f.httu === 0) return fail('HA/HD with IDR0.HTTU == 0');
  if (hd && f.httu === 1) return fail('HD with IDR0.HTTU == 0b01');
  if (f.httu === 0b11 && rd(words, CD_F.HAFT) === 1 && !ha) return fail('HAFT without HA');
  const asid = rd(words, CD_F.ASID);
  if (ste.world !== WORLD.EL2 && !f.asid16 && asid > 0xff) {
    return fail('ASID[15:8] != 0 without ASID16');
  }
  const ipsCode = rd(words, CD_F.IPS);
  const outputBits = Math.min(PS_BITS[ipsCode] as number, f.oas);
  const common = {
    outputBits,
    ds: false,
    lpa: f.oas >= 52,
    ha,
    hd: hd && ha,
    affd: rd(words, CD_F.AFFD) === 1,
    wxn: rd(words, CD_F.WXN) === 1,
    pan: rd(words, CD_F.PAN) === 1,
  };
  const halves: CdHalf[] = [];
  for (let h = 0; h < 2; h++) {
    const epd = h === 0 ? epd0 : epd1;
    if (epd) {
      halves.push(DISABLED_HALF);
      continue;
    }
    const granule = h === 0 ? tg0Decode(rd(words, CD_F.TG0)) : tg1Granule(rd(words, CD_F.TG1));
    const name = h === 0 ? 'TTB0' : 'TTB1';
    if (!granule) return fail(`TG${h} reserved`);
    if (!granuleSupported(f, granule)) return fail(`TG${h} granule not in IDR5`);
    const txsz = rd(words, h === 0 ? CD_F.T0SZ : CD_F.T1SZ);
    const [min, max] = txszLimits(f, granule);
    if (txsz < min || txsz > max) return fail(`T${h}SZ out of range`);
    const ttb = rdAddr(words, h === 0 ? CD_F.TTB0 : CD_F.TTB1);
    if (ttb >= 2 ** outputBits) return fail(`${name} outside the effective IPS`);
    if (granule !== 65536 && ttb >= 2 ** 48) return fail(`${name} above 48 bits`);
    const tg0 = granule === 4096 ? 0 : granule === 65536 ? 1 : 2;
    const startLevel = s1StartLevel(tg0, txsz) as number;
    halves.push({
      enabled: true,
      inputBits: 64 - txsz,
      limit: 2 ** (64 - txsz),
      tbi: rd(words, h === 0 ? CD_F.TBI0 : CD_F.TBI1) === 1,
      e0pd: f.e0pd && rd(words, h === 0 ? CD_F.E0PD0 : CD_F.E0PD1) === 1,
      params: {
        ...common,
        granule,
        ttb,
        inputBits: 64 - txsz,
        startLevel,
        had: f.had && rd(words, h === 0 ? CD_F.HAD0 : CD_F.HAD1) === 1,
      },
    });
  }
  return {
    valid: true,
    reason: '',
    words,
    asid: ste.world === WORLD.EL2 ? 0 : f.asid16 ? asid : asid & 0xff,
    aset: rd(words, CD_F.ASET) === 1,
    halves: [halves[0] as CdHalf, halves[1] as CdHalf],
    twoRanges,
    stall,
    record: rd(words, CD_F.R) === 1,
    abort,
    mairLo: rd(words, CD_F.MAIR0),
    mairHi: rd(words, CD_F.MAIR1),
    bigEndian,
  };
}
