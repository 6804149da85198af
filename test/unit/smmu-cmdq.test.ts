// Command queue consumption (IHI 0070 H.a §3.5, §4.1.1–§4.1.6, §4.3–§4.7, §7.1; smmuv3-arch.md
// [3.3]–[3.6]): every CERROR_ILL condition of [3.5], CERROR_ABT, the error/recovery protocol
// (CONS stays on the bad command, ERR before GERROR, restart on GERRORN), CMD_SYNC with each CS,
// the executed-command log. Command words are built here from the field positions of §4 (written
// out in each helper), independently of src/arch/cmd.ts.
import { describe, expect, it } from 'vitest';
import { encodeIdrs } from '../../src/smmu/features.ts';
import type { TraceEvent } from '../../src/smmu/types.ts';
import {
  CMDQ_ERR,
  CMDQ_PA,
  CMDQEN,
  CmdWriter,
  cmdSync,
  enableCmdq,
  idr0With,
  MSI_CMDQ_ABT_ERR,
  OFF,
  type Rig,
  rig,
  SMMUEN,
} from './smmu-kit.ts';

type Cmd = readonly [bigint, bigint];
const op = (o: number, w0 = 0n, w1 = 0n): Cmd => [BigInt(o) | w0, w1];
const NSNH = op(0x30);
const SSEC = 1n << 10n;

/** CMDQ_CONS.ERR = bits [30:24]. */
const errOf = (cons: number) => Math.floor(cons / 2 ** 24) % 128;

function withQueue(opts: Parameters<typeof rig>[0] = {}): { r: Rig; w: CmdWriter } {
  const r = rig(opts);
  enableCmdq(r, 4);
  return { r, w: new CmdWriter(r, 4) };
}

/** Runs one command on a fresh queue: 0 when executed/consumed, else CMDQ_CONS.ERR. */
function verdict(cmd: Cmd, opts: Parameters<typeof rig>[0] = {}): number {
  const { r, w } = withQueue(opts);
  w.push(cmd);
  const cons = r.r32(OFF.CMDQ_CONS);
  if (errOf(cons) !== 0) {
    expect(cons % 2 ** 20).toBe(0); // CONS stays on the failing command
    expect(r.r32(OFF.GERROR) & CMDQ_ERR).toBe(CMDQ_ERR);
    return errOf(cons);
  }
  expect(cons).toBe(1);
  return 0;
}

const ILL = 1;
const ABT = 2;

const IDR0_S1P = 1 << 1;
const IDR0_S2P = 1 << 0;
const IDR0_HYP = 1 << 9;
const IDR0_ATS = 1 << 10;
const IDR0_MSI = 1 << 13;
const IDR0_SEV = 1 << 14;
const IDR0_PRI = 1 << 16;
/** STALL_MODEL[25:24]: QEMU has 0b01; clearing bit 24 gives 0b00 (stall and terminate). */
const IDR0_STALL_MODEL_01 = 1 << 24;

