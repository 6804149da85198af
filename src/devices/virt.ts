// The part of QEMU's Arm `virt` machine (hw/arm/virt.c memory map) that vsmmu models: the SMMUv3
// register file at 0x0905_0000 (two 64 KB pages, SMMUv3 spec IHI 0070 §6.1) and RAM from
// 0x4000_0000. Every other physical address behaves like QEMU's unassigned memory: reads return
// zero, writes are ignored (QEMU 10.0.2 measured: `readl 0x0c000000` → 0). Accesses that cross
// a region boundary are split per region, byte-exact, as QEMU's flatview does; an MMIO piece is
// cut into naturally aligned 4- or 8-byte accesses (QEMU's memory_access_size for a region whose
// valid access sizes are 4..8) and a smaller or misaligned piece reads as zero / is dropped.
import { VsmmuError } from '../arch/errors.ts';
import { SparseMemory } from '../mem/sparse-memory.ts';
import { type IrqLine, Smmu, type SmmuOptions } from '../smmu/smmu.ts';
import { createTranslation } from '../smmu/translate.ts';
import type { TranslateRequest, TranslateResult } from '../smmu/types.ts';

/** Base of the SMMUv3 register frame in the `virt` memory map (VIRT_SMMU). */
export const VIRT_SMMU_BASE = 0x0905_0000;
/** Size of the SMMUv3 register frame: page 0 and page 1, 64 KB each. */
export const VIRT_SMMU_SIZE = 0x2_0000;
/** Start of RAM in the `virt` memory map (VIRT_MEM). */
export const VIRT_RAM_BASE = 0x4000_0000;
/** Default RAM size (QEMU's `-m 256M` as used by the oracle). */
export const VIRT_DEFAULT_RAM_SIZE = 256 * 1024 * 1024;
/** Largest RAM the `virt` machine maps from VIRT_RAM_BASE (255 GB, hw/arm/virt.c LEGACY_RAMLIMIT). */
export const VIRT_MAX_RAM_SIZE = 255 * 2 ** 30;

/**
 * A memory-mapped register block; offsets are relative to its base, accesses are 4 or 8 bytes.
 * Reads may answer a number or a bigint (the SMMU answers numbers for 32-bit accesses).
 */
export interface MmioDevice {
  mmioRead(offset: number, size: 4 | 8): number | bigint;
  mmioWrite(offset: number, size: 4 | 8, value: bigint): void;
}

/** An IOMMU as seen by a DMA master: translates one transaction (interfaces.md §4). */
export interface DmaTranslator {
  translate(req: TranslateRequest): TranslateResult;
  /**
   * Optional number path (Smmu.translateFast): `ssid` −1 = none, `iova` < 2^53, flags bit 0 =
   * write; a PA ≥ 0 or a negative code when terminated.
   */
  translateFast?(sid: number, ssid: number, iova: number, flags: number): number;
}

/** Options of a machine. */
export interface VirtOptions {
  /** RAM size in bytes (multiple of 4 KB, default 256 MB). */
  readonly ramSize?: number;
  /** The physical memory behind RAM (default: a new 52-bit SparseMemory). */
  readonly mem?: SparseMemory;
}

const U64_LIMIT = 1n << 64n;

/**
 * The `virt` physical address space: RAM, the SMMU frame and unassigned space. Addresses are
 * u64 bigints at this edge (the qtest protocol's); RAM itself is a SparseMemory addressed by PA.
 */
export class VirtMachine {
  readonly mem: SparseMemory;
  readonly ramBase = VIRT_RAM_BASE;
  readonly ramSize: number;
  readonly ramEnd: number;
  /** The SMMU register frame; undefined = the frame is unassigned space too. */
  smmu: MmioDevice | undefined;

