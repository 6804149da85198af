// Queue behaviour of the SMMUv3 model (IHI 0070 H.a §3.5.1 index arithmetic, §3.5.3–§3.5.4 and
// §7.4 Event queue writability and overflow, §7.2.2 queue write aborts, §8 PRI queue, §3.18
// interrupts/MSIs). Expected pointers are derived from the rule "index [QS-1:0], wrap bit QS"
// applied by hand (or by an unbounded counter model), never from the model's own output.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeIdrs } from '../../src/smmu/features.ts';
import { Queue } from '../../src/smmu/queue.ts';
import type { TraceEvent } from '../../src/smmu/types.ts';
import {
  CMDQEN,
  CmdWriter,
  EVENTQ_ABT_ERR,
  EVENTQ_PA,
  EVENTQEN,
  enableCmdq,
  enableEventq,
  idr0With,
  MSI_EVENTQ_ABT_ERR,
  MSI_GERROR_ABT_ERR,
  OFF,
  PRIQ_ABT_ERR,
  PRIQ_PA,
  PRIQEN,
  rig,
  SMMUEN,
} from './smmu-kit.ts';

const OVF = 0x8000_0000;

/** An event record whose words are recognisable: word i = (tag << 8) | i, type F_TRANSLATION. */
function rec(tag: number, stall = false): readonly [bigint, bigint, bigint, bigint] {
  const t = BigInt(tag) << 8n;
  return [0x10n | (BigInt(tag) << 32n), (stall ? 1n << 31n : 0n) | t | 1n, t | 2n, t | 3n];
}

function readRec(r: ReturnType<typeof rig>, pa: number): bigint[] {
  return [0, 8, 16, 24].map((o) => r.mem.read64(pa + o));
}

describe('queue index arithmetic against an unbounded counter model', () => {
  it('empty, full, count, index, wrap and next agree for every size', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 19 }),
        fc.nat({ max: 19 }),
        fc.array(fc.boolean(), { maxLength: 200 }),
        (log2, startShift, ops) => {
          const q = new Queue({ name: 'eventq', entryBytes: 32, maxLog2: 19 });
          q.base = BigInt(log2);
          const size = 2 ** log2;
          // Unbounded counters; pointer = counter mod 2^(log2+1).
          let P = startShift * 7;
          let C = P;
          const enc = (n: number) => n % (2 * size);
          q.prod = enc(P);
          q.cons = enc(C);
          for (const push of ops) {
            if (push && P - C < size) {
              expect(q.next(q.prod)).toBe(enc(P + 1));
              q.advanceProd();
              P++;
            } else if (!push && P > C) {
              q.advanceCons();
              C++;
            }
            expect(q.empty).toBe(P === C);
            expect(q.full).toBe(P - C === size);
            expect(q.count).toBe(P - C);
            expect(q.consistent).toBe(true);
            expect(q.index(q.prod)).toBe(P % size);
            expect(q.wrap(q.prod)).toBe(Math.floor(P / size) % 2);
          }
        },
      ),
    );
  });

  it('a writer more than one queue ahead is inconsistent', () => {
    const q = new Queue({ name: 'cmdq', entryBytes: 16, maxLog2: 19 });
    q.base = 2n; // 4 entries: index [1:0], wrap bit 2
    q.cons = 0b000;
    q.prod = 0b101; // wrap differs, index ahead: 5 entries
    expect(q.consistent).toBe(false);
    q.prod = 0b100; // wrap differs, index equal: full
    expect(q.full).toBe(true);
  });

  it('LOG2SIZE above the IDR1 maximum acts as the maximum', () => {
    const q = new Queue({ name: 'cmdq', entryBytes: 16, maxLog2: 3 });
    q.base = 0x1000n | 7n;
    expect(q.entries).toBe(8);
    expect(q.ptrMask).toBe(0xf);
  });
});