describe('CERROR_ILL: opcodes', () => {
  it.each([
    0x00, 0x08, 0x09, 0x0a, 0x0f, 0x14, 0x17, 0x19, 0x1b, 0x1f, 0x24, 0x27, 0x29, 0x2b, 0x2f, 0x31,
    0x3f, 0x42, 0x43, 0x47, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x58, 0x5a, 0x60, 0x70, 0x73, 0x80, 0xff,
  ])('reserved or Secure-only opcode 0x%s is illegal', (o) => {
    expect(verdict(op(o))).toBe(ILL);
  });

  it('EL3 invalidations are illegal on the Non-secure queue', () => {
    expect(verdict(op(0x18))).toBe(ILL);
    expect(verdict(op(0x1a))).toBe(ILL);
  });

  it('every architected Non-secure opcode is accepted when its feature exists', () => {
    const all = {
      idr: encodeIdrs({
        hyp: true,
        ats: true,
        pri: true,
        stallModel: 0,
        mpam: true,
      }),
    };
    for (const o of [
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x23,
      0x28, 0x2a, 0x30, 0x40, 0x41, 0x44, 0x45, 0x46,
    ]) {
      expect([o, verdict(op(o), all)]).toEqual([o, 0]);
    }
  });

  it('stage-1 commands need IDR0.S1P', () => {
    const noS1 = { idr: { idr0: idr0With(0, IDR0_S1P) } };
    for (const o of [0x05, 0x06, 0x10, 0x11, 0x12, 0x13]) expect(verdict(op(o), noS1)).toBe(ILL);
    expect(verdict(op(0x28), noS1)).toBe(0);
    expect(verdict(op(0x03), noS1)).toBe(0);
  });

  it('stage-2 commands need IDR0.S2P', () => {
    const noS2 = { idr: { idr0: idr0With(0, IDR0_S2P) } };
    expect(verdict(op(0x28), noS2)).toBe(ILL);
    expect(verdict(op(0x2a), noS2)).toBe(ILL);
    expect(verdict(op(0x10), noS2)).toBe(0);
  });

  it('EL2 commands need IDR0.HYP', () => {
    for (const o of [0x20, 0x21, 0x22, 0x23]) {
      expect(verdict(op(o))).toBe(ILL);
      expect(verdict(op(o), { idr: { idr0: idr0With(IDR0_HYP) } })).toBe(0);
    }
  });

  it('ATC_INV needs ATS; PRI_RESP needs PRI', () => {
    expect(verdict(op(0x40))).toBe(ILL);
    expect(verdict(op(0x41))).toBe(ILL);
    expect(verdict(op(0x40), { idr: { idr0: idr0With(IDR0_ATS) } })).toBe(0);
    expect(verdict(op(0x41), { idr: { idr0: idr0With(IDR0_PRI) } })).toBe(0);
  });

  it('RESUME and STALL_TERM are illegal with STALL_MODEL = 0b01', () => {
    expect(verdict(op(0x44))).toBe(ILL);
    expect(verdict(op(0x45))).toBe(ILL);
    const stalls = { idr: { idr0: idr0With(0, IDR0_STALL_MODEL_01) } };
    expect(verdict(op(0x44), stalls)).toBe(0);
    expect(verdict(op(0x45), stalls)).toBe(0);
    // 0b10 (stall forced) also has stalls.
    const forced = { idr: encodeIdrs({ stallModel: 2 }) };
    expect(verdict(op(0x44), forced)).toBe(0);
  });

  it('CFGI_VMS_PIDM needs MPAM', () => {
    expect(verdict(op(0x07))).toBe(ILL);
    expect(verdict(op(0x07), { idr: encodeIdrs({ mpam: true }) })).toBe(0);
  });
});

