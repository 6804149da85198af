// Sparse physical memory: a 52-bit (configurable) little-endian physical address space backed
// by 4 KiB pages allocated on first write. Unwritten memory reads as zero without allocating; it
// can instead be declared to fault, so a walker can model an external abort (IHI 0070 §3.4.3,
// F_WALK_EABT / F_STE_FETCH / F_CD_FETCH) on an unbacked or explicitly aborting range.
//
// Representation (typescript.md §8.4): Map<pfn, Uint32Array(1024)> plus a one-entry last-page
// cache; 32-bit reads are the hot path, 64-bit values at the edges are bigint. Page numbers below
// 2^31 are computed as int32 so V8 inlines the Map probe; table walkers may pass the page number
// directly (`read64IntoSlot`).

import { hex, hi32, joinU64, lo32 } from '../arch/bits.ts';
import { VsmmuError } from '../arch/errors.ts';

/** Page size of the backing store (not an architectural granule). */
export const MEM_PAGE_SHIFT = 12;
const PAGE_SIZE = 1 << MEM_PAGE_SHIFT;
const WORDS_PER_PAGE = PAGE_SIZE / 4;
/** Offset-in-page mask; `pa & PAGE_MASK` is exact for any pa < 2^53 (ToInt32 keeps the low bits). */
const PAGE_MASK = PAGE_SIZE - 1;
/**
 * Addresses below 2^43 have a page number below 2^31: `(pa / PAGE_SIZE) | 0` is then exact and
 * typed as a 32-bit integer, which lets V8 inline the Map lookup (an int32-key probe instead of a
 * call to the generic hash-map builtin). The same number either way, so the Map is unchanged.
 */
const INT_PFN_LIMIT = 2 ** 43;

/** What an access observer sees. */
export interface MemAccess {
  readonly kind: 'read' | 'write';
  readonly pa: number;
  readonly size: number;
}

/**
 * The word accesses table code makes on a memory (SparseMemory satisfies it): a guest driver on
 * guest RAM, a VMM's guest-physical view of its mapping.
 */
export interface WordMemory {
  read32(pa: number): number;
  write32(pa: number, v: number): void;
  read64(pa: number): bigint;
  write64(pa: number, v: bigint): void;
  read64Into(pa: number, out: Uint32Array): void;
  write64Split(pa: number, lo: number, hi: number): void;
}

/** Options of a memory. */
export interface SparseMemoryOptions {
  /** Physical address width (default 52). Accesses at or above 2^paBits throw. */
  readonly paBits?: number;
  /** IMPDEF: reads of never-written memory return zeros (default) or are external aborts. */
  readonly unbacked?: 'zero' | 'abort';
}

/** A sparse physical memory. */
export class SparseMemory {
  readonly paBits: number;
  readonly limit: number;
  /** `limit` in pages: an access inside one page is in range when its page number is below it. */
  private readonly limitPages: number;
  /** 'abort': never-written pages fault (see `aborts`). */
  unbacked: 'zero' | 'abort';
  private readonly pages = new Map<number, Uint32Array>();
  private lastPfn = -1;
  private lastPage: Uint32Array | undefined;
  private readonly abortRanges: { start: number; end: number }[] = [];
  private observers: ((a: MemAccess) => void)[] = [];
  /** Number of 32-bit-or-wider accesses made through the word API (a cost counter). */
  accesses = 0;

  constructor(opts: SparseMemoryOptions = {}) {
    this.paBits = opts.paBits ?? 52;
    if (this.paBits < 32 || this.paBits > 52) {
      throw new VsmmuError('BAD_CONFIG', `paBits ${this.paBits} outside 32..52`);
    }
    this.limit = 2 ** this.paBits;
    this.limitPages = 2 ** (this.paBits - MEM_PAGE_SHIFT);
    this.unbacked = opts.unbacked ?? 'zero';
  }

  /** Registers an observer of every access; returns a function that removes it. */
  observe(fn: (a: MemAccess) => void): () => void {
    this.observers.push(fn);
    return () => {
      this.observers = this.observers.filter((o) => o !== fn);
    };
  }

  /** Declares [pa, pa+len) to abort on access (models a bus error, e.g. a missing device). */
  addAbortRange(pa: number, len: number): void {
    this.check(pa, len);
    this.abortRanges.push({ start: pa, end: pa + len });
  }

  /**
   * False when no access can abort (full 52-bit PA space, no abort ranges, unbacked reads return
   * zero): lets hot paths skip `aborts`. A narrower PA space may abort (an address beyond it).
   */
  get mayAbort(): boolean {
    return this.unbacked === 'abort' || this.abortRanges.length > 0 || this.paBits < 52;
  }

