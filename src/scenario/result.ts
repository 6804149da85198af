// The result of a scenario run (formats.md §5): the stable JSON shape `vsmmu.run` version 1 —
// per-step results with the step's source line, the cost counters of issue 6 item 5 (guest exits,
// ioctls by name, SMMU commands executed by opcode name, table walks, memory accesses) and the log —
// plus the human-readable text rendering and the `--trace` line format of the trace events of
// interfaces.md §4. Every 64-bit quantity in the JSON is a lower-case "0x…" string; counts and
// indexes are numbers.

import { hex } from '../arch/bits.ts';
import type { EventRecord, TraceEvent } from '../arch/trace.ts';

/** A JSON value. */
export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** One step's outcome. */
export interface StepResult {
  /** 0-based index in `steps`. */
  readonly index: number;
  /** 1-based source line of the step. */
  readonly line: number;
  /** Step kind (its kind key). */
  readonly kind: string;
  ok: boolean;
  /** Return value of a system call (ioctl/open/close/read). */
  ret?: number;
  /** errno name when the call failed. */
  errno?: string;
  /** Event records the step observed (vEVENTQ reads, DMA faults, guest events). */
  events?: Json[];
  /** What the scenario expected, when a check failed (or the check is informative). */
  expected?: Json;
  /** What happened. */
  actual?: Json;
}

/** Cost counters (issue 6 item 5). */
export interface RunCounters {
  /** Trapped guest MMIO accesses of the vSMMU register pages (0 without a guest). */
  guestExits: number;
  /** ioctls issued by the VMM process (VMM + raw steps), by macro name. */
  ioctls: Record<string, number>;
  /** Commands the host SMMU executed from its command queue, by name. */
  smmuCommands: Record<string, number>;
  /** Single-stage table walks the SMMU performed (a nested translation counts each stage walk). */
  walks: number;
  /** 32/64-bit accesses to host physical memory by any agent. */
  memoryAccesses: number;
  /** Stale-translation reports so far (present only with machine.sanitizer: true). */
  sanitizerReports?: number;
}

/** The sanitizer part of a result (present only with machine.sanitizer: true). */
export interface RunSanitizer {
  /** Every report, oldest first (docs/scenarios.md §4 for the fields). */
  reports: Json[];
  /** Reports no passed `expect-sanitizer` step accounted for (> 0 fails the run). */
  unexpected: number;
}

/** The JSON result of `vsmmu run --json`. */
export interface RunResult {
  readonly format: 'vsmmu.run';
  readonly version: 1;
  readonly scenario: string;
  ok: boolean;
  readonly steps: StepResult[];
  counters: RunCounters;
  /** Stale-translation sanitizer reports (only with machine.sanitizer: true). */
  sanitizer?: RunSanitizer;
  readonly log: string[];
}

/** An event record as JSON: type, the four raw words, and the fields (as "0x…"). */
export function eventJson(e: EventRecord): Json {
  const fields: Record<string, Json> = {};
  for (const [k, v] of Object.entries(e.fields)) fields[k] = hex(v);
  return { type: e.type, raw: e.raw.map((w) => hex(w)), fields };
}

/** Replaces bigints by "0x…" strings and byte arrays by hex strings, recursively. */
export function toJson(v: unknown): Json {
  if (typeof v === 'bigint') return hex(v);
  if (v instanceof Uint8Array) return bytesHex(v);
  if (Array.isArray(v)) return v.map((x) => toJson(x));
  if (v === undefined) return null;
  if (v !== null && typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJson(x);
    return out;
  }
  return v as Json;
}

