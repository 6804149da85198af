// Test-side encoders for the structures the oracle writes into guest RAM, kept independent of the
// model's own field tables so that a shared mistake cannot hide: STE and CD words, VMSAv8-64
// descriptors, command-queue entries and event-record decoding. Bit positions follow Linux
// drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (STRTAB_STE_*, CTXDESC_CD_*, CMDQ_*, EVTQ_*) and
// QEMU hw/arm/smmuv3-internal.h (STE_S2AFFD = STE word 5 bit 21, i.e. dword 2 bit 53), checked
// against the SMMUv3 spec (IHI 0070) §5.2, §5.4, §4, §7.3 and the Arm ARM VMSAv8-64 descriptors.

const bit = (n: number): bigint => 1n << BigInt(n);
const fld = (v: number | bigint, lo: number): bigint => BigInt(v) << BigInt(lo);

/** Granule sizes in bytes and their TG encodings (CD.TG0 and STE.S2TG share TCR.TG0's). */
export const TG = { 4096: 0, 65536: 1, 16384: 2 } as const;
export type Granule = keyof typeof TG;
/** PS/IPS encodings by address size in bits. */
export const PS = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5, 52: 6 } as const;

/** STE.Config values. */
export const CONFIG = { ABORT: 0, BYPASS: 4, S1: 5, S2: 6, NESTED: 7 } as const;

/** Stage-2 settings of an STE. */
export interface SteS2 {
  readonly vmid: number;
  readonly t0sz: number;
  readonly sl0: number;
  readonly granule: Granule;
  readonly ps: number;
  readonly ttb: bigint;
  /** Record stage-2 faults (S2R). */
  readonly s2r?: boolean;
  /** Stage-2 AArch64 tables (S2AA64; QEMU crashes on 0). */
  readonly aa64?: boolean;
}

/** An STE as eight 64-bit words (§5.2). */
export function encodeSte(o: {
  readonly v: boolean;
  readonly config: number;
  readonly s1ContextPtr?: bigint;
  readonly s1CdMax?: number;
  readonly s2?: SteS2;
}): bigint[] {
  const w = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  w[0] =
    (o.v ? 1n : 0n) |
    fld(o.config, 1) |
    ((o.s1ContextPtr ?? 0n) & 0x000f_ffff_ffff_ffc0n) |
    fld(o.s1CdMax ?? 0, 59);
  // S1CIR/S1COR = WBRA (1), S1CSH = ISH (3): the cacheability of CD fetches (§5.2).
  w[1] = fld(1, 2) | fld(1, 4) | fld(3, 6);
  if (o.s2) {
    const s = o.s2;
    const vtcr =
      BigInt(s.t0sz) |
      fld(s.sl0, 6) |
      fld(1, 8) | // S2IR0 WBWA
      fld(1, 10) | // S2OR0 WBWA
      fld(3, 12) | // S2SH0 ISH
      fld(TG[s.granule], 14) |
      fld(s.ps, 16);
    w[2] =
      BigInt(s.vmid & 0xffff) |
      (vtcr << 32n) |
      (s.aa64 === false ? 0n : bit(51)) |
      bit(53) | // S2AFFD: no access-flag faults (descriptors set AF anyway)
      (s.s2r === false ? 0n : bit(58));
    w[3] = s.ttb & 0x000f_ffff_ffff_fff0n;
  }
  return w;
}

/** A stage-1 context descriptor as eight 64-bit words (§5.4). */
export function encodeCd(o: {
  readonly t0sz: number;
  readonly granule: Granule;
  readonly ips: number;
  readonly ttb0: bigint;
  readonly asid: number;
  /** Record stage-1 translation faults (R). Default true. */
  readonly r?: boolean;
  /** Abort (not RAZ/WI) on terminated faults (A); QEMU requires 1. Default true. */
  readonly a?: boolean;
  readonly v?: boolean;
  /** MAIR attribute 0 (default 0xff: Normal WB). */
  readonly mair?: bigint;
}): bigint[] {
  const w = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  w[0] =
    BigInt(o.t0sz) |
    fld(TG[o.granule], 6) |
    fld(1, 8) | // IRGN0 WBWA
    fld(1, 10) | // ORGN0 WBWA
    fld(3, 12) | // SH0 ISH
    bit(30) | // EPD1: no TTB1 walks
    (o.v === false ? 0n : bit(31)) |
    fld(o.ips, 32) |
    bit(35) | // AFFD
    bit(41) | // AA64
    (o.r === false ? 0n : bit(45)) |
    (o.a === false ? 0n : bit(46)) |
    bit(47) | // ASET: shared ASID set (no broadcast TLBI distinction needed)
    fld(o.asid & 0xffff, 48);
  w[1] = o.ttb0 & 0x000f_ffff_ffff_fff0n;
  w[3] = o.mair ?? 0xffn;
  return w;
}

