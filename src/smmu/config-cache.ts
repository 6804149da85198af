// Configuration caches of the SMMUv3 translation side (Arm IHI 0070 H.a §3.21.3 configuration
// structure caching, §5.1.1 / §5.3.1 / §5.4.1 what may be cached, §16.2 caching notes) and the
// configuration invalidation commands (§4.3.1 CMD_CFGI_STE, §4.3.2 CMD_CFGI_STE_RANGE and
// CMD_CFGI_ALL, §4.3.3 CMD_CFGI_CD, §4.3.4 CMD_CFGI_CD_ALL; smmuv3-arch.md [5.1], [5.3]).
//
// Identity (what a cached copy is found by, and what a CFGI names): STE by StreamID; L1STD by its
// index in the level-1 table; CD by (StreamID, SubstreamID index); L1CD by (StreamID, level-1
// index). Any structure may be cached in any state, V == 0 and ILLEGAL included; a fetch that
// aborted or faulted at stage 2 is never cached. None of these commands touches the TLB.
// Capacities are IMPDEF (bounded, LRU or FIFO replacement, or no caching at all).

import type { SteConfig } from './config.ts';

/** Replacement policy of a bounded cache (IMPDEF). */
export type Eviction = 'lru' | 'fifo';

/**
 * The version and LRU clock of one or more bounded caches. Caches sharing one epoch share their
 * version (any change to any of them bumps it) and their LRU clock (stamps stay ordered within
 * each cache, which is all LRU needs). When `clock` has not moved since a caller touched its
 * remembered slots, those slots are still the most recent of their caches, so touching them again
 * would change nothing: the TLB-hit fast path relies on that.
 */
export interface CacheEpoch {
  version: number;
  clock: number;
}

/**
 * A bounded map with numeric keys. Replacement: FIFO evicts the oldest insertion (JS Maps
 * iterate in insertion order); LRU stamps every hit and evicts the smallest stamp, so a hit
 * costs one lookup and one store (the map itself is only touched on fills and evictions).
 * Bookkeeping: the map goes from key to a slot; values and stamps live in slot-indexed arrays
 * (no object per entry).
 */
export class BoundedCache<V> {
  readonly capacity: number;
  private readonly lru: boolean;
  private readonly map = new Map<number, number>();
  private readonly values: (V | undefined)[] = [];
  private readonly stamps: Float64Array;
  private readonly freeSlots: number[] = [];
  /** Version and LRU clock, possibly shared with other caches (see CacheEpoch). */
  readonly epoch: CacheEpoch;
  /** Entries dropped to make room. */
  evictions = 0;

  constructor(capacity: number, eviction: Eviction, epoch: CacheEpoch = { version: 0, clock: 0 }) {
    this.capacity = capacity;
    this.lru = eviction === 'lru';
    this.stamps = new Float64Array(Math.max(0, capacity));
    this.epoch = epoch;
  }

  /**
   * Bumped by every change of the key → slot mapping or of a value (set, delete, clear) of this
   * cache (or of a cache sharing its epoch): a caller that remembered a slot may use it with
   * `touch` while the version is unchanged.
   */
  get version(): number {
    return this.epoch.version;
  }

  get size(): number {
    return this.map.size;
  }

