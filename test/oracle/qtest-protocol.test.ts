// `vsmmu qtest` against QEMU 10.0.2 itself: the same request lines go to `qemu-system-aarch64
// -qtest stdio` and to the model's qtest server, and every reply must be byte-identical — sized
// reads and writes, `read`/`write`, `b64read`/`b64write`, `memset`, numbers in every strtoull form,
// RAM edges, unassigned space, SMMU registers, extra words, unknown commands and QEMU's own
// `ERR invalid argument size`. Lines that make QEMU abort (it g_asserts) are not sent to it; the
// model's FAIL answers for those are covered in test/unit/qtest-protocol.test.ts.
import { describe, expect, it } from 'vitest';
import { createQtestServer, SMMU_QOM_PATH } from '../../src/devices/qtest.ts';
import { probeQemu, QemuQtest } from './qemu-client.ts';

const qemu = probeQemu();
if (!qemu.ok) console.log(`[qtest-protocol] SKIPPED: ${qemu.reason}`);

const RAM = 0x4010_0000;
const h = (n: number) => `0x${n.toString(16)}`;

/** Request lines QEMU answers without aborting (checked on 10.0.2). */
const LINES = [
  'endianness',
  `writeq ${h(RAM)} 0x1122334455667788`,
  `readq ${h(RAM)}`,
  `readl ${h(RAM + 4)}`,
  `readw ${h(RAM + 1)}`,
  `readb ${h(RAM + 7)}`,
  `readl 0${(RAM + 4).toString(8)}`,
  `readl ${RAM + 4}`,
  `readl 0X${(RAM + 4).toString(16).toUpperCase()}`,
  `readl +${h(RAM)}`,
  `writel ${h(RAM)} -1`,
  `readq ${h(RAM)}`,
  `writeb ${h(RAM + 3)} 0x1ab`,
  `writew ${h(RAM + 9)} 0xbeef`,
  `read ${h(RAM)} 16`,
  `write ${h(RAM + 16)} 8 0xAbCdEf`,
  `write ${h(RAM + 24)} 3 0xz1zz12`,
  `write ${h(RAM + 32)} 2 0x`,
  `read ${h(RAM + 16)} 16`,
  `b64write ${h(RAM + 48)} 4 AAECAw==`,
  `b64write ${h(RAM + 52)} 2 CQkJCQ==`,
  `b64write ${h(RAM + 56)} 1 AA`,
  `b64read ${h(RAM + 48)} 12`,
  `b64read ${h(RAM + 48)} 0`,
  `memset ${h(RAM + 64)} 5 0x1ff`,
  `memset ${h(RAM + 64)} 0 7`,
  `read ${h(RAM + 62)} 8`,
  `readl ${h(RAM)} extra words`,
  // The end of 256 MB of RAM and the unassigned space after it.
  'write 0x4ffffffe 4 0x11223344',
  'read 0x4ffffffe 4',
  'readl 0x4ffffffd',
  'writel 0x50000000 5',
  'readl 0x50000000',
  'readq 0x2000000000000',
  'readl 0x0c000000',
  'readq 0xffffffffffffffff',
  // SMMU registers: the ID registers, IIDR/AIDR, GBPA, misaligned and narrow accesses.
  'readl 0x09050000',
  'readl 0x09050004',
  'readl 0x0905000c',
  'readl 0x09050014',
  'readl 0x09050018',
  'readl 0x0905001c',
  'readl 0x09050044',
  'readb 0x09050000',
  'readw 0x09050004',
  'readl 0x09050002',
  'writel 0x0905000c 0',
  'readl 0x0905000c',
  'writel 0x09050020 0xc',
  'readl 0x09050024',
  'writeq 0x09050080 0x41000000',
  'readq 0x09050080',
  'readl 0x09050084',
  'readl 0x09070000',
  // Unknown commands and the intercept protocol.
  'foo',
  'FOO bar',
  'clock_step',
  'irq_intercept_out /nope',
  `irq_intercept_out ${SMMU_QOM_PATH}`,
  `irq_intercept_out ${SMMU_QOM_PATH} sysbus-irq`,
  `irq_intercept_out ${SMMU_QOM_PATH} sysbus-irq`,
  'inb 0x10',
  'inw 0x10',
  'inl 0x10',
  'outb 0x10 1',
];

describe.skipIf(!qemu.ok)('qtest replies are byte-identical to QEMU 10.0.2', () => {
  it(`${LINES.length} request lines`, async () => {
    const q = await QemuQtest.start({ edu: false });
    const { server } = createQtestServer();
    try {
      const qemuReplies = await Promise.all(LINES.map((l) => q.cmd(l)));
      const modelReplies = LINES.map((l) => server.exec(l).replace(/\n$/, '').split('\n').pop());
      const diff = LINES.flatMap((l, i) =>
        qemuReplies[i] === modelReplies[i]
          ? []
          : [`${l} → qemu '${qemuReplies[i]}' model '${modelReplies[i]}'`],
      );
      expect(diff).toEqual([]);
    } finally {
      await q.close();
    }
  });
});
