// The guest-visible virtual SMMUv3 of the VMM (IHI 0070 H.a): the two 64 KiB register pages
// (§6.2, §6.3) with the CR0/CR0ACK, GBPA, IRQ_CTRL/ACK and GERROR/GERRORN protocols (§6.3, §7.5),
// the guest Command queue consumed on CMDQ_PROD writes with CERROR_* handling and CMD_SYNC
// completion (§3.5, §4.1, §4.7.3, §7.1), and the guest Event queue produced by the VMM with the
// overflow and interrupt rules (§3.5.3–§3.5.4, §7.2, §7.4, §3.18). Trapped commands become iommufd
// work (backend.ts): CFGI_STE/CFGI_STE_RANGE/CFGI_ALL → a nested HWPT per stream (vSTE from guest
// RAM, vste.ts), TLBI_NH_* / TLBI_NSNH_ALL / CFGI_CD(_ALL) / ATC_INV → ordered
// IOMMU_HWPT_INVALIDATE batches, vEVENTQ records → guest event queue. Shaped after QEMU
// hw/arm/smmuv3.c + smmuv3-accel.c, OpenVMM vm/devices/iommu/smmu (emulator.rs, shared.rs) and
// Cloud Hypervisor devices/src/smmuv3.rs; the choices where they differ are in docs/vmm.md. The
// register map, write windows, GERROR/CR0/GBPA protocols, queue handling and interrupt signalling
// are the hardware model's (src/smmu/regfile.ts); this file supplies guest RAM, the guest's
// interrupt handler, counters and logs, and what each trapped command becomes on the host.

import { and32, getBits, has32, hex, hex64, hi32, merge32, or32, xor32 } from '../arch/bits.ts';
import { CFGI_RANGE_ALL, CMD_OP, commandName } from '../arch/cmd.ts';
import { errnoName } from '../arch/errno.ts';
import { makeEvent } from '../arch/evt.ts';
import { SMMU_REGS } from '../arch/regs.ts';
import type { TraceSink } from '../arch/trace.ts';
import { getU32 as u32 } from '../iommufd/uapi.ts';
import type { ReservedFieldPolicy } from '../smmu/commands.ts';
import { type CoreIrq, SmmuRegisterFile } from '../smmu/regfile.ts';
import { CERROR, CR0, GBPA, MMIO_BYTES, QUEUE_PTR_FIELD, REG } from '../smmu/registers.ts';
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

