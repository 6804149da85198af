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
  /** BASE register as written (masked to the defined fields). */
  base = 0n;
  /** PROD register value (pointer bits plus, for output queues, OVFLG). */
  prod = 0;
  /** CONS register value (pointer bits plus OVACKFLG, or CMDQ_CONS.ERR). */
  cons = 0;

  constructor(spec: QueueSpec) {
    this.spec = spec;
  }

  /** QS: log2 of the number of entries in effect. */
  get log2(): number {
    return Math.min(Number(getBits(this.base, 4, 0)), this.spec.maxLog2);
  }

  /** Number of entries. */
  get entries(): number {
    return 2 ** this.log2;
  }

  /** Mask of the pointer bits in effect: index [QS-1:0] plus wrap [QS]. */
  get ptrMask(): number {
    return 2 ** (this.log2 + 1) - 1;
  }

  /** Index part of a pointer. */
  index(p: number): number {
    return and32(p, this.entries - 1);
  }

  /** Wrap bit of a pointer (0 or 1). */
  wrap(p: number): number {
    return and32(p, this.ptrMask) >= this.entries ? 1 : 0;
  }

  /** (PROD - CONS) mod 2^(QS+1): the number of valid entries when the pair is consistent. */
  get count(): number {
    return sub32(this.prod, this.cons, this.log2 + 1);
  }

  /** Index and wrap equal. */
  get empty(): boolean {
    return this.count === 0;
  }

  /** Index equal, wrap different. */
  get full(): boolean {
    return this.count === this.entries;
  }

  /** False for the CONSTRAINED UNPREDICTABLE pairs (writer more than a queue ahead). */
  get consistent(): boolean {
    return this.count <= this.entries;
  }

  /** The pointer after `p` (index + 1, carrying into the wrap bit). */
  next(p: number): number {
    return inc32(and32(p, this.ptrMask), this.log2 + 1);
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
    const m = this.ptrMask;
    this.prod = merge32(this.prod, and32(this.prod, m), QUEUE_PTR_FIELD);
    this.cons = merge32(this.cons, and32(this.cons, m), QUEUE_PTR_FIELD);
  }

  /** A software write to a pointer field: bits above the wrap bit are RES0 and not stored. */
  ptrBits(v: number): number {
    return and32(v, this.ptrMask);
  }

  /**
   * Physical address of the entry that pointer `p` designates, or -1 when the address cannot be
   * expressed (beyond 2^53; the access then aborts). `oas` is the output address size in bits.
   */
  entryAddr(p: number, oas: number): number {
    // Queue base addresses beyond OAS are truncated to OAS (§3.4.3).
    const bytes = Math.max(this.entries * this.spec.entryBytes, 32);
    const addrBits = this.base & genmask(oas - 1, 5);
    const aligned = addrBits - (addrBits % BigInt(bytes));
    const base = aligned + BigInt(this.index(p) * this.spec.entryBytes);
    return base >= 1n << 53n ? -1 : Number(base);
  }

  /** Pointer bits of PROD in effect. */
  get wr(): number {
    return and32(this.prod, this.ptrMask);
  }

  /** Pointer bits of CONS in effect. */
  get rd(): number {
    return and32(this.cons, this.ptrMask);
  }

  /** Clears flag bits `m` of PROD. */
  clearProdFlags(m: number): void {
    this.prod = clear32(this.prod, m);
  }
}