  constructor(opts: VirtOptions = {}) {
    const ramSize = opts.ramSize ?? VIRT_DEFAULT_RAM_SIZE;
    if (!Number.isInteger(ramSize) || ramSize <= 0 || ramSize % 4096 !== 0) {
      throw new VsmmuError('BAD_CONFIG', `RAM size ${ramSize} is not a positive multiple of 4 KB`);
    }
    if (ramSize > VIRT_MAX_RAM_SIZE) {
      throw new VsmmuError('BAD_CONFIG', `RAM size ${ramSize} exceeds ${VIRT_MAX_RAM_SIZE}`);
    }
    this.ramSize = ramSize;
    this.ramEnd = VIRT_RAM_BASE + ramSize;
    this.mem = opts.mem ?? new SparseMemory();
    if (this.mem.limit < this.ramEnd) {
      throw new VsmmuError('BAD_CONFIG', 'the memory is smaller than the RAM window');
    }
  }

  /** Reads `size` (1, 2, 4 or 8) bytes at `addr` as a little-endian value. */
  read(addr: bigint, size: 1 | 2 | 4 | 8): bigint {
    if (addr < BigInt(Number.MAX_SAFE_INTEGER)) {
      const a = Number(addr);
      if (a >= this.ramBase && a + size <= this.ramEnd) {
        if (size === 8) return this.mem.read64(a);
        if (size === 4 && (a & 3) === 0) return BigInt(this.mem.read32(a));
        if (size === 1) return BigInt(this.mem.read8(a));
      }
      if (
        this.smmu &&
        a >= VIRT_SMMU_BASE &&
        a + size <= VIRT_SMMU_BASE + VIRT_SMMU_SIZE &&
        size >= 4 &&
        a % size === 0
      ) {
        return BigInt.asUintN(
          size * 8,
          BigInt(this.smmu.mmioRead(a - VIRT_SMMU_BASE, size as 4 | 8)),
        );
      }
    }
    const b = this.readBytes(addr, size);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
    return v;
  }

