// `vsmmu ste-write` (formats.md §4) run in-process: text and JSON output, the sync count and the
// hitless verdict of a KUnit transition (derived in test/golden/iommufd-ste-writer.test.ts: bypass
// → abort is hitless with 2 syncs; nested → S2 without the update-safe rule is breaking with 3),
// the CFGI_STE + CMD_SYNC pairs issued into the SMMU model, and usage errors (exit 2, one line).

import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../cli-capture.ts';

const NESTED = 'f800f0f0f0f0f0ef,00001000180800d5,0449b6c400000000,000dbeefdeadbee0,0,0,0,0';
const S2 = 'd,100000000000,0449b6c400000000,000dbeefdeadbee0,0,0,0,0';
const FEAT = ['--features', 'stalls,attr-types-ovr'];

describe('vsmmu ste-write', () => {
  it('bypass → abort: two steps, each a CFGI_STE + CMD_SYNC, hitless', async () => {
    const { code, out } = await runCliCaptured([
      'ste-write',
      '--from',
      '0x9',
      '0x100000000000',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '--to',
      '1',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      ...FEAT,
    ]);
    expect(code).toBe(0);
    expect(out).toContain('syncs: 2');
    expect(out).toContain('hitless: yes');
    expect(out.match(/CFGI_STE sid 0x8, CMD_SYNC/g)?.length).toBe(2);
  });

  it('JSON: nested → S2 with --no-update-safe is a breaking update with 3 syncs', async () => {
    const { code, out } = await runCliCaptured([
      'ste-write',
      '--json',
      '--from',
      NESTED,
      '--to',
      S2,
      ...FEAT,
      '--no-update-safe',
    ]);
    expect(code).toBe(0);
    const j = JSON.parse(out) as {
      format: string;
      version: number;
      kind: string;
      syncs: number;
      hitless: boolean;
      steps: { wrote: number[]; entry: string[]; sync: boolean }[];
      final: string[];
    };
    expect(j).toMatchObject({
      format: 'vsmmu.ste-write',
      version: 1,
      kind: 'ste',
      syncs: 3,
      hitless: false,
    });
    // breaking: qword 0 cleared first, then qwords 1.., then qword 0
    expect(j.steps.map((s) => s.wrote)).toEqual([[0], [1], [0]]);
    expect(j.steps[0]?.entry[0]).toBe('0x0');
    expect(j.final).toEqual([
      '0xd',
      '0x100000000000',
      '0x449b6c400000000',
      '0xdbeefdeadbee0',
      '0x0',
      '0x0',
      '0x0',
      '0x0',
    ]);
  });

  it('the same transition with the update-safe rule is hitless', async () => {
    const r = await runCliCaptured(['ste-write', '--json', '--from', NESTED, '--to', S2, ...FEAT]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ syncs: 3, hitless: true });
  });

  it('--cd: an ASID change is one sync (CFGI_CD)', async () => {
    const cd = (asid: number) =>
      `${(0xe0_0000_c000_4a84n | (BigInt(asid) << 48n)).toString(16)},0,0,0,0,0,0,0`;
    const r = await runCliCaptured([
      'ste-write',
      '--cd',
      '--json',
      '--from',
      cd(778),
      '--to',
      cd(1997),
    ]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { syncs: number; kind: string; steps: { commands: string[] }[] };
    expect(j.kind).toBe('cd');
    expect(j.syncs).toBe(1);
    expect(j.steps[0]?.commands[0]).toMatch(/^CFGI_CD/);
  });

  it('bad input: wrong word count, bad hex, unknown feature → exit 2 with one line', async () => {
    const count = await runCliCaptured(['ste-write', '--from', '1', '2', '--to', '1']);
    expect(count.code).toBe(2);
    expect(count.err.trim().split('\n')).toHaveLength(1);
    const hex = await runCliCaptured(['ste-write', '--from', 'xyz', '--to', '1']);
    expect(hex.code).toBe(2);
    expect(hex.err).toMatch(/xyz/);
    const z = '0,0,0,0,0,0,0,0';
    const feat = await runCliCaptured(['ste-write', '--from', z, '--to', z, '--features', 'warp']);
    expect(feat.code).toBe(2);
    expect(feat.err).toMatch(/warp/);
  });
});
