// A guest kernel's SMMUv3 driver, modelled on Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
// (v6.18) and the iommu core parts it relies on (drivers/iommu/iommu.c __iommu_unmap with its
// iotlb gather). It sees only guest RAM (tables, queues, io-pgtables live there) and the SMMU's
// MMIO register pages, like real guest code; the same driver runs bare metal against the SMMU
// hardware model or against a VMM's vSMMU.
//
// What it does, in Linux's order (Arm IHI 0070 H.a sections in brackets):
//  - probe (arm_smmu_device_hw_probe): ID registers → features, IAS/OAS, ASID/VMID/SID/SSID widths,
//    queue sizes, 2-level stream table when SIDSIZE needs it [§6.3];
//  - init structures: command/event/PRI queues and the stream table (linear or 2-level) in guest
//    RAM [§3.3, §3.5];
//  - reset (arm_smmu_device_reset): GBPA abort if SMMUEN was on, CR0 off, CR1/CR2, STRTAB_BASE(_CFG),
//    CMDQ on, CFGI_ALL + TLBI_EL2_ALL (HYP) + TLBI_NSNH_ALL with CMD_SYNC, EVTQ/PRIQ on, ATSCHK,
//    IRQ_CTRL (wired or MSI), SMMUEN — every CR0/IRQ_CTRL write acknowledged through its ACK
//    register [§6.3 CR0/CR0ACK, GBPA, IRQ_CTRL];
//  - command submission (arm_smmu_cmdq_issue_cmdlist, single producer): entries written to guest
//    RAM with wrap, PROD written, CMD_SYNC completion polled through CONS (or the MSI write-back
//    into the CMD_SYNC entry); CERROR handling from the GERROR handler (arm_smmu_cmdq_skip_err:
//    read CMDQ_CONS.ERR, log, turn the bad command into a CMD_SYNC, ack GERRORN) [§4.7.3, §7.1];
//  - masters, stream table L2 allocation, CD tables (linear or 2-level), PASIDs;
//  - paging domains (stage 1 with an ASID, or stage 2 with a VMID when only S2 exists), io-pgtable
//    map/unmap with the iommu core's TLB gather, TLBI_NH_VA / TLBI_S2_IPA (range form with RIL) +
//    CMD_SYNC, ATC_INV for ATS masters [§4.4];
//  - attach / identity / blocked (STE and CD written with the hitless entry writer, CFGI + SYNC) and
//    hot-unplug (release_device: back to an abort STE);
//  - event queue and PRI queue threads (decode, log, overflow) and the GERROR handler [§7.2–§7.5].
// Two deliberate bugs can be switched on (options.bugs) for the stale-TLB sanitizer to catch:
// forgetting the TLB invalidation on unmap, and invalidating the wrong ASID/VMID.

import { hex, hex64 } from '../arch/bits.ts';
import { CMD_OP, commandName } from '../arch/cmd.ts';
import { ERRNO } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import { decodeEvent, EVT_ID, PRIQ_RECORD } from '../arch/evt.ts';
import * as R from '../arch/regs.ts';
import { STE_CFG, STE_EATS, STE_S1DSS, STE_S1FMT } from '../arch/ste.ts';
import type { EventRecord } from '../arch/trace.ts';
import { IOMMU_PROT, IoPgtable, type TlbOp } from '../pgtable/builder.ts';
import { buildCmd, type CmdEnt, PRI_RESP, type TlbiRange } from './commands.ts';
import { fieldSlots, get, put, reg32, regBits } from './encode.ts';
import {
  type CdTableRef,
  cdUsed,
  ENTRY_QWORDS,
  type EntryUpdate,
  makeAbortSte,
  makeBypassSte,
  makeCdtableSte,
  makeL1Cd,
  makeL1Std,
  makeS1Cd,
  makeS2DomainSte,
  type SteContext,
  steConfig,
  steEats,
  steUpdateSafe,
  steUsed,
  writeEntry,
} from './entries.ts';
import type { GuestRam } from './guest-ram.ts';
import type { SmmuMmio } from './mmio.ts';
import { LlQueue } from './queue.ts';

export { IOMMU_PROT } from '../pgtable/builder.ts';

const { EINVAL, ENOMEM, ENXIO, EBUSY, ERANGE, ENODEV, ETIMEDOUT, EOPNOTSUPP } = ERRNO;

/** Register offsets (page 1 registers include the 64 KiB page offset). */
const REG = R.SMMU_REG_OFFSET;

// Register fields, looked up in the arch tables once.
const F0 = fieldSlots(R.IDR0, [
  'S2P',
  'S1P',
  'TTF',
  'COHACC',
  'HTTU',
  'Hyp',
  'ATS',
  'ASID16',
  'MSI',
  'SEV',
  'PRI',
  'VMID16',
  'CD2L',
  'TTENDIAN',
  'STALL_MODEL',
  'ST_LEVEL',
]);
const F1 = fieldSlots(R.IDR1, [
  'SIDSIZE',
  'SSIDSIZE',
  'PRIQS',
  'EVENTQS',
  'CMDQS',
  'ATTR_TYPES_OVR',
  'REL',
  'QUEUES_PRESET',
  'TABLES_PRESET',
]);
const F3 = fieldSlots(R.IDR3, ['FWB', 'RIL', 'BBML']);
const F5 = fieldSlots(R.IDR5, ['OAS', 'GRAN4K', 'GRAN16K', 'GRAN64K', 'VAX', 'STALL_MAX']);
const FI = fieldSlots(R.IIDR, ['Implementer', 'Revision', 'Variant', 'ProductID']);
const FCR0 = fieldSlots(R.CR0, ['SMMUEN', 'PRIQEN', 'EVENTQEN', 'CMDQEN', 'ATSCHK']);
const FCR1 = fieldSlots(R.CR1, [
  'QUEUE_IC',
  'QUEUE_OC',
  'QUEUE_SH',
  'TABLE_IC',
  'TABLE_OC',
  'TABLE_SH',
]);
const FCR2 = fieldSlots(R.CR2, ['E2H', 'RECINVSID', 'PTM']);
const FGBPA = fieldSlots(R.GBPA, ['ABORT', 'Update']);
const FIRQ = fieldSlots(R.IRQ_CTRL, ['GERROR_IRQEN', 'PRIQ_IRQEN', 'EVENTQ_IRQEN']);
const FGE = fieldSlots(R.GERROR, [
  'CMDQ_ERR',
  'EVENTQ_ABT_ERR',
  'PRIQ_ABT_ERR',
  'MSI_CMDQ_ABT_ERR',
  'MSI_EVENTQ_ABT_ERR',
  'MSI_PRIQ_ABT_ERR',
  'MSI_GERROR_ABT_ERR',
  'SFM_ERR',
]);
const FST = fieldSlots(R.STRTAB_BASE, ['ADDR', 'RA']);
const FSTC = fieldSlots(R.STRTAB_BASE_CFG, ['LOG2SIZE', 'SPLIT', 'FMT']);
const FCQB = fieldSlots(R.CMDQ_BASE, ['LOG2SIZE', 'ADDR', 'RA']);
const FEQB = fieldSlots(R.EVENTQ_BASE, ['LOG2SIZE', 'ADDR', 'WA']);
const FCC = fieldSlots(R.CMDQ_CONS, ['ERR']);
const FMSI = fieldSlots(R.GERROR_IRQ_CFG0, ['ADDR']);
const FMSI2 = fieldSlots(R.GERROR_IRQ_CFG2, ['MemAttr']);
const FPRI = fieldSlots(PRIQ_RECORD, [
  'StreamID',
  'SubstreamID',
  'Priv',
  'X',
  'R',
  'W',
  'Last',
  'SSV',
  'PRGIndex',
  'PageAddr',
]);

/** C's `%#x`: `0` for zero, else `0x…` (how Linux prints event fields). */
function hashX(v: bigint | number): string {
  return v === 0 || v === 0n ? '0' : hex(v);
}

/** Linux constants of the driver (arm-smmu-v3.h). */
export const LINUX = {
  /** STRTAB_SPLIT: StreamID bits resolved by a level-2 stream table. */
  STRTAB_SPLIT: 8,
  /** STRTAB_MAX_L1_ENTRIES. */
  STRTAB_MAX_L1_ENTRIES: 1 << 17,
  /** CTXDESC_L2_ENTRIES: CDs per level-2 CD table (64 KiB leaves). */
  CTXDESC_L2_ENTRIES: 1024,
  /** CTXDESC_LINEAR_CDMAX: log2(64 KiB / 64 B). */
  CTXDESC_LINEAR_CDMAX: 10,
  /** CMDQ_BATCH_ENTRIES (BITS_PER_LONG). */
  CMDQ_BATCH_ENTRIES: 64,
  /** CMDQ_TLBI_RANGE_NUM_MAX. */
  TLBI_RANGE_NUM_MAX: 31,
  /** ATC_INV_SIZE_ALL. */
  ATC_INV_SIZE_ALL: 52,
  /** IOMMU_NO_PASID. */
  NO_PASID: 0,
  /** ARM_SMMU_MEMATTR_DEVICE_nGnRE for MSI writes. */
  MEMATTR_DEVICE_NGNRE: 0x1,
  /** CR1 cacheability "write-back" and shareability "inner shareable". */
  CR1_CACHE_WB: 1,
  SH_ISH: 3,
  /** IIDR values behind Linux's errata workarounds. */
  IIDR_IMPLEMENTER_ARM: 0x43b,
  IIDR_PRODUCTID_ARM_MMU_600: 0x483,
  IIDR_PRODUCTID_ARM_MMU_700: 0x487,
} as const;

/** Linux's ARM_SMMU_FEAT_* bit numbers (for the probe's "features 0x%08x" line). */
export const FEAT = {
  TWO_LVL_STRTAB: 1 << 0,
  TWO_LVL_CDTAB: 1 << 1,
  TT_LE: 1 << 2,
  TT_BE: 1 << 3,
  PRI: 1 << 4,
  ATS: 1 << 5,
  SEV: 1 << 6,
  MSI: 1 << 7,
  COHERENCY: 1 << 8,
  TRANS_S1: 1 << 9,
  TRANS_S2: 1 << 10,
  STALLS: 1 << 11,
  HYP: 1 << 12,
  STALL_FORCE: 1 << 13,
  VAX: 1 << 14,
  RANGE_INV: 1 << 15,
  BTM: 1 << 16,
  SVA: 1 << 17,
  E2H: 1 << 18,
  NESTING: 1 << 19,
  ATTR_TYPES_OVR: 1 << 20,
  HA: 1 << 21,
  HD: 1 << 22,
  S2FWB: 1 << 23,
  BBML2: 1 << 24,
  HAFT: 1 << 25,
} as const;

/** Interrupt sources of the SMMU as the driver knows them. */
export type GuestIrqLine = 'evtq' | 'priq' | 'cmdq-sync' | 'gerror';

/** The two planted driver bugs the stale-TLB sanitizer must catch (issue 6 item 6). */
export interface GuestBugs {
  /** Unmap clears the PTEs but issues no TLB invalidation (nor CMD_SYNC). */
  forgetTlbiOnUnmap: boolean;
  /** Unmap invalidates ASID+1 (stage 1) or VMID+1 (stage 2) instead of the domain's own. */
  invalidateWrongAsid: boolean;
}

