// The host arm-smmu-v3 driver (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c) as far as iommufd needs
// it, programming an SMMU only through its MMIO port and the host physical memory, like the kernel:
//  - probe: ID registers → features, IAS/OAS, ASID/VMID/SID/SSID widths, queue sizes
//    (arm_smmu_device_hw_probe);
//  - reset: stream table (linear or 2-level, arm_smmu_init_strtab_*), command and event queues in
//    host memory, CR1/CR2/GBPA, CFGI_ALL + TLBI_NSNH_ALL, queue and SMMU enables
//    (arm_smmu_device_reset);
//  - the command queue (arm_smmu_cmdq_issue_cmdlist): entries written to memory, PROD advanced,
//    CMD_SYNC completion polled through CONS; a log of every command for `commandsSince(mark)`;
//  - masters (arm_smmu_probe_device): L2 stream tables on demand, initial abort STEs;
//  - paging domains (arm_smmu_domain_alloc_paging_flags, finalise_s1/_s2): ASID/VMID allocation,
//    io-pgtable, TLB invalidation on unmap (__arm_smmu_tlb_inv_range incl. range commands, the extra
//    TLBI_NH_ALL for nest parents, ATC invalidation);
//  - attach (arm_smmu_attach_dev, _blocked, _nested via ./vsmmu.ts): STE/CD installed with the hitless
//    writer and CFGI_STE/CFGI_CD + CMD_SYNC through the real queue;
//  - the event queue (arm_smmu_evtq_thread / arm_smmu_handle_event).

import { hex64, hi32, joinU64, lo32 } from '../../arch/bits.ts';
import { ERRNO } from '../../arch/errno.ts';
import type { TraceSink } from '../../arch/trace.ts';
import type { SparseMemory } from '../../mem/sparse-memory.ts';
import {
  IoPgtable,
  type PageAllocator as PgtableAllocator,
  type TlbOp,
} from '../../pgtable/index.ts';
import type { PagingDomain } from '../domain.ts';
import type { FaultInjector } from '../host-memory.ts';
import { ULONG_MAX } from '../io-pagetable.ts';
import type { KernelSwitches } from '../profile.ts';
import {
  CMD,
  CMD_NAME,
  CMDF,
  CMDQ_BATCH_ENTRIES,
  CR0,
  type DriverFeatures,
  EVT,
  fieldGet,
  fieldPrep,
  GBPA,
  IDR0,
  IRQ_CTRL,
  Q,
  REG,
  S1DSS,
  S1FMT,
  STE,
  STRTAB_SPLIT,
} from './defs.ts';
import { type EntryWriterOps, type WriteStep, writeEntry } from './entry-writer.ts';
import type { SmmuPort } from './smmu-port.ts';
import {
  makeAbortSte,
  makeBypassSte,
  makeCdtableSte,
  makeS1Cd,
  makeS2DomainSte,
  type S1Cfg,
  type S2Cfg,
  type SteContext,
} from './ste.ts';

const { EINVAL, ENOMEM, EOPNOTSUPP, EBUSY, ETIMEDOUT } = ERRNO;

/** A device behind the SMMU (struct arm_smmu_master + its firmware description). */
export interface MasterInfo {
  readonly name: string;
  readonly sids: readonly number[];
  /** PCI ATS capability. */
  readonly ats: boolean;
  /** PASID width supported by the device (0 = none). */
  readonly pasidBits: number;
  /** Firmware dma-can-stall. */
  readonly stallEnabled: boolean;
  /** IORT CANWBS (coherent, write-back shareable). */
  readonly canwbs: boolean;
}

/** One command as executed through the queue. */
export interface LoggedCommand {
  /** Sequence number (`mark()` returns the next one). */
  readonly seq: number;
  readonly opcode: number;
  readonly name: string;
  readonly words: readonly [bigint, bigint];
}

/** Driver state of a master. */
export class Master {
  /** What the STE currently points at. */
  domain: SmmuDomain | NestedAttachment | 'blocked' | 'bypass' = 'blocked';
  atsEnabled = false;
  /** The vSID the events of this master are reported with (snapshot at nested attach). */
  vmaster: { vsmmu: unknown; vsid: bigint } | null = null;
  /** Linear CD table (allocated on the first stage-1 attach). */
  cdTable: { pa: number; entries: number; s1cdmax: number } | null = null;
  /** SSIDs > 0 with a CD installed (PASID attachments; not modelled beyond the count). */
  ssidsInUse = 0;

  readonly info: MasterInfo;
  readonly smmu: ArmSmmuV3;

  constructor(info: MasterInfo, smmu: ArmSmmuV3) {
    this.info = info;
    this.smmu = smmu;
  }
}

/** A nested attachment as the driver sees it (the nested domain's STE source). */
export interface NestedAttachment {
  readonly kind: 'nested';
  readonly vste: readonly [bigint, bigint];
  readonly enableAts: boolean;
  readonly parent: SmmuDomain;
}

/** Page-table memory provider (the kernel page allocator); -1 when exhausted. */
export interface TableAllocator {
  allocTable(pages: number, alignBytes: number): number;
  freeTable(pa: number, pages: number): void;
}

/** An arm_smmu_domain (stage 1 or stage 2 paging) over the io-pgtable of src/pgtable. */
export class SmmuDomain implements PagingDomain {
  readonly kind = 'paging' as const;
  readonly apertureEnd: bigint;
  dirtyTracking = false;
  /** Allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING (the domain has dirty ops). */
  dirtyOps = false;
  /** Masters attached directly or through a nested domain (for ATC invalidation). */
  readonly masters = new Set<Master>();
  freed = false;
  /** TLB maintenance the page-table code requested during the current unmap. */
  readonly pendingTlb: TlbOp[];
  readonly smmu: ArmSmmuV3;
  readonly stage: 1 | 2;
  readonly nestParent: boolean;
  readonly pgtable: IoPgtable;
  /** ASID (stage 1) or VMID (stage 2). */
  readonly tag: number;
  readonly s2fwb: boolean;

