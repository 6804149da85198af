// The scenario runner (issue 6 item 3; formats.md §5): builds the declared machine, executes the
// steps in order and records each step's result and the run's cost counters in the `vsmmu.run`
// JSON shape. Raw ioctls are laid out byte-exactly from the UAPI tables (members by kernel name,
// little-endian, pointer members backed by memory mmapped in the VMM process) and issued through
// the same syscall wrapper the VMM uses. Architectural outcomes and errnos are values: a failed
// expectation marks the step (and the run) failed and stops the run; it never throws.

import { hex } from '../arch/bits.ts';
import { errnoName, errnoNumber } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import { decodeEvent } from '../arch/evt.ts';
import { SMMU_REG_OFFSET, SMMU_REGS } from '../arch/regs.ts';
import type { EventRecord } from '../arch/trace.ts';
import { UAPI_STRUCTS } from '../iommufd/uapi.ts';
import { buildGuestWorld } from './guest-world.ts';
import { decodeMember, encodeArgs, type MemberValue, SCENARIO_IOCTLS } from './ioctls.ts';
import type { Scenario } from './load.ts';
import {
  buildHostWorld,
  countersOf,
  hostDma,
  openRawFds,
  type StepOutcome,
  takeHostLog,
  type World,
} from './machine.ts';
import {
  bytesHex,
  eventJson,
  type Json,
  type RunCounters,
  type RunResult,
  type ScenarioTrace,
  type StepResult,
  toJson,
} from './result.ts';
import { checkSanitizer, enableScenarioSanitizer, sanitizerReportJson } from './sanitizer.ts';
import type { Step, StepOf } from './schema.ts';
import { uapiConstant } from './uapi-names.ts';
import type { ArgTerm } from './values.ts';

/** Options of a run. */
export interface RunOptions {
  /** Receives every trace event (walk steps, TLB/config, commands, events, ioctls) and its source. */
  readonly trace?: ScenarioTrace;
  /** Called before each step runs (for interleaving trace output with step headers). */
  readonly onStep?: (step: Step) => void;
}

/** A step that failed: what was expected and what happened. */
class Mismatch {
  readonly expected: Json;
  readonly actual: Json;
  readonly why: string;
  constructor(why: string, expected: unknown, actual: unknown) {
    this.why = why;
    this.expected = toJson(expected);
    this.actual = toJson(actual);
  }
}

type Label = { kind: 'num'; value: number } | { kind: 'label'; name: string };

/** Runs a loaded scenario; never throws for architectural or kernel-interface outcomes. */
export function runScenario(sc: Scenario, opts: RunOptions = {}): RunResult {
  const world = buildHostWorld(sc.machine, opts.trace);
  // The sanitizer's clock: the index of the running step; -1 while the machine is set up.
  let clock = -1;
  if (sc.machine.sanitizer === true) world.sanitizer = enableScenarioSanitizer(world, () => clock);
  const log: string[] = [];
  const result: RunResult = {
    format: 'vsmmu.run',
    version: 1,
    scenario: sc.name,
    ok: true,
    steps: [],
    counters: countersOf(world),
    ...(world.sanitizer ? { sanitizer: { reports: [], unexpected: 0 } } : {}),
    log,
  };
  const r = new Runner(world, log);
  if (sc.machine.guest) {
    const g = buildGuestWorld(world, sc.machine, opts.trace);
    if (!g.ok) {
      result.ok = false;
      log.push(`machine: ${g.detail}`);
      r.flushLogs();
      finish(world, result);
      return result;
    }
  } else openRawFds(world);
  r.flushLogs();
  r.lastCounters = countersOf(world);
  for (const step of sc.steps) {
    opts.onStep?.(step);
    clock = step.index;
    const res = r.run(step);
    r.flushLogs();
    result.steps.push(res);
    if (!res.ok) {
      result.ok = false;
      break;
    }
  }
  finish(world, result);
  return result;
}

/**
 * Final counters and sanitizer reports. The unexpected-report rule (docs/scenarios.md §3): every
 * report must be accounted for by the first `expect-sanitizer` step after it appeared; reports
 * left after the last such step fail a run whose steps all passed.
 */