/** Options of the guest driver. Defaults mirror Linux on a device-tree arm64 guest. */
export interface GuestDriverOptions {
  /**
   * Device name in log lines, which read like dmesg: `arm-smmu-v3 <name>: <message>` (default
   * `9050000.smmuv3`, the SMMU of QEMU's `virt` machine probed from the device tree).
   */
  readonly name?: string;
  /** Firmware `dma-coherent` (default: IDR0.COHACC). */
  readonly coherent?: boolean;
  /**
   * How interrupts reach the driver: 'wired' — only through `interrupt(line)` (the harness wires
   * the SMMU's IRQ outputs or MSIs to it); 'polled' (default) — at poll points the driver also
   * reads GERROR itself, and events are read when `processEvents()` is called.
   */
  readonly interrupts?: 'wired' | 'polled';
  /**
   * Guest-physical address of an MSI doorbell. With IDR0.MSI = 1 the driver programs the EVTQ,
   * GERROR and PRIQ IRQ_CFG registers with it (data 0, 1, 2; see `msiLine`); without it Linux
   * falls back to wired interrupts.
   */
  readonly msiDoorbell?: number;
  /** Module parameter disable_msipolling (default false). */
  readonly disableMsiPolling?: boolean;
  /** ARM_SMMU_OPT_SKIP_PREFETCH (default false: a CMD_PREFETCH_CONFIG follows each STE write). */
  readonly skipPrefetch?: boolean;
  /** MAX_PAGE_ORDER of the guest kernel (queues are at most 2^(12+order) bytes; default 10). */
  readonly maxPageOrder?: number;
  /** The guest kernel's VA_BITS (caps the stage-1 input size; default 48). */
  readonly vaBits?: number;
  /** The guest CPU's PAGE_SIZE (io-pgtable granule choice; default 4096). */
  readonly cpuPageSize?: number;
  /** Poll iterations before a timeout (ARM_SMMU_POLL_TIMEOUT_US; default 1000). */
  readonly pollLimit?: number;
  /** What a newly added master is attached to (default 'blocked': the abort STE of init). */
  readonly defaultDomain?: 'blocked' | 'identity';
  /** Planted bugs (default none). */
  readonly bugs?: Partial<GuestBugs>;
  /** Maximum number of log lines kept (default 4096). */
  readonly logLimit?: number;
}

/** What the driver needs from its world. */
export interface GuestDriverEnv {
  readonly mmio: SmmuMmio;
  readonly ram: GuestRam;
  /** Receives every kernel log line (dev_err/dev_warn/dev_info), e.g. to print them. */
  readonly log?: (line: string) => void;
  /** cpu_relax() inside polling loops: lets asynchronous hardware (a VMM thread) make progress. */
  readonly relax?: () => void;
}

/** Features and sizes the driver derived at probe (struct arm_smmu_device). */
export interface GuestSmmuFeatures {
  /** ARM_SMMU_FEAT_* bit mask. */
  readonly mask: number;
  readonly stage1: boolean;
  readonly stage2: boolean;
  readonly twoLevelStrtab: boolean;
  readonly twoLevelCdtab: boolean;
  readonly rangeInv: boolean;
  readonly msi: boolean;
  readonly msiPoll: boolean;
  readonly sev: boolean;
  readonly ats: boolean;
  readonly pri: boolean;
  readonly hyp: boolean;
  readonly e2h: boolean;
  readonly coherent: boolean;
  readonly stalls: boolean;
  readonly stallForce: boolean;
  readonly attrTypesOvr: boolean;
  readonly s2fwb: boolean;
  readonly vax: boolean;
  readonly nesting: boolean;
  readonly asidBits: number;
  readonly vmidBits: number;
  readonly sidBits: number;
  readonly ssidBits: number;
  readonly ias: number;
  readonly oas: number;
  /** Page sizes the SMMU supports (bit n = 2^n bytes). */
  readonly pgsizeBitmap: number;
  readonly cmdqShift: number;
  readonly evtqShift: number;
  readonly priqShift: number;
  readonly maxStalls: number;
}

/** A device as firmware describes it to the driver (fwspec + PCI capabilities). */
export interface GuestDeviceSpec {
  readonly name: string;
  /** StreamIDs of the device (fwspec ids). */
  readonly sids: readonly number[];
  /** PCI ATS capability. */
  readonly ats?: boolean;
  /** PCI PASID width (`pasid-num-bits`; 0 = no PASID). */
  readonly pasidBits?: number;
  /** Firmware `dma-can-stall`. */
  readonly dmaCanStall?: boolean;
}

/** A master's CD table (struct arm_smmu_ctx_desc_cfg). */
interface CdTable extends CdTableRef {
  readonly l1Ents: number;
  /** Level-2 tables by L1 index (two-level format). */
  readonly l2: (number | undefined)[];
  bytes: number;
}

/** A device the driver manages (struct arm_smmu_master). */
export class GuestMaster {
  readonly name: string;
  readonly sids: readonly number[];
  readonly atsSupported: boolean;
  /** master->ssid_bits. */
  readonly ssidBits: number;
  readonly stallEnabled: boolean;
  /** What the RID is attached to. */
  domain: GuestDomain | 'identity' | 'blocked';
  atsEnabled = false;
  /** PASID attachments (SSID ≥ 1). */
  readonly pasids = new Map<number, GuestDomain>();
  /** @internal */
  cdTable: CdTable | undefined;
  /** @internal cd_table.in_ste. */
  cdTableInSte = false;
  /** @internal ste_ats_enabled. */
  steAtsEnabled = false;
  /** @internal cd_table.used_ssids. */
  usedSsids = 0;
  /** False once removed (hot-unplugged). */
  present = true;

  constructor(spec: GuestDeviceSpec, ssidBits: number, stallEnabled: boolean, atsOk: boolean) {
    this.name = spec.name;
    this.sids = [...spec.sids];
    this.atsSupported = atsOk;
    this.ssidBits = ssidBits;
    this.stallEnabled = stallEnabled;
    this.domain = 'blocked';
  }
}

/** One (master, SSID) a domain is attached to (struct arm_smmu_master_domain). */
interface MasterDomain {
  readonly master: GuestMaster;
  readonly ssid: number;
}

/** A paging domain (struct arm_smmu_domain). */
export class GuestDomain {
  /** ARM_SMMU_DOMAIN_S1 or _S2. */
  readonly stage: 1 | 2;
  /** Stage-1 ASID (0 for stage 2). */
  readonly asid: number;
  /** Stage-2 VMID (0 for stage 1). */
  readonly vmid: number;
  readonly pgtable: IoPgtable;
  /** domain->pgsize_bitmap after io-pgtable restriction. */
  readonly pgsizeBitmap: number;
  /** Last IOVA of the aperture. */
  readonly apertureEnd: number;
  /** @internal */
  readonly devices: MasterDomain[] = [];
  /** @internal */
  nrAtsMasters = 0;
  /** @internal the iommu core's TLB gather of the unmap in progress. */
  gather: Gather | undefined;
  freed = false;

  constructor(stage: 1 | 2, asid: number, vmid: number, pgtable: IoPgtable) {
    this.stage = stage;
    this.asid = asid;
    this.vmid = vmid;
    this.pgtable = pgtable;
    this.pgsizeBitmap = pgtable.pgsizeBitmap;
    this.apertureEnd = 2 ** pgtable.ias - 1;
  }
}

/** struct iommu_iotlb_gather. */
interface Gather {
  start: number;
  end: number;
  pgsize: number;
}

/** An event the driver read from the event queue. */
export interface GuestEvent {
  readonly record: EventRecord;
  readonly sid: number;
  /** SubstreamID when SSV = 1. */
  readonly ssid: number | undefined;
  /** Name of the master owning the StreamID, if any. */
  readonly client: string | undefined;
}

/** Cost and behaviour counters of the driver. */
export interface GuestDriverStats {
  /** Commands written to the command queue, by name. */
  readonly commands: Record<string, number>;
  /** Calls to the command-list issue routine. */
  cmdLists: number;
  syncs: number;
  syncTimeouts: number;
  events: number;
  eventOverflows: number;
  gerrors: number;
  commandErrors: number;
  steWrites: number;
  cdWrites: number;
  maps: number;
  unmaps: number;
  /** Poll iterations that found the hardware not done yet. */
  polls: number;
}

const NO_PASID = LINUX.NO_PASID;

/** Whether a driver call returned an error (a negative errno) instead of an object. */
export function isErr<T>(x: T | number): x is number {
  return typeof x === 'number';
}

/** __ffs for a positive integer below 2^53. */
function ffs(x: number): number {
  for (let b = 0; b < 53; b++) if (Math.floor(x / 2 ** b) % 2 === 1) return b;
  return -1;
}

/** fls_long (1-based index of the most significant set bit; 0 for 0). */
function fls(x: number): number {
  let n = 0;
  while (x >= 1) {
    x = Math.floor(x / 2);
    n++;
  }
  return n;
}

/** Exclusive-or of two non-negative integers below 2^53. */
function xor53(a: number, b: number): number {
  const hi = (Math.floor(a / 2 ** 32) ^ Math.floor(b / 2 ** 32)) >>> 0;
  const lo = ((a >>> 0) ^ (b >>> 0)) >>> 0;
  return hi * 2 ** 32 + lo;
}

function toAddrArg(name: string, v: number | bigint): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof v === 'bigint' ? v < 0n || v >= 1n << 53n : !Number.isSafeInteger(v) || v < 0) {
    throw new VsmmuError('OUT_OF_RANGE', `${name} ${String(v)} is not an address below 2^53`);
  }
  return n;
}

/** The Linux-like guest SMMUv3 driver. */
export class GuestArmSmmuV3 {
  readonly name: string;
  readonly stats: GuestDriverStats = {
    commands: {},
    cmdLists: 0,
    syncs: 0,
    syncTimeouts: 0,
    events: 0,
    eventOverflows: 0,
    gerrors: 0,
    commandErrors: 0,
    steWrites: 0,
    cdWrites: 0,
    maps: 0,
    unmaps: 0,
    polls: 0,
  };
  /** Kernel log lines, oldest first (bounded by `logLimit`). */
  readonly messages: string[] = [];
  /** Planted bugs; may be switched at run time. */
  readonly bugs: GuestBugs;
  /** Events read so far (see `eventsSince`). */
  readonly events: GuestEvent[] = [];
  /** Page requests read from the PRI queue (raw words). */
  readonly pageRequests: (readonly [bigint, bigint])[] = [];

  private readonly mmio: SmmuMmio;
  private readonly ram: GuestRam;
  private readonly opts: GuestDriverOptions;
  private readonly logSink: ((line: string) => void) | undefined;
  private readonly relaxFn: (() => void) | undefined;
  private readonly pollLimit: number;
  private readonly logLimit: number;
  private feat: GuestSmmuFeatures | undefined;
  private cmdq: LlQueue | undefined;
  private evtq: LlQueue | undefined;
  private priq: LlQueue | undefined;
  private strtab:
    | { kind: 'linear'; pa: number; numEnts: number }
    | { kind: '2lvl'; pa: number; numL1Ents: number; l2: (number | undefined)[] }
    | undefined;
  private readonly streams = new Map<number, GuestMaster>();
  private readonly asids = new Set<number>();
  private readonly vmids = new Set<number>();
  private readonly pending = new Set<GuestIrqLine>();
  private readonly cmdNames = new Map<number, string>();
  private depth = 0;
  private inIrq = false;
  private probed = false;

  constructor(env: GuestDriverEnv, opts: GuestDriverOptions = {}) {
    this.mmio = env.mmio;
    this.ram = env.ram;
    this.logSink = env.log;
    this.relaxFn = env.relax;
    this.opts = opts;
    this.name = opts.name ?? '9050000.smmuv3';
    this.pollLimit = opts.pollLimit ?? 1000;
    this.logLimit = opts.logLimit ?? 4096;
    if (!Number.isInteger(this.pollLimit) || this.pollLimit < 1) {
      throw new VsmmuError('BAD_CONFIG', 'pollLimit must be a positive integer');
    }
    this.bugs = {
      forgetTlbiOnUnmap: opts.bugs?.forgetTlbiOnUnmap ?? false,
      invalidateWrongAsid: opts.bugs?.invalidateWrongAsid ?? false,
    };
  }

  /** Features picked at probe (throws before a successful probe). */
  get features(): GuestSmmuFeatures {
    if (!this.feat) throw new VsmmuError('BAD_STATE', 'the driver has not probed the SMMU');
    return this.feat;
  }

  /** Whether probe() succeeded. */
  get ready(): boolean {
    return this.probed;
  }

  /** Guest-physical layout of the driver's structures (for tests, traces and VMMs). */
  get layout(): {
    readonly strtab: number;
    readonly strtabFormat: 'linear' | '2lvl';
    readonly cmdq: number;
    readonly evtq: number;
    readonly priq: number | undefined;
  } {
    const st = this.strtab;
    if (!st || !this.cmdq || !this.evtq) {
      throw new VsmmuError('BAD_STATE', 'the driver has not probed the SMMU');
    }
    return {
      strtab: st.pa,
      strtabFormat: st.kind,
      cmdq: this.cmdq.base,
      evtq: this.evtq.base,
      priq: this.priq?.base,
    };
  }

  // ----------------------------------------------------------------------------------------------
  // Logging and interrupts

