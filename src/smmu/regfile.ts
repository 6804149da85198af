// The SMMUv3 register-file protocols shared by the hardware model (smmu.ts) and the VMM's emulated
// guest-visible SMMU (src/vmm/vsmmu.ts), both modelling IHI 0070 H.a: the register map decode of
// the two 64 KB pages (§6.2), the write windows and the CR0/CR0ACK, IRQ_CTRL/IRQ_CTRLACK, GBPA
// update and GERROR/GERRORN activate/acknowledge protocols (§6.3, §7.5), queue BASE/PROD/CONS
// registers (§3.5.1, §6.3), Command queue consumption with CERROR_* (§3.5, §4.1, §7.1) and CMD_SYNC
// completion (§4.7.3), Event queue writing with overflow (§3.5.3–§3.5.4, §7.2, §7.4), and interrupt
// signalling by MSI and wired line (§3.18). What differs between the two owners — what a consumed
// command does, where memory and MSIs go, what an SMMUEN/GBPA change triggers, counters and logs —
// is left to the subclass through the hook methods below.

import {
  and32,
  clear32,
  genmask,
  getBits,
  has32,
  hi32,
  joinU64,
  lo32,
  merge32,
  or32,
  put32,
  xor32,
} from '../arch/bits.ts';
import { commandName } from '../arch/cmd.ts';
import { decodeEvent } from '../arch/evt.ts';
import {
  type CommandCheckContext,
  checkCommand,
  type ReservedFieldPolicy,
  SYNC_CS,
} from './commands.ts';
import { type IdRegisters, idr3Dpt, idr5Ds } from './features.ts';
import { Queue } from './queue.ts';
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
  PAGE_BYTES,
  PAGE0_QUEUE_OFFSETS,
  PRIQ_IRQ_CFG2_MASK,
  QUEUE_BASE_MASK,
  QUEUE_OVF_FLAG,
  QUEUE_PTR_FIELD,
  REG,
  REG64,
  STRTAB_BASE_CFG_MASK,
  STRTAB_BASE_MASK,
} from './registers.ts';
import type { SmmuFeatures, TraceSink } from './types.ts';

/** The interrupt sources of an SMMU (qtest numbering: 0 EVTQ, 1 PRIQ, 2 CMD_SYNC, 3 GERROR). */
export type IrqLine = 'evtq' | 'priq' | 'cmdq-sync' | 'gerror';

/** The interrupt sources the shared protocols raise (every SMMU has them; PRI is optional). */
export type CoreIrq = 'evtq' | 'cmdq-sync' | 'gerror';

/** A 32-bit Event queue record as four u64 words. */
export type EventWords = readonly [bigint, bigint, bigint, bigint];

/** What the owner of a register file fixes at construction. */
export interface RegisterFileOptions {
  readonly idr: IdRegisters;
  readonly iidr: number;
  /** Features decoded from `idr` (they gate registers and fields). */
  readonly features: SmmuFeatures;
  /** SMMU_GBPA at reset (Update clear). */
  readonly gbpa: number;
  readonly trace?: TraceSink | undefined;
  /** Non-zero Reserved command fields: ignored (default) or CERROR_ILL (IMPDEF, §4.1.5). */
  readonly reservedCommandFields?: ReservedFieldPolicy | undefined;
  /** Take writes outside their window (v3.0/v3.1 CONSTRAINED UNPREDICTABLE choice; default off). */
  readonly acceptForbidden?: boolean | undefined;
  /** Page-0 queue pointer offsets and page 1: RAZ/WI (default) or QEMU's aliasing (§6.2). */
  readonly pageAlias?: 'none' | 'qemu' | undefined;
  /** Values of the twelve IMPLEMENTATION DEFINED ID registers at 0xFD0–0xFFC (default RAZ). */
  readonly implDefIdRegs?: readonly number[] | undefined;
}

/**
 * The SMMUv3 register file and queue protocols. Subclasses supply memory access (`writeEntry`,
 * `fetchCommand`, `writeMsi`), the per-command action (`executeCommand`), the error record
 * (`commandError`), interrupt outputs (`interruptDelivered`, `sendEvent`) and may react to
 * state changes through the no-op hooks (`cr0Changed`, `gbpaChanged`, `eventqReopened`, …).
 * `L` names the interrupt sources the owner signals besides the core ones (the PRI queue's).
 */