  /** The cached value; with LRU replacement a hit makes the entry the most recent. */
  get(key: number): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    if (this.lru) this.stamps[slot] = ++this.epoch.clock;
    return this.values[slot];
  }

  /** The slot holding `key` (no LRU update), −1 if none. */
  slotOf(key: number): number {
    return this.map.get(key) ?? -1;
  }

  /** A hit on a remembered slot (valid while `version` is unchanged): the same as `get`. */
  touch(slot: number): void {
    if (this.lru) this.stamps[slot] = ++this.epoch.clock;
  }

  /** Inserts or replaces; no-op when the capacity is 0 (no caching). */
  set(key: number, v: V): void {
    if (this.capacity <= 0) return;
    this.epoch.version++;
    let slot = this.map.get(key);
    if (slot === undefined) {
      if (this.map.size >= this.capacity) this.evict();
      slot = this.freeSlots.pop() ?? this.values.length;
      this.map.set(key, slot);
    }
    this.values[slot] = v;
    this.stamps[slot] = ++this.epoch.clock;
  }

  private evict(): void {
    let victim: number | undefined;
    if (this.lru) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const [k, slot] of this.map) {
        const used = this.stamps[slot] as number;
        if (used < oldest) {
          oldest = used;
          victim = k;
        }
      }
    } else {
      const first = this.map.keys().next();
      victim = first.done ? undefined : first.value;
    }
    if (victim !== undefined) {
      this.delete(victim);
      this.evictions++;
    }
  }

  delete(key: number): boolean {
    const slot = this.map.get(key);
    if (slot === undefined) return false;
    this.epoch.version++;
    this.map.delete(key);
    this.values[slot] = undefined;
    this.freeSlots.push(slot);
    return true;
  }

  /** Deletes every entry whose key satisfies `pred`; returns how many went. */
  deleteWhere(pred: (key: number, v: V) => boolean): number {
    let n = 0;
    for (const [k, slot] of this.map) {
      if (pred(k, this.values[slot] as V)) {
        this.delete(k);
        n++;
      }
    }
    return n;
  }

  clear(): number {
    const n = this.map.size;
    this.epoch.version++;
    this.map.clear();
    this.values.length = 0;
    this.freeSlots.length = 0;
    return n;
  }

  /** [key, value] pairs in insertion order. */
  *entries(): IterableIterator<[number, V]> {
    for (const [k, slot] of this.map) yield [k, this.values[slot] as V];
  }
}

/** A cached Level-1 Stream Table Descriptor (§5.1). */
export interface L1StdEntry {
  /** Span field (0 and 12..31 invalid). */
  readonly span: number;
  /** L2Ptr, low bits already aligned to the level-2 array size. */
  readonly l2Ptr: number;
}

/** A cached Level-1 Context Descriptor (§5.3). */
export interface L1CdEntry {
  readonly valid: boolean;
  /** L2Ptr (PA, or IPA when stage 2 translates), aligned to the leaf table. */
  readonly l2Ptr: number;
}

/** SubstreamIDs are 20 bits: keys pack (StreamID, SubstreamID) as sid · 2^20 + ssid. */
const SSID_SPAN = 2 ** 20;

/** CD cache key of (StreamID, SubstreamID index). */
export function cdKey(sid: number, ssid: number): number {
  return sid * SSID_SPAN + ssid;
}

/**
 * L1CD cache key: (StreamID, leaf format, level-1 index); the format bit keeps 4 KiB-leaf
 * (S1Fmt 0b01) and 64 KiB-leaf (0b10) descriptors apart.
 */
export function l1cdKey(sid: number, fmt: number, l1Index: number): number {
  return sid * 2 * SSID_SPAN + (fmt === 2 ? SSID_SPAN : 0) + l1Index;
}

/** L1STD cache key: level-1 index with the SPLIT it was computed for. */
export function l1stdKey(l1Index: number, split: number): number {
  return l1Index * 16 + split;
}

/** StreamID of a CD key. */
function sidOfCdKey(k: number): number {
  return Math.floor(k / SSID_SPAN);
}

/** StreamID of an L1CD key. */
function sidOfL1cdKey(k: number): number {
  return Math.floor(k / (2 * SSID_SPAN));
}

/** The valid SPLIT values (others behave as 6, smmuv3-arch.md [1.2]). */
const SPLITS = [6, 8, 10] as const;

/** Sizes of the four configuration caches. */
export interface ConfigCacheSizes {
  readonly ste: number;
  readonly l1std: number;
  readonly cd: number;
  readonly l1cd: number;
}

/** What an invalidation removed (for traces and tests). */
export interface CfgiResult {
  ste: number;
  l1std: number;
  cd: number;
  l1cd: number;
}

/**
 * The STE, L1STD, CD and L1CD caches with the architected invalidation scopes. `C` is the value
 * cached per CD (the translation side stores the parsed CD with its resolved TLB contexts).
 */
export class ConfigCaches<C> {
  readonly ste: BoundedCache<SteConfig>;
  readonly l1std: BoundedCache<L1StdEntry>;
  readonly cd: BoundedCache<C>;
  readonly l1cd: BoundedCache<L1CdEntry>;