  /** dev_err/dev_warn/dev_info: "<driver> <device>: <message>" (the level is not in the text). */
  private log(_level: 'err' | 'warn' | 'info', msg: string): void {
    const line = `arm-smmu-v3 ${this.name}: ${msg}`;
    this.messages.push(line);
    if (this.messages.length > this.logLimit)
      this.messages.splice(0, this.messages.length - this.logLimit);
    this.logSink?.(line);
  }

  /**
   * An interrupt from the SMMU (wired line or MSI). Handled at once when the driver is idle, else
   * at its next poll point or when the current operation finishes — as an interrupt would be.
   */
  interrupt(line: GuestIrqLine): void {
    this.pending.add(line);
    if (this.depth === 0) this.serviceInterrupts();
  }

  /** Maps MSI data programmed by the driver back to its interrupt source. */
  msiLine(data: number): GuestIrqLine | undefined {
    return data === 0 ? 'evtq' : data === 1 ? 'gerror' : data === 2 ? 'priq' : undefined;
  }

  private enter(): void {
    this.depth++;
  }

  private leave(): void {
    this.depth--;
    if (this.depth === 0 && this.pending.size > 0) this.serviceInterrupts();
  }

  private serviceInterrupts(): void {
    if (this.inIrq || !this.probed) return;
    this.inIrq = true;
    try {
      while (this.pending.size > 0) {
        const line = this.pending.values().next().value as GuestIrqLine;
        this.pending.delete(line);
        if (line === 'gerror') this.gerrorHandler();
        else if (line === 'evtq') this.evtqThread();
        else if (line === 'priq') this.priqThread();
      }
    } finally {
      this.inIrq = false;
    }
  }

  /** One iteration of a polling loop: cpu_relax(), and whatever interrupt would arrive meanwhile. */
  private pollPoint(): void {
    this.stats.polls++;
    this.relaxFn?.();
    if ((this.opts.interrupts ?? 'polled') === 'polled' && this.probed && !this.inIrq) {
      const active = (this.mmio.read32(REG.GERROR) ^ this.mmio.read32(REG.GERRORN)) >>> 0;
      if (active) this.pending.add('gerror');
    }
    if (this.pending.size > 0) this.serviceInterrupts();
  }

  // ----------------------------------------------------------------------------------------------
  // Probe

  /**
   * arm_smmu_device_probe: hardware probe, in-memory structures, reset. Returns 0 or a negative
   * errno (-ENXIO unsupported hardware, -ENOMEM out of guest memory, -ETIMEDOUT no ACK).
   */
  probe(): number {
    if (this.probed) return -EBUSY;
    this.enter();
    try {
      let ret = this.hwProbe();
      if (ret) return ret;
      ret = this.initStructures();
      if (ret) return ret;
      ret = this.deviceReset();
      if (ret) {
        this.deviceDisable();
        return ret;
      }
      this.probed = true;
      return 0;
    } finally {
      this.leave();
    }
  }

  private hwProbe(): number {
    const coherentFw = this.opts.coherent;
    const idr0 = this.mmio.read32(REG.IDR0);
    let mask = 0;
    const coherent = coherentFw ?? reg32(idr0, F0.COHACC) === 1;
    if (coherent) mask |= FEAT.COHERENCY;
    // 2-level structures.
    if (reg32(idr0, F0.ST_LEVEL) === 1) mask |= FEAT.TWO_LVL_STRTAB;
    if (reg32(idr0, F0.CD2L)) mask |= FEAT.TWO_LVL_CDTAB;
    // Translation table endianness: the guest is little-endian.
    switch (reg32(idr0, F0.TTENDIAN)) {
      case 0:
        mask |= FEAT.TT_LE | FEAT.TT_BE;
        break;
      case 2:
        mask |= FEAT.TT_LE;
        break;
      default:
        this.log('err', 'unknown/unsupported TT endianness!');
        return -ENXIO;
    }
    if (reg32(idr0, F0.PRI)) mask |= FEAT.PRI;
    if (reg32(idr0, F0.ATS)) mask |= FEAT.ATS;
    if (reg32(idr0, F0.SEV)) mask |= FEAT.SEV;
    let msiPoll = false;
    if (reg32(idr0, F0.MSI)) {
      mask |= FEAT.MSI;
      if (coherent && !this.opts.disableMsiPolling) msiPoll = true;
    }
    // A guest kernel runs at EL1: no VHE, so no E2H even when the SMMU has Hyp.
    if (reg32(idr0, F0.Hyp)) mask |= FEAT.HYP;
    // Device-tree probe: IDR0.HTTU is taken as is.
    const httu = reg32(idr0, F0.HTTU);
    if (httu >= 3) mask |= FEAT.HAFT;
    if (httu >= 2) mask |= FEAT.HD;
    if (httu >= 1) mask |= FEAT.HA;
    if ((reg32(idr0, F0.COHACC) === 1) !== coherent) {
      this.log('warn', `IDR0.COHACC overridden by FW configuration (${coherent})`);
    }
    const stallModel = reg32(idr0, F0.STALL_MODEL);
    if (stallModel === 2) mask |= FEAT.STALL_FORCE | FEAT.STALLS;
    else if (stallModel === 0) mask |= FEAT.STALLS;
    if (reg32(idr0, F0.S1P)) mask |= FEAT.TRANS_S1;
    if (reg32(idr0, F0.S2P)) mask |= FEAT.TRANS_S2;
    if (!(mask & (FEAT.TRANS_S1 | FEAT.TRANS_S2))) {
      this.log('err', 'no translation support!');
      return -ENXIO;
    }
    // Only the AArch64 table format is supported.
    let ias = 0;
    const ttf = reg32(idr0, F0.TTF);
    if (ttf === 3) ias = 40;
    else if (ttf !== 2) {
      this.log('err', 'AArch64 table format not supported!');
      return -ENXIO;
    }
    const asidBits = reg32(idr0, F0.ASID16) ? 16 : 8;
    const vmidBits = reg32(idr0, F0.VMID16) ? 16 : 8;

    const idr1 = this.mmio.read32(REG.IDR1);
    if (reg32(idr1, F1.TABLES_PRESET) || reg32(idr1, F1.QUEUES_PRESET) || reg32(idr1, F1.REL)) {
      this.log('err', 'embedded implementation not supported');
      return -ENXIO;
    }
    if (reg32(idr1, F1.ATTR_TYPES_OVR)) mask |= FEAT.ATTR_TYPES_OVR;
    // Queue sizes, capped to what the kernel page allocator can give (natural alignment).
    const qMax = 12 + (this.opts.maxPageOrder ?? 10);
    const cmdqShift = Math.min(qMax - 4, reg32(idr1, F1.CMDQS));
    if (cmdqShift <= Math.log2(LINUX.CMDQ_BATCH_ENTRIES)) {
      this.log('err', `command queue size <= ${LINUX.CMDQ_BATCH_ENTRIES} entries not supported`);
      return -ENXIO;
    }
    const evtqShift = Math.min(qMax - 5, reg32(idr1, F1.EVENTQS));
    const priqShift = Math.min(qMax - 4, reg32(idr1, F1.PRIQS));
    const ssidBits = reg32(idr1, F1.SSIDSIZE);
    const sidBits = reg32(idr1, F1.SIDSIZE);
    // Fewer StreamID bits than one level-2 table resolves: use a linear table.
    if (sidBits <= LINUX.STRTAB_SPLIT) mask &= ~FEAT.TWO_LVL_STRTAB;

    const idr3 = this.mmio.read32(REG.IDR3);
    if (reg32(idr3, F3.RIL)) mask |= FEAT.RANGE_INV;
    if (reg32(idr3, F3.FWB)) mask |= FEAT.S2FWB;
    if (reg32(idr3, F3.BBML) === 2) mask |= FEAT.BBML2;

    const idr5 = this.mmio.read32(REG.IDR5);
    const maxStalls = reg32(idr5, F5.STALL_MAX);
    let pgsize = 0;
    if (reg32(idr5, F5.GRAN64K)) pgsize += 2 ** 16 + 2 ** 29;
    if (reg32(idr5, F5.GRAN16K)) pgsize += 2 ** 14 + 2 ** 25;
    if (reg32(idr5, F5.GRAN4K)) pgsize += 2 ** 12 + 2 ** 21 + 2 ** 30;
    if (reg32(idr5, F5.VAX) === 1) mask |= FEAT.VAX;
    let oas: number;
    const oasCode = reg32(idr5, F5.OAS);
    switch (oasCode) {
      case 0:
        oas = 32;
        break;
      case 1:
        oas = 36;
        break;
      case 2:
        oas = 40;
        break;
      case 3:
        oas = 42;
        break;
      case 4:
        oas = 44;
        break;
      case 6:
        oas = 52;
        pgsize += 2 ** 42;
        break;
      case 5:
        oas = 48;
        break;
      default:
        this.log('info', 'unknown output address size. Truncating to 48-bit');
        oas = 48;
    }
    ias = Math.max(ias, oas);
    if (mask & FEAT.TRANS_S1 && mask & FEAT.TRANS_S2) mask |= FEAT.NESTING;

    // IIDR-based errata.
    const iidr = this.mmio.read32(REG.IIDR);
    if (reg32(iidr, FI.Implementer) === LINUX.IIDR_IMPLEMENTER_ARM) {
      const product = reg32(iidr, FI.ProductID);
      const variant = reg32(iidr, FI.Variant);
      const revision = reg32(iidr, FI.Revision);
      if (product === LINUX.IIDR_PRODUCTID_ARM_MMU_600) {
        // Arm erratum 1076982 / 1209401.
        if (variant === 0 && revision <= 2) mask &= ~FEAT.SEV;
        if (variant < 2) mask &= ~FEAT.NESTING;
      } else if (product === LINUX.IIDR_PRODUCTID_ARM_MMU_700) {
        // Arm errata 2812531, 2268618.
        mask &= ~FEAT.BTM;
        mask &= ~FEAT.NESTING;
      }
    }

    this.feat = {
      mask: mask >>> 0,
      stage1: (mask & FEAT.TRANS_S1) !== 0,
      stage2: (mask & FEAT.TRANS_S2) !== 0,
      twoLevelStrtab: (mask & FEAT.TWO_LVL_STRTAB) !== 0,
      twoLevelCdtab: (mask & FEAT.TWO_LVL_CDTAB) !== 0,
      rangeInv: (mask & FEAT.RANGE_INV) !== 0,
      msi: (mask & FEAT.MSI) !== 0,
      msiPoll,
      sev: (mask & FEAT.SEV) !== 0,
      ats: (mask & FEAT.ATS) !== 0,
      pri: (mask & FEAT.PRI) !== 0,
      hyp: (mask & FEAT.HYP) !== 0,
      e2h: false,
      coherent,
      stalls: (mask & FEAT.STALLS) !== 0,
      stallForce: (mask & FEAT.STALL_FORCE) !== 0,
      attrTypesOvr: (mask & FEAT.ATTR_TYPES_OVR) !== 0,
      s2fwb: (mask & FEAT.S2FWB) !== 0,
      vax: (mask & FEAT.VAX) !== 0,
      nesting: (mask & FEAT.NESTING) !== 0,
      asidBits,
      vmidBits,
      sidBits,
      ssidBits,
      ias,
      oas,
      pgsizeBitmap: pgsize,
      cmdqShift,
      evtqShift,
      priqShift,
      maxStalls,
    };
    this.log(
      'info',
      `ias ${ias}-bit, oas ${oas}-bit (features 0x${(mask >>> 0).toString(16).padStart(8, '0')})`,
    );
    return 0;
  }

  /** dma_alloc_coherent: zeroed, naturally aligned guest memory; undefined when out of memory. */
  private dmaAlloc(bytes: number): number | undefined {
    return this.ram.alloc.alloc(bytes);
  }

  private initOneQueue(
    shift: number,
    entryBytes: number,
    prodReg: number,
    consReg: number,
    name: string,
  ): LlQueue | number {
    // Halve the queue until the allocation succeeds or it fits in a page.
    for (;;) {
      const bytes = 2 ** shift * entryBytes;
      const base = this.dmaAlloc(bytes);
      if (base !== undefined) {
        this.log('info', `allocated ${2 ** shift} entries for ${name}`);
        return new LlQueue(shift, base, entryBytes, prodReg, consReg);
      }
      if (bytes <= 4096) {
        this.log('err', `failed to allocate queue (0x${bytes.toString(16)} bytes) for ${name}`);
        return -ENOMEM;
      }
      shift--;
    }
  }

