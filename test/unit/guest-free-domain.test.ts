// Freeing a domain invalidates its whole context before the ASID and the tables are reused
// (Linux free_io_pgtable_ops → io_pgtable_tlb_flush_all → arm_smmu_tlb_inv_context): a new domain
// that gets the same ASID and maps the same IOVA elsewhere must never see the old translation.
import { describe, expect, it } from 'vitest';
import { DmaMaster, deviceIdentity } from '../../src/devices/device.ts';
import { enableSanitizer } from '../../src/smmu/sanitizer.ts';
import { DATA_BASE, machine, must } from './guest-kit.ts';

const SID = 0x10;
const IOVA = 0x20_0000;

describe('guest driver freeDomain', () => {
  it('flushes the ASID before it is reused (no stale translation, sanitizer silent)', () => {
    const m = machine();
    const san = enableSanitizer(m.smmu);
    const dev = new DmaMaster(deviceIdentity({ name: 'edu', streamIds: [SID] }), m.smmu);
    const master = must(m.driver.addDevice({ name: 'edu', sids: [SID] }));
    const oldPa = DATA_BASE;
    const newPa = DATA_BASE + 0x10_0000;
    m.mem.writeBytes(oldPa, Uint8Array.of(0xaa));
    m.mem.writeBytes(newPa, Uint8Array.of(0x55));

    const d1 = must(m.driver.allocDomain({ stage: 1 }));
    expect(m.driver.attach(master, d1)).toBe(0);
    expect(m.driver.map(d1, IOVA, oldPa, 4096)).toBe(0);
    const first = dev.read(IOVA, 1);
    expect(first.ok && first.data[0]).toBe(0xaa);

    expect(m.driver.attachBlocked(master)).toBe(0);
    const cmdsBefore = m.smmu.commandCounts['TLBI_NH_ASID'] ?? 0;
    expect(m.driver.freeDomain(d1)).toBe(0);
    // One TLBI_NH_ASID for the freed context.
    expect(m.smmu.commandCounts['TLBI_NH_ASID'] ?? 0).toBe(cmdsBefore + 1);

    const d2 = must(m.driver.allocDomain({ stage: 1 }));
    expect(d2.asid).toBe(d1.asid);
    expect(m.driver.attach(master, d2)).toBe(0);
    expect(m.driver.map(d2, IOVA, newPa, 4096)).toBe(0);
    const second = dev.read(IOVA, 1);
    expect(second.ok && second.data[0]).toBe(0x55);
    expect(san.lines()).toEqual([]);
  });
});
