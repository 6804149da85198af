// The shared SMMUv3 register file (src/smmu/regfile.ts) seen through its hook contract: a minimal
// owner ("probe") with a word map for memory records every hook call, and the tests check when
// and in which order the protocols call them (IHI 0070 H.a §6.3 CR0/CR0ACK and GBPA, §7.5
// GERROR/GERRORN, §3.5 and §7.1 Command queue with CERROR_*, §4.7.3 CMD_SYNC, §3.5.3–§3.5.4 Event
// queue overflow, §3.18 MSIs). Offsets, bit positions and codes are written out here from the spec
// (and Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h), not imported. A property test checks
// GERROR/GERRORN against a per-bit boolean reference model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { completeIdrs, decodeFeatures } from '../../src/smmu/features.ts';
import { type CoreIrq, type EventWords, SmmuRegisterFile } from '../../src/smmu/regfile.ts';

const OFF = {
  CR0: 0x20,
  CR0ACK: 0x24,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  GERROR: 0x60,
  GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_PROD: 0x100a8,
  EVENTQ_CONS: 0x100ac,
} as const;
/** CR0: SMMUEN bit 0, EVENTQEN bit 2, CMDQEN bit 3. */
const SMMUEN = 1 << 0;
const EVENTQEN = 1 << 2;
const CMDQEN = 1 << 3;
/** GERROR bits (§7.5): CMDQ_ERR 0, EVENTQ_ABT_ERR 2, MSI_CMDQ_ABT_ERR 4, MSI_GERROR_ABT_ERR 7. */
const CMDQ_ERR = 1 << 0;
const EVENTQ_ABT_ERR = 1 << 2;
const MSI_CMDQ_ABT_ERR = 1 << 4;
const MSI_GERROR_ABT_ERR = 1 << 7;
/** IDR0.MSI bit 13, IDR0.SEV bit 14 added to QEMU virt's IDR0 (no PRI: bit 16 clear). */
const IDR0 = (0x0d44101b | (1 << 13) | (1 << 14)) >>> 0;
/** CMD_SYNC opcode and its CS field [13:12]: 1 = SIG_IRQ, 2 = SIG_SEV. */
const CMD_SYNC = 0x46;
/** CMDQ_CONS.ERR [30:24] codes (§7.1). */
const CERROR_ILL = 1;
const CERROR_ABT = 2;
const OVFLG = 2 ** 31;

const CMDQ_AT = 0x1000;
const EVTQ_AT = 0x2000;

type Call = readonly [string, ...unknown[]];

/** A minimal owner of the register file recording every hook. */
class Probe extends SmmuRegisterFile {
  readonly calls: Call[] = [];
  readonly words = new Map<number, bigint>();
  /** Addresses at or above this abort. */
  abortFrom = 0x10_0000;
  barrier = true;

  constructor() {
    const idr = completeIdrs({ idr0: IDR0 });
    super({ idr, iidr: 0, features: decodeFeatures(idr), gbpa: 0x1000 });
  }

  w32(o: number, v: number): void {
    this.regWrite32(o, v >>> 0);
  }
  r32(o: number): number {
    return this.regRead32(o);
  }
  w64(o: number, v: bigint): void {
    this.regWrite64(o, v);
  }
  raise(bits: number): void {
    this.raiseGerror(bits);
  }
  offer(raw: EventWords): boolean {
    if (!this.eventqWritable()) {
      this.noteEventOverflow();
      return false;
    }
    return this.writeEvent(raw);
  }
  putCommand(index: number, w0: bigint, w1: bigint): void {
    this.words.set(CMDQ_AT + 16 * index, w0);
    this.words.set(CMDQ_AT + 16 * index + 8, w1);
  }