describe('CERROR_ILL: field values', () => {
  it('SSec = 1 in any command that has SSec', () => {
    const stalls = { idr: { idr0: idr0With(0, IDR0_STALL_MODEL_01) } };
    for (const o of [0x01, 0x02, 0x03, 0x04, 0x05, 0x06]) expect(verdict(op(o, SSEC))).toBe(ILL);
    expect(verdict(op(0x44, SSEC), stalls)).toBe(ILL);
    expect(verdict(op(0x45, SSEC), stalls)).toBe(ILL);
  });

  it('CMD_SYNC with CS = 0b11', () => {
    expect(verdict(cmdSync(3))).toBe(ILL);
    for (const cs of [0, 1, 2]) expect(verdict(cmdSync(cs))).toBe(0);
  });

  it('PRI_RESP with Resp = 0b11 (W1[13:12])', () => {
    const pri = { idr: { idr0: idr0With(IDR0_PRI) } };
    expect(verdict(op(0x41, 0n, 3n << 12n), pri)).toBe(ILL);
    for (const resp of [0n, 1n, 2n]) expect(verdict(op(0x41, 0n, resp << 12n), pri)).toBe(0);
  });

  it('ATC_INV with Size (W1[5:0]) above 52', () => {
    const ats = { idr: { idr0: idr0With(IDR0_ATS) } };
    expect(verdict(op(0x40, 0n, 53n), ats)).toBe(ILL);
    expect(verdict(op(0x40, 0n, 63n), ats)).toBe(ILL);
    expect(verdict(op(0x40, 0n, 52n), ats)).toBe(0);
  });

  // Range TLBI fields: NUM W0[16:12], SCALE W0[24:20], TTL W1[9:8], TG W1[11:10].
  const range = (o: number, tg: number, ttl: number, num: number, scale: number): Cmd =>
    op(
      o,
      (BigInt(num) << 12n) | (BigInt(scale) << 20n),
      (BigInt(tg) << 10n) | (BigInt(ttl) << 8n) | 0x1000n,
    );

  it.each([0x12, 0x13, 0x2a])('range form of 0x%s with NUM = SCALE = TTL = 0', (o) => {
    for (const tg of [1, 2, 3]) expect(verdict(range(o, tg, 0, 0, 0))).toBe(ILL);
    // Any of NUM, SCALE or TTL non-zero makes it legal; TG = 0 is the non-range form.
    expect(verdict(range(o, 1, 0, 1, 0))).toBe(0);
    expect(verdict(range(o, 1, 0, 0, 1))).toBe(0);
    expect(verdict(range(o, 1, 3, 0, 0))).toBe(0);
    expect(verdict(range(o, 0, 0, 0, 0))).toBe(0);
  });

  it('a 16K range with TTL = 0b01 reads as TTL 0b00 when DS = 0', () => {
    expect(verdict(range(0x12, 2, 1, 0, 0))).toBe(ILL);
    expect(verdict(range(0x12, 3, 1, 0, 0))).toBe(0);
  });

  it('with IDR5.DS (bit 7, SMMUv3.4) a 16K TTL of 0b01 counts and SCALE has a sixth bit', () => {
    const ds = { idr: { idr5: 0x74 | (1 << 7), aidr: 4 } };
    expect(verdict(range(0x12, 2, 1, 0, 0), ds)).toBe(0);
    // SCALE = 32 sets only W0[25]: a non-zero SCALE with DS, a RES0 bit (so SCALE = 0) without.
    expect(verdict(range(0x12, 1, 0, 0, 32), ds)).toBe(0);
    expect(verdict(range(0x12, 1, 0, 0, 32))).toBe(ILL);
    // DS is only read from SMMUv3.4 on.
    expect(verdict(range(0x12, 2, 1, 0, 0), { idr: { idr5: 0x74 | (1 << 7) } })).toBe(ILL);
  });

  it('without IDR3.RIL the range fields are RES0: ignored, or illegal under the strict policy', () => {
    const noRil = { idr: { idr3: 0x1414 & ~(1 << 10) } };
    expect(verdict(range(0x12, 1, 0, 0, 0), noRil)).toBe(0);
    expect(
      verdict(range(0x12, 1, 0, 0, 0), {
        ...noRil,
        policies: { reservedCommandFields: 'illegal' },
      }),
    ).toBe(ILL);
  });

  it('non-zero Reserved fields: ignored by default, illegal under the strict policy', () => {
    const strict = { policies: { reservedCommandFields: 'illegal' as const } };
    const cases: Cmd[] = [
      op(0x03, 0n, 2n), // CFGI_STE: W1 has only Leaf[0]
      op(0x10, 1n << 48n), // TLBI_NH_ALL: only VMID[47:32]
      op(0x30, 1n << 8n), // TLBI_NSNH_ALL: no fields
      op(0x46, 1n << 8n), // CMD_SYNC: W0[21:14] reserved
      op(0x46, 0n, 1n), // CMD_SYNC: MSIAddr starts at bit 2
      op(0x04, 0n, 1n << 5n), // CFGI_STE_RANGE: Range is [4:0]
    ];
    for (const c of cases) {
      expect(verdict(c)).toBe(0);
      expect(verdict(c, strict)).toBe(ILL);
    }
    // Defined fields are fine under the strict policy.
    expect(verdict(op(0x11, (0xffffn << 48n) | (0xffffn << 32n)), strict)).toBe(0);
    expect(verdict(op(0x05, (0xfffffn << 12n) | (0xffffffffn << 32n), 1n), strict)).toBe(0);
    expect(verdict(cmdSync(1, 0xffff_ffff, ((1n << 50n) - 1n) << 2n), strict)).toBe(0);
  });
});

