// `vsmmu demo` (what `npm start` runs): the end-to-end demonstration.
import type { Command } from '@commander-js/extra-typings';

/** Registers `demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('run the end-to-end demonstration (what `npm start` runs)')
    .action(() => {
      process.stdout.write('vsmmu demo\n');
    });
}
