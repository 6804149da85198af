// The demonstration behind `npm start` runs the whole nested story and reports no problem; the
// screen shows each journey's outcome (values chosen by the demo: vSID 0x100, host SID 0x8,
// IOVA 0x100000).
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/demo.ts';

describe('vsmmu demo', () => {
  it('tells the whole story without a problem', () => {
    const lines: string[] = [];
    const problems = runDemo((s) => lines.push(s));
    const text = lines.join('\n');
    expect(problems).toBe(0);
    // Nested physical STE: Config 0b111.
    expect(text).toMatch(/physical STE \(SID 0x8\): Config=7/);
    expect(text).toContain('data matches');
    // The hardware reports the physical StreamID; the guest sees the vSID.
    expect(text).toMatch(/SMMU: F_TRANSLATION StreamID 0x8 InputAddr 0x100000/);
    expect(text).toMatch(/guest event queue: F_TRANSLATION vSID 0x100 InputAddr 0x100000/);
    // The invalid vSTE: EIO from IOMMU_HWPT_ALLOC, C_BAD_STE to the guest, abort STE.
    expect(text).toMatch(/IOMMU_HWPT_ALLOC failed: EIO/);
    expect(text).toMatch(/guest event queue: C_BAD_STE vSID 0x100/);
    expect(text).toMatch(/physical STE now: Config=0/);
    expect(lines.at(-1)).toMatch(/summary: .*all behaved/);
  });
});
