// The vSMMU's ID registers (IHI 0070 H.a §6.3.1–§6.3.6 SMMU_IDR0–5, IIDR, AIDR), built the way a
// careful VMM builds them from IOMMU_GET_HW_INFO (include/uapi/linux/iommufd.h,
// struct iommu_hw_info_arm_smmuv3): the kernel returns the raw host registers unsanitised and
// documents that a VMM may read only ST_LEVEL, TERM_MODEL, STALL_MODEL, TTENDIAN, CD2L, ASID16,
// TTF (IDR0), SIDSIZE, SSIDSIZE (IDR1), BBML, RIL (IDR3), VAX, GRAN64K/16K/4K (IDR5); S1P is
// implied by nesting, COHACC is assumed, ATS is per device. Everything else the vSMMU advertises
// is the VMM's own choice about what it emulates (queues, interrupts, stream table formats, the
// StreamID plan, OAS), as in OpenVMM's fixed minimal set and QEMU's `accel=on` properties. Each
// field's origin is recorded so the docs and tests can show it (docs/vmm.md).

import { getBits } from '../arch/bits.ts';
import { VsmmuError } from '../arch/errors.ts';
import { encodeStruct, findField, type StructDef } from '../arch/fields.ts';
import * as R from '../arch/regs.ts';
import { decodeFeatures, type IdRegisters, OAS_BITS } from '../smmu/features.ts';
import type { SmmuFeatures } from '../smmu/types.ts';

/** The host SMMU's `iommu_hw_info_arm_smmuv3` payload (raw registers as the kernel read them). */
export interface HostSmmuInfo {
  /** idr[0..5]. */
  readonly idr: readonly number[];
  readonly iidr: number;
  readonly aidr: number;
}

/** The fields of `iommu_hw_info_arm_smmuv3` a VMM may consume (UAPI doc), by register. */
export const HOST_READABLE_FIELDS = {
  idr0: ['ST_LEVEL', 'TERM_MODEL', 'STALL_MODEL', 'TTENDIAN', 'CD2L', 'ASID16', 'TTF'],
  idr1: ['SIDSIZE', 'SSIDSIZE'],
  idr3: ['BBML', 'RIL'],
  idr5: ['VAX', 'GRAN64K', 'GRAN16K', 'GRAN4K'],
} as const;

type ReadableReg = keyof typeof HOST_READABLE_FIELDS;

const DEFS: Readonly<Record<ReadableReg, StructDef>> = {
  idr0: R.IDR0,
  idr1: R.IDR1,
  idr3: R.IDR3,
  idr5: R.IDR5,
};
const REG_INDEX: Readonly<Record<ReadableReg, number>> = { idr0: 0, idr1: 1, idr3: 3, idr5: 5 };

/**
 * Reads one whitelisted field of the host registers. Any other field is a compile error: the VMM
 * cannot read what the UAPI tells it not to.
 */
export function hostField<G extends ReadableReg>(
  host: HostSmmuInfo,
  reg: G,
  name: (typeof HOST_READABLE_FIELDS)[G][number],
): number {
  const f = findField(DEFS[reg], name);
  return Number(getBits(BigInt((host.idr[REG_INDEX[reg]] ?? 0) >>> 0), f.hi, f.lo));
}

/** What the VMM decides for its vSMMU (its own configuration, not the host's). */
export interface VidrPlan {
  /** The guest StreamIDs (vSIDs) behind this vSMMU. */
  readonly vsids: readonly number[];
  /** Minimum IDR1.SIDSIZE (default 16, what PCIe RequesterIDs need). */
  readonly sidBits?: number;
  /** Requested SubstreamID bits (default 0: no PASID); capped by the host's SSIDSIZE. */
  readonly ssidBits?: number;
  /** Output (guest IPA) size in bits advertised in IDR5.OAS (default 44, QEMU's default). */
  readonly oas?: number;
  /** log2 entries of the emulated command and event queues (default 8 each, as OpenVMM). */
  readonly cmdqLog2?: number;
  readonly eventqLog2?: number;
  /** Interrupt delivery the VMM emulates: MSIs into guest RAM (IDR0.MSI=1) or wired lines. */
  readonly irq?: 'msi' | 'wired';
  /** Emulate CMD_SYNC SEV wake-ups (IDR0.SEV). Default true. */
  readonly sev?: boolean;
  /** The VMM describes ATS-capable devices (IDR0.ATS). Default false. */
  readonly ats?: boolean;
  /** Advertise range invalidation when the host has it (IDR3.RIL). Default true. */
  readonly ril?: boolean;
  /** SMMU_IIDR the vSMMU reports (the VMM's own identification; default 0). */
  readonly iidr?: number;
}

/** Where an advertised field's value comes from. */
export type VidrOrigin = 'host' | 'vmm' | 'plan';

/** One advertised field with its origin and the reason. */
export interface VidrField {
  readonly reg: 'IDR0' | 'IDR1' | 'IDR2' | 'IDR3' | 'IDR4' | 'IDR5' | 'IIDR' | 'AIDR';
  readonly field: string;
  readonly value: number;
  readonly origin: VidrOrigin;
  readonly why: string;
}