export abstract class SmmuRegisterFile<L extends string = CoreIrq> {
  readonly features: SmmuFeatures;
  readonly idr: IdRegisters;
  readonly iidr: number;
  readonly trace: TraceSink | undefined;

  protected readonly reservedFields: ReservedFieldPolicy;
  protected readonly acceptForbidden: boolean;
  private readonly qemuAlias: boolean;
  private readonly implDefIdRegs: readonly number[];
  private readonly ds: boolean;
  private readonly dpt: boolean;

  // Implemented-bit masks derived from the features.
  private readonly cr0Mask: number;
  private readonly cr2Mask: number;
  private readonly irqCtrlMask: number;
  private readonly gerrorMask: number;

  // Registers.
  protected cr0 = 0;
  protected cr0ack = 0;
  protected cr1 = 0;
  protected cr2 = 0;
  protected gbpa: number;
  protected irqCtrl = 0;
  protected irqCtrlAck = 0;
  protected gerror = 0;
  protected gerrorn = 0;
  protected gerrorIrqCfg0 = 0n;
  protected gerrorIrqCfg1 = 0;
  protected gerrorIrqCfg2 = 0;
  protected eventqIrqCfg0 = 0n;
  protected eventqIrqCfg1 = 0;
  protected eventqIrqCfg2 = 0;
  protected priqIrqCfg0 = 0n;
  protected priqIrqCfg1 = 0;
  protected priqIrqCfg2 = 0;
  protected strtabBase = 0n;
  protected strtabBaseCfg = 0;
  protected readonly cmdq: Queue;
  protected readonly eventq: Queue;
  protected readonly priq: Queue;

  /** The two words of the command being fetched, as u32s (lo, hi, lo, hi); see fetchCommand. */
  protected readonly cmdBuf = new Uint32Array(4);
  private consuming = false;
  /** What command validation depends on (fixed at construction). */
  private readonly cmdCheck: CommandCheckContext;

  constructor(o: RegisterFileOptions) {
    const f = o.features;
    this.features = f;
    this.idr = o.idr;
    this.iidr = o.iidr;
    this.gbpa = o.gbpa;
    this.trace = o.trace;
    this.reservedFields = o.reservedCommandFields ?? 'ignore';
    this.acceptForbidden = o.acceptForbidden === true;
    this.qemuAlias = o.pageAlias === 'qemu';
    this.implDefIdRegs = o.implDefIdRegs ?? [];
    // IDR5.DS exists from SMMUv3.4 (LPA2); IDR3.DPT from SMMUv3.3.
    this.ds = f.minorRev >= 4 && idr5Ds(o.idr);
    this.dpt = idr3Dpt(o.idr);
    this.cmdCheck = {
      features: f,
      ds: this.ds,
      dpt: this.dpt,
      reservedFields: this.reservedFields,
    };

    // §6.3 SMMU_CR0: PRIQEN, ATSCHK and VMW are RES0 unless PRI, ATS and VMW are implemented.
    let cr0m = or32(or32(CR0.SMMUEN, CR0.EVENTQEN), CR0.CMDQEN);
    if (f.pri) cr0m = or32(cr0m, CR0.PRIQEN);
    if (f.ats) cr0m = or32(cr0m, CR0.ATSCHK);
    if (f.vmw) cr0m = or32(cr0m, CR0.VMW);
    this.cr0Mask = cr0m;
    // §6.3 SMMU_CR2: E2H needs IDR0.HYP; REC_CFG_ATS needs ATS.
    let cr2m = or32(CR2.RECINVSID, CR2.PTM);
    if (f.hyp) cr2m = or32(cr2m, CR2.E2H);
    if (f.ats) cr2m = or32(cr2m, CR2.REC_CFG_ATS);
    this.cr2Mask = cr2m;
    let irqm = or32(IRQ_CTRL.GERROR_IRQEN, IRQ_CTRL.EVENTQ_IRQEN);
    if (f.pri) irqm = or32(irqm, IRQ_CTRL.PRIQ_IRQEN);
    this.irqCtrlMask = irqm;
    // §7.5: MSI_*_ABT_ERR exist only with MSIs, PRIQ bits only with PRI.
    let gm = or32(or32(GERROR.CMDQ_ERR, GERROR.EVENTQ_ABT_ERR), GERROR.SFM_ERR);
    if (f.pri) gm = or32(gm, GERROR.PRIQ_ABT_ERR);
    if (f.msi) {
      gm = or32(gm, or32(GERROR.MSI_CMDQ_ABT_ERR, GERROR.MSI_EVENTQ_ABT_ERR));
      gm = or32(gm, GERROR.MSI_GERROR_ABT_ERR);
      if (f.pri) gm = or32(gm, GERROR.MSI_PRIQ_ABT_ERR);
    }
    this.gerrorMask = gm;

    this.cmdq = new Queue({ name: 'cmdq', entryBytes: 16, maxLog2: f.cmdqs });
    this.eventq = new Queue({ name: 'eventq', entryBytes: 32, maxLog2: f.eventqs });
    this.priq = new Queue({ name: 'priq', entryBytes: 16, maxLog2: f.priqs });
  }

