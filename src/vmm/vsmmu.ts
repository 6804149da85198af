// The guest-visible virtual SMMUv3 of the VMM (IHI 0070 H.a): the two 64 KiB register pages
// (§6.2, §6.3) with the CR0/CR0ACK, GBPA, IRQ_CTRL/ACK and GERROR/GERRORN protocols (§6.3, §7.5),
// the guest Command queue consumed on CMDQ_PROD writes with CERROR_* handling and CMD_SYNC
// completion (§3.5, §4.1, §4.7.3, §7.1), and the guest Event queue produced by the VMM with the
// overflow and interrupt rules (§3.5.3–§3.5.4, §7.2, §7.4, §3.18). Trapped commands become iommufd
// work (backend.ts): CFGI_STE/CFGI_STE_RANGE/CFGI_ALL → a nested HWPT per stream (vSTE from guest
// RAM, vste.ts), TLBI_NH_* / TLBI_NSNH_ALL / CFGI_CD(_ALL) / ATC_INV → ordered
// IOMMU_HWPT_INVALIDATE batches, vEVENTQ records → guest event queue. Shaped after QEMU
// hw/arm/smmuv3.c + smmuv3-accel.c, OpenVMM vm/devices/iommu/smmu (emulator.rs, shared.rs) and
// Cloud Hypervisor devices/src/smmuv3.rs; the choices where they differ are in docs/vmm.md.

import { genmask, getBits, hex, hex64, hi32, joinU64, lo32 } from '../arch/bits.ts';
import { CFGI_RANGE_ALL, CMD_OP, commandName } from '../arch/cmd.ts';
import { errnoName } from '../arch/errno.ts';
import { decodeEvent, makeEvent } from '../arch/evt.ts';
import { SMMU_REGS } from '../arch/regs.ts';
import type { TraceSink } from '../arch/trace.ts';
import { getU32 as u32 } from '../iommufd/uapi.ts';
import { checkCommand, type ReservedFieldPolicy, SYNC_CS } from '../smmu/commands.ts';
import { Queue } from '../smmu/queue.ts';
import {
  CERROR,
  CMDQ_CONS_ERR,
  CR0,
  CR1,
  CR2,
  GBPA,
  GERROR,
  IRQ_CFG0_ADDR_MASK,
  IRQ_CFG2_MASK,
  IRQ_CTRL,
  MMIO_BYTES,
  QUEUE_BASE_MASK,
  QUEUE_OVF_FLAG,
  QUEUE_PTR_FIELD,
  REG,
  REG64,
  STRTAB_BASE_CFG_MASK,
  STRTAB_BASE_MASK,
} from '../smmu/registers.ts';
import { and32, clear32, has32, merge32, or32, put32, xor32 } from '../smmu/u32.ts';
import type { AccelDevice, NestingBackend } from './backend.ts';
import { bump, type VmmCounters } from './counters.ts';
import type { GuestRam } from './guest-ram.ts';
import type { VmmLogger } from './ioctl.ts';
import { type RawEvent, VEVENT_RECORD_BYTES, VeventReader } from './vevent.ts';
import type { Vidr } from './vidr.ts';
import { decideSte, fetchGuestSte } from './vste.ts';

/**
 * What the VMM does when the kernel refuses a guest STE (the HWPT_ALLOC or attach ioctl fails):
 * `log-event-abort` (default; the UAPI authors' recipe) logs, writes C_BAD_STE for the vSID into
 * the guest event queue and installs the abort HWPT; `cerror-keep` (QEMU, Cloud Hypervisor) fails
 * the guest command with CERROR_ILL and keeps the previous attachment; `silent-abort` (OpenVMM)
 * consumes the command and aborts the stream without an event.
 */
export type InvalidStePolicy = 'log-event-abort' | 'cerror-keep' | 'silent-abort';

/** The three invalid-vSTE policies. */
export const INVALID_STE_POLICIES: readonly InvalidStePolicy[] = [
  'log-event-abort',
  'cerror-keep',
  'silent-abort',
];

/**
 * Host-side event loss (vEVENTQ sequence gap or LOST_EVENTS): `overflow` (default) signals it to
 * the guest through the event queue's overflow flag (as Cloud Hypervisor), `log` only logs (as
 * OpenVMM, which keeps OVFLG for guest-queue overflow).
 */
export type HostEventLossPolicy = 'overflow' | 'log';

/** Interrupt sources of the vSMMU. */
export type VsmmuIrq = 'evtq' | 'gerror' | 'cmdq-sync';

/** An MSI the vSMMU wrote into guest RAM. */
export interface VsmmuMsi {
  readonly source: VsmmuIrq;
  readonly address: bigint;
  readonly data: number;
}

