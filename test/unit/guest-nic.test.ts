// NIC ring round trip through the real SMMU model, with the guest driver owning the translation:
// the test plays the guest's NIC driver (rings and buffers in guest RAM, mapped at IOVAs through a
// stage-1 domain, registers programmed through the NIC's MMIO), the NIC transmits in loopback and
// receives into the guest's RX buffers — every descriptor and buffer access a translated
// transaction. Then an RX buffer is unmapped and the NIC's write faults, and the guest driver reads
// the event.

import { describe, expect, it } from 'vitest';
import { deviceIdentity } from '../../src/devices/device.ts';
import { NIC_DESC, NIC_REG, RingNic } from '../../src/devices/nic.ts';
import { DATA_BASE, machine, must, pattern } from './guest-kit.ts';

const SID = 0x0300; // PCI 00:06.0 as a requester ID (bus 0, dev 6, fn 0)
const RING_IOVA = 0x1_0000;
const TXBUF_IOVA = 0x2_0000;
const RXBUF_IOVA = 0x3_0000;
const RING_PA = DATA_BASE;
const TXBUF_PA = DATA_BASE + 0x10_0000;
const RXBUF_PA = DATA_BASE + 0x20_0000;

describe('NIC behind the guest driver', () => {
  it('transmits a packet, receives it back through loopback, then faults when a buffer is unmapped', () => {
    const m = machine();
    const dev = must(m.driver.addDevice({ name: 'nic0', sids: [SID] }));
    const dom = must(m.driver.allocDomain());
    expect(m.driver.attach(dev, dom)).toBe(0);
    // One 4 KiB page holds both rings (RX at +0, TX at +0x800); 2 TX and 4 RX buffer pages.
    expect(m.driver.map(dom, RING_IOVA, RING_PA, 0x1000)).toBe(0);
    expect(m.driver.map(dom, TXBUF_IOVA, TXBUF_PA, 0x2000)).toBe(0);
    expect(m.driver.map(dom, RXBUF_IOVA, RXBUF_PA, 0x4000)).toBe(0);

    const nic = new RingNic(deviceIdentity({ name: 'nic0', streamIds: [SID] }), m.smmu);
    const w = (off: number, v: number) => nic.mmioWrite(off, 4, BigInt(v));
    w(NIC_REG.RX_BASE, RING_IOVA);
    w(NIC_REG.RX_SIZE, 4);
    w(NIC_REG.TX_BASE, RING_IOVA + 0x800);
    w(NIC_REG.TX_SIZE, 4);
    w(NIC_REG.CTRL, 1);
    // Guest posts 4 RX buffers (descriptor: addr, capacity, OWN) and hands over 3 of them.
    for (let i = 0; i < 4; i++) {
      m.mem.write64(RING_PA + 16 * i, BigInt(RXBUF_IOVA + 0x1000 * i));
      m.mem.write32(RING_PA + 16 * i + 8, 0x1000);
      m.mem.write32(RING_PA + 16 * i + 12, NIC_DESC.OWN);
    }
    w(NIC_REG.RX_TAIL, 3);
    // One packet that straddles the two TX buffer pages.
    const pkt = pattern(1500, 42);
    m.mem.writeBytes(TXBUF_PA + 0x1000 - 700, pkt);
    m.mem.write64(RING_PA + 0x800, BigInt(TXBUF_IOVA + 0x1000 - 700));
    m.mem.write32(RING_PA + 0x808, pkt.length);
    m.mem.write32(RING_PA + 0x80c, NIC_DESC.OWN);
    w(NIC_REG.TX_TAIL, 1);

    expect(nic.counters).toMatchObject({ txPackets: 1, rxPackets: 1, faults: 0 });
    expect(nic.transmitted[0]).toEqual(pkt);
    // Completion status written back through the IOMMU into guest RAM.
    expect(m.mem.read32(RING_PA + 0x80c)).toBe(NIC_DESC.DONE);
    expect(m.mem.read32(RING_PA + 8)).toBe(1500);
    expect(m.mem.read32(RING_PA + 12)).toBe(NIC_DESC.DONE);
    expect(m.mem.readBytes(RXBUF_PA, 1500)).toEqual(pkt);
    expect(nic.mmioRead(NIC_REG.RX_HEAD, 4)).toBe(1n);
    // Transactions: TX desc read, 2 buffer reads (crossing 4 KiB), TX status write; RX desc read,
    // 1 buffer write, RX status write.
    expect(nic.stats.transactions).toBe(7);

    // The guest unmaps the second RX buffer (with TLBI + SYNC); the next packet lands there.
    expect(m.driver.unmap(dom, RXBUF_IOVA + 0x1000, 0x1000)).toBe(0x1000);
    m.mem.write32(RING_PA + 0x81c, NIC_DESC.OWN);
    m.mem.write64(RING_PA + 0x810, BigInt(TXBUF_IOVA));
    m.mem.write32(RING_PA + 0x818, 64);
    w(NIC_REG.TX_TAIL, 2);
    expect(nic.counters.faults).toBe(1);
    expect(nic.lastFault).toMatchObject({ iova: BigInt(RXBUF_IOVA + 0x1000), access: 'write' });
    expect(nic.mmioRead(NIC_REG.STATUS, 4)).toBe(1n);
    const ev = m.driver.processEvents();
    expect(ev.length).toBe(1);
    expect(ev[0]?.client).toBe('nic0');
    expect(ev[0]?.record.type).toBe('F_TRANSLATION');
    expect(ev[0]?.record.fields.InputAddr).toBe(BigInt(RXBUF_IOVA + 0x1000));
    // RnW = 0: the faulting access was the device's write of the packet.
    expect(ev[0]?.record.fields.RnW).toBe(0n);
  });
});
