// docs/scenario.schema.json is the JSON Schema of the scenario language (z.toJSONSchema of the zod
// schemas), published for editor completion. This test fails when the file is stale (compared as
// JSON, so Biome's formatting of the file does not matter); regenerate it with
// `VSMMU_WRITE_SCHEMA=1 npx vitest run test/scenario/schema-json.test.ts` and then
// `npx biome format --write docs/scenario.schema.json`.

import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STEP_KINDS, scenarioJsonSchema } from '../../src/scenario/schema.ts';

const FILE = resolve(import.meta.dirname, '../../docs/scenario.schema.json');

describe('docs/scenario.schema.json', () => {
  const want = `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;

  it('is up to date', () => {
    if (process.env.VSMMU_WRITE_SCHEMA === '1') writeFileSync(FILE, want);
    const have = JSON.stringify(JSON.parse(readFileSync(FILE, 'utf8')));
    const stale = have !== JSON.stringify(JSON.parse(want));
    expect(stale, 'stale: regenerate with VSMMU_WRITE_SCHEMA=1 (see the test header)').toBe(false);
  });

  it('describes every step kind and rejects unknown keys', () => {
    const s = JSON.parse(want) as {
      $schema: string;
      additionalProperties: boolean;
      properties: {
        steps: { items: { anyOf: { required: string[]; additionalProperties: boolean }[] } };
      };
    };
    expect(s.$schema).toMatch(/2020-12/);
    expect(s.additionalProperties).toBe(false);
    const variants = s.properties.steps.items.anyOf;
    expect(variants).toHaveLength(STEP_KINDS.length);
    for (const k of STEP_KINDS) {
      expect(
        variants.some((v) => v.required.includes(k)),
        k,
      ).toBe(true);
    }
    for (const v of variants) expect(v.additionalProperties).toBe(false);
  });
});
