// The DMA master and the memcpy engine against a fake DmaPort: transactions split at 4 KiB
// boundaries (PCIe), the first terminated transaction ends a DMA, RAZ/WI completions read zeros,
// external aborts, PASIDs, and the engine's register interface. The fake port translates by a
// fixed offset and records every request, so expected transactions are computed independently.

import { describe, expect, it } from 'vitest';
import { VsmmuError } from '../../src/arch/errors.ts';
import { makeEvent } from '../../src/arch/evt.ts';
import {
  DmaMaster,
  type DmaPort,
  type DmaTranslateResult,
  deviceIdentity,
  identityPort,
} from '../../src/devices/device.ts';
import {
  MEMCPY_ID,
  MEMCPY_REG,
  MEMCPY_STATUS,
  MemcpyEngine,
} from '../../src/devices/dma-engine.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import type { TranslateRequest } from '../../src/smmu/types.ts';

const OFFSET = 0x1_0000_0000n;

/** A port that maps IOVA → IOVA + OFFSET, except pages listed as faulting or RAZ/WI. */
function fakePort(opts: { fault?: bigint[]; razwi?: bigint[] } = {}) {
  const mem = new SparseMemory();
  const reqs: TranslateRequest[] = [];
  const port: DmaPort = {
    mem,
    translate(req): DmaTranslateResult {
      reqs.push(req);
      const page = req.iova & ~0xfffn;
      if (opts.fault?.includes(page)) {
        return {
          ok: false,
          event: makeEvent('F_TRANSLATION', { StreamID: req.sid, InputAddr: req.iova }),
        };
      }
      if (opts.razwi?.includes(page)) return { ok: false, razwi: true };
      return { ok: true, pa: req.iova + OFFSET, attrs: {} };
    },
  };
  return { mem, reqs, port };
}

const ID = deviceIdentity({ name: 'dev', streamIds: [7, 8], pasidBits: 8 });

/** Expected transactions of an access: pieces between 4 KiB boundaries. */
function pieces(start: number, len: number): [number, number][] {
  const out: [number, number][] = [];
  let a = start;
  const end = start + len;
  while (a < end) {
    const next = Math.min(end, (Math.floor(a / 4096) + 1) * 4096);
    out.push([a, next - a]);
    a = next;
  }
  return out;
}

describe('device identity', () => {
  it('validates names, StreamIDs and PASID width', () => {
    expect(() => deviceIdentity({ name: '', streamIds: [1] })).toThrow(VsmmuError);
    expect(() => deviceIdentity({ name: 'x', streamIds: [] })).toThrow(VsmmuError);
    expect(() => deviceIdentity({ name: 'x', streamIds: [-1] })).toThrow(VsmmuError);
    expect(() => deviceIdentity({ name: 'x', streamIds: [2 ** 32] })).toThrow(VsmmuError);
    expect(() => deviceIdentity({ name: 'x', streamIds: [1], pasidBits: 21 })).toThrow(VsmmuError);
    expect(deviceIdentity({ name: 'x', streamIds: [1] })).toEqual({
      name: 'x',
      streamIds: [1],
      ats: false,
      pasidBits: 0,
    });
  });
});

