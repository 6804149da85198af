// The driver's view of one SMMU queue (Linux drivers/iommu/arm/arm-smmu-v3 struct arm_smmu_ll_queue
// and its Q_IDX/Q_WRP/Q_OVF helpers; IHI 0070 H.a §3.5.1 index arithmetic): a queue of
// 2^shift entries in guest RAM, PROD/CONS values with the index in bits [shift-1:0], the wrap bit
// at bit `shift` and the overflow flag at bit 31, plus the driver's cached copies of the hardware
// pointers. Pure number arithmetic on u32 values (shift ≤ 19).

/** Overflow flag (PROD.OVFLG / CONS.OVACKFLG, bit 31). */
export const Q_OVERFLOW_FLAG = 0x8000_0000;

/** A queue as the driver tracks it. */
export class LlQueue {
  /** log2 of the number of entries. */
  readonly shift: number;
  /** Guest-physical base of the entries. */
  readonly base: number;
  /** Bytes per entry (16 for CMDQ/PRIQ, 32 for EVTQ). */
  readonly entryBytes: number;
  /** Register offsets of PROD and CONS. */
  readonly prodReg: number;
  readonly consReg: number;
  /** The driver's copies of PROD and CONS (with wrap and overflow bits). */
  prod = 0;
  cons = 0;

  constructor(shift: number, base: number, entryBytes: number, prodReg: number, consReg: number) {
    this.shift = shift;
    this.base = base;
    this.entryBytes = entryBytes;
    this.prodReg = prodReg;
    this.consReg = consReg;
  }

  /** Number of entries. */
  get entries(): number {
    return 2 ** this.shift;
  }

  /** Bytes of queue memory. */
  get bytes(): number {
    return this.entries * this.entryBytes;
  }

  /** Q_IDX: the index bits of a pointer. */
  idx(p: number): number {
    return (p & (this.entries - 1)) >>> 0;
  }

  /** Q_WRP: the wrap bit of a pointer, in place. */
  wrp(p: number): number {
    return (p & this.entries) >>> 0;
  }

  /** Q_OVF: the overflow flag of a pointer, in place. */
  static ovf(p: number): number {
    return (p & Q_OVERFLOW_FLAG) >>> 0;
  }

  /** Guest-physical address of the entry a pointer designates (Q_ENT). */
  entryAddr(p: number): number {
    return this.base + this.idx(p) * this.entryBytes;
  }

  /** queue_inc_prod_n: `p` advanced by n entries, keeping its overflow flag. */
  incN(p: number, n: number): number {
    const v = (this.wrp(p) | this.idx(p)) + n;
    const wrapped = v & (2 * this.entries - 1);
    return (LlQueue.ovf(p) | wrapped) >>> 0;
  }

  /** Entries in use between cons and prod. */
  used(prod: number, cons: number): number {
    if (this.wrp(prod) === this.wrp(cons)) return this.idx(prod) - this.idx(cons);
    return this.entries - (this.idx(cons) - this.idx(prod));
  }

  /** queue_has_space: room for n more entries given the cached pointers. */
  hasSpace(n: number): boolean {
    return this.entries - this.used(this.prod, this.cons) >= n;
  }

  /** queue_full on the cached pointers. */
  get full(): boolean {
    return (
      this.idx(this.prod) === this.idx(this.cons) && this.wrp(this.prod) !== this.wrp(this.cons)
    );
  }

  /** queue_empty on the cached pointers. */
  get empty(): boolean {
    return (
      this.idx(this.prod) === this.idx(this.cons) && this.wrp(this.prod) === this.wrp(this.cons)
    );
  }

  /**
   * queue_consumed: whether `cons` has moved past the entry at `prod` (the CMD_SYNC a caller is
   * waiting for).
   */
  consumed(cons: number, prod: number): boolean {
    const sameWrap = this.wrp(cons) === this.wrp(prod);
    return (
      (sameWrap && this.idx(cons) > this.idx(prod)) ||
      (!sameWrap && this.idx(cons) <= this.idx(prod))
    );
  }
}
