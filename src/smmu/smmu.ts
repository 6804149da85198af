// The SMMUv3 hardware model, register/queue side (IHI 0070 H.a): the two 64 KB register pages
// (§6.2, §6.3), the CR0/CR0ACK, IRQ_CTRL/ACK, GBPA and GERROR/GERRORN protocols (§6.3 SMMU_CR0…
// SMMU_GERRORN, §7.5), the Command queue with synchronous consumption, CERROR_* handling and CMD_SYNC completion
// (§3.5, §4.1, §4.7.3, §7.1), the Event and PRI queues with overflow flags (§3.5.3–§3.5.4, §7.2,
// §7.4, §8), interrupts and MSIs (§3.18), and global bypass while SMMUEN = 0 (§3.11). The stream
// table, caches, walks and stalls live on the translation side (TranslationSide in types.ts), which
// this class serves as its SmmuCore. The register map and the protocols it shares with the VMM's
// vSMMU live in regfile.ts; this file adds memory, wired lines, command execution, held stall
// records and the PRI queue. Behaviour follows the architecture, not QEMU (qemu-oracle.md §6); the
// few QEMU shapes a comparison needs are opt-in policies.

import {
  and32,
  get32,
  getBits,
  has32,
  hex,
  hi32,
  lo32,
  or32,
  put32,
  U64_MAX,
} from '../arch/bits.ts';
import { CMD_OP, commandName } from '../arch/cmd.ts';
import { VsmmuError } from '../arch/errors.ts';
import type { SparseMemory } from '../mem/sparse-memory.ts';
import type { ReservedFieldPolicy } from './commands.ts';
import { checkFastArgs } from './fast-args.ts';
import {
  completeIdrs,
  decodeFeatures,
  type IdRegisters,
  QEMU_VIRT_GBPA_RESET,
} from './features.ts';
import { type IrqLine, SmmuRegisterFile } from './regfile.ts';
import { CR0, GERROR, MMIO_BYTES } from './registers.ts';
import type {
  EventRecord,
  MemAttrs,
  SmmuCore,
  SmmuRegisterView,
  TraceSink,
  TranslateRequest,
  TranslateResult,
  TranslationSide,
} from './types.ts';
import { FAST_RESULT } from './types.ts';

/** The wired interrupt outputs (qtest numbering: 0 EVTQ, 1 PRIQ, 2 CMD_SYNC, 3 GERROR). */
export type { IrqLine };

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

/** A translation side with the number path. */
type FastSide = TranslationSide &
  Required<Pick<TranslationSide, 'translateFast' | 'lastResult' | 'setLastResult'>>;

/** The SMMUv3 model: MMIO registers, queues, interrupts, bypass; translation is delegated. */
export class Smmu extends SmmuRegisterFile<IrqLine> implements SmmuCore {
  readonly mem: SparseMemory;
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
  /** The translation side when it has the number path (translateFast etc.), else undefined. */
  private fastSide: FastSide | undefined = undefined;
  private readonly irqOut: ((line: IrqLine, level: boolean) => void) | undefined;
  private readonly msiOut: ((w: MsiWrite) => void) | undefined;
  private readonly sevOut: (() => void) | undefined;
  private readonly logLimit: number;

  /** Stall records waiting for the Event queue to become writable (§3.5.3). */
  private readonly heldStall: Raw4[] = [];
  /** Views of the command buffer for the two 64-bit reads of a fetch. */
  private readonly cmdLo = this.cmdBuf.subarray(0, 2);
  private readonly cmdHi = this.cmdBuf.subarray(2, 4);
  // Executed-command log: a ring of logLimit raw command words, and the number executed so far.
  private readonly logW0: bigint[] = [];
  private readonly logW1: bigint[] = [];
  private logTotal = 0;
  /** Command names by opcode, filled on first use. */
  private readonly opNames: string[] = [];
  private cmdObserver: ((opcode: number, w0: bigint, w1: bigint) => void) | undefined;

