// The guest driver's domains, attach and invalidation against the real SMMU model, with DMA from
// the memcpy engine: STE/CD contents and the §13.1 write ordering, data moved through stage-1 and
// stage-2 translations, unmap → TLBI + CMD_SYNC → fault → event read back by the driver, range
// invalidation arithmetic, the two planted bugs leaving stale translations, CERROR recovery, queue
// wrap and event-queue overflow. Expected words are composed here from the field positions of
// IHI 0070 H.a §4 (commands), §5.2 (STE), §5.4 (CD) and §7.3 (events), written out by hand.

import { describe, expect, it } from 'vitest';
import { parseDmesg } from '../../src/arch/decode-input.ts';
import { deviceIdentity } from '../../src/devices/device.ts';
import { MemcpyEngine } from '../../src/devices/dma-engine.ts';
import type { GuestDomain, GuestMaster } from '../../src/guest/arm-smmu-v3.ts';
import {
  bits,
  DATA_BASE,
  type Machine,
  type MachineOptions,
  machine,
  must,
  pattern,
  REG,
} from './guest-kit.ts';

const SID = 0x10;
const IOVA_SRC = 0x10_0000;
const IOVA_DST = 0x20_0000;
const PA_SRC = DATA_BASE;
const PA_DST = DATA_BASE + 0x10_0000;
const ADDR_51_6 = (1n << 52n) - (1n << 6n);
const ADDR_51_4 = (1n << 52n) - (1n << 4n);

interface Rig extends Machine {
  readonly master: GuestMaster;
  readonly domain: GuestDomain;
  readonly engine: MemcpyEngine;
}

/** Machine + one device attached to a fresh paging domain with source and destination mapped. */
function rig(opts: MachineOptions = {}, pages = 2): Rig {
  const m = machine(opts);
  expect(m.probeResult).toBe(0);
  const master = must(m.driver.addDevice({ name: 'edu', sids: [SID] }));
  const domain = must(m.driver.allocDomain());
  expect(m.driver.attach(master, domain)).toBe(0);
  expect(m.driver.map(domain, IOVA_SRC, PA_SRC, pages * 4096)).toBe(0);
  expect(m.driver.map(domain, IOVA_DST, PA_DST, pages * 4096)).toBe(0);
  m.mem.writeBytes(PA_SRC, pattern(pages * 4096, 7));
  const engine = new MemcpyEngine(deviceIdentity({ name: 'edu', streamIds: [SID] }), m.smmu);
  return { ...m, master, domain, engine };
}

