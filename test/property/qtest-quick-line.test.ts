// The qtest server's char-code quick path (QtestServer.quickLine, src/devices/qtest.ts) against its
// general parser (`quickPath = false`: split at spaces, bigint strtoull, the path checked against
// QEMU 10.0.2 by test/oracle). Two servers get the same random request sequences — sized reads and
// writes, `read`, `smmu_dma`, with numbers spelled in all three strtoull bases, with leading
// zeros, out of range, or malformed — and must give the same output, byte for byte (IRQ lines
// included), and end with the same RAM and register contents.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createQtestServer, SMMU_IRQ_GPIO_NAME, SMMU_QOM_PATH } from '../../src/devices/qtest.ts';
import { VIRT_RAM_BASE, VIRT_SMMU_BASE } from '../../src/devices/virt.ts';

const RAM = VIRT_RAM_BASE;
const SMMU = VIRT_SMMU_BASE;
const RAM_SIZE = 1 << 20;

/** Addresses that sit on the machine's region edges, plus the registers the set-up uses. */
const ADDRS: bigint[] = [
  0n,
  0x1000n,
  BigInt(RAM - 4),
  BigInt(RAM - 1),
  BigInt(RAM),
  BigInt(RAM + 1),
  BigInt(RAM + 2),
  BigInt(RAM + 0x10000),
  BigInt(RAM + 0x10ffc),
  BigInt(RAM + RAM_SIZE - 4),
  BigInt(RAM + RAM_SIZE - 1),
  BigInt(RAM + RAM_SIZE),
  BigInt(SMMU),
  BigInt(SMMU + 0x20),
  BigInt(SMMU + 0x24),
  BigInt(SMMU + 0x44),
  BigInt(SMMU + 0x1_00a8),
  BigInt(SMMU + 0x1_00ac),
  BigInt(SMMU + 0x2_0000 - 4),
  BigInt(SMMU + 0x2_0000),
  0x0c00_0000n,
  2n ** 53n - 8n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 64n - 4n,
  2n ** 64n - 1n,
];

/** A u64 spelled as strtoull reads it: hex (either case), octal or decimal, with leading zeros. */
const spell = (v: bigint) =>
  fc
    .tuple(fc.integer({ min: 0, max: 3 }), fc.nat(3))
    .map(([k, z]) =>
      k === 0
        ? `0x${'0'.repeat(z)}${v.toString(16)}`
        : k === 1
          ? `0X${'0'.repeat(z)}${v.toString(16).toUpperCase()}`
          : k === 2
            ? `0${'0'.repeat(z)}${v.toString(8)}`
            : v.toString(10),
    );

/** Words the general parser treats specially or rejects. */
const ODD = ['', '-1', '+4', '0x', '08', '1e3', ' ', '\t1', 'R', 'W', '-', 'x', '0x0x1'];

const addrWord = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ADDRS).chain(spell) },
  {
    weight: 2,
    arbitrary: fc.bigInt({ min: BigInt(RAM), max: BigInt(RAM + 0x2000) }).chain(spell),
  },
  { weight: 1, arbitrary: fc.constantFrom(...ODD) },
);
const valueWord = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: 0n, max: 0xffff_ffffn }).chain(spell) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).chain(spell) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD) },
);
const lenWord = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(1n, 2n, 3n, 4n, 16n, 64n, 4096n).chain(spell) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 4097n, 16777217n, 2n ** 64n - 1n).chain(spell) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD) },
);
const sidWord = fc.oneof(
  fc.constantFrom(0n, 1n, 15n, 16n, 0xffff_ffffn, 0x1_0000_0000n).chain(spell),
  fc.constantFrom(...ODD),
);
const ssidWord = fc.oneof(
  { weight: 3, arbitrary: fc.constant('-') },
  { weight: 1, arbitrary: fc.constantFrom(0n, 5n, 0xf_ffffn, 0x10_0000n).chain(spell) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD) },
);

/** Words joined by single spaces, sometimes with a stray extra word or separator. */
const join = (words: fc.Arbitrary<string[]>) =>
  fc
    .tuple(words, fc.constantFrom('', '', '', ' ', '  ', ' x', '\r'))
    .map(([w, tail]) => w.join(' ') + tail);