  protected override writeEntry(addr: number, words: readonly bigint[], bytes: number): boolean {
    if (addr < 0 || addr + bytes > this.abortFrom) return false;
    words.forEach((w, i) => {
      this.words.set(addr + 8 * i, w);
    });
    return true;
  }
  protected override fetchCommand(addr: number): string | undefined {
    if (addr < 0 || addr + 16 > this.abortFrom) return 'abort';
    const w0 = this.words.get(addr) ?? 0n;
    const w1 = this.words.get(addr + 8) ?? 0n;
    this.cmdBuf[0] = Number(w0 % 2n ** 32n);
    this.cmdBuf[1] = Number(w0 / 2n ** 32n);
    this.cmdBuf[2] = Number(w1 % 2n ** 32n);
    this.cmdBuf[3] = Number(w1 / 2n ** 32n);
    return undefined;
  }
  protected override writeMsi(source: CoreIrq, addr: bigint, data: number): boolean {
    this.calls.push(['msi', source, addr, data]);
    return addr < BigInt(this.abortFrom);
  }
  protected override executeCommand(op: number, w0: bigint, w1: bigint): void {
    this.calls.push(['execute', op]);
    this.cmdq.advanceCons();
    if (op === CMD_SYNC) this.completeSync(w0, w1);
  }
  protected override commandError(code: number, reason: string, command: string): void {
    this.calls.push(['error', code, reason, command]);
    this.stopCommandQueue(code);
  }
  protected override interruptRaised(line: CoreIrq): void {
    this.calls.push(['raised', line]);
  }
  protected override interruptDelivered(line: CoreIrq): void {
    this.calls.push(['delivered', line]);
  }
  protected override sendEvent(): void {
    this.calls.push(['sev']);
  }
  protected override cr0Changed(rose: number, fell: number): void {
    this.calls.push(['cr0', rose, fell]);
  }
  protected override gbpaChanged(old: number): void {
    this.calls.push(['gbpa', old]);
  }
  protected override eventqReopened(): void {
    this.calls.push(['reopened']);
  }
  protected override commandBarrier(): boolean {
    this.calls.push(['barrier']);
    if (!this.barrier) this.stopCommandQueue(CERROR_ILL);
    return this.barrier;
  }
  protected override commandsIdle(): void {
    this.calls.push(['idle']);
  }
}

/** A probe with an 8-entry Command queue and a 4-entry Event queue, every queue enabled. */
function running(): Probe {
  const p = new Probe();
  p.w64(OFF.CMDQ_BASE, BigInt(CMDQ_AT) | 3n);
  p.w64(OFF.EVENTQ_BASE, BigInt(EVTQ_AT) | 2n);
  p.w32(OFF.CR0, SMMUEN | EVENTQEN | CMDQEN);
  p.calls.length = 0;
  return p;
}

describe('CR0 and GBPA hooks', () => {
  it('report the CR0ACK bits that rose and fell, then reopen the Event queue and run commands', () => {
    const p = new Probe();
    p.w32(OFF.CR0, SMMUEN | EVENTQEN | CMDQEN);
    expect(p.r32(OFF.CR0ACK)).toBe(SMMUEN | EVENTQEN | CMDQEN);
    // PROD == CONS: the queue is idle at once.
    expect(p.calls).toEqual([['cr0', SMMUEN | EVENTQEN | CMDQEN, 0], ['reopened'], ['idle']]);
    p.calls.length = 0;
    p.w32(OFF.CR0, EVENTQEN);
    // rose = new & ~old = 0, fell = old & ~new = SMMUEN | CMDQEN.
    expect(p.calls).toEqual([['cr0', 0, SMMUEN | CMDQEN]]);
  });

  it('reopen the Event queue only when EVENTQEN rises, and run commands only when CMDQEN rises', () => {
    const p = new Probe();
    p.w32(OFF.CR0, CMDQEN);
    expect(p.calls).toEqual([['cr0', CMDQEN, 0], ['idle']]);
    p.calls.length = 0;
    p.w32(OFF.CR0, CMDQEN | EVENTQEN);
    expect(p.calls).toEqual([['cr0', EVENTQEN, 0], ['reopened']]);
  });

  it('call gbpaChanged only for an update (Update = 1), with the old value', () => {
    const p = new Probe();
    p.w32(OFF.GBPA, 1 << 20);
    expect(p.calls).toEqual([]);
    expect(p.r32(OFF.GBPA)).toBe(0x1000);
    p.w32(OFF.GBPA, (2 ** 31 + (1 << 20)) >>> 0);
    expect(p.calls).toEqual([['gbpa', 0x1000]]);
    // Update completes at once: bit 31 never reads 1; ABORT (bit 20) took.
    expect(p.r32(OFF.GBPA)).toBe(1 << 20);
  });
});

