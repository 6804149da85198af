// Stalled transactions of the SMMUv3 stall model (Arm IHI 0070 H.a §3.12.2 stall model,
// §3.12.2.1–2, §4.7.1 CMD_RESUME, §4.7.2 CMD_STALL_TERM, §5.5 STALL_MODEL, SMMU_CR0.SMMUEN
// 1 → 0; smmuv3-arch.md [6]). A stalled transaction waits, named by (StreamID, STAG), until
// CMD_RESUME retries it as a brand-new transaction or terminates it, CMD_STALL_TERM terminates
// every stall of a StreamID, or SMMUEN 1 → 0 aborts them all. A STAG is not reused while its
// stall is outstanding. Stall records are never merged (the model never merges events).

import type { TranslateRequest } from './types.ts';

/** One outstanding stalled transaction. */
export interface StalledTransaction {
  readonly sid: number;
  readonly stag: number;
  readonly req: TranslateRequest;
  /** The fault that stalled it (event type name). */
  readonly fault: string;
  /** The stage that faulted (1 or 2). */
  readonly stage: number;
}

/** How a stall ended. */
export type StallEnd = 'retry' | 'abort' | 'razwi';

/** The stall table: STAG allocation and lookup. */
export class StallTable {
  /** Most stalls outstanding at once (IDR5.STALL_MAX; 0 read as no limit). */
  readonly limit: number;
  private readonly byKey = new Map<number, StalledTransaction>();
  private nextStag = 0;

  constructor(stallMax: number) {
    this.limit = stallMax > 0 ? stallMax : 65536;
  }

  get size(): number {
    return this.byKey.size;
  }

  private static key(sid: number, stag: number): number {
    return sid * 65536 + stag;
  }

  /** Whether another transaction may stall (a free STAG within STALL_MAX). */
  canStall(): boolean {
    return this.byKey.size < Math.min(this.limit, 65536);
  }

  /** Allocates a STAG unused by any outstanding stall (the caller checked `canStall`). */
  add(sid: number, req: TranslateRequest, fault: string, stage: number): StalledTransaction {
    let stag = this.nextStag;
    while (this.inUse(stag)) stag = (stag + 1) % 65536;
    this.nextStag = (stag + 1) % 65536;
    const t: StalledTransaction = { sid, stag, req, fault, stage };
    this.byKey.set(StallTable.key(sid, stag), t);
    return t;
  }

  private inUse(stag: number): boolean {
    for (const t of this.byKey.values()) if (t.stag === stag) return true;
    return false;
  }

  /** Removes and returns the stall named by (sid, stag), if any. */
  take(sid: number, stag: number): StalledTransaction | undefined {
    const k = StallTable.key(sid, stag);
    const t = this.byKey.get(k);
    if (t) this.byKey.delete(k);
    return t;
  }

  /** Removes and returns every stall of `sid` (or of every StreamID when undefined). */
  takeAll(sid?: number): StalledTransaction[] {
    const out: StalledTransaction[] = [];
    for (const [k, t] of this.byKey) {
      if (sid === undefined || t.sid === sid) {
        out.push(t);
        this.byKey.delete(k);
      }
    }
    return out;
  }

  /** Outstanding stalls, oldest first. */
  list(): StalledTransaction[] {
    return [...this.byKey.values()];
  }
}