  private initStructures(): number {
    const f = this.features;
    const cq = this.initOneQueue(f.cmdqShift, 16, REG.CMDQ_PROD, REG.CMDQ_CONS, 'cmdq');
    if (isErr(cq)) return cq;
    this.cmdq = cq;
    const eq = this.initOneQueue(f.evtqShift, 32, REG.EVENTQ_PROD, REG.EVENTQ_CONS, 'evtq');
    if (isErr(eq)) return eq;
    this.evtq = eq;
    if (f.pri) {
      const pq = this.initOneQueue(f.priqShift, 16, REG.PRIQ_PROD, REG.PRIQ_CONS, 'priq');
      if (isErr(pq)) return pq;
      this.priq = pq;
    }
    return f.twoLevelStrtab ? this.initStrtab2lvl() : this.initStrtabLinear();
  }

  private initStrtab2lvl(): number {
    const f = this.features;
    const lastSidIdx = Math.floor((2 ** f.sidBits - 1) / 2 ** LINUX.STRTAB_SPLIT);
    const numL1Ents = Math.min(lastSidIdx + 1, LINUX.STRTAB_MAX_L1_ENTRIES);
    if (numL1Ents <= lastSidIdx) {
      this.log(
        'warn',
        `2-level strtab only covers ${Math.log2(numL1Ents * 2 ** LINUX.STRTAB_SPLIT)}/${f.sidBits} bits of SID`,
      );
    }
    const l1size = numL1Ents * 8;
    const pa = this.dmaAlloc(l1size);
    if (pa === undefined) {
      this.log('err', `failed to allocate l1 stream table (${l1size} bytes)`);
      return -ENOMEM;
    }
    this.strtab = { kind: '2lvl', pa, numL1Ents, l2: new Array(numL1Ents).fill(undefined) };
    return 0;
  }

  private initStrtabLinear(): number {
    const f = this.features;
    const numEnts = 2 ** f.sidBits;
    const size = numEnts * 64;
    const pa = this.dmaAlloc(size);
    if (pa === undefined) {
      this.log('err', `failed to allocate linear stream table (${size} bytes)`);
      return -ENOMEM;
    }
    // The table is not live yet: plain stores of abort STEs, no invalidation.
    const abort = makeAbortSte();
    for (let i = 0; i < numEnts; i++) this.writeQwords(pa + i * 64, abort);
    this.strtab = { kind: 'linear', pa, numEnts };
    return 0;
  }

  private writeQwords(pa: number, words: readonly bigint[]): void {
    for (let i = 0; i < words.length; i++) this.ram.mem.write64(pa + 8 * i, words[i] as bigint);
  }

  /** arm_smmu_write_reg_sync: write, then poll the ACK register until it shows the value. */
  private writeRegSync(val: number, reg: number, ack: number): number {
    this.mmio.write32(reg, val);
    for (let i = 0; i < this.pollLimit; i++) {
      if (this.mmio.read32(ack) === val >>> 0) return 0;
      this.relaxFn?.();
    }
    return -ETIMEDOUT;
  }

  /** arm_smmu_update_gbpa: wait for Update = 0, write with Update = 1, wait again. */
  private updateGbpa(set: number, clr: number): number {
    const upd = regBits(FGBPA.Update, 1);
    let reg = 0;
    let ok = false;
    for (let i = 0; i < this.pollLimit && !ok; i++) {
      reg = this.mmio.read32(REG.GBPA);
      ok = (reg & upd) === 0;
    }
    if (!ok) return -ETIMEDOUT;
    reg = ((reg & ~clr) | set) >>> 0;
    this.mmio.write32(REG.GBPA, (reg | upd) >>> 0);
    for (let i = 0; i < this.pollLimit; i++) {
      if ((this.mmio.read32(REG.GBPA) & upd) === 0) return 0;
    }
    this.log('err', 'GBPA not responding to update');
    return -ETIMEDOUT;
  }

  private deviceDisable(): number {
    const ret = this.writeRegSync(0, REG.CR0, REG.CR0ACK);
    if (ret) this.log('err', 'failed to clear cr0');
    return ret;
  }

  private writeStrtab(): void {
    const st = this.strtab;
    if (!st) return;
    let cfg: number;
    if (st.kind === '2lvl') {
      cfg =
        regBits(FSTC.FMT, 1) |
        regBits(FSTC.LOG2SIZE, Math.log2(st.numL1Ents) + LINUX.STRTAB_SPLIT) |
        regBits(FSTC.SPLIT, LINUX.STRTAB_SPLIT);
    } else {
      cfg = regBits(FSTC.FMT, 0) | regBits(FSTC.LOG2SIZE, this.features.sidBits);
    }
    const base = [0n];
    put(base, FST.ADDR, st.pa);
    put(base, FST.RA, 1);
    this.mmio.write64(REG.STRTAB_BASE, base[0] as bigint);
    this.mmio.write32(REG.STRTAB_BASE_CFG, cfg >>> 0);
  }

  private queueBase(q: LlQueue, out: boolean): bigint {
    const w = [0n];
    const s = out ? FEQB : FCQB;
    put(w, s.ADDR, q.base);
    put(w, s.LOG2SIZE, q.shift);
    put(w, out ? FEQB.WA : FCQB.RA, 1);
    return w[0] as bigint;
  }

  private deviceReset(): number {
    const f = this.features;
    const cq = this.cmdq as LlQueue;
    const eq = this.evtq as LlQueue;
    // Clear CR0 and sync (disables SMMU and queue processing).
    const cr0 = this.mmio.read32(REG.CR0);
    if (reg32(cr0, FCR0.SMMUEN)) {
      this.log('warn', 'SMMU currently enabled! Resetting...');
      this.updateGbpa(regBits(FGBPA.ABORT, 1), 0);
    }
    let ret = this.deviceDisable();
    if (ret) return ret;
    // CR1: table and queue memory attributes.
    const cr1 =
      regBits(FCR1.TABLE_SH, LINUX.SH_ISH) |
      regBits(FCR1.TABLE_OC, LINUX.CR1_CACHE_WB) |
      regBits(FCR1.TABLE_IC, LINUX.CR1_CACHE_WB) |
      regBits(FCR1.QUEUE_SH, LINUX.SH_ISH) |
      regBits(FCR1.QUEUE_OC, LINUX.CR1_CACHE_WB) |
      regBits(FCR1.QUEUE_IC, LINUX.CR1_CACHE_WB);
    this.mmio.write32(REG.CR1, cr1 >>> 0);
    // CR2: private TLB maintenance, record invalid StreamIDs.
    let cr2 = regBits(FCR2.PTM, 1) | regBits(FCR2.RECINVSID, 1);
    if (f.e2h) cr2 |= regBits(FCR2.E2H, 1);
    this.mmio.write32(REG.CR2, cr2 >>> 0);
    this.writeStrtab();
    // Command queue.
    this.mmio.write64(REG.CMDQ_BASE, this.queueBase(cq, false));
    this.mmio.write32(REG.CMDQ_PROD, cq.prod);
    this.mmio.write32(REG.CMDQ_CONS, cq.cons);
    let enables = regBits(FCR0.CMDQEN, 1);
    ret = this.writeRegSync(enables, REG.CR0, REG.CR0ACK);
    if (ret) {
      this.log('err', 'failed to enable command queue');
      return ret;
    }
    // Invalidate any cached configuration, then any stale TLB entries.
    this.issueCmd({ op: 'CFGI_ALL' }, true);
    if (f.hyp) this.issueCmd({ op: 'TLBI_EL2_ALL' }, true);
    this.issueCmd({ op: 'TLBI_NSNH_ALL' }, true);
    // Event queue.
    this.mmio.write64(REG.EVENTQ_BASE, this.queueBase(eq, true));
    this.mmio.write32(REG.EVENTQ_PROD, eq.prod);
    this.mmio.write32(REG.EVENTQ_CONS, eq.cons);
    enables |= regBits(FCR0.EVENTQEN, 1);
    ret = this.writeRegSync(enables, REG.CR0, REG.CR0ACK);
    if (ret) {
      this.log('err', 'failed to enable event queue');
      return ret;
    }
    // PRI queue.
    const pq = this.priq;
    if (f.pri && pq) {
      this.mmio.write64(REG.PRIQ_BASE, this.queueBase(pq, true));
      this.mmio.write32(REG.PRIQ_PROD, pq.prod);
      this.mmio.write32(REG.PRIQ_CONS, pq.cons);
      enables |= regBits(FCR0.PRIQEN, 1);
      ret = this.writeRegSync(enables, REG.CR0, REG.CR0ACK);
      if (ret) {
        this.log('err', 'failed to enable PRI queue');
        return ret;
      }
    }
    if (f.ats) {
      enables |= regBits(FCR0.ATSCHK, 1);
      ret = this.writeRegSync(enables, REG.CR0, REG.CR0ACK);
      if (ret) {
        this.log('err', 'failed to enable ATS check');
        return ret;
      }
    }
    ret = this.setupIrqs();
    if (ret) {
      this.log('err', 'failed to setup irqs');
      return ret;
    }
    // Enable the SMMU interface.
    enables |= regBits(FCR0.SMMUEN, 1);
    ret = this.writeRegSync(enables, REG.CR0, REG.CR0ACK);
    if (ret) {
      this.log('err', 'failed to enable SMMU interface');
      return ret;
    }
    return 0;
  }

  private setupIrqs(): number {
    const f = this.features;
    let ret = this.writeRegSync(0, REG.IRQ_CTRL, REG.IRQ_CTRLACK);
    if (ret) {
      this.log('err', 'failed to disable irqs');
      return ret;
    }
    // arm_smmu_setup_msis: clear the MSI address registers, then program MSIs if there are any.
    this.mmio.write64(REG.GERROR_IRQ_CFG0, 0n);
    this.mmio.write64(REG.EVENTQ_IRQ_CFG0, 0n);
    if (f.pri) this.mmio.write64(REG.PRIQ_IRQ_CFG0, 0n);
    const doorbell = this.opts.msiDoorbell;
    if (f.msi) {
      if (doorbell === undefined) {
        this.log('info', 'msi_domain absent - falling back to wired irqs');
      } else {
        const msi = (cfg0: number, cfg1: number, cfg2: number, data: number) => {
          const w = [0n];
          put(w, FMSI.ADDR, doorbell);
          this.mmio.write64(cfg0, w[0] as bigint);
          this.mmio.write32(cfg1, data);
          this.mmio.write32(cfg2, regBits(FMSI2.MemAttr, LINUX.MEMATTR_DEVICE_NGNRE));
        };
        msi(REG.EVENTQ_IRQ_CFG0, REG.EVENTQ_IRQ_CFG1, REG.EVENTQ_IRQ_CFG2, 0);
        msi(REG.GERROR_IRQ_CFG0, REG.GERROR_IRQ_CFG1, REG.GERROR_IRQ_CFG2, 1);
        if (f.pri) msi(REG.PRIQ_IRQ_CFG0, REG.PRIQ_IRQ_CFG1, REG.PRIQ_IRQ_CFG2, 2);
      }
    }
    let irqen = regBits(FIRQ.EVENTQ_IRQEN, 1) | regBits(FIRQ.GERROR_IRQEN, 1);
    if (f.pri) irqen |= regBits(FIRQ.PRIQ_IRQEN, 1);
    ret = this.writeRegSync(irqen >>> 0, REG.IRQ_CTRL, REG.IRQ_CTRLACK);
    if (ret) this.log('warn', 'failed to enable irqs');
    return 0;
  }

  // ----------------------------------------------------------------------------------------------
  // Command queue

  private countCommand(w0: bigint, w1: bigint): void {
    // Names depend on the opcode alone, except CFGI_STE_RANGE (Range 31 is CFGI_ALL).
    const op = Number(w0 & 0xffn);
    let n = op === CMD_OP.CFGI_STE_RANGE ? undefined : this.cmdNames.get(op);
    if (n === undefined) {
      n = commandName(w0, w1);
      if (op !== CMD_OP.CFGI_STE_RANGE) this.cmdNames.set(op, n);
    }
    this.stats.commands[n] = (this.stats.commands[n] ?? 0) + 1;
  }

  /** Refreshes the cached CONS from the hardware (ERR bits included, as Linux's readl). */
  private readCons(q: LlQueue): void {
    q.cons = this.mmio.read32(q.consReg);
  }

