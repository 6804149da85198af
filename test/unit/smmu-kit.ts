// Shared set-up for the SMMU register/queue tests: a memory, an SMMU with a fake translation side
// that records execute() calls, and small drivers that program queues the way software does
// (IHI 0070 §3.5: BASE, then PROD/CONS, then enable). Register offsets are written out here from
// the spec (§6.2/§6.3) rather than imported, so the tests check the model's decoder.

import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import type { IdRegisters } from '../../src/smmu/features.ts';
import { type IrqLine, Smmu, type SmmuOptions } from '../../src/smmu/smmu.ts';
import type { TranslateRequest, TranslateResult, TranslationSide } from '../../src/smmu/types.ts';

/** Offsets from IHI 0070 §6.2 (page 0; EVENTQ/PRIQ PROD/CONS in page 1). */
export const OFF = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR2: 0x08,
  IDR3: 0x0c,
  IDR4: 0x10,
  IDR5: 0x14,
  IIDR: 0x18,
  AIDR: 0x1c,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  STATUSR: 0x40,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  IRQ_CTRLACK: 0x54,
  GERROR: 0x60,
  GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68,
  GERROR_IRQ_CFG1: 0x70,
  GERROR_IRQ_CFG2: 0x74,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_IRQ_CFG0: 0xb0,
  EVENTQ_IRQ_CFG1: 0xb8,
  EVENTQ_IRQ_CFG2: 0xbc,
  PRIQ_BASE: 0xc0,
  PRIQ_IRQ_CFG0: 0xd0,
  PRIQ_IRQ_CFG1: 0xd8,
  PRIQ_IRQ_CFG2: 0xdc,
  EVENTQ_PROD: 0x100a8,
  EVENTQ_CONS: 0x100ac,
  PRIQ_PROD: 0x100c8,
  PRIQ_CONS: 0x100cc,
} as const;

/** CR0 bits (§6.3.9). */
export const SMMUEN = 1;
export const PRIQEN = 2;
export const EVENTQEN = 4;
export const CMDQEN = 8;

/** GERROR bits (§7.5). */
export const CMDQ_ERR = 1;
export const EVENTQ_ABT_ERR = 4;
export const PRIQ_ABT_ERR = 8;
export const MSI_CMDQ_ABT_ERR = 0x10;
export const MSI_EVENTQ_ABT_ERR = 0x20;
export const MSI_PRIQ_ABT_ERR = 0x40;
export const MSI_GERROR_ABT_ERR = 0x80;

/** Where the tests put things in memory. */
export const CMDQ_PA = 0x10_0000;
export const EVENTQ_PA = 0x20_0000;
export const PRIQ_PA = 0x30_0000;

/** A fake translation side that records what the register side hands it. */
export class FakeTranslation implements TranslationSide {
  executed: { opcode: number; w0: bigint; w1: bigint }[] = [];
  translated: TranslateRequest[] = [];
  disables = 0;
  translate(req: TranslateRequest): TranslateResult {
    this.translated.push(req);
    return { ok: true, pa: req.iova + 0x1000n, attrs: {} };
  }
  execute(opcode: number, w0: bigint, w1: bigint): void {
    this.executed.push({ opcode, w0, w1 });
  }
  onDisable(): void {
    this.disables++;
  }
}

/** What a test rig gives access to. */
export interface Rig {
  mem: SparseMemory;
  smmu: Smmu;
  fake: FakeTranslation;
  irqs: { line: IrqLine; level: boolean }[];
  /** Pulses seen per line (raise then lower). */
  pulses: (line: IrqLine) => number;
  r32: (off: number) => number;
  w32: (off: number, v: number) => void;
  r64: (off: number) => bigint;
  w64: (off: number, v: bigint) => void;
}

