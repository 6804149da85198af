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
// of its entries per block size), the entry payload in one Int32Array row and one Float64Array
// row per slot (no object per entry; see the slot layout below), and one open-addressing hash
// index (linear probing, backward-shift deletion) from (context, block size, block number) to
// slot, sized to twice the capacity: 48 bytes per slot plus 8–16 of index. Capacity is bounded;
// replacement is CLOCK (default), LRU or FIFO (IMPDEF).

import { hex } from '../arch/bits.ts';
import type { TraceSink } from '../arch/trace.ts';

/** Entry kinds. */
export const TLB_KIND = { S1: 1, S2: 2, S12: 3 } as const;

/** Block sizes (log2) the walker can produce: 4K/16K/64K pages, blocks, with 52-bit OA. */
const SHIFTS: readonly number[] = [12, 14, 16, 21, 25, 29, 30, 36, 39, 42];
/** 2^shift per class. */
const CLASS_SIZES: readonly number[] = SHIFTS.map((s) => 2 ** s);
/** 2^−shift per class (multiplying by it is exact). */
const INV_SIZES: readonly number[] = SHIFTS.map((s) => 2 ** -s);
/** 2^n for n = 0..63. */
const SIZES: readonly number[] = Array.from({ length: 64 }, (_, n) => 2 ** n);
const CLASS_OF: readonly number[] = (() => {
  const a = new Array<number>(64).fill(-1);
  SHIFTS.forEach((s, i) => {
    a[s] = i;
  });
  return a;
})();

/** Inserts class `c` into the ascending `present` list in place (it stays a packed SMI array). */
function addPresent(present: number[], c: number): void {
  let i = present.length;
  present.push(c);
  while (i > 0 && (present[i - 1] as number) > c) {
    present[i] = present[i - 1] as number;
    i--;
  }
  present[i] = c;
}

/** Removes class `c` from the `present` list in place, keeping the order. */
function dropPresent(present: number[], c: number): void {
  const n = present.length;
  let i = 0;
  while (i < n && present[i] !== c) i++;
  if (i === n) return;
  for (; i + 1 < n; i++) present[i] = present[i + 1] as number;
  present.length = n - 1;
}

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

// Slot layout: one Int32Array row of SLOT words per entry (all an entry's integer fields in one
// or two cache lines) and one Float64Array row of two. TAG is context id × 16 + block-size class
// (−1 for a free slot); BLO/BHI the block number's u32 halves;
// PERMS the hit mask (permHit) | stage-1 bits << 8 | stage-2 bits << 16 | log2 block size << 24
// (what a hit reads, in one word); INFO (level + 1) | log2 granule << 3 | packed attribute << 11;
// PREV/NEXT the replacement order's links (free slots are chained through NEXT); REF the CLOCK
// reference bit. The float row holds the output base minus the input base (so a hit's PA is one
// addition) and the IPA base.
const SLOT = 8;
const TAG = 0;
const BLO = 1;
const BHI = 2;
const PERMS = 3;
const INFO = 4;
const PREV = 5;
const NEXT = 6;
const REF = 7;

/**
 * TLB replacement policy (IMPDEF, §3.17): 'clock' (second chance: a hit sets the entry's
 * reference bit; the victim is the oldest entry without one, entries passed over lose their bit
 * and go to the back; an approximation of LRU like the pseudo-LRU of hardware TLBs), 'lru'
 * (exact least recently used) or 'fifo' (oldest fill).
 */
export type TlbEviction = 'clock' | 'lru' | 'fifo';

