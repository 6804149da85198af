// Reading a scenario file from disk for `vsmmu run` and the tests (formats.md §2): an unreadable
// file is a bad-input error at line 1, column 1, like every other problem with the file.

import { readFileSync } from 'node:fs';
import { parseScenario, type Scenario, ScenarioError } from './load.ts';

/** Reads and validates a scenario file; unreadable files and bad content throw ScenarioError. */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code ?? 'unreadable';
    throw new ScenarioError([{ file, line: 1, col: 1, message: `cannot read the file (${code})` }]);
  }
  return parseScenario(text, file);
}
