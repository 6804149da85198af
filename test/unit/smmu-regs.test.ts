// Register protocols of the SMMUv3 model (IHI 0070 H.a §6.2–§6.3, §7.5; smmuv3-arch.md [4.1]–[4.6]):
// RO/RES0/RAZ-WI behaviour, write windows (v3.2+ IGNORED), CR0/CR0ACK and IRQ_CTRL/ACK updates,
// the GBPA Update protocol, GERROR/GERRORN, 64-bit registers and their 32-bit halves, global bypass.
// Every expected value is written out from the rule it checks.
import { describe, expect, it } from 'vitest';
import { VsmmuError } from '../../src/arch/errors.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import { encodeIdrs } from '../../src/smmu/features.ts';
import { Smmu } from '../../src/smmu/smmu.ts';
import { CMDQEN, EVENTQEN, idr0With, OFF, PRIQEN, rig, SMMUEN } from './smmu-kit.ts';

function errCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof VsmmuError ? e.code : 'other';
  }
  return 'none';
}

describe('identification registers', () => {
  it('read the QEMU virt defaults and ignore writes', () => {
    const r = rig({ iidr: 0x1234_5678 });
    const expected: [number, number][] = [
      [OFF.IDR0, 0x0d44101b],
      [OFF.IDR1, 0x02730010],
      [OFF.IDR2, 0],
      [OFF.IDR3, 0x1414],
      [OFF.IDR4, 0],
      [OFF.IDR5, 0x74],
      [OFF.IIDR, 0x1234_5678],
      [OFF.AIDR, 0x1],
    ];
    for (const [off, v] of expected) {
      expect(r.r32(off)).toBe(v);
      r.w32(off, 0xffff_ffff);
      expect(r.r32(off)).toBe(v);
    }
  });

  it('can be configured, and the ID block at 0xFD0 returns configured values', () => {
    const r = rig({ idr: { idr3: 0 }, aidr: 2, implDefIdRegs: [0x04, 0, 0, 0, 0x84] });
    expect(r.r32(OFF.IDR3)).toBe(0);
    expect(r.r32(OFF.AIDR)).toBe(2);
    expect(r.r32(0xfd0)).toBe(0x04);
    expect(r.r32(0xfe0)).toBe(0x84);
    expect(r.r32(0xffc)).toBe(0);
  });

  it('rejects impossible configurations', () => {
    const mem = new SparseMemory();
    expect(errCode(() => new Smmu({ mem, idr: { idr0: -1 } }))).toBe('BAD_CONFIG');
    expect(errCode(() => new Smmu({ mem, gbpaReset: 0x8000_0000 }))).toBe('BAD_CONFIG');
    expect(errCode(() => new Smmu({ mem, iidr: 2 ** 32 }))).toBe('BAD_CONFIG');
  });
});

