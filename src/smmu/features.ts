// SMMUv3 ID registers ↔ decoded features (IHI 0070 H.a §6.3 SMMU_IDR0–5 and
// SMMU_AIDR). Field positions come from the register tables of src/arch/regs.ts (also checked
// against QEMU hw/arm/smmuv3-internal.h and Linux arm-smmu-v3.h). The default register values
// are those QEMU 10.0.2's `virt` machine SMMU reports (formats.md §6, measured by the oracle work):
// nested stages, AArch64 tables, little-endian only, terminate-only stall model, 2-level stream
// table, 16-bit SID, 2^19-entry queues, 44-bit OAS, all three granules, SMMUv3.1.

import { getBits, setBits } from '../arch/bits.ts';
import { VsmmuError } from '../arch/errors.ts';
import { findField, type StructDef } from '../arch/fields.ts';
import * as R from '../arch/regs.ts';
import type { SmmuFeatures } from './types.ts';

/** Raw ID register values (each an unsigned 32-bit number). */
export interface IdRegisters {
  readonly idr0: number;
  readonly idr1: number;
  readonly idr2: number;
  readonly idr3: number;
  readonly idr4: number;
  readonly idr5: number;
  readonly aidr: number;
}

/** QEMU 10.0.2 `virt` SMMU ID registers (formats.md §6). */
export const QEMU_VIRT_IDRS: IdRegisters = {
  idr0: 0x0d44101b,
  idr1: 0x02730010,
  idr2: 0,
  idr3: 0x1414,
  idr4: 0,
  idr5: 0x74,
  aidr: 0x1,
};

/** QEMU 10.0.2 `virt` SMMU_GBPA reset value: SHCFG = use incoming, ABORT = 0 (bypass). */
export const QEMU_VIRT_GBPA_RESET = 0x1000;

/** IDR5.OAS encodings → output address size in bits (0b111 = 56 bits, SMMUv3.4). */
export const OAS_BITS: readonly number[] = [32, 36, 40, 42, 44, 48, 52, 56];

/** Largest architectural log2 queue size (IDR1.CMDQS/EVENTQS/PRIQS ≤ 19). */
export const MAX_QUEUE_LOG2 = 19;

type Reg = 'idr0' | 'idr1' | 'idr3' | 'idr5' | 'aidr';
type NumKey = {
  [K in keyof SmmuFeatures]: SmmuFeatures[K] extends number ? K : never;
}[keyof SmmuFeatures];
type BoolKey = {
  [K in keyof SmmuFeatures]: SmmuFeatures[K] extends boolean ? K : never;
}[keyof SmmuFeatures];

interface FeatureField {
  readonly key: NumKey | BoolKey;
  readonly reg: Reg;
  readonly hi: number;
  readonly lo: number;
  readonly bool: boolean;
}

const DEFS: Readonly<Record<Reg, StructDef>> = {
  idr0: R.IDR0,
  idr1: R.IDR1,
  idr3: R.IDR3,
  idr5: R.IDR5,
  aidr: R.AIDR,
};

/** A feature backed by the field `name` of a register table in src/arch/regs.ts. */
function ff(key: NumKey | BoolKey, reg: Reg, name: string, bool: boolean): FeatureField {
  const f = findField(DEFS[reg], name);
  return { key, reg, hi: f.hi, lo: f.lo, bool };
}
const b = (key: BoolKey, reg: Reg, name: string) => ff(key, reg, name, true);
const n = (key: NumKey, reg: Reg, name: string) => ff(key, reg, name, false);

/** Every feature that is a plain ID-register field (OAS and IAS are derived separately). */
export const FEATURE_FIELDS: readonly FeatureField[] = [
  b('s2p', 'idr0', 'S2P'),
  b('s1p', 'idr0', 'S1P'),
  n('ttf', 'idr0', 'TTF'),
  b('cohacc', 'idr0', 'COHACC'),
  n('httu', 'idr0', 'HTTU'),
  b('hyp', 'idr0', 'Hyp'),
  b('ats', 'idr0', 'ATS'),
  b('ns1ats', 'idr0', 'NS1ATS'),
  b('asid16', 'idr0', 'ASID16'),
  b('msi', 'idr0', 'MSI'),
  b('sev', 'idr0', 'SEV'),
  b('atos', 'idr0', 'ATOS'),
  b('pri', 'idr0', 'PRI'),
  b('vmw', 'idr0', 'VMW'),
  b('vmid16', 'idr0', 'VMID16'),
  b('cd2l', 'idr0', 'CD2L'),
  b('vatos', 'idr0', 'VATOS'),
  n('ttendian', 'idr0', 'TTENDIAN'),
  n('stallModel', 'idr0', 'STALL_MODEL'),
  b('termModel', 'idr0', 'TERM_MODEL'),
  n('stLevel', 'idr0', 'ST_LEVEL'),
  n('sidSize', 'idr1', 'SIDSIZE'),
  n('ssidSize', 'idr1', 'SSIDSIZE'),
  n('priqs', 'idr1', 'PRIQS'),
  n('eventqs', 'idr1', 'EVENTQS'),
  n('cmdqs', 'idr1', 'CMDQS'),
  b('attrPermsOvr', 'idr1', 'ATTR_PERMS_OVR'),
  b('attrTypesOvr', 'idr1', 'ATTR_TYPES_OVR'),
  b('rel', 'idr1', 'REL'),
  b('queuesPreset', 'idr1', 'QUEUES_PRESET'),
  b('tablesPreset', 'idr1', 'TABLES_PRESET'),
  b('had', 'idr3', 'HAD'),
  b('pbha', 'idr3', 'PBHA'),
  b('xnx', 'idr3', 'XNX'),
  b('pps', 'idr3', 'PPS'),
  b('mpam', 'idr3', 'MPAM'),
  b('fwb', 'idr3', 'FWB'),
  b('stt', 'idr3', 'STT'),
  b('ril', 'idr3', 'RIL'),
  n('bbml', 'idr3', 'BBML'),
  b('e0pd', 'idr3', 'E0PD'),
  b('gran4k', 'idr5', 'GRAN4K'),
  b('gran16k', 'idr5', 'GRAN16K'),
  b('gran64k', 'idr5', 'GRAN64K'),
  n('vax', 'idr5', 'VAX'),
  n('stallMax', 'idr5', 'STALL_MAX'),
  n('minorRev', 'aidr', 'ArchMinorRev'),
];