/** STE words of a StreamID as the SMMU would read them. */
type Words8 = [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
function ste(m: Machine, sid: number): Words8 {
  return must(m.driver.readSte(sid) ?? -1) as Words8;
}

describe('attach (stage 1)', () => {
  it('writes CD 0 and a CD-table STE with the fields Linux uses', () => {
    const r = rig();
    const s = ste(r, SID);
    // Word 0: V | Config = 0b101 (S1 translate, S2 bypass) | S1Fmt 0 | S1CDMax 0 | S1ContextPtr.
    expect(s[0] & ~ADDR_51_6).toBe(0b1011n);
    // Word 1: S1DSS = 0b10 (substream 0) | S1CIR = WBRA (1) | S1COR = WBRA | S1CSH = ISH (3); no
    // S1STALLD (terminate-only SMMU), EATS 0, STRW NS-EL1.
    expect(s[1]).toBe(0b10n | (1n << 2n) | (1n << 4n) | (3n << 6n));
    expect(s.slice(2)).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);
    const cdPa = Number(s[0] & ADDR_51_6);
    const cd = [0, 1, 2, 3].map((i) => r.mem.read64(cdPa + 8 * i));
    const pt = r.domain.pgtable;
    // CD word 0: T0SZ = 64 − 48, TG0 = 4K (0), IR0/OR0 = WBWA (1), SH0 = ISH, EPD1, V, IPS = 44
    // bits (0b100), AA64, R, A, ASET, ASID = 1 (the first ASID Linux allocates).
    const w0 =
      16n |
      (1n << 8n) |
      (1n << 10n) |
      (3n << 12n) |
      (1n << 30n) |
      (1n << 31n) |
      (4n << 32n) |
      (1n << 41n) |
      (1n << 45n) |
      (1n << 46n) |
      (1n << 47n) |
      (1n << 48n);
    expect(cd[0]).toBe(w0);
    expect(cd[1]).toBe(BigInt(pt.pgd) & ADDR_51_4);
    expect(cd[2]).toBe(0n);
    // io-pgtable-arm MAIR: attr0 = NC (0x44), attr1 = WBRWA (0xff), attr2 = Device-nGnRE (0x04),
    // attr3 = inner NC / outer WB (0xf4).
    expect(cd[3]).toBe(0xf404ff44n);
    expect(r.domain.asid).toBe(1);
  });

  it('orders the CD and STE updates hitlessly: unused bits first, then the critical qword', () => {
    const m = machine();
    const master = must(m.driver.addDevice({ name: 'edu', sids: [SID] }));
    const domain = must(m.driver.allocDomain());
    const stePa = m.driver.stePa(SID) as number;
    const seen: { name: string; ste: bigint[] }[] = [];
    const mark = m.smmu.commandMark();
    // Snapshot the STE whenever the SMMU executes a command.
    const unobserve = m.mem.observe(() => {});
    unobserve();
    const snapshot = () => [0, 1, 2, 3].map((i) => m.mem.read64(stePa + 8 * i));
    const origTranslate = m.t.execute.bind(m.t);
    m.t.execute = (op, w0, w1) => {
      seen.push({ name: `op${op}`, ste: snapshot() });
      origTranslate(op, w0, w1);
    };
    expect(m.driver.attach(master, domain)).toBe(0);
    const names = m.smmu.commandsSince(mark).map((c) => c.name);
    // CD 0 goes from V=0 (only V used) to valid: words 1 and 3 first, then word 0 (2 syncs);
    // the STE goes from abort (V, Config used) to S1: word 1 first, then word 0 (2 syncs); then the
    // prefetch Linux issues after every STE write.
    expect(names).toEqual([
      'CFGI_CD',
      'CMD_SYNC',
      'CFGI_CD',
      'CMD_SYNC',
      'CFGI_STE',
      'CMD_SYNC',
      'CFGI_STE',
      'CMD_SYNC',
      'PREFETCH_CONFIG',
    ]);
    const cfgiSte = seen.filter((s) => s.name === 'op3');
    expect(cfgiSte.length).toBe(2);
    // At the first CFGI_STE the SMMU still sees the abort word 0 next to the new word 1 ...
    expect(cfgiSte[0]?.ste[0]).toBe(1n);
    expect(cfgiSte[0]?.ste[1]).toBe(0xd6n);
    // ... and only the second publishes Config = S1.
    expect(bits(cfgiSte[1]?.ste[0] ?? 0n, 3, 1)).toBe(0b101);
    // Each CFGI_STE names the StreamID with Leaf = 1.
    for (const c of m.smmu.commandsSince(mark).filter((x) => x.name === 'CFGI_STE')) {
      expect(bits(c.words[0], 63, 32)).toBe(SID);
      expect(bits(c.words[1], 0, 0)).toBe(1);
    }
  });

  it('detaches to an abort STE: V/Config first, stale S1 fields cleaned afterwards, CD cleared', () => {
    const r = rig();
    const stePa = r.driver.stePa(SID) as number;
    const w1AtSync: bigint[] = [];
    const orig = r.t.execute.bind(r.t);
    r.t.execute = (op, w0, w1) => {
      if (op === 0x03) w1AtSync.push(r.mem.read64(stePa + 8));
      orig(op, w0, w1);
    };
    const mark = r.smmu.commandMark();
    expect(r.driver.detach(r.master)).toBe(0);
    expect(r.smmu.commandsSince(mark).map((c) => c.name)).toEqual([
      'CFGI_STE',
      'CMD_SYNC',
      'CFGI_STE',
      'CMD_SYNC',
      'PREFETCH_CONFIG',
      'CFGI_CD',
      'CMD_SYNC',
      'CFGI_CD',
      'CMD_SYNC',
    ]);
    // The S1 fields of word 1 survive the first sync (the abort STE ignores them).
    expect(w1AtSync).toEqual([0xd6n, 0n]);
    expect(ste(r, SID)).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 16 }).ok).toBe(false);
  });
});

