// 64-bit bit manipulation, in two representations.
//
// Edges (decoders, the public API, scenario values) use bigint: exact, readable, any width.
// Hot paths (walks, TLB keys, memory) use numbers: a 64-bit word travels as two u32 halves
// (`lo`, `hi`), and addresses are non-negative integers below 2^53 (a 52-bit PA/IPA/VA fits).
// Every number-path helper here is property-tested against the bigint reference
// (test/property/bits.test.ts). Only this file does bit tricks; everything else calls it.
//
// JS traps, written down once:
// - `<<`, `>>`, `>>>`, `&`, `|` work on 32 bits; shift counts are taken mod 32 (`x << 32 === x`).
// - `1 << 31` is negative; `>>> 0` turns a 32-bit result back into an unsigned number.
// - Doubles are exact integers only up to 2^53; never form a full 64-bit value as a number.

/** 2^32 as a number. */
export const TWO32 = 0x1_0000_0000;
/** All 64 bits set. */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Mask of `n` low bits as a u32 number (0 ≤ n ≤ 32). */
export function mask32(n: number): number {
  return n >= 32 ? 0xffff_ffff : ((1 << n) >>> 0) - 1;
}

/** GENMASK_ULL(hi, lo) as a bigint. */
export function genmask(hi: number, lo: number): bigint {
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

/** Bits [hi:lo] of a 64-bit bigint word (the bigint reference). */
export function getBits(w: bigint, hi: number, lo: number): bigint {
  return (w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** `w` with bits [hi:lo] replaced by `v` (v is masked to the field width). */
export function setBits(w: bigint, hi: number, lo: number, v: bigint): bigint {
  const m = genmask(hi, lo);
  return (w & ~m & U64_MAX) | ((v << BigInt(lo)) & m);
}

/** Joins two u32 halves into a 64-bit bigint. */
export function joinU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Low u32 half of a 64-bit bigint. */
export function lo32(w: bigint): number {
  return Number(w & 0xffff_ffffn);
}

/** High u32 half of a 64-bit bigint. */
export function hi32(w: bigint): number {
  return Number((w >> 32n) & 0xffff_ffffn);
}

/**
 * Bits [fhi:flo] of the 64-bit word (lo, hi), for fields at most 32 bits wide (number path).
 */
export function field(lo: number, hi: number, fhi: number, flo: number): number {
  const width = fhi - flo + 1;
  if (flo >= 32) return ((hi >>> (flo - 32)) & mask32(width)) >>> 0;
  if (fhi < 32) return ((lo >>> flo) & mask32(width)) >>> 0;
  // Straddles bit 32: low part from `lo`, high part from `hi`.
  const lowWidth = 32 - flo;
  const low = lo >>> flo;
  const high = (hi & mask32(width - lowWidth)) >>> 0;
  return ((low | (high << lowWidth)) & mask32(width)) >>> 0;
}

/** Bit `n` (0..63) of the 64-bit word (lo, hi), as 0 or 1. */
export function bit(lo: number, hi: number, n: number): number {
  return n >= 32 ? (hi >>> (n - 32)) & 1 : (lo >>> n) & 1;
}

/**
 * Bits [fhi:flo] of (lo, hi) kept in place (not shifted down), as a number. Requires fhi ≤ 52 so
 * the result is exact. This is how an address field of a descriptor becomes an address.
 */
export function addrField(lo: number, hi: number, fhi: number, flo: number): number {
  let l = 0;
  let h = 0;
  if (flo < 32) l = (lo & ~mask32(flo) & (fhi >= 31 ? 0xffff_ffff : mask32(fhi + 1))) >>> 0;
  if (fhi >= 32) h = (hi & mask32(fhi - 31) & ~(flo > 32 ? mask32(flo - 32) : 0)) >>> 0;
  return h * TWO32 + l;
}

/** Low u32 half of a non-negative integer number below 2^53. */
export function numLo(x: number): number {
  return x >>> 0;
}

/** High half (bits 52:32) of a non-negative integer number below 2^53. */
export function numHi(x: number): number {
  return Math.floor(x / TWO32) >>> 0;
}

/** `x >> s` for a non-negative integer number below 2^53 (0 ≤ s ≤ 53). */
export function shr(x: number, s: number): number {
  return Math.floor(x / 2 ** s);
}

/** `(x >> s) & mask(width)` for x below 2^53 and width ≤ 32: an index field of an address. */
export function idx(x: number, s: number, width: number): number {
  if (s >= 32) return (numHi(x) >>> (s - 32)) & mask32(width);
  const low = x >>> s;
  if (s + width <= 32) return (low & mask32(width)) >>> 0;
  const high = numHi(x) << (32 - s);
  return ((low | high) & mask32(width)) >>> 0;
}

/** `x & GENMASK(hi, lo)` for a non-negative integer x below 2^53 (hi ≤ 52). */
export function maskAddr(x: number, hi: number, lo: number): number {
  return addrField(numLo(x), numHi(x), hi, lo);
}

/** `x mod 2^n` for a non-negative integer x below 2^53 (n ≤ 53). */
export function lowBits(x: number, n: number): number {
  // Below 2^31 one mask of the low word (`>>> 0` is exact mod 2^32 for any integer); above, a
  // table of 2^n (a variable `2 ** n` is a Math.pow call), exact for integers below 2^53.
  if (n < 31) return (x >>> 0) & ((1 << n) - 1);
  if (n >= 53) return x;
  const p = POW2[n] as number;
  return x - Math.floor(x / p) * p;
}

/** 2^n for n = 0..63. */
const POW2: readonly number[] = Array.from({ length: 64 }, (_, n) => 2 ** n);

/**
 * Narrows a bigint address to a number; throws RangeError when it does not fit in 53 bits.
 * Call sites check architectural ranges (IAS/OAS) before narrowing.
 */
export function toAddr(x: bigint): number {
  if (x < 0n || x >= 1n << 53n) throw new RangeError(`address 0x${x.toString(16)} exceeds 2^53`);
  return Number(x);
}

/** Lower-case `0x…` hex of a bigint or non-negative number, no padding. */
export function hex(x: bigint | number): string {
  return `0x${x.toString(16)}`;
}

/** `0x` + 16 lower-case hex digits: a 64-bit word as the kernel prints it. */
export function hex64(x: bigint): string {
  return `0x${(x & U64_MAX).toString(16).padStart(16, '0')}`;
}

/** Population count of a 64-bit bigint. */
export function popcount64(w: bigint): number {
  let n = 0;
  let x = w & U64_MAX;
  while (x) {
    x &= x - 1n;
    n++;
  }
  return n;
}

/** log2 of a power of two (number); -1 when x is not a power of two. */
export function log2Exact(x: number): number {
  if (x <= 0 || !Number.isInteger(x)) return -1;
  const l = Math.log2(x);
  return Number.isInteger(l) ? l : -1;
}

/** Bitwise OR of two non-negative integers below 2^53. */
export function or53(a: number, b: number): number {
  return ((numHi(a) | numHi(b)) >>> 0) * TWO32 + ((numLo(a) | numLo(b)) >>> 0);
}

/** Whether bit `b` (0..52) of a non-negative integer below 2^53 is set. */
export function bitSet53(x: number, b: number): boolean {
  return (b < 32 ? (numLo(x) >>> b) & 1 : (numHi(x) >>> (b - 32)) & 1) === 1;
}

/** `(a & b) === a` for non-negative integers below 2^53. */
export function subset53(a: number, b: number): boolean {
  return ((numLo(a) & ~numLo(b)) | (numHi(a) & ~numHi(b))) === 0;
}

/** Index of the highest set bit (Linux __fls) of a non-negative integer below 2^53; -1 for 0. */
export function fls53(x: number): number {
  const hi = numHi(x);
  if (hi !== 0) return 63 - Math.clz32(hi);
  const lo = numLo(x);
  return lo !== 0 ? 31 - Math.clz32(lo) : -1;
}

/** Index of the lowest set bit (Linux __ffs) of a non-negative integer below 2^53; -1 for 0. */
export function ffs53(x: number): number {
  const lo = numLo(x);
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = numHi(x);
  return hi !== 0 ? 63 - Math.clz32(hi & -hi) : -1;
}

// u32 register arithmetic (SMMUv3 registers are 32-bit words; queue pointers at most 20 bits):
// each helper returns an unsigned 32-bit number.

/** `a & b` as an unsigned 32-bit number. */
export function and32(a: number, b: number): number {
  return (a & b) >>> 0;
}

/** `a | b` as an unsigned 32-bit number. */
export function or32(a: number, b: number): number {
  return (a | b) >>> 0;
}

/** `a ^ b` as an unsigned 32-bit number. */
export function xor32(a: number, b: number): number {
  return (a ^ b) >>> 0;
}

/** `a & ~m` as an unsigned 32-bit number. */
export function clear32(a: number, m: number): number {
  return (a & ~m) >>> 0;
}

/** Replaces the bits of `a` selected by `m` with those of `b`. */
export function merge32(a: number, b: number, m: number): number {
  return ((a & ~m) | (b & m)) >>> 0;
}

/** Bits [hi:lo] of a u32, shifted down. */
export function get32(v: number, hi: number, lo: number): number {
  return field(v >>> 0, 0, hi, lo);
}

/** Bit `n` of a u32 as a boolean. */
export function has32(v: number, n: number): boolean {
  return ((v >>> n) & 1) === 1;
}

/** Mask of bits [hi:lo] as a u32. */
export function fmask32(hi: number, lo: number): number {
  return (mask32(hi - lo + 1) << lo) >>> 0;
}

/** A single-bit mask `1 << n` as a u32. */
export function bit32(n: number): number {
  return (1 << n) >>> 0;
}

/** `v` placed at bits [hi:lo] (masked to the field width). */
export function put32(v: number, hi: number, lo: number): number {
  return ((v & mask32(hi - lo + 1)) << lo) >>> 0;
}

/** `(p + 1) mod 2^width` for a counter of `width` ≤ 31 bits. */
export function inc32(p: number, width: number): number {
  return ((p + 1) & mask32(width)) >>> 0;
}

/** `(a - b) mod 2^width` for counters of `width` ≤ 31 bits. */
export function sub32(a: number, b: number, width: number): number {
  return ((a - b) & mask32(width)) >>> 0;
}