  /**
   * True when an access of `size` bytes at `pa` is an external abort: beyond the PA space, in an
   * abort range, or (in 'abort' mode) touching a page never written.
   */
  aborts(pa: number, size: number): boolean {
    if (pa < 0 || pa + size > this.limit) return true;
    for (const r of this.abortRanges) if (pa < r.end && pa + size > r.start) return true;
    if (this.unbacked === 'abort') {
      const first = Math.floor(pa / PAGE_SIZE);
      const last = Math.floor((pa + size - 1) / PAGE_SIZE);
      for (let p = first; p <= last; p++) if (!this.pages.has(p)) return true;
    }
    return false;
  }

  /** Whether any page is backed at `pa`. */
  isBacked(pa: number): boolean {
    return this.pages.has(Math.floor(pa / PAGE_SIZE));
  }

  /** Number of allocated 4 KiB pages. */
  get pageCount(): number {
    return this.pages.size;
  }

  /** Throws unless [pa, pa+size) is an integer range inside the PA space (small: inlined). */
  private check(pa: number, size: number): void {
    if (!Number.isInteger(pa) || pa < 0 || pa + size > this.limit) this.outOfRange(pa, size);
  }

  private outOfRange(pa: number, size: number): never {
    throw new VsmmuError(
      'OUT_OF_RANGE',
      `physical access ${hex(pa)}+${size} outside the ${this.paBits}-bit PA space`,
    );
  }

  private page(pfn: number, alloc: boolean): Uint32Array | undefined {
    if (pfn === this.lastPfn) return this.lastPage;
    let p = this.pages.get(pfn);
    if (p === undefined) {
      if (!alloc) return undefined;
      p = new Uint32Array(WORDS_PER_PAGE);
      this.pages.set(pfn, p);
    }
    this.lastPfn = pfn;
    this.lastPage = p;
    return p;
  }

  /** The page holding `pa` (a non-negative integer below 2^53); see INT_PFN_LIMIT. */
  private pageAt(pa: number, alloc: boolean): Uint32Array | undefined {
    return pa < INT_PFN_LIMIT
      ? this.page((pa / PAGE_SIZE) | 0, alloc)
      : this.page(Math.floor(pa / PAGE_SIZE), alloc);
  }

  private notify(kind: 'read' | 'write', pa: number, size: number): void {
    for (const o of this.observers) o({ kind, pa, size });
  }

  /** Reads an aligned little-endian u32 (hot path). */
  read32(pa: number): number {
    if ((pa & 3) !== 0) return this.readUnaligned(pa, 4);
    this.check(pa, 4);
    this.accesses++;
    if (this.observers.length) this.notify('read', pa, 4);
    const p = this.pageAt(pa, false);
    return p ? (p[(pa & PAGE_MASK) >>> 2] as number) : 0;
  }

  /** Writes an aligned little-endian u32. */
  write32(pa: number, v: number): void {
    if ((pa & 3) !== 0) {
      this.writeUnaligned(pa, 4, v);
      return;
    }
    this.check(pa, 4);
    this.accesses++;
    if (this.observers.length) this.notify('write', pa, 4);
    const p = this.pageAt(pa, true) as Uint32Array;
    p[(pa & PAGE_MASK) >>> 2] = v >>> 0;
  }

  /** Reads a little-endian u64 as a bigint (edge path). */
  read64(pa: number): bigint {
    if ((pa & 7) !== 0) {
      const b = this.readBytes(pa, 8);
      const dv = new DataView(b.buffer, b.byteOffset, 8);
      return dv.getBigUint64(0, true);
    }
    this.check(pa, 8);
    this.accesses++;
    if (this.observers.length) this.notify('read', pa, 8);
    const p = this.pageAt(pa, false);
    if (!p) return 0n;
    const i = (pa & PAGE_MASK) >>> 2;
    return joinU64(p[i] as number, p[i + 1] as number);
  }

