// The guest driver's probe and reset against the SMMU hardware model (bare metal: guest RAM is the
// SMMU's memory). Expected register values are derived here from the SMMU register layout
// (IHI 0070 H.a §6.3) and from what Linux's arm_smmu_device_reset writes (arm-smmu-v3.c), written
// out field by field.

import { describe, expect, it } from 'vitest';
import { GuestArmSmmuV3 } from '../../src/guest/arm-smmu-v3.ts';
import { createGuestRam } from '../../src/guest/guest-ram.ts';
import { mmioFromRegion } from '../../src/guest/mmio.ts';
import { bits, machine, REG } from './guest-kit.ts';

const ENXIO = -6;
const ENOMEM = -12;

/** Linux's CR1: table and queue accesses Inner Shareable (3), write-back (1) inner and outer. */
const CR1_EXPECTED = (3 << 10) | (1 << 8) | (1 << 6) | (3 << 4) | (1 << 2) | 1;
/** CR2: PTM (bit 2) | RECINVSID (bit 1). */
const CR2_EXPECTED = (1 << 2) | (1 << 1);
const RA = 1n << 62n;

describe('guest driver probe (QEMU virt ID registers)', () => {
  it('derives the features Linux would from the ID registers', () => {
    const m = machine();
    expect(m.probeResult).toBe(0);
    const f = m.driver.features;
    // QEMU 10 virt: IDR0 = 0x0d44101b, IDR1 = 0x02730010, IDR3 = 0x1414, IDR5 = 0x74.
    expect(f.stage1 && f.stage2 && f.nesting).toBe(true);
    expect(f.twoLevelStrtab).toBe(true); // ST_LEVEL = 1 and SIDSIZE 16 > STRTAB_SPLIT 8
    expect(f.twoLevelCdtab).toBe(false); // CD2L = 0
    expect(f.rangeInv).toBe(true); // IDR3 bit 10
    expect(f.asidBits).toBe(16);
    expect(f.vmidBits).toBe(16);
    expect(f.sidBits).toBe(16);
    expect(f.ssidBits).toBe(0);
    expect(f.oas).toBe(44); // IDR5.OAS = 4
    expect(f.ias).toBe(44);
    expect(f.stalls).toBe(false); // STALL_MODEL = 1: terminate only
    expect(f.coherent).toBe(true); // COHACC
    expect(f.msi || f.msiPoll || f.ats || f.pri || f.hyp).toBe(false);
    // 4K|2M|1G, 16K|32M, 64K|512M.
    const pg = 2 ** 12 + 2 ** 21 + 2 ** 30 + 2 ** 14 + 2 ** 25 + 2 ** 16 + 2 ** 29;
    expect(f.pgsizeBitmap).toBe(pg);
    // Queues capped by MAX_PAGE_ORDER 10: 2^22 bytes → 2^18 commands, 2^17 events.
    expect(f.cmdqShift).toBe(18);
    expect(f.evtqShift).toBe(17);
    expect(m.driver.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: ias 44-bit, oas 44-bit (features 0x01088705)',
    );
  });

  it('resets the SMMU in Linux order, acknowledging every CR0 and IRQ_CTRL write', () => {
    const m = machine();
    const lay = m.driver.layout;
    const writes = m.mmio.log
      .filter((a) => a.kind === 'w32' || a.kind === 'w64')
      .map((a) => [a.offset, a.value] as const);
    // 2-level table: 2^16 StreamIDs / 2^8 per level-2 table = 256 L1 descriptors.
    const strtabCfg = (1 << 16) | (8 << 6) | 16;
    expect(writes).toEqual([
      [REG.CR0, 0n],
      [REG.CR1, BigInt(CR1_EXPECTED)],
      [REG.CR2, BigInt(CR2_EXPECTED)],
      [REG.STRTAB_BASE, BigInt(lay.strtab) | RA],
      [REG.STRTAB_BASE_CFG, BigInt(strtabCfg)],
      [REG.CMDQ_BASE, BigInt(lay.cmdq) | RA | 18n],
      [REG.CMDQ_PROD, 0n],
      [REG.CMDQ_CONS, 0n],
      [REG.CR0, 8n], // CMDQEN
      [REG.CMDQ_PROD, 2n], // CFGI_ALL + CMD_SYNC
      [REG.CMDQ_PROD, 4n], // TLBI_NSNH_ALL + CMD_SYNC
      [REG.EVENTQ_BASE, BigInt(lay.evtq) | RA | 17n],
      [REG.EVENTQ_PROD, 0n],
      [REG.EVENTQ_CONS, 0n],
      [REG.CR0, 8n | 4n], // + EVENTQEN
      [REG.IRQ_CTRL, 0n],
      [REG.GERROR_IRQ_CFG0, 0n],
      [REG.EVENTQ_IRQ_CFG0, 0n],
      [REG.IRQ_CTRL, 5n], // EVENTQ_IRQEN | GERROR_IRQEN
      [REG.CR0, 8n | 4n | 1n], // + SMMUEN
    ]);
    // Every CR0 write is followed by a CR0ACK read before the next write (arm_smmu_write_reg_sync).
    const log = m.mmio.log;
    log.forEach((a, i) => {
      if (a.kind === 'w32' && a.offset === REG.CR0) {
        expect(log[i + 1]).toMatchObject({ kind: 'r32', offset: REG.CR0ACK, value: a.value });
      }
      if (a.kind === 'w32' && a.offset === REG.IRQ_CTRL) {
        expect(log[i + 1]).toMatchObject({ kind: 'r32', offset: REG.IRQ_CTRLACK, value: a.value });
      }
    });
    expect(m.smmu.mmioRead(REG.CR0ACK, 4)).toBe(0xd);
    expect(m.smmu.commandsSince(0).map((c) => c.name)).toEqual([
      'CFGI_ALL',
      'CMD_SYNC',
      'TLBI_NSNH_ALL',
      'CMD_SYNC',
    ]);
    // Natural alignment of what the SMMU reads.
    expect(lay.cmdq % (2 ** 18 * 16)).toBe(0);
    expect(lay.evtq % (2 ** 17 * 32)).toBe(0);
    expect(lay.strtab % (256 * 8)).toBe(0);
  });

  it('issues TLBI_EL2_ALL at reset when the SMMU has EL2 support, and sets ATSCHK with ATS', () => {
    const m = machine({ features: { hyp: true, ats: true } });
    expect(m.smmu.commandsSince(0).map((c) => c.name)).toEqual([
      'CFGI_ALL',
      'CMD_SYNC',
      'TLBI_EL2_ALL',
      'CMD_SYNC',
      'TLBI_NSNH_ALL',
      'CMD_SYNC',
    ]);
    // SMMUEN | EVENTQEN | CMDQEN | ATSCHK (bit 4).
    expect(m.smmu.mmioRead(REG.CR0ACK, 4)).toBe(0x1d);
  });

  it('aborts bypass through GBPA before resetting an SMMU that is already enabled', () => {
    const m = machine();
    const second = new GuestArmSmmuV3({
      mmio: mmioFromRegion(m.smmu),
      ram: createGuestRam(m.mem, 0x6000_0000, 0x1000_0000),
    });
    expect(second.probe()).toBe(0);
    expect(second.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: SMMU currently enabled! Resetting...',
    );
    // QEMU reset GBPA 0x1000 (SHCFG = incoming) with ABORT (bit 20) set; Update reads 0 again.
    expect(m.smmu.mmioRead(REG.GBPA, 4)).toBe(0x1000 | (1 << 20));
  });

  it('uses a linear stream table of abort STEs when SIDSIZE fits one level-2 table', () => {
    const m = machine({ features: { sidSize: 6 } });
    expect(m.probeResult).toBe(0);
    expect(m.driver.features.twoLevelStrtab).toBe(false);
    // FMT = 0 (linear), LOG2SIZE = SIDSIZE.
    expect(m.smmu.mmioRead(REG.STRTAB_BASE_CFG, 4)).toBe(6);
    const base = m.driver.layout.strtab;
    for (let sid = 0; sid < 64; sid++) {
      // V = 1, Config = 0b000 (abort): word 0 = 1, the rest 0.
      expect(m.mem.read64(base + sid * 64)).toBe(1n);
      for (let w = 1; w < 8; w++) expect(m.mem.read64(base + sid * 64 + 8 * w)).toBe(0n);
    }
  });

  it('uses a linear table when the SMMU has no 2-level support, whatever SIDSIZE', () => {
    const m = machine({ features: { stLevel: 0, sidSize: 10 } });
    expect(m.smmu.mmioRead(REG.STRTAB_BASE_CFG, 4)).toBe(10);
    expect(m.driver.layout.strtabFormat).toBe('linear');
  });

  it('fails like Linux on hardware it does not support', () => {
    const cases = [
      [{ s1p: false, s2p: false }, 'no translation support!'],
      [{ ttendian: 3 }, 'unknown/unsupported TT endianness!'],
      [{ ttf: 1 }, 'AArch64 table format not supported!'],
      [{ tablesPreset: true }, 'embedded implementation not supported'],
      [{ cmdqs: 6 }, 'command queue size <= 64 entries not supported'],
    ] as const;
    for (const [features, msg] of cases) {
      const m = machine({ features });
      expect(m.probeResult).toBe(ENXIO);
      expect(m.driver.ready).toBe(false);
      expect(m.driver.messages.some((l) => l.endsWith(msg))).toBe(true);
      // Nothing was written to the SMMU.
      expect(m.mmio.log.every((a) => a.kind.startsWith('r'))).toBe(true);
    }
  });

  it('halves queues that do not fit guest RAM, then fails with -ENOMEM', () => {
    const m = machine({ probe: false });
    const small = new GuestArmSmmuV3({
      mmio: mmioFromRegion(m.smmu),
      ram: createGuestRam(m.mem, 0x6000_0000, 0x10000),
    });
    expect(small.probe()).toBe(ENOMEM);
    // 2^12 commands × 16 bytes fill the 64 KiB; the event queue then has no room even at 4 KiB.
    expect(small.messages).toContain('arm-smmu-v3 9050000.smmuv3: allocated 4096 entries for cmdq');
    expect(small.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: failed to allocate queue (0x1000 bytes) for evtq',
    );
  });

  it('programs MSIs with a doorbell, and falls back to wired IRQs without one', () => {
    const doorbell = 0x0900_0040;
    const m = machine({ features: { msi: true }, driver: { msiDoorbell: doorbell } });
    expect(m.probeResult).toBe(0);
    // CFG0 = doorbell, CFG1 = data (0 evtq, 1 gerror), CFG2.MemAttr = Device-nGnRE (0b0001).
    expect(m.smmu.mmioRead(REG.EVENTQ_IRQ_CFG0, 8)).toBe(BigInt(doorbell));
    expect(m.smmu.mmioRead(0xb8, 4)).toBe(0);
    expect(m.smmu.mmioRead(0xbc, 4)).toBe(1);
    expect(m.smmu.mmioRead(REG.GERROR_IRQ_CFG0, 8)).toBe(BigInt(doorbell));
    expect(m.smmu.mmioRead(0x70, 4)).toBe(1);
    expect(m.smmu.mmioRead(0x74, 4)).toBe(1);
    const w = machine({ features: { msi: true } });
    expect(w.driver.messages).toContain(
      'arm-smmu-v3 9050000.smmuv3: msi_domain absent - falling back to wired irqs',
    );
    expect(w.smmu.mmioRead(REG.EVENTQ_IRQ_CFG0, 8)).toBe(0n);
  });

  it('completes CMD_SYNC by MSI write-back into the queue when MSI and coherency allow', () => {
    const m = machine({ features: { msi: true } });
    const f = m.driver.features;
    expect(f.msiPoll).toBe(true);
    const syncs = m.smmu.commandsSince(0).filter((c) => c.name === 'CMD_SYNC');
    expect(syncs.length).toBe(2);
    syncs.forEach((c, i) => {
      // CS = SIG_IRQ (bits 13:12 = 1), MSIData 0, MSIAddr = the CMD_SYNC's own slot (1 and 3).
      expect(bits(c.words[0], 13, 12)).toBe(1);
      expect(bits(c.words[0], 63, 32)).toBe(0);
      const slot = m.driver.layout.cmdq + (2 * i + 1) * 16;
      expect(c.words[1]).toBe(BigInt(slot));
      // The MSI cleared the entry's first word, which is what the driver polled.
      expect(m.mem.read32(slot)).toBe(0);
    });
    const plain = machine({ features: { msi: true }, driver: { disableMsiPolling: true } });
    const s = plain.smmu.commandsSince(0).find((c) => c.name === 'CMD_SYNC');
    // CS = SIG_SEV (2) and no MSI address.
    expect(s && bits(s.words[0], 13, 12)).toBe(2);
    expect(s?.words[1]).toBe(0n);
  });
});