describe('MMIO decoding', () => {
  it('rejects accesses outside the two pages and bad sizes (library misuse)', () => {
    const r = rig();
    expect(errCode(() => r.smmu.mmioRead(0x20000, 4))).toBe('OUT_OF_RANGE');
    expect(errCode(() => r.smmu.mmioRead(0x1fffc, 8))).toBe('OUT_OF_RANGE');
    expect(errCode(() => r.smmu.mmioRead(-4, 4))).toBe('OUT_OF_RANGE');
    expect(errCode(() => r.smmu.mmioRead(0, 2 as 4))).toBe('BAD_ARGUMENT');
    expect(errCode(() => r.smmu.mmioWrite(0x20, 4, 2 ** 32))).toBe('BAD_ARGUMENT');
    expect(errCode(() => r.smmu.mmioWrite(0x20, 8, -1n))).toBe('BAD_ARGUMENT');
  });

  it('unused offsets are RAZ/WI; misaligned accesses are RAZ/WI', () => {
    const r = rig();
    for (const off of [0x30, 0x3c, 0x48, 0x58, 0x100, 0x800, 0xe00, 0xfcc, 0x10000, 0x10020]) {
      r.w32(off, 0xffff_ffff);
      expect(r.r32(off)).toBe(0);
    }
    r.w32(OFF.CR1, 0x3f);
    expect(r.r32(OFF.CR1 + 1)).toBe(0);
    expect(r.r64(OFF.STRTAB_BASE + 4)).toBe(0n);
  });

  it('page-0 EVENTQ/PRIQ PROD/CONS offsets are Reserved (RAZ/WI) by default', () => {
    const r = rig();
    r.w64(OFF.EVENTQ_BASE, 0x20_0000n | 4n); // 16 entries: pointer bits [4:0]
    r.w32(OFF.EVENTQ_PROD, 3); // page 1, queue disabled: writable
    expect(r.r32(0xa8)).toBe(0);
    r.w32(0xac, 1);
    expect(r.r32(OFF.EVENTQ_CONS)).toBe(0);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(3);
  });

  it("the 'qemu' page policy mirrors page 0 in page 1 and exposes queue pointers in both", () => {
    const r = rig({ policies: { pageAlias: 'qemu' } });
    expect(r.r32(0x10000 + OFF.IDR0)).toBe(0x0d44101b);
    r.w64(OFF.EVENTQ_BASE, 0x20_0000n | 4n);
    r.w32(0xa8, 3);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(3);
    r.w32(0x10000 + OFF.CR2, 2);
    expect(r.r32(OFF.CR2)).toBe(2);
  });

  it('64-bit registers take 64-bit accesses and 32-bit accesses to either half', () => {
    const r = rig();
    // STRTAB_BASE: RA[62], ADDR[51:6] (the model's address fields end at bit 51: bits 55:52 are
    // RES0 while OAS ≤ 52, src/arch/smmu-values.ts); other bits RES0.
    r.w64(OFF.STRTAB_BASE, 0xffff_ffff_ffff_ffffn);
    const mask = (1n << 62n) | (((1n << 46n) - 1n) << 6n);
    expect(r.r64(OFF.STRTAB_BASE)).toBe(mask);
    r.w32(OFF.STRTAB_BASE, 0x1234_5678);
    r.w32(OFF.STRTAB_BASE + 4, 0x0000_00ab);
    expect(r.r64(OFF.STRTAB_BASE)).toBe(0xab_1234_5640n);
    expect(r.r32(OFF.STRTAB_BASE)).toBe(0x1234_5640);
    expect(r.r32(OFF.STRTAB_BASE + 4)).toBe(0xab);
  });

  it('a 64-bit access to a pair of 32-bit registers acts as two 32-bit accesses', () => {
    const r = rig();
    r.w64(OFF.CR1, (0x6n << 32n) | 0x15n); // CR1 = 0x15, CR2 = 0x6
    expect(r.r32(OFF.CR1)).toBe(0x15);
    expect(r.r32(OFF.CR2)).toBe(0x6);
    expect(r.r64(OFF.CR1)).toBe((0x6n << 32n) | 0x15n);
  });
});

describe('CR0 / CR0ACK', () => {
  it('mirrors the implemented fields at once; PRIQEN, ATSCHK, VMW are RES0 when absent', () => {
    const r = rig();
    r.w32(OFF.CR0, 0xffff_ffff);
    // Default features: no PRI, ATS or VMW → SMMUEN | EVENTQEN | CMDQEN.
    expect(r.r32(OFF.CR0)).toBe(SMMUEN | EVENTQEN | CMDQEN);
    expect(r.r32(OFF.CR0ACK)).toBe(SMMUEN | EVENTQEN | CMDQEN);
    r.w32(OFF.CR0, 0);
    expect(r.r32(OFF.CR0ACK)).toBe(0);
  });

  it('implements PRIQEN, ATSCHK and VMW[8:6] when IDR0 says so', () => {
    // PRI bit 16, ATS bit 10, VMW bit 17.
    const r = rig({ idr: { idr0: idr0With((1 << 16) | (1 << 10) | (1 << 17)) } });
    r.w32(OFF.CR0, 0xffff_ffff);
    expect(r.r32(OFF.CR0ACK)).toBe(0x1df); // [8:6] | [4:0]
  });

  it('is always writable and CR0ACK is read-only', () => {
    const r = rig();
    r.w32(OFF.CR0, SMMUEN);
    r.w32(OFF.CR0ACK, 0);
    expect(r.r32(OFF.CR0ACK)).toBe(SMMUEN);
  });

  it('calls the translation side on SMMUEN 1 → 0 only', () => {
    const r = rig();
    r.w32(OFF.CR0, SMMUEN);
    r.w32(OFF.CR0, SMMUEN | EVENTQEN);
    expect(r.fake.disables).toBe(0);
    r.w32(OFF.CR0, EVENTQEN);
    expect(r.fake.disables).toBe(1);
    r.w32(OFF.CR0, 0);
    expect(r.fake.disables).toBe(1);
  });
});

