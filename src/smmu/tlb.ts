// The SMMUv3 TLB (Arm IHI 0070 H.a §3.17 TLB tagging, §3.17.1, §3.21.1 TLB maintenance, §4.4
// TLB invalidation commands with §4.4.1.1 range invalidation; smmuv3-arch.md [5.2], [5.4], [5.6]).
//
// Entries are tagged by (kind, StreamWorld, VMID, ASID or global + ASET, VA half) — never by
// StreamID: every stream sharing those tags shares the entries, as on hardware. Kinds: stage-1
// only (VA → PA), stage-2 only (IPA → PA) and combined stage 1+2 (VA → PA, filled by a nested
// walk). Only successful walks fill entries; a permission check runs on every hit, so
// F_PERMISSION may come from a cached entry.
//
// Representation (typescript.md §8.5): an interned context object per tag tuple (with a count
// of its entries per block size), the entry payload in typed-array columns indexed by slot (no
// object per entry), and one open-addressing hash index (linear probing, backward-shift
// deletion) from (context, block size, block number) to slot, sized to twice the capacity: about
// 51 bytes of bookkeeping per entry, where a JS Map per context cost ~28 bytes per entry on top
// of the columns. Capacity is bounded; replacement is LRU or FIFO (IMPDEF).

import { hex } from '../arch/bits.ts';
import type { TraceSink } from '../arch/trace.ts';

/** Entry kinds. */
export const TLB_KIND = { S1: 1, S2: 2, S12: 3 } as const;

/** Block sizes (log2) the walker can produce: 4K/16K/64K pages, blocks, with 52-bit OA. */
const SHIFTS: readonly number[] = [12, 14, 16, 21, 25, 29, 30, 36, 39, 42];
/** 2^shift per class. */
const CLASS_SIZES: readonly number[] = SHIFTS.map((s) => 2 ** s);
/** 2^n for n = 0..63. */
const SIZES: readonly number[] = Array.from({ length: 64 }, (_, n) => 2 ** n);
const CLASS_OF: readonly number[] = (() => {
  const a = new Array<number>(64).fill(-1);
  SHIFTS.forEach((s, i) => {
    a[s] = i;
  });
  return a;
})();

/** One tag tuple. Contexts are interned and never freed (their entries are). */
export class TlbContext {
  readonly id: number;
  readonly kind: number;
  readonly world: number;
  readonly vmid: number;
  /** ASID, or −1 for global entries (nG == 0, and every EL2 entry). */
  readonly asid: number;
  /** ASET of global entries (a global entry only matches lookups with the same ASET). */
  readonly aset: boolean;
  /** 0 = TTB0 half (or IPA space), 1 = TTB1 half. */
  readonly half: number;
  /** Per block-size class: number of cached entries. */
  readonly counts: number[] = SHIFTS.map(() => 0);
  /** Classes with entries, ascending (smallest block first). */
  present: number[] = [];

  constructor(
    id: number,
    kind: number,
    world: number,
    vmid: number,
    asid: number,
    aset: boolean,
    half: number,
  ) {
    this.id = id;
    this.kind = kind;
    this.world = world;
    this.vmid = vmid;
    this.asid = asid;
    this.aset = aset;
    this.half = half;
  }
}

/** Counters. */
export interface TlbStats {
  hits: number;
  misses: number;
  fills: number;
  evictions: number;
  invalidated: number;
}

/** One entry as the inspection hook reports it. */
export interface TlbEntryView {
  readonly kind: 'S1' | 'S2' | 'S12';
  readonly world: number;
  readonly vmid: number;
  /** undefined for a global entry. */
  readonly asid: number | undefined;
  readonly aset: boolean;
  readonly half: number;
  /** Input block base: VA bits [51:0] (TTB1 half: VA mod 2^52) or IPA. */
  readonly input: bigint;
  readonly size: number;
  readonly output: bigint;
  /** IPA block base of a combined entry. */
  readonly ipa: bigint | undefined;
  readonly level: number;
  readonly granule: number;
}

/** Filter of a range invalidation (§4.4.1.1): only entries of this granule and leaf level. */
export interface RangeFilter {
  /** log2 of the granule (TG), or 0 = any. */
  readonly granShift: number;
  /** TTL level hint 1..3, or 0 = any level. */
  readonly level: number;
}

const KIND_NAMES = ['', 'S1', 'S2', 'S12'] as const;

