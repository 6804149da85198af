// A memcpy DMA engine in the spirit of QEMU's `edu` teaching device (hw/misc/edu.c: source,
// destination, count and a command register that starts the DMA), but memory to memory: it
// copies `len` bytes from IOVA `src` to IOVA `dst`, optionally tagged with a PASID (SubstreamID),
// every access going through the IOMMU in front of it. Transactions never cross a 4 KiB boundary
// of either address (device.ts); the engine reads a chunk, writes it, and stops at the first
// transaction the IOMMU terminates, reporting where and why. RAZ/WI completions read as zeros.

import { VsmmuError } from '../arch/errors.ts';
import {
  type DeviceIdentity,
  DMA_BOUNDARY,
  type DmaFault,
  DmaMaster,
  type DmaPort,
  type DmaStats,
  toIova,
} from './device.ts';

/** Largest single copy the engine accepts. */
export const MEMCPY_MAX_LEN = 16 * 1024 * 1024;

/** Identification value of register 0x00 ("mcpy"). */
export const MEMCPY_ID = 0x6d63_7079;

/** Register offsets of the engine's MMIO block (32-bit registers; SRC/DST/FAULT are 64-bit). */
export const MEMCPY_REG = {
  /** RO identification. */
  ID: 0x00,
  /** Source IOVA (64-bit). */
  SRC: 0x08,
  /** Destination IOVA (64-bit). */
  DST: 0x10,
  /** Length in bytes. */
  LEN: 0x18,
  /** Bit 31: PASID valid; bits [19:0]: PASID. */
  PASID: 0x1c,
  /** WO: writing 1 runs the copy (synchronously). */
  CMD: 0x20,
  /** RO: 0 idle, 1 done, 2 fault. */
  STATUS: 0x24,
  /** RO: IOVA of the terminated transaction (64-bit). */
  FAULT_IOVA: 0x28,
  /** RO: bytes copied by the last run. */
  COPIED: 0x30,
} as const;

/** STATUS register values. */
export const MEMCPY_STATUS = { IDLE: 0, DONE: 1, FAULT: 2 } as const;

/** A copy to perform. */
export interface CopyRequest {
  readonly src: bigint | number;
  readonly dst: bigint | number;
  readonly len: number;
  /** PASID of the transactions (needs the PASID capability). */
  readonly ssid?: number | undefined;
  readonly priv?: boolean | undefined;
}

/** Outcome of a copy. */
export interface CopyResult {
  readonly ok: boolean;
  /** Bytes that reached the destination. */
  readonly copied: number;
  /** Transactions this copy issued. */
  readonly transactions: number;
  /** The terminated transaction, when !ok. */
  readonly fault?: DmaFault;
}

const PASID_VALID = 2 ** 31;
const PASID_MASK = 2 ** 20;

/** The memcpy engine. */
export class MemcpyEngine {
  readonly dma: DmaMaster;
  /** Copies run, and copies that stopped on a fault. */
  copies = 0;
  failedCopies = 0;
  /** Result of the last copy. */
  lastResult: CopyResult | undefined;

  private src = 0n;
  private dst = 0n;
  private len = 0;
  private pasidReg = 0;
  private status: number = MEMCPY_STATUS.IDLE;

  constructor(identity: DeviceIdentity, port: DmaPort, sidIndex = 0) {
    this.dma = new DmaMaster(identity, port, sidIndex);
  }

  /** The device identity. */
  get identity(): DeviceIdentity {
    return this.dma.identity;
  }

  /** Transaction and fault counters. */
  get stats(): DmaStats {
    return this.dma.stats;
  }