function finish(world: World, result: RunResult): void {
  result.counters = countersOf(world);
  const san = world.sanitizer;
  if (!san || !result.sanitizer) return;
  result.sanitizer.reports = san.reports.map((x) => sanitizerReportJson(world, san, x));
  const unexpected = san.reports.length - san.claimed;
  result.sanitizer.unexpected = unexpected;
  if (unexpected > 0 && result.ok) {
    result.ok = false;
    const first = san.reports[san.claimed];
    result.log.push(
      `sanitizer: ${unexpected} unexpected report(s), the first at step ${first?.dmaAt ?? '?'}; ` +
        'account for them with an expect-sanitizer step after the DMA that caused them',
    );
  }
}

class Runner {
  private readonly w: World;
  private readonly log: string[];
  /** Counters at the previous expect-counters step (or when the steps began). */
  lastCounters: RunCounters;

  constructor(w: World, log: string[]) {
    this.w = w;
    this.log = log;
    this.lastCounters = countersOf(w);
  }

  flushLogs(): void {
    this.log.push(...takeHostLog(this.w));
    if (this.w.guest) this.log.push(...this.w.guest.takeLog());
  }

  run(step: Step): StepResult {
    const res: StepResult = { index: step.index, line: step.line, kind: step.kind, ok: true };
    const note = 'note' in step.s ? step.s.note : undefined;
    if (note !== undefined) this.log.push(`[${step.index}] ${note}`);
    let m: Mismatch | undefined;
    try {
      m = this.exec(step, res);
    } catch (e) {
      // A runtime value the static checks could not see (a label whose ioctl failed, an address
      // beyond 2^53, a usage error of a lower layer): the step fails with the reason and the run
      // stops cleanly. Anything else is a defect of the model: said so, with where it happened.
      const msg =
        e instanceof VsmmuError
          ? e.message
          : e instanceof Error
            ? `internal error: ${e.name}: ${e.message}${e.stack ? ` (${e.stack.split('\n')[1]?.trim() ?? ''})` : ''}`
            : String(e);
      m = new Mismatch(msg, null, msg);
    }
    if (m) {
      res.ok = false;
      res.expected = m.expected;
      res.actual = m.actual;
      this.log.push(`step ${step.index} (line ${step.line}, ${step.kind}) failed: ${m.why}`);
    }
    return res;
  }

  private exec(step: Step, res: StepResult): Mismatch | undefined {
    switch (step.kind) {
      case 'open':
        return this.open(step.s, res);
      case 'close': {
        const ret = this.w.sys.close(this.fd(step.s.close));
        return this.expectRet('close', ret, step.s.expect, res);
      }
      case 'ioctl':
        return this.ioctl(step.s, res);
      case 'read':
        return this.read(step.s, res);
      case 'memory':
        return this.memory(step.s);
      case 'write':
        return this.writeMem(step.s);
      case 'dma':
        return this.dma(step.s, res);
      case 'log':
        this.log.push(step.s.log);
        return undefined;
      case 'expect-counters':
        return this.counters(step.s['expect-counters'], step.s.delta ?? false);
      case 'expect-log':
        return this.expectLog(step.s);
      case 'expect-sanitizer': {
        const san = this.w.sanitizer;
        if (!san) return new Mismatch('the sanitizer is off', 'machine.sanitizer', null);
        const m = checkSanitizer(this.w, san, step.s['expect-sanitizer']);
        return m ? new Mismatch(m.why, m.expected, m.actual) : undefined;
      }
      default:
        return this.guestStep(step, res);
    }
  }

  // ---- labels and references ----

  private label(name: string): bigint {
    const v = this.w.labels.get(name) ?? this.w.guest?.labels().get(name);
    if (v === undefined)
      throw new Error(
        `label '${name}' has no value (the step that binds it did not run or failed)`,
      );
    return v;
  }

  private fd(ref: Label): number {
    return ref.kind === 'num' ? ref.value : Number(this.label(ref.name));
  }

  private terms(ts: readonly ArgTerm[]): bigint {
    let v = 0n;
    for (const t of ts) {
      if (t.kind === 'num') v |= t.value;
      else if (t.kind === 'label') v |= this.label(t.name);
      else v |= BigInt(uapiConstant(t.name) ?? 0);
    }
    return v;
  }