describe('Event queue', () => {
  function evq(irqen = true) {
    const r = rig();
    enableEventq(r, 1); // 2 entries: index bit 0, wrap bit 1
    if (irqen) r.w32(OFF.IRQ_CTRL, 0x4);
    return r;
  }

  it('writes records at PROD, wraps, overflows and toggles OVFLG once per episode', () => {
    const r = evq();
    expect(r.smmu.injectEvent(rec(1))).toBe('written');
    expect(readRec(r, EVENTQ_PA)).toEqual([...rec(1)]);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0b01);
    expect(r.pulses('evtq')).toBe(1);
    expect(r.smmu.injectEvent(rec(2))).toBe('written');
    expect(readRec(r, EVENTQ_PA + 32)).toEqual([...rec(2)]);
    // Index 1 + 1 carries into the wrap bit: PROD = 0b10 (index 0, wrap 1) — full.
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0b10);
    expect(r.pulses('evtq')).toBe(1); // not empty before: no new interrupt
    // Full: the record is discarded and OVFLG toggles (it equalled OVACKFLG).
    expect(r.smmu.injectEvent(rec(3))).toBe('discarded');
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(OVF + 0b10);
    // While OVFLG ≠ OVACKFLG no further overflow is signalled.
    expect(r.smmu.recordEvent(rec(4))).toBe(false);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(OVF + 0b10);
    expect(readRec(r, EVENTQ_PA)).toEqual([...rec(1)]);
    // Software consumes both and acknowledges the overflow.
    r.w32(OFF.EVENTQ_CONS, OVF + 0b10);
    expect(r.smmu.injectEvent(rec(5))).toBe('written');
    expect(readRec(r, EVENTQ_PA)).toEqual([...rec(5)]);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(OVF + 0b11);
    expect(r.pulses('evtq')).toBe(2); // empty → non-empty again
    expect(r.smmu.injectEvent(rec(6))).toBe('written');
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(OVF + 0b00); // index 1 + 1 wraps back to wrap 0
    // Full again with OVFLG == OVACKFLG (both 1): the next discard toggles OVFLG to 0.
    expect(r.smmu.injectEvent(rec(7))).toBe('discarded');
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0b00);
  });

  it('a disabled queue discards records without overflow and without interrupts', () => {
    const r = evq();
    r.w32(OFF.CR0, 0);
    for (let i = 0; i < 4; i++) expect(r.smmu.injectEvent(rec(i))).toBe('discarded');
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0);
    expect(r.pulses('evtq')).toBe(0);
  });

  it('interrupts only with EVENTQ_IRQEN', () => {
    const r = evq(false);
    r.smmu.injectEvent(rec(1));
    expect(r.pulses('evtq')).toBe(0);
  });

  it('a write abort raises EVENTQ_ABT_ERR, keeps PROD, and stops writes until acknowledged', () => {
    const r = evq();
    r.mem.addAbortRange(EVENTQ_PA, 64);
    r.w32(OFF.IRQ_CTRL, 0x5); // GERROR_IRQEN too
    expect(r.smmu.injectEvent(rec(1))).toBe('discarded');
    expect(r.r32(OFF.GERROR) & EVENTQ_ABT_ERR).toBe(EVENTQ_ABT_ERR);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0);
    expect(r.pulses('gerror')).toBe(1);
    // While the error is active the queue is unwritable; no overflow is signalled.
    expect(r.smmu.injectEvent(rec(2))).toBe('discarded');
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0);
    expect(r.pulses('gerror')).toBe(1);
    // Move the queue somewhere good (queue off), acknowledge, and records flow again.
    r.w32(OFF.CR0, 0);
    r.w64(OFF.EVENTQ_BASE, BigInt(EVENTQ_PA + 0x1000) | 1n);
    r.w32(OFF.CR0, EVENTQEN);
    r.w32(OFF.GERRORN, r.r32(OFF.GERRORN) ^ EVENTQ_ABT_ERR);
    expect(r.smmu.injectEvent(rec(3))).toBe('written');
    expect(readRec(r, EVENTQ_PA + 0x1000)).toEqual([...rec(3)]);
  });

  it('stall records are held while the queue is unwritable and written once it is', () => {
    const r = evq();
    r.smmu.injectEvent(rec(1));
    r.smmu.injectEvent(rec(2));
    expect(r.smmu.injectEvent(rec(3, true))).toBe('held');
    expect(r.smmu.recordEvent(rec(4, true))).toBe(true);
    expect(r.smmu.heldStallRecords.length).toBe(2);
    // Held stall records never count as overflow.
    expect(r.r32(OFF.EVENTQ_PROD) & OVF).toBe(0);
    // Software consumes one entry: the oldest held record goes in at once.
    r.w32(OFF.EVENTQ_CONS, 0b01);
    expect(readRec(r, EVENTQ_PA)).toEqual([...rec(3, true)]);
    expect(r.smmu.heldStallRecords.length).toBe(1);
    r.w32(OFF.EVENTQ_CONS, 0b10);
    expect(readRec(r, EVENTQ_PA + 32)).toEqual([...rec(4, true)]);
    expect(r.smmu.heldStallRecords.length).toBe(0);
    // A disabled queue also holds stall records until EVENTQEN goes 0 → 1.
    r.w32(OFF.EVENTQ_CONS, r.r32(OFF.EVENTQ_PROD)); // consume everything
    r.w32(OFF.CR0, 0);
    expect(r.smmu.injectEvent(rec(5, true))).toBe('held');
    r.w32(OFF.CR0, EVENTQEN);
    expect(r.smmu.heldStallRecords.length).toBe(0);
  });

  it('a handler that consumes inside the interrupt does not duplicate held records', () => {
    let r: ReturnType<typeof rig> | undefined;
    r = rig({
      irq: (line, level) => {
        // Consume everything as soon as the queue signals.
        if (line === 'evtq' && level && r) r.w32(OFF.EVENTQ_CONS, r.r32(OFF.EVENTQ_PROD));
      },
    });
    enableEventq(r, 1);
    r.w32(OFF.IRQ_CTRL, 0x4);
    r.w32(OFF.CR0, 0);
    for (let i = 1; i <= 3; i++) expect(r.smmu.injectEvent(rec(i, true))).toBe('held');
    r.w32(OFF.CR0, EVENTQEN);
    // Each write to an empty queue interrupts, the handler empties it: three records, in order,
    // at indexes 0, 1, 0.
    expect(r.smmu.heldStallRecords.length).toBe(0);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0b11);
    expect(readRec(r, EVENTQ_PA)).toEqual([...rec(3, true)]);
    expect(readRec(r, EVENTQ_PA + 32)).toEqual([...rec(2, true)]);
    expect(r.pulses('evtq')).toBe(3);
  });

  it('emits a decoded trace event for each record written', () => {
    const events: TraceEvent[] = [];
    const r = rig({ trace: (e) => events.push(e) });
    enableEventq(r, 2);
    r.smmu.injectEvent(rec(9));
    const ev = events.filter((e) => e.kind === 'event');
    expect(ev.length).toBe(1);
    const e0 = ev[0];
    if (e0?.kind === 'event') {
      expect(e0.record.type).toBe('F_TRANSLATION');
      expect(e0.record.raw).toEqual(rec(9));
    }
  });

  it('rejects malformed records (library misuse)', () => {
    const r = evq();
    expect(() => r.smmu.injectEvent([1n, 2n, 3n, -1n])).toThrow(/four u64/);
  });
});