describe('DMA through the guest stage-1 domain', () => {
  it('copies data between two mapped buffers, two transactions per 4 KiB chunk', () => {
    const r = rig({}, 3);
    const res = r.engine.copy({ src: IOVA_SRC + 0x10, dst: IOVA_DST + 0x10, len: 3 * 4096 - 0x20 });
    expect(res.ok).toBe(true);
    expect(res.copied).toBe(3 * 4096 - 0x20);
    // Chunks end at the 4 KiB boundaries of both addresses (same offset): 3 reads + 3 writes.
    expect(res.transactions).toBe(6);
    expect(r.mem.readBytes(PA_DST + 0x10, 3 * 4096 - 0x20)).toEqual(
      pattern(3 * 4096, 7).subarray(0x10, 3 * 4096 - 0x10),
    );
    expect(r.driver.iovaToPhys(r.domain, IOVA_SRC + 0x123)).toBe(PA_SRC + 0x123);
  });

  it('unmap invalidates (TLBI_NH_VA + CMD_SYNC) and the next DMA faults with an event the driver reads', () => {
    const r = rig();
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 8192 }).ok).toBe(true);
    const mark = r.smmu.commandMark();
    expect(r.driver.unmap(r.domain, IOVA_SRC, 8192)).toBe(8192);
    const cmds = r.smmu.commandsSince(mark);
    expect(cmds.map((c) => c.name)).toEqual(['TLBI_NH_VA', 'CMD_SYNC']);
    const [w0, w1] = cmds[0]?.words ?? [0n, 0n];
    // Range form (RIL): 2 pages = (NUM + 1) × 2^SCALE with NUM = 0, SCALE = 1; TG = 4K (1),
    // TTL = 3 (level-3 leaves), Leaf = 1, ASID = 1, VMID 0, Addr = the IOVA.
    expect(w0).toBe(0x12n | (0n << 12n) | (1n << 20n) | (1n << 48n));
    expect(w1).toBe(1n | (3n << 8n) | (1n << 10n) | BigInt(IOVA_SRC));
    const ev0 = r.driver.eventMark();
    const res = r.engine.copy({ src: IOVA_SRC + 0x40, dst: IOVA_DST, len: 64 });
    expect(res.ok).toBe(false);
    expect(res.copied).toBe(0);
    expect(res.fault?.reason).toBe('translation');
    expect(res.fault?.iova).toBe(BigInt(IOVA_SRC + 0x40));
    const evs = r.driver.processEvents();
    expect(r.driver.eventsSince(ev0)).toEqual(evs);
    expect(evs.length).toBe(1);
    const e = evs[0];
    expect(e?.record.type).toBe('F_TRANSLATION');
    expect(e?.client).toBe('edu');
    expect(e?.sid).toBe(SID);
    const raw = e?.record.raw ?? [0n, 0n, 0n, 0n];
    // Word 0: EventID 0x10, StreamID; word 1: RnW (bit 35) = read, CLASS (41:40) = IN (2), S2 = 0;
    // word 2: the input address.
    expect(raw[0]).toBe(0x10n | (BigInt(SID) << 32n));
    expect(raw[1]).toBe((1n << 35n) | (2n << 40n));
    expect(raw[2]).toBe(BigInt(IOVA_SRC + 0x40));
    // Linux prints these fields with %#x (zero as "0").
    expect(r.driver.messages).toContain(
      `arm-smmu-v3 9050000.smmuv3: event: F_TRANSLATION client: edu sid: 0x10 ssid: 0 iova: 0x${(IOVA_SRC + 0x40).toString(16)} ipa: 0`,
    );
    expect(r.driver.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: unpriv data read s1 "Input address caused fault" stag: 0',
    );
    // The log reads like dmesg: `vsmmu decode --dmesg` finds the same record in it.
    const scan = parseDmesg(r.driver.messages.join('\n'));
    expect(scan.problems).toEqual([]);
    expect(scan.events.map((x) => [x.device, x.words])).toEqual([['9050000.smmuv3', raw]]);
    // The driver consumed the record: CONS caught up with PROD.
    expect(r.smmu.mmioRead(REG.EVENTQ_CONS, 4)).toBe(r.smmu.mmioRead(REG.EVENTQ_PROD, 4));
  });

  it('splits invalidations into range commands that tile the unmapped range exactly', () => {
    for (const pages of [1, 2, 3, 31, 32, 33, 63, 64, 65, 67, 100, 255, 300]) {
      const r = rig({}, 1);
      const iova = 0x4000_1000;
      expect(r.driver.map(r.domain, iova, DATA_BASE, pages * 4096)).toBe(0);
      const mark = r.smmu.commandMark();
      expect(r.driver.unmap(r.domain, iova, pages * 4096)).toBe(pages * 4096);
      const tlbis = r.smmu.commandsSince(mark).filter((c) => c.name === 'TLBI_NH_VA');
      // Reference (§4.4.1.1): a command covers (NUM + 1) × 2^SCALE pages from Addr.
      let next = iova;
      for (const c of tlbis) {
        const num = bits(c.words[0], 16, 12);
        const scale = bits(c.words[0], 24, 20);
        expect(bits(c.words[1], 11, 10)).toBe(1);
        expect(bits(c.words[1], 9, 8)).toBe(3);
        expect(Number(c.words[1] >> 12n) * 4096).toBe(next);
        next += (num + 1) * 2 ** scale * 4096;
      }
      expect(next).toBe(iova + pages * 4096);
      // One command per 5-bit group of the page count (Linux's greedy split).
      let groups = 0;
      for (let n = pages; n > 0; ) {
        let s = 0;
        while ((n >> s) % 2 === 0) s++;
        n -= ((n >> s) % 32) << s;
        groups++;
      }
      expect(tlbis.length).toBe(groups);
    }
  });

  it('unmapping a range that freed a page table invalidates the walk first (Leaf = 0)', () => {
    const r = rig({}, 1);
    const iova = 0x4000_0000;
    // 512 pages fill one level-3 table under a 2 MiB-aligned IOVA (mapped one page at a time, so
    // no block is used); unmapping the whole 2 MiB removes the table (io-pgtable tlb_flush_walk).
    for (let i = 0; i < 512; i++) {
      expect(r.driver.map(r.domain, iova + i * 4096, DATA_BASE + i * 4096, 4096)).toBe(0);
    }
    r.engine.copy({ src: iova, dst: IOVA_DST, len: 64 });
    const mark = r.smmu.commandMark();
    expect(r.driver.unmap(r.domain, iova, 2 ** 21)).toBe(2 ** 21);
    const cmds = r.smmu.commandsSince(mark);
    // 512 pages = (NUM 0 + 1) × 2^9; Leaf = 0 and TTL = 0 (any level: the walk cache too).
    expect(cmds.slice(0, 2).map((c) => c.name)).toEqual(['TLBI_NH_VA', 'CMD_SYNC']);
    expect(cmds[0]?.words).toEqual([0x12n | (9n << 20n) | (1n << 48n), (1n << 10n) | BigInt(iova)]);
    expect(r.engine.copy({ src: iova, dst: IOVA_DST, len: 64 }).ok).toBe(false);
  });

  it('without RIL issues one plain TLBI_NH_VA per page', () => {
    const r = rig({ features: { ril: false } }, 1);
    const iova = 0x4000_0000;
    expect(r.driver.map(r.domain, iova, DATA_BASE, 5 * 4096)).toBe(0);
    const mark = r.smmu.commandMark();
    r.driver.unmap(r.domain, iova, 5 * 4096);
    const cmds = r.smmu.commandsSince(mark);
    expect(cmds.map((c) => c.name)).toEqual([...Array(5).fill('TLBI_NH_VA'), 'CMD_SYNC']);
    cmds.slice(0, 5).forEach((c, i) => {
      // NUM, SCALE, TG, TTL all zero; Leaf = 1.
      expect(c.words[0]).toBe(0x12n | (1n << 48n));
      expect(c.words[1]).toBe(1n | BigInt(iova + i * 4096));
    });
  });
});