  constructor(
    smmu: ArmSmmuV3,
    stage: 1 | 2,
    nestParent: boolean,
    pgtable: IoPgtable,
    tag: number,
    s2fwb: boolean,
    pendingTlb: TlbOp[],
  ) {
    this.pendingTlb = pendingTlb;
    this.smmu = smmu;
    this.stage = stage;
    this.nestParent = nestParent;
    this.pgtable = pgtable;
    this.tag = tag;
    this.s2fwb = s2fwb;
    this.apertureEnd = (1n << BigInt(pgtable.ias)) - 1n;
  }

  get iommu(): number {
    return this.smmu.index;
  }

  /** Page sizes the domain maps (io-pgtable's restricted bitmap). */
  get pgsizeBitmap(): number {
    return this.pgtable.pgsizeBitmap;
  }

  get vmid(): number {
    return this.stage === 2 ? this.tag : 0;
  }

  get asid(): number {
    return this.stage === 1 ? this.tag : 0;
  }

  /** iommu_map: 0 or a negative errno (mapped pages are rolled back on failure). */
  map(iova: number, pa: number, size: number, prot: number): number {
    return this.pgtable.map(iova, pa, size, prot);
  }

  /**
   * iommu_unmap + iotlb_sync: the table walks freed on the way are flushed as they happen
   * (tlb_flush_walk), then the gathered leaf range is invalidated with the leaf size as granule.
   */
  unmap(iova: number, size: number): number {
    this.pendingTlb.length = 0;
    const n = this.pgtable.unmap(iova, size);
    let leafGranule = 0;
    for (const op of this.pendingTlb) {
      if (op.op === 'flush_walk')
        this.smmu.tlbInvRangeDomain(this, op.iova, op.size, op.granule, false);
      else leafGranule = Math.max(leafGranule, op.granule);
    }
    this.pendingTlb.length = 0;
    if (n > 0 && leafGranule > 0) this.smmu.tlbInvRangeDomain(this, iova, n, leafGranule, true);
    return Math.max(n, 0);
  }

  iovaToPhys(iova: number): number {
    const pa = this.pgtable.iovaToPhys(iova);
    return pa === 0 ? -1 : pa;
  }

  /**
   * arm_lpae_read_and_clear_dirty (stage 1 with IO_PGTABLE_QUIRK_ARM_HD, 4 KiB granule): calls
   * `record(iova, size)` for every writeable-dirty leaf (DBM set, AP[2] clear) in
   * [iova, iova + size) and, unless `noClear`, makes it clean again (AP[2] set). -EINVAL when a
   * hole is met. The TLB is flushed for the range when anything was cleaned.
   */
  readAndClearDirty(
    iova: number,
    size: number,
    noClear: boolean,
    record: (iova: number, size: number) => void,
  ): number {
    const mem = this.smmu.mem;
    const start = this.pgtable.geometry.startLevel;
    const ias = this.pgtable.ias;
    const end = iova + size;
    let cur = iova;
    let cleaned = false;
    while (cur < end) {
      let table = this.pgtable.pgd;
      let level = start;
      let leafSlot = -1;
      let leafSize = 0;
      for (;;) {
        const shift = 12 + 9 * (3 - level);
        const bits = level === start ? ias - shift : 9;
        const idx = Math.floor(cur / 2 ** shift) % 2 ** bits;
        const slot = table + idx * 8;
        const pte = mem.read64(slot);
        if ((pte & 1n) === 0n) return -EINVAL;
        if (level === 3 || (pte & 2n) === 0n) {
          leafSlot = slot;
          leafSize = 2 ** shift;
          break;
        }
        table = Number(pte & 0x000f_ffff_ffff_f000n);
        level++;
      }
      const pte = mem.read64(leafSlot);
      const base = cur - (cur % leafSize);
      // iopte_writeable_dirty: DBM (bit 51) set and AP[2] (bit 7, read-only) clear.
      if ((pte & (1n << 51n)) !== 0n && (pte & (1n << 7n)) === 0n) {
        record(base, leafSize);
        if (!noClear) {
          mem.write64(leafSlot, pte | (1n << 7n));
          cleaned = true;
        }
      }
      cur = base + leafSize;
    }
    if (cleaned) this.smmu.tlbInvRangeDomain(this, iova, size, 4096, true);
    return 0;
  }

  /** The stage-2 configuration for STEs. */
  s2Cfg(): S2Cfg {
    const t = this.pgtable.tcr;
    return { vmid: this.tag, vttbr: BigInt(this.pgtable.pgd), vtcr: t, s2fwb: this.s2fwb };
  }

  /** The stage-1 configuration for CDs. */
  s1Cfg(): S1Cfg {
    const t = this.pgtable.tcr;
    return {
      asid: this.tag,
      ttbr: BigInt(this.pgtable.pgd),
      tcr: { tsz: t.tsz, tg: t.tg, irgn: t.irgn, orgn: t.orgn, sh: t.sh, ips: t.ps },
      mair: this.pgtable.mair,
      hd: this.dirtyOps,
    };
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    // Flush the tag before reuse (arm_smmu_domain_free: TLBI_S12_VMALL / TLBI_NH_ASID).
    if (this.stage === 2) {
      this.smmu.issue(
        [[fieldPrep(CMDF.OP, CMD.TLBI_S12_VMALL) | fieldPrep(CMDF.VMID, this.tag), 0n]],
        true,
      );
      this.smmu.vmids.delete(this.tag);
    } else {
      this.smmu.issue(
        [[fieldPrep(CMDF.OP, CMD.TLBI_NH_ASID) | fieldPrep(CMDF.ASID, this.tag), 0n]],
        true,
      );
      this.smmu.asids.delete(this.tag);
    }
    this.pgtable.free();
  }
}

/** Options of a driver instance. */
export interface ArmSmmuV3Options {
  /** ARM_SMMU_OPT_CMDQ_FORCE_SYNC (disables vIOMMU support). */
  readonly forceSync?: boolean;
  /** arm-smmu-v3.disable_bypass (default true: unattached streams abort). */
  readonly disableBypass?: boolean;
  /** log2 of the command/event queue sizes the driver allocates (capped by IDR1). */
  readonly cmdqLog2?: number;
  readonly evtqLog2?: number;
}