describe('MSIs (IDR0.MSI = 1)', () => {
  const MSI_PA = 0x50_0000;

  it('an Event queue interrupt writes CFG1 to CFG0.ADDR and pulses the wired line', () => {
    const r = rig({ idr: { idr0: idr0With(1 << 13) } });
    enableEventq(r, 2);
    r.w64(OFF.EVENTQ_IRQ_CFG0, BigInt(MSI_PA));
    r.w32(OFF.EVENTQ_IRQ_CFG1, 0xcafe);
    r.w32(OFF.IRQ_CTRL, 0x4);
    r.smmu.injectEvent(rec(1));
    expect(r.mem.read32(MSI_PA)).toBe(0xcafe);
    expect(r.pulses('evtq')).toBe(1);
  });

  it('an aborted MSI sets MSI_EVENTQ_ABT_ERR; an aborted GERROR MSI sets only its own bit', () => {
    const r = rig({ idr: { idr0: idr0With(1 << 13) } });
    enableEventq(r, 2);
    r.mem.addAbortRange(MSI_PA, 0x1000);
    r.w64(OFF.EVENTQ_IRQ_CFG0, BigInt(MSI_PA));
    r.w64(OFF.GERROR_IRQ_CFG0, BigInt(MSI_PA + 0x100));
    r.w32(OFF.IRQ_CTRL, 0x5);
    r.smmu.injectEvent(rec(1));
    // EVENTQ MSI aborted → MSI_EVENTQ_ABT_ERR → GERROR interrupt whose MSI aborts too →
    // MSI_GERROR_ABT_ERR, which itself raises no interrupt.
    expect(r.r32(OFF.GERROR)).toBe(MSI_EVENTQ_ABT_ERR | MSI_GERROR_ABT_ERR);
    expect(r.pulses('gerror')).toBe(1);
  });

  it('a GERROR activation writes the GERROR MSI; repeats of an active error are not signalled', () => {
    const r = rig({ idr: { idr0: idr0With(1 << 13) } });
    enableEventq(r, 1);
    r.mem.addAbortRange(EVENTQ_PA, 64);
    r.w64(OFF.GERROR_IRQ_CFG0, BigInt(MSI_PA));
    r.w32(OFF.GERROR_IRQ_CFG1, 0x77);
    r.w32(OFF.IRQ_CTRL, 0x1);
    r.smmu.injectEvent(rec(1));
    expect(r.mem.read32(MSI_PA)).toBe(0x77);
    r.mem.write32(MSI_PA, 0);
    r.smmu.injectEvent(rec(2));
    expect(r.mem.read32(MSI_PA)).toBe(0);
    expect(r.pulses('gerror')).toBe(1);
  });

  it('CFG0.ADDR = 0 sends no MSI (wired only)', () => {
    const seen: unknown[] = [];
    const r = rig({ idr: { idr0: idr0With(1 << 13) }, msi: (w) => seen.push(w) });
    enableEventq(r, 2);
    r.w32(OFF.IRQ_CTRL, 0x4);
    r.smmu.injectEvent(rec(1));
    expect(seen).toEqual([]);
    expect(r.pulses('evtq')).toBe(1);
  });
});