  /**
   * arm_smmu_cmdq_issue_cmdlist for a single CPU: room for the commands (+ CMD_SYNC), entries
   * written at PROD with wrap, PROD published, then the CMD_SYNC waited for. 0 or -ETIMEDOUT.
   */
  private issueCmdlist(cmds: readonly (readonly [bigint, bigint])[], sync: boolean): number {
    const q = this.cmdq;
    if (!q) return -ENODEV;
    this.stats.cmdLists++;
    const n = cmds.length + (sync ? 1 : 0);
    // 1. Room in the queue.
    if (!q.hasSpace(n)) {
      let polls = 0;
      for (;;) {
        this.readCons(q);
        if (q.hasSpace(n)) break;
        if (++polls > this.pollLimit) {
          this.log('err', 'CMDQ timeout');
          return -ETIMEDOUT;
        }
        this.pollPoint();
      }
    }
    // 2. Commands into the queue.
    let prod = q.prod;
    for (const [w0, w1] of cmds) {
      const a = q.entryAddr(prod);
      this.ram.mem.write64(a, w0);
      this.ram.mem.write64(a + 8, w1);
      this.countCommand(w0, w1);
      prod = q.incN(prod, 1);
    }
    let syncProd = -1;
    if (sync) {
      syncProd = prod;
      const a = q.entryAddr(prod);
      const [w0, w1] = buildCmd({
        op: 'CMD_SYNC',
        msiAddr: this.features.msiPoll ? a : undefined,
      });
      this.ram.mem.write64(a, w0);
      this.ram.mem.write64(a + 8, w1);
      this.countCommand(w0, w1);
      this.stats.syncs++;
      prod = q.incN(prod, 1);
    }
    // 4. Publish (dma_wmb before: the entries and any table writes are in guest RAM already).
    q.prod = prod;
    this.mmio.write32(q.prodReg, prod);
    // 5. Wait for the CMD_SYNC.
    if (!sync) return 0;
    const ret = this.features.msiPoll
      ? this.pollUntilMsi(q, syncProd)
      : this.pollUntilConsumed(q, syncProd);
    if (ret) {
      this.stats.syncTimeouts++;
      this.log(
        'err',
        `CMD_SYNC timeout at 0x${syncProd.toString(16).padStart(8, '0')} [hwprod 0x${this.mmio
          .read32(REG.CMDQ_PROD)
          .toString(16)
          .padStart(
            8,
            '0',
          )}, hwcons 0x${this.mmio.read32(REG.CMDQ_CONS).toString(16).padStart(8, '0')}]`,
      );
    }
    return ret;
  }

  /** __arm_smmu_cmdq_poll_until_consumed: read CONS until it has passed the CMD_SYNC. */
  private pollUntilConsumed(q: LlQueue, prod: number): number {
    for (let i = 0; i <= this.pollLimit; i++) {
      this.readCons(q);
      if (q.consumed(q.cons, prod)) return 0;
      this.pollPoint();
    }
    return -ETIMEDOUT;
  }

  /** __arm_smmu_cmdq_poll_until_msi: the SMMU's MSI write clears the CMD_SYNC's first word. */
  private pollUntilMsi(q: LlQueue, prod: number): number {
    const a = q.entryAddr(prod);
    for (let i = 0; i <= this.pollLimit; i++) {
      if (this.ram.mem.read32(a) === 0) {
        q.cons = q.incN(prod, 1);
        return 0;
      }
      this.pollPoint();
    }
    q.cons = prod;
    return -ETIMEDOUT;
  }

  private issueCmd(ent: CmdEnt, sync: boolean): number {
    return this.issueCmdlist([buildCmd(ent)], sync);
  }

  /** A command batch (struct arm_smmu_cmdq_batch). */
  private batch(): { add(ent: CmdEnt): void; submit(): number } {
    const cmds: (readonly [bigint, bigint])[] = [];
    return {
      add: (ent) => {
        if (cmds.length === LINUX.CMDQ_BATCH_ENTRIES) {
          this.issueCmdlist(cmds, false);
          cmds.length = 0;
        }
        cmds.push(buildCmd(ent));
      },
      submit: () => this.issueCmdlist(cmds, true),
    };
  }

  /**
   * Submits raw command words through the driver's queue (as a kernel module poking the queue
   * would), followed by a CMD_SYNC when `sync`. Returns 0 or -ETIMEDOUT. For scenarios and
   * tests: an illegal command exercises the CERROR path.
   */
  submitCommands(cmds: readonly (readonly [bigint, bigint])[], sync = true): number {
    this.requireProbed();
    this.enter();
    try {
      // Batches of CMDQ_BATCH_ENTRIES, as arm_smmu_cmdq_batch_add does.
      let i = 0;
      for (; cmds.length - i > LINUX.CMDQ_BATCH_ENTRIES; i += LINUX.CMDQ_BATCH_ENTRIES) {
        const ret = this.issueCmdlist(cmds.slice(i, i + LINUX.CMDQ_BATCH_ENTRIES), false);
        if (ret) return ret;
      }
      return this.issueCmdlist(cmds.slice(i), sync);
    } finally {
      this.leave();
    }
  }

  /** Issues one command described by a CmdEnt (with CMD_SYNC when `sync`). */
  issue(ent: CmdEnt, sync = true): number {
    this.requireProbed();
    this.enter();
    try {
      return this.issueCmd(ent, sync);
    } finally {
      this.leave();
    }
  }

  private requireProbed(): void {
    if (!this.probed) throw new VsmmuError('BAD_STATE', 'the driver has not probed the SMMU');
  }

  // ----------------------------------------------------------------------------------------------
  // Interrupt handlers

  /** arm_smmu_gerror_handler. */
  private gerrorHandler(): void {
    const gerror = this.mmio.read32(REG.GERROR);
    const gerrorn = this.mmio.read32(REG.GERRORN);
    const errMask = [
      FGE.CMDQ_ERR,
      FGE.EVENTQ_ABT_ERR,
      FGE.PRIQ_ABT_ERR,
      FGE.MSI_CMDQ_ABT_ERR,
      FGE.MSI_EVENTQ_ABT_ERR,
      FGE.MSI_PRIQ_ABT_ERR,
      FGE.MSI_GERROR_ABT_ERR,
      FGE.SFM_ERR,
    ].reduce((m, s) => m | regBits(s, 1), 0);
    const active = ((gerror ^ gerrorn) & errMask) >>> 0;
    if (!active) return;
    this.stats.gerrors++;
    this.log(
      'warn',
      `unexpected global error reported (0x${active.toString(16).padStart(8, '0')}), this could be serious`,
    );
    const has = (s: (typeof FGE)[keyof typeof FGE]) => (active & regBits(s, 1)) !== 0;
    if (has(FGE.SFM_ERR)) {
      this.log('err', 'device has entered Service Failure Mode!');
      this.deviceDisable();
    }
    if (has(FGE.MSI_GERROR_ABT_ERR)) this.log('warn', 'GERROR MSI write aborted');
    if (has(FGE.MSI_PRIQ_ABT_ERR)) this.log('warn', 'PRIQ MSI write aborted');
    if (has(FGE.MSI_EVENTQ_ABT_ERR)) this.log('warn', 'EVTQ MSI write aborted');
    if (has(FGE.MSI_CMDQ_ABT_ERR)) this.log('warn', 'CMDQ MSI write aborted');
    if (has(FGE.PRIQ_ABT_ERR)) this.log('err', 'PRIQ write aborted -- events may have been lost');
    if (has(FGE.EVENTQ_ABT_ERR)) this.log('err', 'EVTQ write aborted -- events may have been lost');
    if (has(FGE.CMDQ_ERR)) this.cmdqSkipErr();
    this.mmio.write32(REG.GERRORN, gerror);
  }

  /** __arm_smmu_cmdq_skip_err: log the error and turn an illegal command into a CMD_SYNC. */
  private cmdqSkipErr(): void {
    const q = this.cmdq as LlQueue;
    const names = [
      'No error',
      'Illegal command',
      'Abort on command fetch',
      'ATC invalidate timeout',
    ];
    const cons = this.mmio.read32(q.consReg);
    const idx = reg32(cons, FCC.ERR);
    this.stats.commandErrors++;
    this.log(
      'err',
      `CMDQ error (cons 0x${cons.toString(16).padStart(8, '0')}): ${names[idx] ?? 'Unknown'}`,
    );
    if (idx === R.CMDQ_ERR.CERROR_ABT) {
      this.log('err', 'retrying command fetch');
      return;
    }
    // CERROR_NONE: nothing to do; CERROR_ATC_INV_SYNC: repeating the CMD_SYNC is all we can do.
    if (idx === R.CMDQ_ERR.CERROR_NONE || idx === R.CMDQ_ERR.CERROR_ATC_INV_SYNC) return;
    const a = q.entryAddr(cons);
    const w0 = this.ram.mem.read64(a);
    const w1 = this.ram.mem.read64(a + 8);
    this.log('err', 'skipping command in error state:');
    this.log('err', `\t${hex64(w0)}`);
    this.log('err', `\t${hex64(w1)}`);
    const [s0, s1] = buildCmd({ op: 'CMD_SYNC' });
    this.ram.mem.write64(a, s0);
    this.ram.mem.write64(a + 8, s1);
  }

  /**
   * Runs the event-queue thread now (arm_smmu_evtq_thread): reads every record, decodes and logs
   * it, reports overflow. Returns the events read by this call.
   */
  processEvents(): GuestEvent[] {
    return this.runThread(() => this.evtqThread(), this.events);
  }

  /** Runs the PRI-queue thread now (arm_smmu_priq_thread); returns the requests read. */
  processPageRequests(): (readonly [bigint, bigint])[] {
    return this.runThread(() => this.priqThread(), this.pageRequests);
  }

  /** Runs a queue thread inside one driver entry; returns what it appended to `out`. */
  private runThread<T>(thread: () => void, out: readonly T[]): T[] {
    this.requireProbed();
    const before = out.length;
    this.enter();
    try {
      thread();
    } finally {
      this.leave();
    }
    return out.slice(before);
  }

  /** A mark for `eventsSince`. */
  eventMark(): number {
    return this.events.length;
  }

  /** Events read since `mark`. */
  eventsSince(mark: number): GuestEvent[] {
    return this.events.slice(mark);
  }

  /** queue_sync_prod_in: -EOVERFLOW when PROD.OVFLG changed since the last read. */
  private syncProdIn(q: LlQueue): number {
    const prod = this.mmio.read32(q.prodReg);
    const ret = LlQueue.ovf(prod) !== LlQueue.ovf(q.prod) ? -ERRNO.EOVERFLOW : 0;
    q.prod = prod;
    return ret;
  }

  /** queue_remove_raw: reads the entry at CONS and publishes the new CONS. */
  private removeRaw(q: LlQueue, words: number): bigint[] | undefined {
    if (q.empty) return undefined;
    const a = q.entryAddr(q.cons);
    const out: bigint[] = [];
    for (let i = 0; i < words; i++) out.push(this.ram.mem.read64(a + 8 * i));
    q.cons = q.incN(q.cons, 1);
    this.mmio.write32(q.consReg, q.cons);
    return out;
  }

  /** queue_sync_cons_ovf: acknowledge an overflow by copying PROD.OVFLG to CONS.OVACKFLG. */
  private syncConsOvf(q: LlQueue): void {
    if (LlQueue.ovf(q.prod) === LlQueue.ovf(q.cons)) return;
    q.cons = (LlQueue.ovf(q.prod) | q.wrp(q.cons) | q.idx(q.cons)) >>> 0;
    this.mmio.write32(q.consReg, q.cons);
  }

  private evtqThread(): void {
    const q = this.evtq;
    if (!q) return;
    do {
      for (;;) {
        const raw = this.removeRaw(q, 4);
        if (!raw) break;
        this.handleEvent(raw as [bigint, bigint, bigint, bigint]);
      }
      if (this.syncProdIn(q) === -ERRNO.EOVERFLOW) {
        this.stats.eventOverflows++;
        this.log('err', 'EVTQ overflow detected -- events lost');
      }
    } while (!q.empty);
    this.syncConsOvf(q);
  }