  /** Writes the low `size` bytes of `value` at `addr`, little-endian. */
  write(addr: bigint, size: 1 | 2 | 4 | 8, value: bigint): void {
    const v = BigInt.asUintN(size * 8, value);
    if (addr < BigInt(Number.MAX_SAFE_INTEGER)) {
      const a = Number(addr);
      if (a >= this.ramBase && a + size <= this.ramEnd) {
        if (size === 8) {
          this.mem.write64(a, v);
          return;
        }
        if (size === 4 && (a & 3) === 0) {
          this.mem.write32(a, Number(v));
          return;
        }
      }
      if (
        this.smmu &&
        a >= VIRT_SMMU_BASE &&
        a + size <= VIRT_SMMU_BASE + VIRT_SMMU_SIZE &&
        size >= 4 &&
        a % size === 0
      ) {
        this.smmu.mmioWrite(a - VIRT_SMMU_BASE, size as 4 | 8, v);
        return;
      }
    }
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i++) b[i] = Number((v >> BigInt(8 * i)) & 0xffn);
    this.writeBytes(addr, b);
  }

  /**
   * Number path of `read` for 1-, 2- or 4-byte accesses at a safe-integer address: the value,
   * or −1 when the access is not an aligned RAM word, a RAM byte or an aligned SMMU register
   * (then `read` does it). Same effects as `read`.
   */
  readSmall(a: number, size: 1 | 2 | 4): number {
    if (!(a >= 0 && a < Number.MAX_SAFE_INTEGER)) return -1;
    if (a >= this.ramBase && a + size <= this.ramEnd) {
      if (size === 4 && (a & 3) === 0) return this.mem.read32(a);
      if (size === 1) return this.mem.read8(a);
      return -1;
    }
    if (
      size === 4 &&
      this.smmu &&
      a >= VIRT_SMMU_BASE &&
      a + 4 <= VIRT_SMMU_BASE + VIRT_SMMU_SIZE &&
      (a & 3) === 0
    ) {
      const v = this.smmu.mmioRead(a - VIRT_SMMU_BASE, 4);
      return typeof v === 'number' ? v >>> 0 : Number(BigInt.asUintN(32, v));
    }
    return -1;
  }

  /**
   * Number path of `write(addr, 4, v)` for a u32 `v` at a safe-integer address: writes an
   * aligned RAM word or an aligned SMMU register and returns true, or does nothing and returns
   * false for any other access (then `write` does it). Same effects as `write`.
   */
  writeWord(a: number, v: number): boolean {
    if (!(a >= 0 && a < Number.MAX_SAFE_INTEGER) || (a & 3) !== 0) return false;
    if (a >= this.ramBase && a + 4 <= this.ramEnd) {
      this.mem.write32(a, v);
      return true;
    }
    if (this.smmu && a >= VIRT_SMMU_BASE && a + 4 <= VIRT_SMMU_BASE + VIRT_SMMU_SIZE) {
      this.smmu.mmioWrite(a - VIRT_SMMU_BASE, 4, BigInt(v));
      return true;
    }
    return false;
  }

  /**
   * Reads `len` bytes starting at `addr` (split per region). A number address (a safe integer)
   * whose range lies inside RAM is read directly.
   */
  readBytes(addr: bigint | number, len: number): Uint8Array {
    if (typeof addr === 'number') {
      if (addr >= this.ramBase && addr + len <= this.ramEnd && Number.isSafeInteger(addr)) {
        return this.mem.readBytes(addr, len);
      }
      return this.readBytes(BigInt(addr), len);
    }
    const out = new Uint8Array(len);
    this.walk(addr, len, (kind, a, off, n) => {
      if (kind === 'ram') out.set(this.mem.readBytes(a, n), off);
      else if (kind === 'mmio') this.mmioPiece(a, n, out.subarray(off, off + n), undefined);
    });
    return out;
  }

  /**
   * Writes `data` starting at `addr` (split per region; unassigned bytes are dropped). A number
   * address (a safe integer) whose range lies inside RAM is written directly.
   */
  writeBytes(addr: bigint | number, data: Uint8Array): void {
    if (typeof addr === 'number') {
      if (addr >= this.ramBase && addr + data.length <= this.ramEnd && Number.isSafeInteger(addr)) {
        this.mem.writeBytes(addr, data);
        return;
      }
      this.writeBytes(BigInt(addr), data);
      return;
    }
    this.walk(addr, data.length, (kind, a, off, n) => {
      if (kind === 'ram') this.mem.writeBytes(a, data.subarray(off, off + n));
      else if (kind === 'mmio') this.mmioPiece(a, n, undefined, data.subarray(off, off + n));
    });
  }

  /** Sets `len` bytes starting at `addr` to `byte`. */
  fill(addr: bigint, len: number, byte: number): void {
    this.walk(addr, len, (kind, a, _off, n) => {
      if (kind === 'ram') this.mem.fill(a, n, byte & 0xff);
      else if (kind === 'mmio') this.mmioPiece(a, n, undefined, new Uint8Array(n).fill(byte));
    });
  }

  /**
   * Splits [addr, addr+len) into region pieces and calls `fn(kind, pieceAddr, offsetInBuffer,
   * pieceLength)` for each, in address order. Bytes at or above 2^53 (including any past 2^64)
   * are unassigned space.
   */
  private walk(
    addr: bigint,
    len: number,
    fn: (kind: 'ram' | 'mmio' | 'none', a: number, off: number, n: number) => void,
  ): void {
    if (addr < 0n || addr >= U64_LIMIT) {
      throw new VsmmuError('OUT_OF_RANGE', `address ${addr} is not a u64`);
    }
    let off = 0;
    while (off < len) {
      const cur = addr + BigInt(off);
      if (cur >= BigInt(Number.MAX_SAFE_INTEGER)) {
        fn('none', 0, off, len - off);
        return;
      }
      const a = Number(cur);
      const left = len - off;
      let kind: 'ram' | 'mmio' | 'none';
      let n: number;
      if (a >= this.ramBase && a < this.ramEnd) {
        kind = 'ram';
        n = Math.min(left, this.ramEnd - a);
      } else if (this.smmu && a >= VIRT_SMMU_BASE && a < VIRT_SMMU_BASE + VIRT_SMMU_SIZE) {
        kind = 'mmio';
        n = Math.min(left, VIRT_SMMU_BASE + VIRT_SMMU_SIZE - a);
      } else {
        kind = 'none';
        const next = [this.ramBase, this.smmu ? VIRT_SMMU_BASE : Number.POSITIVE_INFINITY]
          .filter((s) => s > a)
          .reduce((x, y) => Math.min(x, y), Number.POSITIVE_INFINITY);
        n = Math.min(left, next - a);
      }
      fn(kind, a, off, n);
      off += n;
    }
  }

  /**
   * One SMMU-frame piece, cut like QEMU's memory_access_size(): each access is the largest power
   * of two ≤ min(bytes left, 8, alignment of the offset); accesses below 4 bytes are invalid for
   * the SMMU (valid sizes 4..8) and read as zero / are dropped.
   */
  private mmioPiece(
    a: number,
    n: number,
    out: Uint8Array | undefined,
    data: Uint8Array | undefined,
  ): void {
    const dev = this.smmu as MmioDevice;
    let off = a - VIRT_SMMU_BASE;
    let done = 0;
    while (done < n) {
      let size = Math.min(n - done, 8);
      const align = off & -off;
      if (align !== 0 && align < size) size = align;
      size = 2 ** Math.floor(Math.log2(size));
      if (size >= 4) {
        if (out) {
          const v = BigInt(dev.mmioRead(off, size as 4 | 8));
          for (let i = 0; i < size; i++) out[done + i] = Number((v >> BigInt(8 * i)) & 0xffn);
        } else if (data) {
          let v = 0n;
          for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[done + i] as number);
          dev.mmioWrite(off, size as 4 | 8, v);
        }
      }
      off += size;
      done += size;
    }
  }
}