describe('CERROR_ABT and the error protocol', () => {
  it('a queue read that aborts stops the queue with CERROR_ABT, CONS not advanced', () => {
    const r = rig();
    r.mem.addAbortRange(CMDQ_PA + 16, 16);
    enableCmdq(r, 4);
    const w = new CmdWriter(r, 4);
    w.push(NSNH, NSNH, NSNH);
    expect(errOf(r.r32(OFF.CMDQ_CONS))).toBe(ABT);
    expect(r.r32(OFF.CMDQ_CONS) % 2 ** 20).toBe(1);
    expect(r.fake.executed.length).toBe(1);
    expect(r.smmu.lastCommandError?.code).toBe(ABT);
  });

  it('CONS stays on the bad command, ERR precedes GERROR, newer commands wait; GERRORN restarts', () => {
    const seenAtIrq: { cons: number; gerror: number }[] = [];
    const r = rig({
      irq: (line, level) => {
        if (line === 'gerror' && level) {
          seenAtIrq.push({ cons: r.r32(OFF.CMDQ_CONS), gerror: r.r32(OFF.GERROR) });
        }
      },
    });
    enableCmdq(r, 4);
    r.w32(OFF.IRQ_CTRL, 0x1); // GERROR_IRQEN
    const w = new CmdWriter(r, 4);
    w.push(op(0x30, 1n << 32n), op(0x00), op(0x30, 3n << 32n));
    expect(r.fake.executed.map((e) => e.w0 >> 32n)).toEqual([1n]);
    expect(r.r32(OFF.CMDQ_CONS)).toBe(ILL * 2 ** 24 + 1);
    expect(r.r32(OFF.GERROR)).toBe(CMDQ_ERR);
    // At the GERROR interrupt, CMDQ_CONS.ERR was already visible.
    expect(seenAtIrq).toEqual([{ cons: ILL * 2 ** 24 + 1, gerror: CMDQ_ERR }]);
    // More PROD writes do nothing while the error is active; CMDQEN changes do not clear it.
    w.push(op(0x30, 4n << 32n));
    r.w32(OFF.CR0, 0);
    r.w32(OFF.CR0, CMDQEN);
    expect(r.fake.executed.length).toBe(1);
    expect(r.smmu.errorActive(CMDQ_ERR)).toBe(true);
    // Software fixes the command in place and acknowledges: processing resumes at CONS.
    w.rewrite(1, ...op(0x30, 2n << 32n));
    r.w32(OFF.GERRORN, CMDQ_ERR);
    expect(r.fake.executed.map((e) => e.w0 >> 32n)).toEqual([1n, 2n, 3n, 4n]);
    expect(r.r32(OFF.CMDQ_CONS) % 2 ** 20).toBe(4);
    expect(r.smmu.errorActive(CMDQ_ERR)).toBe(false);
    expect(r.pulses('gerror')).toBe(1);
  });

  it('an acknowledgement made inside the GERROR interrupt handler restarts consumption', () => {
    let w: CmdWriter | undefined;
    const r = rig({
      irq: (line, level) => {
        if (line === 'gerror' && level && w) {
          w.rewrite(1, ...NSNH); // the handler repairs the command, then acknowledges
          r.w32(OFF.GERRORN, r.r32(OFF.GERRORN) ^ CMDQ_ERR);
        }
      },
    });
    enableCmdq(r, 4);
    r.w32(OFF.IRQ_CTRL, 0x1);
    w = new CmdWriter(r, 4);
    w.push(NSNH, op(0xff), NSNH);
    expect(r.fake.executed.length).toBe(3);
    expect(r.r32(OFF.CMDQ_CONS) % 2 ** 20).toBe(3);
    expect(r.smmu.errorActive(CMDQ_ERR)).toBe(false);
  });

  it('software may instead move PROD back to CONS, dropping the bad command', () => {
    const { r, w } = withQueue();
    w.push(NSNH, op(0xff), NSNH);
    r.w32(OFF.CMDQ_PROD, 1);
    w.prod = 1;
    r.w32(OFF.GERRORN, CMDQ_ERR);
    expect(r.fake.executed.length).toBe(1);
    w.push(op(0x30, 9n << 32n));
    expect(r.fake.executed.map((e) => e.w0 >> 32n)).toEqual([0n, 9n]);
  });

  it('a second error after acknowledgement toggles GERROR back (error active again)', () => {
    const { r, w } = withQueue();
    w.push(op(0xff));
    expect(r.r32(OFF.GERROR)).toBe(1);
    w.rewrite(0, ...op(0xfe));
    r.w32(OFF.GERRORN, 1);
    expect(r.r32(OFF.GERROR)).toBe(0);
    expect(r.r32(OFF.GERRORN)).toBe(1);
    expect(r.smmu.errorActive(CMDQ_ERR)).toBe(true);
  });
});

