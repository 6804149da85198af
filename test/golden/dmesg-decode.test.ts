// Golden test for `vsmmu decode --dmesg`: a kernel-log excerpt built from the printk formats of
// Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c —
//  - newer kernels (arm_smmu_dump_raw_event + arm_smmu_dump_event, dev_err):
//      "event 0x%02x received:\n", then "\t0x%016llx\n" per word, then
//      "event: %s client: %s sid: %#x ssid: %#x iova: %#llx ipa: %#llx" and
//      "%s %s %s %s \"%s\"%s%s stag: %#x" (priv|unpriv, inst|data, read|write, s1|s2, the
//      event_class_str[] text, " ttd_read"/" ttd_write" for CLASS TT permission faults, " stall");
//  - older kernels (arm_smmu_evtq_thread, dev_info): the header and the four word lines only.
// dev_printk prefixes each line with "<driver> <device>: "; %#x prints 0 as "0" (no 0x).
// Expected field values are derived by hand from the words with the IHI 0070 §7.3 / Linux
// EVTQ_* bit positions written out as shifts below.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDmesg } from '../../src/arch/decode-input.ts';
import { runCliCaptured } from '../cli-capture.ts';

const DEV = 'arm-smmu-v3 arm-smmu-v3.0.auto';
const LOG = [
  '[    0.912345] arm-smmu-v3 arm-smmu-v3.0.auto: option mask 0x0',
  '[    0.912400] arm-smmu-v3 arm-smmu-v3.0.auto: ias 44-bit, oas 44-bit (features 0x00008305)',
  // 3: a stage-1 translation fault, newer kernel (dev_err with summary lines)
  `[  245.109876] ${DEV}: event 0x10 received:`,
  `[  245.109880] ${DEV}: \t0x0000001800000010`,
  `[  245.109882] ${DEV}: \t0x0000020000000000`,
  `[  245.109884] ${DEV}: \t0x00000000fffff000`,
  `[  245.109886] ${DEV}: \t0x0000000000000000`,
  `[  245.109890] ${DEV}: event: F_TRANSLATION client: 0000:00:03.0 sid: 0x18 ssid: 0 iova: 0xfffff000 ipa: 0`,
  `[  245.109893] ${DEV}: unpriv data write s1 "Input address caused fault" stag: 0`,
  '[  245.200000] virtio_net virtio0 enp0s3: link up',
  // 11: a nested stage-2 permission fault on a stage-1 descriptor read (CLASS TT)
  `[  246.000001] ${DEV}: event 0x13 received:`,
  `[  246.000002] ${DEV}: \t0x0000002000000013`,
  `[  246.000003] ${DEV}: \t0x0000118800000000`,
  `[  246.000004] ${DEV}: \t0x0000ffff00001000`,
  `[  246.000005] ${DEV}: \t0x000000008badf000`,
  `[  246.000006] ${DEV}: event: F_PERMISSION client: 0000:00:04.0 sid: 0x20 ssid: 0 iova: 0xffff00001000 ipa: 0x8badf000`,
  `[  246.000007] ${DEV}: unpriv data read s2 "Stage 1 translation table fetch" ttd_read stag: 0`,
  // 18: an older kernel's dev_info dump of a C_BAD_CD with a SubstreamID
  `[   88.000001] ${DEV}: event 0x0a received:`,
  `[   88.000002] ${DEV}: \t0x000000080000180a`,
  `[   88.000003] ${DEV}: \t0x0000000000000000`,
  `[   88.000004] ${DEV}: \t0x0000000000000000`,
  `[   88.000005] ${DEV}: \t0x0000000000000000`,
].join('\n');

const bit = (w: bigint, n: number) => (w >> BigInt(n)) & 1n;
const bits = (w: bigint, hi: number, lo: number) =>
  (w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);