  private handleEvent(raw: [bigint, bigint, bigint, bigint]): void {
    const rec = decodeEvent(raw);
    const fields = rec.fields;
    const id = Number(raw[0] & 0xffn);
    const sid = Number(fields.StreamID ?? raw[0] >> 32n);
    const ssv = fields.SSV === 1n;
    const ssid = ssv ? Number(fields.SubstreamID ?? 0n) : undefined;
    const client = this.streams.get(sid)?.name;
    this.stats.events++;
    this.events.push({ record: rec, sid, ssid, client });
    // A guest without iopf or a vSMMU handles no event: every one is dumped (arm_smmu_dump_event).
    this.log('err', `event 0x${id.toString(16).padStart(2, '0')} received:`);
    for (const w of raw) this.log('err', `\t${hex64(w)}`);
    const who = client ?? '(unassigned sid)';
    const ssidText = hashX(ssid ?? 0);
    const known = (Object.values(EVT_ID) as number[]).includes(id) ? rec.type : 'UNKNOWN';
    switch (id) {
      case EVT_ID.F_TRANSLATION:
      case EVT_ID.F_ADDR_SIZE:
      case EVT_ID.F_ACCESS:
      case EVT_ID.F_PERMISSION: {
        const iova = fields.InputAddr ?? 0n;
        const ipa = fields.IPA ?? 0n;
        this.log(
          'err',
          `event: ${known} client: ${who} sid: ${hashX(sid)} ssid: ${ssidText} iova: ${hashX(iova)} ipa: ${hashX(ipa)}`,
        );
        const cls = Number(fields.CLASS ?? 0n);
        const classes = [
          'CD fetch',
          'Stage 1 translation table fetch',
          'Input address caused fault',
          'Reserved',
        ];
        const classTt = id === EVT_ID.F_PERMISSION && cls === 1;
        this.log(
          'err',
          `${fields.PnU === 1n ? 'priv' : 'unpriv'} ${fields.InD === 1n ? 'inst' : 'data'} ${fields.RnW === 1n ? 'read' : 'write'} ${fields.S2 === 1n ? 's2' : 's1'} "${classes[cls]}"${classTt ? (fields.TTRnW === 1n ? ' ttd_read' : ' ttd_write') : ''}${fields.Stall === 1n ? ' stall' : ''} stag: ${hashX(fields.STAG ?? 0n)}`,
        );
        break;
      }
      case EVT_ID.F_STE_FETCH:
      case EVT_ID.F_CD_FETCH:
      case EVT_ID.F_VMS_FETCH:
        this.log(
          'err',
          `event: ${known} client: ${who} sid: ${hashX(sid)} ssid: ${ssidText} fetch_addr: ${hashX(fields.FetchAddr ?? 0n)}`,
        );
        break;
      default:
        this.log('err', `event: ${known} client: ${who} sid: ${hashX(sid)} ssid: ${ssidText}`);
    }
  }

  /** arm_smmu_priq_thread: unexpected page requests are logged and denied. */
  private priqThread(): void {
    const q = this.priq;
    if (!q) return;
    do {
      for (;;) {
        const raw = this.removeRaw(q, 2);
        if (!raw) break;
        this.handlePpr(raw[0] as bigint, raw[1] as bigint);
      }
      if (this.syncProdIn(q) === -ERRNO.EOVERFLOW) {
        this.log('err', 'PRIQ overflow detected -- requests lost');
      }
    } while (!q.empty);
    this.syncConsOvf(q);
  }

  private handlePpr(w0: bigint, w1: bigint): void {
    this.pageRequests.push([w0, w1]);
    const w = [w0, w1];
    const f = (slot: (typeof FPRI)[keyof typeof FPRI]) => Number(get(w, slot));
    const sid = f(FPRI.StreamID);
    const ssv = f(FPRI.SSV) === 1;
    const ssid = ssv ? f(FPRI.SubstreamID) : NO_PASID;
    const last = f(FPRI.Last) === 1;
    const grpid = f(FPRI.PRGIndex);
    const perms = `${f(FPRI.R) ? 'R' : ''}${f(FPRI.W) ? 'W' : ''}${f(FPRI.X) ? 'X' : ''}`;
    this.log('info', 'unexpected PRI request received:');
    this.log(
      'info',
      `\tsid 0x${sid.toString(16).padStart(8, '0')}.0x${ssid.toString(16).padStart(5, '0')}: [${grpid}${last ? 'L' : ''}] ${f(FPRI.Priv) ? '' : 'un'}privileged ${perms} access at iova ${hex64(get(w, FPRI.PageAddr))}`,
    );
    if (last) {
      this.issueCmd({ op: 'PRI_RESP', sid, ssid, ssv, grpid, resp: PRI_RESP.DENY }, false);
    }
  }

  // ----------------------------------------------------------------------------------------------
  // Stream table and CD tables

  private steContext(master: GuestMaster): SteContext {
    const f = this.features;
    return {
      attrTypesOvr: f.attrTypesOvr,
      stalls: f.stalls,
      stallEnabled: master.stallEnabled,
      e2h: f.e2h,
    };
  }

  /** Guest-physical address of the STE for `sid` (arm_smmu_get_step_for_sid). */
  stePa(sid: number): number | undefined {
    const st = this.strtab;
    if (!st) return undefined;
    if (st.kind === 'linear') return sid < st.numEnts ? st.pa + sid * 64 : undefined;
    const l1 = Math.floor(sid / 2 ** LINUX.STRTAB_SPLIT);
    const l2 = st.l2[l1];
    if (l2 === undefined) return undefined;
    return l2 + (sid % 2 ** LINUX.STRTAB_SPLIT) * 64;
  }

  /** Reads the STE of `sid` from guest RAM (8 words), if the table covers it. */
  readSte(sid: number): bigint[] | undefined {
    const pa = this.stePa(sid);
    if (pa === undefined) return undefined;
    const out: bigint[] = [];
    for (let i = 0; i < ENTRY_QWORDS; i++) out.push(this.ram.mem.read64(pa + 8 * i));
    return out;
  }

  private sidInRange(sid: number): boolean {
    const st = this.strtab;
    if (!st) return false;
    if (st.kind === '2lvl') return Math.floor(sid / 2 ** LINUX.STRTAB_SPLIT) < st.numL1Ents;
    return sid < st.numEnts;
  }

  /** arm_smmu_init_l2_strtab: a level-2 table of abort STEs and its L1 descriptor. */
  private initL2Strtab(sid: number): number {
    const st = this.strtab;
    if (st?.kind !== '2lvl') return 0;
    const idx = Math.floor(sid / 2 ** LINUX.STRTAB_SPLIT);
    if (st.l2[idx] !== undefined) return 0;
    const n = 2 ** LINUX.STRTAB_SPLIT;
    const pa = this.dmaAlloc(n * 64);
    if (pa === undefined) {
      this.log('err', `failed to allocate l2 stream table for SID ${sid}`);
      return -ENOMEM;
    }
    const abort = makeAbortSte();
    for (let i = 0; i < n; i++) this.writeQwords(pa + i * 64, abort);
    st.l2[idx] = pa;
    // The SMMU has 64-bit atomicity with stores to the L1 descriptor.
    this.ram.mem.write64(st.pa + idx * 8, makeL1Std(pa, LINUX.STRTAB_SPLIT));
    return 0;
  }

  /** arm_smmu_write_ste: the hitless writer with CFGI_STE(leaf) + CMD_SYNC, then a prefetch. */
  private writeSte(sid: number, target: readonly bigint[]): EntryUpdate {
    const pa = this.stePa(sid);
    if (pa === undefined) return 'none';
    this.stats.steWrites++;
    const upd = writeEntry(
      {
        used: steUsed,
        safe: steUpdateSafe,
        read: (i) => this.ram.mem.read64(pa + 8 * i),
        write: (i, v) => this.ram.mem.write64(pa + 8 * i, v),
        sync: () => {
          this.issueCmd({ op: 'CFGI_STE', sid, leaf: true }, true);
        },
      },
      target,
    );
    // It's likely that the new STE will be used soon.
    if (!this.opts.skipPrefetch) this.issueCmd({ op: 'PREFETCH_CONFIG', sid }, false);
    return upd;
  }

  /** arm_smmu_install_ste_for_dev. */
  private installSte(master: GuestMaster, target: readonly bigint[]): void {
    master.cdTableInSte = steConfig(target) === STE_CFG.S1_TRANS;
    master.steAtsEnabled = steEats(target) === STE_EATS.FULL;
    const seen = new Set<number>();
    for (const sid of master.sids) {
      // Bridged PCI devices may end up with duplicated IDs.
      if (seen.has(sid)) continue;
      seen.add(sid);
      this.writeSte(sid, target);
    }
  }

  /** arm_smmu_alloc_cd_tables. */
  private allocCdTables(master: GuestMaster): number {
    const f = this.features;
    const s1cdmax = master.ssidBits;
    const maxContexts = 2 ** s1cdmax;
    if (!f.twoLevelCdtab || maxContexts <= LINUX.CTXDESC_L2_ENTRIES) {
      const bytes = maxContexts * 64;
      const pa = this.dmaAlloc(bytes);
      if (pa === undefined) return -ENOMEM;
      master.cdTable = { pa, s1fmt: STE_S1FMT.LINEAR, s1cdmax, l1Ents: 0, l2: [], bytes };
      return 0;
    }
    const l1Ents = Math.ceil(maxContexts / LINUX.CTXDESC_L2_ENTRIES);
    const bytes = l1Ents * 8;
    const pa = this.dmaAlloc(bytes);
    if (pa === undefined) return -ENOMEM;
    master.cdTable = {
      pa,
      s1fmt: STE_S1FMT.L2_64K,
      s1cdmax,
      l1Ents,
      l2: new Array(l1Ents).fill(undefined),
      bytes,
    };
    return 0;
  }

  private freeCdTables(master: GuestMaster): void {
    const t = master.cdTable;
    if (!t) return;
    for (const l2 of t.l2)
      if (l2 !== undefined) this.ram.alloc.free(l2, LINUX.CTXDESC_L2_ENTRIES * 64);
    this.ram.alloc.free(t.pa, t.bytes);
    master.cdTable = undefined;
  }

  /** arm_smmu_get_cd_ptr. */
  private cdPtr(master: GuestMaster, ssid: number): number | undefined {
    const t = master.cdTable;
    if (!t) return undefined;
    if (t.s1fmt === STE_S1FMT.LINEAR) return ssid < 2 ** t.s1cdmax ? t.pa + ssid * 64 : undefined;
    const l2 = t.l2[Math.floor(ssid / LINUX.CTXDESC_L2_ENTRIES)];
    if (l2 === undefined) return undefined;
    return l2 + (ssid % LINUX.CTXDESC_L2_ENTRIES) * 64;
  }

  /** arm_smmu_alloc_cd_ptr: CD tables on demand, level-2 leaf + L1CD + CFGI_CD(leaf=0). */
  private allocCdPtr(master: GuestMaster, ssid: number): number | undefined {
    if (!master.cdTable && this.allocCdTables(master)) return undefined;
    const t = master.cdTable as CdTable;
    if (t.s1fmt === STE_S1FMT.L2_64K) {
      const idx = Math.floor(ssid / LINUX.CTXDESC_L2_ENTRIES);
      if (t.l2[idx] === undefined) {
        const l2 = this.dmaAlloc(LINUX.CTXDESC_L2_ENTRIES * 64);
        if (l2 === undefined) return undefined;
        t.l2[idx] = l2;
        this.ram.mem.write64(t.pa + idx * 8, makeL1Cd(l2));
        // An invalid L1CD can be cached.
        this.syncCd(master, ssid, false);
      }
    }
    return this.cdPtr(master, ssid);
  }

  /** arm_smmu_sync_cd: CFGI_CD for every StreamID of the master, then CMD_SYNC. */
  private syncCd(master: GuestMaster, ssid: number, leaf: boolean): void {
    const b = this.batch();
    for (const sid of master.sids) b.add({ op: 'CFGI_CD', sid, ssid, leaf });
    b.submit();
  }

  /** arm_smmu_write_cd_entry. */
  private writeCdEntry(
    master: GuestMaster,
    ssid: number,
    cdPa: number,
    target: readonly bigint[],
  ): void {
    const V = 1n << 31n;
    const targetValid = ((target[0] as bigint) & V) !== 0n;
    const curValid = (this.ram.mem.read64(cdPa) & V) !== 0n;
    if (ssid !== NO_PASID && curValid !== targetValid) master.usedSsids += curValid ? -1 : 1;
    this.stats.cdWrites++;
    writeEntry(
      {
        used: cdUsed,
        read: (i) => this.ram.mem.read64(cdPa + 8 * i),
        write: (i, v) => this.ram.mem.write64(cdPa + 8 * i, v),
        sync: () => this.syncCd(master, ssid, true),
      },
      target,
    );
  }