describe('CMD_SYNC completion', () => {
  it('CS = SIG_NONE signals nothing', () => {
    const { r, w } = withQueue();
    w.push(cmdSync(0, 0x1234, 0x50_0000n));
    expect(r.pulses('cmdq-sync')).toBe(0);
    expect(r.mem.read32(0x50_0000)).toBe(0);
    expect(r.fake.executed.length).toBe(0); // CMD_SYNC is completed by the queue side
  });

  it('CS = SIG_IRQ without MSI support pulses the wired line only, ungated by IRQ_CTRL', () => {
    const { r, w } = withQueue();
    w.push(cmdSync(1, 0x1234, 0x50_0000n));
    expect(r.pulses('cmdq-sync')).toBe(1);
    expect(r.irqs).toEqual([
      { line: 'cmdq-sync', level: true },
      { line: 'cmdq-sync', level: false },
    ]);
    expect(r.mem.read32(0x50_0000)).toBe(0);
  });

  it('CS = SIG_IRQ with MSI writes MSIData to MSIAddr after CONS has passed the SYNC', () => {
    const consAtIrq: number[] = [];
    const msi = { idr: { idr0: idr0With(IDR0_MSI) } };
    const r = rig({
      ...msi,
      irq: (line, level) => {
        if (line === 'cmdq-sync' && level) consAtIrq.push(r.r32(OFF.CMDQ_CONS));
      },
    });
    enableCmdq(r, 4);
    const w = new CmdWriter(r, 4);
    w.push(NSNH, cmdSync(1, 0xfeed_f00d, 0x50_0004n));
    expect(r.mem.read32(0x50_0004)).toBe(0xfeed_f00d);
    expect(consAtIrq).toEqual([2]);
    // MSIAddr = 0 → no MSI, wired pulse still.
    w.push(cmdSync(1, 0x1, 0n));
    expect(r.pulses('cmdq-sync')).toBe(2);
  });

  it('MSIAddr is tested for zero over the whole field and truncated to OAS', () => {
    const { r, w } = withQueue({ idr: { idr0: idr0With(IDR0_MSI) } });
    // OAS = 44: bit 50 set is non-zero, truncation leaves 0x600000.
    w.push(cmdSync(1, 0xabcd, (1n << 50n) | 0x60_0000n));
    expect(r.mem.read32(0x60_0000)).toBe(0xabcd);
  });

  it('an aborted CMD_SYNC MSI sets MSI_CMDQ_ABT_ERR and completes the SYNC', () => {
    const { r, w } = withQueue({ idr: { idr0: idr0With(IDR0_MSI) } });
    r.mem.addAbortRange(0x70_0000, 0x1000);
    r.w32(OFF.IRQ_CTRL, 0x1);
    w.push(cmdSync(1, 1, 0x70_0000n), NSNH);
    expect(r.r32(OFF.GERROR)).toBe(MSI_CMDQ_ABT_ERR);
    expect(r.r32(OFF.CMDQ_CONS)).toBe(2); // the queue keeps going (informational error)
    expect(r.pulses('gerror')).toBe(1);
  });

  it('CS = SIG_SEV sends an event only with IDR0.SEV', () => {
    let sev = 0;
    const a = withQueue({ sev: () => sev++ });
    a.w.push(cmdSync(2));
    expect(sev).toBe(0);
    const b = withQueue({ idr: { idr0: idr0With(IDR0_SEV) }, sev: () => sev++ });
    b.w.push(cmdSync(2));
    expect(sev).toBe(1);
    expect(b.r.smmu.sevCount).toBe(1);
  });

  it('commands queued from inside an interrupt callback are consumed by the same pass', () => {
    let w: CmdWriter | undefined;
    const r = rig({
      irq: (line, level) => {
        if (line === 'cmdq-sync' && level && w && w.prod === 1) w.push(NSNH);
      },
    });
    enableCmdq(r, 4);
    w = new CmdWriter(r, 4);
    w.push(cmdSync(1));
    expect(r.fake.executed.length).toBe(1);
    expect(r.r32(OFF.CMDQ_CONS)).toBe(2);
  });
});

