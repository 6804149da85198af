// Circular queue arithmetic shared by the Command, Event and PRI queues (IHI 0070 H.a §3.5.1,
// SMMU_CMDQ_BASE/PROD/CONS, SMMU_EVENTQ_BASE/PROD/CONS, SMMU_PRIQ_BASE/PROD/CONS). A queue of
// 2^QS entries, QS = MIN(BASE.LOG2SIZE, IDR1.xQS), is indexed by PROD/CONS bits [QS-1:0] with a
// wrap bit at [QS]: equal index and wrap = empty, equal index with different wrap = full. Read as
// one (QS+1)-bit counter, the number of entries is (PROD - CONS) mod 2^(QS+1); a difference above
// 2^QS is an inconsistent pair (CONSTRAINED UNPREDICTABLE, §3.5.1). The base is aligned down to
// MAX(queue bytes, 32) and truncated to OAS (§3.4.3). BASE reads back as written.

import { and32, clear32, genmask, getBits, inc32, merge32, sub32 } from '../arch/bits.ts';
import { QUEUE_PTR_FIELD } from './registers.ts';

/** A queue's static description. */
export interface QueueSpec {
  readonly name: 'cmdq' | 'eventq' | 'priq';
  /** Bytes per entry: 16 (CMDQ, PRIQ) or 32 (EVENTQ). */
  readonly entryBytes: number;
  /** IDR1.CMDQS / EVENTQS / PRIQS. */
  readonly maxLog2: number;
}

/** Register state of one queue plus the index arithmetic over it. */
export class Queue {
  readonly spec: QueueSpec;
  /** PROD register value (pointer bits plus, for output queues, OVFLG). */
  prod = 0;
  /** CONS register value (pointer bits plus OVACKFLG, or CMDQ_CONS.ERR). */
  cons = 0;

  // BASE as written and the values derived from it, recomputed only when BASE changes (the
  // command and event paths read them for every entry).
  private baseReg = 0n;
  private qs = 0;
  private nEntries = 1;
  private mask = 1;
  /** OAS the cached entry-0 address was computed for (-1: none cached). */
  private addrOas = -1;
  /** Entry-0 address for `addrOas`, or -1 when it is 2^53 or more. */
  private addr0 = 0;

  constructor(spec: QueueSpec) {
    this.spec = spec;
    this.base = 0n;
  }

  /** BASE register as written (masked to the defined fields). */
  get base(): bigint {
    return this.baseReg;
  }

  set base(v: bigint) {
    this.baseReg = v;
    this.qs = Math.min(Number(getBits(v, 4, 0)), this.spec.maxLog2);
    this.nEntries = 2 ** this.qs;
    this.mask = 2 ** (this.qs + 1) - 1;
    this.addrOas = -1;
  }

  /** QS: log2 of the number of entries in effect. */
  get log2(): number {
    return this.qs;
  }

  /** Number of entries. */
  get entries(): number {
    return this.nEntries;
  }

  /** Mask of the pointer bits in effect: index [QS-1:0] plus wrap [QS]. */
  get ptrMask(): number {
    return this.mask;
  }

  /** Index part of a pointer. */
  index(p: number): number {
    return and32(p, this.nEntries - 1);
  }

  /** Wrap bit of a pointer (0 or 1). */
  wrap(p: number): number {
    return and32(p, this.mask) >= this.nEntries ? 1 : 0;
  }

  /** (PROD - CONS) mod 2^(QS+1): the number of valid entries when the pair is consistent. */
  get count(): number {
    return sub32(this.prod, this.cons, this.qs + 1);
  }

  /** Index and wrap equal. */
  get empty(): boolean {
    return this.count === 0;
  }

  /** Index equal, wrap different. */
  get full(): boolean {
    return this.count === this.nEntries;
  }

  /** False for the CONSTRAINED UNPREDICTABLE pairs (writer more than a queue ahead). */
  get consistent(): boolean {
    return this.count <= this.nEntries;
  }

  /** The pointer after `p` (index + 1, carrying into the wrap bit). */
  next(p: number): number {
    return inc32(and32(p, this.mask), this.qs + 1);
  }

  /** Advances PROD by one entry, keeping its flag bits. */
  advanceProd(): void {
    this.prod = merge32(this.prod, this.next(this.prod), QUEUE_PTR_FIELD);
  }

  /** Advances CONS by one entry, keeping its flag/ERR bits. */
  advanceCons(): void {
    this.cons = merge32(this.cons, this.next(this.cons), QUEUE_PTR_FIELD);
  }

  /** Truncates the stored pointers to the bits in effect (after BASE.LOG2SIZE changes). */
  truncatePointers(): void {
    const m = this.mask;
    this.prod = merge32(this.prod, and32(this.prod, m), QUEUE_PTR_FIELD);
    this.cons = merge32(this.cons, and32(this.cons, m), QUEUE_PTR_FIELD);
  }

  /** A software write to a pointer field: bits above the wrap bit are RES0 and not stored. */
  ptrBits(v: number): number {
    return and32(v, this.mask);
  }

  /**
   * Physical address of the entry that pointer `p` designates, or -1 when the address cannot be
   * expressed (beyond 2^53; the access then aborts). `oas` is the output address size in bits.
   */
  entryAddr(p: number, oas: number): number {
    if (this.addrOas !== oas) {
      // Queue base addresses beyond OAS are truncated to OAS (§3.4.3).
      const bytes = Math.max(this.nEntries * this.spec.entryBytes, 32);
      const addrBits = this.baseReg & genmask(oas - 1, 5);
      const aligned = addrBits - (addrBits % BigInt(bytes));
      this.addr0 = aligned >= 1n << 53n ? -1 : Number(aligned);
      this.addrOas = oas;
    }
    // `aligned` is a multiple of the queue size (a power of two dividing 2^53), so an entry of a
    // base below 2^53 is below 2^53 too.
    if (this.addr0 < 0) return -1;
    return this.addr0 + and32(p, this.nEntries - 1) * this.spec.entryBytes;
  }

  /** Pointer bits of PROD in effect. */
  get wr(): number {
    return and32(this.prod, this.mask);
  }

  /** Pointer bits of CONS in effect. */
  get rd(): number {
    return and32(this.cons, this.mask);
  }

  /** Clears flag bits `m` of PROD. */
  clearProdFlags(m: number): void {
    this.prod = clear32(this.prod, m);
  }
}
