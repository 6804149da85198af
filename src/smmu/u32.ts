// u32 register arithmetic for the SMMUv3 register/queue model (IHI 0070 §6.3 registers are 32-bit
// words; queue pointers are at most 20 bits). The project keeps bit tricks out of ordinary code
// (typescript.md §10.7 rule 7): the register side calls these named helpers, each of which returns
// an unsigned 32-bit number. Wider (64-bit) registers stay bigint and use src/arch/bits.ts.

import { field, mask32 } from '../arch/bits.ts';

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