  private expectRet(
    what: string,
    ret: number,
    expect: string | undefined,
    res: StepResult,
  ): Mismatch | undefined {
    res.ret = ret;
    if (ret < 0) res.errno = errnoName(ret);
    const want = expect ?? 'ok';
    if (want === 'ok') {
      return ret >= 0
        ? undefined
        : new Mismatch(`${what} failed with ${errnoName(ret)}`, 'ok', errnoName(ret));
    }
    const n = errnoNumber(want) ?? 0;
    if (ret === -n) return undefined;
    return new Mismatch(
      `${what} returned ${ret < 0 ? errnoName(ret) : 'ok'}, expected ${want}`,
      want,
      ret < 0 ? errnoName(ret) : 'ok',
    );
  }

  // ---- system-call steps ----

  private open(s: StepOf<'open'>, res: StepResult): Mismatch | undefined {
    const fd = this.w.sys.open(s.open);
    const m = this.expectRet(`open ${s.open}`, fd, s.expect, res);
    if (!m && fd >= 0 && s.as !== undefined) this.w.labels.set(s.as, BigInt(fd));
    return m;
  }

  private ioctl(s: StepOf<'ioctl'>, res: StepResult): Mismatch | undefined {
    const def = SCENARIO_IOCTLS.get(s.ioctl);
    if (!def) return new Mismatch(`unknown ioctl ${s.ioctl}`, s.ioctl, null);
    const values = new Map<string, MemberValue>();
    for (const [k, v] of Object.entries(s.args ?? {})) {
      if ('buffer' in v) {
        const size = v.size ?? Math.max(1, v.buffer.length * 8);
        const va = this.w.sys.mmap(size);
        const bytes = new Uint8Array(size).fill(v.fill ?? 0);
        const dv = new DataView(bytes.buffer);
        v.buffer.forEach((word, i) => {
          dv.setBigUint64(i * 8, BigInt.asUintN(64, word), true);
        });
        this.w.sys.write(va, bytes);
        if (v.as !== undefined) this.w.labels.set(v.as, va);
        values.set(k, va);
      } else if (Array.isArray(v) && v.length > 0 && Array.isArray(v[0])) {
        values.set(
          k,
          (v as ArgTerm[][]).map((t) => this.terms(t)),
        );
      } else if (Array.isArray(v) && v.length === 0) {
        values.set(k, []);
      } else values.set(k, this.terms(v as ArgTerm[]));
    }
    const bytes = encodeArgs(def.struct, values);
    const ret = this.w.sys.ioctl(this.fd(s.fd), def.request, bytes);
    const m = this.expectRet(s.ioctl, ret, s.expect, res);
    if (m) {
      this.log.push(
        `${s.ioctl}: ${describeStruct(
          def.struct.name,
          def.struct.members.map((x) => x.name),
          (n) => decodeMember(def.struct, bytes, n),
        )}`,
      );
      return m;
    }
    if (ret >= 0) {
      for (const [member, l] of Object.entries(s.bind ?? {})) {
        const v = decodeMember(def.struct, bytes, member);
        this.w.labels.set(l, typeof v === 'bigint' ? v : (v[0] ?? 0n));
      }
    }
    const expected: Record<string, unknown> = {};
    const actual: Record<string, unknown> = {};
    let bad = false;
    for (const [member, expr] of Object.entries(s.out ?? {})) {
      const got = decodeMember(def.struct, bytes, member);
      const want =
        expr.length > 0 && Array.isArray(expr[0])
          ? (expr as ArgTerm[][]).map((t) => this.terms(t))
          : this.terms(expr as ArgTerm[]);
      expected[member] = want;
      actual[member] = got;
      if (!sameValue(want, got)) bad = true;
    }
    if (bad) return new Mismatch(`${s.ioctl}: output members differ`, expected, actual);
    return undefined;
  }

  private read(s: StepOf<'read'>, res: StepResult): Mismatch | undefined {
    const r = this.w.sys.read(this.fd(s.read), s.count ?? 4096);
    const ret = typeof r === 'number' ? r : r.length;
    const m = this.expectRet('read', ret, s.expect, res);
    if (m || typeof r === 'number') return m;
    // vEVENTQ records: struct iommufd_vevent_header (8 bytes) + struct iommu_vevent_arm_smmuv3.
    const hdr = UAPI_STRUCTS.iommufd_vevent_header.size;
    const rec = UAPI_STRUCTS.iommu_vevent_arm_smmuv3.size;
    const events: EventRecord[] = [];
    const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    for (let off = 0; off + hdr + rec <= r.length; off += hdr + rec) {
      const words: bigint[] = [];
      for (let i = 0; i < 4; i++) words.push(dv.getBigUint64(off + hdr + 8 * i, true));
      events.push(decodeEvent(words));
    }
    res.events = events.map((e) => eventJson(e));
    if (s.events) return matchEvents(s.events, events);
    return undefined;
  }