describe('Command queue wrap and sizing', () => {
  const NSNH = [0x30n, 0n] as const; // CMD_TLBI_NSNH_ALL

  it('consumes across many wraps of a 2-entry queue; CONS follows PROD', () => {
    const r = rig();
    enableCmdq(r, 1);
    const w = new CmdWriter(r, 1);
    let n = 0;
    for (let round = 0; round < 10; round++) {
      const batch = 1 + (round % 2); // 1 or 2 (a full queue)
      const cmds = Array.from({ length: batch }, (_, i) => [
        NSNH[0] | (BigInt(n + i) << 32n),
        0n,
      ]) as [bigint, bigint][];
      w.push(...cmds);
      n += batch;
      expect(r.r32(OFF.CMDQ_CONS)).toBe(w.prod);
    }
    expect(r.fake.executed.map((e) => Number(e.w0 >> 32n))).toEqual(
      Array.from({ length: n }, (_, i) => i),
    );
    expect(r.r32(OFF.GERROR)).toBe(0);
  });

  it('an inconsistent PROD (more than a queue ahead) stalls the queue', () => {
    const r = rig();
    enableCmdq(r, 2);
    r.w32(OFF.CMDQ_PROD, 0b101); // wrap 1, index 1, CONS = 0: five entries
    expect(r.fake.executed.length).toBe(0);
    expect(r.r32(OFF.CMDQ_CONS)).toBe(0);
  });

  it('LOG2SIZE is capped by IDR1.CMDQS; BASE reads back as written', () => {
    const r = rig({ idr: encodeIdrs({ cmdqs: 2 }) });
    r.w64(OFF.CMDQ_BASE, 0x10_0000n | 5n);
    expect(r.r64(OFF.CMDQ_BASE)).toBe(0x10_0005n);
    r.w32(OFF.CR0, CMDQEN);
    const w = new CmdWriter(r, 2); // the queue really has 4 entries
    w.push(NSNH, NSNH, NSNH);
    w.push(NSNH, NSNH);
    expect(r.fake.executed.length).toBe(5);
    // 5 entries of a 4-entry queue: index 1, wrap 1 → 0b101.
    expect(r.r32(OFF.CMDQ_CONS)).toBe(0b101);
    // Pointer bits above the wrap bit are RES0.
    r.w32(OFF.CMDQ_PROD, 0xfff0_0000 | 0b101);
    expect(r.r32(OFF.CMDQ_PROD)).toBe(0b101);
  });

  it('the base is aligned down to the queue size (at least 32 bytes)', () => {
    const r = rig();
    // 4 entries x 16 B = 64 B: base 0x100020 acts as 0x100000.
    r.w64(OFF.CMDQ_BASE, 0x10_0020n | 2n);
    r.w32(OFF.CR0, CMDQEN);
    r.mem.write64(0x10_0000, 0x30n | (0xabn << 32n));
    r.w32(OFF.CMDQ_PROD, 1);
    expect(r.fake.executed).toEqual([{ opcode: 0x30, w0: 0x30n | (0xabn << 32n), w1: 0n }]);
  });

  it('does not consume while CMDQEN = 0 and catches up when it goes 0 → 1', () => {
    const r = rig();
    r.w64(OFF.CMDQ_BASE, 0x10_0000n | 3n);
    const w = new CmdWriter(r, 3);
    w.push(NSNH, NSNH, NSNH);
    expect(r.fake.executed.length).toBe(0);
    r.w32(OFF.CR0, CMDQEN);
    expect(r.fake.executed.length).toBe(3);
    expect(r.r32(OFF.CMDQ_CONS)).toBe(3);
  });
});

