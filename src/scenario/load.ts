// Loading a scenario file (formats.md §1–§2): YAML parsed with the default 1.2 core schema and a
// LineCounter, so every problem — YAML syntax, unknown keys, wrong types, impossible values,
// references to labels or devices that do not exist — is reported as `file:line:col: message`
// before anything runs (the CLI exits 2). Validation is two-pass: zod checks the shape of the top
// level and of each step (each step with the schema of its kind key), then check.ts checks what a
// schema cannot see (names against the UAPI and event tables, labels bound before use, alignment).
// No file system here (the playground parses text too); file.ts reads files.

import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { VsmmuError } from '../arch/errors.ts';
import { checkScenario } from './check.ts';
import {
  type Machine,
  STEP_KINDS,
  STEP_SCHEMAS,
  type Step,
  type StepKind,
  topSchema,
} from './schema.ts';

/** One problem found in a scenario file. */
export interface Diagnostic {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

/** Formats a diagnostic as `file:line:col: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

/** A scenario that failed to load: bad YAML, schema or reference errors (exit code 2). */
export class ScenarioError extends VsmmuError {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    const first = diagnostics[0];
    const more = diagnostics.length > 1 ? ` (and ${diagnostics.length - 1} more)` : '';
    super('BAD_INPUT', first ? `${formatDiagnostic(first)}${more}` : 'invalid scenario');
    this.name = 'ScenarioError';
    this.diagnostics = diagnostics;
  }
}

/** A loaded, validated scenario. */
export interface Scenario {
  /** File name as given (used in diagnostics). */
  readonly file: string;
  readonly name: string;
  readonly description: string | undefined;
  readonly machine: Machine;
  readonly steps: readonly Step[];
}

/** A path into the YAML document (keys and sequence indexes). */
export type DocPath = readonly (string | number)[];

/** Maps document paths to source positions. */
export class Locator {
  private readonly root: Node | null;
  private readonly lc: LineCounter;
  readonly file: string;

  constructor(file: string, root: Node | null, lc: LineCounter) {
    this.file = file;
    this.root = root;
    this.lc = lc;
  }

  /**
   * Position of the node at `path` (the deepest existing node on the way when the path goes past
   * the document); `atKey` points at the key of the last path element instead of its value.
   */
  at(path: DocPath, atKey = false): { line: number; col: number } {
    type Ranged = { range?: readonly [number, number, number] | null };
    let node: unknown = this.root;
    let best: Ranged | null = (node as Ranged | null) ?? null;
    for (let i = 0; i < path.length; i++) {
      const k = path[i] as string | number;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === k);
        if (!pair) break;
        if (last && atKey && pair.key) {
          best = pair.key as Ranged;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof k === 'number') {
        node = node.items[k];
      } else break;
      if (node && typeof node === 'object' && 'range' in node) best = node as Ranged;
      else break;
    }
    const off = best?.range?.[0] ?? 0;
    const p = this.lc.linePos(off);
    return { line: p.line, col: p.col };
  }

  /** A diagnostic at `path`. */
  diag(path: DocPath, message: string, atKey = false): Diagnostic {
    const { line, col } = this.at(path, atKey);
    return { file: this.file, line, col, message };
  }
}

/** Renders a path the way a reader finds it: `steps[3].args.data_len`. */
export function pathText(path: DocPath): string {
  let s = '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s ? `.${k}` : k;
  return s;
}

type Issue = z.core.$ZodIssue;

/** Flattens union issues: keeps the branch that got past the type check, if one did. */
function flatten(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const branches = issue.errors as Issue[][];
  const typed = branches.filter(
    (b) => b.length > 0 && !b.every((x) => x.code === 'invalid_type' && x.path.length === 0),
  );
  if (typed.length === 1) {
    const only = typed[0] as Issue[];
    return only.flatMap((x) => flatten({ ...x, path: [...issue.path, ...x.path] } as Issue));
  }
  return [issue];
}