/** QEMU's numbering of the SMMU's wired interrupt outputs (gpio-out `sysbus-irq` index). */
export const IRQ_NUMBER: Readonly<Record<IrqLine, number>> = {
  evtq: 0,
  priq: 1,
  'cmdq-sync': 2,
  gerror: 3,
};

/** Options of `createVirtSmmu`: the machine's and the SMMU's (memory and IRQ are wired here). */
export interface VirtSmmuOptions extends VirtOptions, Omit<SmmuOptions, 'mem' | 'irq'> {
  /** Interrupt output, numbered as QEMU's qtest shows it (0 EVTQ, 1 PRIQ, 2 CMD_SYNC, 3 GERROR). */
  readonly irq?: (line: number, level: boolean) => void;
}

/**
 * A `virt` machine with its SMMU in place: RAM, register frame and the SMMU's memory wired, and
 * the translation side (`createTranslation`) attached unless `translation` names another.
 */
export function createVirtSmmu(opts: VirtSmmuOptions = {}): { machine: VirtMachine; smmu: Smmu } {
  const { irq, ramSize, mem, ...smmuOpts } = opts;
  const machine = new VirtMachine({
    ...(ramSize === undefined ? {} : { ramSize }),
    ...(mem === undefined ? {} : { mem }),
  });
  const smmu = new Smmu({
    translation: (core) => createTranslation(core),
    ...smmuOpts,
    mem: machine.mem,
    ...(irq === undefined
      ? {}
      : { irq: (line: IrqLine, level: boolean) => irq(IRQ_NUMBER[line], level) }),
  });
  machine.smmu = {
    mmioRead: (offset, size) => smmu.mmioRead(offset, size),
    mmioWrite: (offset, size, value) => smmu.mmioWrite(offset, size, value),
  };
  return { machine, smmu };
}
