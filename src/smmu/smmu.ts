// The SMMUv3 hardware model, register/queue side (IHI 0070 H.a): the two 64 KB register pages
// (§6.2, §6.3), the CR0/CR0ACK, IRQ_CTRL/ACK, GBPA and GERROR/GERRORN protocols (§6.3 SMMU_CR0…
// SMMU_GERRORN, §7.5), the Command queue with synchronous consumption, CERROR_* handling and CMD_SYNC completion
// (§3.5, §4.1, §4.7.3, §7.1), the Event and PRI queues with overflow flags (§3.5.3–§3.5.4, §7.2,
// §7.4, §8), interrupts and MSIs (§3.18), and global bypass while SMMUEN = 0 (§3.11). The stream
// table, caches, walks and stalls live on the translation side (TranslationSide in types.ts), which
// this class serves as its SmmuCore. Behaviour follows the architecture, not QEMU (qemu-oracle.md
// §6); the few QEMU shapes a comparison needs are opt-in policies.

import { genmask, getBits, hex, hi32, joinU64, lo32, U64_MAX } from '../arch/bits.ts';
import { CMD_OP, commandName } from '../arch/cmd.ts';
import { VsmmuError } from '../arch/errors.ts';
import { decodeEvent } from '../arch/evt.ts';
import type { SparseMemory } from '../mem/sparse-memory.ts';
import { checkCommand, type ReservedFieldPolicy, SYNC_CS } from './commands.ts';
import {
  completeIdrs,
  decodeFeatures,
  type IdRegisters,
  idr3Dpt,
  idr5Ds,
  QEMU_VIRT_GBPA_RESET,
} from './features.ts';
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
  MMIO_BYTES,
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
import type {
  EventRecord,
  MemAttrs,
  SmmuCore,
  SmmuFeatures,
  SmmuRegisterView,
  TraceSink,
  TranslateRequest,
  TranslateResult,
  TranslationSide,
} from './types.ts';
import { and32, clear32, get32, has32, merge32, or32, put32, xor32 } from './u32.ts';

/** The wired interrupt outputs (qtest numbering: 0 EVTQ, 1 PRIQ, 2 CMD_SYNC, 3 GERROR). */
export type IrqLine = 'evtq' | 'priq' | 'cmdq-sync' | 'gerror';

/** A message-signalled interrupt the model wrote into memory. */
export interface MsiWrite {
  readonly source: 'evtq' | 'priq' | 'gerror' | 'cmdq-sync';
  readonly address: bigint;
  readonly data: number;
}

/** Behaviour switches where the architecture leaves a choice (each tagged in the code). */
export interface SmmuPolicies {
  /** Non-zero Reserved command fields: ignored (default) or CERROR_ILL (§4.1.5, IMPDEF). */
  readonly reservedCommandFields?: ReservedFieldPolicy;
  /**
   * Writes to a register outside its write window: 'ignore' (default; mandatory from SMMUv3.2)
   * or 'accept' (take the value; one of the CONSTRAINED UNPREDICTABLE options of v3.0/v3.1,
   * honoured only when AIDR reports v3.1 or older).
   */
  readonly forbiddenWrites?: 'ignore' | 'accept';
  /**
   * 'none' (default): page 0 EVENTQ/PRIQ PROD/CONS offsets are Reserved (RAZ/WI) and unused
   * page-1 offsets are RAZ/WI. 'qemu': page 1 mirrors page 0 and page 0 also exposes the queue
   * pointers, as QEMU's decoder does (both are permitted choices, §6.2).
   */
  readonly pageAlias?: 'none' | 'qemu';
}

/** Construction options of the SMMU model. */
export interface SmmuOptions {
  readonly mem: SparseMemory;
  /** Raw ID registers; missing ones default to QEMU 10.0.2 `virt` (formats.md §6). */
  readonly idr?: Partial<IdRegisters>;
  /** SMMU_IIDR (IMPLEMENTATION DEFINED identification; default 0). */
  readonly iidr?: number;
  /** SMMU_AIDR (overrides `idr.aidr`). */
  readonly aidr?: number;
  /** SMMU_GBPA reset value (Update must be 0; default 0x1000). */
  readonly gbpaReset?: number;
  /** Values of the twelve IMPLEMENTATION DEFINED ID registers at 0xFD0–0xFFC (default RAZ). */
  readonly implDefIdRegs?: readonly number[];
  readonly trace?: TraceSink;
  /** Wired interrupt outputs; a pulse is `(line, true)` then `(line, false)`. */
  readonly irq?: (line: IrqLine, level: boolean) => void;
  /** Observer of every MSI written to memory. */
  readonly msi?: (w: MsiWrite) => void;
  /** Send-event (WFE wake-up) output for CMD_SYNC CS=SEV when IDR0.SEV = 1. */
  readonly sev?: () => void;
  /** The translation side, or a factory given this SMMU as its core. */
  readonly translation?: TranslationSide | ((core: SmmuCore) => TranslationSide);
  readonly policies?: SmmuPolicies;
  /** Number of executed commands kept for `commandsSince` (default 65536). */
  readonly commandLogLimit?: number;
}

