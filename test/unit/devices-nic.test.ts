// The NIC-like ring device against a fake DmaPort (IOVA → IOVA + offset): descriptor handshakes
// (OWN → DONE, lengths written back), empty and unowned rings, truncation, transmit, loopback,
// DMA faults stopping the rings, and the register interface. Descriptors are laid out by hand
// (16 bytes: buffer address, length, flags) and read back from memory.

import { describe, expect, it } from 'vitest';
import { makeEvent } from '../../src/arch/evt.ts';
import { type DmaPort, deviceIdentity } from '../../src/devices/device.ts';
import { NIC_DESC, NIC_ID, NIC_REG, RingNic } from '../../src/devices/nic.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';

const OFFSET = 0x10_0000_0000;

function fakePort(faultPages: number[] = []) {
  const mem = new SparseMemory();
  const seen: { iova: bigint; access: string; ssid: number | undefined }[] = [];
  const port: DmaPort = {
    mem,
    translate(req) {
      seen.push({ iova: req.iova, access: req.access, ssid: req.ssid });
      if (faultPages.includes(Number(req.iova) & ~0xfff)) {
        return { ok: false, event: makeEvent('F_TRANSLATION', { InputAddr: req.iova }) };
      }
      return { ok: true, pa: req.iova + BigInt(OFFSET), attrs: {} };
    },
  };
  return { mem, seen, port };
}

const ID = deviceIdentity({ name: 'nic', streamIds: [0x20], pasidBits: 4 });

/** Writes a descriptor (as the driver does) at IOVA `at`. */
function putDesc(mem: SparseMemory, at: number, buf: number, len: number, flags: number): void {
  mem.write64(OFFSET + at, BigInt(buf));
  mem.write32(OFFSET + at + 8, len);
  mem.write32(OFFSET + at + 12, flags);
}

function desc(mem: SparseMemory, at: number): { len: number; flags: number } {
  return { len: mem.read32(OFFSET + at + 8), flags: mem.read32(OFFSET + at + 12) };
}

const RX = 0x1000;
const TX = 0x2000;
const BUF = 0x10000;

describe('NIC receive ring', () => {
  it('writes a packet into the buffer of the head descriptor and completes it', () => {
    const { mem, port } = fakePort();
    const nic = new RingNic(ID, port);
    nic.setRing('rx', RX, 4);
    for (let i = 0; i < 4; i++) putDesc(mem, RX + 16 * i, BUF + 0x800 * i, 0x800, NIC_DESC.OWN);
    nic.doorbell('rx', 3);
    const pkt = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    expect(nic.receive(pkt)).toEqual({ delivered: true, descriptor: 0, truncated: false });
    expect(mem.readBytes(OFFSET + BUF, 300)).toEqual(pkt);
    // Written back: the received length, DONE set and OWN cleared.
    expect(desc(mem, RX)).toEqual({ len: 300, flags: NIC_DESC.DONE });
    expect(nic.ring('rx')).toEqual({ head: 1, tail: 3, size: 4 });
    expect(nic.counters.rxPackets).toBe(1);
    // Two more fill the ring up to the tail; the next one is dropped.
    expect(nic.receive(pkt).delivered).toBe(true);
    expect(nic.receive(pkt).delivered).toBe(true);
    expect(nic.receive(pkt)).toEqual({ delivered: false, reason: 'ring-empty' });
    expect(nic.counters.rxDropped).toBe(1);
  });

  it('drops on a descriptor the driver does not own and truncates to the buffer size', () => {
    const { mem, port } = fakePort();
    const nic = new RingNic(ID, port);
    nic.setRing('rx', RX, 2);
    putDesc(mem, RX, BUF, 16, 0);
    nic.doorbell('rx', 1);
    expect(nic.receive(new Uint8Array(4))).toEqual({ delivered: false, reason: 'not-owned' });
    putDesc(mem, RX, BUF, 16, NIC_DESC.OWN);
    const r = nic.receive(new Uint8Array(40).fill(7));
    expect(r).toEqual({ delivered: true, descriptor: 0, truncated: true });
    expect(desc(mem, RX)).toEqual({ len: 16, flags: NIC_DESC.DONE | NIC_DESC.ERR });
    expect(mem.readBytes(OFFSET + BUF + 16, 4)).toEqual(new Uint8Array(4));
  });

  it('stops on a DMA fault until reset', () => {
    const { mem, port } = fakePort([BUF]);
    const nic = new RingNic(ID, port);
    nic.setRing('rx', RX, 2);
    putDesc(mem, RX, BUF, 64, NIC_DESC.OWN);
    nic.doorbell('rx', 1);
    const r = nic.receive(new Uint8Array(8));
    expect(r.delivered).toBe(false);
    expect(!r.delivered && r.reason === 'fault' && r.fault.iova).toBe(BigInt(BUF));
    // The descriptor was not completed.
    expect(desc(mem, RX).flags).toBe(NIC_DESC.OWN);
    expect(nic.receive(new Uint8Array(8))).toEqual({ delivered: false, reason: 'stopped' });
    expect(nic.mmioRead(NIC_REG.STATUS, 4)).toBe(1n);
    expect(nic.mmioRead(NIC_REG.FAULT_IOVA, 8)).toBe(BigInt(BUF));
    nic.mmioWrite(NIC_REG.STATUS, 4, 1n);
    expect(nic.lastFault).toBeUndefined();
  });
});

