// The stale-translation sanitizer in the scenario language (issue 6 item 6; formats.md §5, §9;
// docs/sanitizer.md): `machine.sanitizer: true` turns src/smmu/sanitizer.ts on for every host SMMU
// right after the host is built, stamping changes and DMAs with the index of the step that is
// running (-1 during the machine set-up) and naming StreamIDs by the scenario's device names and
// vSIDs. Reports become `vsmmu.run` JSON (64-bit values as "0x…" strings, fixed field order) and
// one text line each; `expect-sanitizer` steps match the reports that appeared since the previous
// such step on the fields they give. A report no `expect-sanitizer` step accounted for fails the run.

import { hex } from '../arch/bits.ts';
import { enableSanitizer, renderReport, type SanitizerReport } from '../smmu/sanitizer.ts';
import type { World } from './machine.ts';
import type { Json } from './result.ts';
import type { StepOf } from './schema.ts';

/** The sanitizers of a scenario run and the reports they made, in order of appearance. */
export interface ScenarioSanitizer {
  /** Every report of every host SMMU, oldest first (a folded repeat raises `count` in place). */
  readonly reports: SanitizerReport[];
  /** Reports accounted for by passed `expect-sanitizer` steps (the first `claimed` reports). */
  claimed: number;
  /** One text line for a report (`renderReport` with the scenario's StreamID names). */
  line(r: SanitizerReport): string;
}

/** An `expect-sanitizer` step's expectation. */
export type SanitizerExpect = StepOf<'expect-sanitizer'>['expect-sanitizer'];

/** One expected report (the fields to compare). */
export type SanitizerReportExpect = NonNullable<SanitizerExpect['reports']>[number];

/** A failed expectation: the reason, what was expected and what was found. */
export interface SanitizerMismatch {
  readonly why: string;
  readonly expected: unknown;
  readonly actual: Json;
}

/**
 * Enables the sanitizer on every host SMMU of `w` (call right after the host is built, before the
 * guest boots, so the guest's first STE, CD and page-table writes are seen). `clock` is read on
 * every change and DMA.
 */
export function enableScenarioSanitizer(w: World, clock: () => number): ScenarioSanitizer {
  const reports: SanitizerReport[] = [];
  const sidLabel = (sid: number): string => {
    const d = w.devices.find((x) => x.sid === sid);
    if (!d) return hex(sid);
    return w.guest ? `${hex(sid)}(${d.name} vSID ${hex(d.vsid)})` : `${hex(sid)}(${d.name})`;
  };
  for (let i = 0; i < w.host.smmuCount; i++) {
    const hw = w.host.smmu(i).hw;
    if (!hw) continue;
    enableSanitizer(hw, { clock, sidLabel, onReport: (r) => reports.push(r) });
  }
  return { reports, claimed: 0, line: (r) => renderReport(r, sidLabel) };
}

/** A report as `vsmmu.run` JSON (docs/scenarios.md §4: field order fixed, 64-bit values hex). */
export function sanitizerReportJson(w: World, s: ScenarioSanitizer, r: SanitizerReport): Json {
  const d = w.devices.find((x) => x.sid === r.sid);
  const out: Record<string, Json> = { kind: r.kind, sid: hex(r.sid) };
  if (d) {
    out.device = d.name;
    if (w.guest) out.vsid = hex(d.vsid);
  }
  if (r.ssid !== undefined) out.ssid = hex(r.ssid);
  out.iova = hex(r.iova);
  out.access = r.access;
  const pte: Record<string, Json> = { pa: hex(r.pte.pa) };
  const gpa = w.guest?.gpaOf(r.pte.pa);
  if (gpa !== undefined) pte.gpa = hex(gpa);
  pte.old = hex(r.pte.old);
  pte.new = hex(r.pte.new);
  pte.level = r.pte.level;
  pte.stage = r.pte.stage;
  pte.leaf = r.pte.leaf;
  out.pte = pte;
  if (r.structure !== undefined) out.structure = r.structure;
  out.changedAt = r.changedAt;
  out.dmaAt = r.dmaAt;
  out.missing = r.missing;
  out.detail = r.detail;
  out.count = r.count;
  out.text = s.line(r);
  return out;
}

/** Compares one report with an expectation; the names of the fields that differ. */
function differences(w: World, r: SanitizerReport, e: SanitizerReportExpect): string[] {
  const bad: string[] = [];
  const d = w.devices.find((x) => x.sid === r.sid);
  const cmp = (name: string, want: unknown, got: unknown) => {
    if (want !== undefined && want !== got) bad.push(name);
  };
  cmp('kind', e.kind, r.kind);
  cmp('device', e.device, d?.name);
  cmp('sid', e.sid, r.sid);
  cmp('vsid', e.vsid, d?.vsid);
  cmp('ssid', e.ssid, r.ssid);
  cmp('iova', e.iova, r.iova);
  cmp('access', e.access, r.access);
  if (e.pte) {
    cmp('pte.pa', e.pte.pa, r.pte.pa);
    if (e.pte.gpa !== undefined) cmp('pte.gpa', e.pte.gpa, w.guest?.gpaOf(r.pte.pa));
    cmp('pte.old', e.pte.old, r.pte.old);
    cmp('pte.new', e.pte.new, r.pte.new);
    cmp('pte.level', e.pte.level, r.pte.level);
    cmp('pte.stage', e.pte.stage, r.pte.stage);
    cmp('pte.leaf', e.pte.leaf, r.pte.leaf);
  }
  cmp('structure', e.structure, r.structure);
  cmp('missing', e.missing, r.missing);
  cmp('changedAt', e.changedAt, r.changedAt);
  cmp('dmaAt', e.dmaAt, r.dmaAt);
  cmp('count', e.count, r.count);
  if (e.detail !== undefined && !r.detail.includes(e.detail)) bad.push('detail');
  return bad;
}

/**
 * Checks an `expect-sanitizer` step against the reports that appeared since the previous passed
 * one; on success they count as expected (`claimed`).
 */
export function checkSanitizer(
  w: World,
  s: ScenarioSanitizer,
  e: SanitizerExpect,
): SanitizerMismatch | undefined {
  const fresh = s.reports.slice(s.claimed);
  const json = () => fresh.map((r) => sanitizerReportJson(w, s, r));
  if (e.count !== undefined) {
    const n = fresh.length;
    const ok =
      typeof e.count === 'number'
        ? n === e.count
        : (e.count.min === undefined || n >= e.count.min) &&
          (e.count.max === undefined || n <= e.count.max);
    if (!ok) {
      return {
        why: `${n} new sanitizer report(s), expected ${JSON.stringify(e.count)}`,
        expected: { count: e.count },
        actual: json(),
      };
    }
  }
  if (e.reports !== undefined) {
    if (e.reports.length !== fresh.length) {
      return {
        why: `${fresh.length} new sanitizer report(s), expected ${e.reports.length}`,
        expected: e.reports,
        actual: json(),
      };
    }
    for (let i = 0; i < fresh.length; i++) {
      const bad = differences(
        w,
        fresh[i] as SanitizerReport,
        e.reports[i] as SanitizerReportExpect,
      );
      if (bad.length > 0) {
        return {
          why: `sanitizer report ${i} differs in ${bad.join(', ')}`,
          expected: e.reports[i],
          actual: sanitizerReportJson(w, s, fresh[i] as SanitizerReport),
        };
      }
    }
  }
  s.claimed = s.reports.length;
  return undefined;
}