/** Kernel services the driver uses. */
export interface DriverEnv {
  readonly mem: SparseMemory;
  readonly alloc: TableAllocator;
  readonly faults: FaultInjector;
  readonly switches: KernelSwitches;
  readonly trace?: TraceSink | undefined;
}

/** An event the driver's event thread handled (for logs and inspection). */
export interface HandledEvent {
  readonly raw: readonly [bigint, bigint, bigint, bigint];
  readonly id: number;
  readonly sid: number;
  /** forwarded: reported to a vEVENTQ; logged: printed by the host driver. */
  readonly outcome: 'forwarded' | 'logged';
  readonly detail: string;
}

/** Hook that forwards an event of a master with a vmaster (implemented by ./vsmmu.ts). */
export type EventForwarder = (
  master: Master,
  raw: readonly [bigint, bigint, bigint, bigint],
) => number;

/** Commands the driver's log keeps at least (the newest ones). */
const COMMAND_LOG_LIMIT = 65536;

function commandName(opcode: number): string {
  return CMD_NAME[opcode] ?? `0x${opcode.toString(16)}`;
}

/** CMD_SYNC word 0 as the driver issues it: CS = SEV, MSH = ISH, MSIATTR = OIWB. */
const SYNC_W0 = fieldPrep(CMDF.OP, CMD.CMD_SYNC) | (2n << 12n) | (3n << 22n) | (0xfn << 24n);

/** One arm-smmu-v3 instance. */
export class ArmSmmuV3 {
  readonly features: DriverFeatures;
  readonly ias: number;
  readonly oas: number;
  readonly asidBits: number;
  readonly vmidBits: number;
  readonly sidBits: number;
  readonly ssidBits: number;
  readonly idr: readonly number[];
  readonly iidr: number;
  readonly aidr: number;
  readonly masters = new Map<number, Master>();
  readonly asids = new Set<number>();
  readonly vmids = new Set<number>();
  /**
   * The newest commands issued (at most COMMAND_LOG_LIMIT) as u32 halves (w0 lo, w0 hi, w1 lo,
   * w1 hi), command `seq` at slot `seq mod capacity`: no object or bigint is kept per command.
   * The capacity doubles from 256 up to the limit, then the ring wraps.
   */
  private logBuf = new Uint32Array(4 * 256);
  readonly handledEvents: HandledEvent[] = [];
  private seq = 0;
  private strtab = { base: 0, fmt: 0 as 0 | 1, l1Entries: 0, linearEntries: 0 };
  private readonly l2Tables = new Map<number, number>();
  private cmdq = { base: 0, log2: 0, prod: 0 };
  private evtq = { base: 0, log2: 0 };
  /** Set by the vsmmu layer: forwards events of masters with a vmaster. */
  forwardEvent: EventForwarder | undefined;
  /** CMD_SYNC polls before giving up (-ETIMEDOUT). */
  syncPollLimit = 1000;
  /** Command errors serviced (CERROR_* skipped). */
  cmdErrors = 0;
  /** arm_smmu_ops.pgsize_bitmap from IDR5 (4K: 4K|2M|1G, 16K: 16K|32M, 64K: 64K|512M). */
  readonly pgsizeBitmap: number;
  /** The kernel page allocator as io-pgtable sees it. */
  readonly pgAlloc: PgtableAllocator;

  readonly index: number;
  readonly port: SmmuPort;
  private readonly env: DriverEnv;
  readonly options: ArmSmmuV3Options;

  constructor(index: number, port: SmmuPort, env: DriverEnv, options: ArmSmmuV3Options = {}) {
    this.index = index;
    this.port = port;
    this.env = env;
    this.options = options;
    const idr: number[] = [];
    for (let i = 0; i < 6; i++) idr.push(port.read32(REG.IDR0 + 4 * i));
    this.idr = idr;
    this.iidr = port.read32(REG.IIDR);
    this.aidr = port.read32(REG.AIDR);
    const [i0 = 0, i1 = 0, , i3 = 0, , i5 = 0] = idr;
    const bit = (v: number, b: number) => ((v >>> b) & 1) === 1;
    const ttf = (i0 >>> IDR0.TTF_SHIFT) & 3;
    const stallModel = (i0 >>> IDR0.STALL_MODEL_SHIFT) & 3;
    const httu = (i0 >>> IDR0.HTTU_SHIFT) & 3;
    const s1 = bit(i0, IDR0.S1P);
    const s2 = bit(i0, IDR0.S2P);
    this.features = {
      twoLevelStrtab: ((i0 >>> IDR0.ST_LVL_SHIFT) & 3) === 1,
      twoLevelCdtab: bit(i0, IDR0.CD2L),
      ttfLE: true,
      pri: bit(i0, IDR0.PRI),
      ats: bit(i0, IDR0.ATS),
      sev: bit(i0, IDR0.SEV),
      msi: bit(i0, IDR0.MSI),
      coherency: bit(i0, IDR0.COHACC),
      transS1: s1,
      transS2: s2,
      stalls: stallModel === 0 || stallModel === 2,
      stallForce: stallModel === 2,
      hyp: bit(i0, IDR0.HYP),
      vax: ((i5 >>> 10) & 3) === 1,
      rangeInv: bit(i3, 10),
      btm: false,
      sva: false,
      e2h: false,
      nesting: s1 && s2,
      attrTypesOvr: bit(i1, 27),
      httuHa: httu >= 1,
      httuHd: httu >= 2,
      s2fwb: bit(i3, 8),
    };
    const oasCode = i5 & 7;
    this.oas = [32, 36, 40, 42, 44, 48, 52, 48][oasCode] ?? 48;
    // AArch32 tables force a 40-bit IAS minimum; the IAS is never below the OAS.
    this.ias = Math.max(ttf & 1 ? 40 : 0, this.oas);
    this.asidBits = bit(i0, IDR0.ASID16) ? 16 : 8;
    this.vmidBits = bit(i0, IDR0.VMID16) ? 16 : 8;
    this.sidBits = i1 & 0x3f;
    this.ssidBits = (i1 >>> 6) & 0x1f;
    let pg = 0;
    if (bit(i5, 4)) pg += 0x1000 + 0x20_0000 + 0x4000_0000;
    if (bit(i5, 5)) pg += 0x4000 + 0x200_0000;
    if (bit(i5, 6)) pg += 0x1_0000 + 0x2000_0000;
    this.pgsizeBitmap = pg;
    this.pgAlloc = {
      alloc: (bytes) => {
        const pa = env.alloc.allocTable(Math.ceil(bytes / 4096), Math.max(4096, bytes));
        return pa < 0 ? undefined : pa;
      },
      free: (addr, bytes) => env.alloc.freeTable(addr, Math.ceil(bytes / 4096)),
    };
    this.reset();
  }

