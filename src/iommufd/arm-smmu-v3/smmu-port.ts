// The MMIO port through which the host arm-smmu-v3 driver programs an SMMU (interfaces.md §2):
// 32/64-bit register accesses at offsets from the SMMU base (page 1 at +64 KiB), plus the two model
// hooks the host needs — offering a raw event record as if the hardware had raised it, and
// presenting a device transaction for translation.
//
// `LoopbackSmmu` is the register-level stand-in used when no hardware model is wired in: it keeps
// the register file (CR0→CR0ACK, GBPA update handshake, IRQ_CTRL→ACK), consumes the command queue
// on every CMDQ_PROD write (recording what it consumed) and writes offered events into the event
// queue in memory (IHI 0070 §3.5 queue protocol, §6.3 registers). It does not translate.

import type { SparseMemory } from '../../mem/sparse-memory.ts';
import type { TranslateRequest, TranslateResult } from '../../smmu/types.ts';
import { CR0, GBPA, Q, REG } from './defs.ts';

/** What the driver needs from an SMMU. */
export interface SmmuPort {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
  read64(offset: number): bigint;
  write64(offset: number, value: bigint): void;
  /** Offers a raw 32-byte event record to the event queue; false when it was dropped. */
  recordEvent?(raw: readonly [bigint, bigint, bigint, bigint]): boolean;
  /** Translates a device transaction (absent for a register-only model). */
  translate?(req: TranslateRequest): TranslateResult;
}

/** ID registers of an SMMU. */
export interface SmmuIdRegs {
  /** IDR0..IDR5. */
  readonly idr: readonly [number, number, number, number, number, number];
  readonly iidr: number;
  readonly aidr: number;
}

/** QEMU 10.0.2 `virt` SMMUv3 ID registers (formats.md §6) — the default host SMMU. */
export const QEMU_VIRT_IDRS: SmmuIdRegs = {
  idr: [0x0d44101b, 0x02730010, 0, 0x1414, 0, 0x74],
  iidr: 0,
  aidr: 0x1,
};

function queueIndexMask(log2: number): number {
  return (1 << (log2 + 1)) - 1;
}

/** Register-level SMMU stand-in (no translation). */
export class LoopbackSmmu implements SmmuPort {
  private readonly regs = new Map<number, bigint>();
  /** Commands consumed from the command queue, as word pairs. */
  readonly consumed: [bigint, bigint][] = [];
  /** Events dropped because the queue was full or disabled. */
  droppedEvents = 0;

  private readonly mem: SparseMemory;
  readonly ids: SmmuIdRegs;

  constructor(mem: SparseMemory, ids: SmmuIdRegs) {
    this.mem = mem;
    this.ids = ids;
    ids.idr.forEach((v, i) => {
      this.regs.set(REG.IDR0 + 4 * i, BigInt(v >>> 0));
    });
    this.regs.set(REG.IIDR, BigInt(ids.iidr >>> 0));
    this.regs.set(REG.AIDR, BigInt(ids.aidr >>> 0));
  }

  read32(offset: number): number {
    return Number((this.regs.get(offset) ?? 0n) & 0xffff_ffffn);
  }

  read64(offset: number): bigint {
    return this.regs.get(offset) ?? 0n;
  }

  write64(offset: number, value: bigint): void {
    if (offset <= REG.AIDR) return; // ID registers are read-only
    this.regs.set(offset, value);
  }

  write32(offset: number, value: number): void {
    const v = value >>> 0;
    if (offset <= REG.AIDR) return;
    this.regs.set(offset, BigInt(v));
    switch (offset) {
      case REG.CR0:
        this.regs.set(REG.CR0ACK, BigInt(v));
        break;
      case REG.IRQ_CTRL:
        this.regs.set(REG.IRQ_CTRLACK, BigInt(v));
        break;
      case REG.GBPA:
        this.regs.set(REG.GBPA, BigInt(v & ~GBPA.UPDATE));
        break;
      case REG.CMDQ_PROD:
        this.consumeCommands();
        break;
    }
  }

  private consumeCommands(): void {
    if (!(this.read32(REG.CR0ACK) & CR0.CMDQEN)) return;
    const base = this.read64(REG.CMDQ_BASE);
    const log2 = Number(base & 0x1fn);
    const addr = Number(base & 0x000f_ffff_ffff_ffe0n);
    const mask = queueIndexMask(log2);
    const prod = this.read32(REG.CMDQ_PROD) & mask;
    let cons = this.read32(REG.CMDQ_CONS) & mask;
    const n = 1 << log2;
    while (cons !== prod) {
      const idx = cons & (n - 1);
      const pa = addr + idx * 16;
      this.consumed.push([this.mem.read64(pa), this.mem.read64(pa + 8)]);
      cons = (cons + 1) & mask;
    }
    this.regs.set(REG.CMDQ_CONS, BigInt(cons));
  }

  recordEvent(raw: readonly [bigint, bigint, bigint, bigint]): boolean {
    if (!(this.read32(REG.CR0ACK) & CR0.EVTQEN)) {
      this.droppedEvents++;
      return false;
    }
    const base = this.read64(REG.EVTQ_BASE);
    const log2 = Number(base & 0x1fn);
    const addr = Number(base & 0x000f_ffff_ffff_ffe0n);
    const mask = queueIndexMask(log2);
    const prodReg = this.read32(REG.EVTQ_PROD);
    const prod = prodReg & mask;
    const cons = this.read32(REG.EVTQ_CONS) & mask;
    const n = 1 << log2;
    // Full: same index, different wrap bits.
    if ((prod & (n - 1)) === (cons & (n - 1)) && prod !== cons) {
      this.droppedEvents++;
      this.regs.set(REG.EVTQ_PROD, BigInt((prodReg ^ Q.OVERFLOW_FLAG) >>> 0));
      return false;
    }
    const pa = addr + (prod & (n - 1)) * 32;
    raw.forEach((w, i) => {
      this.mem.write64(pa + 8 * i, w);
    });
    const next = ((prod + 1) & mask) | (prodReg & Q.OVERFLOW_FLAG);
    this.regs.set(REG.EVTQ_PROD, BigInt(next >>> 0));
    return true;
  }
}