/** VMSAv8-64 descriptors. */
export const DESC = {
  table: (pa: bigint): bigint => (pa & 0x000f_ffff_ffff_f000n) | 3n,
  /**
   * Stage-1 leaf: AF, SH=ISH, AP[2:1] (0b01 read/write at any EL, 0b11 read-only at any EL),
   * AttrIndx 0. `page` = level-3 page (0b11), else block (0b01).
   */
  s1Leaf: (pa: bigint, writable: boolean, page: boolean): bigint =>
    (pa & 0x000f_ffff_ffff_f000n) |
    bit(10) |
    fld(3, 8) |
    fld(writable ? 1 : 3, 6) |
    (page ? 3n : 1n),
  /** Stage-2 leaf: AF, SH=ISH, S2AP (bit 6 read, bit 7 write), MemAttr 0xf (Normal WB). */
  s2Leaf: (pa: bigint, read: boolean, write: boolean, page: boolean): bigint =>
    (pa & 0x000f_ffff_ffff_f000n) |
    bit(10) |
    fld(3, 8) |
    (read ? bit(6) : 0n) |
    (write ? bit(7) : 0n) |
    fld(0xf, 2) |
    (page ? 3n : 1n),
} as const;

/** Command opcodes (§4; Linux CMDQ_OP_*). */
export const OP = {
  CFGI_STE: 0x03,
  CFGI_ALL: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL2_ALL: 0x20,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  CMD_SYNC: 0x46,
} as const;

/** A command as two 64-bit words. */
export type Cmd = readonly [bigint, bigint];

export const CMD = {
  cfgiSte: (sid: number): Cmd => [BigInt(OP.CFGI_STE) | fld(sid, 32), 1n /* Leaf */],
  /** CFGI_ALL is CFGI_STE_RANGE with Range = 31 (every StreamID). */
  cfgiAll: (): Cmd => [BigInt(OP.CFGI_ALL), 31n],
  cfgiCd: (sid: number): Cmd => [BigInt(OP.CFGI_CD) | fld(sid, 32), 1n],
  tlbiNhAll: (vmid = 0): Cmd => [BigInt(OP.TLBI_NH_ALL) | fld(vmid, 32), 0n],
  tlbiNhAsid: (asid: number, vmid = 0): Cmd => [
    BigInt(OP.TLBI_NH_ASID) | fld(vmid, 32) | fld(asid, 48),
    0n,
  ],
  tlbiNhVa: (asid: number, va: bigint, vmid = 0, leaf = false): Cmd => [
    BigInt(OP.TLBI_NH_VA) | fld(vmid, 32) | fld(asid, 48),
    (va & ~0xfffn & 0xffff_ffff_ffff_ffffn) | (leaf ? 1n : 0n),
  ],
  tlbiS2Ipa: (vmid: number, ipa: bigint, leaf = false): Cmd => [
    BigInt(OP.TLBI_S2_IPA) | fld(vmid, 32),
    (ipa & 0x000f_ffff_ffff_f000n) | (leaf ? 1n : 0n),
  ],
  tlbiS12Vmall: (vmid: number): Cmd => [BigInt(OP.TLBI_S12_VMALL) | fld(vmid, 32), 0n],
  tlbiEl2All: (): Cmd => [BigInt(OP.TLBI_EL2_ALL), 0n],
  tlbiNsnhAll: (): Cmd => [BigInt(OP.TLBI_NSNH_ALL), 0n],
  /** CMD_SYNC with CS = SIG_NONE (0) or SIG_IRQ (1). */
  sync: (cs = 0): Cmd => [BigInt(OP.CMD_SYNC) | fld(cs, 12), 0n],
  raw: (w0: bigint, w1 = 0n): Cmd => [w0, w1],
} as const;

/** Event names by ID (§7.3). */
export const EVENT_NAME: Readonly<Record<number, string>> = {
  1: 'F_UUT',
  2: 'C_BAD_STREAMID',
  3: 'F_STE_FETCH',
  4: 'C_BAD_STE',
  6: 'F_STREAM_DISABLED',
  8: 'C_BAD_SUBSTREAMID',
  9: 'F_CD_FETCH',
  10: 'C_BAD_CD',
  11: 'F_WALK_EABT',
  16: 'F_TRANSLATION',
  17: 'F_ADDR_SIZE',
  18: 'F_ACCESS',
  19: 'F_PERMISSION',
};

/** The fields of an event record the oracle compares (§7.3; Linux EVTQ_*). */
export interface Evt {
  readonly type: string;
  readonly sid: number;
  readonly ssv: boolean;
  readonly rnw: boolean;
  readonly s2: boolean;
  readonly cls: number;
  readonly inputAddr: bigint;
  /** W3 bits [51:12] (IPA) — meaningful only for stage-2 faults. */
  readonly ipa: bigint;
}

/** Decodes the compared fields of a 32-byte event record. */
export function decodeEvent(b: Uint8Array): Evt {
  const dv = new DataView(b.buffer, b.byteOffset, 32);
  const w = [0, 8, 16, 24].map((o) => dv.getBigUint64(o, true)) as [bigint, bigint, bigint, bigint];
  const id = Number(w[0] & 0xffn);
  return {
    type: EVENT_NAME[id] ?? `0x${id.toString(16)}`,
    sid: Number(w[0] >> 32n),
    ssv: ((w[0] >> 11n) & 1n) === 1n,
    rnw: ((w[1] >> 35n) & 1n) === 1n,
    s2: ((w[1] >> 39n) & 1n) === 1n,
    cls: Number((w[1] >> 40n) & 3n),
    inputAddr: w[2],
    ipa: w[3] & 0x000f_ffff_ffff_f000n,
  };
}

/** Little-endian bytes of 64-bit words. */
export function wordsToBytes(words: readonly bigint[]): Uint8Array {
  const b = new Uint8Array(words.length * 8);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => {
    dv.setBigUint64(i * 8, BigInt.asUintN(64, w), true);
  });
  return b;
}