  get faults(): FaultInjector {
    return this.env.faults;
  }

  get switches(): KernelSwitches {
    return this.env.switches;
  }

  get mem(): SparseMemory {
    return this.env.mem;
  }

  /** STE builder context for a master. */
  steCtx(master: Master | null): SteContext {
    return {
      attrTypesOvr: this.features.attrTypesOvr,
      stalls: this.features.stalls,
      e2h: this.features.e2h,
      stallEnabled: master?.info.stallEnabled ?? false,
    };
  }

  // ---- bring-up ----

  private allocOrThrow(pages: number, align: number): number {
    const pa = this.env.alloc.allocTable(pages, align);
    if (pa < 0) throw new Error('out of host memory while probing the SMMU');
    return pa;
  }

  private waitAck(reg: number, want: number): void {
    for (let i = 0; i < 100; i++) if (this.port.read32(reg) === want) return;
  }

  private writeCr0(v: number): void {
    this.port.write32(REG.CR0, v);
    this.waitAck(REG.CR0ACK, v);
  }

  private reset(): void {
    const p = this.port;
    // Disable everything first (arm_smmu_device_disable).
    this.writeCr0(0);
    // Unattached streams abort (GBPA.ABORT with the UPDATE handshake).
    if (this.options.disableBypass ?? true) {
      p.write32(REG.GBPA, GBPA.UPDATE | GBPA.ABORT);
      for (let i = 0; i < 100 && p.read32(REG.GBPA) & GBPA.UPDATE; i++);
    }
    // CR1: tables and queues inner-shareable write-back (CR1_*_SH ISH, OC/IC WB).
    const wb = 1;
    const ish = 3;
    p.write32(REG.CR1, (ish << 10) | (wb << 8) | (wb << 6) | (ish << 4) | (wb << 2) | wb);
    // CR2: PTM | RECINVSID (E2H not used).
    p.write32(REG.CR2, (1 << 2) | (1 << 1));
    // Stream table.
    if (this.features.twoLevelStrtab) {
      const size = Math.min(17, Math.max(this.sidBits - STRTAB_SPLIT, 0));
      const l1 = 1 << size;
      const bytes = Math.max(l1 * 8, 64);
      const base = this.allocOrThrow(Math.ceil(bytes / 4096), Math.max(4096, bytes));
      this.strtab = { base, fmt: 1, l1Entries: l1, linearEntries: 0 };
      p.write64(REG.STRTAB_BASE, (1n << 62n) | BigInt(base));
      p.write32(REG.STRTAB_BASE_CFG, (1 << 16) | (STRTAB_SPLIT << 6) | (size + STRTAB_SPLIT));
    } else {
      const n = 1 << this.sidBits;
      const bytes = n * 64;
      const base = this.allocOrThrow(Math.ceil(bytes / 4096), Math.max(4096, bytes));
      this.strtab = { base, fmt: 0, l1Entries: 0, linearEntries: n };
      const abort = makeAbortSte();
      const bypass = makeBypassSte(this.steCtx(null));
      const init = (this.options.disableBypass ?? true) ? abort : bypass;
      for (let s = 0; s < n; s++) this.storeSte(base + s * 64, init);
      p.write64(REG.STRTAB_BASE, (1n << 62n) | BigInt(base));
      p.write32(REG.STRTAB_BASE_CFG, this.sidBits);
    }
    // Command queue.
    const i1 = this.idr[1] ?? 0;
    const cmdqs = Math.min((i1 >>> 21) & 0x1f, this.options.cmdqLog2 ?? 8);
    const evtqs = Math.min((i1 >>> 16) & 0x1f, this.options.evtqLog2 ?? 7);
    const cbytes = (1 << cmdqs) * 16;
    const cbase = this.allocOrThrow(Math.ceil(cbytes / 4096), Math.max(4096, cbytes));
    this.cmdq = { base: cbase, log2: cmdqs, prod: 0 };
    p.write64(REG.CMDQ_BASE, Q.BASE_RWA | BigInt(cbase) | BigInt(cmdqs));
    p.write32(REG.CMDQ_PROD, 0);
    p.write32(REG.CMDQ_CONS, 0);
    this.writeCr0(CR0.CMDQEN);
    // Invalidate any cached configuration and TLB entries.
    this.issue([[fieldPrep(CMDF.OP, CMD.CFGI_ALL), fieldPrep(CMDF.CFGI_RANGE, 31)]], true);
    if (this.features.hyp) this.issue([[fieldPrep(CMDF.OP, CMD.TLBI_EL2_ALL), 0n]], false);
    this.issue([[fieldPrep(CMDF.OP, CMD.TLBI_NSNH_ALL), 0n]], true);
    // Event queue.
    const ebytes = (1 << evtqs) * 32;
    const ebase = this.allocOrThrow(Math.ceil(ebytes / 4096), Math.max(4096, ebytes));
    this.evtq = { base: ebase, log2: evtqs };
    p.write64(REG.EVTQ_BASE, Q.BASE_RWA | BigInt(ebase) | BigInt(evtqs));
    p.write32(REG.EVTQ_PROD, 0);
    p.write32(REG.EVTQ_CONS, 0);
    this.writeCr0(CR0.CMDQEN | CR0.EVTQEN);
    p.write32(REG.IRQ_CTRL, IRQ_CTRL.GERROR | IRQ_CTRL.EVTQ);
    this.waitAck(REG.IRQ_CTRLACK, IRQ_CTRL.GERROR | IRQ_CTRL.EVTQ);
    const ats = this.features.ats ? CR0.ATSCHK : 0;
    this.writeCr0(CR0.CMDQEN | CR0.EVTQEN | ats | CR0.SMMUEN);
  }