describe('write windows (forbidden writes are IGNORED, v3.2+)', () => {
  it('CR2, STRTAB_BASE, STRTAB_BASE_CFG and CR1.TABLE_* need SMMUEN = 0', () => {
    const r = rig();
    r.w32(OFF.CR2, 0x6); // RECINVSID | PTM; E2H RES0 without HYP
    r.w64(OFF.STRTAB_BASE, 0x4000_0000n);
    r.w32(OFF.STRTAB_BASE_CFG, (1 << 16) | (8 << 6) | 16);
    r.w32(OFF.CR1, 0xfff);
    r.w32(OFF.CR0, SMMUEN);
    r.w32(OFF.CR2, 0);
    r.w64(OFF.STRTAB_BASE, 0x8000_0000n);
    r.w32(OFF.STRTAB_BASE_CFG, 0);
    r.w32(OFF.CR1, 0);
    expect(r.r32(OFF.CR2)).toBe(0x6);
    expect(r.r64(OFF.STRTAB_BASE)).toBe(0x4000_0000n);
    expect(r.r32(OFF.STRTAB_BASE_CFG)).toBe((1 << 16) | (8 << 6) | 16);
    // TABLE_* [11:6] kept; QUEUE_* [5:0] writable (no queue enabled).
    expect(r.r32(OFF.CR1)).toBe(0xfc0);
    expect(r.smmu.regs.strtabBase).toBe(0x4000_0000n);
    expect(r.smmu.regs.cr2).toBe(0x6);
  });

  it('CR2.E2H exists only with IDR0.HYP', () => {
    const r = rig({ idr: { idr0: idr0With(1 << 9) } });
    r.w32(OFF.CR2, 0x7);
    expect(r.r32(OFF.CR2)).toBe(0x7);
    expect(rig().smmu.mmioRead(OFF.CR2, 4)).toBe(0);
  });

  it('CR1.QUEUE_* need every queue disabled', () => {
    const r = rig();
    r.w32(OFF.CR0, EVENTQEN);
    r.w32(OFF.CR1, 0xfff);
    expect(r.r32(OFF.CR1)).toBe(0xfc0);
  });

  it('queue BASE and SMMU-owned pointers need that queue disabled', () => {
    const r = rig();
    r.w64(OFF.CMDQ_BASE, 0x10_0000n | 4n);
    r.w64(OFF.EVENTQ_BASE, 0x20_0000n | 4n);
    r.w32(OFF.CR0, CMDQEN | EVENTQEN);
    r.w64(OFF.CMDQ_BASE, 0n);
    r.w64(OFF.EVENTQ_BASE, 0n);
    r.w32(OFF.CMDQ_CONS, 3);
    r.w32(OFF.EVENTQ_PROD, 3);
    expect(r.r64(OFF.CMDQ_BASE)).toBe(0x10_0004n);
    expect(r.r64(OFF.EVENTQ_BASE)).toBe(0x20_0004n);
    expect(r.r32(OFF.CMDQ_CONS)).toBe(0);
    expect(r.r32(OFF.EVENTQ_PROD)).toBe(0);
    // Software-owned pointers stay writable.
    r.w32(OFF.EVENTQ_CONS, 0);
  });

  it('STRTAB and queue bases are read-only with TABLES_PRESET / QUEUES_PRESET', () => {
    const r = rig({ idr: encodeIdrs({ tablesPreset: true, queuesPreset: true }) });
    r.w64(OFF.STRTAB_BASE, 0x4000_0000n);
    r.w32(OFF.STRTAB_BASE_CFG, 16);
    r.w64(OFF.CMDQ_BASE, 0x10_0004n);
    expect(r.r64(OFF.STRTAB_BASE)).toBe(0n);
    expect(r.r32(OFF.STRTAB_BASE_CFG)).toBe(0);
    expect(r.r64(OFF.CMDQ_BASE)).toBe(0n);
  });

  it("the v3.1 'accept' policy takes forbidden writes; it has no effect from v3.2", () => {
    const v31 = rig({ policies: { forbiddenWrites: 'accept' } });
    v31.w32(OFF.CR0, SMMUEN);
    v31.w32(OFF.CR2, 0x2);
    expect(v31.r32(OFF.CR2)).toBe(0x2);
    const v32 = rig({ aidr: 2, policies: { forbiddenWrites: 'accept' } });
    v32.w32(OFF.CR0, SMMUEN);
    v32.w32(OFF.CR2, 0x2);
    expect(v32.r32(OFF.CR2)).toBe(0);
  });
});

