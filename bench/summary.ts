// The one summary table `npm run bench` prints (formats.md §10: median, baseline, ratio,
// target, met?). Every suite returns its figures as rows of this table.
import type { run } from 'mitata';

/** mitata's run() result. */
export type Results = Awaited<ReturnType<typeof run>>;

/** One row of the summary. */
export interface Figure {
  /** Issue item and what is measured. */
  readonly name: string;
  /** The measured median, with its unit. */
  readonly value: string;
  /** What it is compared with ('' = no baseline). */
  readonly baseline: string;
  /** value / baseline (or throughput ratio), '' when there is none. */
  readonly ratio: string;
  /** The target ('' = reported only). */
  readonly target: string;
  /** Whether the target is met (undefined = no target, or skipped). */
  readonly met: boolean | undefined;
}

/** Median time per iteration (ns) of the mitata bench called `alias`. */
export function medianNs(results: Results, alias: string): number {
  const trial = results.benchmarks.find((b) => b.alias === alias);
  const stats = trial?.runs[0]?.stats;
  if (!stats) throw new Error(`no result for ${alias}`);
  return stats.p50;
}

/** Median of a list of numbers. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Formats a time in ns with a sensible unit. */
export function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

/** Formats a rate. */
export function fmtRate(perSec: number, unit: string): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M ${unit}/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} k ${unit}/s`;
  return `${perSec.toFixed(0)} ${unit}/s`;
}

/** Prints the table (plain text, fixed columns). */
export function printSummary(rows: readonly Figure[]): void {
  const head = ['figure', 'median', 'baseline', 'ratio', 'target', 'met?'];
  const cells = rows.map((r) => [
    r.name,
    r.value,
    r.baseline,
    r.ratio,
    r.target,
    r.met === undefined ? '—' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => (c[i] as string).length)),
  );
  const line = (c: readonly string[]): string =>
    c
      .map((x, i) => x.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  console.log(`\n${line(head)}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}