describe('planted driver bugs leave stale translations', () => {
  it('the correct driver: DMA after unmap faults', () => {
    const r = rig();
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(false);
  });

  it('forgetTlbiOnUnmap: no invalidation is issued and the cached translation still serves DMA', () => {
    const r = rig({ driver: { bugs: { forgetTlbiOnUnmap: true } } });
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    const mark = r.smmu.commandMark();
    expect(r.driver.unmap(r.domain, IOVA_SRC, 4096)).toBe(4096);
    expect(r.smmu.commandsSince(mark)).toEqual([]);
    expect(r.driver.iovaToPhys(r.domain, IOVA_SRC)).toBe(0);
    // The PTE is gone but the SMMU TLB still holds it: the DMA succeeds on stale state.
    r.mem.writeBytes(PA_SRC, pattern(4096, 99));
    const res = r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    expect(res.ok).toBe(true);
    expect(r.mem.readBytes(PA_DST, 4096)).toEqual(pattern(4096, 99));
  });

  it('invalidateWrongAsid: the TLBI names ASID + 1 and the stale translation survives', () => {
    const r = rig({ driver: { bugs: { invalidateWrongAsid: true } } });
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    const mark = r.smmu.commandMark();
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    const tlbi = r.smmu.commandsSince(mark).find((c) => c.name === 'TLBI_NH_VA');
    expect(bits(tlbi?.words[0] ?? 0n, 63, 48)).toBe(r.domain.asid + 1);
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
    // Invalidating the right ASID afterwards removes it.
    r.driver.flushIotlbAll(r.domain);
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(false);
  });

  it('bugs can be switched on at run time', () => {
    const r = rig();
    r.driver.bugs.forgetTlbiOnUnmap = true;
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 });
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096 }).ok).toBe(true);
  });
});