  // ------------------------------------------------------------------------------------------
  // Hooks

  /**
   * Writes a queue entry of `bytes` bytes (`words` little-endian u64s) at `addr` (-1 when the
   * address is not expressible); false when the write aborted.
   */
  protected abstract writeEntry(addr: number, words: readonly bigint[], bytes: number): boolean;

  /**
   * Reads the 16-byte command at `addr` (-1 when not expressible) into `cmdBuf`; undefined when
   * read, else the reason the read aborted.
   */
  protected abstract fetchCommand(addr: number): string | undefined;

  /** Writes a 32-bit MSI at `addr` (already truncated to OAS); false when the write aborted. */
  protected abstract writeMsi(source: CoreIrq | L, addr: bigint, data: number): boolean;

  /** Carries out a well-formed command at CONS (advancing CONS or stopping the queue). */
  protected abstract executeCommand(op: number, w0: bigint, w1: bigint): void;

  /** Records why the queue stops at CONS, then calls `stopCommandQueue(code)`. */
  protected abstract commandError(code: number, reason: string, command: string): void;

  /** Interrupt output after any MSI: the wired line or the owner's handler. */
  protected abstract interruptDelivered(line: CoreIrq | L): void;

  /** CMD_SYNC CS=SEV with IDR0.SEV = 1: the send-event output. */
  protected abstract sendEvent(): void;

  /** An interrupt is being signalled (before its MSI). */
  protected interruptRaised(_line: CoreIrq | L): void {}

  /** CR0ACK bits `rose` and `fell` after a CR0 write (before queues restart). */
  protected cr0Changed(_rose: number, _fell: number): void {}

  /** GBPA took a new value (`old` is the previous one). */
  protected gbpaChanged(_old: number): void {}

  /** The Event queue may have become writable (EVENTQEN set, CONS written, ABT_ERR acked). */
  protected eventqReopened(): void {}

  /** An Event queue record was written (true) or lost to an aborted write (false). */
  protected eventOutcome(_written: boolean): void {}

  /** Before the queue stops on an error: false when it already stopped (e.g. a flush failed). */
  protected commandBarrier(): boolean {
    return true;
  }

  /** The Command queue has nothing more it may consume now. */
  protected commandsIdle(): void {}

  /** A command failed its well-formedness check: CERROR_ILL. */
  protected illegalCommand(w0: bigint, w1: bigint, reason: string): void {
    this.commandError(CERROR.ILL, reason, commandName(w0, w1));
  }

  // ------------------------------------------------------------------------------------------
  // Register map

  /** Maps an offset to the register it designates, or undefined for RAZ/WI space. */
  protected canon(offset: number): number | undefined {
    if (this.qemuAlias) {
      // IMPDEF: §6.2 — page 1 mirrors page 0 and the queue pointers answer in both pages.
      const o = offset % PAGE_BYTES;
      return PAGE0_QUEUE_OFFSETS.has(o) ? o + PAGE_BYTES : o;
    }
    if (offset >= PAGE_BYTES) {
      // CONSTRAINED UNPREDICTABLE: §6.2 — unused page-1 offsets may alias page 0; RAZ/WI here.
      const q =
        offset === REG.EVENTQ_PROD ||
        offset === REG.EVENTQ_CONS ||
        offset === REG.PRIQ_PROD ||
        offset === REG.PRIQ_CONS;
      return q ? offset : undefined;
    }
    // IMPDEF: §6.2 — the page-0 offsets of EVENTQ/PRIQ PROD/CONS are Reserved (an optional alias of
    // page 1); RAZ/WI here.
    return PAGE0_QUEUE_OFFSETS.has(offset) ? undefined : offset;
  }