/** Sentinel "no output attribute" in the packed attribute column. */
const NO_ATTR = 0x100;
const NO_SH = 4;

/** Packs a MAIR-style attribute byte (or −1) and a shareability (or −1) into 12 bits. */
export function packAttr(memAttr: number, sh: number): number {
  return (memAttr < 0 ? NO_ATTR : memAttr) + 512 * (sh < 0 ? NO_SH : sh);
}

/** The attribute byte of a packed value, −1 if none. */
export function attrMem(packed: number): number {
  const m = packed % 512;
  return m === NO_ATTR ? -1 : m;
}

/** The shareability of a packed value, −1 if none. */
export function attrSh(packed: number): number {
  const s = Math.floor(packed / 512);
  return s === NO_SH ? -1 : s;
}

/** A bounded TLB. */
export class Tlb {
  readonly capacity: number;
  readonly stats: TlbStats = { hits: 0, misses: 0, fills: 0, evictions: 0, invalidated: 0 };
  private readonly lru: boolean;
  private readonly trace: TraceSink | undefined;
  private readonly contexts = new Map<number, TlbContext>();
  private readonly byId: TlbContext[] = [];
  // Slot columns.
  private readonly sCtx: Int32Array;
  private readonly sBlock: Float64Array;
  private readonly sOa: Float64Array;
  private readonly sIpa: Float64Array;
  private readonly sShift: Uint8Array;
  private readonly sPerm1: Uint8Array;
  private readonly sPerm2: Uint8Array;
  private readonly sAttr: Uint16Array;
  private readonly sLevel: Int8Array;
  private readonly sGran: Uint8Array;
  /** LRU list links; free slots are chained through `next` from `freeHead`. */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private head = -1;
  private tail = -1;
  private freeHead = -1;
  private used = 0;
  /** Hash index: bucket → slot, −1 empty (a power of two ≥ 2 × capacity, at least 2). */
  private readonly index: Int32Array;
  private readonly indexMask: number;
  /** 32 − log2(index size): the multiplicative hash keeps the top bits. */
  private readonly hashShift: number;

  constructor(capacity: number, eviction: 'lru' | 'fifo', trace?: TraceSink) {
    this.capacity = Math.max(0, Math.floor(capacity));
    this.lru = eviction === 'lru';
    this.trace = trace;
    const n = this.capacity;
    this.sCtx = new Int32Array(n);
    this.sBlock = new Float64Array(n);
    this.sOa = new Float64Array(n);
    this.sIpa = new Float64Array(n);
    this.sShift = new Uint8Array(n);
    this.sPerm1 = new Uint8Array(n);
    this.sPerm2 = new Uint8Array(n);
    this.sAttr = new Uint16Array(n);
    this.sLevel = new Int8Array(n);
    this.sGran = new Uint8Array(n);
    this.prev = new Int32Array(n);
    this.next = new Int32Array(n);
    for (let i = 0; i < n; i++) this.next[i] = i + 1 < n ? i + 1 : -1;
    this.freeHead = n > 0 ? 0 : -1;
    let bits = 1;
    while (2 ** bits < 2 * n) bits++;
    this.index = new Int32Array(2 ** bits).fill(-1);
    this.indexMask = 2 ** bits - 1;
    this.hashShift = 32 - bits;
  }

  /** Home bucket of (context id, class, block number); block numbers are below 2^41. */
  private bucket(ctxId: number, c: number, block: number): number {
    const lo = block >>> 0;
    const hi = (block / 4294967296) | 0;
    const x = lo ^ Math.imul(hi, 0x85eb_ca6b) ^ Math.imul(ctxId * 16 + c, 0xc2b2_ae35);
    return Math.imul(x ^ (x >>> 16), 0x9e37_79b1) >>> this.hashShift;
  }

  /** The slot of (context, class, block), −1 if none. */
  private find(ctxId: number, c: number, block: number): number {
    const shift = SHIFTS[c] as number;
    const mask = this.indexMask;
    for (let i = this.bucket(ctxId, c, block); ; i = (i + 1) & mask) {
      const s = this.index[i] as number;
      if (s < 0) return -1;
      if (this.sBlock[s] === block && this.sCtx[s] === ctxId && this.sShift[s] === shift) return s;
    }
  }