  private memory(s: StepOf<'memory'>): Mismatch | undefined {
    const base =
      (s.memory.kind === 'num' ? s.memory.value : this.label(s.memory.name)) +
      BigInt(s.offset ?? 0);
    const width = s.u32 ? 4 : s.u64 ? 8 : 1;
    const want: readonly (bigint | number)[] = s.u32 ?? s.u64 ?? [...(s.bytes ?? [])];
    const got = this.w.sys.peek(base, want.length * width);
    if (!got)
      return new Mismatch(
        `memory at ${hex(base)} is not mapped in the VMM process`,
        want,
        'unmapped',
      );
    const dv = new DataView(got.buffer, got.byteOffset, got.byteLength);
    const actual: bigint[] = [];
    for (let i = 0; i < want.length; i++) {
      actual.push(
        width === 8
          ? dv.getBigUint64(i * 8, true)
          : width === 4
            ? BigInt(dv.getUint32(i * 4, true))
            : BigInt(dv.getUint8(i)),
      );
    }
    const ok = want.every((x, i) => BigInt(x) === actual[i]);
    if (ok) return undefined;
    return new Mismatch(
      `memory at ${hex(base)} differs`,
      want.map((x) => BigInt(x)),
      actual,
    );
  }

  private writeMem(s: StepOf<'write'>): Mismatch | undefined {
    const base =
      (s.write.kind === 'num' ? s.write.value : this.label(s.write.name)) + BigInt(s.offset ?? 0);
    let bytes: Uint8Array;
    if (s.bytes) bytes = s.bytes;
    else {
      const width = s.u32 ? 4 : 8;
      const words: readonly (bigint | number)[] = s.u32 ?? s.u64 ?? [];
      bytes = new Uint8Array(words.length * width);
      const dv = new DataView(bytes.buffer);
      words.forEach((x, i) => {
        if (width === 8) dv.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(x)), true);
        else dv.setUint32(i * 4, Number(x) >>> 0, true);
      });
    }
    if (base >= 1n << 53n || !this.w.sys.proc.copyToUser(Number(base), bytes)) {
      return new Mismatch(
        `memory at ${hex(base)} is not mapped in the VMM process`,
        'mapped',
        'unmapped',
      );
    }
    return undefined;
  }

  // ---- DMA ----

  private dma(s: StepOf<'dma'>, res: StepResult): Mismatch | undefined {
    const req = { iova: s.iova, ssid: s.ssid, write: s.write, read: s.read };
    const out = this.w.guest ? this.w.guest.dma(s.dma, req) : hostDma(this.w, s.dma, req);
    if (out.event) res.events = [eventJson(out.event)];
    const want = s.expect ?? 'ok';
    if (want === 'ok' && !out.ok) {
      return new Mismatch(
        `DMA by ${s.dma} at ${hex(s.iova)} was terminated${out.detail ? `: ${out.detail}` : ''}`,
        'ok',
        out.event ? eventJson(out.event) : 'fault',
      );
    }
    if (want === 'fault' && out.ok) {
      return new Mismatch(
        `DMA by ${s.dma} at ${hex(s.iova)} completed, expected a fault`,
        'fault',
        'ok',
      );
    }
    if (s.data !== undefined && out.data !== undefined) {
      if (bytesHex(s.data) !== bytesHex(out.data)) {
        return new Mismatch(`DMA read data differs`, bytesHex(s.data), bytesHex(out.data));
      }
    }
    if (s.event) {
      if (!out.event) return new Mismatch('the fault recorded no event', s.event, null);
      return matchEvents([s.event], [out.event]);
    }
    return undefined;
  }

  // ---- expectations ----

  private counters(
    c: StepOf<'expect-counters'>['expect-counters'],
    delta: boolean,
  ): Mismatch | undefined {
    const total = countersOf(this.w);
    const base = this.lastCounters;
    this.lastCounters = total;
    const now = delta ? subtract(total, base) : total;
    const expected: Record<string, unknown> = {};
    const actual: Record<string, unknown> = {};
    let bad = false;
    const check = (
      path: string,
      want: number | { min?: number | undefined; max?: number | undefined },
      got: number,
    ) => {
      const ok =
        typeof want === 'number'
          ? got === want
          : (want.min === undefined || got >= want.min) &&
            (want.max === undefined || got <= want.max);
      if (!ok) {
        bad = true;
        expected[path] = want;
        actual[path] = got;
      }
    };
    if (c.guestExits !== undefined) check('guestExits', c.guestExits, now.guestExits);
    if (c.walks !== undefined) check('walks', c.walks, now.walks);
    if (c.memoryAccesses !== undefined)
      check('memoryAccesses', c.memoryAccesses, now.memoryAccesses);
    for (const [k, v] of Object.entries(c.ioctls ?? {}))
      check(`ioctls.${k}`, v, now.ioctls[k] ?? 0);
    for (const [k, v] of Object.entries(c.smmuCommands ?? {}))
      check(`smmuCommands.${k}`, v, now.smmuCommands[k] ?? 0);
    if (c.sanitizerReports !== undefined)
      check('sanitizerReports', c.sanitizerReports, now.sanitizerReports ?? 0);
    return bad ? new Mismatch('counters differ', expected, actual) : undefined;
  }

  private expectLog(s: StepOf<'expect-log'>): Mismatch | undefined {
    this.flushLogs();
    const hit = this.log.some((l) => l.includes(s['expect-log']));
    if (s.absent ? hit : !hit) {
      return new Mismatch(
        s.absent
          ? `a log line contains '${s['expect-log']}'`
          : `no log line contains '${s['expect-log']}'`,
        s.absent ? { absent: s['expect-log'] } : { contains: s['expect-log'] },
        this.log.slice(-20),
      );
    }
    return undefined;
  }

  // ---- guest steps ----

  private guestStep(step: Step, res: StepResult): Mismatch | undefined {
    const g = this.w.guest;
    if (!g) return new Mismatch(`'${step.kind}' needs a guest`, 'machine.guest', null);
    const outcome = (what: string, o: StepOutcome) =>
      o.ok
        ? undefined
        : new Mismatch(`${what}${o.detail ? `: ${o.detail}` : ''}`, 'ok', o.detail ?? 'failed');
    /** A guest-driver call: its errno is reported, and `expect` may require one. */
    const driver = (what: string, o: StepOutcome, expect: string | undefined) => {
      if (o.errno !== undefined) {
        res.ret = o.errno;
        res.errno = errnoName(o.errno);
      }
      const want = expect ?? 'ok';
      if (want === 'ok') return outcome(what, o);
      const actual = o.ok
        ? 'ok'
        : o.errno !== undefined
          ? errnoName(o.errno)
          : (o.detail ?? 'failed');
      res.expected = want;
      res.actual = actual;
      if (!o.ok && o.errno !== undefined && o.errno === -(errnoNumber(want) ?? 0)) return undefined;
      return new Mismatch(
        `${what} returned ${actual}, expected ${want}${o.detail && !o.ok ? ` (${o.detail})` : ''}`,
        want,
        actual,
      );
    };
    switch (step.kind) {
      case 'attach':
        return driver(
          `attach ${step.s.attach}`,
          g.attach(step.s.attach, step.s.domain, step.s.type ?? 's1', step.s.ssid),
          step.s.expect,
        );
      case 'detach':
        return driver(
          `detach ${step.s.detach}`,
          g.detach(step.s.detach, step.s.ssid),
          step.s.expect,
        );
      case 'hot-unplug':
        return outcome(`hot-unplug ${step.s['hot-unplug']}`, g.hotUnplug(step.s['hot-unplug']));
      case 'map':
        return driver(
          `map ${hex(step.s.iova)}`,
          g.map(step.s.map, step.s.iova, step.s.size, step.s.pa, step.s.prot ?? 'rw'),
          step.s.expect,
        );
      case 'unmap':
        return driver(
          `unmap ${hex(step.s.iova)}`,
          g.unmap(step.s.unmap, step.s.iova, step.s.size),
          step.s.expect,
        );
      case 'mmio-write': {
        const { offset, size } = regOf(step.s['mmio-write'], step.s.size);
        g.mmioWrite(offset, size, step.s.value);
        return undefined;
      }
      case 'mmio-read': {
        const { offset, size } = regOf(step.s['mmio-read'], step.s.size);
        const v = g.mmioRead(offset, size) & (step.s.mask ?? 0xffff_ffff_ffff_ffffn);
        res.actual = hex(v);
        if (step.s.expect !== undefined && v !== step.s.expect) {
          return new Mismatch(
            `register read ${hex(v)}, expected ${hex(step.s.expect)}`,
            step.s.expect,
            v,
          );
        }
        return undefined;
      }
      case 'cmd':
        return outcome('guest commands', g.commands(step.s.cmd));
      case 'ste':
        return outcome(
          `STE of ${step.s.ste}`,
          g.writeSte(step.s.ste, step.s.words, step.s.invalidate ?? true),
        );
      case 'expect-events': {
        const evs = g.takeEvents();
        res.events = evs.map((e) => eventJson(e));
        return matchEvents(step.s['expect-events'], evs);
      }
      default:
        return new Mismatch(`unhandled step kind ${step.kind}`, null, step.kind);
    }
  }
}