  // ---- command queue ----

  /** Sequence number of the next command (for `commandsSince`). */
  mark(): number {
    return this.seq;
  }

  /**
   * Commands issued since `mark`. Only the newest COMMAND_LOG_LIMIT (at least) are kept; an older
   * mark gets the oldest kept command onwards.
   */
  commandsSince(mark: number): LoggedCommand[] {
    const out: LoggedCommand[] = [];
    if (Number.isNaN(mark)) return out;
    const b = this.logBuf;
    const cap = b.length / 4;
    const from = Math.max(this.seq - cap, 0, Math.ceil(mark));
    for (let seq = from; seq < this.seq; seq++) {
      const k = 4 * (seq & (cap - 1));
      const lo0 = b[k] as number;
      const opcode = lo0 & 0xff;
      const words = [
        joinU64(lo0, b[k + 1] as number),
        joinU64(b[k + 2] as number, b[k + 3] as number),
      ] as const;
      out.push({ seq, opcode, name: commandName(opcode), words });
    }
    return out;
  }

  /** The kept command log (see `commandsSince`). */
  get commandLog(): LoggedCommand[] {
    return this.commandsSince(0);
  }

  private queueMask(): number {
    return (1 << (this.cmdq.log2 + 1)) - 1;
  }

  /**
   * Waits until the SMMU consumed everything published (CONS == PROD); services a command error
   * on the way (GERROR.CMDQ_ERR ≠ GERRORN.CMDQ_ERR). False after `syncPollLimit` polls.
   */
  private drain(): boolean {
    const mask = this.queueMask();
    for (let i = 0; i < this.syncPollLimit; i++) {
      const gerror = this.port.read32(REG.GERROR);
      const gerrorn = this.port.read32(REG.GERRORN);
      if ((gerror ^ gerrorn) & 1) this.skipError(gerror);
      if ((this.port.read32(REG.CMDQ_CONS) & mask) === this.cmdq.prod) return true;
    }
    return false;
  }

  /**
   * arm_smmu_cmdq_skip_err: the command at CONS is replaced by a CMD_SYNC and the error is
   * acknowledged (GERRORN toggled to match), so the queue resumes.
   */
  private skipError(gerror: number): void {
    const mask = this.queueMask();
    const cons = this.port.read32(REG.CMDQ_CONS) & mask;
    const n = 1 << this.cmdq.log2;
    const pa = this.cmdq.base + (cons & (n - 1)) * 16;
    const [w0, w1] = this.syncCmd();
    this.env.mem.write64(pa, w0);
    this.env.mem.write64(pa + 8, w1);
    this.cmdErrors++;
    this.port.write32(REG.GERRORN, gerror);
  }

  private syncCmd(): [bigint, bigint] {
    return [SYNC_W0, 0n];
  }

  private logCommand(lo0: number, hi0: number, lo1: number, hi1: number): void {
    let b = this.logBuf;
    let cap = b.length / 4;
    if (this.seq >= cap && cap < COMMAND_LOG_LIMIT) {
      // Not wrapped yet (seq < cap so far): the entries keep their slots in the larger ring.
      const grown = new Uint32Array(b.length * 2);
      grown.set(b);
      this.logBuf = grown;
      b = grown;
      cap *= 2;
    }
    const k = 4 * (this.seq & (cap - 1));
    b[k] = lo0;
    b[k + 1] = hi0;
    b[k + 2] = lo1;
    b[k + 3] = hi1;
    this.seq++;
  }

  /**
   * arm_smmu_cmdq_issue_cmdlist: writes the commands (and a CMD_SYNC when `sync`) into the queue
   * and publishes them; with `sync`, waits for the CMD_SYNC to be consumed. 0 or -ETIMEDOUT.
   */
  issue(cmds: readonly (readonly [bigint, bigint])[], sync: boolean): number {
    // Entry `cmds.length` is the CMD_SYNC when `sync`.
    const total = sync ? cmds.length + 1 : cmds.length;
    const q = this.cmdq;
    const n = 1 << q.log2;
    const mask = this.queueMask();
    const mem = this.env.mem;
    let i = 0;
    while (i < total) {
      // Space: at most n entries outstanding.
      const cons = this.port.read32(REG.CMDQ_CONS) & mask;
      const used = (q.prod - cons) & mask;
      let room = n - used;
      if (room <= 0) {
        if (!this.drain()) return -ETIMEDOUT;
        continue;
      }
      while (room > 0 && i < total) {
        let w0 = SYNC_W0;
        let w1 = 0n;
        if (i < cmds.length) {
          const c = cmds[i] as readonly [bigint, bigint];
          w0 = c[0];
          w1 = c[1];
        }
        const pa = q.base + (q.prod & (n - 1)) * 16;
        // The queue is 16-byte aligned: the split writes are write64's aligned path.
        const lo0 = lo32(w0);
        const hi0 = hi32(w0);
        const lo1 = lo32(w1);
        const hi1 = hi32(w1);
        mem.write64Split(pa, lo0, hi0);
        mem.write64Split(pa + 8, lo1, hi1);
        this.logCommand(lo0, hi0, lo1, hi1);
        if (this.env.trace) {
          const name = commandName(lo0 & 0xff);
          this.env.trace({ kind: 'command', opcode: name, words: [w0, w1], source: 'host-driver' });
        }
        q.prod = (q.prod + 1) & mask;
        i++;
        room--;
      }
      this.port.write32(REG.CMDQ_PROD, q.prod);
    }
    if (sync && !this.drain()) return -ETIMEDOUT;
    return 0;
  }