  /** Copies `len` bytes from `src` to `dst` (both IOVAs), chunk by chunk. */
  copy(req: CopyRequest): CopyResult {
    if (!Number.isSafeInteger(req.len) || req.len < 0 || req.len > MEMCPY_MAX_LEN) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        `copy length ${String(req.len)} is outside 0..${MEMCPY_MAX_LEN}`,
      );
    }
    const src = toIova(req.src);
    const dst = toIova(req.dst);
    const opts = { ssid: req.ssid, priv: req.priv };
    const before = this.dma.stats.transactions;
    this.copies++;
    let copied = 0;
    let fault: DmaFault | undefined;
    while (copied < req.len) {
      const s = src + BigInt(copied);
      const d = dst + BigInt(copied);
      const room = (a: bigint) => DMA_BOUNDARY - Number(a % BigInt(DMA_BOUNDARY));
      const chunk = Math.min(req.len - copied, room(s), room(d));
      const r = this.dma.read(s, chunk, opts);
      if (!r.ok) {
        fault = r.fault;
        break;
      }
      const w = this.dma.write(d, r.data, opts);
      if (!w.ok) {
        fault = w.fault;
        break;
      }
      copied += chunk;
    }
    if (fault) this.failedCopies++;
    const result: CopyResult = {
      ok: fault === undefined,
      copied,
      transactions: this.dma.stats.transactions - before,
      ...(fault ? { fault } : {}),
    };
    this.lastResult = result;
    return result;
  }

  /** Reads a register (4- or 8-byte access). */
  mmioRead(offset: number, size: 4 | 8): bigint {
    const v = this.reg64(offset - (offset % 8));
    if (size === 8) return offset % 8 === 0 ? v : 0n;
    return offset % 8 === 0 ? v & 0xffff_ffffn : v >> 32n;
  }

  private reg64(o: number): bigint {
    const r = this.lastResult;
    switch (o) {
      case MEMCPY_REG.ID:
        return BigInt(MEMCPY_ID);
      case MEMCPY_REG.SRC:
        return this.src;
      case MEMCPY_REG.DST:
        return this.dst;
      case MEMCPY_REG.LEN:
        return BigInt(this.len) | (BigInt(this.pasidReg) << 32n);
      case MEMCPY_REG.CMD:
        return BigInt(this.status) << 32n;
      case MEMCPY_REG.FAULT_IOVA:
        return r?.fault?.iova ?? 0n;
      case MEMCPY_REG.COPIED:
        return BigInt(r?.copied ?? 0);
      default:
        return 0n;
    }
  }

  /** Writes a register (4- or 8-byte access); writing 1 to CMD runs the copy. */
  mmioWrite(offset: number, size: 4 | 8, value: bigint): void {
    const lo = value & 0xffff_ffffn;
    const setHalf = (old: bigint, high: boolean) =>
      high ? (old & 0xffff_ffffn) | (lo << 32n) : (old & ~0xffff_ffffn) | lo;
    if (size === 8 && (offset === MEMCPY_REG.SRC || offset === MEMCPY_REG.DST)) {
      if (offset === MEMCPY_REG.SRC) this.src = BigInt.asUintN(64, value);
      else this.dst = BigInt.asUintN(64, value);
      return;
    }
    switch (offset) {
      case MEMCPY_REG.SRC:
      case MEMCPY_REG.SRC + 4:
        this.src = setHalf(this.src, offset !== MEMCPY_REG.SRC);
        return;
      case MEMCPY_REG.DST:
      case MEMCPY_REG.DST + 4:
        this.dst = setHalf(this.dst, offset !== MEMCPY_REG.DST);
        return;
      case MEMCPY_REG.LEN:
        this.len = Number(lo);
        return;
      case MEMCPY_REG.PASID:
        this.pasidReg = Number(lo);
        return;
      case MEMCPY_REG.CMD: {
        if (lo !== 1n) return;
        const pasid =
          this.pasidReg >= PASID_VALID ? (this.pasidReg - PASID_VALID) % PASID_MASK : undefined;
        const len = Math.min(this.len, MEMCPY_MAX_LEN);
        try {
          const r = this.copy({ src: this.src, dst: this.dst, len, ssid: pasid });
          this.status = r.ok ? MEMCPY_STATUS.DONE : MEMCPY_STATUS.FAULT;
        } catch {
          // A PASID the device cannot emit: the command is refused (guest input never throws).
          this.status = MEMCPY_STATUS.FAULT;
          this.lastResult = { ok: false, copied: 0, transactions: 0 };
        }
        return;
      }
      default:
        // Read-only and unused offsets ignore writes.
        return;
    }
  }
}
