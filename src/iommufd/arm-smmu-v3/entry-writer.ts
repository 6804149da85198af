// The hitless STE/CD update algorithm of the arm-smmu-v3 driver (arm_smmu_write_entry,
// arm_smmu_entry_qword_diff, arm_smmu_get_ste_used, arm_smmu_get_cd_used,
// arm_smmu_get_ste_update_safe in drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c). The hardware reads
// an entry with only 64-bit single-copy atomicity, so the driver orders its qword writes (and a
// CFGI + CMD_SYNC "sync" after each step that changed something) such that the SMMU never sees a
// mix of old and new that it would act on:
//  - qwords whose *used* bits change are "critical"; exactly one → hitless (write the bits the
//    current entry ignores, then the critical qword, then clean up); two or more → breaking (V=0
//    first, then the rest, then qword 0); none → write the target.
//  - the update-safe rule (2781f2a930ab, f3c1d372dbb8, 7cad80048595; a profile switch) lets MEV
//    and EATS=TRANS change in place.

import { CD, EATS, fieldGet, fieldPrep, S1DSS, STE, STE_CFG } from './defs.ts';

/** Number of qwords in an STE or CD. */
export const ENTRY_QWORDS = 8;

/** Which entry type is written (selects the used/safe functions). */
export type EntryKind = 'ste' | 'cd';

/** One step of a write: the qwords it stored and whether it issued a sync. */
export interface WriteStep {
  /** Indexes of the qwords whose value changed in this step. */
  readonly wrote: readonly number[];
  /** The entry after the step. */
  readonly entry: readonly bigint[];
  /** A sync (CFGI + CMD_SYNC) was issued (only when something changed). */
  readonly sync: boolean;
}

/** What the writer needs from its environment. */
export interface EntryWriterOps {
  readonly kind: EntryKind;
  /** Apply the update-safe rule (STE only; a kernel-version switch). */
  readonly updateSafe: boolean;
  /** Store one qword into the live entry (memory the hardware reads). */
  store(index: number, value: bigint): void;
  /** Issue the invalidation for this entry and wait for it (CFGI_STE/CFGI_CD + CMD_SYNC). */
  sync(): void;
}

/** arm_smmu_get_ste_used: the bits of an STE the hardware reads in its current configuration. */
export function steUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(ENTRY_QWORDS).fill(0n);
  const w0 = ent[0] ?? 0n;
  const w1 = ent[1] ?? 0n;
  used[0] = STE.V;
  if (!(w0 & STE.V)) return used;
  const cfg = Number(fieldGet(STE.CFG, w0));
  used[0] |= STE.CFG;
  if (cfg & 1) {
    // Stage 1 translates.
    used[0] |= STE.S1FMT | STE.S1CTXPTR | STE.S1CDMAX;
    used[1] =
      (used[1] as bigint) |
      STE.S1DSS |
      STE.S1CIR |
      STE.S1COR |
      STE.S1CSH |
      STE.S1STALLD |
      STE.STRW |
      STE.EATS |
      STE.MEV;
    used[2] = (used[2] as bigint) | STE.S2VMID;
    // IHI 0070 §13.5: SHCFG applies when stage 1 is bypassed through S1DSS.
    if (Number(fieldGet(STE.S1DSS, w1)) === S1DSS.BYPASS) used[1] = (used[1] as bigint) | STE.SHCFG;
  }
  if (cfg & 2) {
    // Stage 2 translates.
    used[1] = (used[1] as bigint) | STE.S2FWB | STE.EATS | STE.SHCFG | STE.MEV;
    used[2] =
      (used[2] as bigint) |
      STE.S2VMID |
      STE.VTCR |
      STE.S2AA64 |
      STE.S2ENDI |
      STE.S2PTW |
      STE.S2S |
      STE.S2R;
    used[3] = (used[3] as bigint) | STE.S2TTB;
  }
  if (cfg === STE_CFG.BYPASS) used[1] = (used[1] as bigint) | STE.SHCFG;
  return used;
}

const ALL_ONES = (1n << 64n) - 1n;

/** arm_smmu_get_cd_used. */
export function cdUsed(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(ENTRY_QWORDS).fill(0n);
  const w0 = ent[0] ?? 0n;
  used[0] = CD.V;
  if (!(w0 & CD.V)) return used;
  used.fill(ALL_ONES);
  // EPD0 set: the TTB0 walk fields are ignored.
  if (w0 & CD.EPD0) {
    used[0] = (used[0] as bigint) & ~(CD.T0SZ | CD.TG0 | CD.IRGN0 | CD.ORGN0 | CD.SH0) & ALL_ONES;
    used[1] = (used[1] as bigint) & ~CD.TTB0 & ALL_ONES;
  }
  return used;
}