describe('GBPA update protocol', () => {
  it('resets to the configured value and ignores writes without Update', () => {
    const r = rig();
    expect(r.r32(OFF.GBPA)).toBe(0x1000);
    r.w32(OFF.GBPA, 1 << 20); // ABORT without Update: IGNORED
    expect(r.r32(OFF.GBPA)).toBe(0x1000);
    expect(rig({ gbpaReset: 1 << 20 }).smmu.mmioRead(OFF.GBPA, 4)).toBe(1 << 20);
  });

  it('applies a write with Update = 1 at once (Update reads 0); reserved bits are RES0', () => {
    const r = rig();
    r.w32(OFF.GBPA, 0x8000_0000 | (1 << 20) | 0x3000);
    expect(r.r32(OFF.GBPA)).toBe((1 << 20) | 0x3000);
    r.w32(OFF.GBPA, 0xffff_ffff);
    // Defined fields: ABORT[20], INSTCFG[19:18], PRIVCFG[17:16], SHCFG[13:12], ALLOCCFG[11:8],
    // MTCFG[4], MemAttr[3:0].
    expect(r.r32(OFF.GBPA)).toBe(0x1f3f1f);
  });

  it('v3.1 accept policy: a write with Update = 0 is stored', () => {
    const r = rig({ policies: { forbiddenWrites: 'accept' } });
    r.w32(OFF.GBPA, 1 << 20);
    expect(r.r32(OFF.GBPA)).toBe(1 << 20);
  });
});