/** Options of one vSMMU. */
export interface VsmmuOptions {
  readonly policy?: InvalidStePolicy;
  readonly hostEventLoss?: HostEventLossPolicy;
  /** IMPDEF (§4.1.5): non-zero Reserved command fields ignored (default) or CERROR_ILL. */
  readonly reservedCommandFields?: ReservedFieldPolicy;
  /** SMMU_GBPA at reset (default 0x1000: bypass, SHCFG incoming — QEMU's value). */
  readonly gbpaReset?: number;
  /** Commands per IOMMU_HWPT_INVALIDATE at most (default 64). */
  readonly maxBatch?: number;
  /** Drain the vEVENTQ at every guest exit (default) or only when `pollEvents` is called. */
  readonly eventPolling?: 'on-exit' | 'manual';
  /** Guest interrupt delivery (the guest's handler); called for MSI and wired delivery alike. */
  readonly irq?: (line: VsmmuIrq) => void;
  /** Observer of MSIs written into guest RAM. */
  readonly msi?: (m: VsmmuMsi) => void;
  /** CMD_SYNC CS=SEV wake-up. */
  readonly sev?: () => void;
  readonly trace?: TraceSink;
}

/** Why the guest command queue stopped (the architected record is CMDQ_CONS.ERR). */
export interface GuestCommandError {
  readonly code: number;
  readonly reason: string;
  readonly command: string;
  readonly cons: number;
}

/** A stream's host state, for inspection. */
export interface StreamState {
  readonly vsid: number;
  readonly name: string;
  readonly attached: AccelDevice['attached'];
  readonly hwptId: number;
  readonly vste: readonly [bigint, bigint] | undefined;
}

interface Pending {
  readonly w0: bigint;
  readonly w1: bigint;
  /** CONS value of the command (to stop on it if the kernel rejects it). */
  readonly cons: number;
}

const REG_NAME = new Map<number, string>();
for (const [name, info] of Object.entries(SMMU_REGS)) {
  REG_NAME.set(info.offset, name);
  if (info.bits === 64) REG_NAME.set(info.offset + 4, `${name}_HI`);
}

/** Records read from the vEVENTQ per read(2). */
const EVENT_READ_RECORDS = 16;

/** The VMM's virtual SMMUv3 for one physical SMMU. */
export class VirtualSmmu {
  readonly name: string;
  readonly vidr: Vidr;
  readonly backend: NestingBackend;
  readonly policy: InvalidStePolicy;
  /** The last reason the guest command queue stopped. */
  lastCommandError: GuestCommandError | undefined;

  private readonly ram: GuestRam;
  private readonly counters: VmmCounters;
  private readonly log: VmmLogger;
  private readonly opts: VsmmuOptions;
  private readonly reservedFields: ReservedFieldPolicy;
  private readonly maxBatch: number;
  private readonly pollOnExit: boolean;
  private readonly reader = new VeventReader();

  private readonly cr0Mask: number;
  private readonly cr2Mask: number;
  private readonly irqCtrlMask: number;
  private readonly gerrorMask: number;

  private cr0 = 0;
  private cr0ack = 0;
  private cr1 = 0;
  private cr2 = 0;
  private gbpa: number;
  private irqCtrl = 0;
  private irqCtrlAck = 0;
  private gerror = 0;
  private gerrorn = 0;
  private gerrorIrqCfg0 = 0n;
  private gerrorIrqCfg1 = 0;
  private gerrorIrqCfg2 = 0;
  private eventqIrqCfg0 = 0n;
  private eventqIrqCfg1 = 0;
  private eventqIrqCfg2 = 0;
  private strtabBase = 0n;
  private strtabBaseCfg = 0;
  private readonly cmdq: Queue;
  private readonly eventq: Queue;

  private consuming = false;
  private polling = false;
  private batch: Pending[] = [];

  constructor(
    name: string,
    ram: GuestRam,
    backend: NestingBackend,
    vidr: Vidr,
    counters: VmmCounters,
    log: VmmLogger,
    opts: VsmmuOptions = {},
  ) {
    this.name = name;
    this.ram = ram;
    this.backend = backend;
    this.vidr = vidr;
    this.counters = counters;
    this.log = log;
    this.opts = opts;
    this.policy = opts.policy ?? 'log-event-abort';
    this.reservedFields = opts.reservedCommandFields ?? 'ignore';
    this.maxBatch = Math.max(1, Math.floor(opts.maxBatch ?? 64));
    this.pollOnExit = (opts.eventPolling ?? 'on-exit') === 'on-exit';
    this.gbpa = (opts.gbpaReset ?? 0x1000) & (GBPA.ABORT | GBPA.PERMS_FIELDS | GBPA.TYPES_FIELDS);
    const f = vidr.features;
    // §6.3 SMMU_CR0: no PRI, no ATS checking without ATS, no VMW.
    this.cr0Mask = or32(or32(CR0.SMMUEN, CR0.EVENTQEN), or32(CR0.CMDQEN, f.ats ? CR0.ATSCHK : 0));
    this.cr2Mask = or32(CR2.RECINVSID, or32(CR2.PTM, f.ats ? CR2.REC_CFG_ATS : 0));
    this.irqCtrlMask = or32(IRQ_CTRL.GERROR_IRQEN, IRQ_CTRL.EVENTQ_IRQEN);
    let gm = or32(or32(GERROR.CMDQ_ERR, GERROR.EVENTQ_ABT_ERR), GERROR.SFM_ERR);
    if (f.msi) {
      gm = or32(gm, or32(GERROR.MSI_CMDQ_ABT_ERR, GERROR.MSI_EVENTQ_ABT_ERR));
      gm = or32(gm, GERROR.MSI_GERROR_ABT_ERR);
    }
    this.gerrorMask = gm;
    this.cmdq = new Queue({ name: 'cmdq', entryBytes: 16, maxLog2: f.cmdqs });
    this.eventq = new Queue({ name: 'eventq', entryBytes: 32, maxLog2: f.eventqs });
  }