  /** Issues commands in CMDQ_BATCH_ENTRIES-1 blocks, each ending with a sync (cmdq batch). */
  issueBatched(cmds: readonly (readonly [bigint, bigint])[]): number {
    for (let i = 0; i < cmds.length; i += CMDQ_BATCH_ENTRIES - 1) {
      const rc = this.issue(cmds.slice(i, i + CMDQ_BATCH_ENTRIES - 1), true);
      if (rc) return rc;
    }
    return 0;
  }

  // ---- stream table ----

  private storeSte(pa: number, ste: readonly bigint[]): void {
    for (let i = 0; i < 8; i++) this.env.mem.write64(pa + 8 * i, ste[i] ?? 0n);
  }

  /** PA of the STE of `sid`, or -1 when its level-2 table does not exist. */
  steAddr(sid: number): number {
    if (this.strtab.fmt === 0) {
      return sid < this.strtab.linearEntries ? this.strtab.base + sid * 64 : -1;
    }
    const l1 = sid >>> STRTAB_SPLIT;
    const l2 = this.l2Tables.get(l1);
    if (l2 === undefined) return -1;
    return l2 + (sid & ((1 << STRTAB_SPLIT) - 1)) * 64;
  }

  /** arm_smmu_init_l2_strtab: allocates the level-2 table holding `sid` (ENOMEM on failure). */
  private ensureL2(sid: number): number {
    if (this.strtab.fmt === 0) return sid < this.strtab.linearEntries ? 0 : -EINVAL;
    const l1 = sid >>> STRTAB_SPLIT;
    if (l1 >= this.strtab.l1Entries) return -EINVAL;
    if (this.l2Tables.has(l1)) return 0;
    if (this.env.faults.hit('alloc')) return -ENOMEM;
    const entries = 1 << STRTAB_SPLIT;
    const bytes = entries * 64;
    const pa = this.env.alloc.allocTable(bytes / 4096, bytes);
    if (pa < 0) return -ENOMEM;
    const init =
      (this.options.disableBypass ?? true) ? makeAbortSte() : makeBypassSte(this.steCtx(null));
    for (let s = 0; s < entries; s++) this.storeSte(pa + s * 64, init);
    this.l2Tables.set(l1, pa);
    // L1 descriptor: L2Ptr | SPAN (STRTAB_SPLIT + 1).
    this.env.mem.write64(this.strtab.base + l1 * 8, BigInt(pa) | BigInt(STRTAB_SPLIT + 1));
    return 0;
  }

  /** The 8 STE words the hardware reads for `sid` (zeros when no table backs it). */
  readSte(sid: number): bigint[] {
    const pa = this.steAddr(sid);
    const out: bigint[] = [];
    for (let i = 0; i < 8; i++) out.push(pa < 0 ? 0n : this.env.mem.read64(pa + 8 * i));
    return out;
  }

  /**
   * Installs `target` as the STE of every StreamID of `master` with the hitless writer
   * (arm_smmu_install_ste_for_dev). Returns the steps of the first StreamID.
   */
  installSte(master: Master, target: readonly bigint[]): WriteStep[] {
    let first: WriteStep[] | undefined;
    for (const sid of master.info.sids) {
      const steps = this.writeSte(sid, target);
      first ??= steps;
    }
    return first ?? [];
  }

  /** Writes one STE with the hitless algorithm, syncing through CFGI_STE + CMD_SYNC. */
  writeSte(
    sid: number,
    target: readonly bigint[],
    updateSafe = this.env.switches.steUpdateSafe,
  ): WriteStep[] {
    const pa = this.steAddr(sid);
    if (pa < 0) return [];
    const cur = this.readSte(sid);
    const ops: EntryWriterOps = {
      kind: 'ste',
      updateSafe,
      store: (i, v) => this.env.mem.write64(pa + 8 * i, v),
      sync: () => {
        this.issue(
          [[fieldPrep(CMDF.OP, CMD.CFGI_STE) | fieldPrep(CMDF.SID, sid), CMDF.LEAF]],
          true,
        );
      },
    };
    return writeEntry(ops, cur, target);
  }

  // ---- masters ----

  /** arm_smmu_probe_device: registers a master; 0 or a negative errno. */
  addMaster(info: MasterInfo): Master | number {
    for (const sid of info.sids) {
      if (sid >= 2 ** this.sidBits) return -EINVAL;
      const rc = this.ensureL2(sid);
      if (rc) return rc;
    }
    const m = new Master(info, this);
    for (const sid of info.sids) this.masters.set(sid, m);
    return m;
  }

  /** arm_smmu_ats_supported. */
  atsSupported(m: Master): boolean {
    return this.features.ats && m.info.ats;
  }

  // ---- domains ----

  private allocId(set: Set<number>, bits: number): number {
    for (let id = 1; id < 2 ** bits; id++) {
      if (!set.has(id)) {
        set.add(id);
        return id;
      }
    }
    return -1;
  }

