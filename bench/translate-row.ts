// One SMMU translate row of `npm run bench`, measured in a process of its own (bench/run.ts
// spawns one per row, as it runs each C mode in its own process): prints {"ns": ns per
// transaction} as its last line.
import { measureTranslateRow } from './smmu.ts';

const name = process.argv[2];
if (name === undefined) {
  console.error('usage: translate-row NAME');
  process.exit(2);
}
console.log(JSON.stringify({ ns: await measureTranslateRow(name) }));