describe('stage-2-only SMMU', () => {
  it('allocates a VMID domain, writes an S2 STE and invalidates with TLBI_S2_IPA', () => {
    const r = rig({ features: { s1p: false } });
    expect(r.domain.stage).toBe(2);
    expect(r.domain.vmid).toBe(1);
    const s = ste(r, SID);
    // V | Config = 0b110.
    expect(s[0]).toBe(0b1101n);
    expect(s[1]).toBe(0n);
    // S2VMID 1; S2T0SZ = 64 − 44; S2SL0 = 2 (4K granule, walk from level 0: 44 − 12 = 32 bits
    // need 4 levels); S2IR0 = S2OR0 = WBWA; S2SH0 = ISH; S2TG = 4K; S2PS = 44 bits (4); S2AA64,
    // S2PTW, S2R.
    const w2 =
      1n |
      (20n << 32n) |
      (2n << 38n) |
      (1n << 40n) |
      (1n << 42n) |
      (3n << 44n) |
      (4n << 48n) |
      (1n << 51n) |
      (1n << 54n) |
      (1n << 58n);
    expect(s[2]).toBe(w2);
    expect(s[3]).toBe(BigInt(r.domain.pgtable.pgd));
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 8192 }).ok).toBe(true);
    expect(r.mem.readBytes(PA_DST, 8192)).toEqual(pattern(8192, 7));
    const mark = r.smmu.commandMark();
    r.driver.unmap(r.domain, IOVA_DST, 4096);
    const cmds = r.smmu.commandsSince(mark);
    expect(cmds.map((c) => c.name)).toEqual(['TLBI_S2_IPA', 'CMD_SYNC']);
    // VMID 1 in [47:32], NUM 0, SCALE 0; Leaf, TTL 3, TG 4K, IPA.
    expect(cmds[0]?.words[0]).toBe(0x2an | (1n << 32n));
    expect(cmds[0]?.words[1]).toBe(1n | (3n << 8n) | (1n << 10n) | BigInt(IOVA_DST));
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 16 }).ok).toBe(false);
    const e = r.driver.processEvents()[0];
    expect(e?.record.type).toBe('F_TRANSLATION');
    // A stage-2 fault: S2 (bit 39) set, the IPA reported, write access.
    expect(bits(e?.record.raw[1] ?? 0n, 39, 39)).toBe(1);
    expect(bits(e?.record.raw[1] ?? 0n, 35, 35)).toBe(0);
  });
});

describe('default domains and hot-unplug', () => {
  it('identity: a bypass STE, DMA at IOVA = PA', () => {
    const m = machine({ driver: { defaultDomain: 'identity' } });
    must(m.driver.addDevice({ name: 'edu', sids: [SID] }));
    // V | Config = 0b100 (bypass); no SHCFG without ATTR_TYPES_OVR.
    expect(ste(m, SID)).toEqual([0b1001n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    m.mem.writeBytes(PA_SRC, pattern(256, 3));
    const e = new MemcpyEngine(deviceIdentity({ name: 'edu', streamIds: [SID] }), m.smmu);
    expect(e.copy({ src: PA_SRC, dst: PA_DST, len: 256 }).ok).toBe(true);
    expect(m.mem.readBytes(PA_DST, 256)).toEqual(pattern(256, 3));
  });

  it('identity with ATTR_TYPES_OVR sets SHCFG = incoming', () => {
    const m = machine({ features: { attrTypesOvr: true }, driver: { defaultDomain: 'identity' } });
    must(m.driver.addDevice({ name: 'edu', sids: [SID] }));
    expect(ste(m, SID).slice(0, 2)).toEqual([0b1001n, 1n << 44n]);
  });

  it('hot-unplug puts an abort STE back: DMA is terminated silently', () => {
    const r = rig();
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 64 }).ok).toBe(true);
    r.driver.removeDevice(r.master);
    expect(ste(r, SID)).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(r.driver.masterOf(SID)).toBeUndefined();
    const res = r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 64 });
    expect(res.ok).toBe(false);
    // STE.Config = abort records no event.
    expect(res.fault?.event).toBeUndefined();
    expect(r.driver.processEvents()).toEqual([]);
    expect(r.driver.attach(r.master, r.domain)).toBe(-19);
    // The domain has no device left and can be freed.
    expect(r.driver.freeDomain(r.domain)).toBe(0);
  });

  it('refuses to free a domain that is attached', () => {
    const r = rig();
    expect(r.driver.freeDomain(r.domain)).toBe(-16);
  });
});