  /**
   * arm_smmu_domain_alloc_paging_flags: flags are matched exactly; any user data → EOPNOTSUPP;
   * NEST_PARENT needs FEAT_NESTING; DIRTY_TRACKING / PASID need stage 1 (dirty also HTTU HD).
   */
  domainAllocPaging(
    flags: number,
    hasUserData: boolean,
    dirtyCapable: boolean,
  ): SmmuDomain | number {
    const NEST_PARENT = 1;
    const DIRTY = 2;
    const PASID = 8;
    if (hasUserData) return -EOPNOTSUPP;
    let stage: 1 | 2;
    let nestParent = false;
    switch (flags) {
      case 0:
        stage = this.features.transS1 ? 1 : 2;
        break;
      case NEST_PARENT:
        if (!this.features.nesting) return -EOPNOTSUPP;
        stage = 2;
        nestParent = true;
        break;
      case DIRTY:
      case PASID:
      case DIRTY | PASID:
        if (!this.features.transS1) return -EOPNOTSUPP;
        if (flags & DIRTY && !dirtyCapable) return -EOPNOTSUPP;
        stage = 1;
        break;
      default:
        return -EOPNOTSUPP;
    }
    if (this.env.faults.hit('alloc')) return -ENOMEM;
    const s2fwb = stage === 2 && nestParent && this.features.s2fwb;
    // finalise_s1: IAS 48 (52 with VAX, capped by VA_BITS 48), OAS = SMMU IAS; finalise_s2: IAS, OAS.
    const ias = stage === 1 ? 48 : this.ias;
    const oas = stage === 1 ? this.ias : this.oas;
    const pending: TlbOp[] = [];
    const pt = IoPgtable.create(this.env.mem, this.pgAlloc, {
      fmt: stage === 1 ? 'ARM_64_LPAE_S1' : 'ARM_64_LPAE_S2',
      pgsizeBitmap: this.pgsizeBitmap,
      ias,
      oas,
      coherentWalk: this.features.coherency,
      quirks: { armS2fwb: s2fwb, armHd: stage === 1 && (flags & DIRTY) !== 0 },
      emptyUnmap: 'zero',
      tlb: (op) => pending.push(op),
    });
    if (!pt) return -ENOMEM;
    const tag =
      stage === 1
        ? this.allocId(this.asids, this.asidBits)
        : this.allocId(this.vmids, this.vmidBits);
    if (tag < 0) {
      pt.free();
      return -ENOMEM;
    }
    const d = new SmmuDomain(this, stage, nestParent, pt, tag, s2fwb, pending);
    d.dirtyOps = (flags & DIRTY) !== 0;
    return d;
  }

  /** The CD table of a master (allocated on first use): the PA or a negative errno. */
  ensureCdTable(m: Master): number {
    if (m.cdTable) return 0;
    if (this.env.faults.hit('alloc')) return -ENOMEM;
    const ssidBits = Math.min(m.info.pasidBits, this.ssidBits);
    const entries = 1 << ssidBits;
    const bytes = entries * 64;
    const pa = this.env.alloc.allocTable(Math.ceil(bytes / 4096), Math.max(4096, bytes));
    if (pa < 0) return -ENOMEM;
    m.cdTable = { pa, entries, s1cdmax: ssidBits };
    return 0;
  }

  /** Writes the CD of `ssid` with the hitless writer (CFGI_CD + CMD_SYNC per StreamID). */
  writeCd(m: Master, ssid: number, target: readonly bigint[]): WriteStep[] {
    const t = m.cdTable;
    if (!t) return [];
    const pa = t.pa + ssid * 64;
    const cur: bigint[] = [];
    for (let i = 0; i < 8; i++) cur.push(this.env.mem.read64(pa + 8 * i));
    return writeEntry(
      {
        kind: 'cd',
        updateSafe: false,
        store: (i, v) => this.env.mem.write64(pa + 8 * i, v),
        sync: () => {
          this.issue(
            m.info.sids.map(
              (sid) =>
                [
                  fieldPrep(CMDF.OP, CMD.CFGI_CD) |
                    fieldPrep(CMDF.SSID, ssid) |
                    fieldPrep(CMDF.SID, sid),
                  CMDF.LEAF,
                ] as const,
            ),
            true,
          );
        },
      },
      cur,
      target,
    );
  }

  /** Drops the master from the domain it was on (ATC bookkeeping). */
  private detachBookkeeping(m: Master): void {
    const d = m.domain;
    if (d instanceof SmmuDomain) d.masters.delete(m);
    else if (typeof d === 'object' && d.kind === 'nested') d.parent.masters.delete(m);
  }

  /**
   * arm_smmu_attach_dev for a paging domain: EINVAL for a domain of another SMMU; EBUSY for a
   * stage-2 attach while SSIDs are in use; installs the CD (stage 1) and the STE.
   */
  attachPaging(m: Master, d: SmmuDomain): number {
    if (d.smmu !== this) return -EINVAL;
    if (d.stage === 2 && m.ssidsInUse > 0) return -EBUSY;
    if (this.env.faults.hit('alloc')) return -ENOMEM; // master_domain allocation
    const ats = this.atsSupported(m);
    let target: bigint[];
    if (d.stage === 1) {
      const rc = this.ensureCdTable(m);
      if (rc) return rc;
      const cdt = m.cdTable as { pa: number; entries: number; s1cdmax: number };
      this.writeCd(m, 0, makeS1Cd(d.s1Cfg(), m.info.stallEnabled));
      target = makeCdtableSte(
        this.steCtx(m),
        { dma: BigInt(cdt.pa), s1fmt: S1FMT.LINEAR, s1cdmax: cdt.s1cdmax },
        ats,
        S1DSS.SSID0,
      );
    } else {
      target = makeS2DomainSte(this.steCtx(m), d.s2Cfg(), ats);
    }
    this.installSte(m, target);
    this.detachBookkeeping(m);
    m.domain = d;
    m.atsEnabled = ats;
    m.vmaster = null;
    d.masters.add(m);
    return 0;
  }

  /** The blocking domain (detach): abort STE. */
  attachBlocked(m: Master): void {
    this.installSte(m, makeAbortSte());
    this.detachBookkeeping(m);
    m.domain = 'blocked';
    m.atsEnabled = false;
    m.vmaster = null;
  }

  /** Installs a nested STE (called by the vsmmu layer after its checks). */
  commitNested(
    m: Master,
    att: NestedAttachment,
    ste: readonly bigint[],
    ats: boolean,
    vmaster: Master['vmaster'],
  ): void {
    this.installSte(m, ste);
    this.detachBookkeeping(m);
    m.domain = att;
    m.atsEnabled = ats;
    m.vmaster = vmaster;
    att.parent.masters.add(m);
  }

  // ---- TLB maintenance ----

