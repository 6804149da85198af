// The library side of `vsmmu ste-write` (formats.md §4): runs the host arm-smmu-v3 driver's hitless
// entry writer (arm_smmu_write_entry, ./arm-smmu-v3/entry-writer.ts) against the model — a host
// whose SMMU has the requested features, the `from` entry installed for a StreamID (or a CD for
// SSID 0 with --cd), then the write of `to` with every CFGI_STE/CFGI_CD + CMD_SYNC going through the
// SMMU model's real command queue — and reports each step, the number of syncs and whether the
// update was hitless in the kernel KUnit sense (no sync observed qword 0 equal to 0).

import { hex64 } from '../arch/bits.ts';
import { VsmmuError } from '../arch/errors.ts';
import type { WriteStep } from './arm-smmu-v3/entry-writer.ts';
import { createHost } from './host.ts';

/** Feature names accepted by `--features` (formats.md §4). */
export const STE_WRITE_FEATURES = [
  'stalls',
  'attr-types-ovr',
  's2fwb',
  'e2h',
  'range-inv',
] as const;

/** A feature name. */
export type SteWriteFeature = (typeof STE_WRITE_FEATURES)[number];

/** Input of an entry write. */
export interface SteWriteInput {
  readonly kind: 'ste' | 'cd';
  readonly from: readonly bigint[];
  readonly to: readonly bigint[];
  readonly features?: readonly SteWriteFeature[];
  /** The update-safe rule (default true; `--no-update-safe` = kernels before it). */
  readonly updateSafe?: boolean;
}

/** One step of the report. */
export interface SteWriteStep {
  readonly wrote: readonly number[];
  readonly entry: readonly bigint[];
  readonly sync: boolean;
  /** Commands the step issued into the SMMU's command queue. */
  readonly commands: readonly string[];
}

/** Result of an entry write. */
export interface SteWriteResult {
  readonly kind: 'ste' | 'cd';
  readonly syncs: number;
  readonly hitless: boolean;
  readonly steps: readonly SteWriteStep[];
  readonly final: readonly bigint[];
}

const SID = 0x8;
// QEMU 10.0.2 `virt` IDRs, then adjusted for the requested features.
const IDR0 = 0x0d44101b;
const IDR1 = 0x02730010;
const IDR3 = 0x1414;

/** Runs the writer; throws VsmmuError for malformed input. */
export function runSteWrite(input: SteWriteInput): SteWriteResult {
  for (const [name, w] of [
    ['--from', input.from],
    ['--to', input.to],
  ] as const) {
    if (w.length !== 8) {
      throw new VsmmuError(
        'BAD_WORD_COUNT',
        `${name} needs 8 words for a ${input.kind.toUpperCase()}, got ${w.length}`,
      );
    }
  }
  const f = new Set(input.features ?? []);
  for (const x of f) {
    if (!(STE_WRITE_FEATURES as readonly string[]).includes(x)) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        `unknown feature '${x}' (known: ${STE_WRITE_FEATURES.join(', ')})`,
      );
    }
  }
  // IDR0.STALL_MODEL (25:24) 0b00 = stall supported; IDR1.ATTR_TYPES_OVR bit 27; IDR3.FWB bit 8,
  // IDR3.RIL bit 10. E2H is never used by the modelled host driver (accepted like the kernel does).
  const idr0 = f.has('stalls') ? IDR0 & ~(3 << 24) : IDR0;
  const idr1 = f.has('attr-types-ovr') ? IDR1 | (1 << 27) : IDR1;
  let idr3 = f.has('s2fwb') ? IDR3 | (1 << 8) : IDR3;
  if (!f.has('range-inv')) idr3 &= ~(1 << 10);
  const host = createHost({
    smmus: [{ idr: { idr0: idr0 >>> 0, idr1: idr1 >>> 0, idr3 } }],
    devices: [{ sid: SID }],
    switches: { steUpdateSafe: input.updateSafe ?? true },
  });
  const smmu = host.smmu(0);
  const drv = smmu.driver;
  const master = host.devices[0]?.master;
  if (!master) throw new VsmmuError('BAD_STATE', 'no master');
  const mem = host.mem;
  let base: number;
  if (input.kind === 'ste') {
    base = drv.steAddr(SID);
  } else {
    if (drv.ensureCdTable(master) !== 0)
      throw new VsmmuError('BAD_STATE', 'cannot allocate a CD table');
    base = (master.cdTable as { pa: number }).pa;
  }
  // Install `from` as it is (not a transition), then invalidate it.
  input.from.forEach((w, i) => {
    mem.write64(base + 8 * i, w);
  });
  drv.issue([[BigInt(input.kind === 'ste' ? 0x03 : 0x05) | (BigInt(SID) << 32n), 1n]], true);
  const mark = drv.mark();
  const steps: WriteStep[] =
    input.kind === 'ste'
      ? drv.writeSte(SID, input.to, input.updateSafe ?? true)
      : drv.writeCd(master, 0, input.to);
  const cmds = drv.commandsSince(mark);
  let ci = 0;
  const out: SteWriteStep[] = steps.map((s) => {
    const names: string[] = [];
    if (s.sync) {
      // Each sync is the CFGI for the entry followed by its CMD_SYNC.
      while (ci < cmds.length) {
        const c = cmds[ci++];
        if (!c) break;
        const sid = Number((c.words[0] >> 32n) & 0xffff_ffffn);
        names.push(c.name === 'CMD_SYNC' ? 'CMD_SYNC' : `${c.name} sid 0x${sid.toString(16)}`);
        if (c.name === 'CMD_SYNC') break;
      }
    }
    return { wrote: s.wrote, entry: s.entry, sync: s.sync, commands: names };
  });
  const syncs = out.filter((s) => s.sync).length;
  const hitless = !out.some((s) => s.sync && s.entry[0] === 0n);
  const final: bigint[] = [];
  for (let i = 0; i < 8; i++) final.push(mem.read64(base + 8 * i));
  return { kind: input.kind, syncs, hitless, steps: out, final };
}

/** The formats.md §4 JSON of a result. */
export function steWriteToJson(r: SteWriteResult): unknown {
  return {
    format: 'vsmmu.ste-write',
    version: 1,
    kind: r.kind,
    syncs: r.syncs,
    hitless: r.hitless,
    steps: r.steps.map((s) => ({
      wrote: s.wrote,
      entry: s.entry.map((w) => `0x${w.toString(16)}`),
      sync: s.sync,
      commands: s.commands,
    })),
    final: r.final.map((w) => `0x${w.toString(16)}`),
  };
}

/** Human-readable rendering. */
export function formatSteWrite(r: SteWriteResult): string {
  const lines: string[] = [];
  r.steps.forEach((s, i) => {
    lines.push(
      `step ${i + 1}: wrote qword${s.wrote.length === 1 ? '' : 's'} ${s.wrote.join(', ')}`,
    );
    lines.push(`  entry: ${s.entry.map((w) => hex64(w)).join(' ')}`);
    if (s.sync) lines.push(`  sync: ${s.commands.join(', ')}`);
  });
  if (r.steps.length === 0) lines.push('nothing to write: the entry already is the target');
  lines.push(`syncs: ${r.syncs}`);
  lines.push(`hitless: ${r.hitless ? 'yes' : 'no (a sync saw qword 0 = 0)'}`);
  return `${lines.join('\n')}\n`;
}
