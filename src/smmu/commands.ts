// Command-queue entry validation (IHI 0070 H.a §4.1.1 opcodes, §4.1.3 CERROR_ILL, §4.1.5 reserved
// fields, §4.1.6 SSec, §4.3–§4.7 per-command rules; smmuv3-arch.md [3.5]). A command that passes
// is either completed by the queue side (CMD_SYNC) or handed to the translation side; one that
// fails stops the queue with CMDQ_CONS.ERR = CERROR_ILL. Opcodes and field positions come from
// the command tables in src/arch/cmd.ts; every rule below cites its section.

import { genmask, U64_MAX } from '../arch/bits.ts';
import { CMD_OP, CMD_OP_UNMODELLED, type CmdName, COMMANDS } from '../arch/cmd.ts';
import { definedMask, type FieldDef, findField } from '../arch/fields.ts';
import type { SmmuFeatures } from './types.ts';

/** CMD_SYNC completion signals (W0 CS, §4.7.3). */
export const SYNC_CS = { NONE: 0, IRQ: 1, SEV: 2 } as const;

/** IMPDEF (§4.1.5): a non-zero Reserved field is either ignored or CERROR_ILL. */
export type ReservedFieldPolicy = 'ignore' | 'illegal';

/** What command validation depends on. */
export interface CommandCheckContext {
  readonly features: SmmuFeatures;
  /** IDR5.DS (LPA2, v3.4): SCALE is 6 bits and a 16K TTL of 0b01 is meaningful. */
  readonly ds: boolean;
  /** IDR3.DPT: CMD_DPTI_* exist. */
  readonly dpt: boolean;
  readonly reservedFields: ReservedFieldPolicy;
}

interface Layout {
  /** Bits of W0 besides Opcode[7:0] that are fields in every configuration. */
  readonly w0: bigint;
  readonly w1: bigint;
  /** The command has SSec (W0[10]), which must be 0 on the Non-secure queue (§4.1.6). */
  readonly ssec: boolean;
  /** The command has the range-invalidation fields NUM/SCALE/TG/TTL/TTL128 (§4.4.1.1). */
  readonly range: boolean;
}

const OPCODE_MASK = 0xffn;

function mask(f: FieldDef): bigint {
  return ((1n << BigInt(f.hi - f.lo + 1)) - 1n) << BigInt(f.lo);
}

const VA = COMMANDS.TLBI_NH_VA;
const F = {
  ssec: findField(COMMANDS.CFGI_STE, 'SSec'),
  cs: findField(COMMANDS.CMD_SYNC, 'CS'),
  resp: findField(COMMANDS.PRI_RESP, 'Resp'),
  atcSize: findField(COMMANDS.ATC_INV, 'Size'),
  num: findField(VA, 'NUM'),
  scale: findField(VA, 'SCALE'),
  tg: findField(VA, 'TG'),
  ttl: findField(VA, 'TTL'),
  ttl128: findField(VA, 'TTL128'),
} as const;
/** SCALE is [24:20]; bit 25 joins it only with IDR5.DS (§4.4.1.1). */
const SCALE_DS_BIT = 1n << BigInt(F.scale.hi);
const RANGE_W0 = mask(F.num) | mask(F.scale);
const RANGE_W1 = mask(F.tg) | mask(F.ttl) | mask(F.ttl128);

/** A field read with its shift and mask precomputed (command checks run for every command). */
interface FieldReader {
  readonly w1: boolean;
  readonly shift: bigint;
  readonly mask: bigint;
}

function reader(f: FieldDef): FieldReader {
  return {
    w1: f.word !== 0,
    shift: BigInt(f.lo),
    mask: genmask(f.hi - f.lo, 0),
  };
}

const R = {
  ssec: reader(F.ssec),
  cs: reader(F.cs),
  resp: reader(F.resp),
  atcSize: reader(F.atcSize),
  num: reader(F.num),
  scale: reader(F.scale),
  tg: reader(F.tg),
  ttl: reader(F.ttl),
} as const;
/** TG and TTL: the W1 range fields of every revision. */
const RANGE_W1_TG_TTL = mask(F.tg) | mask(F.ttl);
const TTL128_MASK = mask(F.ttl128);

function read(r: FieldReader, w0: bigint, w1: bigint): bigint {
  return ((r.w1 ? w1 : w0) >> r.shift) & r.mask;
}

const LAYOUTS = new Map<number, Layout>();
for (const [name, op] of Object.entries(CMD_OP)) {
  const def = COMMANDS[name as CmdName];
  const has = (n: string) => def.fields.some((f) => f.name === n);
  const range = has('TG');
  LAYOUTS.set(op, {
    w0: definedMask(def, 0) & ~OPCODE_MASK & ~(range ? RANGE_W0 : 0n),
    w1: definedMask(def, 1) & ~(range ? RANGE_W1 : 0n),
    ssec: has('SSec'),
    range,
  });
}