describe('2-level stream table', () => {
  it('allocates a level-2 table of abort STEs and its L1 descriptor when a device appears', () => {
    const m = machine();
    const base = m.driver.layout.strtab;
    for (let i = 0; i < 256; i++) expect(m.mem.read64(base + 8 * i)).toBe(0n);
    const sid = 0x1234;
    const master = m.driver.addDevice({ name: 'nic', sids: [sid] });
    expect(typeof master).toBe('object');
    const desc = m.mem.read64(base + 0x12 * 8);
    // Span [4:0] = SPLIT + 1 = 9 (2^8 STEs); L2Ptr [51:6].
    expect(bits(desc, 4, 0)).toBe(9);
    const l2 = Number(desc & ((1n << 52n) - (1n << 6n)));
    expect(l2 % (256 * 64)).toBe(0);
    // Neighbouring L1 descriptors stay invalid.
    expect(m.mem.read64(base + 0x11 * 8)).toBe(0n);
    expect(m.mem.read64(base + 0x13 * 8)).toBe(0n);
    // The device's STE is the 0x34th of the level-2 table: an abort STE.
    expect(m.driver.stePa(sid)).toBe(l2 + 0x34 * 64);
    for (let i = 0; i < 256; i++) expect(m.mem.read64(l2 + i * 64)).toBe(1n);
    // A second device in the same 256-SID span shares the level-2 table.
    m.driver.addDevice({ name: 'nic2', sids: [0x1200] });
    expect(m.mem.read64(base + 0x12 * 8)).toBe(desc);
  });

  it('refuses StreamIDs beyond the table and aliasing StreamIDs', () => {
    const m = machine({ features: { sidSize: 6 } });
    expect(m.driver.addDevice({ name: 'far', sids: [64] })).toBe(-34); // -ERANGE
    expect(typeof m.driver.addDevice({ name: 'a', sids: [5] })).toBe('object');
    expect(m.driver.addDevice({ name: 'b', sids: [5] })).toBe(-19); // -ENODEV
  });
});