  /** 32-bit read of an in-range offset. */
  protected regRead32(offset: number): number {
    // CONSTRAINED UNPREDICTABLE: §6.2 — misaligned access; RAZ.
    if (offset % 4 !== 0) return 0;
    const o = this.canon(offset);
    if (o === undefined) return 0;
    if (REG64.has(o)) return lo32(this.reg64(o));
    if (REG64.has(o - 4)) return hi32(this.reg64(o - 4));
    const f = this.features;
    switch (o) {
      case REG.IDR0:
        return this.idr.idr0;
      case REG.IDR1:
        return this.idr.idr1;
      case REG.IDR2:
        return this.idr.idr2;
      case REG.IDR3:
        return this.idr.idr3;
      case REG.IDR4:
        return this.idr.idr4;
      case REG.IDR5:
        return this.idr.idr5;
      case REG.IIDR:
        return this.iidr;
      case REG.AIDR:
        return this.idr.aidr;
      case REG.CR0:
        return this.cr0;
      case REG.CR0ACK:
        return this.cr0ack;
      case REG.CR1:
        return this.cr1;
      case REG.CR2:
        return this.cr2;
      case REG.STATUSR:
        // §6.3 SMMU_STATUSR: DORMANT is RES0 without IDR0.DORMHINT; the model is never dormant.
        return 0;
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
      case REG.EVENTQ_IRQ_CFG1:
        return this.eventqIrqCfg1;
      case REG.EVENTQ_IRQ_CFG2:
        return this.eventqIrqCfg2;
      case REG.EVENTQ_PROD:
        return this.eventq.prod;
      case REG.EVENTQ_CONS:
        return this.eventq.cons;
      case REG.PRIQ_IRQ_CFG1:
        return f.pri ? this.priqIrqCfg1 : 0;
      case REG.PRIQ_IRQ_CFG2:
        return f.pri ? this.priqIrqCfg2 : 0;
      case REG.PRIQ_PROD:
        return f.pri ? this.priq.prod : 0;
      case REG.PRIQ_CONS:
        return f.pri ? this.priq.cons : 0;
      default:
        if (o >= REG.ID_REGS && o < REG.ID_REGS + 48) {
          // IMPDEF: §6.3 — identification registers at 0xFD0–0xFFC; configurable, default RAZ.
          return this.implDefIdRegs[(o - REG.ID_REGS) / 4] ?? 0;
        }
        // Unused and Reserved offsets are RAZ/WI.
        return 0;
    }
  }

  /** 64-bit read of an in-range offset (a pair of 32-bit registers reads as two accesses). */
  protected regRead64(offset: number): bigint {
    // CONSTRAINED UNPREDICTABLE: §6.2 — an access that is not naturally aligned; RAZ here.
    if (offset % 8 !== 0) return 0n;
    const o = this.canon(offset);
    if (o !== undefined && REG64.has(o)) return this.reg64(o);
    // CONSTRAINED UNPREDICTABLE: §6.2 — a 64-bit access to a pair of 32-bit registers; modelled as
    // two 32-bit accesses, lower address first.
    return joinU64(this.regRead32(offset), this.regRead32(offset + 4));
  }

