// Bad scenarios fail before running, with `file:line:col: message` and exit code 2 (formats.md §2,
// issue 6 "Bad input"). The expected positions are found in the test's own YAML text by a plain
// line/column search (not by the loader's YAML machinery); the message fragments say what the
// problem is in terms a user can act on.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../src/scenario/load.ts';
import { runCliCaptured as cli } from '../cli-capture.ts';

/** 1-based line and column of the `nth` occurrence of `needle` in `text`. */
function posOf(text: string, needle: string, nth = 1): { line: number; col: number } {
  let from = 0;
  let at = -1;
  for (let i = 0; i < nth; i++) {
    at = text.indexOf(needle, from);
    if (at < 0) throw new Error(`test bug: '${needle}' not found`);
    from = at + 1;
  }
  const before = text.slice(0, at).split('\n');
  return { line: before.length, col: (before.at(-1) as string).length + 1 };
}

function diag(text: string) {
  try {
    parseScenario(text, 'bad.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    const d = (e as ScenarioError).diagnostics[0];
    if (!d) throw new Error('no diagnostic');
    return { ...d, all: (e as ScenarioError).diagnostics, text: (e as ScenarioError).message };
  }
  throw new Error('the scenario loaded');
}

const RAW = `name: t
steps:
  - ioctl: IOMMU_IOAS_ALLOC
    fd: iommufd
    bind: { out_ioas_id: ioas }
`;

interface Case {
  readonly name: string;
  readonly yaml: string;
  /** Text at the reported position, and which occurrence. */
  readonly at: string;
  readonly nth?: number;
  readonly message: RegExp;
}

const CASES: readonly Case[] = [
  {
    name: 'unknown top-level key',
    yaml: `name: t\nmachin: {}\nsteps: []\n`,
    at: 'machin',
    message: /unknown key 'machin'/,
  },
  {
    name: 'unknown key in a step',
    yaml: `${RAW}    sizee: 12\n`,
    at: 'sizee',
    message: /steps\[0\]: unknown key 'sizee'/,
  },
  {
    name: 'unknown step kind',
    yaml: `steps:\n  - frobnicate: 1\n`,
    at: 'frobnicate',
    message: /unknown step kind 'frobnicate'/,
  },
  {
    name: 'wrong type (string for a count)',
    yaml: `steps:\n  - read: iommufd\n    count: lots\n`,
    at: 'lots',
    message: /steps\[0\]\.count: .*integer/,
  },
  {
    name: 'bad hex digit',
    yaml: `machine: { guest: {} }\nsteps:\n  - attach: vfio0\n    domain: d\n  - map: d\n    iova: "0x12g4"\n    size: 0x1000\n`,
    at: '"0x12g4"',
    message: /steps\[1\]\.iova: expected an integer or a quoted hex string/,
  },
  {
    name: 'unquoted 64-bit value (YAML would round it)',
    yaml: `steps:\n  - dma: vfio0\n    iova: 0xfffffffffffff000\n    read: 4\n`,
    at: '0xfffffffffffff000',
    message: /beyond 2\^53.*quoted hex/,
  },
  {
    name: 'hex value wider than 64 bits',
    yaml: `steps:\n  - dma: vfio0\n    iova: "0x1_0000_0000_0000_0000"\n    read: 4\n`,
    at: '"0x1_0000_0000_0000_0000"',
    message: /exceeds 64 bits/,
  },
  {
    name: 'misaligned IOVA in a guest map',
    yaml: `machine: { guest: {} }\nsteps:\n  - attach: vfio0\n    domain: d\n  - map: d\n    iova: "0x1234"\n    size: 0x1000\n`,
    at: '"0x1234"',
    message: /0x1234 is not aligned to the 4 KiB guest page/,
  },
  {
    name: 'unknown ioctl',
    yaml: `steps:\n  - ioctl: IOMMU_HWPT_ALOC\n    fd: iommufd\n`,
    at: 'IOMMU_HWPT_ALOC',
    message: /unknown ioctl 'IOMMU_HWPT_ALOC'/,
  },
  {
    name: 'unknown struct member',
    yaml: `steps:\n  - ioctl: IOMMU_HWPT_ALLOC\n    fd: iommufd\n    args: { dev_id: 1, ptid: 2 }\n`,
    at: 'ptid',
    message: /struct iommu_hwpt_alloc has no member 'ptid'/,
  },
  {
    name: 'label used before it is bound',
    yaml: `steps:\n  - ioctl: IOMMU_DESTROY\n    fd: iommufd\n    args: { id: $hwpt }\n`,
    at: '$hwpt',
    message: /label 'hwpt' is not bound by an earlier step/,
  },
  {
    name: 'unknown UAPI constant',
    yaml: `steps:\n  - ioctl: IOMMU_HWPT_ALLOC\n    fd: iommufd\n    args: { flags: IOMMU_HWPT_ALLOC_NEST_PARNT }\n`,
    at: 'IOMMU_HWPT_ALLOC_NEST_PARNT',
    message: /unknown UAPI constant 'IOMMU_HWPT_ALLOC_NEST_PARNT'/,
  },
  {
    name: 'unknown errno name',
    yaml: `${RAW}    expect: ENOPE\n`,
    at: 'ENOPE',
    message: /unknown errno name 'ENOPE'/,
  },
  {
    name: 'guest step without a guest',
    yaml: `steps:\n  - attach: vfio0\n    domain: d\n`,
    at: 'attach',
    message: /'attach' is a guest step; declare machine.guest/,
  },
  {
    name: 'unknown device',
    yaml: `steps:\n  - dma: nic9\n    iova: 0\n    read: 4\n`,
    at: 'nic9',
    message: /no device 'nic9' in machine.devices \(vfio0\)/,
  },
  {
    name: 'unknown event field',
    yaml: `steps:\n  - read: iommufd\n    events: [{ type: C_BAD_STE, fields: { StreamId: 1 } }]\n`,
    at: 'StreamId',
    message: /C_BAD_STE has no field 'StreamId'/,
  },
  {
    name: 'unknown event type',
    yaml: `steps:\n  - read: iommufd\n    events: [{ type: F_TRANSLATE }]\n`,
    at: 'F_TRANSLATE',
    message: /unknown event type 'F_TRANSLATE'/,
  },
  {
    name: 'map on a domain no step created',
    yaml: `machine: { guest: {} }\nsteps:\n  - map: nowhere\n    iova: 0\n    size: 0x1000\n`,
    at: 'nowhere',
    message: /domain 'nowhere' is created by an earlier attach step/,
  },
  {
    name: 'unknown ID-register field override',
    yaml: `machine:\n  smmu:\n    idr: { idr3: { RIX: 0 } }\nsteps: []\n`,
    at: 'RIX',
    message: /no field 'RIX'/,
  },
  {
    name: 'ID-register field value too wide',
    yaml: `machine:\n  smmu:\n    idr: { idr0: { S1P: 2 } }\nsteps: []\n`,
    at: '2',
    nth: 1,
    message: /does not fit the 1-bit field/,
  },
  {
    name: 'duplicate StreamID',
    yaml: `machine:\n  devices:\n    - { name: a, sid: 8 }\n    - { name: b, sid: 8 }\nsteps: []\n`,
    at: '8',
    nth: 2,
    message: /StreamID 0x8 is used twice/,
  },
  {
    name: 'unknown kernel profile',
    yaml: `machine: { kernel: v5.4 }\nsteps: []\n`,
    at: 'v5.4',
    message: /machine\.kernel: .*v6\.19/,
  },
  {
    name: 'a step that is not a mapping',
    yaml: `steps:\n  - just text\n`,
    at: 'just text',
    message: /a step is a mapping/,
  },
  {
    name: 'DMA with both write and read',
    yaml: `steps:\n  - dma: vfio0\n    iova: 0\n    write: [1]\n    read: 1\n`,
    at: 'dma',
    message: /exactly one of write \(data\) or read \(length\)/,
  },
  {
    name: 'odd number of hex digits in a byte string',
    yaml: `steps:\n  - dma: vfio0\n    iova: 0\n    write: "0x123"\n`,
    at: '"0x123"',
    message: /even number of hex digits/,
  },
  {
    name: 'a buffer for a non-pointer member',
    yaml: `steps:\n  - ioctl: IOMMU_DESTROY\n    fd: iommufd\n    args: { id: { buffer: [] } }\n`,
    at: '{ buffer',
    message: /'id' is not a __u64 member/,
  },
  {
    name: 'YAML syntax: duplicate key',
    yaml: `steps:\n  - read: iommufd\n    count: 1\n    count: 2\n`,
    at: 'count',
    nth: 2,
    message: /unique/i,
  },
  {
    name: 'YAML syntax: unterminated flow mapping',
    yaml: `steps:\n  - read: { a: 1\n`,
    at: '',
    message: /./,
  },
];

describe('bad scenarios: file:line:col and a clear message, before anything runs', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const d = diag(c.yaml);
      expect(d.file).toBe('bad.yaml');
      expect(d.message).toMatch(c.message);
      if (c.at !== '') {
        const want = posOf(c.yaml, c.at, c.nth);
        expect({ line: d.line, col: d.col }, d.text).toEqual(want);
      }
      expect(d.text.startsWith(`bad.yaml:${d.line}:${d.col}: `)).toBe(true);
    });
  }

  it('reports every problem of a file, first one in the message', () => {
    const yaml = `steps:\n  - dma: nic9\n    iova: 0\n    read: 4\n  - ioctl: NOPE\n    fd: iommufd\n`;
    const d = diag(yaml);
    expect(d.all.length).toBe(2);
    expect(d.text).toMatch(/\(and 1 more\)$/);
  });

  it('a valid scenario loads', () => {
    expect(() => parseScenario(RAW, 'ok.yaml')).not.toThrow();
  });
});

