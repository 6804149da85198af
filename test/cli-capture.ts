// Runs the vsmmu CLI in-process (runCli from src/cli/main.ts) and captures what it writes to
// stdout and stderr; process.exitCode is cleared for the run and restored afterwards. Shared by
// every test that drives the CLI.
import { vi } from 'vitest';
import { runCli } from '../src/cli/main.ts';

/** The outcome of one CLI run. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `vsmmu <args…>` and returns its exit code and output. */
export async function runCliCaptured(args: readonly string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await runCli(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = saved;
  }
}