  // ------------------------------------------------------------------------------------------
  // Guest MMIO (each access is one guest exit)

  /** 32-bit guest read of the register pages. Garbage offsets read as zero. */
  read32(offset: number): number {
    this.exit(offset, false);
    return this.reg32(offset);
  }

  /** 32-bit guest write. Garbage offsets and forbidden writes are ignored. */
  write32(offset: number, value: number): void {
    this.exit(offset, true);
    this.put32(offset, Number(value) >>> 0);
  }

  /** 64-bit guest read (64-bit registers whole; other offsets as two 32-bit reads). */
  read64(offset: number): bigint {
    this.exit(offset, false);
    if (!valid(offset, 8) || offset % 8 !== 0) return 0n;
    if (REG64.has(offset)) return this.reg64(offset);
    return joinU64(this.reg32(offset), this.reg32(offset + 4));
  }

  /** 64-bit guest write. */
  write64(offset: number, value: bigint): void {
    this.exit(offset, true);
    if (!valid(offset, 8) || offset % 8 !== 0) return;
    const v = typeof value === 'bigint' ? BigInt.asUintN(64, value) : 0n;
    if (REG64.has(offset)) {
      this.putReg64(offset, v);
      return;
    }
    this.put32(offset, lo32(v));
    this.put32(offset + 4, hi32(v));
  }

  private exit(offset: number, write: boolean): void {
    const c = this.counters;
    c.exits++;
    if (write) c.mmioWrites++;
    else c.mmioReads++;
    bump(c.exitsByRegister, REG_NAME.get(offset) ?? `offset ${hex(Number(offset) || 0)}`);
    if (this.pollOnExit) this.pollEvents();
  }

  private reg32(o: number): number {
    if (!valid(o, 4) || o % 4 !== 0) return 0;
    if (REG64.has(o)) return lo32(this.reg64(o));
    if (REG64.has(o - 4)) return hi32(this.reg64(o - 4));
    const idr = this.vidr.idr;
    switch (o) {
      case REG.IDR0:
        return idr.idr0;
      case REG.IDR1:
        return idr.idr1;
      case REG.IDR2:
        return idr.idr2;
      case REG.IDR3:
        return idr.idr3;
      case REG.IDR4:
        return idr.idr4;
      case REG.IDR5:
        return idr.idr5;
      case REG.IIDR:
        return this.vidr.iidr;
      case REG.AIDR:
        return idr.aidr;
      case REG.CR0:
        return this.cr0;
      case REG.CR0ACK:
        return this.cr0ack;
      case REG.CR1:
        return this.cr1;
      case REG.CR2:
        return this.cr2;
      case REG.GBPA:
        return this.gbpa;
      case REG.IRQ_CTRL:
        return this.irqCtrl;
      case REG.IRQ_CTRLACK:
        return this.irqCtrlAck;
      case REG.GERROR:
        return this.gerror;
      case REG.GERRORN:
        return this.gerrorn;
      case REG.GERROR_IRQ_CFG1:
        return this.gerrorIrqCfg1;
      case REG.GERROR_IRQ_CFG2:
        return this.gerrorIrqCfg2;
      case REG.STRTAB_BASE_CFG:
        return this.strtabBaseCfg;
      case REG.CMDQ_PROD:
        return this.cmdq.prod;
      case REG.CMDQ_CONS:
        return this.cmdq.cons;
      case REG.EVENTQ_PROD:
        return this.eventq.prod;
      case REG.EVENTQ_CONS:
        return this.eventq.cons;
      case REG.EVENTQ_IRQ_CFG1:
        return this.eventqIrqCfg1;
      case REG.EVENTQ_IRQ_CFG2:
        return this.eventqIrqCfg2;
      default:
        // STATUSR (never dormant), AGBPA and the PRI queue (absent on this vSMMU), IMPDEF ID
        // registers, page-0 aliases of the page-1 queue pointers (IMPDEF: §6.2, RAZ/WI here)
        // and unused offsets read as zero.
        return 0;
    }
  }

  private reg64(o: number): bigint {
    switch (o) {
      case REG.GERROR_IRQ_CFG0:
        return this.gerrorIrqCfg0;
      case REG.STRTAB_BASE:
        return this.strtabBase;
      case REG.CMDQ_BASE:
        return this.cmdq.base;
      case REG.EVENTQ_BASE:
        return this.eventq.base;
      case REG.EVENTQ_IRQ_CFG0:
        return this.eventqIrqCfg0;
      default:
        return 0n;
    }
  }