/** An executed command as the inspection hook reports it (interfaces.md §2). */
export interface ExecutedCommand {
  /** Command name as src/arch/cmd.ts spells it, e.g. `TLBI_NH_VA`, `CFGI_ALL`, `CMD_SYNC`. */
  readonly name: string;
  readonly opcode: number;
  readonly words: readonly [bigint, bigint];
}

/** Why the Command queue stopped (diagnostics; the architectural record is CMDQ_CONS.ERR). */
export interface CommandError {
  readonly code: number;
  readonly reason: string;
  /** CONS pointer of the failing entry. */
  readonly cons: number;
}

/** Outcome of offering a record to an output queue. */
export type QueueOffer = 'written' | 'held' | 'discarded';

type Raw4 = readonly [bigint, bigint, bigint, bigint];

const TWO53 = 1n << 53n;

function u32Option(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new VsmmuError('BAD_CONFIG', `${name} must be a u32, got ${String(v)}`);
  }
  return v;
}

/** The SMMUv3 model: MMIO registers, queues, interrupts, bypass; translation is delegated. */
export class Smmu implements SmmuCore {
  readonly mem: SparseMemory;
  readonly features: SmmuFeatures;
  readonly idr: IdRegisters;
  readonly iidr: number;
  readonly trace: TraceSink | undefined;
  /** Live view of the registers the translation side reads. */
  readonly regs: SmmuRegisterView;

  /** Wired interrupt pulses per line (a cost/observability counter). */
  readonly irqCounts: Record<IrqLine, number> = {
    evtq: 0,
    priq: 0,
    'cmdq-sync': 0,
    gerror: 0,
  };
  /** Executed commands per spec name (a cost counter). */
  readonly commandCounts: Record<string, number> = {};
  /** Send-event signals produced by CMD_SYNC CS=SEV. */
  sevCount = 0;
  /** The reason the Command queue last stopped with an error. */
  lastCommandError: CommandError | undefined;

  private translation: TranslationSide | undefined;
  private readonly irqOut: ((line: IrqLine, level: boolean) => void) | undefined;
  private readonly msiOut: ((w: MsiWrite) => void) | undefined;
  private readonly sevOut: (() => void) | undefined;
  private readonly reservedFields: ReservedFieldPolicy;
  private readonly acceptForbidden: boolean;
  private readonly qemuAlias: boolean;
  private readonly implDefIdRegs: readonly number[];
  private readonly logLimit: number;
  private readonly ds: boolean;
  private readonly dpt: boolean;

  // Implemented-bit masks derived from the features.
  private readonly cr0Mask: number;
  private readonly cr2Mask: number;
  private readonly irqCtrlMask: number;
  private readonly gerrorMask: number;

  // Registers.
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
  private priqIrqCfg0 = 0n;
  private priqIrqCfg1 = 0;
  private priqIrqCfg2 = 0;
  private strtabBase = 0n;
  private strtabBaseCfg = 0;
  private readonly cmdq: Queue;
  private readonly eventq: Queue;
  private readonly priq: Queue;

  /** Stall records waiting for the Event queue to become writable (§3.5.3). */
  private readonly heldStall: Raw4[] = [];
  private consuming = false;
  private readonly cmdWords = new Uint32Array(2);
  private log: ExecutedCommand[] = [];
  private logBase = 0;
  private cmdObserver: ((opcode: number, w0: bigint, w1: bigint) => void) | undefined;

  constructor(opts: SmmuOptions) {
    this.mem = opts.mem;
    const idr = completeIdrs({
      ...opts.idr,
      ...(opts.aidr === undefined ? {} : { aidr: opts.aidr }),
    });
    this.idr = idr;
    this.features = decodeFeatures(idr);
    this.iidr = u32Option('iidr', opts.iidr, 0);
    const gbpaReset = u32Option('gbpaReset', opts.gbpaReset, QEMU_VIRT_GBPA_RESET);
    if (has32(gbpaReset, 31)) {
      throw new VsmmuError('BAD_CONFIG', 'gbpaReset must have Update (bit 31) clear');
    }
    this.gbpa = gbpaReset;
    this.implDefIdRegs = (opts.implDefIdRegs ?? []).map((v, i) =>
      u32Option(`implDefIdRegs[${i}]`, v, 0),
    );
    if (this.implDefIdRegs.length > 12) {
      throw new VsmmuError('BAD_CONFIG', 'implDefIdRegs has at most 12 entries (0xFD0–0xFFC)');
    }
    this.trace = opts.trace;
    this.irqOut = opts.irq;
    this.msiOut = opts.msi;
    this.sevOut = opts.sev;
    const pol = opts.policies ?? {};
    this.reservedFields = pol.reservedCommandFields ?? 'ignore';
    this.acceptForbidden = pol.forbiddenWrites === 'accept' && this.features.minorRev <= 1;
    this.qemuAlias = pol.pageAlias === 'qemu';
    const limit = opts.commandLogLimit ?? 65536;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new VsmmuError('BAD_CONFIG', `commandLogLimit must be a non-negative integer`);
    }
    this.logLimit = limit;
    // IDR5.DS exists from SMMUv3.4 (LPA2); IDR3.DPT from SMMUv3.3.
    this.ds = this.features.minorRev >= 4 && idr5Ds(idr);
    this.dpt = idr3Dpt(idr);