/** Interrupt sources of the vSMMU (no PRI queue). */
export type VsmmuIrq = CoreIrq;

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
export class VirtualSmmu extends SmmuRegisterFile {
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
  private readonly maxBatch: number;
  private readonly pollOnExit: boolean;
  private readonly reader = new VeventReader();

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
    // The vIDRs decide the implemented bits: no PRI, no VMW, no Hyp, no presets (vidr.ts); the
    // vSMMU reports v3.2, so writes outside their window are IGNORED.
    super({
      idr: vidr.idr,
      iidr: vidr.iidr,
      features: vidr.features,
      gbpa: (opts.gbpaReset ?? 0x1000) & (GBPA.ABORT | GBPA.PERMS_FIELDS | GBPA.TYPES_FIELDS),
      trace: opts.trace,
      reservedCommandFields: opts.reservedCommandFields,
    });
    this.name = name;
    this.ram = ram;
    this.backend = backend;
    this.vidr = vidr;
    this.counters = counters;
    this.log = log;
    this.opts = opts;
    this.policy = opts.policy ?? 'log-event-abort';
    this.maxBatch = Math.max(1, Math.floor(opts.maxBatch ?? 64));
    this.pollOnExit = (opts.eventPolling ?? 'on-exit') === 'on-exit';
  }

  // ------------------------------------------------------------------------------------------
  // Guest MMIO (each access is one guest exit)

  /** 32-bit guest read of the register pages. Garbage offsets read as zero. */
  read32(offset: number): number {
    this.exit(offset, false);
    return valid(offset, 4) ? this.regRead32(offset) : 0;
  }

  /** 32-bit guest write. Garbage offsets and forbidden writes are ignored. */
  write32(offset: number, value: number): void {
    this.exit(offset, true);
    if (valid(offset, 4)) this.regWrite32(offset, Number(value) >>> 0);
  }

  /** 64-bit guest read (64-bit registers whole; other offsets as two 32-bit reads). */
  read64(offset: number): bigint {
    this.exit(offset, false);
    return valid(offset, 8) ? this.regRead64(offset) : 0n;
  }

  /** 64-bit guest write. */
  write64(offset: number, value: bigint): void {
    this.exit(offset, true);
    if (!valid(offset, 8)) return;
    this.regWrite64(offset, typeof value === 'bigint' ? BigInt.asUintN(64, value) : 0n);
  }

  private exit(offset: number, write: boolean): void {
    const c = this.counters;
    c.exits++;
    if (write) c.mmioWrites++;
    else c.mmioReads++;
    // A CMDQ_PROD write is the only trigger of command consumption.
    if (write && offset === REG.CMDQ_PROD) c.cmdqProdWrites++;
    bump(c.exitsByRegister, REG_NAME.get(offset) ?? `offset ${hex(Number(offset) || 0)}`);
    if (this.pollOnExit) this.pollEvents();
  }

  // ------------------------------------------------------------------------------------------
  // Register-file hooks: guest RAM, the guest's interrupt handler, stream re-derivation

  protected override writeEntry(addr: number, words: readonly bigint[], _bytes: number): boolean {
    return this.ram.writeWords(addr, words);
  }

  protected override fetchCommand(addr: number): string | undefined {
    const bytes = this.ram.readBytes(addr, 16);
    if (!bytes) return 'command fetch outside guest RAM';
    for (let i = 0; i < 4; i++) this.cmdBuf[i] = u32(bytes, 4 * i);
    return undefined;
  }

  /** A 32-bit MSI write into guest RAM (address already truncated to OAS); false on abort. */
  protected override writeMsi(source: VsmmuIrq, addr: bigint, data: number): boolean {
    if (!this.ram.write32(Number(addr), data)) return false;
    bump(this.counters.irqs, `msi-${source}`);
    this.opts.msi?.({ source, address: addr, data });
    return true;
  }

  protected override interruptRaised(line: VsmmuIrq): void {
    bump(this.counters.irqs, line);
  }

  /** MSI and wired delivery alike end in the guest's handler callback. */
  protected override interruptDelivered(line: VsmmuIrq): void {
    this.opts.irq?.(line);
  }

  protected override sendEvent(): void {
    bump(this.counters.irqs, 'sev');
    this.opts.sev?.();
  }

  protected override cr0Changed(rose: number, fell: number): void {
    // SMMUEN decides between the guest STEs and GBPA: every stream is re-derived (OpenVMM,
    // Cloud Hypervisor). Caches are not invalidated by the architecture, but the host holds
    // nothing derived from a disabled vSMMU's STEs, so re-reading them is a valid "no cache".
    if (and32(or32(rose, fell), CR0.SMMUEN)) this.redriveAll('SMMUEN change');
  }

  protected override gbpaChanged(old: number): void {
    if (and32(xor32(old, this.gbpa), GBPA.ABORT) && !has32(this.cr0ack, 0)) {
      this.redriveAll('GBPA.ABORT change');
    }
  }

  protected override eventOutcome(written: boolean): void {
    if (written) this.counters.eventsInjected++;
    else this.counters.eventsDiscarded++;
  }

  // ------------------------------------------------------------------------------------------
  // Command queue (consumption and CERROR_* handling are regfile.ts)

  /** Every stop and error is a barrier: the pending invalidations go first. */
  protected override commandBarrier(): boolean {
    return this.flush();
  }

  protected override commandsIdle(): void {
    this.flush();
  }

  protected override illegalCommand(w0: bigint, w1: bigint, reason: string): void {
    const name = commandName(w0, w1);
    bump(this.counters.guestCommands, name);
    this.commandError(CERROR.ILL, reason, name);
  }

  protected override executeCommand(op: number, w0: bigint, w1: bigint): void {
    const q = this.cmdq;
    const name = commandName(w0, w1);
    if (this.forwardable(op, w0)) {
      bump(this.counters.guestCommands, name);
      this.batch.push({ w0, w1, cons: q.cons });
      q.advanceCons();
      this.traceCommand(name, w0, w1);
      if (this.batch.length >= this.maxBatch) this.flush();
      return;
    }
    // Every other command is a barrier: the batch goes first, so a CMD_SYNC (or an STE change)
    // is ordered after every invalidation before it (vmm-designs.md pitfall 5).
    if (!this.flush()) return;
    bump(this.counters.guestCommands, name);
    if (!this.execute(op, w0, w1, name)) return;
    q.advanceCons();
    this.traceCommand(name, w0, w1);
    if (op === CMD_OP.CMD_SYNC) this.completeSync(w0, w1);
  }

  private traceCommand(name: string, w0: bigint, w1: bigint): void {
    this.trace?.({ kind: 'command', opcode: name, words: [w0, w1], source: 'vmm' });
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

  protected override commandError(code: number, reason: string, command: string): void {
    const q = this.cmdq;
    this.counters.commandErrors++;
    this.lastCommandError = { code, reason, command, cons: q.rd };
    this.log({
      level: 'warn',
      text: `${this.name}: guest ${command} at CONS ${hex(q.rd)}: ${reason}`,
    });
    this.stopCommandQueue(code);
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
    if (has32(this.cr0ack, 2)) this.toggleOverflow(this.eventq);
  }

  /**
   * Offers a record to the guest event queue with the architected rules (§3.5.3, §7.2, §7.4):
   * written when enabled, not full and no EVENTQ_ABT_ERR is active; a full enabled queue
   * discards it and toggles OVFLG if no overflow is outstanding; a failed write raises
   * EVENTQ_ABT_ERR. The empty → non-empty transition raises the event-queue interrupt.
   */
  offerEvent(raw: RawEvent): boolean {
    if (!this.eventqWritable()) {
      this.counters.eventsDiscarded++;
      this.noteEventOverflow();
      return false;
    }
    return this.writeEvent(raw);
  }
}

function valid(offset: number, size: number): boolean {
  return Number.isInteger(offset) && offset >= 0 && offset + size <= MMIO_BYTES;
}