describe('IRQ_CTRL / IRQ_CTRLACK and the IRQ_CFG registers', () => {
  it('mirrors implemented enables at once (PRIQ_IRQEN needs PRI)', () => {
    const r = rig();
    r.w32(OFF.IRQ_CTRL, 0xffff_ffff);
    expect(r.r32(OFF.IRQ_CTRL)).toBe(0x5);
    expect(r.r32(OFF.IRQ_CTRLACK)).toBe(0x5);
    const p = rig({ idr: { idr0: idr0With(1 << 16) } });
    p.w32(OFF.IRQ_CTRL, 0x7);
    expect(p.r32(OFF.IRQ_CTRLACK)).toBe(0x7);
  });

  it('IRQ_CFG registers are RES0 without MSI support', () => {
    const r = rig();
    r.w64(OFF.GERROR_IRQ_CFG0, 0x1000n);
    r.w32(OFF.GERROR_IRQ_CFG1, 5);
    r.w32(OFF.EVENTQ_IRQ_CFG2, 0x3f);
    expect(r.r64(OFF.GERROR_IRQ_CFG0)).toBe(0n);
    expect(r.r32(OFF.GERROR_IRQ_CFG1)).toBe(0);
    expect(r.r32(OFF.EVENTQ_IRQ_CFG2)).toBe(0);
  });

  it('with MSI, IRQ_CFG registers are writable only while their IRQEN and ACK are 0', () => {
    const r = rig({ idr: { idr0: idr0With(1 << 13) } });
    // CFG0.ADDR[51:2] (bits 55:52 RES0 in this model); CFG2 SH[5:4] MemAttr[3:0].
    r.w64(OFF.EVENTQ_IRQ_CFG0, 0xffff_ffff_ffff_ffffn);
    r.w32(OFF.EVENTQ_IRQ_CFG1, 0xdead_beef);
    r.w32(OFF.EVENTQ_IRQ_CFG2, 0xff);
    expect(r.r64(OFF.EVENTQ_IRQ_CFG0)).toBe(((1n << 50n) - 1n) << 2n);
    expect(r.r32(OFF.EVENTQ_IRQ_CFG1)).toBe(0xdead_beef);
    expect(r.r32(OFF.EVENTQ_IRQ_CFG2)).toBe(0x3f);
    r.w32(OFF.IRQ_CTRL, 0x4); // EVENTQ_IRQEN
    r.w32(OFF.EVENTQ_IRQ_CFG1, 1);
    r.w64(OFF.EVENTQ_IRQ_CFG0, 0n);
    expect(r.r32(OFF.EVENTQ_IRQ_CFG1)).toBe(0xdead_beef);
    // GERROR_IRQ_CFG is governed by GERROR_IRQEN, still 0.
    r.w32(OFF.GERROR_IRQ_CFG1, 7);
    expect(r.r32(OFF.GERROR_IRQ_CFG1)).toBe(7);
  });

  it('PRIQ registers are RAZ/WI without PRI', () => {
    const r = rig();
    r.w64(OFF.PRIQ_BASE, 0x30_0004n);
    r.w32(OFF.PRIQ_PROD, 1);
    r.w32(OFF.PRIQ_CONS, 1);
    expect(r.r64(OFF.PRIQ_BASE)).toBe(0n);
    expect(r.r32(OFF.PRIQ_PROD)).toBe(0);
    expect(r.r32(OFF.PRIQ_CONS)).toBe(0);
    r.w32(OFF.CR0, PRIQEN);
    expect(r.r32(OFF.CR0)).toBe(0);
  });
});

describe('GERROR / GERRORN', () => {
  it('GERROR is read-only; toggling an inactive GERRORN bit is ignored', () => {
    const r = rig();
    r.w32(OFF.GERROR, 0x1fd);
    expect(r.r32(OFF.GERROR)).toBe(0);
    r.w32(OFF.GERRORN, 0x1);
    expect(r.r32(OFF.GERRORN)).toBe(0);
  });

  it('an error is active while GERROR and GERRORN differ; software acks by toggling', () => {
    const r = rig();
    // Make CMDQ_ERR active: enable an empty-based queue whose base aborts on read.
    r.mem.addAbortRange(0x10_0000, 0x1000);
    r.w64(OFF.CMDQ_BASE, 0x10_0000n | 2n);
    r.w32(OFF.CR0, CMDQEN);
    r.w32(OFF.CMDQ_PROD, 1);
    expect(r.r32(OFF.GERROR)).toBe(1);
    expect(r.r32(OFF.GERRORN)).toBe(0);
    expect(r.smmu.errorActive(1)).toBe(true);
    r.w32(OFF.GERRORN, 1);
    expect(r.r32(OFF.GERRORN)).toBe(1);
    // Consumption restarts at CONS and aborts again: GERROR toggles back to 0, active again.
    expect(r.r32(OFF.GERROR)).toBe(0);
    expect(r.smmu.errorActive(1)).toBe(true);
  });
});

