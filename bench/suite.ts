// One suite of `npm run bench` in a process of its own (bench/run.ts spawns it, as it runs each
// C mode and each translate row in its own process): mitata's table for the suite, then its
// summary figures as one JSON line (the last line).
import { run } from 'mitata';
import { registerGuest } from './guest.ts';
import { registerIommufd } from './iommufd.ts';

const SUITES = { iommufd: registerIommufd, guest: registerGuest } as const;
const name = process.argv[2] as keyof typeof SUITES | undefined;
const register = name === undefined ? undefined : SUITES[name];
if (register === undefined) {
  console.error(`usage: suite ${Object.keys(SUITES).join('|')}`);
  process.exit(2);
}
const figures = register();
const results = await run({ format: 'mitata' });
console.log(JSON.stringify(figures(results)));