describe('PASIDs', () => {
  it('attaches SubstreamID 3 to a stage-1 domain; DMA with that PASID is translated', () => {
    const m = machine({ features: { ssidSize: 4 } });
    const master = must(m.driver.addDevice({ name: 'edu', sids: [SID], pasidBits: 4 }));
    expect(master.ssidBits).toBe(4);
    const d = must(m.driver.allocDomain());
    expect(m.driver.map(d, IOVA_SRC, PA_SRC, 4096)).toBe(0);
    expect(m.driver.map(d, IOVA_DST, PA_DST, 4096)).toBe(0);
    expect(m.driver.attachPasid(master, 3, d)).toBe(0);
    const s = ste(m, SID);
    // Config S1, S1CDMax = 4 (16 CDs), S1DSS = terminate (the RID is blocked).
    expect(bits(s[0] ?? 0n, 3, 1)).toBe(0b101);
    expect(bits(s[0] ?? 0n, 63, 59)).toBe(4);
    expect(bits(s[1] ?? 0n, 1, 0)).toBe(0);
    const cd3 = must(m.driver.readCd(master, 3) ?? -1);
    expect(bits(cd3[0] ?? 0n, 31, 31)).toBe(1);
    expect(bits(cd3[0] ?? 0n, 63, 48)).toBe(d.asid);
    expect(bits(must(m.driver.readCd(master, 0) ?? -1)[0] ?? 0n, 31, 31)).toBe(0);
    m.mem.writeBytes(PA_SRC, pattern(4096, 5));
    const e = new MemcpyEngine(
      deviceIdentity({ name: 'edu', streamIds: [SID], pasidBits: 4 }),
      m.smmu,
    );
    expect(e.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 4096, ssid: 3 }).ok).toBe(true);
    expect(m.mem.readBytes(PA_DST, 4096)).toEqual(pattern(4096, 5));
    // Without a PASID the RID is blocked (S1DSS = terminate).
    expect(e.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 64 }).ok).toBe(false);
    // Another PASID has no valid CD.
    expect(e.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 64, ssid: 4 }).ok).toBe(false);
    expect(m.driver.detachPasid(master, 3)).toBe(0);
    expect(ste(m, SID)).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    expect(e.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 64, ssid: 3 }).ok).toBe(false);
  });

  it('uses a 2-level CD table with CD2L when the PASID space exceeds 1024 contexts', () => {
    const m = machine({ features: { ssidSize: 12, cd2l: true } });
    const master = must(m.driver.addDevice({ name: 'edu', sids: [SID], pasidBits: 12 }));
    const d = must(m.driver.allocDomain());
    const mark = m.smmu.commandMark();
    expect(m.driver.attachPasid(master, 1500, d)).toBe(0);
    const s = ste(m, SID);
    // S1Fmt = 2 (64 KiB leaves), S1CDMax = 12.
    expect(bits(s[0] ?? 0n, 5, 4)).toBe(2);
    expect(bits(s[0] ?? 0n, 63, 59)).toBe(12);
    const l1 = Number((s[0] ?? 0n) & ADDR_51_6);
    // PASID 1500 lives in leaf 1 (1024 CDs per leaf): L1CD V = 1, L2Ptr [51:12].
    const desc = m.mem.read64(l1 + 8);
    expect(bits(desc, 0, 0)).toBe(1);
    expect(m.mem.read64(l1)).toBe(0n);
    const leaf = Number(desc & ((1n << 52n) - (1n << 12n)));
    expect(bits(m.mem.read64(leaf + (1500 - 1024) * 64), 31, 31)).toBe(1);
    // A new L1CD is synchronised with CFGI_CD Leaf = 0 before the CD itself is written.
    const first = m.smmu.commandsSince(mark)[0];
    expect(first?.name).toBe('CFGI_CD');
    expect(bits(first?.words[1] ?? 1n, 0, 0)).toBe(0);
  });
});

