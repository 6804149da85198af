// The list of subcommands. Each module exports `register(program)`; add one line per command.
import type { Command } from '@commander-js/extra-typings';
import { register as registerDecode } from './decode.ts';
import { register as registerDemo } from './demo.ts';
import { register as registerQtest } from './qtest.ts';
import { register as registerRun } from './run.ts';
import { register as registerSteWrite } from './ste-write.ts';

/** Registers every subcommand on `program`. */
export function registerCommands(program: Command): void {
  registerDecode(program);
  registerDemo(program);
  registerQtest(program);
  registerRun(program);
  registerSteWrite(program);
}