/** Builds an SMMU with a fake translation side, recording interrupt edges. */
export function rig(opts: Partial<SmmuOptions> & { idr?: Partial<IdRegisters> } = {}): Rig {
  const mem = opts.mem ?? new SparseMemory();
  const fake = new FakeTranslation();
  const irqs: { line: IrqLine; level: boolean }[] = [];
  const userIrq = opts.irq;
  const smmu = new Smmu({
    ...opts,
    mem,
    translation: fake,
    irq: (line, level) => {
      irqs.push({ line, level });
      userIrq?.(line, level);
    },
  });
  return {
    mem,
    smmu,
    fake,
    irqs,
    pulses: (line) => irqs.filter((e) => e.line === line && e.level).length,
    r32: (off) => smmu.mmioRead(off, 4),
    w32: (off, v) => smmu.mmioWrite(off, 4, v),
    r64: (off) => smmu.mmioRead(off, 8),
    w64: (off, v) => smmu.mmioWrite(off, 8, v),
  };
}

/** Software's view of a queue of 2^log2 entries: the next pointer (index + wrap bit). */
export function nextPtr(p: number, log2: number): number {
  const idx = p % 2 ** log2;
  const wrap = Math.floor(p / 2 ** log2) % 2;
  return idx + 1 === 2 ** log2 ? (1 - wrap) * 2 ** log2 : wrap * 2 ** log2 + idx + 1;
}

/** Programs CMDQ_BASE (RA=0) and enables the Command queue. */
export function enableCmdq(r: Rig, log2: number, pa = CMDQ_PA): void {
  r.w64(OFF.CMDQ_BASE, BigInt(pa) + BigInt(log2));
  r.w32(OFF.CMDQ_PROD, 0);
  r.w32(OFF.CMDQ_CONS, 0);
  r.w32(OFF.CR0, r.r32(OFF.CR0) | CMDQEN);
}

/** Programs EVENTQ_BASE and enables the Event queue. */
export function enableEventq(r: Rig, log2: number, pa = EVENTQ_PA): void {
  r.w64(OFF.EVENTQ_BASE, BigInt(pa) + BigInt(log2));
  r.w32(OFF.EVENTQ_PROD, 0);
  r.w32(OFF.EVENTQ_CONS, 0);
  r.w32(OFF.CR0, r.r32(OFF.CR0) | EVENTQEN);
}

/** A software producer for the Command queue (tracks PROD independently of the model). */
export class CmdWriter {
  prod = 0;
  private readonly r: Rig;
  private readonly log2: number;
  private readonly pa: number;
  constructor(r: Rig, log2: number, pa = CMDQ_PA) {
    this.r = r;
    this.log2 = log2;
    this.pa = pa;
  }
  /** Writes commands into the queue memory and then publishes PROD once. */
  push(...cmds: (readonly [bigint, bigint])[]): void {
    for (const [w0, w1] of cmds) {
      const idx = this.prod % 2 ** this.log2;
      this.r.mem.write64(this.pa + 16 * idx, w0);
      this.r.mem.write64(this.pa + 16 * idx + 8, w1);
      this.prod = nextPtr(this.prod, this.log2);
    }
    this.r.w32(OFF.CMDQ_PROD, this.prod);
  }
  /** Rewrites the entry at pointer `p` without publishing. */
  rewrite(p: number, w0: bigint, w1: bigint): void {
    const idx = p % 2 ** this.log2;
    this.r.mem.write64(this.pa + 16 * idx, w0);
    this.r.mem.write64(this.pa + 16 * idx + 8, w1);
  }
}

/** CMD_SYNC words (§4.7.3): CS W0[13:12], MSIData W0[63:32], MSIAddr W1[55:2]. */
export function cmdSync(cs: number, msiData = 0, msiAddr = 0n): readonly [bigint, bigint] {
  return [0x46n | (BigInt(cs) << 12n) | (BigInt(msiData) << 32n), msiAddr];
}

/** ID registers with extra features: QEMU defaults with the given IDR0 bits set/cleared. */
export function idr0With(set: number, clear = 0): number {
  return ((0x0d44101b | set) & ~clear) >>> 0;
}