  /** arm_smmu_tlb_inv_range_domain: TLBI by range (+ NH_ALL for nest parents) and ATC. */
  tlbInvRangeDomain(
    d: SmmuDomain,
    iova: number,
    size: number,
    granule: number,
    leaf: boolean,
  ): void {
    const cmds: [bigint, bigint][] = [];
    const op = d.stage === 1 ? CMD.TLBI_NH_VA : CMD.TLBI_S2_IPA;
    const tagField = d.stage === 1 ? fieldPrep(CMDF.ASID, d.tag) : fieldPrep(CMDF.VMID, d.tag);
    const end = iova + size;
    let cur = iova;
    if (this.features.rangeInv) {
      const tg = 12; // leaf page size log2 (4 KiB)
      let numPages = Math.floor(size / 2 ** tg);
      const tgField = (tg - 10) / 2;
      let ttl = 0;
      if (leaf) ttl = 4 - Math.floor((Math.log2(granule) - 3) / (tg - 3));
      else if ((numPages & 31) === 1) numPages++;
      while (cur < end && numPages > 0) {
        let scale = 0;
        while (((numPages >>> scale) & 1) === 0) scale++;
        const num = (numPages >>> scale) & 31;
        const w0 =
          fieldPrep(CMDF.OP, op) |
          tagField |
          fieldPrep(CMDF.NUM, num - 1) |
          fieldPrep(CMDF.SCALE, scale);
        const addrMask = d.stage === 1 ? CMDF.VA : CMDF.IPA;
        const w1 =
          (leaf ? CMDF.LEAF : 0n) |
          fieldPrep(CMDF.TTL, ttl) |
          fieldPrep(CMDF.TG, tgField) |
          (BigInt(cur) & addrMask);
        cmds.push([w0, w1]);
        cur += num * 2 ** (scale + tg);
        numPages -= num * 2 ** scale;
      }
    } else {
      while (cur < end) {
        const addrMask = d.stage === 1 ? CMDF.VA : CMDF.IPA;
        cmds.push([
          fieldPrep(CMDF.OP, op) | tagField,
          (leaf ? CMDF.LEAF : 0n) | (BigInt(cur) & addrMask),
        ]);
        cur += granule;
      }
    }
    this.issueBatched(cmds);
    if (d.nestParent) {
      // S1 entries of nested domains may cache S2 results: flush them all for this VMID.
      this.issue([[fieldPrep(CMDF.OP, CMD.TLBI_NH_ALL) | fieldPrep(CMDF.VMID, d.tag), 0n]], true);
    }
    this.atcInvDomain(d, iova, size);
  }

  /** arm_smmu_atc_inv_domain: ATC_INV for every ATS master on the domain (whole ATC). */
  private atcInvDomain(d: SmmuDomain, _iova: number, _size: number): void {
    const cmds: [bigint, bigint][] = [];
    for (const m of d.masters) {
      if (!m.atsEnabled) continue;
      for (const sid of m.info.sids) {
        // IMPDEF (model choice): the ATC is invalidated entirely (SIZE = 52) rather than by range.
        cmds.push([
          fieldPrep(CMDF.OP, CMD.ATC_INV) | fieldPrep(CMDF.SID, sid),
          fieldPrep(CMDF.ATC_SIZE, 52),
        ]);
      }
    }
    if (cmds.length) this.issueBatched(cmds);
  }

  // ---- events ----

  /**
   * arm_smmu_evtq_thread: drains the event queue, handling each record (forwarding to a vEVENTQ
   * through `forwardEvent` when the master has a vmaster); returns the number handled.
   */
  handleEvents(): number {
    const log2 = this.evtq.log2;
    const n = 1 << log2;
    const mask = (1 << (log2 + 1)) - 1;
    let handled = 0;
    for (;;) {
      const prodReg = this.port.read32(REG.EVTQ_PROD);
      const consReg = this.port.read32(REG.EVTQ_CONS);
      const prod = prodReg & mask;
      let cons = consReg & mask;
      if (prod === cons) {
        // Acknowledge an overflow by copying the flag.
        if ((prodReg ^ consReg) & Q.OVERFLOW_FLAG) {
          this.port.write32(REG.EVTQ_CONS, (cons | (prodReg & Q.OVERFLOW_FLAG)) >>> 0);
        }
        return handled;
      }
      while (cons !== prod) {
        const pa = this.evtq.base + (cons & (n - 1)) * 32;
        const raw: [bigint, bigint, bigint, bigint] = [
          this.env.mem.read64(pa),
          this.env.mem.read64(pa + 8),
          this.env.mem.read64(pa + 16),
          this.env.mem.read64(pa + 24),
        ];
        this.handleEvent(raw);
        handled++;
        cons = (cons + 1) & mask;
      }
      this.port.write32(REG.EVTQ_CONS, (cons | (prodReg & Q.OVERFLOW_FLAG)) >>> 0);
    }
  }

  /** arm_smmu_handle_event. */
  private handleEvent(raw: [bigint, bigint, bigint, bigint]): void {
    const id = Number(fieldGet(EVT.ID, raw[0]));
    const sid = Number(fieldGet(EVT.SID, raw[0]));
    const stall = (raw[1] & EVT.STALL) !== 0n;
    const s2 = (raw[1] & EVT.S2) !== 0n;
    const known = [0x04, 0x06, 0x08, 0x0a, 0x10, 0x11, 0x12, 0x13].includes(id);
    const m = this.masters.get(sid);
    let outcome: HandledEvent['outcome'] = 'logged';
    let detail = `event 0x${id.toString(16)} received: ${raw.map((w) => hex64(w)).join(' ')}`;
    if (known && !stall && m?.vmaster && !s2 && this.forwardEvent) {
      const rc = this.forwardEvent(m, raw);
      if (rc === 0) {
        outcome = 'forwarded';
        detail = `forwarded to vEVENTQ with vSID ${m.vmaster.vsid}`;
      } else detail += ` (vEVENTQ report failed: ${rc})`;
    }
    this.handledEvents.push({ raw, id, sid, outcome, detail });
  }

  /** Whether the driver supports vIOMMUs for a master (arm_smmu_get_viommu_size ≠ 0). */
  viommuSupported(m: Master): boolean {
    if (!this.features.nesting) return false;
    if (this.options.forceSync) return false;
    if (!m.info.canwbs && !this.features.s2fwb) return false;
    return true;
  }

  /** ULONG_MAX re-export for callers comparing apertures. */
  static readonly ULONG_MAX = ULONG_MAX;

  /** STE field masks re-exported for inspection code. */
  static readonly STE = STE;
}
