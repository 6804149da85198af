// Every scenario in examples/ runs green (issue 6 item 3: "ship example scenarios in examples/,
// each run by the tests"), through the library and through the CLI (`vsmmu run --json`), whose
// output must be the vsmmu.run JSON shape of formats.md §5.

import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadScenario } from '../../src/scenario/file.ts';
import { formatResult } from '../../src/scenario/result.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { runCliCaptured as cli } from '../cli-capture.ts';

const DIR = resolve(import.meta.dirname, '../../examples');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

afterEach(() => {
  vi.restoreAllMocks();
});

describe('examples/', () => {
  it('has the example set the issue asks for', () => {
    for (const want of [
      'raw-nested-setup.yaml',
      'hw-info-data-len.yaml',
      'guest-lifecycle.yaml',
      'guest-invalid-vste.yaml',
    ]) {
      expect(FILES).toContain(want);
    }
  });

  for (const f of FILES) {
    it(`${f} passes`, () => {
      const sc = loadScenario(join(DIR, f));
      const r = runScenario(sc);
      expect(r.ok, formatResult(r)).toBe(true);
      expect(r.steps).toHaveLength(sc.steps.length);
      expect(r.steps.every((s) => s.ok)).toBe(true);
    });
  }

  it('vsmmu run --json prints the vsmmu.run shape (formats.md §5) and exits 0', async () => {
    const file = join(DIR, 'raw-nested-setup.yaml');
    const { code, out, err } = await cli(['run', file, '--json']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const j = JSON.parse(out) as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual(
      ['format', 'version', 'scenario', 'ok', 'steps', 'counters', 'log'].sort(),
    );
    expect(j.format).toBe('vsmmu.run');
    expect(j.version).toBe(1);
    expect(j.scenario).toBe('raw-nested-setup');
    expect(j.ok).toBe(true);
    const steps = j.steps as Record<string, unknown>[];
    const allowed = new Set([
      'index',
      'line',
      'kind',
      'ok',
      'ret',
      'errno',
      'events',
      'expected',
      'actual',
    ]);
    for (const s of steps) for (const k of Object.keys(s)) expect(allowed.has(k), k).toBe(true);
    // The first step is the VFIO bind on line 13 of the file; the EIO step reports its errno.
    expect(steps[0]).toMatchObject({ index: 0, line: 13, kind: 'ioctl', ok: true, ret: 0 });
    const eio = steps.find((s) => s.errno === 'EIO');
    expect(eio).toMatchObject({ kind: 'ioctl', ret: -5, ok: true });
    const c = j.counters as Record<string, unknown>;
    expect(Object.keys(c).sort()).toEqual(
      ['guestExits', 'ioctls', 'smmuCommands', 'walks', 'memoryAccesses'].sort(),
    );
    // Counted by hand from the file: 4 IOMMU_HWPT_ALLOC steps, 3 attaches, 1 bind.
    expect(c.ioctls).toMatchObject({
      IOMMU_HWPT_ALLOC: 4,
      VFIO_DEVICE_ATTACH_IOMMUFD_PT: 3,
      VFIO_DEVICE_BIND_IOMMUFD: 1,
    });
    expect(c.guestExits).toBe(0);
    expect(typeof c.walks).toBe('number');
    // Event fields in the JSON are "0x…" strings.
    const evq = steps.find(
      (s) => s.kind === 'read' && Array.isArray(s.events) && s.events.length > 0,
    );
    const evs = (evq?.events ?? []) as { type: string; fields: Record<string, string> }[];
    const ev = evs[0];
    expect(ev?.type).toBe('C_BAD_CD');
    expect(ev?.fields.StreamID).toBe('0x18');
  });

  it('vsmmu run --check validates without running; --trace prints trace lines', async () => {
    const file = join(DIR, 'guest-lifecycle.yaml');
    const check = await cli(['run', file, '--check']);
    expect(check.code).toBe(0);
    expect(check.out).toMatch(/ok \(\d+ steps\)/);
    const traced = await cli(['run', join(DIR, 'raw-nested-setup.yaml'), '--trace']);
    expect(traced.code).toBe(0);
    expect(traced.out).toMatch(/^ {2}walk s2 L\d /m);
    expect(traced.out).toMatch(/^ {2}ioctl IOMMU_HWPT_ALLOC → -5$/m);
    expect(traced.out).toMatch(/^ {2}cmd \(smmu\) CFGI_STE /m);
    expect(traced.out).toMatch(/^PASS raw-nested-setup/m);
  });
});