  /** Adds a slot (its ctx, shift and block columns set) to the index. */
  private addIndex(slot: number, ctxId: number, c: number, block: number): void {
    const mask = this.indexMask;
    let i = this.bucket(ctxId, c, block);
    while ((this.index[i] as number) >= 0) i = (i + 1) & mask;
    this.index[i] = slot;
  }

  /** Home bucket of a filled slot. */
  private home(s: number): number {
    const c = CLASS_OF[this.sShift[s] as number] as number;
    return this.bucket(this.sCtx[s] as number, c, this.sBlock[s] as number);
  }

  /** Removes a slot from the index (backward-shift deletion keeps every probe chain whole). */
  private dropIndex(slot: number): void {
    const mask = this.indexMask;
    let i = this.home(slot);
    while (this.index[i] !== slot) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const s = this.index[j] as number;
      if (s < 0) break;
      const h = this.home(s);
      // An entry whose home lies cyclically in (i, j] stays; any other moves into the hole.
      if (i <= j ? i < h && h <= j : i < h || h <= j) continue;
      this.index[i] = s;
      i = j;
    }
    this.index[i] = -1;
  }

  /** Number of cached entries. */
  get size(): number {
    return this.used;
  }

  /**
   * The interned context of a tag tuple. `asid` −1 = global (then `aset` distinguishes the two
   * global ASID sets); stage-2 entries use asid −1, aset false, half 0.
   */
  context(
    kind: number,
    world: number,
    vmid: number,
    asid: number,
    aset: boolean,
    half: number,
  ): TlbContext {
    // Packed tag: kind(2) world(2) half(1) vmid(16) asid+1(17) aset(1) — 39 bits.
    const key =
      ((((kind * 4 + world) * 2 + half) * 65536 + vmid) * 131072 + (asid + 1)) * 2 +
      (asid < 0 && aset ? 1 : 0);
    let c = this.contexts.get(key);
    if (!c) {
      c = new TlbContext(this.byId.length, kind, world, vmid, asid, asid < 0 && aset, half);
      this.contexts.set(key, c);
      this.byId.push(c);
    }
    return c;
  }

  /**
   * Finds the slot translating `addr` in `ctx` (smallest block first); −1 on a miss. One probe
   * loop per block size present, the block number and its hash from the address's u32 halves
   * (shifts, no float division): the same buckets as `bucket`.
   */
  lookup(ctx: TlbContext, addr: number): number {
    return this.lookupPair(undefined, ctx, addr);
  }

  /**
   * `lookup` in `first` (when given), then in `second` if that misses: one probe body for both,
   * so a caller's hit path has a single (inlinable) call. Contexts without entries cost nothing.
   */
  lookupPair(first: TlbContext | undefined, second: TlbContext, addr: number): number {
    const lo = addr >>> 0;
    // addr < 2^53: the high word is exact and below 2^21.
    const hi = (addr - lo) * 2.3283064365386963e-10;
    const index = this.index;
    const mask = this.indexMask;
    const hs = this.hashShift;
    const sBlock = this.sBlock;
    let ctx = first ?? second;
    for (;;) {
      const present = ctx.present;
      const n = present.length;
      const id = ctx.id;
      for (let k = 0; k < n; k++) {
        const c = present[k] as number;
        const shift = SHIFTS[c] as number;
        let bLo: number;
        let bHi: number;
        if (shift < 32) {
          bLo = ((lo >>> shift) | (hi << (32 - shift))) >>> 0;
          bHi = hi >>> shift;
        } else {
          bLo = hi >>> (shift - 32);
          bHi = 0;
        }
        const block = bHi * 4294967296 + bLo;
        const x = bLo ^ Math.imul(bHi, 0x85eb_ca6b) ^ Math.imul(id * 16 + c, 0xc2b2_ae35);
        for (let i = Math.imul(x ^ (x >>> 16), 0x9e37_79b1) >>> hs; ; i = (i + 1) & mask) {
          const s = index[i] as number;
          if (s < 0) break;
          if (sBlock[s] === block && this.sCtx[s] === id && this.sShift[s] === shift) {
            if (this.lru && this.tail !== s) {
              this.unlink(s);
              this.linkTail(s);
            }
            return s;
          }
        }
      }
      if (ctx === second) return -1;
      ctx = second;
    }
  }

  /** Output address of `addr` through `slot`. */
  outputOf(slot: number, addr: number): number {
    const shift = this.sShift[slot] as number;
    // Blocks below 2^31: the offset is in the low word (`>>> 0` is exact mod 2^32 for any
    // integer); larger ones use `%`, exact for non-negative integers below 2^53.
    const off =
      shift < 31 ? (addr >>> 0) & ((SIZES[shift] as number) - 1) : addr % (SIZES[shift] as number);
    return (this.sOa[slot] as number) + off;
  }

  /** IPA of `addr` through a combined entry (−1 when the entry has none). */
  ipaOf(slot: number, addr: number): number {
    const base = this.sIpa[slot] as number;
    return base < 0 ? -1 : base + (addr % (SIZES[this.sShift[slot] as number] as number));
  }

  /** log2 of the block size of `slot`. */
  shiftOf(slot: number): number {
    return this.sShift[slot] as number;
  }

  perm1(slot: number): number {
    return this.sPerm1[slot] as number;
  }

  perm2(slot: number): number {
    return this.sPerm2[slot] as number;
  }

  attr(slot: number): number {
    return this.sAttr[slot] as number;
  }

  /** Fills an entry for the block of `addr` (replacing one with the same block and size). */
  insert(
    ctx: TlbContext,
    addr: number,
    shift: number,
    oaBase: number,
    ipaBase: number,
    perm1: number,
    perm2: number,
    attr: number,
    level: number,
    granShift: number,
  ): void {
    if (this.capacity === 0) return;
    const c = CLASS_OF[shift] ?? -1;
    if (c < 0) return;
    const block = Math.floor(addr / 2 ** shift);
    let slot = this.find(ctx.id, c, block);
    if (slot < 0) {
      if (this.freeHead < 0) this.evict();
      slot = this.freeHead;
      this.freeHead = this.next[slot] as number;
      this.used++;
      if (ctx.counts[c] === 0) {
        ctx.present = [...ctx.present, c].sort((a, b) => a - b);
      }
      ctx.counts[c] = (ctx.counts[c] as number) + 1;
      this.sCtx[slot] = ctx.id;
      this.sBlock[slot] = block;
      this.sShift[slot] = shift;
      this.addIndex(slot, ctx.id, c, block);
      this.linkTail(slot);
    } else {
      this.moveToTail(slot);
    }
    this.sOa[slot] = oaBase;
    this.sIpa[slot] = ipaBase;
    this.sPerm1[slot] = perm1;
    this.sPerm2[slot] = perm2;
    this.sAttr[slot] = attr;
    this.sLevel[slot] = level;
    this.sGran[slot] = granShift;
    this.stats.fills++;
    if (this.trace) this.traceEntry('fill', slot);
  }

  /** Removes one entry. */
  remove(slot: number): void {
    const ctx = this.byId[this.sCtx[slot] as number] as TlbContext;
    const c = CLASS_OF[this.sShift[slot] as number] as number;
    this.dropIndex(slot);
    ctx.counts[c] = (ctx.counts[c] as number) - 1;
    if (ctx.counts[c] === 0) ctx.present = ctx.present.filter((x) => x !== c);
    this.unlink(slot);
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
    this.used--;
  }

  /** Slots of the contexts `sel` marks (by context id) whose class is `c` (any when −1). */
  private slotsOf(sel: Uint8Array, c: number): number[] {
    const out: number[] = [];
    const shift = c < 0 ? -1 : (SHIFTS[c] as number);
    for (let s = this.head; s >= 0; s = this.next[s] as number) {
      if (sel[this.sCtx[s] as number] === 1 && (shift < 0 || this.sShift[s] === shift)) out.push(s);
    }
    return out;
  }

  /** Removes every entry of the contexts `pred` selects; returns how many went. */
  invalidateAll(pred: (ctx: TlbContext) => boolean, what: string): number {
    const sel = new Uint8Array(this.byId.length);
    let any = false;
    for (const ctx of this.byId) {
      if (ctx.present.length === 0 || !pred(ctx)) continue;
      sel[ctx.id] = 1;
      any = true;
    }
    const victims = any ? this.slotsOf(sel, -1) : [];
    for (const slot of victims) this.remove(slot);
    this.noteInvalidate(what, victims.length);
    return victims.length;
  }

  /**
   * Removes the entries of the selected contexts whose input block overlaps [start, end); with
   * a filter, only entries of that granule and leaf level (range invalidation, §4.4.1.1).
   */
  invalidateRange(
    pred: (ctx: TlbContext) => boolean,
    start: number,
    end: number,
    filter: RangeFilter | undefined,
    what: string,
  ): number {
    let n = 0;
    if (end <= start) return 0;
    for (const ctx of this.byId) {
      if (ctx.present.length === 0 || !pred(ctx)) continue;
      for (const c of [...ctx.present]) {
        const size = CLASS_SIZES[c] as number;
        const first = Math.floor(start / size);
        const last = Math.ceil(end / size); // exclusive
        const victims: number[] = [];
        if (last - first <= (ctx.counts[c] as number)) {
          for (let b = first; b < last; b++) {
            const slot = this.find(ctx.id, c, b);
            if (slot >= 0) victims.push(slot);
          }
        } else {
          const sel = new Uint8Array(this.byId.length);
          sel[ctx.id] = 1;
          for (const slot of this.slotsOf(sel, c)) {
            const b = this.sBlock[slot] as number;
            if (b >= first && b < last) victims.push(slot);
          }
        }
        for (const slot of victims) {
          if (filter && !this.matchesFilter(slot, filter)) continue;
          this.remove(slot);
          n++;
        }
      }
    }
    this.noteInvalidate(what, n);
    return n;
  }

  private matchesFilter(slot: number, f: RangeFilter): boolean {
    if (f.granShift !== 0 && this.sGran[slot] !== f.granShift) return false;
    if (f.level !== 0 && this.sLevel[slot] !== f.level) return false;
    return true;
  }

  /** Every entry (inspection; oldest first). */
  entries(): TlbEntryView[] {
    const out: TlbEntryView[] = [];
    for (let s = this.head; s >= 0; s = this.next[s] as number) {
      const ctx = this.byId[this.sCtx[s] as number] as TlbContext;
      const shift = this.sShift[s] as number;
      const size = 2 ** shift;
      const ipa = this.sIpa[s] as number;
      out.push({
        kind: KIND_NAMES[ctx.kind] as 'S1' | 'S2' | 'S12',
        world: ctx.world,
        vmid: ctx.vmid,
        asid: ctx.asid < 0 ? undefined : ctx.asid,
        aset: ctx.aset,
        half: ctx.half,
        input: BigInt((this.sBlock[s] as number) * size),
        size,
        output: BigInt(this.sOa[s] as number),
        ipa: ipa < 0 ? undefined : BigInt(ipa),
        level: this.sLevel[s] as number,
        granule: 2 ** (this.sGran[s] as number),
      });
    }
    return out;
  }

  private evict(): void {
    const victim = this.head;
    if (victim < 0) return;
    if (this.trace) this.traceEntry('invalidate', victim, 'evict');
    this.remove(victim);
    this.stats.evictions++;
  }

  private linkTail(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = -1;
    if (this.tail >= 0) this.next[this.tail] = slot;
    else this.head = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const p = this.prev[slot] as number;
    const n = this.next[slot] as number;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
  }

  private moveToTail(slot: number): void {
    if (this.tail === slot) return;
    this.unlink(slot);
    this.linkTail(slot);
  }

  /** Emits a hit trace for `slot` (the caller checks that tracing is on). */
  traceHit(slot: number): void {
    this.traceEntry('hit', slot);
  }

  private traceEntry(op: 'hit' | 'fill' | 'invalidate', slot: number, why = ''): void {
    const ctx = this.byId[this.sCtx[slot] as number] as TlbContext;
    const size = 2 ** (this.sShift[slot] as number);
    const tag =
      `${KIND_NAMES[ctx.kind]} world=${ctx.world} vmid=${ctx.vmid} ` +
      `${ctx.asid < 0 ? `global aset=${ctx.aset ? 1 : 0}` : `asid=${ctx.asid}`} half=${ctx.half}`;
    const detail =
      `${why ? `${why} ` : ''}${tag} in=${hex((this.sBlock[slot] as number) * size)} ` +
      `size=${hex(size)} out=${hex(this.sOa[slot] as number)}`;
    this.trace?.({ kind: 'tlb', op, detail });
  }

  private noteInvalidate(what: string, n: number): void {
    this.stats.invalidated += n;
    if (this.trace) this.trace({ kind: 'tlb', op: 'invalidate', detail: `${what}: ${n} entries` });
  }
}
