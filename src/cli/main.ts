// vsmmu command-line interface (formats.md §1–§2). Every subcommand lives in its own module and
// registers itself on the program; this file only wires them and maps errors to exit codes:
// 0 success, 1 the command ran and found a problem, 2 bad input or usage (one line on stderr).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { VsmmuError } from '../arch/errors.ts';
import { registerCommands } from './commands.ts';

/** Exit code for bad input or usage. */
export const EXIT_USAGE = 2;

/** Builds the program (exported for tests that run the CLI in-process). */
export function buildProgram(): Command {
  const program = new Command()
    .name('vsmmu')
    .description('Executable model of nested IOMMU virtualization on Arm (SMMUv3 + iommufd)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerCommands(program);
  return program;
}

/** Runs the CLI with `argv` (user arguments only); resolves to the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      if (e.code === 'commander.help') return 0;
      return EXIT_USAGE;
    }
    if (e instanceof VsmmuError) {
      process.stderr.write(`vsmmu: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

/** Runs the CLI on process.argv and sets the exit code (used by bin/vsmmu.js and `tsx main.ts`). */
export function main(): void {
  // A reader that stops early (`vsmmu … | head`) closes the pipe: end quietly, like other CLIs.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(
        `vsmmu: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
      );
      process.exitCode = 70;
    },
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main();