/** A bounded TLB. */
export class Tlb {
  readonly capacity: number;
  readonly stats: TlbStats = { hits: 0, misses: 0, fills: 0, evictions: 0, invalidated: 0 };
  private readonly lru: boolean;
  private readonly clock: boolean;
  private readonly trace: TraceSink | undefined;
  private readonly contexts = new Map<number, TlbContext>();
  private readonly byId: TlbContext[] = [];
  /** Integer fields, SLOT words per slot (see the layout above). */
  private readonly m: Int32Array;
  /** Output block base − input block base, and IPA block base (−1 = none), per slot. */
  private readonly f: Float64Array;
  private head = -1;
  private tail = -1;
  private freeHead = -1;
  private used = 0;
  /** Hash index: bucket → slot, −1 empty (a power of two ≥ 2 × capacity, at least 2). */
  private readonly index: Int32Array;
  // The module's tables, as fields: a field load is cheaper than a module constant's.
  private readonly invSizes = INV_SIZES;
  private readonly indexMask: number;
  /** 32 − log2(index size): the multiplicative hash keeps the top bits. */
  private readonly hashShift: number;

  constructor(capacity: number, eviction: TlbEviction, trace?: TraceSink) {
    this.capacity = Math.max(0, Math.floor(capacity));
    this.lru = eviction === 'lru';
    this.clock = eviction === 'clock';
    this.trace = trace;
    const n = this.capacity;
    this.m = new Int32Array(n * SLOT);
    this.f = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      this.m[i * SLOT + TAG] = -1;
      this.m[i * SLOT + NEXT] = i + 1 < n ? i + 1 : -1;
    }
    this.freeHead = n > 0 ? 0 : -1;
    let bits = 1;
    while (2 ** bits < 2 * n) bits++;
    this.index = new Int32Array(2 ** bits).fill(-1);
    // A small integer (not a double: `2 ** bits` is one) where it fits.
    this.indexMask = bits <= 30 ? (1 << bits) - 1 : 2 ** bits - 1;
    this.hashShift = 32 - bits;
  }

  /**
   * Home bucket of (tag = context id × 16 + class, block number's u32 halves). Block numbers are
   * below 2^41, so bHi < 2^9 and bHi + tag × 512 mixes both (wrapping for large tags, which only
   * affects how evenly entries spread).
   */
  private bucket(tag: number, bLo: number, bHi: number): number {
    const x = bLo ^ Math.imul(bHi + tag * 512, 0x85eb_ca6b);
    return Math.imul(x ^ (x >>> 16), 0x9e37_79b1) >>> this.hashShift;
  }

  /** The slot of (tag, block), −1 if none. */
  private find(tag: number, block: number): number {
    const bLo = block | 0;
    const bHi = (block * 2.3283064365386963e-10) | 0;
    const m = this.m;
    const mask = this.indexMask;
    for (let i = this.bucket(tag, bLo, bHi); ; i = (i + 1) & mask) {
      const s = this.index[i] as number;
      if (s < 0) return -1;
      const b = s * SLOT;
      if (m[b + BLO] === bLo && m[b + TAG] === tag && m[b + BHI] === bHi) return s;
    }
  }

  /** Home bucket of a filled slot. */
  private home(s: number): number {
    const b = s * SLOT;
    const m = this.m;
    return this.bucket(m[b + TAG] as number, m[b + BLO] as number, m[b + BHI] as number);
  }

  /** Removes a slot from the index (backward-shift deletion keeps every probe chain whole). */
  private dropIndex(slot: number): void {
    const mask = this.indexMask;
    const index = this.index;
    const m = this.m;
    const shift = this.hashShift;
    let i = this.home(slot);
    while (index[i] !== slot) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const s = index[j] as number;
      if (s < 0) break;
      // home(s), written out (as bucket).
      const b = s * SLOT;
      const x =
        (m[b + BLO] as number) ^
        Math.imul((m[b + BHI] as number) + (m[b + TAG] as number) * 512, 0x85eb_ca6b);
      const h = Math.imul(x ^ (x >>> 16), 0x9e37_79b1) >>> shift;
      // An entry whose home lies cyclically in (i, j] stays; any other moves into the hole.
      if (i <= j ? i < h && h <= j : i < h || h <= j) continue;
      index[i] = s;
      i = j;
    }
    index[i] = -1;
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

  /** Finds the slot translating `addr` in `ctx` (smallest block first); −1 on a miss. */
  lookup(ctx: TlbContext, addr: number): number {
    return this.lookupPair(undefined, ctx, addr);
  }

  /**
   * `lookup` in `first` (when given), then in `second` if that misses: one probe body for both,
   * so a caller's hit path has a single (inlinable) call. Contexts without entries cost nothing.
   */
  lookupPair(first: TlbContext | undefined, second: TlbContext, addr: number): number {
    // Written flat, with the slot layout's offsets as literals (TAG 0, BLO 1, BHI 2, REF 7; a
    // module constant costs a context load each): it is inlined into the TLB-hit fast path,
    // whose whole chain must fit V8's inlining budget.
    const m = this.m;
    const index = this.index;
    let ctx = first ?? second;
    for (;;) {
      const present = ctx.present;
      for (let k = 0; k < present.length; k++) {
        const c = present[k] as number;
        const tag = ctx.id * 16 + c;
        // addr × 2^−shift is exact (a power of two), so this is the block number.
        const block = Math.floor(addr * (this.invSizes[c] as number));
        const bLo = block | 0;
        const bHi = (block * 2.3283064365386963e-10) | 0;
        const x = bLo ^ Math.imul(bHi + tag * 512, 0x85eb_ca6b);
        let i = Math.imul(x ^ (x >>> 16), 0x9e37_79b1) >>> this.hashShift;
        for (let s = index[i] as number; s >= 0; s = index[i] as number) {
          const b = s * 8;
          if (m[b + 1] === bLo && m[b] === tag && m[b + 2] === bHi) {
            // CLOCK: mark referenced (REF 7); LRU: move to the tail (out of line: a call site
            // that never runs costs no inlining budget).
            if (this.clock) m[b + 7] = 1;
            else if (this.lru && this.tail !== s) this.moveToTail(s);
            return s;
          }
          i = (i + 1) & this.indexMask;
        }
      }
      if (ctx === second) return -1;
      ctx = second;
    }
  }

  /** Output address of `addr` through `slot`. */
  outputOf(slot: number, addr: number): number {
    // Output base − input base, plus the address: exact (integers below 2^53).
    return addr + (this.f[slot * 2] as number);
  }

  /** Output block base of `slot`. */
  private oaOf(slot: number): number {
    return (this.f[slot * 2] as number) + this.blockOf(slot) * 2 ** this.shiftOf(slot);
  }

  /** IPA of `addr` through a combined entry (−1 when the entry has none). */
  ipaOf(slot: number, addr: number): number {
    const base = this.f[slot * 2 + 1] as number;
    return base < 0 ? -1 : base + (addr % (SIZES[this.shiftOf(slot)] as number));
  }

  /** log2 of the block size of `slot`. */
  shiftOf(slot: number): number {
    return (this.m[slot * SLOT + PERMS] as number) >>> 24;
  }

  perm1(slot: number): number {
    return ((this.m[slot * SLOT + PERMS] as number) >>> 8) & 0xff;
  }

  perm2(slot: number): number {
    return ((this.m[slot * SLOT + PERMS] as number) >>> 16) & 0xff;
  }

  /**
   * The permission bits of `slot` as one mask: stage 1 (S1 entries), stage 2 (S2 entries), or
   * for a combined entry the access bits both stages allow with PAN / dirty-pending of either.
   */
  permHit(slot: number): number {
    return (this.m[slot * 8 + 3] as number) & 0xff; // PERMS
  }

  attr(slot: number): number {
    return (this.m[slot * 8 + 4] as number) >>> 11; // INFO
  }

  private levelOf(slot: number): number {
    return ((this.m[slot * SLOT + INFO] as number) & 7) - 1;
  }

  private granOf(slot: number): number {
    return ((this.m[slot * SLOT + INFO] as number) >>> 3) & 31;
  }

  /** The block number of `slot`. */
  private blockOf(slot: number): number {
    const b = slot * SLOT;
    return (this.m[b + BHI] as number) * 4294967296 + ((this.m[b + BLO] as number) >>> 0);
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
    // addr × 2^−shift is exact (a power of two): the same block number as addr / 2^shift.
    const block = Math.floor(addr * (INV_SIZES[c] as number));
    const tag = ctx.id * 16 + c;
    const m = this.m;
    let slot = this.find(tag, block);
    if (slot < 0) {
      if (this.freeHead < 0) this.evict();
      slot = this.freeHead;
      this.freeHead = m[slot * SLOT + NEXT] as number;
      this.used++;
      if (ctx.counts[c] === 0) addPresent(ctx.present, c);
      ctx.counts[c] = (ctx.counts[c] as number) + 1;
      const b = slot * SLOT;
      m[b + TAG] = tag;
      m[b + BLO] = block | 0;
      m[b + BHI] = (block * 2.3283064365386963e-10) | 0;
      const mask = this.indexMask;
      let i = this.bucket(tag, block | 0, m[b + BHI] as number);
      while ((this.index[i] as number) >= 0) i = (i + 1) & mask;
      this.index[i] = slot;
      this.linkTail(slot);
    } else if (!this.clock) {
      this.moveToTail(slot);
    }
    // A fill is a use (CLOCK).
    m[slot * SLOT + REF] = 1;
    // A combined entry allows what both stages allow; PAN or dirty-pending in either counts.
    const hit =
      ctx.kind === TLB_KIND.S12
        ? (perm1 & perm2 & 0x3f) | ((perm1 | perm2) & 0xc0)
        : ctx.kind === TLB_KIND.S2
          ? perm2
          : perm1;
    const b = slot * SLOT;
    m[b + PERMS] = hit | ((perm1 & 0xff) << 8) | ((perm2 & 0xff) << 16) | (shift << 24);
    m[b + INFO] = (level + 1) | (granShift << 3) | (attr << 11);
    this.f[slot * 2] = oaBase - block * (CLASS_SIZES[c] as number);
    this.f[slot * 2 + 1] = ipaBase;
    this.stats.fills++;
    if (this.trace) this.traceEntry('fill', slot);
  }

  /** Removes one entry. */
  remove(slot: number): void {
    const b = slot * SLOT;
    const tag = this.m[b + TAG] as number;
    const ctx = this.byId[tag >> 4] as TlbContext;
    const c = tag & 15;
    this.dropIndex(slot);
    ctx.counts[c] = (ctx.counts[c] as number) - 1;
    if (ctx.counts[c] === 0) dropPresent(ctx.present, c);
    this.unlink(slot);
    this.m[b + TAG] = -1;
    this.m[b + NEXT] = this.freeHead;
    this.freeHead = slot;
    this.used--;
  }

  /** Slots of the contexts `sel` marks (by context id) whose class is `c` (any when −1). */
  private slotsOf(sel: Uint8Array, c: number): number[] {
    const out: number[] = [];
    const m = this.m;
    for (let s = this.head; s >= 0; s = m[s * SLOT + NEXT] as number) {
      const tag = m[s * SLOT + TAG] as number;
      if (sel[tag >> 4] === 1 && (c < 0 || (tag & 15) === c)) out.push(s);
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
            const slot = this.find(ctx.id * 16 + c, b);
            if (slot >= 0) victims.push(slot);
          }
        } else {
          const sel = new Uint8Array(this.byId.length);
          sel[ctx.id] = 1;
          for (const slot of this.slotsOf(sel, c)) {
            const b = this.blockOf(slot);
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
    if (f.granShift !== 0 && this.granOf(slot) !== f.granShift) return false;
    if (f.level !== 0 && this.levelOf(slot) !== f.level) return false;
    return true;
  }

  /** Every entry (inspection; in replacement order: the next victim candidate first). */
  entries(): TlbEntryView[] {
    const out: TlbEntryView[] = [];
    for (let s = this.head; s >= 0; s = this.m[s * SLOT + NEXT] as number) {
      const ctx = this.byId[(this.m[s * SLOT + TAG] as number) >> 4] as TlbContext;
      const size = 2 ** this.shiftOf(s);
      const ipa = this.f[s * 2 + 1] as number;
      out.push({
        kind: KIND_NAMES[ctx.kind] as 'S1' | 'S2' | 'S12',
        world: ctx.world,
        vmid: ctx.vmid,
        asid: ctx.asid < 0 ? undefined : ctx.asid,
        aset: ctx.aset,
        half: ctx.half,
        input: BigInt(this.blockOf(s) * size),
        size,
        output: BigInt(this.oaOf(s)),
        ipa: ipa < 0 ? undefined : BigInt(ipa),
        level: this.levelOf(s),
        granule: 2 ** this.granOf(s),
      });
    }
    return out;
  }

  private evict(): void {
    let victim = this.head;
    if (victim < 0) return;
    if (this.clock) {
      // Second chance: referenced entries at the head lose their bit and go to the back (ends
      // after at most one pass, when every bit is clear). Moving them one by one to the tail
      // moves the referenced run at the head, in order, behind the tail: one splice. When every
      // entry is referenced the full pass leaves the order as it was and the head is the victim.
      const m = this.m;
      let last = -1;
      let s = victim;
      while (s >= 0 && m[s * SLOT + REF] === 1) {
        m[s * SLOT + REF] = 0;
        last = s;
        s = m[s * SLOT + NEXT] as number;
      }
      if (s >= 0 && last >= 0) {
        // Splice [head, last] after the tail; s becomes the head.
        const first = this.head;
        const tail = this.tail;
        m[s * SLOT + PREV] = -1;
        this.head = s;
        m[tail * SLOT + NEXT] = first;
        m[first * SLOT + PREV] = tail;
        m[last * SLOT + NEXT] = -1;
        this.tail = last;
        victim = s;
      }
    }
    if (this.trace) this.traceEntry('invalidate', victim, 'evict');
    this.remove(victim);
    this.stats.evictions++;
  }

  private linkTail(slot: number): void {
    const m = this.m;
    m[slot * SLOT + PREV] = this.tail;
    m[slot * SLOT + NEXT] = -1;
    if (this.tail >= 0) m[this.tail * SLOT + NEXT] = slot;
    else this.head = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const m = this.m;
    const p = m[slot * SLOT + PREV] as number;
    const n = m[slot * SLOT + NEXT] as number;
    if (p >= 0) m[p * SLOT + NEXT] = n;
    else this.head = n;
    if (n >= 0) m[n * SLOT + PREV] = p;
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
    const ctx = this.byId[(this.m[slot * SLOT + TAG] as number) >> 4] as TlbContext;
    const size = 2 ** this.shiftOf(slot);
    const tag =
      `${KIND_NAMES[ctx.kind]} world=${ctx.world} vmid=${ctx.vmid} ` +
      `${ctx.asid < 0 ? `global aset=${ctx.aset ? 1 : 0}` : `asid=${ctx.asid}`} half=${ctx.half}`;
    const detail =
      `${why ? `${why} ` : ''}${tag} in=${hex(this.blockOf(slot) * size)} ` +
      `size=${hex(size)} out=${hex(this.oaOf(slot))}`;
    this.trace?.({ kind: 'tlb', op, detail });
  }

  private noteInvalidate(what: string, n: number): void {
    this.stats.invalidated += n;
    if (this.trace) this.trace({ kind: 'tlb', op: 'invalidate', detail: `${what}: ${n} entries` });
  }
}
