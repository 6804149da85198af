// `vsmmu ste-write` (formats.md §4): runs the Linux arm-smmu-v3 hitless STE/CD writer against the
// model and prints each step, the number of syncs and whether the update was hitless. The model
// logic lives in src/iommufd/ste-write.ts; this file wires commander and output.

import type { Command } from '@commander-js/extra-typings';
import { parseWords } from '../arch/decode-input.ts';
import { VsmmuError } from '../arch/errors.ts';
import {
  formatSteWrite,
  runSteWrite,
  STE_WRITE_FEATURES,
  type SteWriteFeature,
  steWriteToJson,
} from '../iommufd/ste-write.ts';

/** Registers `ste-write`. */
export function register(program: Command): void {
  program
    .command('ste-write')
    .description(
      "run the kernel's hitless STE/CD entry writer from one entry to another and show each step",
    )
    .option('--cd', 'the entries are context descriptors (8 words)')
    .requiredOption('--from <words...>', 'current entry: 8 hex words, word 0 first')
    .requiredOption('--to <words...>', 'target entry: 8 hex words, word 0 first')
    .option('--features <list>', `comma-separated SMMU features: ${STE_WRITE_FEATURES.join(', ')}`)
    .option('--no-update-safe', 'the writer without the update-safe rule (kernels before it)')
    .option('--json', 'print the formats.md §4 JSON')
    .addHelpText(
      'after',
      '\nExample:\n  vsmmu ste-write --from 0x9 0x100000000000 0 0 0 0 0 0 --to 0x1 0 0 0 0 0 0 0 ' +
        '--features stalls,attr-types-ovr',
    )
    .action((opts) => {
      const features = (opts.features ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      for (const x of features) {
        if (!(STE_WRITE_FEATURES as readonly string[]).includes(x)) {
          throw new VsmmuError(
            'BAD_ARGUMENT',
            `--features: unknown feature '${x}' (known: ${STE_WRITE_FEATURES.join(', ')})`,
          );
        }
      }
      const r = runSteWrite({
        kind: opts.cd ? 'cd' : 'ste',
        from: parseWords(opts.from),
        to: parseWords(opts.to),
        features: features as SteWriteFeature[],
        updateSafe: opts.updateSafe !== false,
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(steWriteToJson(r), null, 2)}\n`);
      else process.stdout.write(formatSteWrite(r));
    });
}