/** The vSMMU's identification registers and their provenance. */
export interface Vidr {
  readonly idr: IdRegisters;
  readonly iidr: number;
  readonly features: SmmuFeatures;
  readonly fields: readonly VidrField[];
}

const VIDR_DEFS = {
  IDR0: R.IDR0,
  IDR1: R.IDR1,
  IDR3: R.IDR3,
  IDR5: R.IDR5,
  AIDR: R.AIDR,
} as const;

/** SMMUv3.2: the register behaviour the vSMMU emulates (forbidden writes IGNORED, RIL defined). */
export const VSMMU_AIDR_MINOR = 2;

function log2Ceil(n: number): number {
  let b = 0;
  while (2 ** b < n) b++;
  return b;
}

function fail(msg: string): never {
  throw new VsmmuError('BAD_CONFIG', msg);
}

/**
 * Builds the vIDRs from the host's hw_info and the VMM's plan. Throws VsmmuError('BAD_CONFIG')
 * when the host cannot back what the plan asks for (the device plug fails, as in QEMU).
 */
export function buildVidr(host: HostSmmuInfo, plan: VidrPlan): Vidr {
  const fields: VidrField[] = [];
  const put = (
    reg: VidrField['reg'],
    field: string,
    value: number,
    origin: VidrOrigin,
    why: string,
  ) => {
    fields.push({ reg, field, value, origin, why });
  };

  // ---- IDR0 ----
  put(
    'IDR0',
    'S2P',
    0,
    'vmm',
    'stage 2 belongs to the host (the nest parent); the guest sees stage 1 only',
  );
  put('IDR0', 'S1P', 1, 'vmm', 'implied by nesting: the VMM allocates nested (stage-1) HWPTs');
  const ttf = hostField(host, 'idr0', 'TTF');
  if ((ttf & 2) === 0) fail('host SMMU has no AArch64 translation tables (IDR0.TTF)');
  put(
    'IDR0',
    'TTF',
    2,
    'host',
    'AArch64 tables only (host TTF includes AArch64); AArch32 not offered',
  );
  put('IDR0', 'COHACC', 1, 'vmm', 'iommufd requires coherent SMMUs; the UAPI says to assume it');
  put(
    'IDR0',
    'ATS',
    plan.ats ? 1 : 0,
    'plan',
    'ATS is per device: set when the VMM describes ATS devices',
  );
  put(
    'IDR0',
    'ASID16',
    hostField(host, 'idr0', 'ASID16'),
    'host',
    'guest ASIDs reach the host CDs unchanged',
  );
  const irq = plan.irq ?? 'msi';
  put(
    'IDR0',
    'MSI',
    irq === 'msi' ? 1 : 0,
    'plan',
    'the VMM writes MSIs into guest RAM (or pulses wired lines)',
  );
  put(
    'IDR0',
    'SEV',
    plan.sev === false ? 0 : 1,
    'plan',
    'CMD_SYNC CS=SEV wakes the guest through a callback',
  );
  put(
    'IDR0',
    'CD2L',
    hostField(host, 'idr0', 'CD2L'),
    'host',
    'the host walks the guest CD tables',
  );
  put(
    'IDR0',
    'TTENDIAN',
    hostField(host, 'idr0', 'TTENDIAN'),
    'host',
    'the host walks the guest stage-1 tables',
  );
  const stall = hostField(host, 'idr0', 'STALL_MODEL');
  if (stall === 2)
    fail('host SMMU forces stalls (IDR0.STALL_MODEL=0b10); this VMM forwards no stalls');
  put(
    'IDR0',
    'STALL_MODEL',
    1,
    'vmm',
    'terminate only: stall faults go to the host fault path, never to the vEVENTQ',
  );
  put(
    'IDR0',
    'TERM_MODEL',
    hostField(host, 'idr0', 'TERM_MODEL'),
    'host',
    'CD.A rules are checked by the host hardware',
  );
  put(
    'IDR0',
    'ST_LEVEL',
    1,
    'vmm',
    'the VMM reads the guest stream table itself: linear and 2-level',
  );
  for (const [f, why] of [
    ['HTTU', 'not supported for nesting (UAPI)'],
    ['BTM', 'not supported for nesting (UAPI)'],
    ['Hyp', 'no EL2 StreamWorld for the guest'],
    ['PRI', 'no PRI queue emulated'],
    ['VMID16', 'no stage 2 in the guest'],
    ['ATOS', 'no ATOS registers emulated'],
  ] as const) {
    put('IDR0', f, 0, 'vmm', why);
  }

  // ---- IDR1 ----
  const vsids = plan.vsids;
  for (const s of vsids) {
    if (!Number.isInteger(s) || s < 0 || s >= 2 ** 32) fail(`vSID ${String(s)} is not a u32`);
  }
  const maxSid = vsids.length ? Math.max(...vsids) : 0;
  const sidBits = Math.max(plan.sidBits ?? 16, log2Ceil(maxSid + 1));
  if (sidBits > 32) fail(`SIDSIZE ${sidBits} exceeds 32`);
  put(
    'IDR1',
    'SIDSIZE',
    sidBits,
    'plan',
    'from the VMM StreamID plan (largest vSID, at least 16 bits)',
  );
  const hostSsid = hostField(host, 'idr1', 'SSIDSIZE');
  const ssid = Math.min(plan.ssidBits ?? 0, hostSsid);
  put(
    'IDR1',
    'SSIDSIZE',
    ssid,
    'plan',
    `requested ${plan.ssidBits ?? 0}, capped by the host SSIDSIZE ${hostSsid}`,
  );
  const cmdq = plan.cmdqLog2 ?? 8;
  const evtq = plan.eventqLog2 ?? 8;
  for (const [n, v] of [
    ['cmdqLog2', cmdq],
    ['eventqLog2', evtq],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 19) fail(`${n} ${String(v)} outside 0..19`);
  }
  put('IDR1', 'CMDQS', cmdq, 'plan', 'size of the emulated command queue');
  put('IDR1', 'EVENTQS', evtq, 'plan', 'size of the emulated event queue');
  put('IDR1', 'PRIQS', 0, 'vmm', 'no PRI queue');
  put('IDR1', 'ATTR_TYPES_OVR', 0, 'vmm', 'the kernel refuses SHCFG/MTCFG in a vSTE');
  put('IDR1', 'ATTR_PERMS_OVR', 0, 'vmm', 'the kernel refuses PRIVCFG/INSTCFG in a vSTE');
  put('IDR1', 'TABLES_PRESET', 0, 'vmm', 'the guest places its stream table');
  put('IDR1', 'QUEUES_PRESET', 0, 'vmm', 'the guest places its queues');

  // ---- IDR3 ----
  const ril = plan.ril === false ? 0 : hostField(host, 'idr3', 'RIL');
  put('IDR3', 'RIL', ril, 'host', 'range TLBIs are forwarded to the host, so only if it has them');
  put(
    'IDR3',
    'BBML',
    hostField(host, 'idr3', 'BBML'),
    'host',
    'break-before-make level of the host walker',
  );

  // ---- IDR5 ----
  const oas = plan.oas ?? 44;
  const oasCode = OAS_BITS.indexOf(oas);
  if (oasCode < 0 || oas > 52) fail(`oas ${oas} is not an IDR5.OAS size up to 52 bits`);
  put(
    'IDR5',
    'OAS',
    oasCode,
    'plan',
    `${oas}-bit guest IPA space (checked against the IOAS IOVA range)`,
  );
  put(
    'IDR5',
    'VAX',
    hostField(host, 'idr5', 'VAX'),
    'host',
    'stage-1 VA size the host walker supports',
  );
  for (const g of ['GRAN4K', 'GRAN16K', 'GRAN64K'] as const) {
    put('IDR5', g, hostField(host, 'idr5', g), 'host', 'stage-1 granules the host walker supports');
  }
  if (
    hostField(host, 'idr5', 'GRAN4K') === 0 &&
    hostField(host, 'idr5', 'GRAN16K') === 0 &&
    hostField(host, 'idr5', 'GRAN64K') === 0
  ) {
    fail('host SMMU reports no translation granule');
  }
  put('IDR5', 'STALL_MAX', 0, 'vmm', 'no stalls');

  // ---- identification ----
  const iidr = (plan.iidr ?? 0) >>> 0;
  put(
    'IIDR',
    'IIDR',
    iidr,
    'plan',
    "the VMM's own implementation ID (host IIDR is not passed through)",
  );
  put(
    'AIDR',
    'ArchMinorRev',
    VSMMU_AIDR_MINOR,
    'vmm',
    'the register behaviour emulated is SMMUv3.2',
  );

  const regOf = (reg: keyof typeof VIDR_DEFS): number => {
    const vals: Record<string, number> = {};
    for (const f of fields) if (f.reg === reg) vals[f.field] = f.value;
    return Number(encodeStruct(VIDR_DEFS[reg], vals)[0] ?? 0n);
  };
  const idr: IdRegisters = {
    idr0: regOf('IDR0'),
    idr1: regOf('IDR1'),
    idr2: 0,
    idr3: regOf('IDR3'),
    idr4: 0,
    idr5: regOf('IDR5'),
    aidr: regOf('AIDR'),
  };
  return { idr, iidr, features: decodeFeatures(idr), fields };
}

/**
 * Whether two hosts' readable fields agree (every device behind one vSMMU must report the same
 * SMMU, as OpenVMM requires); returns the first differing field or undefined.
 */
export function hostMismatch(a: HostSmmuInfo, b: HostSmmuInfo): string | undefined {
  for (const [reg, names] of Object.entries(HOST_READABLE_FIELDS) as [
    ReadableReg,
    readonly string[],
  ][]) {
    for (const n of names) {
      const x = hostField(a, reg, n as never);
      const y = hostField(b, reg, n as never);
      if (x !== y) return `${reg.toUpperCase()}.${n} ${x} vs ${y}`;
    }
  }
  return undefined;
}