  private put32(o: number, v: number): void {
    if (!valid(o, 4) || o % 4 !== 0) return;
    if (REG64.has(o)) {
      this.putReg64(o, joinU64(v, hi32(this.reg64(o))));
      return;
    }
    if (REG64.has(o - 4)) {
      this.putReg64(o - 4, joinU64(lo32(this.reg64(o - 4)), v));
      return;
    }
    const msi = this.vidr.features.msi;
    switch (o) {
      case REG.CR0:
        this.writeCr0(v);
        return;
      case REG.CR1: {
        // §6.3 SMMU_CR1: TABLE_* only while SMMUEN is off, QUEUE_* only while every queue is off.
        let m = 0;
        if (this.smmuenOff()) m = or32(m, CR1.TABLE_FIELDS);
        if (this.queueOff(or32(CR0.CMDQEN, CR0.EVENTQEN))) m = or32(m, CR1.QUEUE_FIELDS);
        this.cr1 = merge32(this.cr1, v, m);
        return;
      }
      case REG.CR2:
        if (this.smmuenOff()) this.cr2 = and32(v, this.cr2Mask);
        return;
      case REG.GBPA:
        this.writeGbpa(v);
        return;
      case REG.IRQ_CTRL:
        // Instantaneous update of IRQ_CTRLACK (§6.3 SMMU_IRQ_CTRLACK).
        this.irqCtrl = and32(v, this.irqCtrlMask);
        this.irqCtrlAck = this.irqCtrl;
        return;
      case REG.GERRORN:
        this.writeGerrorn(v);
        return;
      case REG.GERROR_IRQ_CFG1:
        if (msi && this.irqCfgOff(IRQ_CTRL.GERROR_IRQEN)) this.gerrorIrqCfg1 = v;
        return;
      case REG.GERROR_IRQ_CFG2:
        if (msi && this.irqCfgOff(IRQ_CTRL.GERROR_IRQEN))
          this.gerrorIrqCfg2 = and32(v, IRQ_CFG2_MASK);
        return;
      case REG.STRTAB_BASE_CFG:
        if (this.smmuenOff()) this.strtabBaseCfg = and32(v, STRTAB_BASE_CFG_MASK);
        return;
      case REG.CMDQ_PROD:
        // Always writable; bits above the wrap bit are RES0. The only trigger of consumption.
        this.counters.cmdqProdWrites++;
        this.cmdq.prod = this.cmdq.ptrBits(v);
        this.processCommands();
        return;
      case REG.CMDQ_CONS:
        // CONSTRAINED UNPREDICTABLE: SMMU_CMDQ_CONS — a write may or may not change ERR; only RD
        // is taken, and only while the queue is off.
        if (this.queueOff(CR0.CMDQEN)) {
          this.cmdq.cons = merge32(this.cmdq.cons, this.cmdq.ptrBits(v), QUEUE_PTR_FIELD);
        }
        return;
      case REG.EVENTQ_PROD:
        if (this.queueOff(CR0.EVENTQEN)) {
          this.eventq.prod = or32(this.eventq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        }
        return;
      case REG.EVENTQ_CONS:
        this.eventq.cons = or32(this.eventq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        return;
      case REG.EVENTQ_IRQ_CFG1:
        if (msi && this.irqCfgOff(IRQ_CTRL.EVENTQ_IRQEN)) this.eventqIrqCfg1 = v;
        return;
      case REG.EVENTQ_IRQ_CFG2:
        if (msi && this.irqCfgOff(IRQ_CTRL.EVENTQ_IRQEN))
          this.eventqIrqCfg2 = and32(v, IRQ_CFG2_MASK);
        return;
      default:
        // Read-only registers, Reserved and unused offsets: writes are ignored.
        return;
    }
  }

  private putReg64(o: number, v: bigint): void {
    const msi = this.vidr.features.msi;
    switch (o) {
      case REG.STRTAB_BASE:
        if (this.smmuenOff()) this.strtabBase = v & STRTAB_BASE_MASK;
        return;
      case REG.CMDQ_BASE:
        this.writeQueueBase(this.cmdq, CR0.CMDQEN, v);
        return;
      case REG.EVENTQ_BASE:
        this.writeQueueBase(this.eventq, CR0.EVENTQEN, v);
        return;
      case REG.GERROR_IRQ_CFG0:
        if (msi && this.irqCfgOff(IRQ_CTRL.GERROR_IRQEN))
          this.gerrorIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        return;
      case REG.EVENTQ_IRQ_CFG0:
        if (msi && this.irqCfgOff(IRQ_CTRL.EVENTQ_IRQEN))
          this.eventqIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        return;
      default:
        return;
    }
  }

  private writeQueueBase(q: Queue, enBit: number, v: bigint): void {
    if (!this.queueOff(enBit)) return;
    q.base = v & QUEUE_BASE_MASK;
    // §3.5.1: after a LOG2SIZE change the pointer bits above the new wrap bit are UNKNOWN; they are
    // truncated here.
    q.truncatePointers();
  }

  // v3.2+ (the AIDR this vSMMU reports): a write outside its window is IGNORED.
  private smmuenOff(): boolean {
    return !has32(this.cr0, 0) && !has32(this.cr0ack, 0);
  }

  private queueOff(enBits: number): boolean {
    return and32(or32(this.cr0, this.cr0ack), enBits) === 0;
  }

  private irqCfgOff(enBit: number): boolean {
    return and32(or32(this.irqCtrl, this.irqCtrlAck), enBit) === 0;
  }

  private writeCr0(v: number): void {
    const old = this.cr0ack;
    this.cr0 = and32(v, this.cr0Mask);
    // §6.3 SMMU_CR0ACK: every update completes at once (CR0ACK := CR0), which is permitted.
    this.cr0ack = this.cr0;
    const rose = clear32(this.cr0ack, old);
    const fell = clear32(old, this.cr0ack);
    // SMMUEN decides between the guest STEs and GBPA: every stream is re-derived (OpenVMM,
    // Cloud Hypervisor). Caches are not invalidated by the architecture, but the host holds
    // nothing derived from a disabled vSMMU's STEs, so re-reading them is a valid "no cache".
    if (and32(or32(rose, fell), CR0.SMMUEN)) this.redriveAll('SMMUEN change');
    if (and32(rose, CR0.CMDQEN)) this.processCommands();
  }

  private writeGbpa(v: number): void {
    // §6.3 SMMU_GBPA (v3.2+): writes with Update = 0 are IGNORED; an update completes at once, so
    // Update never reads as 1.
    if (!has32(v, 31)) return;
    const old = this.gbpa;
    this.gbpa = and32(v, or32(GBPA.ABORT, or32(GBPA.PERMS_FIELDS, GBPA.TYPES_FIELDS)));
    if (and32(xor32(old, this.gbpa), GBPA.ABORT) && !has32(this.cr0ack, 0)) {
      this.redriveAll('GBPA.ABORT change');
    }
  }

  private writeGerrorn(v: number): void {
    const written = and32(v, this.gerrorMask);
    const active = xor32(this.gerror, this.gerrorn);
    // §7.5: acknowledging = toggling the GERRORN bit of an active error. CONSTRAINED
    // UNPREDICTABLE: toggling an inactive bit — ignored.
    const acked = and32(active, xor32(written, this.gerrorn));
    this.gerrorn = xor32(this.gerrorn, acked);
    // Processing restarts at CONS once CMDQ_ERR is acknowledged (QEMU, Cloud Hypervisor).
    if (and32(acked, GERROR.CMDQ_ERR)) this.processCommands();
  }

  private errActive(bit: number): boolean {
    return and32(xor32(this.gerror, this.gerrorn), bit) !== 0;
  }

  /** §7.5: activates inactive error bits; a GERROR interrupt follows when enabled. */
  private raiseGerror(bits: number): void {
    const inactive = clear32(and32(bits, this.gerrorMask), xor32(this.gerror, this.gerrorn));
    if (inactive === 0) return;
    this.gerror = xor32(this.gerror, inactive);
    if (clear32(inactive, GERROR.MSI_GERROR_ABT_ERR) === 0) return;
    if (!has32(this.irqCtrlAck, 0)) return;
    this.signal('gerror', this.gerrorIrqCfg0, this.gerrorIrqCfg1, GERROR.MSI_GERROR_ABT_ERR);
  }

  /** An interrupt: an MSI into guest RAM when configured, and the guest's handler callback. */
  private signal(line: VsmmuIrq, cfg0: bigint, data: number, abtBit: number): void {
    bump(this.counters.irqs, line);
    if (this.vidr.features.msi && cfg0 !== 0n) {
      if (!this.msiWrite(line, cfg0, data)) this.raiseGerror(abtBit);
    }
    this.opts.irq?.(line);
  }

  /** A 32-bit MSI write into guest RAM (address truncated to OAS, §3.4.3); false on abort. */
  private msiWrite(source: VsmmuIrq, addrField: bigint, data: number): boolean {
    const addr = addrField & genmask(this.vidr.features.oas - 1, 2);
    if (!this.ram.write32(Number(addr), data)) return false;
    bump(this.counters.irqs, `msi-${source}`);
    this.opts.msi?.({ source, address: addr, data });
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Command queue

  private processCommands(): void {
    // An interrupt callback may write CMDQ_PROD again; the running loop sees the new value.
    if (this.consuming) return;
    this.consuming = true;
    try {
      this.consumeLoop();
    } finally {
      this.consuming = false;
    }
  }

  private consumeLoop(): void {
    const q = this.cmdq;
    const f = this.vidr.features;
    for (;;) {
      if (!has32(this.cr0ack, 3) || this.errActive(GERROR.CMDQ_ERR) || q.empty || !q.consistent) {
        // CONSTRAINED UNPREDICTABLE: §3.5.1 — an inconsistent PROD/CONS pair stalls the queue.
        this.flush();
        return;
      }
      const bytes = this.ram.readBytes(q.entryAddr(q.cons, f.oas), 16);
      if (!bytes) {
        if (!this.flush()) continue;
        this.commandError(CERROR.ABT, 'command fetch outside guest RAM', 'fetch');
        continue;
      }
      const w0 = joinU64(u32(bytes, 0), u32(bytes, 4));
      const w1 = joinU64(u32(bytes, 8), u32(bytes, 12));
      const name = commandName(w0, w1);
      const reason = checkCommand(w0, w1, {
        features: f,
        ds: false,
        dpt: false,
        reservedFields: this.reservedFields,
      });
      if (reason !== undefined) {
        if (!this.flush()) continue;
        bump(this.counters.guestCommands, name);
        this.commandError(CERROR.ILL, reason, name);
        continue;
      }
      const op = Number(w0 & 0xffn);
      if (this.forwardable(op, w0)) {
        bump(this.counters.guestCommands, name);
        this.batch.push({ w0, w1, cons: q.cons });
        q.advanceCons();
        this.trace(name, w0, w1);
        if (this.batch.length >= this.maxBatch) this.flush();
        continue;
      }
      // Every other command is a barrier: the batch goes first, so a CMD_SYNC (or an STE change)
      // is ordered after every invalidation before it (vmm-designs.md pitfall 5).
      if (!this.flush()) continue;
      bump(this.counters.guestCommands, name);
      if (!this.execute(op, w0, w1, name)) continue;
      q.advanceCons();
      this.trace(name, w0, w1);
      if (op === CMD_OP.CMD_SYNC) this.completeSync(w0, w1);
    }
  }

  private trace(name: string, w0: bigint, w1: bigint): void {
    this.opts.trace?.({ kind: 'command', opcode: name, words: [w0, w1], source: 'vmm' });
  }

  /** Whether a command joins the invalidation batch (else it is handled here, in order). */
  private forwardable(op: number, w0: bigint): boolean {
    switch (op) {
      case CMD_OP.TLBI_NH_ALL:
      case CMD_OP.TLBI_NH_ASID:
      case CMD_OP.TLBI_NH_VA:
      case CMD_OP.TLBI_NH_VAA:
      case CMD_OP.TLBI_NSNH_ALL:
        return true;
      case CMD_OP.ATC_INV:
        // §4.5.1: ATC_INV is IGNORED while SMMUEN = 0.
        if (!has32(this.cr0ack, 0)) return false;
        return this.translatingDevice(w0) !== undefined;
      case CMD_OP.CFGI_CD:
      case CMD_OP.CFGI_CD_ALL:
        return this.translatingDevice(w0) !== undefined;
      default:
        return false;
    }
  }

  /** The device named by a command's StreamID if it has a vDEVICE and a stage-1 attachment. */
  private translatingDevice(w0: bigint): AccelDevice | undefined {
    const sid = hi32(w0);
    const d = this.backend.devices.find((x) => x.vsid === sid);
    return d && d.vdeviceId !== 0 && d.attached === 'nested' ? d : undefined;
  }

  /** Executes a non-forwarded command; false when it stopped the queue. */
  private execute(op: number, w0: bigint, w1: bigint, name: string): boolean {
    switch (op) {
      case CMD_OP.CFGI_STE: {
        const d = this.backend.devices.find((x) => x.vsid === hi32(w0));
        if (d && !this.refreshStream(d)) {
          this.commandError(CERROR.ILL, `vSTE for vSID ${hex(d.vsid)} refused`, name);
          return false;
        }
        return true;
      }
      case CMD_OP.CFGI_STE_RANGE: {
        // §4.3.2: 2^(Range+1) StreamIDs from StreamID aligned down; Range 31 = every StreamID.
        const range = Number(getBits(w1, 4, 0));
        const span = 2 ** (range + 1);
        const first = range >= CFGI_RANGE_ALL ? 0 : Math.floor(hi32(w0) / span) * span;
        const last = range >= CFGI_RANGE_ALL ? 2 ** 32 - 1 : first + span - 1;
        let ok = true;
        for (const d of [...this.backend.devices]) {
          if (d.vsid >= first && d.vsid <= last && !this.refreshStream(d)) ok = false;
        }
        if (!ok) {
          this.commandError(CERROR.ILL, 'a vSTE in the range was refused', name);
          return false;
        }
        return true;
      }
      case CMD_OP.CFGI_CD:
      case CMD_OP.CFGI_CD_ALL:
      case CMD_OP.ATC_INV:
        // Not forwardable: no vDEVICE or no stage-1 attachment, or ATC_INV while SMMUEN = 0. The
        // host caches nothing for such a stream (vmm-designs.md pitfall 7).
        this.counters.skippedCommands++;
        return true;
      default:
        // CMD_SYNC (completed by the caller), PREFETCH_* (no-ops: the host prefetches nothing on
        // the guest's behalf).
        return true;
    }
  }

  /** §4.7.3 CMD_SYNC completion signal, after CONS has passed it. */
  private completeSync(w0: bigint, w1: bigint): void {
    const cs = Number(getBits(w0, 13, 12));
    if (cs === SYNC_CS.IRQ) {
      bump(this.counters.irqs, 'cmdq-sync');
      // MSI when IDR0.MSI = 1 and MSIAddr[55:2] ≠ 0 (tested over the whole field, then
      // truncated to OAS); an aborted write sets MSI_CMDQ_ABT_ERR.
      const addrField = w1 & genmask(55, 2);
      if (this.vidr.features.msi && addrField !== 0n) {
        if (!this.msiWrite('cmdq-sync', addrField, hi32(w0)))
          this.raiseGerror(GERROR.MSI_CMDQ_ABT_ERR);
      }
      this.opts.irq?.('cmdq-sync');
    } else if (cs === SYNC_CS.SEV && this.vidr.features.sev) {
      bump(this.counters.irqs, 'sev');
      this.opts.sev?.();
    }
  }

  private commandError(code: number, reason: string, command: string): void {
    const q = this.cmdq;
    this.counters.commandErrors++;
    this.lastCommandError = { code, reason, command, cons: q.rd };
    this.log({
      level: 'warn',
      text: `${this.name}: guest ${command} at CONS ${hex(q.rd)}: ${reason}`,
    });
    // §7.1: CMDQ_CONS.ERR is written before GERROR.CMDQ_ERR activates; CONS stays on the command.
    q.cons = merge32(q.cons, put32(code, 30, 24), CMDQ_CONS_ERR);
    this.raiseGerror(GERROR.CMDQ_ERR);
  }

  /**
   * Sends the pending invalidations. On failure the batch is re-presented one command at a time
   * from its start (invalidations are idempotent; `entry_num` is not a safe resume point,
   * vmm-designs.md pitfall 4), so every command before the one the kernel refuses has taken effect;
   * the guest queue then stops on the refused command with CERROR_ILL. Returns false when it
   * stopped the queue.
   */
  private flush(): boolean {
    const batch = this.batch;
    if (batch.length === 0) return true;
    this.batch = [];
    this.counters.invalidateBatches++;
    this.counters.forwardedCommands += batch.length;
    const r = this.backend.invalidate(batch.map((p) => [p.w0, p.w1] as const));
    if (r.ret >= 0) return true;
    this.log({
      level: 'warn',
      text: `${this.name}: IOMMU_HWPT_INVALIDATE of ${batch.length} commands failed (${errnoName(r.ret)}, entry_num ${r.handled}); re-presenting one by one`,
    });
    for (const p of batch) {
      this.counters.invalidateBatches++;
      const one = this.backend.invalidate([[p.w0, p.w1]]);
      if (one.ret >= 0) continue;
      // Stop on the refused command: CONS goes back to it (the guest has not observed CONS since
      // these commands were taken, so this is not a visible backwards move).
      this.cmdq.cons = merge32(this.cmdq.cons, p.cons, QUEUE_PTR_FIELD);
      this.commandError(
        CERROR.ILL,
        `the kernel refused it (IOMMU_HWPT_INVALIDATE: ${errnoName(one.ret)})`,
        commandName(p.w0, p.w1),
      );
      return false;
    }
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Streams

  /**
   * Brings one stream in line with the guest's configuration. Returns false only when the
   * `cerror-keep` policy wants the guest command to fail.
   */
  private refreshStream(d: AccelDevice): boolean {
    const f = this.vidr.features;
    let kind: 'abort' | 'bypass' | 'nested';
    let vste: readonly [bigint, bigint] | undefined;
    let raw: readonly [bigint, bigint] | undefined;
    if (!has32(this.cr0ack, 0)) {
      kind = has32(this.gbpa, 20) ? 'abort' : 'bypass';
    } else {
      const st = { strtabBase: this.strtabBase, strtabBaseCfg: this.strtabBaseCfg };
      const dec = decideSte(fetchGuestSte(this.ram, st, d.vsid, f), f);
      if (dec.kind === 'illegal') {
        // ILLEGAL under the vIDRs though the host would take it: no ioctl, straight to the policy.
        this.counters.steInstalls.failed++;
        const [w0, w1] = dec.raw;
        return this.refuseVste(
          d,
          `${this.name}: vSID ${hex(d.vsid)} (${d.name}): ${dec.reason}; guest STE[0]=${hex64(w0)} STE[1]=${hex64(w1)};`,
        );
      }
      kind = dec.kind;
      if (dec.kind === 'nested') {
        vste = dec.vste;
        raw = dec.raw;
      }
    }
    const r = this.backend.install(d, kind, vste);
    const c = this.counters.steInstalls;
    if (r.ok) {
      if (r.unchanged) c.unchanged++;
      else if (kind === 'nested') c.s1++;
      else c[kind]++;
      return true;
    }
    c.failed++;
    const call = r.stage === 'alloc' ? 'IOMMU_HWPT_ALLOC' : 'VFIO_DEVICE_ATTACH_IOMMUFD_PT';
    const words =
      raw && vste
        ? ` guest STE[0]=${hex64(raw[0])} STE[1]=${hex64(raw[1])}, vSTE[0]=${hex64(vste[0])} vSTE[1]=${hex64(vste[1])};`
        : '';
    const head = `${this.name}: vSID ${hex(d.vsid)} (${d.name}): ${call} failed with ${errnoName(r.errno)};${words}`;
    if (kind !== 'nested') {
      // The pre-allocated proxies cannot be refused for a valid reason; the device stays where it
      // is and the failure is logged (OpenVMM treats this as fatal).
      this.log({ level: 'error', text: `${head} the stream keeps its previous attachment` });
      return true;
    }
    return this.refuseVste(d, head);
  }

  /** The invalid-vSTE policy for a refused stage-1 configuration (`head` names the failure). */
  private refuseVste(d: AccelDevice, head: string): boolean {
    switch (this.policy) {
      case 'cerror-keep':
        this.log({
          level: 'error',
          text: `${head} failing the command with CERROR_ILL, previous attachment kept`,
        });
        return false;
      case 'silent-abort':
        this.log({ level: 'error', text: `${head} installing abort (no event)` });
        this.backend.install(d, 'abort');
        return true;
      default: {
        this.log({ level: 'error', text: `${head} injecting C_BAD_STE and installing abort` });
        this.counters.badSteInjected++;
        this.offerEvent(makeEvent('C_BAD_STE', { StreamID: d.vsid }).raw);
        this.backend.install(d, 'abort');
        return true;
      }
    }
  }

  private redriveAll(why: string): void {
    this.log({
      level: 'info',
      text: `${this.name}: ${why}: re-deriving ${this.backend.devices.length} stream(s)`,
    });
    for (const d of [...this.backend.devices]) this.refreshStream(d);
  }

  /**
   * Installs the reset configuration (GBPA) for every stream; called once after set-up, before
   * the guest runs.
   */
  start(): void {
    for (const d of [...this.backend.devices]) this.refreshStream(d);
  }

  /** The host state of every stream. */
  streams(): StreamState[] {
    return this.backend.devices.map((d) => ({
      vsid: d.vsid,
      name: d.name,
      attached: d.attached,
      hwptId: d.hwptId,
      vste: d.vste,
    }));
  }

  /** Hot-unplugs the device with `vsid` (host objects released; the guest sees it vanish). */
  removeDevice(vsid: number): boolean {
    const d = this.backend.devices.find((x) => x.vsid === vsid);
    if (!d) return false;
    this.backend.removeDevice(d);
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Events

  /**
   * Drains the vEVENTQ into the guest event queue (the VMM's event-loop handler for the vEVENTQ
   * fd). Returns the number of host records read.
   */
  pollEvents(): number {
    if (this.polling) return 0;
    this.polling = true;
    let n = 0;
    try {
      // Bounded: a queue refilled while we drain is picked up at the next exit.
      for (let i = 0; i < 64 && this.backend.eventsPending(); i++) {
        const bytes = this.backend.readEvents(EVENT_READ_RECORDS * VEVENT_RECORD_BYTES);
        if (typeof bytes === 'number' || bytes.length === 0) break;
        const b = this.reader.parse(bytes);
        if (b.lost > 0) this.hostLoss(b.lost);
        for (const r of b.records) {
          n++;
          this.offerEvent(r.raw);
        }
      }
    } finally {
      this.polling = false;
    }
    return n;
  }

  private hostLoss(lost: number): void {
    this.counters.hostEventsLost += lost;
    const overflow = (this.opts.hostEventLoss ?? 'overflow') === 'overflow';
    this.log({
      level: 'warn',
      text: `${this.name}: vEVENTQ lost ${lost} event(s) on the host${overflow ? '; signalled as guest event-queue overflow' : ''}`,
    });
    if (!overflow) return;
    // Shown to the guest as an event-queue overflow (only while no overflow is outstanding).
    const q = this.eventq;
    if (has32(this.cr0ack, 2) && and32(q.prod, QUEUE_OVF_FLAG) === and32(q.cons, QUEUE_OVF_FLAG)) {
      q.prod = xor32(q.prod, QUEUE_OVF_FLAG);
    }
  }

  /**
   * Offers a record to the guest event queue with the architected rules (§3.5.3, §7.2, §7.4):
   * written when enabled, not full and no EVENTQ_ABT_ERR is active; a full enabled queue
   * discards it and toggles OVFLG if no overflow is outstanding; a failed write raises
   * EVENTQ_ABT_ERR. The empty → non-empty transition raises the event-queue interrupt.
   */
  offerEvent(raw: RawEvent): boolean {
    const q = this.eventq;
    const enabled = has32(this.cr0ack, 2);
    const abt = this.errActive(or32(GERROR.EVENTQ_ABT_ERR, GERROR.SFM_ERR));
    if (!enabled || abt || q.full || !q.consistent) {
      this.counters.eventsDiscarded++;
      if (enabled && !abt && and32(q.prod, QUEUE_OVF_FLAG) === and32(q.cons, QUEUE_OVF_FLAG)) {
        q.prod = xor32(q.prod, QUEUE_OVF_FLAG);
      }
      return false;
    }
    if (!this.ram.writeWords(q.entryAddr(q.prod, this.vidr.features.oas), raw)) {
      this.counters.eventsDiscarded++;
      // IMPDEF: §7.2.2 — PROD stays exact (the failed record is not covered).
      this.raiseGerror(GERROR.EVENTQ_ABT_ERR);
      return false;
    }
    const wasEmpty = q.empty;
    q.advanceProd();
    this.counters.eventsInjected++;
    this.opts.trace?.({ kind: 'event', record: decodeEvent(raw) });
    if (wasEmpty && has32(this.irqCtrlAck, 2)) {
      this.signal('evtq', this.eventqIrqCfg0, this.eventqIrqCfg1, GERROR.MSI_EVENTQ_ABT_ERR);
    }
    return true;
  }

  /** Whether global error `bit` (a GERROR mask) is active. */
  errorActive(bit: number): boolean {
    return this.errActive(bit);
  }
}

function valid(offset: number, size: number): boolean {
  return Number.isInteger(offset) && offset >= 0 && offset + size <= MMIO_BYTES;
}
