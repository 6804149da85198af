// A NIC-like ring device: receive and transmit descriptor rings live in IOVA space (guest memory
// mapped through the IOMMU), in the style of simple Ethernet controllers (e1000-like head/tail
// rings with an OWN/DONE handshake). The device reads descriptors and packet buffers through its
// DMA master and writes received packets and completion status back, so every access is a
// translated transaction. An optional loopback feeds transmitted packets to the receive ring,
// which makes a whole round trip observable from the guest.
//
// Descriptor (16 bytes, little-endian):
//   [0..8)   buffer IOVA
//   [8..12)  length: RX — buffer capacity (driver), bytes received (device); TX — packet length
//   [12..16) flags: bit 0 OWN (the device may use it; set by the driver, cleared by the device),
//            bit 1 DONE (completed by the device), bit 2 ERR (completed with an error: the packet
//            did not fit)

import { VsmmuError } from '../arch/errors.ts';
import {
  type DeviceIdentity,
  type DmaFault,
  DmaMaster,
  type DmaOptions,
  type DmaPort,
  type DmaStats,
  leU32,
  leU64,
  putLeU32,
} from './device.ts';

/** Bytes per descriptor. */
export const NIC_DESC_BYTES = 16;

/** Descriptor flag bits. */
export const NIC_DESC = { OWN: 1, DONE: 2, ERR: 4 } as const;

/** Identification value of register 0x00 ("nic0"). */
export const NIC_ID = 0x6e69_6330;

/** Register offsets of the NIC's MMIO block. */
export const NIC_REG = {
  ID: 0x00,
  /** Receive ring base IOVA (64-bit). */
  RX_BASE: 0x08,
  /** Receive ring size in descriptors. */
  RX_SIZE: 0x10,
  /** RO: next receive descriptor the device will use. */
  RX_HEAD: 0x14,
  /** One past the last descriptor the driver handed over (doorbell). */
  RX_TAIL: 0x18,
  /** Transmit ring base IOVA (64-bit). */
  TX_BASE: 0x20,
  TX_SIZE: 0x28,
  /** RO: next transmit descriptor the device will process. */
  TX_HEAD: 0x2c,
  /** Doorbell: writing it processes the transmit ring up to the new tail. */
  TX_TAIL: 0x30,
  /** Bit 0: loopback (transmitted packets are received). */
  CTRL: 0x34,
  /** RO: bit 0 set after a DMA fault (the ring stopped). */
  STATUS: 0x38,
  /** Bit 31: PASID valid; bits [19:0]: PASID of every transaction. */
  PASID: 0x3c,
  /** RO: IOVA of the last terminated transaction (64-bit). */
  FAULT_IOVA: 0x40,
} as const;

/** A ring as the device tracks it. */
interface Ring {
  base: bigint;
  size: number;
  head: number;
  tail: number;
}

/** Outcome of offering one packet to the receive ring. */
export type ReceiveResult =
  | { readonly delivered: true; readonly descriptor: number; readonly truncated: boolean }
  | { readonly delivered: false; readonly reason: 'ring-empty' | 'not-owned' | 'stopped' }
  | { readonly delivered: false; readonly reason: 'fault'; readonly fault: DmaFault };

/** Outcome of processing the transmit ring. */
export interface TransmitResult {
  readonly sent: number;
  readonly fault?: DmaFault;
}

/** Packet counters of the NIC. */
export interface NicCounters {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  txPackets: number;
  txBytes: number;
  faults: number;
}

const PASID_VALID = 2 ** 31;

/** The NIC-like ring device. */
export class RingNic {
  readonly dma: DmaMaster;
  readonly counters: NicCounters = {
    rxPackets: 0,
    rxBytes: 0,
    rxDropped: 0,
    txPackets: 0,
    txBytes: 0,
    faults: 0,
  };
  /** Packets transmitted (oldest first); with loopback they are also received. */
  readonly transmitted: Uint8Array[] = [];
  /** Called with each transmitted packet. */
  onTransmit: ((packet: Uint8Array) => void) | undefined;
  /** Transmitted packets are delivered to the receive ring. */
  loopback = false;
  /** The last terminated transaction; the rings stop until `reset()`. */
  lastFault: DmaFault | undefined;

  private readonly rx: Ring = { base: 0n, size: 0, head: 0, tail: 0 };
  private readonly tx: Ring = { base: 0n, size: 0, head: 0, tail: 0 };
  private pasidReg = 0;

  constructor(identity: DeviceIdentity, port: DmaPort, sidIndex = 0) {
    this.dma = new DmaMaster(identity, port, sidIndex);
  }

  /** The device identity. */
  get identity(): DeviceIdentity {
    return this.dma.identity;
  }

  /** DMA transaction counters. */
  get stats(): DmaStats {
    return this.dma.stats;
  }