describe('DMA master', () => {
  it('splits a read at 4 KiB IOVA boundaries and reads the translated bytes', () => {
    const { mem, reqs, port } = fakePort();
    const data = Uint8Array.from({ length: 0x2100 }, (_, i) => (i * 13) & 0xff);
    mem.writeBytes(Number(0xff0n + OFFSET), data);
    const d = new DmaMaster(ID, port);
    const r = d.read(0xff0n, data.length);
    expect(r.ok && r.data).toEqual(data);
    const exp = pieces(0xff0, data.length);
    expect(reqs.map((q) => [Number(q.iova), q.access, q.sid, q.ssid])).toEqual(
      exp.map(([a]) => [a, 'read', 7, undefined]),
    );
    expect(d.stats).toMatchObject({
      transactions: exp.length,
      readTransactions: exp.length,
      bytesRead: data.length,
      faults: 0,
    });
  });

  it('uses the selected StreamID and carries the PASID and privilege', () => {
    const { reqs, port } = fakePort();
    const d = new DmaMaster(ID, port, 1);
    d.write(0x2000, new Uint8Array(4), { ssid: 5, priv: true });
    expect(reqs[0]).toMatchObject({ sid: 8, ssid: 5, access: 'write', priv: true });
    expect(() => new DmaMaster(ID, port, 2)).toThrow(VsmmuError);
    expect(() => d.read(0, 4, { ssid: 256 })).toThrow(VsmmuError);
    const noPasid = new DmaMaster(deviceIdentity({ name: 'n', streamIds: [1] }), port);
    expect(() => noPasid.read(0, 4, { ssid: 0 })).toThrow(/no PASID capability/);
  });

  it('stops at the first terminated transaction and reports it', () => {
    const { mem, port } = fakePort({ fault: [0x3000n] });
    mem.writeBytes(Number(0x2800n + OFFSET), new Uint8Array(0x800).fill(0xaa));
    const d = new DmaMaster(ID, port);
    const r = d.read(0x2800, 0x1000);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    // 0x2800..0x3000 was read; the transaction at 0x3000 was terminated.
    expect(r.done).toBe(0x800);
    expect(r.data).toEqual(new Uint8Array(0x800).fill(0xaa));
    expect(r.fault).toMatchObject({ iova: 0x3000n, access: 'read', reason: 'translation' });
    expect(r.fault.event?.type).toBe('F_TRANSLATION');
    expect(d.stats.transactions).toBe(2);
    expect(d.stats.faults).toBe(1);
    const w = d.write(0x2ff0, new Uint8Array(0x20).fill(1));
    expect(w).toMatchObject({ ok: false, done: 0x10, fault: { iova: 0x3000n, access: 'write' } });
    expect(mem.readBytes(Number(0x2ff0n + OFFSET), 0x10)).toEqual(new Uint8Array(0x10).fill(1));
  });

  it('completes RAZ/WI transactions: reads give zeros, writes are dropped, the DMA goes on', () => {
    const { mem, port } = fakePort({ razwi: [0x1000n] });
    mem.writeBytes(Number(0x1000n + OFFSET), new Uint8Array(0x1000).fill(0x55));
    mem.writeBytes(Number(0x2000n + OFFSET), new Uint8Array(0x10).fill(0x66));
    const d = new DmaMaster(ID, port);
    const r = d.read(0x1ff8, 0x10);
    expect(r.ok && Array.from(r.data)).toEqual([...Array(8).fill(0), ...Array(8).fill(0x66)]);
    expect(d.write(0x1000, new Uint8Array(4).fill(9)).ok).toBe(true);
    expect(mem.readBytes(Number(0x1000n + OFFSET), 4)).toEqual(new Uint8Array(4).fill(0x55));
    expect(d.stats.razWi).toBe(2);
    expect(d.stats.faults).toBe(0);
  });

  it('reports an external abort of the translated access', () => {
    const { mem, port } = fakePort();
    mem.addAbortRange(Number(0x5000n + OFFSET), 0x1000);
    const d = new DmaMaster(ID, port);
    const r = d.read(0x5010, 4);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.fault.reason).toBe('external-abort');
      expect(r.fault.pa).toBe(0x5010n + OFFSET);
    }
  });

  it('treats a stalled transaction as the end of the DMA', () => {
    const mem = new SparseMemory();
    const port: DmaPort = { mem, translate: () => ({ ok: false, stalled: { stag: 3 } }) };
    const r = new DmaMaster(ID, port).read(0, 4);
    expect(!r.ok && r.fault.reason).toBe('stalled');
  });

  it('identityPort passes IOVA = PA', () => {
    const mem = new SparseMemory();
    mem.writeBytes(0x1234, Uint8Array.of(1, 2, 3));
    const r = new DmaMaster(ID, identityPort(mem)).read(0x1234, 3);
    expect(r.ok && Array.from(r.data)).toEqual([1, 2, 3]);
  });

  it('rejects addresses and lengths that are not integers in range', () => {
    const d = new DmaMaster(ID, fakePort().port);
    expect(() => d.read(-1, 4)).toThrow(VsmmuError);
    expect(() => d.read(1n << 64n, 4)).toThrow(VsmmuError);
    expect(() => d.read(0, -4)).toThrow(VsmmuError);
    expect(() => d.read(0.5, 4)).toThrow(VsmmuError);
  });
});