describe('vsmmu run: exit code 2 and one line on stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vsmmu-errors-'));

  it('schema error', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, `steps:\n  - dma: vfio0\n    iova: 0xfffffffffffff000\n    read: 4\n`);
    const r = await cli(['run', f]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^vsmmu: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:11: `),
    );
  });

  it('--check rejects the same file with exit 2', async () => {
    const f = join(dir, 'bad2.yaml');
    writeFileSync(f, `steps:\n  - map: d\n`);
    const r = await cli(['run', f, '--check']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad2\.yaml:2:5: /);
  });

  it('unreadable file', async () => {
    const r = await cli(['run', join(dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/missing\.yaml:1:1: cannot read the file \(ENOENT\)/);
  });

  it('a machine the host refuses (StreamID beyond SIDSIZE) exits 2', async () => {
    const f = join(dir, 'machine.yaml');
    // SIDSIZE 2 → StreamIDs 0..3; the default device sits at 0x8.
    writeFileSync(f, `machine:\n  smmu: { idr: { idr1: { SIDSIZE: 2 } } }\nsteps: []\n`);
    const r = await cli(['run', f]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/machine\.yaml: machine: device vfio0/);
  });

  it('a failed expectation exits 1 (not 2)', async () => {
    const f = join(dir, 'fails.yaml');
    writeFileSync(f, `steps:\n  - ioctl: IOMMU_IOAS_ALLOC\n    fd: iommufd\n    expect: EINVAL\n`);
    const r = await cli(['run', f]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL #0 line 2 ioctl ret=0/);
  });
});