  /** Programs a ring (what the driver does through RX_BASE/RX_SIZE or TX_BASE/TX_SIZE). */
  setRing(which: 'rx' | 'tx', base: bigint | number, size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > 65536) {
      throw new VsmmuError('BAD_ARGUMENT', `ring size ${String(size)} is outside 1..65536`);
    }
    const r = which === 'rx' ? this.rx : this.tx;
    r.base = BigInt(base);
    r.size = size;
    r.head = 0;
    r.tail = 0;
  }

  /** Current head/tail of a ring. */
  ring(which: 'rx' | 'tx'): {
    readonly head: number;
    readonly tail: number;
    readonly size: number;
  } {
    const r = which === 'rx' ? this.rx : this.tx;
    return { head: r.head, tail: r.tail, size: r.size };
  }

  /** Sets the PASID of every transaction (undefined = none). */
  setPasid(ssid: number | undefined): void {
    this.pasidReg = ssid === undefined ? 0 : PASID_VALID + ssid;
  }

  /** Clears the fault state (the rings run again). */
  reset(): void {
    this.lastFault = undefined;
  }

  private opts(): DmaOptions {
    return { ssid: this.pasidReg >= PASID_VALID ? this.pasidReg - PASID_VALID : undefined };
  }

  private descAddr(r: Ring, i: number): bigint {
    return r.base + BigInt(i * NIC_DESC_BYTES);
  }

  private fail(fault: DmaFault): void {
    this.counters.faults++;
    this.lastFault = fault;
  }

  /** Sets the driver's tail of a ring (the doorbell); TX processes the ring at once. */
  doorbell(which: 'rx' | 'tx', tail: number): TransmitResult | undefined {
    const r = which === 'rx' ? this.rx : this.tx;
    if (r.size === 0) return undefined;
    r.tail = ((tail % r.size) + r.size) % r.size;
    return which === 'tx' ? this.transmit() : undefined;
  }

  /**
   * Offers a packet from the wire: the device takes the descriptor at RX head, writes the packet
   * into its buffer (truncated to the capacity, with ERR), then writes length and DONE back.
   */
  receive(packet: Uint8Array): ReceiveResult {
    const r = this.rx;
    if (this.lastFault) {
      this.counters.rxDropped++;
      return { delivered: false, reason: 'stopped' };
    }
    if (r.size === 0 || r.head === r.tail) {
      this.counters.rxDropped++;
      return { delivered: false, reason: 'ring-empty' };
    }
    const o = this.opts();
    const da = this.descAddr(r, r.head);
    const d = this.dma.read(da, NIC_DESC_BYTES, o);
    if (!d.ok) {
      this.fail(d.fault);
      return { delivered: false, reason: 'fault', fault: d.fault };
    }
    const buf = leU64(d.data, 0);
    const cap = leU32(d.data, 8);
    const flags = leU32(d.data, 12);
    if (!(flags & NIC_DESC.OWN)) {
      this.counters.rxDropped++;
      return { delivered: false, reason: 'not-owned' };
    }
    const n = Math.min(cap, packet.length);
    const truncated = n < packet.length;
    const w = this.dma.write(buf, packet.subarray(0, n), o);
    if (!w.ok) {
      this.fail(w.fault);
      return { delivered: false, reason: 'fault', fault: w.fault };
    }
    const back = new Uint8Array(8);
    putLeU32(back, 0, n);
    putLeU32(back, 4, NIC_DESC.DONE | (truncated ? NIC_DESC.ERR : 0));
    const wb = this.dma.write(da + 8n, back, o);
    if (!wb.ok) {
      this.fail(wb.fault);
      return { delivered: false, reason: 'fault', fault: wb.fault };
    }
    const slot = r.head;
    r.head = (r.head + 1) % r.size;
    this.counters.rxPackets++;
    this.counters.rxBytes += n;
    return { delivered: true, descriptor: slot, truncated };
  }

  /**
   * Processes the transmit ring from head to tail: reads each descriptor and its buffer, emits
   * the packet, writes DONE back. Stops at a descriptor the device does not own or at a fault.
   */
  transmit(): TransmitResult {
    const r = this.tx;
    let sent = 0;
    const o = this.opts();
    while (!this.lastFault && r.size > 0 && r.head !== r.tail) {
      const da = this.descAddr(r, r.head);
      const d = this.dma.read(da, NIC_DESC_BYTES, o);
      if (!d.ok) {
        this.fail(d.fault);
        return { sent, fault: d.fault };
      }
      const buf = leU64(d.data, 0);
      const len = leU32(d.data, 8);
      const flags = leU32(d.data, 12);
      if (!(flags & NIC_DESC.OWN)) break;
      const p = this.dma.read(buf, len, o);
      if (!p.ok) {
        this.fail(p.fault);
        return { sent, fault: p.fault };
      }
      const back = new Uint8Array(4);
      putLeU32(back, 0, NIC_DESC.DONE);
      const wb = this.dma.write(da + 12n, back, o);
      if (!wb.ok) {
        this.fail(wb.fault);
        return { sent, fault: wb.fault };
      }
      r.head = (r.head + 1) % r.size;
      sent++;
      this.counters.txPackets++;
      this.counters.txBytes += len;
      const packet = p.data.slice();
      this.transmitted.push(packet);
      this.onTransmit?.(packet);
      if (this.loopback) this.receive(packet);
    }
    return this.lastFault ? { sent, fault: this.lastFault } : { sent };
  }

  /** Reads a register (4- or 8-byte access). */
  mmioRead(offset: number, size: 4 | 8): bigint {
    if (size === 8) {
      if (offset === NIC_REG.RX_BASE) return this.rx.base;
      if (offset === NIC_REG.TX_BASE) return this.tx.base;
      if (offset === NIC_REG.FAULT_IOVA) return this.lastFault?.iova ?? 0n;
      return BigInt(this.reg32(offset)) | (BigInt(this.reg32(offset + 4)) << 32n);
    }
    return BigInt(this.reg32(offset));
  }

  private reg32(o: number): number {
    const half = (v: bigint, high: boolean) => Number(high ? v >> 32n : v & 0xffff_ffffn);
    switch (o) {
      case NIC_REG.ID:
        return NIC_ID;
      case NIC_REG.RX_BASE:
      case NIC_REG.RX_BASE + 4:
        return half(this.rx.base, o !== NIC_REG.RX_BASE);
      case NIC_REG.RX_SIZE:
        return this.rx.size;
      case NIC_REG.RX_HEAD:
        return this.rx.head;
      case NIC_REG.RX_TAIL:
        return this.rx.tail;
      case NIC_REG.TX_BASE:
      case NIC_REG.TX_BASE + 4:
        return half(this.tx.base, o !== NIC_REG.TX_BASE);
      case NIC_REG.TX_SIZE:
        return this.tx.size;
      case NIC_REG.TX_HEAD:
        return this.tx.head;
      case NIC_REG.TX_TAIL:
        return this.tx.tail;
      case NIC_REG.CTRL:
        return this.loopback ? 1 : 0;
      case NIC_REG.STATUS:
        return this.lastFault ? 1 : 0;
      case NIC_REG.PASID:
        return this.pasidReg;
      case NIC_REG.FAULT_IOVA:
      case NIC_REG.FAULT_IOVA + 4:
        return half(this.lastFault?.iova ?? 0n, o !== NIC_REG.FAULT_IOVA);
      default:
        return 0;
    }
  }

  /** Writes a register; TX_TAIL is the transmit doorbell. Guest input never throws. */
  mmioWrite(offset: number, size: 4 | 8, value: bigint): void {
    const v = BigInt.asUintN(64, value);
    const lo = Number(v & 0xffff_ffffn);
    const setHalf = (old: bigint, high: boolean) =>
      high ? (old & 0xffff_ffffn) | (BigInt(lo) << 32n) : (old & ~0xffff_ffffn) | BigInt(lo);
    switch (offset) {
      case NIC_REG.RX_BASE:
      case NIC_REG.RX_BASE + 4:
        this.rx.base = size === 8 ? v : setHalf(this.rx.base, offset !== NIC_REG.RX_BASE);
        return;
      case NIC_REG.TX_BASE:
      case NIC_REG.TX_BASE + 4:
        this.tx.base = size === 8 ? v : setHalf(this.tx.base, offset !== NIC_REG.TX_BASE);
        return;
      case NIC_REG.RX_SIZE:
      case NIC_REG.TX_SIZE: {
        const r = offset === NIC_REG.RX_SIZE ? this.rx : this.tx;
        // A size the device cannot hold disables the ring.
        r.size = lo >= 1 && lo <= 65536 ? lo : 0;
        r.head = 0;
        r.tail = 0;
        return;
      }
      case NIC_REG.RX_TAIL:
        this.doorbell('rx', lo);
        return;
      case NIC_REG.TX_TAIL:
        this.doorbell('tx', lo);
        return;
      case NIC_REG.CTRL:
        this.loopback = (lo & 1) === 1;
        return;
      case NIC_REG.STATUS:
        // Writing 1 clears the fault state.
        if (lo & 1) this.reset();
        return;
      case NIC_REG.PASID: {
        const bits = this.identity.pasidBits;
        const ssid = lo % 2 ** 20;
        this.pasidReg = lo >= PASID_VALID && bits > 0 && ssid < 2 ** bits ? PASID_VALID + ssid : 0;
        return;
      }
      default:
        return;
    }
  }
}