describe('PRI queue (IDR0.PRI = 1)', () => {
  function prq() {
    const r = rig({ idr: { idr0: idr0With(1 << 16), idr1: 0x02730010 | (1 << 11) } });
    // IDR1.PRIQS = 1: at most 2 entries.
    r.w64(OFF.PRIQ_BASE, BigInt(PRIQ_PA) | 1n);
    r.w32(OFF.IRQ_CTRL, 0x2);
    r.w32(OFF.CR0, SMMUEN | PRIQEN);
    return r;
  }
  const ppr = (n: number) => [BigInt(n) | (1n << 62n), BigInt(n) << 12n] as const;

  it('writes 16-byte requests, interrupts on empty → non-empty, overflows when full', () => {
    const r = prq();
    expect(r.smmu.recordPageRequest(ppr(1))).toBe('written');
    expect(r.mem.read64(PRIQ_PA)).toBe(ppr(1)[0]);
    expect(r.mem.read64(PRIQ_PA + 8)).toBe(ppr(1)[1]);
    expect(r.pulses('priq')).toBe(1);
    expect(r.smmu.recordPageRequest(ppr(2))).toBe('written');
    expect(r.mem.read64(PRIQ_PA + 16)).toBe(ppr(2)[0]);
    expect(r.r32(OFF.PRIQ_PROD)).toBe(0b10);
    expect(r.pulses('priq')).toBe(1);
    expect(r.smmu.recordPageRequest(ppr(3))).toBe('discarded');
    expect(r.r32(OFF.PRIQ_PROD)).toBe(OVF + 0b10);
    r.w32(OFF.PRIQ_CONS, OVF + 0b10);
    expect(r.smmu.recordPageRequest(ppr(4))).toBe('written');
    expect(r.mem.read64(PRIQ_PA)).toBe(ppr(4)[0]);
  });

  it('PRIQEN acts as 0 while SMMUEN = 0', () => {
    const r = prq();
    r.w32(OFF.CR0, PRIQEN);
    expect(r.smmu.recordPageRequest(ppr(1))).toBe('discarded');
    expect(r.r32(OFF.PRIQ_PROD)).toBe(0);
  });

  it('a write abort raises PRIQ_ABT_ERR', () => {
    const r = prq();
    r.mem.addAbortRange(PRIQ_PA, 32);
    expect(r.smmu.recordPageRequest(ppr(1))).toBe('discarded');
    expect(r.r32(OFF.GERROR)).toBe(PRIQ_ABT_ERR);
  });

  it('without PRI every request is discarded', () => {
    const r = rig();
    r.w32(OFF.CR0, SMMUEN | PRIQEN);
    expect(r.smmu.recordPageRequest(ppr(1))).toBe('discarded');
  });
});
