// The VMM's emulated SMMUv3 against the fake kernel: guest command trapping (CFGI_STE → nested
// HWPT, make-before-break, invalidation batching in program order, per-device skips, partial
// failure), the three invalid-vSTE policies, event injection with the architected queue rules,
// CMD_SYNC completion, and garbage from the guest. Expected values come from the spec rules
// written out here (bit positions in vmm-kit.ts), never from running the VMM.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { veventBytes } from './vmm-fake-kernel.ts';
import {
  ackErrors,
  boot,
  C,
  CD_TABLE,
  CMDQ,
  CR0,
  cmdqErrActive,
  consErr,
  consRd,
  DOORBELL,
  guestEvent,
  type Kit,
  makeKit,
  OFF,
  QLOG2,
  ST,
  s1Ste,
  submit,
  writeSte,
} from './vmm-kit.ts';

const CFG_ABORT = 1n; // V=1, Config 0
const CFG_BYPASS = 1n | (4n << 1n);

/** The nested HWPT_ALLOC calls issued after `mark` (data = vSTE words). */
function allocsAfter(kit: Kit, mark: number) {
  return kit.k.calls.slice(mark).filter((c) => c.name === 'IOMMU_HWPT_ALLOC');
}

describe('CFGI_STE → nested HWPT', () => {
  it('sends the vSTE masked to the meaningful allowed fields and attaches it', () => {
    const kit = makeKit();
    boot(kit);
    // Guest STE: V, Config S1, S1ContextPtr, S1CDMax=3 (IGNORED: SSIDSIZE=0), S1Fmt=1, junk in
    // reserved bits 52..58; word 1: S1DSS=2, S1CIR=1, S1COR=1, S1CSH=3, EATS=1 (IGNORED: ATS=0),
    // SHCFG=1 (bit 44), MTCFG (bit 36), STRW=2 (bits 31:30).
    const w0 = s1Ste(CD_TABLE) | (3n << 59n) | (1n << 4n) | (0x7fn << 52n);
    const w1 =
      2n |
      (1n << 2n) |
      (1n << 4n) |
      (3n << 6n) |
      (1n << 28n) |
      (1n << 44n) |
      (1n << 36n) |
      (2n << 30n);
    writeSte(kit, 0x8, w0, w1);
    const mark = kit.k.calls.length;
    submit(kit, C.cfgiSte(0x8), C.sync());
    const [alloc] = allocsAfter(kit, mark);
    expect(alloc?.f['pt_id']).toBe(BigInt(kit.v.backend.viommuId));
    expect(alloc?.f['dev_id']).toBe(kit.k.named('VFIO_DEVICE_BIND_IOMMUFD')[0]?.f['out_devid']);
    const expect0 = 1n | (5n << 1n) | BigInt(CD_TABLE);
    const expect1 = (1n << 2n) | (1n << 4n) | (3n << 6n);
    expect(alloc?.data).toEqual([expect0, expect1]);
    const attach = kit.k.calls.slice(mark).find((c) => c.name === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
    expect(kit.v.streams()[0]?.attached).toBe('nested');
    expect(attach?.f['pt_id']).toBe(BigInt(kit.v.streams()[0]?.hwptId ?? -1));
    expect(consRd(kit)).toBe(2);
    expect(consErr(kit)).toBe(0);
  });

  it('keeps S1Fmt/S1CDMax/S1DSS with substreams and EATS with ATS, and cuts S1ContextPtr to the OAS', () => {
    const kit = makeKit({}, { ssidBits: 4, oas: 40, ats: true }, (k) => {
      // Host SSIDSIZE 16 and IDR0.CD2L (bit 19), so the 2-level S1Fmt below is legal.
      k.hostIdr.idr[1] = 0x02730010 | (16 << 6);
      k.hostIdr.idr[0] = (0x0d44101b | (1 << 19)) >>> 0;
    });
    boot(kit);
    const ptr = BigInt(CD_TABLE) | (1n << 45n); // bit 45 is beyond a 40-bit OAS
    const w0 = 1n | (5n << 1n) | ptr | (3n << 59n) | (2n << 4n);
    // S1DSS=2, EATS=1 (S1STALLD stays 0: it is ILLEGAL with the advertised STALL_MODEL 0b01).
    const w1 = 2n | (1n << 28n);
    writeSte(kit, 0x10, w0, w1);
    const mark = kit.k.calls.length;
    submit(kit, C.cfgiSte(0x10));
    const [alloc] = allocsAfter(kit, mark);
    expect(alloc?.data).toEqual([
      1n | (5n << 1n) | BigInt(CD_TABLE) | (3n << 59n) | (2n << 4n),
      w1,
    ]);
  });

  it('replaces stage 1 with stage 1 make-before-break and frees the old HWPT', () => {
    const kit = makeKit();
    boot(kit);
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    submit(kit, C.cfgiSte(0x8));
    const first = kit.v.streams()[0]?.hwptId as number;
    writeSte(kit, 0x8, s1Ste(CD_TABLE + 0x1000));
    const mark = kit.k.calls.length;
    submit(kit, C.cfgiSte(0x8));
    const seq = kit.k.calls.slice(mark).map((c) => `${c.name}:${c.f['pt_id'] ?? c.f['id'] ?? ''}`);
    const second = kit.v.streams()[0]?.hwptId as number;
    expect(second).not.toBe(first);
    expect(seq).toEqual([
      `IOMMU_HWPT_ALLOC:${kit.v.backend.viommuId}`,
      `VFIO_DEVICE_ATTACH_IOMMUFD_PT:${second}`,
      `IOMMU_DESTROY:${first}`,
    ]);
    // The same vSTE again: nothing to do.
    const mark2 = kit.k.calls.length;
    submit(kit, C.cfgiSte(0x8));
    expect(kit.k.calls.length).toBe(mark2);
    expect(kit.vmm.counters.steInstalls.unchanged).toBeGreaterThan(0);
  });

  it('maps abort, bypass, V=0 and reserved Configs to the pre-allocated HWPTs', () => {
    const kit = makeKit();
    boot(kit);
    const { abortHwptId, bypassHwptId } = kit.v.backend;
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    submit(kit, C.cfgiSte(0x8));
    const s1 = kit.v.streams()[0]?.hwptId as number;
    const cases: [bigint, number][] = [
      [CFG_BYPASS, bypassHwptId],
      [CFG_ABORT, abortHwptId],
      [0n, abortHwptId], // V = 0
      [1n | (2n << 1n), abortHwptId], // Config 0b010 behaves as abort
      [CFG_BYPASS, bypassHwptId],
    ];
    for (const [w0, want] of cases) {
      writeSte(kit, 0x8, w0);
      submit(kit, C.cfgiSte(0x8));
      expect(kit.v.streams()[0]?.hwptId).toBe(want);
    }
    // The stage-1 HWPT was destroyed when the stream left it.
    expect(kit.k.named('IOMMU_DESTROY').some((c) => Number(c.f['id']) === s1)).toBe(true);
  });

  it('follows GBPA while SMMUEN = 0 and re-derives every stream on SMMUEN changes', () => {
    const kit = makeKit();
    boot(kit, { smmuen: false });
    const { abortHwptId, bypassHwptId } = kit.v.backend;
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    writeSte(kit, 0x10, CFG_ABORT);
    // CFGI_ALL with SMMUEN = 0: GBPA (bypass at reset) for every stream.
    submit(kit, C.cfgiAll());
    expect(kit.v.streams().map((s) => s.hwptId)).toEqual([bypassHwptId, bypassHwptId]);
    // GBPA.ABORT with Update (bit 31 | bit 20).
    kit.v.write32(OFF.GBPA, (0x8000_0000 | 0x10_0000) >>> 0);
    expect(kit.v.read32(OFF.GBPA) >>> 31).toBe(0);
    expect(kit.v.streams().map((s) => s.hwptId)).toEqual([abortHwptId, abortHwptId]);
    // A GBPA write without Update is ignored (v3.2).
    kit.v.write32(OFF.GBPA, 0);
    expect(kit.v.streams().map((s) => s.hwptId)).toEqual([abortHwptId, abortHwptId]);
    kit.v.write32(OFF.CR0, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    expect(kit.v.read32(OFF.CR0ACK)).toBe(CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    expect(kit.v.streams().map((s) => s.attached)).toEqual(['nested', 'abort']);
    kit.v.write32(OFF.CR0, CR0.CMDQEN | CR0.EVENTQEN);
    expect(kit.v.streams().map((s) => s.hwptId)).toEqual([abortHwptId, abortHwptId]);
  });

  it('reads the STE from a 2-level guest stream table', () => {
    const kit = makeKit();
    boot(kit, { smmuen: false });
    // FMT 1, SPLIT 8, LOG2SIZE 16: L1 index = SID >> 8; L1STD {Span[4:0], L2Ptr[51:6]}.
    const l1 = ST;
    const l2 = ST + 0x8000;
    kit.v.write32(OFF.STRTAB_BASE_CFG, (1 << 16) | (8 << 6) | 16);
    const span = 9; // 2^(9-1) = 256 STEs
    const sid = 0x10;
    kit.vmm.ram.writeWords(l1 + 8 * (sid >> 8), [BigInt(l2) | BigInt(span)]);
    kit.vmm.ram.writeWords(l2 + 64 * (sid & 0xff), [s1Ste(CD_TABLE), 0n]);
    kit.v.write32(OFF.CR0, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    expect(kit.v.streams()[1]?.attached).toBe('nested');
    expect(kit.v.streams()[1]?.vste?.[0]).toBe(s1Ste(CD_TABLE));
    // An invalid L1STD (Span 0) aborts the stream.
    kit.vmm.ram.writeWords(l1, [0n]);
    submit(kit, C.cfgiSte(sid));
    expect(kit.v.streams()[1]?.attached).toBe('abort');
  });

  it('CFGI_STE_RANGE covers 2^(Range+1) StreamIDs from the aligned base', () => {
    const kit = makeKit();
    boot(kit);
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    writeSte(kit, 0x10, s1Ste(CD_TABLE + 0x1000));
    // Range 3: 16 StreamIDs from 0x10 & ~0xf = 0x10 → only vSID 0x10 (0x8 is outside and keeps
    // the abort it got from its all-zero STE when SMMUEN was set).
    submit(kit, C.cfgiRange(0x13, 3));
    expect(kit.v.streams().map((s) => s.attached)).toEqual(['abort', 'nested']);
    // Range 4: 32 StreamIDs from 0 → both.
    submit(kit, C.cfgiRange(0x13, 4));
    expect(kit.v.streams().map((s) => s.attached)).toEqual(['nested', 'nested']);
  });
});

describe('invalidation forwarding', () => {
  it('batches consecutive invalidations into one IOMMU_HWPT_INVALIDATE before CMD_SYNC completes', () => {
    // At the moment the CMD_SYNC completes, the invalidation must already be with the kernel.
    const invAtSync: number[] = [];
    const kit: Kit = makeKit({
      irq: (l) => {
        if (l === 'cmdq-sync') invAtSync.push(kit.k.named('IOMMU_HWPT_INVALIDATE').length);
      },
    });
    boot(kit);
    const mark = kit.k.calls.length;
    const cmds = [C.tlbiNhVa(5, 0x1000n), C.tlbiNhVa(5, 0x2000n), C.tlbiNhAsid(5)];
    submit(kit, ...cmds, C.sync(1));
    const inv = kit.k.calls.slice(mark).filter((c) => c.name === 'IOMMU_HWPT_INVALIDATE');
    expect(inv).toHaveLength(1);
    expect(inv[0]?.f['hwpt_id']).toBe(BigInt(kit.v.backend.viommuId));
    expect(inv[0]?.f['data_type']).toBe(1n);
    expect(inv[0]?.f['entry_len']).toBe(16n);
    expect(inv[0]?.f['entry_num']).toBe(3n);
    expect(inv[0]?.data).toEqual(cmds.flat());
    expect(invAtSync).toEqual([1]);
    expect(consRd(kit)).toBe(4);
  });

  it('keeps program order: every non-forwarded command flushes the batch first', () => {
    const kit = makeKit();
    boot(kit);
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    const mark = kit.k.calls.length;
    submit(
      kit,
      C.tlbiNhAsid(1),
      C.cfgiSte(0x8),
      C.tlbiNhAsid(2),
      C.prefetch(0x8),
      C.tlbiNhAsid(3),
      C.sync(),
    );
    const seq = kit.k.calls
      .slice(mark)
      .map((c) =>
        c.name === 'IOMMU_HWPT_INVALIDATE' ? `INV(${(c.data[0] as bigint) >> 48n})` : c.name,
      );
    expect(seq).toEqual([
      'INV(1)',
      'IOMMU_HWPT_ALLOC',
      'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
      'INV(2)',
      'INV(3)',
    ]);
  });

  it('forwards per-device commands only for streams attached in stage 1', () => {
    const kit = makeKit();
    boot(kit);
    const mark = kit.k.calls.length;
    // vSID 0x8 is in bypass, 0x99 has no device: both skipped.
    submit(kit, C.cfgiCd(0x8), C.cfgiCdAll(0x99), C.sync());
    expect(kit.k.calls.slice(mark).some((c) => c.name === 'IOMMU_HWPT_INVALIDATE')).toBe(false);
    expect(kit.vmm.counters.skippedCommands).toBe(2);
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    submit(kit, C.cfgiSte(0x8), C.cfgiCd(0x8), C.cfgiCdAll(0x8), C.sync());
    const inv = kit.k.named('IOMMU_HWPT_INVALIDATE');
    expect(inv.at(-1)?.data).toEqual([...C.cfgiCd(0x8), ...C.cfgiCdAll(0x8)]);
  });

  it('splits long runs at maxBatch, in order', () => {
    const kit = makeKit({ maxBatch: 2 });
    boot(kit);
    const mark = kit.k.calls.length;
    const cmds = [1, 2, 3, 4, 5].map((a) => C.tlbiNhAsid(a));
    submit(kit, ...cmds, C.sync());
    const inv = kit.k.calls.slice(mark).filter((c) => c.name === 'IOMMU_HWPT_INVALIDATE');
    expect(inv.map((c) => Number(c.f['entry_num']))).toEqual([2, 2, 1]);
    expect(inv.flatMap((c) => c.data)).toEqual(cmds.flat());
  });

  it('ATC_INV (with ATS advertised) is forwarded for stage-1 streams and ignored while SMMUEN = 0', () => {
    const kit = makeKit({}, { ats: true });
    boot(kit);
    // ATC_INV 0x40: StreamID W0[63:32], Size W1[5:0] = 52 (everything).
    const atc = [0x40n | (0x8n << 32n), 52n] as const;
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    submit(kit, C.cfgiSte(0x8), atc, C.sync());
    expect(kit.k.named('IOMMU_HWPT_INVALIDATE').at(-1)?.data).toEqual([...atc]);
    const n = kit.k.named('IOMMU_HWPT_INVALIDATE').length;
    kit.v.write32(OFF.CR0, CR0.CMDQEN | CR0.EVENTQEN);
    submit(kit, atc, C.sync());
    expect(kit.k.named('IOMMU_HWPT_INVALIDATE')).toHaveLength(n);
    expect(consErr(kit)).toBe(0);
  });

  it('ATC_INV without ATS advertised is CERROR_ILL and raises the GERROR interrupt', () => {
    const irqs: string[] = [];
    const kit = makeKit({ irq: (l) => irqs.push(l) });
    boot(kit, { irq: true });
    submit(kit, [0x40n | (0x8n << 32n), 52n]);
    expect(consErr(kit)).toBe(1);
    expect(irqs).toEqual(['gerror']);
  });

  it('recovers from a partial failure without trusting entry_num', () => {
    const kit = makeKit();
    boot(kit);
    const bad = C.tlbiNhVa(7, 0xdead_0000n);
    // Mainline over-reports: [ok, ok, bad] → EIO, entry_num 2, nothing executed.
    kit.k.invalidate = (cmds) => {
      const i = cmds.findIndex((c) => c[1] === bad[1]);
      return i < 0 ? undefined : { ret: -5, handled: i };
    };
    const a = C.tlbiNhVa(7, 0x1000n);
    const b = C.tlbiNhVa(7, 0x2000n);
    submit(kit, a, b, bad, C.sync());
    // a and b took effect (re-presented), the guest queue stopped on the bad command (index 2).
    expect(kit.k.executed).toEqual([[...a], [...b]]);
    expect(consRd(kit)).toBe(2);
    expect(consErr(kit)).toBe(1);
    expect(cmdqErrActive(kit)).toBe(true);
    expect(kit.v.lastCommandError?.command).toBe('TLBI_NH_VA');
    // The guest replaces the bad command by CMD_SYNC (as Linux does) and acknowledges.
    kit.vmm.ram.writeWords(CMDQ + 16 * 2, [...C.sync()]);
    ackErrors(kit);
    expect(cmdqErrActive(kit)).toBe(false);
    expect(consRd(kit)).toBe(4);
  });
});

describe('invalid vSTE policies', () => {
  /** A stage-2 Config: ILLEGAL on this S1-only vSMMU, refused by the kernel with EIO. */
  const S2_STE = 1n | (6n << 1n);

  function setup(policy: 'log-event-abort' | 'cerror-keep' | 'silent-abort') {
    const kit = makeKit({ policy });
    boot(kit);
    writeSte(kit, 0x8, s1Ste(CD_TABLE));
    submit(kit, C.cfgiSte(0x8));
    const before = kit.v.streams()[0]?.hwptId;
    writeSte(kit, 0x8, S2_STE);
    submit(kit, C.cfgiSte(0x8), C.sync());
    return { kit, before };
  }

  it('log-event-abort: logs, injects C_BAD_STE for the vSID, installs abort, guest continues', () => {
    const { kit } = setup('log-event-abort');
    expect(kit.v.streams()[0]?.hwptId).toBe(kit.v.backend.abortHwptId);
    expect(consRd(kit)).toBe(3);
    expect(cmdqErrActive(kit)).toBe(false);
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe(1);
    const evt = guestEvent(kit, 0);
    // C_BAD_STE = 0x04 in W0[7:0], StreamID in W0[63:32].
    expect(Number((evt[0] as bigint) & 0xffn)).toBe(0x04);
    expect(Number((evt[0] as bigint) >> 32n)).toBe(0x8);
    const log = kit.vmm.logLines.map((l) => l.text).join('\n');
    expect(log).toMatch(/ioctl IOMMU_HWPT_ALLOC failed: EIO/);
    expect(log).toMatch(
      /vSID 0x8 .*IOMMU_HWPT_ALLOC failed with EIO.*vSTE\[0\]=0x000000000000000d.*C_BAD_STE/,
    );
    expect(kit.vmm.counters.badSteInjected).toBe(1);
  });

  it('cerror-keep: the command fails with CERROR_ILL and the previous attachment stays', () => {
    const { kit, before } = setup('cerror-keep');
    expect(kit.v.streams()[0]?.hwptId).toBe(before);
    expect(consRd(kit)).toBe(1);
    expect(consErr(kit)).toBe(1);
    expect(cmdqErrActive(kit)).toBe(true);
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe(0);
  });

  /**
   * STEs ILLEGAL only under the vIDRs (§5.2 S1STALLD/§5.5, §5.2 S1Fmt): the host would accept
   * them, so the VMM refuses them without any ioctl and applies the policy.
   */
  function refused(w0: bigint, w1: bigint, hostIdr0 = 0x0d44101b) {
    const kit = makeKit({}, { ssidBits: 4 }, (k) => {
      k.hostIdr.idr[0] = hostIdr0 >>> 0;
      k.hostIdr.idr[1] = 0x02730010 | (16 << 6);
    });
    boot(kit);
    writeSte(kit, 0x8, w0, w1);
    const mark = kit.k.calls.length;
    submit(kit, C.cfgiSte(0x8), C.sync());
    return { kit, allocs: allocsAfter(kit, mark).length };
  }

  it('S1STALLD = 1 on a stage-1 STE is refused by the VMM (vSTALL_MODEL 0b01), even if the host stalls', () => {
    // Host IDR0.STALL_MODEL (bits 25:24) = 0b00: the host would accept S1STALLD.
    const stallHost = 0x0d44101b & ~(3 << 24);
    const { kit, allocs } = refused(s1Ste(CD_TABLE), 1n << 27n, stallHost);
    expect(allocs).toBe(0);
    expect(kit.v.streams()[0]?.hwptId).toBe(kit.v.backend.abortHwptId);
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe(1);
    expect(Number((guestEvent(kit, 0)[0] as bigint) & 0xffn)).toBe(0x04); // C_BAD_STE
    expect(kit.vmm.logLines.map((l) => l.text).join('\n')).toMatch(
      /vSID 0x8 .*S1STALLD.*C_BAD_STE/,
    );
    expect(kit.vmm.counters.badSteInjected).toBe(1);
    // The same bit on a bypass STE is IGNORED: accepted.
    const ok = refused(1n | (4n << 1n), 1n << 27n, stallHost);
    expect(ok.kit.vmm.counters.badSteInjected).toBe(0);
  });

  it('a 2-level S1Fmt with S1CDMax ≠ 0 is refused when CD2L = 0, sent when CD2L = 1', () => {
    const w0 = s1Ste(CD_TABLE) | (3n << 59n) | (1n << 4n);
    const bad = refused(w0, 0n);
    expect(bad.allocs).toBe(0);
    expect(bad.kit.vmm.counters.badSteInjected).toBe(1);
    expect(bad.kit.vmm.logLines.map((l) => l.text).join('\n')).toMatch(/S1Fmt 1 .*CD2L = 0/);
    const good = refused(w0, 0n, 0x0d44101b | (1 << 19));
    expect(good.allocs).toBe(1);
    expect(good.kit.vmm.counters.badSteInjected).toBe(0);
  });

  it('silent-abort: the stream aborts, no event, no error', () => {
    const { kit } = setup('silent-abort');
    expect(kit.v.streams()[0]?.hwptId).toBe(kit.v.backend.abortHwptId);
    expect(consRd(kit)).toBe(3);
    expect(cmdqErrActive(kit)).toBe(false);
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe(0);
  });
});

describe('events toward the guest', () => {
  const FAULT = (sid: number, addr: bigint) =>
    [0x10n | (BigInt(sid) << 32n), 0n, addr, 0n] as const;

  it('copies vEVENTQ records verbatim into the guest event queue and raises the interrupt once', () => {
    const irqs: string[] = [];
    const msis: bigint[] = [];
    const kit = makeKit({ irq: (l) => irqs.push(l), msi: (m) => msis.push(m.address) });
    boot(kit, { irq: true });
    kit.v.write64(OFF.EVENTQ_IRQ_CFG0, BigInt(DOORBELL));
    kit.v.write32(OFF.EVENTQ_IRQ_CFG1, 0x55);
    // IRQ_CFG registers are writable only while EVENTQ_IRQEN = 0: that write was ignored.
    expect(kit.v.read64(OFF.EVENTQ_IRQ_CFG0)).toBe(0n);
    kit.v.write32(OFF.IRQ_CTRL, 0);
    kit.v.write64(OFF.EVENTQ_IRQ_CFG0, BigInt(DOORBELL));
    kit.v.write32(OFF.EVENTQ_IRQ_CFG1, 0x55);
    kit.v.write32(OFF.IRQ_CTRL, 0b101);
    const e1 = FAULT(0x8, 0x1234_5000n);
    const e2 = FAULT(0x10, 0x9999_0000n);
    kit.k.veventq.push(
      veventBytes([
        { seq: 0, raw: e1 },
        { seq: 1, raw: e2 },
      ]),
    );
    expect(kit.vmm.pollEvents()).toBe(2);
    expect(guestEvent(kit, 0)).toEqual([...e1]);
    expect(guestEvent(kit, 1)).toEqual([...e2]);
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe(2);
    expect(irqs).toEqual(['evtq']);
    expect(msis).toEqual([BigInt(DOORBELL)]);
    expect(kit.vmm.ram.read32(DOORBELL)).toBe(0x55);
  });

  it('a full queue discards and toggles OVFLG once; host loss is signalled as overflow', () => {
    const kit = makeKit();
    boot(kit);
    const n = 2 ** QLOG2;
    const recs = Array.from({ length: n + 3 }, (_, i) => ({
      seq: i,
      raw: FAULT(0x8, BigInt(i) << 12n),
    }));
    kit.k.veventq.push(veventBytes(recs));
    kit.vmm.pollEvents();
    // PROD = n with the wrap bit (bit QLOG2) set and OVFLG (bit 31) toggled.
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe((0x8000_0000 | n) >>> 0);
    expect(kit.vmm.counters.eventsDiscarded).toBe(3);
    // The guest consumes everything and acknowledges the overflow (OVACKFLG = OVFLG).
    kit.v.write32(OFF.EVENTQ_CONS, (0x8000_0000 | n) >>> 0);
    // Host loss: sequence gap 0 → 5 after the last seen n+2.
    kit.k.veventq.push(veventBytes([{ seq: n + 6, raw: FAULT(0x8, 0n) }]));
    kit.vmm.pollEvents();
    expect(kit.vmm.counters.hostEventsLost).toBe(3);
    expect(kit.v.read32(OFF.EVENTQ_PROD) >>> 31).toBe(0);
  });

  it('with hostEventLoss=log a LOST_EVENTS header is only counted', () => {
    const kit = makeKit({ hostEventLoss: 'log' });
    boot(kit);
    kit.k.veventq.push(veventBytes([{ seq: 0, raw: FAULT(0x8, 0n) }, { lost: 4 }]));
    kit.vmm.pollEvents();
    expect(kit.vmm.counters.hostEventsLost).toBe(4);
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe(1);
  });

  it('discards while the event queue is disabled and raises EVENTQ_ABT_ERR on a write outside RAM', () => {
    const kit = makeKit();
    boot(kit);
    kit.v.write32(OFF.CR0, CR0.CMDQEN | CR0.SMMUEN);
    expect(kit.v.offerEvent(FAULT(1, 0n))).toBe(false);
    expect(kit.v.read32(OFF.EVENTQ_PROD)).toBe(0);
    kit.v.write64(OFF.EVENTQ_BASE, 0x10_0000n | BigInt(QLOG2));
    kit.v.write32(OFF.CR0, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
    expect(kit.v.offerEvent(FAULT(1, 0n))).toBe(false);
    // GERROR.EVENTQ_ABT_ERR = bit 2.
    expect((kit.v.read32(OFF.GERROR) ^ kit.v.read32(OFF.GERRORN)) & 4).toBe(4);
  });
});

describe('command queue rules', () => {
  it('CMD_SYNC CS=IRQ writes MSIData to MSIAddr in guest RAM; CS=SEV wakes the guest', () => {
    let sev = 0;
    const kit = makeKit({ sev: () => sev++ });
    boot(kit);
    submit(kit, C.sync(1, 0xabcd, BigInt(DOORBELL)), C.sync(2));
    expect(kit.vmm.ram.read32(DOORBELL)).toBe(0xabcd);
    expect(sev).toBe(1);
  });

  it('illegal commands stop the queue with CERROR_ILL until GERRORN is acknowledged', () => {
    const kit = makeKit();
    boot(kit);
    for (const bad of [
      [0x7fn, 0n] as const,
      C.tlbiS2Ipa(),
      C.sync(3),
      [0x03n | (1n << 10n), 0n] as const,
    ]) {
      const start = consRd(kit);
      submit(kit, bad, C.sync());
      expect(consRd(kit)).toBe(start);
      expect(consErr(kit)).toBe(1);
      // Software fixes the command (CMD_SYNC) and acknowledges.
      kit.vmm.ram.writeWords(CMDQ + 16 * (start % 2 ** QLOG2), [...C.sync()]);
      ackErrors(kit);
      expect(consRd(kit)).toBe(kit.prod);
    }
  });

  it('a command fetch outside guest RAM is CERROR_ABT', () => {
    const kit = makeKit();
    boot(kit, { smmuen: false });
    kit.v.write32(OFF.CR0, 0);
    kit.v.write64(OFF.CMDQ_BASE, 0x1000n | BigInt(QLOG2));
    kit.v.write32(OFF.CR0, CR0.CMDQEN);
    kit.v.write32(OFF.CMDQ_PROD, 1);
    expect(consErr(kit)).toBe(2);
  });

  it('registers outside their write window ignore writes', () => {
    const kit = makeKit();
    boot(kit);
    kit.v.write64(OFF.STRTAB_BASE, 0x1234_0000n);
    expect(kit.v.read64(OFF.STRTAB_BASE)).toBe(BigInt(ST));
    kit.v.write64(OFF.CMDQ_BASE, 0n);
    expect(kit.v.read64(OFF.CMDQ_BASE)).toBe(BigInt(CMDQ) | BigInt(QLOG2));
    // ID registers are read-only.
    const idr0 = kit.v.read32(OFF.IDR0);
    kit.v.write32(OFF.IDR0, 0);
    expect(kit.v.read32(OFF.IDR0)).toBe(idr0);
  });

  it('counts every trapped access as a guest exit', () => {
    const kit = makeKit();
    const before = kit.vmm.counters.exits;
    boot(kit);
    submit(kit, C.sync());
    kit.v.read32(OFF.CMDQ_CONS);
    // boot: 8 writes + 2 CR0 writes; submit: 1 PROD write; 1 read.
    expect(kit.vmm.counters.exits - before).toBe(12);
    expect(kit.vmm.counters.exitsByRegister['CMDQ_PROD']).toBe(2);
    expect(kit.vmm.counters.cmdqProdWrites).toBe(2);
  });
});

describe('guest garbage never crashes the VMM', () => {
  it('random register writes and random command words', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: -8, max: 0x2_0010 }),
            fc.oneof(
              fc.integer({ min: 0, max: 0xffff_ffff }),
              fc.constantFrom(0, 0xffff_ffff, 8, 1),
            ),
            fc.boolean(),
          ),
          { maxLength: 60 },
        ),
        fc.array(
          fc.tuple(
            fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          ),
          {
            maxLength: 20,
          },
        ),
        (writes, cmds) => {
          const kit = makeKit();
          boot(kit);
          writeSte(kit, 0x8, s1Ste(CD_TABLE) | (1n << 55n), 0xffff_ffff_ffff_ffffn);
          submit(kit, ...cmds.map((c) => c as readonly [bigint, bigint]));
          for (const [off, val, wide] of writes) {
            if (wide) kit.v.write64(off, BigInt(val) << 7n);
            else kit.v.write32(off, val);
            kit.v.read32(off);
            kit.v.read64(off);
          }
          ackErrors(kit);
          submit(kit, C.cfgiAll(), C.sync());
        },
      ),
      { numRuns: 60 },
    );
  });
});