function issueMessage(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.message.replace(/^Invalid input: /, '');
    case 'invalid_value':
      return issue.message.replace(/^Invalid option: /, '');
    default:
      return issue.message;
  }
}

/** Turns zod issues under `base` into diagnostics. */
export function issuesToDiagnostics(
  loc: Locator,
  base: DocPath,
  issues: readonly Issue[],
): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const top of issues) {
    for (const issue of flatten(top)) {
      const path = [...base, ...(issue.path as (string | number)[])];
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) {
          out.push(
            loc.diag([...path, k], `${pathText(path) || 'top level'}: unknown key '${k}'`, true),
          );
        }
        continue;
      }
      out.push(loc.diag(path, `${pathText(path)}: ${issueMessage(issue)}`));
    }
  }
  return out;
}

/** Parses and validates scenario text; throws ScenarioError listing every problem found. */
export function parseScenario(text: string, file: string): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const loc = new Locator(file, doc.contents as Node | null, lc);
  if (doc.errors.length > 0) {
    throw new ScenarioError(
      doc.errors.map((e) => {
        const p = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        return { file, line: p.line, col: p.col, message: e.message.split('\n')[0] ?? e.message };
      }),
    );
  }
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  } catch (e) {
    // The yaml library reports an alias without an earlier anchor, or an alias expansion over
    // maxAliasCount, only while building the value (a ReferenceError): point at the first alias
    // that does not resolve, else at the first alias.
    let at: number | undefined;
    let first: number | undefined;
    visit(doc, {
      Alias(_, node) {
        const off = node.range?.[0];
        first ??= off;
        if (at === undefined && !node.resolve(doc)) at = off;
      },
    });
    const p = lc.linePos(at ?? first ?? 0);
    const message = e instanceof Error ? (e.message.split('\n')[0] ?? e.message) : String(e);
    throw new ScenarioError([{ file, line: p.line, col: p.col, message }]);
  }
  if (js === null || typeof js !== 'object' || Array.isArray(js)) {
    throw new ScenarioError([
      loc.diag([], 'a scenario is a mapping with `steps:` (and optionally `name:`, `machine:`)'),
    ]);
  }
  const top = topSchema.safeParse(js);
  if (!top.success) throw new ScenarioError(issuesToDiagnostics(loc, [], top.error.issues));
  const diags: Diagnostic[] = [];
  const steps: Step[] = [];
  top.data.steps.forEach((raw, index) => {
    const path = ['steps', index];
    const { line, col } = loc.at(path);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      diags.push(
        loc.diag(
          path,
          `steps[${index}]: a step is a mapping with one kind key (${STEP_KINDS.join(', ')})`,
        ),
      );
      return;
    }
    // The kind key is the step's first key (`- ioctl: …`, `- dma: …`); later keys are its fields.
    const first = Object.keys(raw)[0];
    if (first === undefined || !(STEP_KINDS as string[]).includes(first)) {
      diags.push(
        loc.diag(
          first === undefined ? path : [...path, first],
          `steps[${index}]: ${first === undefined ? 'empty step' : `unknown step kind '${first}'`}; a step starts with one of: ${STEP_KINDS.join(', ')}`,
          first !== undefined,
        ),
      );
      return;
    }
    const kind = first as StepKind;
    const r = STEP_SCHEMAS[kind].safeParse(raw);
    if (!r.success) {
      diags.push(...issuesToDiagnostics(loc, path, r.error.issues));
      return;
    }
    steps.push({ kind, index, line, col, s: r.data } as Step);
  });
  if (diags.length > 0) throw new ScenarioError(diags);
  const scenario: Scenario = {
    file,
    name: top.data.name ?? (file.split(/[\\/]/).pop() ?? file).replace(/\.ya?ml$/i, ''),
    description: top.data.description,
    machine: top.data.machine ?? {},
    steps,
  };
  const problems = checkScenario(scenario, loc);
  if (problems.length > 0) throw new ScenarioError(problems);
  return scenario;
}