describe('translate while SMMUEN = 0 (global bypass, §3.11)', () => {
  it('GBPA.ABORT = 1 aborts silently', () => {
    const r = rig({ gbpaReset: 1 << 20 });
    expect(r.smmu.translate({ sid: 1, iova: 0x1000n, access: 'read' })).toEqual({ ok: false });
  });

  it('bypasses addresses below 2^OAS and aborts the others without an event', () => {
    const r = rig();
    const ok = r.smmu.translate({ sid: 1, iova: (1n << 44n) - 4n, access: 'write' });
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.pa).toBe((1n << 44n) - 4n);
    expect(r.smmu.translate({ sid: 1, iova: 1n << 44n, access: 'read' })).toEqual({ ok: false });
    expect(r.fake.translated.length).toBe(0);
  });

  it('attributes: incoming unless the override features and GBPA say otherwise', () => {
    const plain = rig();
    const a = plain.smmu.translate({ sid: 0, iova: 0n, access: 'read', priv: true, inst: true });
    expect(a).toEqual({ ok: true, pa: 0n, attrs: { priv: true, inst: true } });
    const ovr = rig({ idr: encodeIdrs({ attrTypesOvr: true, attrPermsOvr: true }) });
    // INSTCFG 10 (Data), PRIVCFG 10 (Unpriv), SHCFG 11 (ISH), ALLOCCFG 1101, MTCFG 1, MemAttr 0xf.
    ovr.w32(OFF.GBPA, 0x8000_0000 | (2 << 18) | (2 << 16) | (3 << 12) | (0xd << 8) | 0x1f);
    const b = ovr.smmu.translate({ sid: 0, iova: 0n, access: 'read', priv: true, inst: true });
    // MemAttr 0b1111: outer WB, inner WB → MAIR 0xff; ALLOCCFG 1RWT → RWT = 0b101.
    expect(b).toEqual({
      ok: true,
      pa: 0n,
      attrs: { priv: false, inst: false, memAttr: 0xff, sh: 3, alloc: 5 },
    });
    // Device-nGnRE (MemAttr 0b0001) is always Outer Shareable; writes are always Data.
    ovr.w32(OFF.GBPA, 0x8000_0000 | (3 << 18) | (3 << 16) | (0 << 12) | 0x11);
    const c = ovr.smmu.translate({ sid: 0, iova: 0n, access: 'write' });
    expect(c).toEqual({
      ok: true,
      pa: 0n,
      attrs: { priv: true, inst: false, memAttr: 0x04, sh: 2 },
    });
  });

  it('delegates to the translation side once SMMUEN = 1', () => {
    const r = rig();
    r.w32(OFF.CR0, SMMUEN);
    const res = r.smmu.translate({ sid: 3, ssid: 5, iova: 0x2000n, access: 'read' });
    expect(res).toEqual({ ok: true, pa: 0x3000n, attrs: {} });
    expect(r.fake.translated).toEqual([{ sid: 3, ssid: 5, iova: 0x2000n, access: 'read' }]);
  });

  it('throws OUT_OF_RANGE for impossible requests', () => {
    const r = rig();
    const t = (req: object) => errCode(() => r.smmu.translate(req as never));
    expect(t({ sid: 2 ** 32, iova: 0n, access: 'read' })).toBe('OUT_OF_RANGE');
    expect(t({ sid: -1, iova: 0n, access: 'read' })).toBe('OUT_OF_RANGE');
    expect(t({ sid: 0, ssid: 2 ** 20, iova: 0n, access: 'read' })).toBe('OUT_OF_RANGE');
    expect(t({ sid: 0, iova: 1n << 64n, access: 'read' })).toBe('OUT_OF_RANGE');
    expect(t({ sid: 0, iova: 0n, access: 'exec' })).toBe('BAD_ARGUMENT');
    expect(t({ sid: 2 ** 32 - 1, iova: 0n, access: 'read' })).toBe('none');
  });

  it('without a translation side, an enabled SMMU reports BAD_STATE', () => {
    const smmu = new Smmu({ mem: new SparseMemory() });
    smmu.mmioWrite(OFF.CR0, 4, SMMUEN);
    expect(errCode(() => smmu.translate({ sid: 0, iova: 0n, access: 'read' }))).toBe('BAD_STATE');
  });
});