describe('parseDmesg on the golden excerpt', () => {
  const scan = parseDmesg(LOG);
  it('finds the three dumps with their summary lines', () => {
    expect(scan.problems).toEqual([]);
    expect(scan.events.map((e) => [e.line, e.id, e.device])).toEqual([
      [3, 0x10, 'arm-smmu-v3.0.auto'],
      [11, 0x13, 'arm-smmu-v3.0.auto'],
      [18, 0x0a, 'arm-smmu-v3.0.auto'],
    ]);
    expect(scan.events[0]?.summary).toHaveLength(2);
    expect(scan.events[1]?.summary[1]).toMatch(/ttd_read stag: 0$/);
    expect(scan.events[2]?.summary).toEqual([]);
  });
  it('hand-derived fields of the nested permission fault', () => {
    const [w0, w1, w2, w3] = scan.events[1]?.words ?? [0n, 0n, 0n, 0n];
    expect(bits(w0, 7, 0)).toBe(0x13n); // F_PERMISSION
    expect(bits(w0, 63, 32)).toBe(0x20n); // StreamID
    expect(bit(w1, 39)).toBe(1n); // S2
    expect(bits(w1, 41, 40)).toBe(1n); // CLASS TT
    expect(bit(w1, 44)).toBe(1n); // TTRnW: descriptor read
    expect(bit(w1, 35)).toBe(1n); // RnW: read
    expect(w2).toBe(0xffff00001000n);
    expect(w3 & ((1n << 52n) - (1n << 12n))).toBe(0x8badf000n);
  });
});

describe('vsmmu decode --dmesg on the golden excerpt', () => {
  function logFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'vsmmu-golden-'));
    const file = join(dir, 'dmesg.txt');
    writeFileSync(file, LOG);
    return file;
  }

  it('JSON', async () => {
    const { code, out, err } = await runCliCaptured(['decode', '--dmesg', logFile(), '--json']);
    expect(code).toBe(0);
    expect(err).toBe('');
    const j = JSON.parse(out);
    expect(j.format).toBe('vsmmu.decode-dmesg');
    expect(j.version).toBe(1);
    expect(j.events.map((e: { line: number }) => e.line)).toEqual([3, 11, 18]);
    const f = (i: number, name: string) =>
      j.events[i].decode.fields.find((x: { name: string }) => x.name === name);
    // Event 1: F_TRANSLATION, SID 0x18, write (RnW 0), unprivileged data, stage 1, CLASS IN.
    expect(j.events[0].decode.structure).toBe('evt.F_TRANSLATION');
    expect(f(0, 'StreamID').raw).toBe('0x18');
    expect(f(0, 'RnW').raw).toBe('0x0');
    expect(f(0, 'PnU').raw).toBe('0x0');
    expect(f(0, 'S2').raw).toBe('0x0');
    expect(f(0, 'CLASS').raw).toBe('0x2');
    expect(f(0, 'InputAddr').value).toBe('0xfffff000');
    // Event 2: the nested stage-2 permission fault on a stage-1 table read.
    expect(j.events[1].decode.structure).toBe('evt.F_PERMISSION');
    expect(f(1, 'S2').raw).toBe('0x1');
    expect(f(1, 'CLASS').meaning).toMatch(/^TT/);
    expect(f(1, 'TTRnW').meaning).toBe('descriptor read');
    expect(f(1, 'IPA').value).toBe('0x8badf000');
    expect(j.events[1].decode.reservedSet).toEqual([]);
    // Event 3: C_BAD_CD, SID 8, SSV 1, SubstreamID 1.
    expect(j.events[2].decode.structure).toBe('evt.C_BAD_CD');
    expect(f(2, 'SSV').raw).toBe('0x1');
    expect(f(2, 'SubstreamID').raw).toBe('0x1');
    expect(f(2, 'StreamID').raw).toBe('0x8');
  });
  it('text echoes the kernel summary under each decode', async () => {
    const file = logFile();
    const { code, out } = await runCliCaptured(['decode', '--dmesg', file]);
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`${file.replaceAll('\\', '\\\\')}:3: arm-smmu-v3.0.auto`));
    expect(out).toMatch(/kernel: event: F_TRANSLATION client: 0000:00:03.0/);
    expect(out).toMatch(/TTRnW += 1 \(descriptor read\)/);
    expect(out).toMatch(/C_BAD_CD/);
  });
});
