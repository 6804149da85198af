// Guest RAM as a VMM sees it: one anonymous mmap in the VMM process, exposed to the guest as
// guest-physical memory [base, base + size) (QEMU's RAM MemoryRegion, OpenVMM's GuestMemory). The
// kernel's IOAS maps the same user VA at IOVA = GPA, so the nest-parent stage 2 translates
// GPA → HPA for device DMA. The VMM reads guest tables and queues and writes event records and
// MSIs through its own mapping (read/write of process memory); an access outside RAM is an
// external abort, reported as undefined / false so the emulation can raise the architected error.

import { hi32, joinU64, lo32 } from '../arch/bits.ts';
import { VsmmuError } from '../arch/errors.ts';
import { setU32 as putU32, getU32 as u32At } from '../iommufd/uapi.ts';
import type { WordMemory } from '../mem/sparse-memory.ts';
import type { VmmSyscalls } from './facade.ts';

/** Word accesses by guest-physical address (the guest driver's memory interface). */
export type GuestMemoryView = WordMemory;

/** Guest-physical memory backed by a VMM mapping. */
export class GuestRam {
  /** Lowest guest-physical address. */
  readonly base: number;
  /** Bytes of RAM. */
  readonly size: number;
  /** VMM user VA of guest-physical `base`. */
  readonly va: bigint;
  private readonly sys: VmmSyscalls;
  private readonly buf8 = new Uint8Array(8);

  constructor(sys: VmmSyscalls, base: number, size: number) {
    if (!Number.isSafeInteger(base) || base < 0 || base % 4096 !== 0) {
      throw new VsmmuError('BAD_CONFIG', `guest RAM base ${String(base)} must be 4 KiB aligned`);
    }
    if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) {
      throw new VsmmuError(
        'BAD_CONFIG',
        `guest RAM size ${String(size)} must be a positive multiple of 4 KiB`,
      );
    }
    this.sys = sys;
    this.base = base;
    this.size = size;
    this.va = sys.mmap(size);
  }

  /** True when [gpa, gpa+len) lies inside guest RAM. */
  contains(gpa: number, len: number): boolean {
    return Number.isSafeInteger(gpa) && gpa >= this.base && gpa + len <= this.base + this.size;
  }

  /** The VMM VA of a guest-physical address (which must be inside RAM). */
  vaOf(gpa: number): bigint {
    return this.va + BigInt(gpa - this.base);
  }

  /** Reads `len` bytes; undefined when the range is not RAM (an external abort). */
  readBytes(gpa: number, len: number): Uint8Array | undefined {
    if (!this.contains(gpa, len)) return undefined;
    const b = this.sys.read(this.vaOf(gpa), len);
    return typeof b === 'number' ? undefined : b;
  }

  /** Writes bytes; false when the range is not RAM. */
  writeBytes(gpa: number, bytes: Uint8Array): boolean {
    if (!this.contains(gpa, bytes.length)) return false;
    this.sys.write(this.vaOf(gpa), bytes);
    return true;
  }

  /** Reads a little-endian 64-bit word; undefined outside RAM. */
  read64(gpa: number): bigint | undefined {
    const b = this.readBytes(gpa, 8);
    if (!b) return undefined;
    return joinU64(u32At(b, 0), u32At(b, 4));
  }

  /** Reads `n` consecutive little-endian 64-bit words; undefined outside RAM. */
  readWords(gpa: number, n: number): bigint[] | undefined {
    const b = this.readBytes(gpa, 8 * n);
    if (!b) return undefined;
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(joinU64(u32At(b, 8 * i), u32At(b, 8 * i + 4)));
    return out;
  }

  /** Writes little-endian 64-bit words; false outside RAM. */
  writeWords(gpa: number, words: readonly bigint[]): boolean {
    const b = new Uint8Array(8 * words.length);
    words.forEach((w, i) => {
      putU32(b, 8 * i, lo32(w));
      putU32(b, 8 * i + 4, hi32(w));
    });
    return this.writeBytes(gpa, b);
  }

  /** Reads a little-endian 32-bit word; undefined outside RAM. */
  read32(gpa: number): number | undefined {
    const b = this.readBytes(gpa, 4);
    return b ? u32At(b, 0) : undefined;
  }

  /**
   * The guest's own view of its RAM (the word accesses a guest driver and its io-pgtable make):
   * the same bytes, addressed by guest-physical address. Outside RAM reads return zero and
   * writes are dropped, like accesses to an unbacked bus address.
   */
  guestView(): GuestMemoryView {
    const view: GuestMemoryView = {
      read32: (pa) => this.read32(pa) ?? 0,
      write32: (pa, v) => {
        this.write32(pa, v >>> 0);
      },
      read64: (pa) => this.read64(pa) ?? 0n,
      write64: (pa, v) => {
        this.writeWords(pa, [v]);
      },
      read64Into: (pa, out) => {
        const b = this.readBytes(pa, 8);
        out[0] = b ? u32At(b, 0) : 0;
        out[1] = b ? u32At(b, 4) : 0;
      },
      write64Split: (pa, lo, hi) => {
        const b = new Uint8Array(8);
        putU32(b, 0, lo >>> 0);
        putU32(b, 4, hi >>> 0);
        this.writeBytes(pa, b);
      },
    };
    return view;
  }

  /** Writes a little-endian 32-bit word; false outside RAM. */
  write32(gpa: number, v: number): boolean {
    const b = this.buf8.subarray(0, 4);
    putU32(b, 0, v);
    return this.writeBytes(gpa, b);
  }
}