const OAS_FIELD = findField(R.IDR5, 'OAS');
const OAS_HI = OAS_FIELD.hi;
const OAS_LO = OAS_FIELD.lo;
const QS_FIELDS = (['CMDQS', 'EVENTQS', 'PRIQS'] as const).map((name) => ({
  name,
  f: findField(R.IDR1, name),
}));

/** IDR5.DS (SMMUv3.4 LPA2): 52-bit addresses with 4K/16K granules; not part of SmmuFeatures. */
export function idr5Ds(idr: IdRegisters): boolean {
  const f = findField(R.IDR5, 'DS');
  return getBits(BigInt(idr.idr5 >>> 0), f.hi, f.lo) === 1n;
}

/** IDR3.DPT (SMMUv3.3 Device Permission Table); not part of SmmuFeatures. */
export function idr3Dpt(idr: IdRegisters): boolean {
  const f = findField(R.IDR3, 'DPT');
  return getBits(BigInt(idr.idr3 >>> 0), f.hi, f.lo) === 1n;
}

function checkU32(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new VsmmuError('BAD_CONFIG', `${name} must be a u32, got ${String(v)}`);
  }
  return v;
}

/** Completes a partial set of raw ID registers with the QEMU `virt` defaults and checks them. */
export function completeIdrs(partial: Partial<IdRegisters> = {}): IdRegisters {
  const out = { ...QEMU_VIRT_IDRS, ...partial };
  for (const [k, v] of Object.entries(out)) checkU32(k, v);
  for (const { name, f } of QS_FIELDS) {
    const v = Number(getBits(BigInt(out.idr1), f.hi, f.lo));
    if (v > MAX_QUEUE_LOG2) {
      throw new VsmmuError('BAD_CONFIG', `IDR1.${name} ${v} exceeds the architectural maximum 19`);
    }
  }
  return out;
}

/** Decodes the ID registers once into the feature set the model consults (types.ts). */
export function decodeFeatures(idr: IdRegisters): SmmuFeatures {
  const out: Record<string, number | boolean> = {};
  for (const f of FEATURE_FIELDS) {
    const raw = Number(getBits(BigInt(idr[f.reg] >>> 0), f.hi, f.lo));
    out[f.key] = f.bool ? raw === 1 : raw;
  }
  const oasCode = Number(getBits(BigInt(idr.idr5 >>> 0), OAS_HI, OAS_LO));
  const oas = OAS_BITS[oasCode] as number;
  out['oas'] = oas;
  // IAS (§3.4): the stage-2 input size is OAS, widened to 40 bits when AArch32 tables (TTF[0]) are
  // supported because an AArch32 stage 2 takes a 40-bit IPA.
  const aarch32 = ((out['ttf'] as number) & 1) === 1;
  out['ias'] = aarch32 ? Math.max(oas, 40) : oas;
  return out as unknown as SmmuFeatures;
}

/**
 * Encodes features into ID registers: every field given in `features` is written over `base`
 * (default: the QEMU `virt` values); bits the feature set does not describe keep their base value.
 * `ias` is derived, so a given `ias` must equal what OAS and TTF imply.
 */
export function encodeIdrs(
  features: Partial<SmmuFeatures>,
  base: Partial<IdRegisters> = {},
): IdRegisters {
  const regs: Record<string, bigint> = {};
  const start = completeIdrs(base);
  for (const [k, v] of Object.entries(start)) regs[k] = BigInt(v);
  for (const f of FEATURE_FIELDS) {
    const v = features[f.key];
    if (v === undefined) continue;
    const raw = f.bool ? (v ? 1 : 0) : v;
    if (
      typeof raw !== 'number' ||
      !Number.isInteger(raw) ||
      raw < 0 ||
      raw >= 2 ** (f.hi - f.lo + 1)
    ) {
      throw new VsmmuError('BAD_CONFIG', `feature ${f.key}=${String(v)} does not fit its ID field`);
    }
    regs[f.reg] = setBits(regs[f.reg] as bigint, f.hi, f.lo, BigInt(raw));
  }
  if (features.oas !== undefined) {
    const code = OAS_BITS.indexOf(features.oas);
    if (code < 0) {
      throw new VsmmuError('BAD_CONFIG', `oas ${features.oas} is not an IDR5.OAS size`);
    }
    regs['idr5'] = setBits(regs['idr5'] as bigint, OAS_HI, OAS_LO, BigInt(code));
  }
  const out = completeIdrs({
    idr0: Number(regs['idr0']),
    idr1: Number(regs['idr1']),
    idr2: Number(regs['idr2']),
    idr3: Number(regs['idr3']),
    idr4: Number(regs['idr4']),
    idr5: Number(regs['idr5']),
    aidr: Number(regs['aidr']),
  });
  if (features.ias !== undefined && decodeFeatures(out).ias !== features.ias) {
    throw new VsmmuError(
      'BAD_CONFIG',
      `ias ${features.ias} is derived (OAS, or max(OAS, 40) with AArch32 tables) and cannot be set`,
    );
  }
  return out;
}