const line = fc.oneof(
  join(fc.tuple(fc.constantFrom('readb', 'readw', 'readl', 'readq', 'readx', 'read'), addrWord)),
  join(fc.tuple(fc.constantFrom('read', 'b64read'), addrWord, lenWord)),
  join(fc.tuple(fc.constantFrom('writeb', 'writew', 'writel', 'writeq'), addrWord, valueWord)),
  join(
    fc.tuple(
      fc.constant('smmu_dma'),
      sidWord,
      ssidWord,
      addrWord,
      lenWord,
      fc.constantFrom('R', 'W', 'r', 'RR'),
    ),
  ),
  join(fc.tuple(fc.constant('smmu_dma'), sidWord, ssidWord, addrWord, lenWord)),
  // Well-formed DMA reads around the argument limits (SID 32 bits, SSID 20 bits, LEN 1..4096).
  fc
    .tuple(
      fc.constantFrom(0n, 16n, 0xffff_ffffn, 0x1_0000_0000n).chain(spell),
      fc.oneof(fc.constant('-'), fc.constantFrom(0n, 0xf_ffffn, 0x10_0000n).chain(spell)),
      fc.bigInt({ min: BigInt(RAM - 0x10), max: BigInt(RAM + 0x2000) }).chain(spell),
      fc.constantFrom(0n, 1n, 64n, 4096n, 4097n).chain(spell),
    )
    .map((w) => `smmu_dma ${w.join(' ')} R`),
  fc.constantFrom(
    'readl',
    'read',
    'writel',
    'smmu_dma',
    'writel 0x40000000',
    'read 0x40000000',
    'readlx 0x40000000',
    'smmu_dmax 1 - 0 4 R',
  ),
);

/**
 * SMMU set-ups: left at reset (bypass), GBPA aborting, or enabled with an event queue, a
 * zeroed stream table (every StreamID → C_BAD_STE) and the Event-queue interrupt intercepted.
 */
const SETUPS: string[][] = [
  [],
  [`writel ${SMMU + 0x44} 0x80100000`],
  [
    `irq_intercept_out ${SMMU_QOM_PATH} ${SMMU_IRQ_GPIO_NAME}`,
    `writeq 0x${(SMMU + 0xa0).toString(16)} 0x${(RAM + 0x10000 + 4).toString(16)}`,
    `writeq 0x${(SMMU + 0x80).toString(16)} 0x${(RAM + 0x20000).toString(16)}`,
    `writel 0x${(SMMU + 0x88).toString(16)} 4`,
    `writel 0x${(SMMU + 0x50).toString(16)} 4`,
    `writel 0x${(SMMU + 0x20).toString(16)} 5`,
  ],
];

function servers() {
  const a = createQtestServer({ ramSize: RAM_SIZE });
  const b = createQtestServer({ ramSize: RAM_SIZE });
  b.server.quickPath = false;
  return [a, b] as const;
}

/** RAM and registers as both servers' general parser reads them. */
function snapshot(s: ReturnType<typeof createQtestServer>): string {
  s.server.quickPath = false;
  let out = '';
  for (const [at, n] of [
    [RAM - 8, 0x3008],
    [RAM + 0x10000, 0x1000],
    [RAM + 0x20000, 0x100],
    [RAM + RAM_SIZE - 0x10, 0x18],
  ] as const) {
    out += s.server.exec(`read 0x${at.toString(16)} ${n}`);
  }
  for (const off of [0x20, 0x24, 0x44, 0x50, 0xa0, 0xa4, 0x1_00a8, 0x1_00ac]) {
    out += s.server.exec(`readl 0x${(SMMU + off).toString(16)}`);
  }
  return out;
}

describe('qtest quick path', () => {
  it('answers every request exactly as the general parser does, with the same effects', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SETUPS.length - 1 }),
        fc.array(line, { minLength: 1, maxLength: 40 }),
        (setup, lines) => {
          const [a, b] = servers();
          for (const l of [...(SETUPS[setup] as string[]), ...lines]) {
            expect(a.server.exec(l), l).toBe(b.server.exec(l));
          }
          expect(a.server.requests).toBe(b.server.requests);
          expect(snapshot(a)).toBe(snapshot(b));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('serves the hot requests through the quick path with the general parser’s replies', () => {
    // The same lines as the bench's DMA loop and the oracle rig's register traffic.
    const [a, b] = servers();
    const lines = [
      ...(SETUPS[2] as string[]),
      `writel 0x${RAM.toString(16)} 0xdeadbeef`,
      `read 0x${RAM.toString(16)} 8`,
      `readw 0x${(RAM + 1).toString(16)}`,
      `readb 0${(RAM + 3).toString(8)}`,
      `readl ${RAM}`,
      `readl 0x${(SMMU + 0x1_00a8).toString(16)}`,
      `smmu_dma 16 - 0x${RAM.toString(16)} 64 R`,
      `smmu_dma 16 5 0x${RAM.toString(16)} 64 R`,
      `readl 0x${(SMMU + 0x1_00a8).toString(16)}`,
    ];
    for (const l of lines) expect(a.server.exec(l), l).toBe(b.server.exec(l));
  });
});