/** arm_smmu_get_ste_update_safe: bits allowed to change in place while used by both entries. */
export function steUpdateSafe(cur: readonly bigint[], tgt: readonly bigint[]): bigint[] {
  const safe = new Array<bigint>(ENTRY_QWORDS).fill(0n);
  const eatsS1chk = fieldPrep(STE.EATS, EATS.S1CHK);
  const eatsTrans = fieldPrep(STE.EATS, EATS.TRANS);
  safe[1] = STE.MEV;
  const c1 = cur[1] ?? 0n;
  const t1 = tgt[1] ?? 0n;
  const c2 = cur[2] ?? 0n;
  const t2 = tgt[2] ?? 0n;
  if (!((c1 | t1) & eatsS1chk) && !((c2 | t2) & STE.S2S)) safe[1] = (safe[1] as bigint) | eatsTrans;
  return safe;
}

/**
 * arm_smmu_entry_qword_diff: bitmask of qwords whose used bits must change after
 * `unusedUpdate` (also returned) is applied.
 */
export function entryQwordDiff(
  kind: EntryKind,
  updateSafe: boolean,
  entry: readonly bigint[],
  target: readonly bigint[],
): { diff: number; unusedUpdate: bigint[] } {
  const used = kind === 'ste' ? steUsed : cdUsed;
  const curUsed = used(entry);
  const tgtUsed = used(target);
  const safe =
    kind === 'ste' && updateSafe
      ? steUpdateSafe(entry, target)
      : new Array<bigint>(ENTRY_QWORDS).fill(0n);
  const unusedUpdate = new Array<bigint>(ENTRY_QWORDS).fill(0n);
  let diff = 0;
  for (let i = 0; i < ENTRY_QWORDS; i++) {
    const tu = tgtUsed[i] as bigint;
    // Safe only counts for bits both entries use; otherwise the unused entry sequences them.
    const s = (safe[i] as bigint) & tu & (curUsed[i] as bigint);
    const cu = (curUsed[i] as bigint) & ~s & ALL_ONES;
    const e = entry[i] ?? 0n;
    const t = target[i] ?? 0n;
    const uu = (e & cu) | (t & ~cu & ALL_ONES);
    unusedUpdate[i] = uu;
    if ((uu & tu) !== t) diff |= 1 << i;
  }
  return { diff, unusedUpdate };
}

function popcount8(x: number): number {
  let n = 0;
  for (let i = 0; i < 8; i++) if (x & (1 << i)) n++;
  return n;
}

/**
 * arm_smmu_write_entry: writes `target` over the live `entry` (mutated in place) through
 * `ops.store`, syncing after each step that changed a qword. Returns the steps taken.
 */
export function writeEntry(
  ops: EntryWriterOps,
  entry: bigint[],
  target: readonly bigint[],
): WriteStep[] {
  const steps: WriteStep[] = [];
  const set = (src: readonly bigint[], start: number, len: number): boolean => {
    const wrote: number[] = [];
    for (let i = start; i < start + len; i++) {
      const v = src[i] ?? 0n;
      if (entry[i] !== v) {
        entry[i] = v;
        ops.store(i, v);
        wrote.push(i);
      }
    }
    const changed = wrote.length > 0;
    if (changed) ops.sync();
    steps.push({ wrote, entry: [...entry], sync: changed });
    return changed;
  };
  const { diff, unusedUpdate } = entryQwordDiff(ops.kind, ops.updateSafe, entry, target);
  if (popcount8(diff) === 1) {
    // Hitless: one critical qword.
    let critical = 0;
    while (!(diff & (1 << critical))) critical++;
    unusedUpdate[critical] = entry[critical] ?? 0n;
    set(unusedUpdate, 0, ENTRY_QWORDS);
    set(target, critical, 1);
    set(target, 0, ENTRY_QWORDS);
  } else if (diff) {
    // Breaking: V=0 first (the whole qword 0 is cleared), then qwords 1..7, then qword 0.
    unusedUpdate[0] = 0n;
    set(unusedUpdate, 0, 1);
    set(target, 1, ENTRY_QWORDS - 1);
    set(target, 0, 1);
  } else {
    set(target, 0, ENTRY_QWORDS);
  }
  return steps.filter((s) => s.wrote.length > 0);
}