/** Bytes as one hex string, first byte first ("0x0011aabb"); "" for none. */
export function bytesHex(b: Uint8Array): string {
  if (b.length === 0) return '';
  let s = '0x';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/**
 * Where a trace event came from: the host (SMMU hardware model, walker, host kernel driver), the
 * VMM's emulated vSMMU (guest commands it consumed, events it injected), or the VMM process's
 * system calls (every ioctl, VFIO cdev ones included).
 */
export type TraceSource = 'host' | 'vmm' | 'syscall';

/** A trace callback that knows the source of each event. */
export type ScenarioTrace = (e: TraceEvent, source: TraceSource) => void;

/** One trace event as a text line (the `--trace` format); VMM-side events are tagged `vmm`. */
export function formatTrace(e: TraceEvent, source: TraceSource = 'host'): string {
  return source === 'vmm' ? `  vmm:${traceText(e).slice(1)}` : traceText(e);
}

function traceText(e: TraceEvent): string {
  switch (e.kind) {
    case 'walk-step':
      return `  walk s${e.stage} L${e.level} table ${hex(e.tablePa)}[${e.index}] = ${hex(e.descriptor)} → ${e.decision}`;
    case 'tlb':
      return `  tlb ${e.op} ${e.detail}`;
    case 'config':
      return `  config ${e.op} ${e.detail}`;
    case 'command':
      return `  cmd${e.source ? ` (${e.source})` : ''} ${e.opcode} ${hex(e.words[0])} ${hex(e.words[1])}`;
    case 'event':
      return `  event ${e.record.type} ${e.record.raw.map((w) => hex(w)).join(' ')}`;
    case 'ioctl':
      return `  ioctl ${e.name} → ${e.ret}`;
  }
}

/** The human-readable report of a run. */
export function formatResult(r: RunResult): string {
  const lines: string[] = [];
  lines.push(`scenario ${r.scenario}`);
  // Sanitizer reports go under the step whose DMA caused them (dmaAt = step index; -1 = set-up).
  const reportsAt = (index: number) => {
    for (const x of r.sanitizer?.reports ?? []) {
      const o = x as { dmaAt?: Json; text?: Json };
      if (o.dmaAt === index) lines.push(`       sanitizer: ${String(o.text)}`);
    }
  };
  reportsAt(-1);
  for (const s of r.steps) {
    let line = `  ${s.ok ? 'ok  ' : 'FAIL'} #${s.index} line ${s.line} ${s.kind}`;
    if (s.ret !== undefined) line += ` ret=${s.ret}`;
    if (s.errno !== undefined) line += ` (${s.errno})`;
    lines.push(line);
    if (!s.ok) {
      if (s.expected !== undefined) lines.push(`       expected: ${JSON.stringify(s.expected)}`);
      if (s.actual !== undefined) lines.push(`       actual:   ${JSON.stringify(s.actual)}`);
    }
    reportsAt(s.index);
  }
  if (r.log.length > 0) {
    lines.push('log:');
    for (const l of r.log) lines.push(`  ${l}`);
  }
  const c = r.counters;
  const ioctls = Object.entries(c.ioctls)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const cmds = Object.entries(c.smmuCommands)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const san = c.sanitizerReports !== undefined ? ` sanitizerReports=${c.sanitizerReports}` : '';
  lines.push(
    `counters: guestExits=${c.guestExits} walks=${c.walks} memoryAccesses=${c.memoryAccesses}${san}`,
  );
  lines.push(`  ioctls: ${ioctls || '-'}`);
  lines.push(`  smmuCommands: ${cmds || '-'}`);
  if (r.sanitizer) {
    lines.push(
      `sanitizer: ${r.sanitizer.reports.length} report(s), ${r.sanitizer.unexpected} unexpected`,
    );
  }
  const failed = r.steps.filter((s) => !s.ok).length;
  const unexpected = r.sanitizer?.unexpected ?? 0;
  lines.push(
    r.ok
      ? `PASS ${r.scenario}: ${r.steps.length} steps`
      : failed > 0
        ? `FAIL ${r.scenario}: ${failed} failed of ${r.steps.length} run`
        : unexpected > 0 && r.steps.length > 0
          ? `FAIL ${r.scenario}: ${unexpected} unexpected sanitizer report(s) (no expect-sanitizer step accounts for them)`
          : `FAIL ${r.scenario}: the machine could not be built (see the log)`,
  );
  return `${lines.join('\n')}\n`;
}