    const f = this.features;
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

    const self = this;
    this.regs = {
      get cr0ack() {
        return self.cr0ack;
      },
      get cr1() {
        return self.cr1;
      },
      get cr2() {
        return self.cr2;
      },
      get gbpa() {
        return self.gbpa;
      },
      get strtabBase() {
        return self.strtabBase;
      },
      get strtabBaseCfg() {
        return self.strtabBaseCfg;
      },
    };

    if (opts.translation) {
      this.attachTranslation(
        typeof opts.translation === 'function' ? opts.translation(this) : opts.translation,
      );
    }
  }

  /** Connects the translation side (stream table, walks, caches, stalls). */
  attachTranslation(t: TranslationSide): void {
    this.translation = t;
  }

  /** The attached translation side (undefined until one is attached). */
  get translationSide(): TranslationSide | undefined {
    return this.translation;
  }

  /**
   * Installs (or with undefined removes) an observer of every command consumed from the Command
   * queue, called once the command has taken effect (for CMD_SYNC: once it has completed, before
   * its completion signal). Used by the stale-translation sanitizer (sanitizer.ts).
   */
  setCommandObserver(fn: ((opcode: number, w0: bigint, w1: bigint) => void) | undefined): void {
    this.cmdObserver = fn;
  }

  // ------------------------------------------------------------------------------------------
  // MMIO

  /** Reads a register: 32-bit accesses return a number, 64-bit accesses a bigint. */
  mmioRead(offset: number, size: 4): number;
  mmioRead(offset: number, size: 8): bigint;
  mmioRead(offset: number, size: 4 | 8): number | bigint;
  mmioRead(offset: number, size: 4 | 8): number | bigint {
    this.checkAccess(offset, size);
    if (size === 4) return this.read32(offset);
    // CONSTRAINED UNPREDICTABLE: §6.2 — an access that is not naturally aligned; RAZ here.
    if (offset % 8 !== 0) return 0n;
    const o = this.canon(offset);
    if (o !== undefined && REG64.has(o)) return this.reg64(o);
    // CONSTRAINED UNPREDICTABLE: §6.2 — a 64-bit access to a pair of 32-bit registers; modelled as
    // two 32-bit accesses, lower address first.
    return joinU64(this.read32(offset), this.read32(offset + 4));
  }

  /**
   * Writes a register with a 32-bit or 64-bit value (number or bigint). For 32-bit writes a
   * negative int32 number is taken as its u32 bit pattern (JS `0x8000_0000 | x` is negative).
   */
  mmioWrite(offset: number, size: 4 | 8, value: number | bigint): void {
    this.checkAccess(offset, size);
    const signed32 = size === 4 && typeof value === 'number' && value < 0 && value >= -(2 ** 31);
    const v = typeof value === 'bigint' ? value : BigInt(signed32 ? value + 2 ** 32 : value);
    if (
      (typeof value === 'number' && !Number.isInteger(value)) ||
      v < 0n ||
      v >= 1n << BigInt(size * 8)
    ) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        `MMIO value ${String(value)} does not fit ${size} bytes`,
      );
    }
    if (size === 4) {
      this.write32(offset, Number(v));
      return;
    }
    // CONSTRAINED UNPREDICTABLE: §6.2 — misaligned access; ignored here.
    if (offset % 8 !== 0) return;
    const o = this.canon(offset);
    if (o !== undefined && REG64.has(o)) {
      this.writeReg64(o, v);
      return;
    }
    // CONSTRAINED UNPREDICTABLE: §6.2 — 64-bit write to two 32-bit registers: two writes, low first.
    this.write32(offset, lo32(v));
    this.write32(offset + 4, hi32(v));
  }

  /** 32-bit register read. */
  read32(offset: number): number {
    this.checkAccess(offset, 4);
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

  /** 32-bit register write (a negative int32 is taken as its u32 bit pattern). */
  write32(offset: number, v: number): void {
    this.checkAccess(offset, 4);
    if (Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) v += 2 ** 32;
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
      throw new VsmmuError('BAD_ARGUMENT', `MMIO value ${String(v)} is not a u32`);
    }
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
        if (f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.GERROR_IRQEN))) {
          this.gerrorIrqCfg1 = v;
        }
        return;
      case REG.GERROR_IRQ_CFG2:
        if (f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.GERROR_IRQEN))) {
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
        if (f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.EVENTQ_IRQEN))) {
          this.eventqIrqCfg1 = v;
        }
        return;
      case REG.EVENTQ_IRQ_CFG2:
        if (f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.EVENTQ_IRQEN))) {
          this.eventqIrqCfg2 = and32(v, IRQ_CFG2_MASK);
        }
        return;
      case REG.EVENTQ_PROD:
        // §6.3 SMMU_EVENTQ_PROD: SMMU-owned; software may write it (WR and OVFLG) only while the queue is off.
        if (this.allowed(this.queueOff(CR0.EVENTQEN))) {
          this.eventq.prod = or32(this.eventq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        }
        return;
      case REG.EVENTQ_CONS:
        this.eventq.cons = or32(this.eventq.ptrBits(v), and32(v, QUEUE_OVF_FLAG));
        this.flushHeld();
        return;
      case REG.PRIQ_IRQ_CFG1:
        if (f.pri && f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.PRIQ_IRQEN))) {
          this.priqIrqCfg1 = v;
        }
        return;
      case REG.PRIQ_IRQ_CFG2:
        if (f.pri && f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.PRIQ_IRQEN))) {
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
        // §6.3 SMMU_STRTAB_BASE: RO with TABLES_PRESET; else writable only while SMMUEN and its ACK are 0.
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
        if (f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.GERROR_IRQEN))) {
          this.gerrorIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        }
        return;
      case REG.EVENTQ_IRQ_CFG0:
        if (f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.EVENTQ_IRQEN))) {
          this.eventqIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        }
        return;
      case REG.PRIQ_IRQ_CFG0:
        if (f.pri && f.msi && this.allowed(this.irqCfgWritable(IRQ_CTRL.PRIQ_IRQEN))) {
          this.priqIrqCfg0 = v & IRQ_CFG0_ADDR_MASK;
        }
        return;
      default:
        return;
    }
  }

  private writeQueueBase(q: Queue, enBit: number, v: bigint): void {
    // §6.3 SMMU_*Q_BASE: RO with QUEUES_PRESET; else writable only while the queue and its ACK are off.
    if (this.features.queuesPreset || !this.allowed(this.queueOff(enBit))) return;
    q.base = v & QUEUE_BASE_MASK;
    // §3.5.1: after a LOG2SIZE change the pointer bits above the new wrap bit are UNKNOWN; the
    // model truncates them.
    q.truncatePointers();
  }

  /** Maps an offset to the register it designates, or undefined for RAZ/WI space. */
  private canon(offset: number): number | undefined {
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

  private checkAccess(offset: number, size: number): void {
    if (size !== 4 && size !== 8) {
      throw new VsmmuError('BAD_ARGUMENT', `MMIO access size ${String(size)} (must be 4 or 8)`);
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + size > MMIO_BYTES) {
      throw new VsmmuError(
        'OUT_OF_RANGE',
        `MMIO offset ${String(offset)} outside the two 64 KB SMMU pages`,
      );
    }
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
    const all = or32(or32(CR0.CMDQEN, CR0.EVENTQEN), CR0.PRIQEN);
    return and32(or32(this.cr0, this.cr0ack), all) === 0;
  }

  private irqCfgWritable(enBit: number): boolean {
    return and32(or32(this.irqCtrl, this.irqCtrlAck), enBit) === 0;
  }

  private writeCr0(v: number): void {
    const old = this.cr0ack;
    this.cr0 = and32(v, this.cr0Mask);
    // §6.3 SMMU_CR0ACK: the model completes every CR0 update at once (CR0ACK := CR0 over the implemented
    // fields), which the architecture permits.
    this.cr0ack = this.cr0;
    const rose = clear32(this.cr0ack, old);
    const fell = clear32(old, this.cr0ack);
    if (and32(fell, CR0.SMMUEN)) this.translation?.onDisable();
    if (and32(rose, CR0.EVENTQEN)) this.flushHeld();
    if (and32(rose, CR0.CMDQEN)) this.processCommands();
  }

  private writeGbpa(v: number): void {
    // §6.3 SMMU_GBPA: a write while Update is 1 is ignored (the model's updates complete at
    // once, so Update never reads 1).
    if (has32(this.gbpa, 31)) return;
    const fields = or32(or32(GBPA.ABORT, GBPA.PERMS_FIELDS), GBPA.TYPES_FIELDS);
    if (!has32(v, 31)) {
      // A write with Update = 0 is IGNORED from v3.2; in v3.1 and earlier it is CONSTRAINED
      // UNPREDICTABLE and the 'accept' policy takes the fields.
      if (this.acceptForbidden) this.gbpa = and32(v, fields);
      return;
    }
    // Fields governed by ATTR_TYPES_OVR / ATTR_PERMS_OVR read back as written but act as "use
    // incoming" when IDR1 lacks the override (see gbpaAttrs).
    this.gbpa = and32(v, fields);
  }

  private writeGerrorn(v: number): void {
    const written = and32(v, this.gerrorMask);
    const active = xor32(this.gerror, this.gerrorn);
    // §7.5: software acknowledges an active error by toggling its GERRORN bit.
    // CONSTRAINED UNPREDICTABLE: SMMU_GERRORN — toggling the bit of an inactive error; ignored.
    const acked = and32(active, xor32(written, this.gerrorn));
    this.gerrorn = xor32(this.gerrorn, acked);
    if (and32(acked, GERROR.CMDQ_ERR)) this.processCommands();
    if (and32(acked, GERROR.EVENTQ_ABT_ERR)) this.flushHeld();
  }

  private errActive(bit: number): boolean {
    return and32(xor32(this.gerror, this.gerrorn), bit) !== 0;
  }

  /**
   * Activates global errors (§7.5): each bit toggles only if inactive; a GERROR interrupt follows
   * any activation except MSI_GERROR_ABT_ERR alone, when GERROR_IRQEN is set.
   */
  private raiseGerror(bits: number): void {
    const inactive = clear32(and32(bits, this.gerrorMask), xor32(this.gerror, this.gerrorn));
    if (inactive === 0) return;
    this.gerror = xor32(this.gerror, inactive);
    if (clear32(inactive, GERROR.MSI_GERROR_ABT_ERR) === 0) return;
    if (!has32(this.irqCtrlAck, 0)) return;
    this.signal('gerror', this.gerrorIrqCfg0, this.gerrorIrqCfg1, GERROR.MSI_GERROR_ABT_ERR);
  }

  /**
   * Signals an interrupt source: an MSI when MSIs are implemented and CFG0.ADDR ≠ 0 (an aborted
   * MSI activates `abtBit`), and a pulse on the wired line.
   */
  private signal(line: IrqLine, cfg0: bigint, data: number, abtBit: number): void {
    if (this.features.msi && cfg0 !== 0n) {
      if (!this.msiWrite(line, cfg0, data)) this.raiseGerror(abtBit);
    }
    // IMPDEF: §3.18 — which outputs are wired; the model has all four wired lines and pulses the
    // line whether or not an MSI was also sent.
    this.pulse(line);
  }

  private pulse(line: IrqLine): void {
    this.irqCounts[line]++;
    this.irqOut?.(line, true);
    this.irqOut?.(line, false);
  }

  /** Writes a 32-bit MSI; false when the write aborted. */
  private msiWrite(source: IrqLine, addrField: bigint, data: number): boolean {
    // §3.4.3: MSI addresses beyond OAS are truncated to OAS.
    const addr = addrField & genmask(this.features.oas - 1, 2);
    if (addr >= TWO53 || this.mem.aborts(Number(addr), 4)) return false;
    this.mem.write32(Number(addr), data);
    this.msiOut?.({ source, address: addr, data });
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Command queue

  /** Consumes commands from CONS towards PROD while the queue may run (§3.5, §4.1, §7.1). */
  private processCommands(): void {
    // A command or an interrupt callback may write CMDQ_PROD again; the running loop sees it.
    if (this.consuming) return;
    this.consuming = true;
    try {
      const q = this.cmdq;
      const buf = this.cmdWords;
      for (;;) {
        if (!has32(this.cr0ack, 3)) return;
        if (this.errActive(or32(GERROR.CMDQ_ERR, GERROR.SFM_ERR))) return;
        // CONSTRAINED UNPREDICTABLE: §3.5.1 — an inconsistent PROD/CONS pair; the queue stalls.
        if (q.empty || !q.consistent) return;
        const addr = q.entryAddr(q.cons, this.features.oas);
        if (addr < 0 || this.mem.aborts(addr, 16)) {
          this.commandError(CERROR.ABT, `queue read at ${hex(Math.max(addr, 0))} aborted`);
          // The loop head stops unless an interrupt handler already acknowledged the error.
          continue;
        }
        this.mem.read64Into(addr, buf);
        const w0 = joinU64(buf[0] as number, buf[1] as number);
        this.mem.read64Into(addr + 8, buf);
        const w1 = joinU64(buf[0] as number, buf[1] as number);
        const reason = checkCommand(w0, w1, {
          features: this.features,
          ds: this.ds,
          dpt: this.dpt,
          reservedFields: this.reservedFields,
        });
        if (reason !== undefined) {
          this.commandError(CERROR.ILL, reason);
          continue;
        }
        this.consume(Number(w0 & 0xffn), w0, w1);
      }
    } finally {
      this.consuming = false;
    }
  }

  private consume(op: number, w0: bigint, w1: bigint): void {
    const q = this.cmdq;
    if (op !== CMD_OP.CMD_SYNC) {
      // §3.11 / §4.5: ATC_INV and PRI_RESP are IGNORED while SMMUEN = 0.
      const ignored = (op === CMD_OP.ATC_INV || op === CMD_OP.PRI_RESP) && !has32(this.cr0ack, 0);
      if (!ignored) this.translation?.execute(op, w0, w1);
      q.advanceCons();
      this.logCommand(op, w0, w1);
      if (this.cmdObserver !== undefined) this.cmdObserver(op, w0, w1);
      return;
    }
    // §4.7.3: the effects of CMD_SYNC (completion of everything before it) are visible before
    // CONS passes it, and CONS passes it before the completion signal.
    q.advanceCons();
    this.logCommand(op, w0, w1);
    if (this.cmdObserver !== undefined) this.cmdObserver(op, w0, w1);
    const cs = Number(getBits(w0, 13, 12));
    if (cs === SYNC_CS.IRQ) {
      // MSI when IDR0.MSI = 1 and MSIAddr[55:2] ≠ 0 (tested over the whole field), else none; an
      // aborted MSI activates MSI_CMDQ_ABT_ERR. The wired CMD_SYNC line is not gated by IRQ_CTRL.
      const addrField = w1 & genmask(55, 2);
      if (this.features.msi && addrField !== 0n) {
        if (!this.msiWrite('cmdq-sync', addrField, hi32(w0))) {
          this.raiseGerror(GERROR.MSI_CMDQ_ABT_ERR);
        }
      }
      this.pulse('cmdq-sync');
    } else if (cs === SYNC_CS.SEV && this.features.sev) {
      this.sevCount++;
      this.sevOut?.();
    }
  }

  private commandError(code: number, reason: string): void {
    const q = this.cmdq;
    this.lastCommandError = { code, reason, cons: q.rd };
    // §7.1: CMDQ_CONS.ERR is written before GERROR.CMDQ_ERR becomes active; CONS stays on the
    // failing command.
    q.cons = merge32(q.cons, put32(code, 30, 24), CMDQ_CONS_ERR);
    this.raiseGerror(GERROR.CMDQ_ERR);
  }

  private logCommand(op: number, w0: bigint, w1: bigint): void {
    const name = commandName(w0, w1);
    this.commandCounts[name] = (this.commandCounts[name] ?? 0) + 1;
    const words = [w0, w1] as const;
    if (this.logLimit > 0) {
      this.log.push({ name, opcode: op, words });
      if (this.log.length > this.logLimit * 2) {
        const drop = this.log.length - this.logLimit;
        this.log = this.log.slice(drop);
        this.logBase += drop;
      }
    }
    this.trace?.({ kind: 'command', opcode: name, words, source: 'smmu' });
  }

  /** A mark for `commandsSince`: the number of commands executed so far. */
  commandMark(): number {
    return this.logBase + this.log.length;
  }

  /**
   * Commands executed since `mark` (interfaces.md §2 inspection hook). Entries older than the log
   * limit are gone; the result then starts at the oldest kept command.
   */
  commandsSince(mark = 0): readonly ExecutedCommand[] {
    return this.log.slice(Math.max(0, mark - this.logBase));
  }

  // ------------------------------------------------------------------------------------------
  // Event queue

  /** Event queue writable: enabled, not full, no active EVENTQ_ABT_ERR (§3.5.3). */
  private eventqWritable(): boolean {
    const q = this.eventq;
    return (
      has32(this.cr0ack, 2) &&
      !this.errActive(GERROR.EVENTQ_ABT_ERR) &&
      !this.errActive(GERROR.SFM_ERR) &&
      q.consistent &&
      !q.full
    );
  }

  /**
   * Offers an event record (SmmuCore): true when written now, or, for a stall record
   * (Stall = W1[31]), held until the queue is writable again; false when discarded.
   */
  recordEvent(raw: Raw4): boolean {
    return this.offerEvent(raw) !== 'discarded';
  }

  /** Inspection hook (interfaces.md §2): puts a record through the same path as recordEvent. */
  injectEvent(record: EventRecord | Raw4): QueueOffer {
    const raw = 'raw' in record ? record.raw : record;
    return this.offerEvent(raw);
  }

  private offerEvent(raw: Raw4): QueueOffer {
    for (const w of raw) {
      if (typeof w !== 'bigint' || w < 0n || w > U64_MAX) {
        throw new VsmmuError('BAD_ARGUMENT', 'an event record is four u64 bigints');
      }
    }
    const stall = getBits(raw[1], 31, 31) === 1n;
    // Held stall records go first so the queue keeps their order.
    if (this.heldStall.length > 0) this.flushHeld();
    if (this.heldStall.length > 0 || !this.eventqWritable()) {
      if (stall) {
        // §3.5.3: a stall record is never discarded: it waits until the queue is writable.
        this.heldStall.push(raw);
        return 'held';
      }
      this.noteEventOverflow();
      return 'discarded';
    }
    if (this.writeEvent(raw)) return 'written';
    if (stall) {
      this.heldStall.push(raw);
      return 'held';
    }
    return 'discarded';
  }

  /** §3.5.4, §7.4: an enabled, full (or treated-as-full) queue discarding a record overflows. */
  private noteEventOverflow(): void {
    const q = this.eventq;
    if (!has32(this.cr0ack, 2)) return;
    if (this.errActive(GERROR.EVENTQ_ABT_ERR) || this.errActive(GERROR.SFM_ERR)) return;
    if (q.consistent && !q.full) return;
    // OVFLG toggles only while no overflow is outstanding (OVFLG == OVACKFLG).
    if (and32(q.prod, QUEUE_OVF_FLAG) === and32(q.cons, QUEUE_OVF_FLAG)) {
      q.prod = xor32(q.prod, QUEUE_OVF_FLAG);
    }
  }

  /** Writes one record at PROD; false when the write aborted (EVENTQ_ABT_ERR raised). */
  private writeEvent(raw: Raw4): boolean {
    const q = this.eventq;
    const addr = q.entryAddr(q.prod, this.features.oas);
    if (addr < 0 || this.mem.aborts(addr, 32)) {
      // IMPDEF: §7.2.2 — PROD stays exact (the failed record is not covered).
      this.raiseGerror(GERROR.EVENTQ_ABT_ERR);
      return false;
    }
    for (let i = 0; i < 4; i++) {
      const w = raw[i] as bigint;
      this.mem.write64Split(addr + 8 * i, lo32(w), hi32(w));
    }
    const wasEmpty = q.empty;
    q.advanceProd();
    this.trace?.({ kind: 'event', record: decodeEvent(raw) });
    // §3.18, §7.2: the Event queue interrupt marks the empty → non-empty transition.
    if (wasEmpty && has32(this.irqCtrlAck, 2)) {
      this.signal('evtq', this.eventqIrqCfg0, this.eventqIrqCfg1, GERROR.MSI_EVENTQ_ABT_ERR);
    }
    return true;
  }

  private flushHeld(): void {
    while (this.heldStall.length > 0 && this.eventqWritable()) {
      // Taken off the list before writing: an interrupt handler run by the write may flush again.
      const raw = this.heldStall.shift() as Raw4;
      if (!this.writeEvent(raw)) {
        this.heldStall.unshift(raw);
        return;
      }
    }
  }

  /** Stall records waiting for the Event queue (oldest first). */
  get heldStallRecords(): readonly Raw4[] {
    return this.heldStall;
  }

  // ------------------------------------------------------------------------------------------
  // PRI queue

  /**
   * Offers a PRI Page Request (two words, §8) to the PRI queue. Written when PRI is implemented,
   * PRIQEN and SMMUEN are on, the queue is not full and PRIQ_ABT_ERR is inactive; a full enabled
   * queue toggles PRIQ_PROD.OVFLG like the Event queue.
   */
  recordPageRequest(raw: readonly [bigint, bigint]): QueueOffer {
    for (const w of raw) {
      if (typeof w !== 'bigint' || w < 0n || w > U64_MAX) {
        throw new VsmmuError('BAD_ARGUMENT', 'a page request is two u64 bigints');
      }
    }
    const q = this.priq;
    // §3.11: PRIQEN acts as 0 while SMMUEN = 0.
    const enabled = this.features.pri && has32(this.cr0ack, 1) && has32(this.cr0ack, 0);
    if (!enabled || this.errActive(or32(GERROR.PRIQ_ABT_ERR, GERROR.SFM_ERR))) return 'discarded';
    if (!q.consistent || q.full) {
      if (and32(q.prod, QUEUE_OVF_FLAG) === and32(q.cons, QUEUE_OVF_FLAG)) {
        q.prod = xor32(q.prod, QUEUE_OVF_FLAG);
      }
      return 'discarded';
    }
    const addr = q.entryAddr(q.prod, this.features.oas);
    if (addr < 0 || this.mem.aborts(addr, 16)) {
      this.raiseGerror(GERROR.PRIQ_ABT_ERR);
      return 'discarded';
    }
    this.mem.write64Split(addr, lo32(raw[0]), hi32(raw[0]));
    this.mem.write64Split(addr + 8, lo32(raw[1]), hi32(raw[1]));
    const wasEmpty = q.empty;
    q.advanceProd();
    if (wasEmpty && has32(this.irqCtrlAck, 1)) {
      this.signal('priq', this.priqIrqCfg0, this.priqIrqCfg1, GERROR.MSI_PRIQ_ABT_ERR);
    }
    return 'written';
  }

  // ------------------------------------------------------------------------------------------
  // Transactions

  /**
   * Presents a transaction (interfaces.md §4). While SMMUEN = 0 the global bypass attributes of
   * GBPA apply here; otherwise the translation side decides.
   */
  translate(req: TranslateRequest): TranslateResult {
    if (!Number.isInteger(req.sid) || req.sid < 0 || req.sid >= 2 ** 32) {
      throw new VsmmuError('OUT_OF_RANGE', `StreamID ${String(req.sid)} is not a u32`);
    }
    if (
      req.ssid !== undefined &&
      (!Number.isInteger(req.ssid) || req.ssid < 0 || req.ssid >= 2 ** 20)
    ) {
      throw new VsmmuError('OUT_OF_RANGE', `SubstreamID ${String(req.ssid)} is not 20 bits`);
    }
    if (typeof req.iova !== 'bigint' || req.iova < 0n || req.iova > U64_MAX) {
      throw new VsmmuError('OUT_OF_RANGE', `input address ${String(req.iova)} is not a u64`);
    }
    if (req.access !== 'read' && req.access !== 'write') {
      throw new VsmmuError('BAD_ARGUMENT', `access must be 'read' or 'write'`);
    }
    if (!has32(this.cr0ack, 0)) return this.bypass(req);
    if (!this.translation) {
      throw new VsmmuError('BAD_STATE', 'no translation side attached (attachTranslation)');
    }
    return this.translation.translate(req);
  }

  /** §3.11 global bypass (SMMUEN = 0), governed by SMMU_GBPA. */
  private bypass(req: TranslateRequest): TranslateResult {
    // ABORT = 1 terminates every transaction without recording anything.
    if (has32(this.gbpa, 20)) return { ok: false };
    // §3.4: a bypassed address beyond OAS aborts (no event while SMMUEN = 0).
    if (req.iova >= 1n << BigInt(this.features.oas)) return { ok: false };
    return { ok: true, pa: req.iova, attrs: this.gbpaAttrs(req) };
  }

  /** Output attributes under GBPA (§13.2 attribute overrides, SMMU_GBPA fields). */
  private gbpaAttrs(req: TranslateRequest): MemAttrs {
    const g = this.gbpa;
    const f = this.features;
    const attrs: { -readonly [K in keyof MemAttrs]: MemAttrs[K] } = {};
    const write = req.access === 'write';
    // INSTCFG/PRIVCFG apply only with ATTR_PERMS_OVR; 0b00/0b01 use the incoming value.
    const instcfg = f.attrPermsOvr ? get32(g, 19, 18) : 0;
    const privcfg = f.attrPermsOvr ? get32(g, 17, 16) : 0;
    // Writes are always Data (§13.2).
    attrs.inst = write ? false : instcfg >= 2 ? instcfg === 3 : req.inst === true;
    attrs.priv = privcfg >= 2 ? privcfg === 3 : req.priv === true;
    if (f.attrTypesOvr) {
      const mtcfg = has32(g, 4);
      const memattr = get32(g, 3, 0);
      const shcfg = get32(g, 13, 12);
      const alloccfg = get32(g, 11, 8);
      if (mtcfg) attrs.memAttr = memAttrToMair(memattr);
      // SHCFG: 00 NSH, 01 use incoming, 10 OSH, 11 ISH; Device memory is always Outer Shareable.
      if (mtcfg && memattr < 4) attrs.sh = 2;
      else if (shcfg !== 1) attrs.sh = shcfg;
      // ALLOCCFG 1RWT overrides the allocation hints; 0xxx uses the incoming ones.
      if (alloccfg >= 8) attrs.alloc = alloccfg - 8;
    }
    return attrs;
  }

  // ------------------------------------------------------------------------------------------
  // Inspection helpers for tests and tools

  /** Whether global error `bit` (a GERROR mask) is active. */
  errorActive(bit: number): boolean {
    return this.errActive(bit);
  }
}

/**
 * STE/GBPA MemAttr (stage-2 encoding: 0b00dd Device-dd, else outer[3:2]/inner[1:0] with 01 NC,
 * 10 WT, 11 WB) as a MAIR-style byte (Device-dd → 0b0000dd00; Normal WT/WB read+write-allocate).
 */
export function memAttrToMair(memattr: number): number {
  const outer = get32(memattr, 3, 2);
  if (outer === 0) return put32(get32(memattr, 1, 0), 3, 2);
  const half = (x: number): number => (x === 1 ? 0b0100 : x === 2 ? 0b1011 : x === 3 ? 0b1111 : 0);
  return or32(put32(half(outer), 7, 4), half(get32(memattr, 1, 0)));
}