/** Counter increments from `b` to `a`. */
function subtract(a: RunCounters, b: RunCounters): RunCounters {
  const diff = (x: Record<string, number>, y: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(x)) out[k] = v - (y[k] ?? 0);
    return out;
  };
  const out: RunCounters = {
    guestExits: a.guestExits - b.guestExits,
    ioctls: diff(a.ioctls, b.ioctls),
    smmuCommands: diff(a.smmuCommands, b.smmuCommands),
    walks: a.walks - b.walks,
    memoryAccesses: a.memoryAccesses - b.memoryAccesses,
  };
  if (a.sanitizerReports !== undefined)
    out.sanitizerReports = a.sanitizerReports - (b.sanitizerReports ?? 0);
  return out;
}

/** Register offset and access size of an mmio step. */
function regOf(reg: string | number, size: 4 | 8 | undefined): { offset: number; size: 4 | 8 } {
  if (typeof reg === 'number') return { offset: reg, size: size ?? 4 };
  const info = SMMU_REGS[reg as keyof typeof SMMU_REGS];
  return {
    offset: SMMU_REG_OFFSET[reg as keyof typeof SMMU_REG_OFFSET],
    size: size ?? (info?.bits === 64 ? 8 : 4),
  };
}

function sameValue(want: bigint | readonly bigint[], got: MemberValue): boolean {
  if (typeof want === 'bigint')
    return typeof got === 'bigint' ? got === want : got[0] === want && got.length === 1;
  if (typeof got === 'bigint') return false;
  return want.length <= got.length && want.every((x, i) => got[i] === x);
}