  /** 32-bit write (u32 value) of an in-range offset. */
  protected regWrite32(offset: number, v: number): void {
    // CONSTRAINED UNPREDICTABLE: §6.2 — misaligned access; ignored.
    if (offset % 4 !== 0) return;
    const o = this.canon(offset);
    if (o === undefined) return;
    if (REG64.has(o)) {
      this.writeReg64(o, joinU64(v, hi32(this.reg64(o))));
      return;
    }
    if (REG64.has(o - 4)) {
      this.writeReg64(o - 4, joinU64(lo32(this.reg64(o - 4)), v));
      return;
    }
    const f = this.features;
    switch (o) {
      case REG.CR0:
        this.writeCr0(v);
        return;
      case REG.CR1: {
        // §6.3 SMMU_CR1: TABLE_* need SMMUEN off; QUEUE_* need every queue disabled.
        let m = 0;
        if (this.allowed(this.smmuenOff())) m = or32(m, CR1.TABLE_FIELDS);
        if (this.allowed(this.queuesOff())) m = or32(m, CR1.QUEUE_FIELDS);
        this.cr1 = merge32(this.cr1, v, m);
        return;
      }
      case REG.CR2:
        if (this.allowed(this.smmuenOff())) this.cr2 = and32(v, this.cr2Mask);
        return;
      case REG.GBPA:
        this.writeGbpa(v);
        return;
      case REG.IRQ_CTRL:
        // §6.3 SMMU_IRQ_CTRL/IRQ_CTRLACK: instantaneous update of IRQ_CTRLACK.
        this.irqCtrl = and32(v, this.irqCtrlMask);
        this.irqCtrlAck = this.irqCtrl;
        return;
      case REG.GERRORN:
        this.writeGerrorn(v);
        return;
      case REG.GERROR_IRQ_CFG1:
        if (this.irqCfgWritable(IRQ_CTRL.GERROR_IRQEN)) this.gerrorIrqCfg1 = v;
        return;
      case REG.GERROR_IRQ_CFG2:
        if (this.irqCfgWritable(IRQ_CTRL.GERROR_IRQEN)) {
          this.gerrorIrqCfg2 = and32(v, IRQ_CFG2_MASK);
        }
        return;
      case REG.STRTAB_BASE_CFG:
        if (!f.tablesPreset && this.allowed(this.smmuenOff())) {
          this.strtabBaseCfg = and32(v, STRTAB_BASE_CFG_MASK);
        }
        return;
      case REG.CMDQ_PROD:
        // §6.3 SMMU_CMDQ_PROD: always writable; bits above the wrap bit are RES0.
        this.cmdq.prod = this.cmdq.ptrBits(v);
        this.processCommands();
        return;
      case REG.CMDQ_CONS:
        // CONSTRAINED UNPREDICTABLE: SMMU_CMDQ_CONS — a write may or may not change ERR; this
        // model only takes RD.
        if (this.allowed(this.queueOff(CR0.CMDQEN))) {
          this.cmdq.cons = merge32(this.cmdq.cons, this.cmdq.ptrBits(v), QUEUE_PTR_FIELD);
        }
        return;
      case REG.EVENTQ_IRQ_CFG1:
        if (this.irqCfgWritable(IRQ_CTRL.EVENTQ_IRQEN)) this.eventqIrqCfg1 = v;
        return;
      case REG.EVENTQ_IRQ_CFG2:
        if (this.irqCfgWritable(IRQ_CTRL.EVENTQ_IRQEN)) {
          this.eventqIrqCfg2 = and32(v, IRQ_CFG2_MASK);
        }
        return;
      case REG.EVENTQ_PROD:
        // §6.3 SMMU_EVENTQ_PROD: SMMU-owned; software may write it (WR and OVFLG) only while the
        // queue is off.
        if (this.allowed(this.queueOff(CR0.EVENTQEN))) {
          this.eventq.prod = or32(this.eventq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        }
        return;
      case REG.EVENTQ_CONS:
        this.eventq.cons = or32(this.eventq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        this.eventqReopened();
        return;
      case REG.PRIQ_IRQ_CFG1:
        if (f.pri && this.irqCfgWritable(IRQ_CTRL.PRIQ_IRQEN)) this.priqIrqCfg1 = v;
        return;
      case REG.PRIQ_IRQ_CFG2:
        if (f.pri && this.irqCfgWritable(IRQ_CTRL.PRIQ_IRQEN)) {
          this.priqIrqCfg2 = and32(v, PRIQ_IRQ_CFG2_MASK);
        }
        return;
      case REG.PRIQ_PROD:
        if (f.pri && this.allowed(this.queueOff(CR0.PRIQEN))) {
          this.priq.prod = or32(this.priq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        }
        return;
      case REG.PRIQ_CONS:
        if (f.pri) this.priq.cons = or32(this.priq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        return;
      default:
        // Read-only (IDRs, IIDR, AIDR, CR0ACK, IRQ_CTRLACK, GERROR, STATUSR), Reserved and unused
        // offsets: writes are ignored.
        return;
    }
  }

  /** 64-bit write of an in-range offset (a pair of 32-bit registers takes two writes). */
  protected regWrite64(offset: number, v: bigint): void {
    // CONSTRAINED UNPREDICTABLE: §6.2 — misaligned access; ignored here.
    if (offset % 8 !== 0) return;
    const o = this.canon(offset);
    if (o !== undefined && REG64.has(o)) {
      this.writeReg64(o, v);
      return;
    }
    // CONSTRAINED UNPREDICTABLE: §6.2 — 64-bit write to two 32-bit registers: two writes, low first.
    this.regWrite32(offset, lo32(v));
    this.regWrite32(offset + 4, hi32(v));
  }

  /** 64-bit register read (the register must be one of the 64-bit ones). */
  private reg64(o: number): bigint {
    const f = this.features;
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
      case REG.PRIQ_BASE:
        return f.pri ? this.priq.base : 0n;
      case REG.PRIQ_IRQ_CFG0:
        return f.pri ? this.priqIrqCfg0 : 0n;
      default:
        return 0n;
    }
  }

  private writeReg64(o: number, v: bigint): void {
    const f = this.features;
    switch (o) {
      case REG.STRTAB_BASE:
        // §6.3 SMMU_STRTAB_BASE: RO with TABLES_PRESET; else writable only while SMMUEN and its
        // ACK are 0.
        if (!f.tablesPreset && this.allowed(this.smmuenOff())) {
          this.strtabBase = v & STRTAB_BASE_MASK;
        }
        return;
      case REG.CMDQ_BASE:
        this.writeQueueBase(this.cmdq, CR0.CMDQEN, v);
        return;
      case REG.EVENTQ_BASE:
        this.writeQueueBase(this.eventq, CR0.EVENTQEN, v);
        return;
      case REG.PRIQ_BASE:
        if (f.pri) this.writeQueueBase(this.priq, CR0.PRIQEN, v);
        return;
      case REG.GERROR_IRQ_CFG0:
        if (this.irqCfgWritable(IRQ_CTRL.GERROR_IRQEN)) {
          this.gerrorIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        }
        return;
      case REG.EVENTQ_IRQ_CFG0:
        if (this.irqCfgWritable(IRQ_CTRL.EVENTQ_IRQEN)) {
          this.eventqIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        }
        return;
      case REG.PRIQ_IRQ_CFG0:
        if (f.pri && this.irqCfgWritable(IRQ_CTRL.PRIQ_IRQEN)) {
          this.priqIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        }
        return;
      default:
        return;
    }
  }

  private writeQueueBase(q: Queue, enBit: number, v: bigint): void {
    // §6.3 SMMU_*Q_BASE: RO with QUEUES_PRESET; else writable only while the queue and its ACK
    // are off.
    if (this.features.queuesPreset || !this.allowed(this.queueOff(enBit))) return;
    q.base = v & QUEUE_BASE_MASK;
    // §3.5.1: after a LOG2SIZE change the pointer bits above the new wrap bit are UNKNOWN; the
    // model truncates them.
    q.truncatePointers();
  }

  // ------------------------------------------------------------------------------------------
  // Control-register protocols

  /** A write outside its window is IGNORED (v3.2+), or accepted under the v3.1 CU policy. */
  private allowed(inWindow: boolean): boolean {
    return inWindow || this.acceptForbidden;
  }

  private smmuenOff(): boolean {
    return !has32(this.cr0, 0) && !has32(this.cr0ack, 0);
  }

  private queueOff(enBit: number): boolean {
    return and32(or32(this.cr0, this.cr0ack), enBit) === 0;
  }

  private queuesOff(): boolean {
    return this.queueOff(or32(or32(CR0.CMDQEN, CR0.EVENTQEN), CR0.PRIQEN));
  }

  /** *_IRQ_CFGn: present with MSIs; writable while the source's IRQEN and its ACK are 0. */
  private irqCfgWritable(enBit: number): boolean {
    if (!this.features.msi) return false;
    return this.allowed(and32(or32(this.irqCtrl, this.irqCtrlAck), enBit) === 0);
  }

  private writeCr0(v: number): void {
    const old = this.cr0ack;
    this.cr0 = and32(v, this.cr0Mask);
    // §6.3 SMMU_CR0ACK: every CR0 update completes at once (CR0ACK := CR0 over the implemented
    // fields), which the architecture permits.
    this.cr0ack = this.cr0;
    const rose = clear32(this.cr0ack, old);
    const fell = clear32(old, this.cr0ack);
    this.cr0Changed(rose, fell);
    if (and32(rose, CR0.EVENTQEN)) this.eventqReopened();
    if (and32(rose, CR0.CMDQEN)) this.processCommands();
  }

  private writeGbpa(v: number): void {
    // §6.3 SMMU_GBPA: a write while Update is 1 is ignored (updates complete at once, so Update
    // never reads 1).
    if (has32(this.gbpa, 31)) return;
    // A write with Update = 0 is IGNORED from v3.2; in v3.1 and earlier it is CONSTRAINED
    // UNPREDICTABLE and the 'accept' policy takes the fields.
    if (!has32(v, 31) && !this.acceptForbidden) return;
    const old = this.gbpa;
    // Fields governed by ATTR_TYPES_OVR / ATTR_PERMS_OVR read back as written but act as "use
    // incoming" when IDR1 lacks the override.
    this.gbpa = and32(v, or32(or32(GBPA.ABORT, GBPA.PERMS_FIELDS), GBPA.TYPES_FIELDS));
    this.gbpaChanged(old);
  }

  private writeGerrorn(v: number): void {
    const written = and32(v, this.gerrorMask);
    const active = xor32(this.gerror, this.gerrorn);
    // §7.5: software acknowledges an active error by toggling its GERRORN bit.
    // CONSTRAINED UNPREDICTABLE: SMMU_GERRORN — toggling the bit of an inactive error; ignored.
    const acked = and32(active, xor32(written, this.gerrorn));
    this.gerrorn = xor32(this.gerrorn, acked);
    // Processing restarts at CONS once CMDQ_ERR is acknowledged.
    if (and32(acked, GERROR.CMDQ_ERR)) this.processCommands();
    if (and32(acked, GERROR.EVENTQ_ABT_ERR)) this.eventqReopened();
  }

  /** Whether global error `bit` (a GERROR mask) is active. */
  errorActive(bit: number): boolean {
    return this.errActive(bit);
  }

  protected errActive(bit: number): boolean {
    return and32(xor32(this.gerror, this.gerrorn), bit) !== 0;
  }

  /**
   * Activates global errors (§7.5): each bit toggles only if inactive; a GERROR interrupt follows
   * any activation except MSI_GERROR_ABT_ERR alone, when GERROR_IRQEN is set.
   */
  protected raiseGerror(bits: number): void {
    const inactive = clear32(and32(bits, this.gerrorMask), xor32(this.gerror, this.gerrorn));
    if (inactive === 0) return;
    this.gerror = xor32(this.gerror, inactive);
    if (clear32(inactive, GERROR.MSI_GERROR_ABT_ERR) === 0) return;
    if (!has32(this.irqCtrlAck, 0)) return;
    this.signal('gerror', this.gerrorIrqCfg0, this.gerrorIrqCfg1, GERROR.MSI_GERROR_ABT_ERR);
  }

  // ------------------------------------------------------------------------------------------
  // Interrupts

  /**
   * Signals an interrupt source (§3.18): an MSI when MSIs are implemented and CFG0.ADDR ≠ 0 (an
   * aborted MSI activates `abtBit`), then the owner's output.
   */
  protected signal(line: CoreIrq | L, cfg0: bigint, data: number, abtBit: number): void {
    this.interruptRaised(line);
    if (this.features.msi && cfg0 !== 0n) {
      if (!this.msiWrite(line, cfg0, data)) this.raiseGerror(abtBit);
    }
    this.interruptDelivered(line);
  }

  /** Writes a 32-bit MSI; false when the write aborted. */
  private msiWrite(source: CoreIrq | L, addrField: bigint, data: number): boolean {
    // §3.4.3: MSI addresses beyond OAS are truncated to OAS.
    return this.writeMsi(source, addrField & genmask(this.features.oas - 1, 2), data);
  }

  // ------------------------------------------------------------------------------------------
  // Command queue

  /** Consumes commands from CONS towards PROD while the queue may run (§3.5, §4.1, §7.1). */
  protected processCommands(): void {
    // A command or an interrupt callback may write CMDQ_PROD again; the running loop sees it.
    if (this.consuming) return;
    this.consuming = true;
    try {
      const q = this.cmdq;
      const buf = this.cmdBuf;
      for (;;) {
        // CONSTRAINED UNPREDICTABLE: §3.5.1 — an inconsistent PROD/CONS pair; the queue stalls.
        if (
          !has32(this.cr0ack, 3) ||
          this.errActive(or32(GERROR.CMDQ_ERR, GERROR.SFM_ERR)) ||
          q.empty ||
          !q.consistent
        ) {
          this.commandsIdle();
          return;
        }
        const abort = this.fetchCommand(q.entryAddr(q.cons, this.features.oas));
        if (abort !== undefined) {
          // The loop head stops unless an interrupt handler already acknowledged the error.
          if (this.commandBarrier()) this.commandError(CERROR.ABT, abort, 'fetch');
          continue;
        }
        const w0 = joinU64(buf[0] as number, buf[1] as number);
        const w1 = joinU64(buf[2] as number, buf[3] as number);
        const reason = checkCommand(w0, w1, this.cmdCheck);
        if (reason !== undefined) {
          if (this.commandBarrier()) this.illegalCommand(w0, w1, reason);
          continue;
        }
        this.executeCommand(Number(w0 & 0xffn), w0, w1);
      }
    } finally {
      this.consuming = false;
    }
  }

  /** §7.1: CMDQ_CONS.ERR is written before GERROR.CMDQ_ERR activates; CONS stays on the command. */
  protected stopCommandQueue(code: number): void {
    const q = this.cmdq;
    q.cons = merge32(q.cons, put32(code, 30, 24), CMDQ_CONS_ERR);
    this.raiseGerror(GERROR.CMDQ_ERR);
  }

  /** §4.7.3 CMD_SYNC completion signal, once CONS has passed the command. */
  protected completeSync(w0: bigint, w1: bigint): void {
    const cs = Number(getBits(w0, 13, 12));
    if (cs === SYNC_CS.IRQ) {
      // MSI when IDR0.MSI = 1 and MSIAddr[55:2] ≠ 0 (tested over the whole field, then truncated
      // to OAS); an aborted MSI activates MSI_CMDQ_ABT_ERR. The CMD_SYNC interrupt is not gated by
      // IRQ_CTRL.
      this.signal('cmdq-sync', w1 & genmask(55, 2), hi32(w0), GERROR.MSI_CMDQ_ABT_ERR);
    } else if (cs === SYNC_CS.SEV && this.features.sev) {
      this.sendEvent();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Output queues

  /** Event queue writable: enabled, not full, no active EVENTQ_ABT_ERR or SFM_ERR (§3.5.3). */
  protected eventqWritable(): boolean {
    const q = this.eventq;
    return (
      has32(this.cr0ack, 2) &&
      !this.errActive(or32(GERROR.EVENTQ_ABT_ERR, GERROR.SFM_ERR)) &&
      q.consistent &&
      !q.full
    );
  }

  /** §3.5.4, §7.4: an enabled, full (or treated-as-full) Event queue discarding a record overflows. */
  protected noteEventOverflow(): void {
    const q = this.eventq;
    if (!has32(this.cr0ack, 2)) return;
    if (this.errActive(or32(GERROR.EVENTQ_ABT_ERR, GERROR.SFM_ERR))) return;
    if (q.consistent && !q.full) return;
    this.toggleOverflow(q);
  }

  /** Toggles PROD.OVFLG, only while no overflow is outstanding (OVFLG == OVACKFLG). */
  protected toggleOverflow(q: Queue): void {
    if (and32(q.prod, QUEUE_OVF_FLAG) === and32(q.cons, QUEUE_OVF_FLAG)) {
      q.prod = xor32(q.prod, QUEUE_OVF_FLAG);
    }
  }

  /**
   * Writes one record at EVENTQ_PROD; false when the write aborted (EVENTQ_ABT_ERR raised). The
   * empty → non-empty transition raises the Event queue interrupt (§3.18, §7.2).
   */
  protected writeEvent(raw: EventWords): boolean {
    const q = this.eventq;
    if (!this.writeEntry(q.entryAddr(q.prod, this.features.oas), raw, 32)) {
      this.eventOutcome(false);
      // IMPDEF: §7.2.2 — PROD stays exact (the failed record is not covered).
      this.raiseGerror(GERROR.EVENTQ_ABT_ERR);
      return false;
    }
    const wasEmpty = q.empty;
    q.advanceProd();
    this.eventOutcome(true);
    this.trace?.({ kind: 'event', record: decodeEvent(raw) });
    if (wasEmpty && has32(this.irqCtrlAck, 2)) {
      this.signal('evtq', this.eventqIrqCfg0, this.eventqIrqCfg1, GERROR.MSI_EVENTQ_ABT_ERR);
    }
    return true;
  }
}