describe('NIC transmit ring', () => {
  it('sends owned descriptors up to the tail, writes DONE back, loops back to receive', () => {
    const { mem, seen, port } = fakePort();
    const nic = new RingNic(ID, port);
    nic.loopback = true;
    nic.setRing('rx', RX, 4);
    nic.setRing('tx', TX, 4);
    for (let i = 0; i < 4; i++) putDesc(mem, RX + 16 * i, BUF + 0x1000 * i, 0x1000, NIC_DESC.OWN);
    nic.doorbell('rx', 3);
    const a = Uint8Array.from({ length: 100 }, (_, i) => i);
    const b = Uint8Array.from({ length: 0x1800 }, (_, i) => (i * 3) & 0xff);
    mem.writeBytes(OFFSET + 0x8000, a);
    mem.writeBytes(OFFSET + 0xa800, b);
    putDesc(mem, TX, 0x8000, a.length, NIC_DESC.OWN);
    putDesc(mem, TX + 16, 0xa800, b.length, NIC_DESC.OWN);
    const sent: Uint8Array[] = [];
    nic.onTransmit = (p) => sent.push(p);
    seen.length = 0;
    expect(nic.doorbell('tx', 2)).toEqual({ sent: 2 });
    expect(sent).toEqual([a, b]);
    expect(desc(mem, TX).flags).toBe(NIC_DESC.DONE);
    expect(desc(mem, TX + 16).flags).toBe(NIC_DESC.DONE);
    // Looped back into RX descriptors 0 and 1.
    expect(mem.readBytes(OFFSET + BUF, 100)).toEqual(a);
    expect(mem.readBytes(OFFSET + BUF + 0x1000, 0x1000)).toEqual(b.subarray(0, 0x1000));
    expect(desc(mem, RX + 16)).toEqual({ len: 0x1000, flags: NIC_DESC.DONE | NIC_DESC.ERR });
    // Every buffer and descriptor access went through translation; the 0x1800-byte buffer at
    // 0xa800 crosses one 4 KiB boundary (two reads).
    const txBufReads = seen.filter((s) => s.access === 'read' && s.iova >= 0xa800n);
    expect(txBufReads.map((s) => s.iova)).toEqual([0xa800n, 0xb000n]);
    expect(nic.counters).toMatchObject({ txPackets: 2, rxPackets: 2, txBytes: 100 + 0x1800 });
  });

  it('stops at a descriptor it does not own', () => {
    const { mem, port } = fakePort();
    const nic = new RingNic(ID, port);
    nic.setRing('tx', TX, 4);
    putDesc(mem, TX, 0x8000, 4, 0);
    expect(nic.doorbell('tx', 3)).toEqual({ sent: 0 });
    expect(nic.ring('tx').head).toBe(0);
  });
});

describe('NIC registers', () => {
  it('programs rings, PASID and loopback and rings doorbells through MMIO', () => {
    const { mem, seen, port } = fakePort();
    const nic = new RingNic(ID, port);
    expect(nic.mmioRead(NIC_REG.ID, 4)).toBe(BigInt(NIC_ID));
    nic.mmioWrite(NIC_REG.TX_BASE, 4, BigInt(TX));
    nic.mmioWrite(NIC_REG.TX_BASE + 4, 4, 0n);
    nic.mmioWrite(NIC_REG.TX_SIZE, 4, 8n);
    nic.mmioWrite(NIC_REG.PASID, 4, BigInt(2 ** 31 + 3));
    nic.mmioWrite(NIC_REG.CTRL, 4, 1n);
    expect(nic.loopback).toBe(true);
    putDesc(mem, TX, 0x8000, 8, NIC_DESC.OWN);
    nic.mmioWrite(NIC_REG.TX_TAIL, 4, 1n);
    expect(nic.mmioRead(NIC_REG.TX_HEAD, 4)).toBe(1n);
    expect(nic.mmioRead(NIC_REG.TX_BASE, 8)).toBe(BigInt(TX));
    expect(seen.every((s) => s.ssid === 3)).toBe(true);
    // A PASID beyond the 4-bit capability is ignored; a bad ring size disables the ring.
    nic.mmioWrite(NIC_REG.PASID, 4, BigInt(2 ** 31 + 16));
    expect(nic.mmioRead(NIC_REG.PASID, 4)).toBe(0n);
    nic.mmioWrite(NIC_REG.RX_SIZE, 4, 0n);
    expect(nic.receive(new Uint8Array(1))).toEqual({ delivered: false, reason: 'ring-empty' });
  });
});