/** Compares expected events with records, in order; extra or missing records fail. */
function matchEvents(
  want: readonly { type: string; fields?: Record<string, bigint> | undefined }[],
  got: readonly EventRecord[],
): Mismatch | undefined {
  const shape = (e: EventRecord, w?: { fields?: Record<string, bigint> | undefined }) => {
    const f: Record<string, bigint> = {};
    for (const k of Object.keys(w?.fields ?? {})) f[k] = e.fields[k] ?? 0n;
    return { type: e.type, fields: f };
  };
  if (want.length !== got.length) {
    return new Mismatch(
      `expected ${want.length} event(s), got ${got.length}`,
      want,
      got.map((e) => eventJson(e)),
    );
  }
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as { type: string; fields?: Record<string, bigint> | undefined };
    const e = got[i] as EventRecord;
    const okType = e.type === w.type;
    const okFields = Object.entries(w.fields ?? {}).every(([k, v]) => e.fields[k] === v);
    if (!okType || !okFields) {
      return new Mismatch(`event ${i} differs`, w, shape(e, w));
    }
  }
  return undefined;
}

function describeStruct(
  name: string,
  members: readonly string[],
  get: (m: string) => MemberValue,
): string {
  const parts = members.map((m) => {
    const v = get(m);
    return `${m}=${typeof v === 'bigint' ? hex(v) : `[${v.map((x) => hex(x)).join(',')}]`}`;
  });
  return `struct ${name} { ${parts.join(', ')} }`;
}