/** Whether the opcode exists on this SMMU's Non-secure queue (§4.1.1 plus the feature gates). */
function gate(op: number, ctx: CommandCheckContext): string | undefined {
  const f = ctx.features;
  switch (op) {
    case CMD_OP.CFGI_CD:
    case CMD_OP.CFGI_CD_ALL:
    case CMD_OP.TLBI_NH_ALL:
    case CMD_OP.TLBI_NH_ASID:
    case CMD_OP.TLBI_NH_VA:
    case CMD_OP.TLBI_NH_VAA:
      // §4.3.3, §4.3.4, §4.4.2: stage-1 commands need IDR0.S1P.
      return f.s1p ? undefined : 'no stage 1 (IDR0.S1P=0)';
    case CMD_OP.TLBI_S2_IPA:
    case CMD_OP.TLBI_S12_VMALL:
      // §4.4.3: stage-2 commands need IDR0.S2P.
      return f.s2p ? undefined : 'no stage 2 (IDR0.S2P=0)';
    case CMD_OP.TLBI_EL2_ALL:
    case CMD_OP.TLBI_EL2_ASID:
    case CMD_OP.TLBI_EL2_VA:
    case CMD_OP.TLBI_EL2_VAA:
      // §4.4.2.7–10: EL2 invalidations need IDR0.HYP.
      return f.hyp ? undefined : 'no EL2 support (IDR0.HYP=0)';
    case CMD_OP.TLBI_EL3_ALL:
    case CMD_OP.TLBI_EL3_VA:
      // §4.4.2: EL3 invalidations exist on the Secure queue only.
      return 'Secure-only opcode';
    case CMD_OP.ATC_INV:
      // §4.5.1.
      return f.ats ? undefined : 'no ATS (IDR0.ATS=0)';
    case CMD_OP.PRI_RESP:
      // §4.5.2.
      return f.pri ? undefined : 'no PRI (IDR0.PRI=0)';
    case CMD_OP.RESUME:
    case CMD_OP.STALL_TERM:
      // §4.7.1, §4.7.2: no stalls with the terminate-only model.
      return f.stallModel === 1 ? 'stalls not supported (IDR0.STALL_MODEL=0b01)' : undefined;
    case CMD_OP.CFGI_VMS_PIDM:
      // §4.3.5: only with MPAM.
      return f.mpam ? undefined : 'no MPAM (IDR3.MPAM=0)';
    case CMD_OP_UNMODELLED.DPTI_ALL:
    case CMD_OP_UNMODELLED.DPTI_PA:
      // §4.6: only with DPT.
      return ctx.dpt ? undefined : 'no DPT (IDR3.DPT=0)';
    default:
      // Everything else, including the Secure-only TLBIs and the opcodes of features this model
      // does not implement (CFGI_CIT, CFGI_VSTT*), is a reserved opcode here.
      return LAYOUTS.has(op) ? undefined : 'reserved opcode';
  }
}

/**
 * Checks a command. Returns undefined when it is valid, or the reason it is CERROR_ILL.
 * Commands that are IGNORED in some state (ATC_INV/PRI_RESP while SMMUEN=0) are valid here.
 */
export function checkCommand(w0: bigint, w1: bigint, ctx: CommandCheckContext): string | undefined {
  const op = Number(w0 & OPCODE_MASK);
  const gated = gate(op, ctx);
  if (gated) return gated;
  // The DPTI commands (with DPT) carry operands this model does not decode.
  const layout = LAYOUTS.get(op);
  if (!layout) return undefined;
  // §4.1.6: SSec=1 is illegal on the Non-secure Command queue, whether Secure state exists or not.
  if (layout.ssec && read(R.ssec, w0, w1) !== 0n) return 'SSec=1 on the Non-secure queue';
  if (op === CMD_OP.CMD_SYNC && read(R.cs, w0, w1) === 3n) return 'CMD_SYNC CS=0b11';
  if (op === CMD_OP.PRI_RESP && read(R.resp, w0, w1) === 3n) return 'PRI_RESP Resp=0b11';
  // CONSTRAINED UNPREDICTABLE: §4.5.1 — ATC_INV Size > 52 is CERROR_ILL or an UNKNOWN span; this
  // model chooses CERROR_ILL.
  if (op === CMD_OP.ATC_INV && read(R.atcSize, w0, w1) > 52n) return 'ATC_INV Size > 52';
  let w0Defined = layout.w0;
  let w1Defined = layout.w1;
  // §4.4.1.1: the range fields exist only with IDR3.RIL (else RES0).
  if (layout.range && ctx.features.ril) {
    // TG≠0 selects the range form, which must not have NUM = SCALE = TTL = 0; with DS = 0 a 16K
    // TTL of 0b01 reads as 0b00.
    const tg = read(R.tg, w0, w1);
    const ttl = read(R.ttl, w0, w1);
    const ttlEff = tg === 2n && ttl === 1n && !ctx.ds ? 0n : ttl;
    const scale = read(R.scale, w0, w1) & (ctx.ds ? 0x3fn : 0x1fn);
    if (tg !== 0n && read(R.num, w0, w1) === 0n && scale === 0n && ttlEff === 0n) {
      return 'range TLBI with NUM=SCALE=TTL=0';
    }
    w0Defined |= RANGE_W0 & ~(ctx.ds ? 0n : SCALE_DS_BIT);
    w1Defined |= RANGE_W1_TG_TTL;
    // TTL128 belongs to VMSAv9-128 (SMMUv3.4).
    if (ctx.features.minorRev >= 4) w1Defined |= TTL128_MASK;
  }
  // IMPDEF: §4.1.5 — a non-zero Reserved field may make a command CERROR_ILL or be ignored; the
  // `reservedFields` policy chooses (default 'ignore').
  if (ctx.reservedFields === 'illegal') {
    if ((w0 & ~(w0Defined | OPCODE_MASK) & U64_MAX) !== 0n) return 'non-zero Reserved field in W0';
    if ((w1 & ~w1Defined & U64_MAX) !== 0n) return 'non-zero Reserved field in W1';
  }
  return undefined;
}
