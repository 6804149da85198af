// Output memory attributes of a translated transaction, as far as the model carries them (Arm
// IHI 0070 H.a §13 attribute transformation: STE overrides of the incoming attributes, stage-1
// MAIR attributes, stage-2 MemAttr with and without S2FWB; Arm DDI 0487 D8 "Combining the
// stage 1 and stage 2 attributes"). Attributes travel as MAIR-style bytes: Device 0b0000dd00,
// Normal outer[7:4] inner[3:0] with 0b0100 Non-cacheable, 0b10RW Write-Through, 0b11RW
// Write-Back. Shareability: 0 NSH, 2 OSH, 3 ISH.

import { memAttrToMair } from './smmu.ts';

/** Whether a MAIR-style byte denotes Device memory. */
export function isDevice(attr: number): boolean {
  return attr < 16;
}

/** Cacheability class of a 4-bit Normal half: 0 NC, 1 WT, 2 WB. */
function cacheClass(half: number): number {
  if (half === 0b0100) return 0;
  if (half >= 0b1100) return 2;
  if (half >= 0b1000) return 1;
  // 0b00RW (transient WT) and 0b01RW (transient WB) count as their non-transient class.
  return half >= 0b0101 ? 2 : 1;
}

const CLASS_HALF = [0b0100, 0b1011, 0b1111] as const;

/** Combines a stage-1 attribute byte with a stage-2 one (no FWB): Device wins, then weaker cacheability. */
export function combineMair(s1: number, s2: number): number {
  if (isDevice(s1) || isDevice(s2)) {
    if (!isDevice(s1)) return s2;
    if (!isDevice(s2)) return s1;
    // The more restrictive Device type (nGnRnE < nGnRE < nGRE < GRE).
    return Math.min(s1, s2);
  }
  const outer = Math.min(cacheClass(Math.floor(s1 / 16)), cacheClass(Math.floor(s2 / 16)));
  const inner = Math.min(cacheClass(s1 % 16), cacheClass(s2 % 16));
  // Keep stage 1's own encoding where its class survived (its allocation hints).
  const o = cacheClass(Math.floor(s1 / 16)) === outer ? Math.floor(s1 / 16) : CLASS_HALF[outer];
  const i = cacheClass(s1 % 16) === inner ? s1 % 16 : CLASS_HALF[inner];
  return (o as number) * 16 + (i as number);
}

/**
 * Applies a stage-2 descriptor MemAttr[3:0] to the incoming (or stage-1) attribute byte, −1 when
 * unknown. With S2FWB: 0b0xx Device, 0b101 Normal NC (combined), 0b110 forced Write-Back,
 * 0b111 stage-1 attributes kept.
 */
export function applyS2(prior: number, memAttr: number, fwb: boolean): number {
  if (fwb) {
    const m = memAttr % 8;
    if (m < 4) return prior < 0 ? m * 4 : combineMair(prior, m * 4);
    if (m === 0b110) return 0xff;
    if (m === 0b111) return prior;
    return prior < 0 ? 0x44 : combineMair(prior, 0x44);
  }
  const s2 = memAttrToMair(memAttr);
  return prior < 0 ? s2 : combineMair(prior, s2);
}

/** Combines two shareabilities (−1 = unknown): the larger domain wins. */
export function combineSh(a: number, b: number): number {
  if (a < 0) return b;
  if (b < 0) return a;
  if (a === 2 || b === 2) return 2;
  if (a === 3 || b === 3) return 3;
  return 0;
}

/** Device and Normal Non-cacheable memory is Outer Shareable. */
export function effectiveSh(attr: number, sh: number): number {
  if (attr >= 0 && (isDevice(attr) || attr === 0x44)) return 2;
  return sh;
}

/** Attribute byte `index` (0..7) of a MAIR held as two u32 halves. */
export function mairByte(lo: number, hi: number, index: number): number {
  const w = index < 4 ? lo : hi;
  // Byte (index mod 4) of a u32 word.
  return (w >>> (8 * (index & 3))) & 0xff;
}