  /** arm_smmu_clear_cd. */
  private clearCd(master: GuestMaster, ssid: number): void {
    if (!master.cdTable) return;
    const pa = this.cdPtr(master, ssid);
    if (pa === undefined) return;
    this.writeCdEntry(master, ssid, pa, new Array<bigint>(ENTRY_QWORDS).fill(0n));
  }

  // ----------------------------------------------------------------------------------------------
  // Masters

  /**
   * arm_smmu_probe_device: registers a device behind this SMMU (level-2 stream tables on demand)
   * and attaches it to the default domain. Returns the master or a negative errno (-ERANGE SID
   * outside the stream table, -ENODEV aliasing StreamID).
   */
  addDevice(spec: GuestDeviceSpec): GuestMaster | number {
    this.requireProbed();
    if (!spec.name || spec.sids.length === 0) {
      throw new VsmmuError('BAD_ARGUMENT', 'a device needs a name and at least one StreamID');
    }
    for (const sid of spec.sids) {
      if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** 32) {
        throw new VsmmuError('OUT_OF_RANGE', `StreamID ${String(sid)} is not a u32`);
      }
    }
    this.enter();
    try {
      const f = this.features;
      let ssidBits = Math.min(f.ssidBits, spec.pasidBits ?? 0);
      if (!f.twoLevelCdtab) ssidBits = Math.min(ssidBits, LINUX.CTXDESC_LINEAR_CDMAX);
      const stall = (f.stalls && spec.dmaCanStall === true) || f.stallForce;
      const master = new GuestMaster(spec, ssidBits, stall, f.ats && spec.ats === true);
      const inserted: number[] = [];
      for (const sid of master.sids) {
        if (!this.sidInRange(sid)) {
          for (const s of inserted) this.streams.delete(s);
          return -ERANGE;
        }
        const ret = this.initL2Strtab(sid);
        if (ret) {
          for (const s of inserted) this.streams.delete(s);
          return ret;
        }
        const existing = this.streams.get(sid);
        if (existing === master) continue;
        if (existing) {
          this.log(
            'warn',
            `Aliasing StreamID 0x${sid.toString(16)} (from ${existing.name}) unsupported, expect DMA to be broken`,
          );
          for (const s of inserted) this.streams.delete(s);
          return -ENODEV;
        }
        this.streams.set(sid, master);
        inserted.push(sid);
      }
      if ((this.opts.defaultDomain ?? 'blocked') === 'identity') this.attachIdentityLocked(master);
      else this.attachBlockedLocked(master);
      return master;
    } finally {
      this.leave();
    }
  }

  /**
   * arm_smmu_release_device (hot-unplug): the STE goes back to abort, PASIDs and CD tables are
   * freed and the StreamIDs forgotten.
   */
  removeDevice(master: GuestMaster): void {
    this.requireProbed();
    if (!master.present) return;
    this.enter();
    try {
      for (const ssid of [...master.pasids.keys()]) this.detachPasidLocked(master, ssid);
      this.attachBlockedLocked(master);
      for (const sid of master.sids) if (this.streams.get(sid) === master) this.streams.delete(sid);
      this.freeCdTables(master);
      master.present = false;
    } finally {
      this.leave();
    }
  }

  /** The master that owns a StreamID, if any. */
  masterOf(sid: number): GuestMaster | undefined {
    return this.streams.get(sid);
  }

  // ----------------------------------------------------------------------------------------------
  // Domains

  /**
   * arm_smmu_domain_alloc_paging_flags + arm_smmu_domain_finalise: a paging domain — stage 1
   * when the SMMU has it (ASID from 1), else stage 2 (VMID from 1; 0 is for bypass STEs). `stage`
   * forces one (-EOPNOTSUPP when absent). Returns the domain or a negative errno.
   */
  allocDomain(opts: { readonly stage?: 1 | 2 } = {}): GuestDomain | number {
    this.requireProbed();
    const f = this.features;
    const stage = opts.stage ?? (f.stage1 ? 1 : 2);
    if ((stage === 1 && !f.stage1) || (stage === 2 && !f.stage2)) return -EOPNOTSUPP;
    let domain: GuestDomain | undefined;
    const pgtable = IoPgtable.create(this.ram.mem, this.ram.alloc, {
      fmt: stage === 1 ? 'ARM_64_LPAE_S1' : 'ARM_64_LPAE_S2',
      pgsizeBitmap: f.pgsizeBitmap,
      ias: stage === 1 ? Math.min(f.vax ? 52 : 48, this.opts.vaBits ?? 48) : f.ias,
      oas: stage === 1 ? f.ias : f.oas,
      coherentWalk: f.coherent,
      cpuPageSize: this.opts.cpuPageSize ?? 4096,
      tlb: (op) => {
        if (domain) this.tlbOp(domain, op);
      },
    });
    if (!pgtable) return -ENOMEM;
    // ASIDs (stage 1) and VMIDs (stage 2) come from 1 up (0 is reserved), like the kernel's IDAs.
    const ids = stage === 1 ? this.asids : this.vmids;
    const limit = 2 ** (stage === 1 ? f.asidBits : f.vmidBits);
    let id = 1;
    while (id < limit && ids.has(id)) id++;
    if (id >= limit) {
      pgtable.free();
      return -ERRNO.ENOSPC;
    }
    ids.add(id);
    domain = stage === 1 ? new GuestDomain(1, id, 0, pgtable) : new GuestDomain(2, 0, id, pgtable);
    return domain;
  }

  /**
   * arm_smmu_domain_free_paging: -EBUSY while anything is attached. Like free_io_pgtable_ops, the
   * whole context is invalidated (io_pgtable_tlb_flush_all → TLBI_NH_ASID / TLBI_S12_VMALL +
   * CMD_SYNC) before the tables and the ASID/VMID are released for reuse.
   */
  freeDomain(domain: GuestDomain): number {
    if (domain.freed) return 0;
    if (domain.devices.length > 0) return -EBUSY;
    this.flushIotlbAll(domain);
    domain.pgtable.free();
    if (domain.stage === 1) this.asids.delete(domain.asid);
    else this.vmids.delete(domain.vmid);
    domain.freed = true;
    return 0;
  }

  /** iommu_map: 0 or a negative errno. */
  map(
    domain: GuestDomain,
    iova: number | bigint,
    paddr: number | bigint,
    size: number,
    prot: number = IOMMU_PROT.READ | IOMMU_PROT.WRITE,
  ): number {
    if (domain.freed) throw new VsmmuError('BAD_STATE', 'map on a freed domain');
    const v = toAddrArg('iova', iova);
    const p = toAddrArg('paddr', paddr);
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new VsmmuError('BAD_ARGUMENT', `map size ${String(size)} is not a positive integer`);
    }
    this.enter();
    try {
      this.stats.maps++;
      return domain.pgtable.map(v, p, size, prot);
    } finally {
      this.leave();
    }
  }

  /**
   * iommu_unmap: clears the PTEs, then invalidates the TLB for the gathered range (TLBI by
   * address, range form with RIL, + CMD_SYNC) unless a planted bug says otherwise. Returns the
   * bytes unmapped (0 or a negative value for nothing, as io-pgtable reports it).
   */
  unmap(domain: GuestDomain, iova: number | bigint, size: number): number {
    if (domain.freed) throw new VsmmuError('BAD_STATE', 'unmap on a freed domain');
    const v = toAddrArg('iova', iova);
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new VsmmuError('BAD_ARGUMENT', `unmap size ${String(size)} is not a positive integer`);
    }
    this.enter();
    try {
      this.stats.unmaps++;
      const gather: Gather = { start: Number.MAX_SAFE_INTEGER, end: 0, pgsize: 0 };
      domain.gather = gather;
      const n = domain.pgtable.unmap(v, size);
      domain.gather = undefined;
      this.iotlbSync(domain, gather);
      return n;
    } finally {
      this.leave();
    }
  }

  /** arm_smmu_iova_to_phys. */
  iovaToPhys(domain: GuestDomain, iova: number | bigint): number {
    return domain.pgtable.iovaToPhys(toAddrArg('iova', iova));
  }

  /** arm_smmu_flush_iotlb_all (arm_smmu_tlb_inv_context): TLBI by ASID or VMID + SYNC, ATC all. */
  flushIotlbAll(domain: GuestDomain): void {
    this.enter();
    try {
      if (domain.stage === 1)
        this.issueCmd({ op: 'TLBI_NH_ASID', vmid: 0, asid: domain.asid }, true);
      else this.issueCmd({ op: 'TLBI_S12_VMALL', vmid: domain.vmid }, true);
      this.atcInvDomain(domain, 0, 0);
    } finally {
      this.leave();
    }
  }

  /** io-pgtable flush ops: tlb_flush_walk (invalidate now) and tlb_add_page (gather). */
  private tlbOp(domain: GuestDomain, op: TlbOp): void {
    if (op.op === 'flush_walk') {
      this.tlbInvRangeDomain(domain, op.iova, op.size, op.granule, false);
      return;
    }
    const g = domain.gather;
    if (!g) return;
    // iommu_iotlb_gather_add_page: sync first when the page is disjoint or of another size.
    const start = op.iova;
    const end = op.iova + op.granule - 1;
    const disjoint = g.end !== 0 && (end + 1 < g.start || start > g.end + 1);
    if ((g.pgsize && g.pgsize !== op.granule) || disjoint) {
      this.iotlbSync(domain, g);
    }
    g.pgsize = op.granule;
    if (g.start > start) g.start = start;
    if (g.end < end) g.end = end;
  }

  /** arm_smmu_iotlb_sync, then iommu_iotlb_gather_init. */
  private iotlbSync(domain: GuestDomain, g: Gather): void {
    if (g.pgsize) this.tlbInvRangeDomain(domain, g.start, g.end - g.start + 1, g.pgsize, true);
    g.start = Number.MAX_SAFE_INTEGER;
    g.end = 0;
    g.pgsize = 0;
  }

  /** The ASID/VMID the (possibly buggy) driver puts in its invalidations. */
  private invalidationTag(domain: GuestDomain): number {
    const f = this.features;
    const id = domain.stage === 1 ? domain.asid : domain.vmid;
    if (!this.bugs.invalidateWrongAsid) return id;
    const bits = domain.stage === 1 ? f.asidBits : f.vmidBits;
    // Planted bug: the next tag (wrapping within the tag width, never 0).
    return id + 1 >= 2 ** bits ? 1 : id + 1;
  }

  /** arm_smmu_tlb_inv_range_domain. */
  private tlbInvRangeDomain(
    domain: GuestDomain,
    iova: number,
    size: number,
    granule: number,
    leaf: boolean,
  ): void {
    // Planted bug: the PTEs are gone but the TLB is never told.
    if (this.bugs.forgetTlbiOnUnmap) return;
    const tag = this.invalidationTag(domain);
    if (domain.stage === 1) {
      this.tlbInvRange('TLBI_NH_VA', { vmid: 0, asid: tag }, iova, size, granule, leaf, domain);
    } else {
      this.tlbInvRange('TLBI_S2_IPA', { vmid: tag, asid: 0 }, iova, size, granule, leaf, domain);
    }
    // This cannot be leaf-only: a whole table may have been zapped.
    this.atcInvDomain(domain, iova, size);
  }

  /** __arm_smmu_tlb_inv_range: one command per granule, or range commands with RIL. */
  private tlbInvRange(
    op: 'TLBI_NH_VA' | 'TLBI_S2_IPA',
    ids: { vmid: number; asid: number },
    iova: number,
    size: number,
    granule: number,
    leaf: boolean,
    domain: GuestDomain,
  ): void {
    if (!size) return;
    const ril = this.features.rangeInv;
    const end = iova + size;
    let numPages = 0;
    let tg = 0;
    let tgEnc = 0;
    let ttl = 0;
    let invRange = granule;
    if (ril) {
      // The leaf page size.
      tg = ffs(domain.pgsizeBitmap);
      numPages = Math.floor(size / 2 ** tg);
      // Page size 2^12/2^14/2^16 as TG 1/2/3.
      tgEnc = (tg - 10) / 2;
      // The level of the granule: leaf invalidations carry a TTL hint; a non-leaf one must avoid
      // NUM = SCALE = TTL = 0.
      if (leaf) ttl = 4 - Math.floor((Math.log2(granule) - 3) / (tg - 3));
      else if (numPages % 32 === 1) numPages++;
    }
    const b = this.batch();
    while (iova < end) {
      let num = 0;
      let scale = 0;
      if (ril) {
        // Each command covers the next 5 bits' worth of the remaining aligned size.
        scale = ffs(numPages);
        num = Math.floor(numPages / 2 ** scale) % (LINUX.TLBI_RANGE_NUM_MAX + 1);
        invRange = num * 2 ** (scale + tg);
        numPages -= num * 2 ** scale;
      }
      const cmd: TlbiRange = {
        vmid: ids.vmid,
        asid: ids.asid,
        num: ril ? num - 1 : 0,
        scale,
        leaf,
        ttl,
        tg: tgEnc,
        addr: iova,
      };
      b.add({ op, ...cmd });
      iova += invRange;
    }
    b.submit();
  }

  /** arm_smmu_atc_inv_to_cmd: the smallest aligned power-of-two span covering the range. */
  private atcInvCmd(ssid: number, iova: number, size: number, sid: number): CmdEnt {
    const base = { op: 'ATC_INV' as const, sid, ssid, ssv: ssid !== NO_PASID, global: false };
    if (!size) return { ...base, size: LINUX.ATC_INV_SIZE_ALL, addr: 0 };
    let pageStart = Math.floor(iova / 4096);
    const pageEnd = Math.floor((iova + size - 1) / 4096);
    const log2Span = fls(xor53(pageStart, pageEnd));
    pageStart = Math.floor(pageStart / 2 ** log2Span) * 2 ** log2Span;
    return { ...base, size: log2Span, addr: pageStart * 4096 };
  }

  /** arm_smmu_atc_inv_master. */
  private atcInvMaster(master: GuestMaster, ssid: number): void {
    const b = this.batch();
    for (const sid of master.sids) b.add(this.atcInvCmd(ssid, 0, 0, sid));
    b.submit();
  }

  /** arm_smmu_atc_inv_domain. */
  private atcInvDomain(domain: GuestDomain, iova: number, size: number): void {
    if (!this.features.ats || domain.nrAtsMasters === 0) return;
    const b = this.batch();
    for (const md of domain.devices) {
      if (!md.master.atsEnabled) continue;
      for (const sid of md.master.sids) b.add(this.atcInvCmd(md.ssid, iova, size, sid));
    }
    b.submit();
  }

  // ----------------------------------------------------------------------------------------------
  // Attach

  private domainOf(master: GuestMaster, ssid: number): GuestDomain | undefined {
    if (ssid === NO_PASID) return master.domain instanceof GuestDomain ? master.domain : undefined;
    return master.pasids.get(ssid);
  }

  /** arm_smmu_attach_prepare: ATS decision and the domain's device list. */
  private attachPrepare(
    master: GuestMaster,
    domain: GuestDomain | undefined,
    ssid: number,
    cdNeedsAts: boolean,
  ): boolean {
    let atsEnabled = false;
    if (domain || cdNeedsAts) atsEnabled = master.atsSupported;
    if (domain) {
      if (atsEnabled) domain.nrAtsMasters++;
      domain.devices.push({ master, ssid });
    }
    return atsEnabled;
  }

  /** arm_smmu_attach_commit: ATS enable/flush and removal from the old domain's list. */
  private attachCommit(
    master: GuestMaster,
    old: GuestDomain | undefined,
    ssid: number,
    atsEnabled: boolean,
  ): void {
    if (atsEnabled && !master.atsEnabled) {
      // ATC invalidation of PASID 0 flushes the whole ATC; then PCI ATS would be enabled.
      this.atcInvMaster(master, NO_PASID);
    } else if (atsEnabled && master.atsEnabled) {
      this.atcInvMaster(master, ssid);
    } else if (!atsEnabled && master.atsEnabled) {
      this.atcInvMaster(master, NO_PASID);
    }
    if (old) {
      const i = old.devices.findIndex((d) => d.master === master && d.ssid === ssid);
      if (i >= 0) {
        old.devices.splice(i, 1);
        if (master.atsEnabled) old.nrAtsMasters--;
      }
    }
    master.atsEnabled = atsEnabled;
  }

  /**
   * arm_smmu_attach_dev: attaches the master's RID to a paging domain. Stage 1: CD 0 written,
   * then a CD-table STE (S1DSS = SSID0); stage 2: an S2 STE. 0 or a negative errno.
   */
  attach(master: GuestMaster, domain: GuestDomain): number {
    this.requireProbed();
    if (!master.present) return -ENODEV;
    if (domain.freed) return -EINVAL;
    this.enter();
    try {
      let cdPa: number | undefined;
      if (domain.stage === 1) {
        cdPa = this.allocCdPtr(master, NO_PASID);
        if (cdPa === undefined) return -ENOMEM;
      } else if (master.usedSsids > 0) {
        return -EBUSY;
      }
      const old = this.domainOf(master, NO_PASID);
      const ats = this.attachPrepare(master, domain, NO_PASID, false);
      const ctx = this.steContext(master);
      if (domain.stage === 1) {
        const cd = makeS1Cd(
          {
            asid: domain.asid,
            tcr: domain.pgtable.tcr,
            ttbr: domain.pgtable.pgd,
            mair: domain.pgtable.mair,
            hd: false,
          },
          master.stallEnabled,
        );
        this.writeCdEntry(master, NO_PASID, cdPa as number, cd);
        const ste = makeCdtableSte(master.cdTable as CdTable, ctx, ats, STE_S1DSS.SSID0);
        this.installSte(master, ste);
      } else {
        const ste = makeS2DomainSte(
          {
            vmid: domain.vmid,
            vtcr: domain.pgtable.tcr,
            vttbr: domain.pgtable.pgd,
            s2fwb: false,
          },
          ctx,
          ats,
        );
        this.installSte(master, ste);
        this.clearCd(master, NO_PASID);
      }
      master.domain = domain;
      this.attachCommit(master, old, NO_PASID, ats);
      return 0;
    } finally {
      this.leave();
    }
  }

  /** Attaches the identity domain: a bypass STE (or S1DSS=bypass while PASIDs are in use). */
  attachIdentity(master: GuestMaster): number {
    return this.onPresentMaster(master, () => this.attachIdentityLocked(master));
  }

  /** Attaches the blocked domain: an abort STE (or S1DSS=terminate while PASIDs are in use). */
  attachBlocked(master: GuestMaster): number {
    return this.onPresentMaster(master, () => this.attachBlockedLocked(master));
  }

  /** Runs `fn` inside the driver for a probed, present master: 0, or -ENODEV when unplugged. */
  private onPresentMaster(master: GuestMaster, fn: () => void): number {
    this.requireProbed();
    if (!master.present) return -ENODEV;
    this.enter();
    try {
      fn();
      return 0;
    } finally {
      this.leave();
    }
  }

  /** Detaches the RID from its domain (the blocked domain takes its place). */
  detach(master: GuestMaster): number {
    return this.attachBlocked(master);
  }

  private attachIdentityLocked(master: GuestMaster): void {
    this.attachDevSte(
      master,
      makeBypassSte(this.features.attrTypesOvr),
      STE_S1DSS.BYPASS,
      'identity',
    );
  }

  private attachBlockedLocked(master: GuestMaster): void {
    this.attachDevSte(master, makeAbortSte(), STE_S1DSS.TERMINATE, 'blocked');
  }

  /** arm_smmu_attach_dev_ste. */
  private attachDevSte(
    master: GuestMaster,
    ste: bigint[],
    s1dss: number,
    kind: 'identity' | 'blocked',
  ): void {
    const old = this.domainOf(master, NO_PASID);
    let target = ste;
    let ats: boolean;
    if (master.usedSsids > 0) {
      // A CD table must stay: assume a PASID uses ATS, and select the RID behaviour by S1DSS.
      ats = this.attachPrepare(master, undefined, NO_PASID, true);
      target = makeCdtableSte(master.cdTable as CdTable, this.steContext(master), ats, s1dss);
    } else {
      ats = this.attachPrepare(master, undefined, NO_PASID, false);
    }
    this.installSte(master, target);
    master.domain = kind;
    this.attachCommit(master, old, NO_PASID, ats);
    this.clearCd(master, NO_PASID);
  }

  /**
   * arm_smmu_set_pasid: attaches SSID `ssid` (≥ 1) of the master to a stage-1 domain. The RID
   * must be identity, blocked or a stage-1 domain. 0 or a negative errno.
   */
  attachPasid(master: GuestMaster, ssid: number, domain: GuestDomain): number {
    this.requireProbed();
    if (!master.present) return -ENODEV;
    if (!Number.isInteger(ssid) || ssid < 1 || ssid >= 2 ** master.ssidBits) return -EINVAL;
    if (domain.stage !== 1 || domain.freed) return -EINVAL;
    const sidDomain = master.domain;
    if (!master.cdTableInSte && sidDomain !== 'identity' && sidDomain !== 'blocked') return -EINVAL;
    this.enter();
    try {
      const cdPa = this.allocCdPtr(master, ssid);
      if (cdPa === undefined) return -ENOMEM;
      const old = master.pasids.get(ssid);
      const ats = this.attachPrepare(master, domain, ssid, false);
      const cd = makeS1Cd(
        {
          asid: domain.asid,
          tcr: domain.pgtable.tcr,
          ttbr: domain.pgtable.pgd,
          mair: domain.pgtable.mair,
          hd: false,
        },
        master.stallEnabled,
      );
      this.writeCdEntry(master, ssid, cdPa, cd);
      master.pasids.set(ssid, domain);
      this.updateSte(master, ats);
      this.attachCommit(master, old, ssid, ats);
      return 0;
    } finally {
      this.leave();
    }
  }

  /** arm_smmu_update_ste: a CD-table STE whose S1DSS gives the RID its identity/blocked behaviour. */
  private updateSte(master: GuestMaster, ats: boolean): void {
    if (master.cdTableInSte && master.steAtsEnabled === ats) return;
    const s1dss = master.domain === 'identity' ? STE_S1DSS.BYPASS : STE_S1DSS.TERMINATE;
    const ste = makeCdtableSte(master.cdTable as CdTable, this.steContext(master), ats, s1dss);
    this.installSte(master, ste);
  }

  /** arm_smmu_blocking_set_dev_pasid: clears the CD of `ssid`. 0 or a negative errno. */
  detachPasid(master: GuestMaster, ssid: number): number {
    this.requireProbed();
    if (!master.pasids.has(ssid)) return -EINVAL;
    this.enter();
    try {
      this.detachPasidLocked(master, ssid);
      return 0;
    } finally {
      this.leave();
    }
  }

  private detachPasidLocked(master: GuestMaster, ssid: number): void {
    const domain = master.pasids.get(ssid);
    this.clearCd(master, ssid);
    if (master.atsEnabled) this.atcInvMaster(master, ssid);
    master.pasids.delete(ssid);
    if (domain) {
      const i = domain.devices.findIndex((d) => d.master === master && d.ssid === ssid);
      if (i >= 0) {
        domain.devices.splice(i, 1);
        if (master.atsEnabled) domain.nrAtsMasters--;
      }
    }
    // The last PASID gone: downgrade the STE back to a plain bypass/abort one.
    if (master.usedSsids === 0) {
      if (master.domain === 'identity') this.attachIdentityLocked(master);
      else if (master.domain === 'blocked') this.attachBlockedLocked(master);
    }
  }

  /** Disables the SMMU (arm_smmu_device_shutdown): CR0 = 0. */
  shutdown(): number {
    this.enter();
    try {
      const ret = this.deviceDisable();
      this.probed = false;
      return ret;
    } finally {
      this.leave();
    }
  }

  /** Reads the CD of (master, ssid) from guest RAM, if allocated. */
  readCd(master: GuestMaster, ssid: number = NO_PASID): bigint[] | undefined {
    const pa = this.cdPtr(master, ssid);
    if (pa === undefined) return undefined;
    const out: bigint[] = [];
    for (let i = 0; i < ENTRY_QWORDS; i++) out.push(this.ram.mem.read64(pa + 8 * i));
    return out;
  }
}
