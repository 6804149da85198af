// Bad-input fuzzing of the qtest line protocol (QEMU 10.0.2 system/qtest.c, served by
// src/devices/qtest.ts): random lines and mutations of valid ones (words dropped, duplicated,
// swapped, replaced by odd numbers or junk, stray whitespace and control characters). Property:
// each request line yields exactly one reply line, starting with `OK`, `FAIL` or `ERR`
// (asynchronous `IRQ raise|lower N` lines may precede it), and the server never throws.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createQtestServer, SMMU_IRQ_GPIO_NAME, SMMU_QOM_PATH } from '../../src/devices/qtest.ts';
import { VIRT_RAM_BASE, VIRT_SMMU_BASE } from '../../src/devices/virt.ts';

/** The value type of an arbitrary. */
type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;

const hex = (n: number | bigint) => `0x${n.toString(16)}`;
const SMMU = VIRT_SMMU_BASE;
const RAM = VIRT_RAM_BASE;

/** Valid request lines for the `virt` machine with its SMMU. */
const VALID = [
  `readl ${hex(SMMU)}`,
  `readq ${hex(SMMU + 0x90)}`,
  `readb ${hex(RAM + 3)}`,
  `readw ${hex(RAM)}`,
  `writel ${hex(SMMU + 0x20)} 0xd`,
  `writeq ${hex(SMMU + 0x90)} ${hex(RAM + 0x10000 + 8)}`,
  `writel ${hex(SMMU + 0x98)} 1`,
  `writeb ${hex(RAM)} 0x5a`,
  `read ${hex(RAM)} 16`,
  `b64read ${hex(RAM)} 8`,
  `write ${hex(RAM)} 4 0xdeadbeef`,
  `b64write ${hex(RAM)} 3 AQID`,
  `memset ${hex(RAM)} 64 0xff`,
  'endianness',
  `irq_intercept_out ${SMMU_QOM_PATH} ${SMMU_IRQ_GPIO_NAME}`,
  `irq_intercept_in ${SMMU_QOM_PATH}`,
  `set_irq_in ${SMMU_QOM_PATH} x 0 1`,
  'outb 0x10 1',
  'inl 0x10',
  `smmu_dma 8 - ${hex(0x1000)} 16 R`,
  `smmu_dma 8 0 ${hex(0x2000)} 4 W 0x01020304`,
];

/** Words that stress number parsing and argument checks. */
const ODD = [
  '',
  '0',
  '-1',
  '-0x1',
  '0x',
  '0x0x1',
  '0b101',
  '077',
  '089',
  '18446744073709551615',
  '18446744073709551616',
  '0xffffffffffffffff',
  '0x10000000000000000',
  '9007199254740993',
  '1e3',
  ' ',
  '\t',
  '\r',
  'R',
  'W',
  '-',
  'nan',
  'Infinity',
  '0x0905001c',
  '0x40000000',
  '4096',
  '4097',
  '16777216',
  '16777217',
  'AQID====',
  '0xzz',
  'é',
  '\u0000',
];

const wordArb = fc.oneof(
  fc.constantFrom(...ODD),
  fc.nat(0xffff_ffff).map((n) => hex(n)),
  fc.nat(200).map((n) => String(n)),
  fc.string({ maxLength: 12 }).map((s) => s.replace(/\n/g, '')),
);

const mutation = fc.oneof(
  fc.record({ k: fc.constant('drop' as const), i: fc.nat(7) }),
  fc.record({ k: fc.constant('dup' as const), i: fc.nat(7) }),
  fc.record({ k: fc.constant('swap' as const), i: fc.nat(7), j: fc.nat(7) }),
  fc.record({ k: fc.constant('set' as const), i: fc.nat(7), w: wordArb }),
  fc.record({ k: fc.constant('add' as const), i: fc.nat(7), w: wordArb }),
  fc.record({ k: fc.constant('space' as const), i: fc.nat(7) }),
);

function mutate(line: string, muts: Of<typeof mutation>[]): string {
  const w = line.split(' ');
  for (const m of muts) {
    const i = m.i % Math.max(1, w.length);
    if (m.k === 'drop') w.splice(i, 1);
    else if (m.k === 'dup') w.splice(i, 0, w[i] ?? '');
    else if (m.k === 'swap') {
      const j = m.j % Math.max(1, w.length);
      [w[i], w[j]] = [w[j] ?? '', w[i] ?? ''];
    } else if (m.k === 'set') w[i] = m.w;
    else if (m.k === 'add') w.splice(i, 0, m.w);
    else w.splice(i, 0, '');
  }
  return w.join(' ');
}

const lineArb = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...VALID), fc.array(mutation, { maxLength: 3 }))
      .map(([l, m]) => mutate(l, m)),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, '')) },
  {
    weight: 1,
    arbitrary: fc.array(wordArb, { maxLength: 7 }).map((ws) => ws.join(' ')),
  },
);

/** The reply lines of one request: IRQ lines first, then exactly one OK/FAIL/ERR line. */
function checkReply(line: string, out: string): void {
  expect(out.endsWith('\n'), JSON.stringify(line)).toBe(true);
  const lines = out.slice(0, -1).split('\n');
  const replies = lines.filter((l) => !/^IRQ (raise|lower) \d+$/.test(l));
  expect(replies.length, `${JSON.stringify(line)} → ${JSON.stringify(out)}`).toBe(1);
  expect(replies[0], JSON.stringify(line)).toMatch(/^(OK|FAIL|ERR)( |$)/);
}

describe('fuzz: qtest protocol lines', () => {
  it('every line gets exactly one OK/FAIL/ERR reply and the server never throws', () => {
    fc.assert(
      fc.property(fc.array(lineArb, { minLength: 1, maxLength: 20 }), (lines) => {
        const { server } = createQtestServer();
        for (const line of lines) checkReply(line, server.feed(`${line}\n`));
      }),
      { numRuns: 300, seed: 0x18f4, endOnFailure: true },
    );
  });

  it('an unterminated last line is served by end() the same way', () => {
    fc.assert(
      fc.property(
        lineArb.filter((l) => l.length > 0),
        (line) => {
          const { server } = createQtestServer();
          expect(server.feed(line)).toBe('');
          checkReply(line, server.end());
        },
      ),
      { numRuns: 100, seed: 0x18f5 },
    );
  });
});