describe('memcpy engine', () => {
  it('copies in chunks bounded by the 4 KiB boundaries of both addresses', () => {
    const { mem, reqs, port } = fakePort();
    const src = 0x1f00;
    const dst = 0x7080;
    const len = 0x2345;
    const data = Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff);
    mem.writeBytes(Number(BigInt(src) + OFFSET), data);
    const e = new MemcpyEngine(ID, port);
    const r = e.copy({ src, dst, len });
    expect(r.ok).toBe(true);
    expect(r.copied).toBe(len);
    expect(mem.readBytes(Number(BigInt(dst) + OFFSET), len)).toEqual(data);
    // Chunk boundaries: every point where either address crosses 4 KiB.
    const cuts = new Set<number>([0, len]);
    for (let o = 1; o < len; o++) {
      if ((src + o) % 4096 === 0 || (dst + o) % 4096 === 0) cuts.add(o);
    }
    const sorted = [...cuts].sort((a, b) => a - b);
    const expected: [number, string][] = [];
    for (let i = 0; i + 1 < sorted.length; i++) {
      const o = sorted[i] as number;
      expected.push([src + o, 'read'], [dst + o, 'write']);
    }
    expect(reqs.map((q) => [Number(q.iova), q.access])).toEqual(expected);
    expect(r.transactions).toBe(expected.length);
  });

  it('stops at a terminated write and reports how much reached the destination', () => {
    const { port } = fakePort({ fault: [0x9000n] });
    const e = new MemcpyEngine(ID, port);
    const r = e.copy({ src: 0x1000, dst: 0x8000, len: 0x2000 });
    expect(r).toMatchObject({ ok: false, copied: 0x1000, transactions: 4 });
    expect(r.fault).toMatchObject({ iova: 0x9000n, access: 'write' });
    expect(e.failedCopies).toBe(1);
  });

  it('runs from its registers: SRC, DST, LEN, PASID, CMD → STATUS, COPIED, FAULT_IOVA', () => {
    const { mem, reqs, port } = fakePort({ fault: [0x4000n] });
    mem.writeBytes(Number(0x1000n + OFFSET), Uint8Array.of(1, 2, 3, 4));
    const e = new MemcpyEngine(ID, port);
    expect(e.mmioRead(MEMCPY_REG.ID, 4)).toBe(BigInt(MEMCPY_ID));
    e.mmioWrite(MEMCPY_REG.SRC, 4, 0x1000n);
    e.mmioWrite(MEMCPY_REG.SRC + 4, 4, 0n);
    e.mmioWrite(MEMCPY_REG.DST, 8, 0x2000n);
    e.mmioWrite(MEMCPY_REG.LEN, 4, 4n);
    e.mmioWrite(MEMCPY_REG.PASID, 4, BigInt(2 ** 31 + 9));
    e.mmioWrite(MEMCPY_REG.CMD, 4, 1n);
    expect(e.mmioRead(MEMCPY_REG.STATUS, 4)).toBe(BigInt(MEMCPY_STATUS.DONE));
    expect(e.mmioRead(MEMCPY_REG.COPIED, 4)).toBe(4n);
    expect(reqs.every((q) => q.ssid === 9)).toBe(true);
    expect(mem.readBytes(Number(0x2000n + OFFSET), 4)).toEqual(Uint8Array.of(1, 2, 3, 4));
    e.mmioWrite(MEMCPY_REG.DST, 8, 0x4010n);
    e.mmioWrite(MEMCPY_REG.CMD, 4, 1n);
    expect(e.mmioRead(MEMCPY_REG.STATUS, 4)).toBe(BigInt(MEMCPY_STATUS.FAULT));
    expect(e.mmioRead(MEMCPY_REG.FAULT_IOVA, 8)).toBe(0x4010n);
    // A PASID beyond the device's capability is refused without throwing (guest input).
    e.mmioWrite(MEMCPY_REG.PASID, 4, BigInt(2 ** 31 + 0x1000));
    e.mmioWrite(MEMCPY_REG.CMD, 4, 1n);
    expect(e.mmioRead(MEMCPY_REG.STATUS, 4)).toBe(BigInt(MEMCPY_STATUS.FAULT));
  });

  it('refuses lengths outside its range', () => {
    const e = new MemcpyEngine(ID, fakePort().port);
    expect(() => e.copy({ src: 0, dst: 0, len: -1 })).toThrow(VsmmuError);
    expect(() => e.copy({ src: 0, dst: 0, len: 2 ** 40 })).toThrow(VsmmuError);
  });
});