describe('ATS', () => {
  it('enables EATS for an ATS device and invalidates its ATC on attach and unmap', () => {
    const m = machine({ features: { ats: true } });
    const master = must(m.driver.addDevice({ name: 'nic', sids: [SID], ats: true }));
    const d = must(m.driver.allocDomain());
    const mark = m.smmu.commandMark();
    expect(m.driver.attach(master, d)).toBe(0);
    // EATS (29:28) = 0b01 (full ATS).
    expect(bits(ste(m, SID)[1] ?? 0n, 29, 28)).toBe(1);
    const atc = m.smmu.commandsSince(mark).filter((c) => c.name === 'ATC_INV');
    // Enabling ATS flushes the whole ATC: Size = 52, SSV = 0.
    expect(atc.length).toBe(1);
    expect(bits(atc[0]?.words[1] ?? 0n, 5, 0)).toBe(52);
    expect(m.driver.map(d, 0x10_0000, PA_SRC, 0x3000)).toBe(0);
    const mark2 = m.smmu.commandMark();
    m.driver.unmap(d, 0x10_1000, 0x2000);
    const cmds = m.smmu.commandsSince(mark2);
    expect(cmds.map((c) => c.name)).toEqual(['TLBI_NH_VA', 'CMD_SYNC', 'ATC_INV', 'CMD_SYNC']);
    // Pages 0x101 and 0x102 differ in bits 0..1 → span 2^2 pages from page 0x100.
    const w1 = cmds[2]?.words[1] ?? 0n;
    expect(bits(w1, 5, 0)).toBe(2);
    expect(w1 >> 12n).toBe(0x100n);
    expect(bits(cmds[2]?.words[0] ?? 0n, 63, 32)).toBe(SID);
  });
});

describe('command queue', () => {
  it('recovers from CERROR_ILL: logs, turns the command into a CMD_SYNC, acknowledges GERRORN', () => {
    const r = rig();
    const cq = r.driver.layout.cmdq;
    const prod = r.smmu.mmioRead(REG.CMDQ_PROD, 4);
    // Opcode 0x00 is reserved → CERROR_ILL.
    expect(r.driver.submitCommands([[0xdead_0000_0000_0000n, 0x1234n]])).toBe(0);
    const idx = prod;
    const consHex = (0x0100_0000 + idx).toString(16).padStart(8, '0');
    expect(r.driver.messages).toContain(
      `arm-smmu-v3 9050000.smmuv3: CMDQ error (cons 0x${consHex}): Illegal command`,
    );
    expect(r.driver.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: skipping command in error state:',
    );
    expect(r.driver.messages).toContain('arm-smmu-v3 9050000.smmuv3: \t0xdead000000000000');
    // The slot now holds CMD_SYNC: opcode 0x46, CS = SEV (2), MSH = ISH (3), MSIAttr = 0xf.
    expect(r.mem.read64(cq + idx * 16)).toBe(0x46n | (2n << 12n) | (3n << 22n) | (0xfn << 24n));
    expect(r.driver.stats.commandErrors).toBe(1);
    expect(r.smmu.mmioRead(REG.GERROR, 4)).toBe(r.smmu.mmioRead(REG.GERRORN, 4));
    // The queue runs again.
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 64 }).ok).toBe(true);
    expect(r.driver.unmap(r.domain, IOVA_SRC, 4096)).toBe(4096);
    expect(r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 64 }).ok).toBe(false);
  });

  it('wraps the queue: PROD/CONS wrap bits toggle and every command executes', () => {
    const m = machine({ features: { cmdqs: 7 } });
    expect(m.driver.features.cmdqShift).toBe(7);
    const mark = m.smmu.commandMark();
    for (let i = 0; i < 100; i++) {
      expect(m.driver.issue({ op: 'TLBI_NH_ASID', vmid: 0, asid: i + 1 })).toBe(0);
    }
    // 4 entries at reset + 100 × (TLBI + SYNC) = 204 entries = 0b1_1001100: index 76, wrap 1.
    expect(m.smmu.mmioRead(REG.CMDQ_PROD, 4)).toBe(204 - 128 + 128);
    expect(m.smmu.mmioRead(REG.CMDQ_CONS, 4)).toBe(204);
    expect(m.smmu.commandsSince(mark).length).toBe(200);
    // A long list is issued in batches of 64 plus a final CMD_SYNC.
    const many = Array.from({ length: 200 }, (_, i) => [0x11n | (BigInt(i) << 48n), 0n] as const);
    const mark2 = m.smmu.commandMark();
    expect(m.driver.submitCommands(many)).toBe(0);
    const done = m.smmu.commandsSince(mark2);
    expect(done.length).toBe(201);
    expect(done.map((c) => bits(c.words[0], 63, 48)).slice(0, 200)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
  });
});