  /** Writes a little-endian u64 given as a bigint. */
  write64(pa: number, v: bigint): void {
    if ((pa & 7) !== 0) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
      this.writeBytes(pa, b);
      return;
    }
    this.check(pa, 8);
    this.accesses++;
    if (this.observers.length) this.notify('write', pa, 8);
    const p = this.pageAt(pa, true) as Uint32Array;
    const i = (pa & PAGE_MASK) >>> 2;
    p[i] = lo32(v);
    p[i + 1] = hi32(v);
  }

  /** Reads an aligned 64-bit word as two u32 halves into `out` ([0] = lo, [1] = hi) (hot path). */
  read64Into(pa: number, out: Uint32Array): void {
    this.check(pa, 8);
    this.accesses++;
    if (this.observers.length) this.notify('read', pa, 8);
    const p = this.pageAt(pa, false);
    if (!p) {
      out[0] = 0;
      out[1] = 0;
      return;
    }
    const i = (pa & PAGE_MASK) >>> 2;
    out[0] = p[i] as number;
    out[1] = p[i + 1] as number;
  }

  /**
   * `read64Into` of the aligned 64-bit word `slot` (0..511) of page `pfn` (an integer below
   * 2^31), i.e. of pa = pfn·4096 + 8·slot: the same checks, count, observer call and page
   * cache. For table walkers that hold a table's page number as an integer, so no float-to-integer
   * conversion sits between one descriptor and the next read (hot path). Other arguments throw.
   */
  read64IntoSlot(pfn: number, slot: number, out: Uint32Array): void {
    if ((pfn | 0) !== pfn || pfn < 0 || pfn >= this.limitPages || (slot & 511) !== slot) {
      this.badSlot(pfn, slot);
    }
    this.accesses++;
    if (this.observers.length) this.notify('read', pfn * PAGE_SIZE + slot * 8, 8);
    const p = this.page(pfn, false);
    if (p === undefined) {
      out[0] = 0;
      out[1] = 0;
      return;
    }
    const i = slot * 2;
    out[0] = p[i] as number;
    out[1] = p[i + 1] as number;
  }

  private badSlot(pfn: number, slot: number): never {
    if ((pfn | 0) === pfn && pfn >= 0 && (slot & 511) === slot) {
      this.outOfRange(pfn * PAGE_SIZE + slot * 8, 8);
    }
    throw new VsmmuError('BAD_ARGUMENT', `read64IntoSlot: bad page ${pfn} or slot ${slot}`);
  }

  /** Writes a 64-bit word given as two u32 halves (aligned). */
  write64Split(pa: number, lo: number, hi: number): void {
    this.check(pa, 8);
    this.accesses++;
    if (this.observers.length) this.notify('write', pa, 8);
    const p = this.pageAt(pa, true) as Uint32Array;
    const i = (pa & PAGE_MASK) >>> 2;
    p[i] = lo >>> 0;
    p[i + 1] = hi >>> 0;
  }

  /** Reads a byte. */
  read8(pa: number): number {
    return this.readUnaligned(pa, 1);
  }

  /** Writes a byte. */
  write8(pa: number, v: number): void {
    this.writeUnaligned(pa, 1, v);
  }

  /** Reads a little-endian u16. */
  read16(pa: number): number {
    return this.readUnaligned(pa, 2);
  }

  /** Writes a little-endian u16. */
  write16(pa: number, v: number): void {
    this.writeUnaligned(pa, 2, v);
  }

  private readUnaligned(pa: number, size: number): number {
    const b = this.readBytes(pa, size);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (b[i] as number);
    return v;
  }

  private writeUnaligned(pa: number, size: number, v: number): void {
    const b = new Uint8Array(size);
    let x = v >>> 0;
    for (let i = 0; i < size; i++) {
      b[i] = x & 0xff;
      x >>>= 8;
    }
    this.writeBytes(pa, b);
  }

  /** Copies `len` bytes out of memory. */
  readBytes(pa: number, len: number): Uint8Array {
    this.check(pa, len);
    if (this.observers.length) this.notify('read', pa, len);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = pa + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(len - done, PAGE_SIZE - off);
      const p = this.page(Math.floor(a / PAGE_SIZE), false);
      if (p) out.set(new Uint8Array(p.buffer, off, n), done);
      done += n;
    }
    return out;
  }

  /** Copies bytes into memory. */
  writeBytes(pa: number, bytes: Uint8Array): void {
    this.check(pa, bytes.length);
    if (this.observers.length) this.notify('write', pa, bytes.length);
    let done = 0;
    while (done < bytes.length) {
      const a = pa + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(bytes.length - done, PAGE_SIZE - off);
      const p = this.page(Math.floor(a / PAGE_SIZE), true) as Uint32Array;
      new Uint8Array(p.buffer, off, n).set(bytes.subarray(done, done + n));
      done += n;
    }
  }

  /** Fills [pa, pa+len) with `byte`. */
  fill(pa: number, len: number, byte: number): void {
    this.check(pa, len);
    if (this.observers.length) this.notify('write', pa, len);
    let done = 0;
    while (done < len) {
      const a = pa + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(len - done, PAGE_SIZE - off);
      const pfn = Math.floor(a / PAGE_SIZE);
      if (byte !== 0 || this.pages.has(pfn)) {
        const p = this.page(pfn, true) as Uint32Array;
        new Uint8Array(p.buffer, off, n).fill(byte);
      }
      done += n;
    }
  }
}
