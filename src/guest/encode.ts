// Field placement for the guest driver's structures (Arm IHI 0070 H.a §5.2 STE, §5.4 CD, §5.1/§5.3
// level-1 descriptors, §4 commands, §6.3 registers). The positions are never typed here: each slot
// is looked up once, at module load, in the field tables of src/arch (the same tables the decoder
// and the hardware model use), so a driver and a decoder cannot disagree about a bit. This is the
// only guest module that shifts and masks 64-bit words; the rest of the driver names fields.

import { getBits } from '../arch/bits.ts';
import { fieldKind, findField, type StructDef } from '../arch/fields.ts';

/** Where one field lives: its 64-bit word, its position and whether it is an address field. */
export interface FieldSlot {
  readonly name: string;
  readonly word: number;
  readonly hi: number;
  readonly lo: number;
  /** Field mask in place (within its word). */
  readonly mask: bigint;
  readonly shift: bigint;
  /** Address fields hold the address bits in place (value = raw << lo). */
  readonly addr: boolean;
}

/** The slot of field `name` of `def` (throws on an unknown name: a programming error). */
export function fieldSlot(def: StructDef, name: string): FieldSlot {
  const f = findField(def, name);
  const width = BigInt(f.hi - f.lo + 1);
  return {
    name: f.name,
    word: f.word,
    hi: f.hi,
    lo: f.lo,
    mask: ((1n << width) - 1n) << BigInt(f.lo),
    shift: BigInt(f.lo),
    addr: fieldKind(f) === 'addr',
  };
}

/** Slots for several fields of one table, keyed by field name. */
export function fieldSlots<const N extends string>(
  def: StructDef,
  names: readonly N[],
): Readonly<Record<N, FieldSlot>> {
  const out = {} as Record<N, FieldSlot>;
  for (const n of names) out[n] = fieldSlot(def, n);
  return out;
}

/**
 * ORs a field value into `words`. Plain fields take the raw value (masked to the field width, as
 * the kernel's FIELD_PREP would after its compile-time checks); address fields take the address
 * itself and keep only the bits the field holds (`addr & MASK`, as the kernel does).
 */
export function put(words: bigint[], s: FieldSlot, value: bigint | number): void {
  const v = BigInt(value);
  const placed = s.addr ? v & s.mask : (v << s.shift) & s.mask;
  words[s.word] = (words[s.word] ?? 0n) | placed;
}

/** Clears a field in `words`. */
export function clear(words: bigint[], s: FieldSlot): void {
  words[s.word] = (words[s.word] ?? 0n) & ~s.mask;
}

/** Reads a field: raw value for plain fields, the address in place for address fields. */
export function get(words: readonly bigint[], s: FieldSlot): bigint {
  const w = words[s.word] ?? 0n;
  return s.addr ? w & s.mask : getBits(w, s.hi, s.lo);
}

/** Reads a field of a 32-bit register value as a number. */
export function reg32(value: number, s: FieldSlot): number {
  return Number(getBits(BigInt(value >>> 0), s.hi, s.lo));
}

/** A 32-bit register value with one field set (for register writes built from field names). */
export function regBits(s: FieldSlot, value: number): number {
  return Number((BigInt(value) << s.shift) & s.mask);
}

/** The mask of a field within its word (for used-bit tables). */
export function maskOfSlots(...slots: readonly FieldSlot[]): bigint {
  let m = 0n;
  for (const s of slots) m |= s.mask;
  return m;
}
