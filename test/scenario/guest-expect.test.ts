// `expect: ok | <ERRNO>` on guest-driver steps (attach, detach, map, unmap): the driver's negative
// errno is reported in the step result (errno, expected, actual), an unexpected success or a
// different errno fails the step, and an unknown errno name is a load error. The expected errnos
// are derived from the driver rules the way Linux applies them:
// - arm_smmu_set_pasid: SSID must be < 2^ssid_bits, ssid_bits = min(vIDR1.SSIDSIZE, the device's
//   PASID width) → EINVAL otherwise;
// - io-pgtable-arm map over a valid leaf → EEXIST.
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../src/scenario/load.ts';
import { runScenario } from '../../src/scenario/run.ts';

function run(yaml: string) {
  return runScenario(parseScenario(yaml, 't.yaml'));
}

/** Host SSIDSIZE 8, device PASID width 4: the driver's ssid_bits = min(8, 4) = 4 → SSIDs 1..15. */
const PASID_MACHINE = `machine:
  smmu: { idr: { idr1: { SSIDSIZE: 8 } } }
  devices:
    - { name: acc0, sid: 0x8, pasid-bits: 4 }
  guest: {}
`;

describe('guest-driver steps with an expected errno', () => {
  it('a PASID beyond the driver ssid_bits fails with EINVAL, as expected', () => {
    const r = run(`${PASID_MACHINE}steps:
  - attach: acc0
    domain: d
  - attach: acc0
    domain: p
    ssid: 16
    expect: EINVAL
  - attach: acc0
    domain: p
    ssid: 15
`);
    expect(r.ok, JSON.stringify(r.log)).toBe(true);
    const s = r.steps[1];
    expect(s?.ok).toBe(true);
    expect(s?.errno).toBe('EINVAL');
    expect(s?.ret).toBe(-22);
    expect(s?.expected).toBe('EINVAL');
    expect(s?.actual).toBe('EINVAL');
    // The highest SSID that fits (2^4 - 1) attaches.
    expect(r.steps[2]?.ok).toBe(true);
  });

  it('without expect the same failure fails the step and reports the errno', () => {
    // SSID 16 fits the device's 8 PASID bits (so it loads), but the vSSIDSIZE is 4: the driver's
    // ssid_bits = min(4, 8) = 4 and 16 >= 2^4 → EINVAL at run time.
    const r = run(`machine:
  smmu: { idr: { idr1: { SSIDSIZE: 4 } } }
  devices:
    - { name: acc0, sid: 0x8, pasid-bits: 8 }
  guest: {}
steps:
  - attach: acc0
    domain: d
  - attach: acc0
    domain: p
    ssid: 16
`);
    expect(r.ok).toBe(false);
    const s = r.steps[1];
    expect(s?.ok).toBe(false);
    expect(s?.errno).toBe('EINVAL');
    expect(s?.expected).toBe('ok');
  });

  it('an expected errno that does not come fails the step (actual ok)', () => {
    const r = run(`${PASID_MACHINE}steps:
  - attach: acc0
    domain: d
  - attach: acc0
    domain: p
    ssid: 3
    expect: EINVAL
`);
    expect(r.ok).toBe(false);
    expect(r.steps[1]).toMatchObject({ ok: false, expected: 'EINVAL', actual: 'ok' });
  });

  it('a different errno fails the step and names both', () => {
    const r = run(`${PASID_MACHINE}steps:
  - attach: acc0
    domain: p
    ssid: 16
    expect: ENOMEM
`);
    expect(r.ok).toBe(false);
    expect(r.steps[0]).toMatchObject({ ok: false, expected: 'ENOMEM', actual: 'EINVAL' });
  });

  it('map over a mapped page is EEXIST; detach and unmap take expect: ok', () => {
    const r = run(`machine: { guest: {} }
steps:
  - attach: vfio0
    domain: d
  - map: d
    iova: "0x1000_0000"
    size: 0x1000
  - map: d
    iova: "0x1000_0000"
    size: 0x1000
    expect: EEXIST
  - unmap: d
    iova: "0x1000_0000"
    size: 0x1000
    expect: ok
  - detach: vfio0
    expect: ok
`);
    expect(r.ok, JSON.stringify(r.log)).toBe(true);
    expect(r.steps[2]).toMatchObject({ ok: true, errno: 'EEXIST', expected: 'EEXIST' });
  });

  it('an unknown errno name and a malformed one are load errors', () => {
    const bad = (e: string) => () =>
      parseScenario(
        `machine: { guest: {} }
steps:
  - attach: vfio0
    domain: d
    expect: ${e}
`,
        't.yaml',
      );
    expect(bad('ENOTANERRNO')).toThrow(ScenarioError);
    expect(bad('ENOTANERRNO')).toThrow(/unknown errno name 'ENOTANERRNO'/);
    expect(bad('einval')).toThrow(ScenarioError);
  });

  it('a PASID beyond the device width stays a load error when the step must succeed', () => {
    const yaml = `${PASID_MACHINE}steps:
  - attach: acc0
    domain: p
    ssid: 16
`;
    expect(() => parseScenario(yaml, 't.yaml')).toThrow(/PASID bits/);
  });
});