describe('Command queue consumption', () => {
  it('executes commands in order, completes CMD_SYNC by MSI then interrupt, stops when empty', () => {
    const p = running();
    p.w32(OFF.IRQ_CTRL, 1);
    const msiAddr = 0x3000n;
    p.putCommand(0, 0x01n, 0n); // PREFETCH_CONFIG, StreamID 0
    p.putCommand(1, BigInt(CMD_SYNC) | (1n << 12n) | (0xabcdn << 32n), msiAddr);
    p.w32(OFF.CMDQ_PROD, 2);
    expect(p.calls).toEqual([
      ['execute', 0x01],
      ['execute', CMD_SYNC],
      ['raised', 'cmdq-sync'],
      ['msi', 'cmdq-sync', msiAddr, 0xabcd],
      ['delivered', 'cmdq-sync'],
      ['idle'],
    ]);
    expect(p.r32(OFF.CMDQ_CONS)).toBe(2);
  });

  it('CMD_SYNC CS=SEV sends an event; an aborted CMD_SYNC MSI activates MSI_CMDQ_ABT_ERR', () => {
    const p = running();
    p.putCommand(0, BigInt(CMD_SYNC) | (2n << 12n), 0n);
    p.putCommand(1, BigInt(CMD_SYNC) | (1n << 12n), 0x20_0000n);
    p.w32(OFF.CMDQ_PROD, 2);
    expect(p.calls.filter((c) => c[0] === 'sev')).toHaveLength(1);
    expect(p.r32(OFF.GERROR) & MSI_CMDQ_ABT_ERR).toBe(MSI_CMDQ_ABT_ERR);
  });

  it('a fetch abort stops the queue with CERROR_ABT after the barrier; an ILL command with CERROR_ILL', () => {
    const p = running();
    p.abortFrom = CMDQ_AT + 16; // entry 1 aborts
    p.putCommand(0, 0x00n, 0n); // opcode 0 is not a command
    p.w32(OFF.CMDQ_PROD, 2);
    const errors = p.calls.filter((c) => c[0] === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.[1]).toBe(CERROR_ILL);
    const cons = p.r32(OFF.CMDQ_CONS);
    // CONS stays on the failing command; ERR [30:24] = CERROR_ILL; GERROR.CMDQ_ERR active.
    expect(cons % 2 ** 24).toBe(0);
    expect(Math.floor(cons / 2 ** 24) % 128).toBe(CERROR_ILL);
    expect((p.r32(OFF.GERROR) ^ p.r32(OFF.GERRORN)) & CMDQ_ERR).toBe(CMDQ_ERR);
    // The barrier ran before the error was recorded.
    const iBarrier = p.calls.findIndex((c) => c[0] === 'barrier');
    expect(iBarrier).toBeGreaterThanOrEqual(0);
    expect(iBarrier).toBeLessThan(p.calls.findIndex((c) => c[0] === 'error'));

    // Skip the bad command by rewriting CONS while CMDQEN is off, then acknowledge CMDQ_ERR: the
    // queue restarts and the fetch of entry 1 aborts.
    p.w32(OFF.CR0, SMMUEN | EVENTQEN);
    p.w32(OFF.CMDQ_CONS, 1);
    p.w32(OFF.CR0, SMMUEN | EVENTQEN | CMDQEN);
    p.calls.length = 0;
    p.w32(OFF.GERRORN, p.r32(OFF.GERRORN) ^ CMDQ_ERR);
    expect(p.calls.filter((c) => c[0] === 'error')).toEqual([
      ['error', CERROR_ABT, 'abort', 'fetch'],
    ]);
    expect(Math.floor(p.r32(OFF.CMDQ_CONS) / 2 ** 24) % 128).toBe(CERROR_ABT);
  });

  it('records no error when the barrier already stopped the queue', () => {
    const p = running();
    p.barrier = false;
    p.putCommand(0, 0x00n, 0n);
    p.w32(OFF.CMDQ_PROD, 1);
    expect(p.calls.filter((c) => c[0] === 'error')).toEqual([]);
    expect(p.calls.filter((c) => c[0] === 'barrier')).toHaveLength(1);
  });
});