describe('execution, the command log and counters', () => {
  it('hands valid commands to the translation side with their words, in order', () => {
    const { r, w } = withQueue();
    const cfgiAll = op(0x04, 0n, 31n);
    const tlbi = op(0x12, (5n << 48n) | (1n << 32n), 0x4000_1000n);
    w.push(cfgiAll, tlbi, cmdSync(0), NSNH);
    expect(r.fake.executed).toEqual([
      { opcode: 0x04, w0: cfgiAll[0], w1: cfgiAll[1] },
      { opcode: 0x12, w0: tlbi[0], w1: tlbi[1] },
      { opcode: 0x30, w0: NSNH[0], w1: NSNH[1] },
    ]);
  });

  it('commandsSince(mark) lists executed commands with names; counters add up', () => {
    const trace: TraceEvent[] = [];
    const { r, w } = withQueue({ trace: (e) => trace.push(e) });
    w.push(NSNH);
    const mark = r.smmu.commandMark();
    expect(mark).toBe(1);
    w.push(op(0x04, 0n, 31n), op(0x04, 7n << 32n, 1n), cmdSync(0));
    const since = r.smmu.commandsSince(mark);
    expect(since.map((c) => c.name)).toEqual(['CFGI_ALL', 'CFGI_STE_RANGE', 'CMD_SYNC']);
    expect(since[1]?.words).toEqual([0x04n | (7n << 32n), 1n]);
    expect(since[1]?.opcode).toBe(0x04);
    expect(r.smmu.commandCounts).toEqual({
      TLBI_NSNH_ALL: 1,
      CFGI_ALL: 1,
      CFGI_STE_RANGE: 1,
      CMD_SYNC: 1,
    });
    expect(trace.filter((e) => e.kind === 'command').length).toBe(4);
    // Failed commands are not executed, so they are not logged.
    w.push(op(0xff));
    expect(r.smmu.commandsSince(mark).length).toBe(3);
  });

  it('keeps the newest commandLogLimit entries, with absolute marks', () => {
    const { r, w } = withQueue({ commandLogLimit: 2 });
    for (let i = 0; i < 5; i++) w.push(op(0x30, BigInt(i) << 32n));
    expect(r.smmu.commandMark()).toBe(5);
    const tags = (mark: number): bigint[] =>
      r.smmu.commandsSince(mark).map((c) => c.words[0] >> 32n);
    // Commands 3 and 4 are kept; older marks start at the oldest kept one.
    expect(tags(0)).toEqual([3n, 4n]);
    expect(tags(4)).toEqual([4n]);
    expect(tags(4.5)).toEqual([4n]);
    expect(tags(5)).toEqual([]);
    expect(tags(Number.NaN)).toEqual([3n, 4n]);
    expect(r.smmu.commandsSince(3)[0]).toEqual({
      name: 'TLBI_NSNH_ALL',
      opcode: 0x30,
      words: [0x30n | (3n << 32n), 0n],
    });
    // Counters are not limited.
    expect(r.smmu.commandCounts).toEqual({ TLBI_NSNH_ALL: 5 });
  });

  it('ATC_INV and PRI_RESP are IGNORED (consumed, not executed) while SMMUEN = 0', () => {
    const feats = { idr: { idr0: idr0With(IDR0_ATS | IDR0_PRI) } };
    const { r, w } = withQueue(feats);
    w.push(op(0x40), op(0x41, 0n, 2n << 12n));
    expect(r.fake.executed.length).toBe(0);
    expect(r.r32(OFF.CMDQ_CONS)).toBe(2);
    expect(r.smmu.commandsSince(0).map((c) => c.name)).toEqual(['ATC_INV', 'PRI_RESP']);
    r.w32(OFF.CR0, CMDQEN | SMMUEN);
    w.push(op(0x40));
    expect(r.fake.executed.map((e) => e.opcode)).toEqual([0x40]);
  });
});