  constructor(opts: SmmuOptions) {
    const idr = completeIdrs({
      ...opts.idr,
      ...(opts.aidr === undefined ? {} : { aidr: opts.aidr }),
    });
    const features = decodeFeatures(idr);
    const iidr = u32Option('iidr', opts.iidr, 0);
    const gbpaReset = u32Option('gbpaReset', opts.gbpaReset, QEMU_VIRT_GBPA_RESET);
    if (has32(gbpaReset, 31)) {
      throw new VsmmuError('BAD_CONFIG', 'gbpaReset must have Update (bit 31) clear');
    }
    const implDefIdRegs = (opts.implDefIdRegs ?? []).map((v, i) =>
      u32Option(`implDefIdRegs[${i}]`, v, 0),
    );
    if (implDefIdRegs.length > 12) {
      throw new VsmmuError('BAD_CONFIG', 'implDefIdRegs has at most 12 entries (0xFD0–0xFFC)');
    }
    const pol = opts.policies ?? {};
    super({
      idr,
      iidr,
      features,
      gbpa: gbpaReset,
      trace: opts.trace,
      reservedCommandFields: pol.reservedCommandFields,
      acceptForbidden: pol.forbiddenWrites === 'accept' && features.minorRev <= 1,
      pageAlias: pol.pageAlias,
      implDefIdRegs,
    });
    this.mem = opts.mem;
    this.irqOut = opts.irq;
    this.msiOut = opts.msi;
    this.sevOut = opts.sev;
    const limit = opts.commandLogLimit ?? 65536;
    if (!Number.isInteger(limit) || limit < 0) {
      throw new VsmmuError('BAD_CONFIG', `commandLogLimit must be a non-negative integer`);
    }
    this.logLimit = limit;

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
    this.fastSide =
      t.translateFast !== undefined && t.lastResult !== undefined && t.setLastResult !== undefined
        ? (t as FastSide)
        : undefined;
    this.fastSlow = undefined;
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
  // MMIO (the register map and its protocols are regfile.ts)

  /** Reads a register: 32-bit accesses return a number, 64-bit accesses a bigint. */
  mmioRead(offset: number, size: 4): number;
  mmioRead(offset: number, size: 8): bigint;
  mmioRead(offset: number, size: 4 | 8): number | bigint;
  mmioRead(offset: number, size: 4 | 8): number | bigint {
    this.checkAccess(offset, size);
    return size === 4 ? this.regRead32(offset) : this.regRead64(offset);
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
    if (size === 4) this.regWrite32(offset, Number(v));
    else this.regWrite64(offset, v);
  }

  /** 32-bit register read. */
  read32(offset: number): number {
    this.checkAccess(offset, 4);
    return this.regRead32(offset);
  }

  /** 32-bit register write (a negative int32 is taken as its u32 bit pattern). */
  write32(offset: number, v: number): void {
    this.checkAccess(offset, 4);
    if (Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) v += 2 ** 32;
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
      throw new VsmmuError('BAD_ARGUMENT', `MMIO value ${String(v)} is not a u32`);
    }
    this.regWrite32(offset, v);
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
  // Register-file hooks: memory, interrupt outputs, state changes (regfile.ts)

  protected override writeEntry(addr: number, words: readonly bigint[], bytes: number): boolean {
    if (addr < 0 || this.mem.aborts(addr, bytes)) return false;
    for (let i = 0; i < words.length; i++) {
      const w = words[i] as bigint;
      this.mem.write64Split(addr + 8 * i, lo32(w), hi32(w));
    }
    return true;
  }

  protected override fetchCommand(addr: number): string | undefined {
    if (addr < 0 || this.mem.aborts(addr, 16)) {
      return `queue read at ${hex(Math.max(addr, 0))} aborted`;
    }
    this.mem.read64Into(addr, this.cmdLo);
    this.mem.read64Into(addr + 8, this.cmdHi);
    return undefined;
  }

  protected override writeMsi(source: IrqLine, addr: bigint, data: number): boolean {
    if (addr >= TWO53 || this.mem.aborts(Number(addr), 4)) return false;
    this.mem.write32(Number(addr), data);
    this.msiOut?.({ source, address: addr, data });
    return true;
  }

  protected override interruptDelivered(line: IrqLine): void {
    // IMPDEF: §3.18 — which outputs are wired; the model has all four wired lines and pulses the
    // line whether or not an MSI was also sent.
    this.irqCounts[line]++;
    this.irqOut?.(line, true);
    this.irqOut?.(line, false);
  }

  protected override sendEvent(): void {
    this.sevCount++;
    this.sevOut?.();
  }

  protected override cr0Changed(_rose: number, fell: number): void {
    if (and32(fell, CR0.SMMUEN)) this.translation?.onDisable();
  }

  protected override eventqReopened(): void {
    this.flushHeld();
  }

  // ------------------------------------------------------------------------------------------
  // Command queue (consumption and CERROR_* handling are regfile.ts)

  protected override executeCommand(op: number, w0: bigint, w1: bigint): void {
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
    this.completeSync(w0, w1);
  }

  protected override commandError(code: number, reason: string, _command: string): void {
    this.lastCommandError = { code, reason, cons: this.cmdq.rd };
    this.stopCommandQueue(code);
  }

  private logCommand(op: number, w0: bigint, w1: bigint): void {
    const name =
      op === CMD_OP.CFGI_STE_RANGE ? commandName(w0, w1) : (this.opNames[op] ?? this.nameOp(op));
    this.commandCounts[name] = (this.commandCounts[name] ?? 0) + 1;
    // The log is a ring of the raw words (no object per command: commandsSince builds them).
    if (this.logLimit > 0) {
      const i = this.logTotal % this.logLimit;
      this.logW0[i] = w0;
      this.logW1[i] = w1;
    }
    this.logTotal++;
    if (this.trace !== undefined) {
      this.trace({ kind: 'command', opcode: name, words: [w0, w1], source: 'smmu' });
    }
  }

  /** The name of an opcode (every opcode but CFGI_STE_RANGE, whose name depends on Range). */
  private nameOp(op: number): string {
    const name = commandName(BigInt(op), 0n);
    this.opNames[op] = name;
    return name;
  }

  /** A mark for `commandsSince`: the number of commands executed so far. */
  commandMark(): number {
    return this.logTotal;
  }

  /**
   * Commands executed since `mark` (interfaces.md §2 inspection hook). Entries older than the log
   * limit are gone; the result then starts at the oldest kept command.
   */
  commandsSince(mark = 0): readonly ExecutedCommand[] {
    const kept = Math.min(this.logTotal, this.logLimit);
    const oldest = this.logTotal - kept;
    // As Array.prototype.slice from (mark − oldest): truncated, NaN or negative = from the start.
    const from = mark - oldest;
    const start = from > 0 ? Math.trunc(from) : 0;
    const out: ExecutedCommand[] = [];
    for (let k = start; k < kept; k++) {
      const i = (oldest + k) % this.logLimit;
      const w0 = this.logW0[i] as bigint;
      const w1 = this.logW1[i] as bigint;
      out.push({ name: commandName(w0, w1), opcode: Number(w0 & 0xffn), words: [w0, w1] });
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Event queue

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
      this.toggleOverflow(q);
      return 'discarded';
    }
    if (!this.writeEntry(q.entryAddr(q.prod, this.features.oas), raw, 16)) {
      this.raiseGerror(GERROR.PRIQ_ABT_ERR);
      return 'discarded';
    }
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

  /**
   * Number-path transaction for hot callers (DMA engines, qtest `smmu_dma`, benches): `ssid` −1
   * = no SubstreamID, `iova` an integer below 2^53 (larger input addresses need `translate`),
   * `flags` of FAST_ACCESS. Returns the PA, or a FAST_RESULT code with the full outcome (event,
   * STAG) in `lastResult()`; the same results and effects as `translate`, and no object or
   * bigint per call on a TLB hit.
   */
  translateFast(sid: number, ssid: number, iova: number, flags: number): number {
    const side = this.fastSide;
    if (side === undefined || (this.cr0ack & 1) === 0) {
      return this.translateFastObject(sid, ssid, iova, flags);
    }
    // The side checks the arguments (checkFastArgs) the same way.
    return side.translateFast(sid, ssid, iova, flags);
  }

  /** translateFast through the object API (SMMUEN = 0, or a side without a number path). */
  private translateFastObject(sid: number, ssid: number, iova: number, flags: number): number {
    checkFastArgs(sid, ssid, iova, flags);
    // SMMUEN = 0 (GBPA) or a translation side without a number path: the object API.
    const r = this.translate({
      sid,
      ssid: ssid < 0 ? undefined : ssid,
      iova: BigInt(iova),
      access: (flags & 1) !== 0 ? 'write' : 'read',
      priv: (flags & 2) !== 0,
      inst: (flags & 4) !== 0,
    });
    // The side keeps the last outcome of either path (its number path needs no check here).
    if (this.fastSide !== undefined) this.fastSide.setLastResult(r);
    else this.fastSlow = r;
    if (r.ok) return Number(r.pa);
    return r.stalled ? FAST_RESULT.STALLED : r.razwi ? FAST_RESULT.RAZWI : FAST_RESULT.ABORT;
  }

  /** The outcome of the last `translateFast`, as `translate` returns it. */
  lastResult(): TranslateResult {
    if (this.fastSide !== undefined) return this.fastSide.lastResult();
    return this.fastSlow ?? { ok: false };
  }

  private fastSlow: TranslateResult | undefined = undefined;

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
}

/**
 * STE/GBPA MemAttr (stage-2 encoding: 0b00dd Device-dd, else outer[3:2]/inner[1:0] with 01 NC,
 * 10 WT, 11 WB) as a MAIR-style byte (Device-dd → 0b0000dd00; Normal WT/WB read+write-allocate).
 */
export function memAttrToMair(memattr: number): number {
  const outer = get32(memattr, 3, 2);
  if (outer === 0) return put32(get32(memattr, 1, 0), 3, 2);
  return or32(put32(mairHalf(outer), 7, 4), mairHalf(get32(memattr, 1, 0)));
}

/** A Normal-memory cacheability of MemAttr (NC, WT, WB) as a MAIR nibble (WT/WB read-allocate). */
function mairHalf(x: number): number {
  return x === 1 ? 0b0100 : x === 2 ? 0b1011 : x === 3 ? 0b1111 : 0;
}