describe('event queue', () => {
  it('detects and acknowledges an overflow', () => {
    const r = rig({ features: { eventqs: 2 } });
    expect(r.driver.features.evtqShift).toBe(2);
    r.driver.unmap(r.domain, IOVA_SRC, 8192);
    for (let i = 0; i < 6; i++) {
      expect(r.engine.copy({ src: IOVA_SRC + i * 64, dst: IOVA_DST, len: 8 }).ok).toBe(false);
    }
    // Four records fit; the fifth is lost and toggles EVENTQ_PROD.OVFLG (bit 31).
    expect(r.smmu.mmioRead(REG.EVENTQ_PROD, 4) >>> 31).toBe(1);
    const evs = r.driver.processEvents();
    expect(evs.length).toBe(4);
    expect(evs.map((e) => e.record.raw[2])).toEqual(
      [0, 1, 2, 3].map((i) => BigInt(IOVA_SRC + i * 64)),
    );
    expect(r.driver.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: EVTQ overflow detected -- events lost',
    );
    expect(r.driver.stats.eventOverflows).toBe(1);
    // OVACKFLG copied from OVFLG: the overflow is acknowledged.
    expect(r.smmu.mmioRead(REG.EVENTQ_CONS, 4) >>> 31).toBe(1);
    // New faults are recorded again.
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 8 });
    expect(r.driver.processEvents().length).toBe(1);
    expect(r.driver.stats.eventOverflows).toBe(1);
  });

  it('with wired interrupts the event thread runs by itself', () => {
    const r = rig({ wired: true });
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    const before = r.driver.events.length;
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 8 });
    expect(r.driver.events.length).toBe(before + 1);
    expect(r.smmu.mmioRead(REG.EVENTQ_CONS, 4)).toBe(r.smmu.mmioRead(REG.EVENTQ_PROD, 4));
  });

  it('with MSIs routed to the doorbell the event thread runs by itself', () => {
    const r = rig({
      features: { msi: true },
      driver: { msiDoorbell: 0x0900_0040, interrupts: 'wired' },
      msiWired: true,
    });
    r.driver.unmap(r.domain, IOVA_SRC, 4096);
    r.engine.copy({ src: IOVA_SRC, dst: IOVA_DST, len: 8 });
    expect(r.driver.events.length).toBe(1);
  });
});

describe('PRI queue', () => {
  it('logs an unexpected page request and denies its group with PRI_RESP', () => {
    const m = machine({ features: { pri: true, priqs: 4 } });
    expect(m.probeResult).toBe(0);
    // CR0: PRIQEN (bit 1) joins SMMUEN | EVENTQEN | CMDQEN; IRQ_CTRL gains PRIQ_IRQEN.
    expect(m.smmu.mmioRead(REG.CR0ACK, 4)).toBe(0xf);
    expect(m.smmu.mmioRead(REG.IRQ_CTRL, 4)).toBe(7);
    // StreamID 0x42 [31:0], R (bit 60), Last (bit 62); PRG index 5, page 0x1234000.
    const w0 = 0x42n | (1n << 60n) | (1n << 62n);
    const w1 = 5n | 0x123_4000n;
    expect(m.smmu.recordPageRequest([w0, w1])).toBe('written');
    const mark = m.smmu.commandMark();
    expect(m.driver.processPageRequests()).toEqual([[w0, w1]]);
    expect(m.driver.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: \tsid 0x00000042.0x00000: [5L] unprivileged R access at iova 0x0000000001234000',
    );
    const resp = m.smmu.commandsSince(mark);
    expect(resp.map((c) => c.name)).toEqual(['PRI_RESP']);
    // SID [63:32]; PRGIndex [8:0]; Resp [13:12] = 0 (DENY, ResponseFailure).
    expect(resp[0]?.words).toEqual([0x41n | (0x42n << 32n), 5n]);
  });
});