describe('Event queue', () => {
  const rec = (n: number): EventWords => [BigInt(n), 0n, 0n, 0n];

  it('writes records at PROD and toggles OVFLG once per outstanding overflow when full', () => {
    const p = running();
    for (let i = 0; i < 4; i++) expect(p.offer(rec(i + 1))).toBe(true);
    expect(p.words.get(EVTQ_AT + 3 * 32)).toBe(4n);
    // Four entries: PROD = 4 (index 0, wrap 1) against CONS 0 — full.
    expect(p.r32(OFF.EVENTQ_PROD)).toBe(4);
    expect(p.offer(rec(5))).toBe(false);
    expect(p.r32(OFF.EVENTQ_PROD)).toBe(4 + OVFLG);
    expect(p.offer(rec(6))).toBe(false);
    expect(p.r32(OFF.EVENTQ_PROD)).toBe(4 + OVFLG);
    // Software consumes everything and acknowledges (OVACKFLG := OVFLG): writing CONS reopens.
    p.calls.length = 0;
    p.w32(OFF.EVENTQ_CONS, 4 + OVFLG);
    expect(p.calls).toEqual([['reopened']]);
    expect(p.offer(rec(7))).toBe(true);
  });

  it('an aborted write activates EVENTQ_ABT_ERR; acknowledging it reopens the queue', () => {
    const p = running();
    p.abortFrom = EVTQ_AT;
    expect(p.offer(rec(1))).toBe(false);
    expect(p.r32(OFF.GERROR) & EVENTQ_ABT_ERR).toBe(EVENTQ_ABT_ERR);
    expect(p.r32(OFF.EVENTQ_PROD)).toBe(0);
    p.calls.length = 0;
    p.w32(OFF.GERRORN, p.r32(OFF.GERRORN) ^ EVENTQ_ABT_ERR);
    expect(p.calls).toEqual([['reopened']]);
  });
});

describe('GERROR/GERRORN against a per-bit reference (§7.5)', () => {
  // Implemented with MSIs and without PRI: bits 0, 2, 4, 5, 7 and 8 (SFM_ERR).
  const IMPLEMENTED = [0, 2, 4, 5, 7, 8];

  it('activation, acknowledgement and GERROR interrupts follow the rules', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('raise' as const),
        // Single bits (MSI_GERROR_ABT_ERR alone among them) as often as arbitrary masks.
        bits: fc.oneof(
          fc.integer({ min: 0, max: 0x1ff }),
          fc.constantFrom(1, 4, 0x10, 0x80, 0x100),
        ),
      }),
      fc.record({ kind: fc.constant('ack' as const), bits: fc.integer({ min: 0, max: 0x1ff }) }),
      fc.record({ kind: fc.constant('irqen' as const), on: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const p = new Probe();
        const g = new Array<boolean>(9).fill(false);
        const n = new Array<boolean>(9).fill(false);
        let irqen = false;
        let irqs = 0;
        for (const o of ops) {
          if (o.kind === 'irqen') {
            p.w32(OFF.IRQ_CTRL, o.on ? 1 : 0);
            irqen = o.on;
          } else if (o.kind === 'raise') {
            p.raise(o.bits);
            let activated = false;
            for (const b of IMPLEMENTED) {
              // An error activates (GERROR bit toggles) only while inactive.
              if ((o.bits >> b) % 2 === 1 && g[b] === n[b]) {
                g[b] = !g[b];
                if (b !== 7) activated = true;
              }
            }
            // MSI_GERROR_ABT_ERR alone raises no interrupt; none at all without GERROR_IRQEN.
            if (activated && irqen) irqs++;
          } else {
            // Software writes GERRORN: a bit differing from GERRORN toggles it, if the error is active.
            const v = (p.r32(OFF.GERRORN) ^ o.bits) >>> 0;
            p.w32(OFF.GERRORN, v);
            for (const b of IMPLEMENTED) {
              if ((o.bits >> b) % 2 === 1 && g[b] !== n[b]) n[b] = !n[b];
            }
          }
          const want = (bits: boolean[]): number =>
            bits.reduce((acc, on, b) => (on ? acc + 2 ** b : acc), 0);
          expect(p.r32(OFF.GERROR)).toBe(want(g));
          expect(p.r32(OFF.GERRORN)).toBe(want(n));
        }
        expect(p.calls.filter((c) => c[0] === 'delivered' && c[1] === 'gerror')).toHaveLength(irqs);
      }),
    );
  });

  it('a GERROR MSI that aborts activates MSI_GERROR_ABT_ERR without a second interrupt', () => {
    const p = new Probe();
    p.w64(OFF.GERROR_IRQ_CFG0, 0x20_0000n); // beyond abortFrom
    p.w32(OFF.IRQ_CTRL, 1);
    p.raise(CMDQ_ERR);
    expect(p.r32(OFF.GERROR)).toBe(CMDQ_ERR | MSI_GERROR_ABT_ERR);
    expect(p.calls).toEqual([
      ['raised', 'gerror'],
      ['msi', 'gerror', 0x20_0000n, 0],
      ['delivered', 'gerror'],
    ]);
  });
});
