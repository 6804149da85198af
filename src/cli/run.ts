// `vsmmu run <file.yaml> [--json] [--trace] [--check]` (formats.md §2, §5): loads a lifecycle
// scenario, validates it (every problem as `file:line:col: message`, exit 2), runs it and prints
// the per-step report (or the `vsmmu.run` JSON with --json). Exit 1 when an expectation failed.
// --trace prints the walk/command/ioctl trace events under the step that caused them (on stderr
// with --json so stdout stays one JSON document); --check validates only.

import type { Command } from '@commander-js/extra-typings';
import { VsmmuError } from '../arch/errors.ts';
import { loadScenario } from '../scenario/file.ts';
import { ScenarioError } from '../scenario/load.ts';
import { formatResult, formatTrace } from '../scenario/result.ts';
import { runScenario } from '../scenario/run.ts';

interface RunCliOptions {
  json?: boolean;
  trace?: boolean;
  check?: boolean;
}

/** Runs the command; resolves to the exit code (0 pass, 1 failed expectation, 2 bad input). */
export function runCommand(file: string, o: RunCliOptions): number {
  let sc: ReturnType<typeof loadScenario>;
  try {
    sc = loadScenario(file);
  } catch (e) {
    if (e instanceof ScenarioError) {
      process.stderr.write(`vsmmu: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (o.check) {
    if (o.json) {
      process.stdout.write(
        `${JSON.stringify({ format: 'vsmmu.run-check', version: 1, scenario: sc.name, ok: true, steps: sc.steps.length })}\n`,
      );
    } else process.stdout.write(`${file}: ok (${sc.steps.length} steps)\n`);
    return 0;
  }
  const out = (s: string) => (o.json ? process.stderr.write(s) : process.stdout.write(s));
  let result: ReturnType<typeof runScenario>;
  try {
    result = runScenario(sc, {
      ...(o.trace
        ? {
            trace: (e, source) => out(`${formatTrace(e, source)}\n`),
            onStep: (st) => out(`-- step ${st.index} (line ${st.line}): ${st.kind}\n`),
          }
        : {}),
    });
  } catch (e) {
    // The host refused the declared machine (e.g. a StreamID beyond the SMMU's SIDSIZE).
    if (e instanceof VsmmuError) {
      process.stderr.write(`vsmmu: ${file}: machine: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(formatResult(result));
  return result.ok ? 0 : 1;
}

/** Registers `vsmmu run`. */
export function register(program: Command): void {
  program
    .command('run')
    .description('Run a lifecycle scenario (YAML): machine + guest/VMM/ioctl steps + expectations')
    .argument('<file>', 'scenario file (.yaml)')
    .option('--json', 'print the vsmmu.run JSON result')
    .option('--trace', 'print walk, command and ioctl trace events')
    .option('--check', 'validate the scenario only')
    .action((file, opts) => {
      process.exitCode = runCommand(file, opts);
    });
}