  /** The epoch the four caches share. */
  readonly epoch: CacheEpoch = { version: 0, clock: 0 };

  constructor(sizes: ConfigCacheSizes, eviction: Eviction) {
    this.ste = new BoundedCache(sizes.ste, eviction, this.epoch);
    this.l1std = new BoundedCache(sizes.l1std, eviction, this.epoch);
    this.cd = new BoundedCache(sizes.cd, eviction, this.epoch);
    this.l1cd = new BoundedCache(sizes.l1cd, eviction, this.epoch);
  }

  private dropCds(inRange: (sid: number) => boolean, out: CfgiResult): void {
    out.cd += this.cd.deleteWhere((k) => inRange(sidOfCdKey(k)));
    out.l1cd += this.l1cd.deleteWhere((k) => inRange(sidOfL1cdKey(k)));
  }

  /**
   * CMD_CFGI_STE (§4.3.1): the STE of `sid`; with Leaf == 0 also the L1STD walked to it (every
   * SPLIT interpretation goes: over-invalidation is allowed); every CD and L1CD cached via `sid`.
   */
  cfgiSte(sid: number, leaf: boolean): CfgiResult {
    const out: CfgiResult = { ste: 0, l1std: 0, cd: 0, l1cd: 0 };
    if (this.ste.delete(sid)) out.ste++;
    if (!leaf) {
      for (const split of SPLITS) {
        if (this.l1std.delete(l1stdKey(Math.floor(sid / 2 ** split), split))) out.l1std++;
      }
    }
    this.dropCds((s) => s === sid, out);
    return out;
  }

  /**
   * CMD_CFGI_STE_RANGE (§4.3.2): the STEs of the naturally aligned block of 2^(range+1)
   * StreamIDs containing `sid`, their L1STDs, CDs and L1CDs. Range 31 is CMD_CFGI_ALL.
   */
  cfgiSteRange(sid: number, range: number): CfgiResult {
    if (range >= 31) return this.cfgiAll();
    const size = 2 ** (range + 1);
    const first = Math.floor(sid / size) * size;
    const last = first + size - 1;
    const inRange = (s: number): boolean => s >= first && s <= last;
    const out: CfgiResult = { ste: 0, l1std: 0, cd: 0, l1cd: 0 };
    out.ste = this.ste.deleteWhere((k) => inRange(k));
    out.l1std = this.l1std.deleteWhere((k) => {
      const split = k % 16;
      const l1 = Math.floor(k / 16);
      // The L1STD covers StreamIDs [l1 · 2^split, (l1 + 1) · 2^split).
      return l1 * 2 ** split <= last && (l1 + 1) * 2 ** split > first;
    });
    this.dropCds(inRange, out);
    return out;
  }

  /** CMD_CFGI_ALL: every STE, L1STD, CD and L1CD. */
  cfgiAll(): CfgiResult {
    return {
      ste: this.ste.clear(),
      l1std: this.l1std.clear(),
      cd: this.cd.clear(),
      l1cd: this.l1cd.clear(),
    };
  }

  /**
   * CMD_CFGI_CD (§4.3.3): the CD cached from index `ssid` of `sid`'s table (a single-CD
   * configuration uses index 0); with Leaf == 0 also the L1CD covering it.
   */
  cfgiCd(sid: number, ssid: number, leaf: boolean): CfgiResult {
    const out: CfgiResult = { ste: 0, l1std: 0, cd: 0, l1cd: 0 };
    if (this.cd.delete(cdKey(sid, ssid))) out.cd++;
    if (!leaf) {
      if (this.l1cd.delete(l1cdKey(sid, 1, Math.floor(ssid / 64)))) out.l1cd++;
      if (this.l1cd.delete(l1cdKey(sid, 2, Math.floor(ssid / 1024)))) out.l1cd++;
    }
    return out;
  }

  /** CMD_CFGI_CD_ALL (§4.3.4): every CD and L1CD cached via `sid`. */
  cfgiCdAll(sid: number): CfgiResult {
    const out: CfgiResult = { ste: 0, l1std: 0, cd: 0, l1cd: 0 };
    this.dropCds((s) => s === sid, out);
    return out;
  }
}
