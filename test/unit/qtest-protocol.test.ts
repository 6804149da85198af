// The qtest line protocol server (src/devices/qtest.ts) against independent references: C's own
// strtoull (a small program compiled with the system cc), Node's Buffer codecs for hex/base64,
// and the reply formats of QEMU 10.0.2 system/qtest.c (`OK 0x%016x`, `OK 0x<hex>`, `OK <b64>`,
// `FAIL Unknown command '<cmd>'`, `ERR invalid argument size`), with expected bytes derived here
// from the rules written out in each test. The QEMU replay itself is test/oracle.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fromBase64,
  parseStrtoull,
  QtestServer,
  SMMU_QOM_PATH,
  toBase64,
  toHex,
} from '../../src/devices/qtest.ts';
import {
  type DmaTranslator,
  type MmioDevice,
  VIRT_RAM_BASE,
  VIRT_SMMU_BASE,
  VirtMachine,
} from '../../src/devices/virt.ts';
import type { TranslateRequest, TranslateResult } from '../../src/smmu/types.ts';

/** A register file that remembers 4/8-byte accesses (stands in for the SMMU). */
class FakeRegs implements MmioDevice {
  readonly regs = new Map<number, bigint>();
  readonly log: string[] = [];
  mmioRead(offset: number, size: 4 | 8): bigint {
    this.log.push(`r${size}@${offset.toString(16)}`);
    return this.regs.get(offset) ?? BigInt(offset + 0x1000);
  }
  mmioWrite(offset: number, size: 4 | 8, value: bigint): void {
    this.log.push(`w${size}@${offset.toString(16)}=${value.toString(16)}`);
    this.regs.set(offset, value);
  }
}

function server(ramSize?: number): { q: QtestServer; m: VirtMachine; regs: FakeRegs } {
  const m = new VirtMachine(ramSize === undefined ? {} : { ramSize });
  const regs = new FakeRegs();
  m.smmu = regs;
  return { q: new QtestServer(m), m, regs };
}

const run = (q: QtestServer, line: string): string => q.exec(line).replace(/\n$/, '');

describe('number parsing (C strtoull, base 0, whole word)', () => {
  let dir = '';
  let cBin = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vsmmu-strtoull-'));
    const src = join(dir, 'p.c');
    // Reads one word per line; prints the value, or ERR when strtoull fails the way QEMU's
    // qemu_strtou64 checks it (ERANGE, no digits consumed, or characters left over).
    writeFileSync(
      src,
      [
        '#include <stdio.h>',
        '#include <stdlib.h>',
        '#include <string.h>',
        '#include <errno.h>',
        'int main(void){ char line[256];',
        ' while (fgets(line, sizeof line, stdin)) { line[strcspn(line, "\\n")] = 0;',
        '  char *end; errno = 0; unsigned long long v = strtoull(line, &end, 0);',
        '  if (errno || end == line || *end) puts("ERR"); else printf("%llu\\n", v); }',
        ' return 0; }',
      ].join('\n'),
    );
    cBin = join(dir, 'p');
    execFileSync('cc', ['-O1', '-o', cBin, src]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function viaC(words: string[]): string[] {
    const out = execFileSync(cBin, { input: `${words.join('\n')}\n`, encoding: 'utf8' });
    return out.trimEnd().split('\n');
  }
  const viaModel = (w: string): string => parseStrtoull(w)?.toString() ?? 'ERR';

  it('agrees with C on hand-picked words', () => {
    const words = [
      '0',
      '0x',
      '0x1g',
      '0X1F',
      '010',
      '08',
      '+5',
      '-1',
      '-0x10',
      ' 7',
      '\t0x10',
      '18446744073709551615',
      '18446744073709551616',
      '0xffffffffffffffff',
      '0x10000000000000000',
      '01777777777777777777777',
      '02000000000000000000000',
      '-18446744073709551615',
      '1 ',
      '',
      '+',
      '-',
      '0x+1',
      '--1',
    ];
    expect(words.map(viaModel)).toEqual(viaC(words));
  });

  it('agrees with C on random words', () => {
    const word = fc
      .array(fc.constantFrom(...' \t+-0123456789aAbcdEfFxX8'.split('')), { maxLength: 24 })
      .map((a) => a.join(''));
    const words = fc.sample(fc.array(word, { minLength: 400, maxLength: 400 }), {
      numRuns: 1,
      seed: 4242,
    })[0] as string[];
    expect(words.map(viaModel)).toEqual(viaC(words));
  });
});

describe('codecs', () => {
  it('hex and base64 match Node Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(toHex(b)).toBe(Buffer.from(b).toString('hex'));
        expect(toBase64(b)).toBe(Buffer.from(b).toString('base64'));
        expect([...fromBase64(Buffer.from(b).toString('base64'))]).toEqual([...b]);
      }),
      { seed: 7, numRuns: 300 },
    );
  });
  it('base64 decoding skips characters outside the alphabet', () => {
    expect([...fromBase64('AA\u00e9EC!')]).toEqual([0, 1, 2]);
  });
});

describe('memory commands on RAM', () => {
  it('sized writes and reads, little-endian, value truncated to the size', () => {
    const { q } = server();
    const a = VIRT_RAM_BASE + 0x100000;
    expect(run(q, `writeq 0x${a.toString(16)} 0x1122334455667788`)).toBe('OK');
    expect(run(q, `readq 0x${a.toString(16)}`)).toBe('OK 0x1122334455667788');
    expect(run(q, `readl 0x${(a + 4).toString(16)}`)).toBe('OK 0x0000000011223344');
    expect(run(q, `readw 0x${(a + 1).toString(16)}`)).toBe('OK 0x0000000000006677');
    expect(run(q, `readb 0x${(a + 7).toString(16)}`)).toBe('OK 0x0000000000000011');
    // writel of -1: strtoull gives 2^64-1, the u32 store keeps 0xffffffff.
    expect(run(q, `writel 0x${a.toString(16)} -1`)).toBe('OK');
    expect(run(q, `readq 0x${a.toString(16)}`)).toBe('OK 0x11223344ffffffff');
    expect(run(q, `writeb ${a} 0x1ab`)).toBe('OK');
    expect(run(q, `readb ${a}`)).toBe('OK 0x00000000000000ab');
    expect(run(q, `writew 0${a.toString(8)} 0xbeef`)).toBe('OK');
    expect(run(q, `readw 0x${a.toString(16)}`)).toBe('OK 0x000000000000beef');
  });

  it('read/write/b64read/b64write/memset', () => {
    const { q } = server();
    const a = `0x${(VIRT_RAM_BASE + 0x2000).toString(16)}`;
    expect(run(q, `write ${a} 4 0xAbCd`)).toBe('OK'); // short data: zero-filled
    expect(run(q, `read ${a} 4`)).toBe('OK 0xabcd0000');
    // QEMU's hex2nib gives -1 for a non-digit: (−1 << 4 | 1) & 0xff = 0xf1, (−1<<4 | −1) = 0xff.
    expect(run(q, `write ${a} 3 0xz1zz12`)).toBe('OK');
    expect(run(q, `read ${a} 3`)).toBe('OK 0xf1ff12');
    expect(run(q, `write ${a} 2 0x`)).toBe('ERR invalid argument size');
    expect(run(q, `b64write ${a} 4 AAECAw==`)).toBe('OK');
    expect(run(q, `b64read ${a} 5`)).toBe(`OK ${Buffer.from([0, 1, 2, 3, 0]).toString('base64')}`);
    // Told 6 bytes, 3 decoded: the model zero-fills the rest.
    expect(run(q, `b64write ${a} 6 AAEC`)).toBe('OK');
    expect(run(q, `read ${a} 6`)).toBe('OK 0x000102000000');
    // Told 2 bytes, 4 decoded: truncated.
    expect(run(q, `b64write ${a} 2 CQkJCQ==`)).toBe('OK');
    expect(run(q, `read ${a} 4`)).toBe('OK 0x09090200'); // byte 2 is left from before
    expect(run(q, `b64write ${a} 1 AA`)).toBe('ERR invalid argument size');
    expect(run(q, `b64read ${a} 0`)).toBe('OK ');
    expect(run(q, `memset ${a} 3 0x1ff`)).toBe('OK');
    expect(run(q, `read ${a} 4`)).toBe('OK 0xffffff00');
    expect(run(q, `memset ${a} 0 7`)).toBe('OK');
    expect(run(q, 'endianness')).toBe('OK little');
  });

  it('accesses straddling the end of RAM are split per byte region', () => {
    const { q } = server(0x10000);
    const end = VIRT_RAM_BASE + 0x10000;
    expect(run(q, `write 0x${(end - 2).toString(16)} 4 0x11223344`)).toBe('OK');
    expect(run(q, `read 0x${(end - 2).toString(16)} 4`)).toBe('OK 0x11220000');
    expect(run(q, `readl 0x${(end - 3).toString(16)}`)).toBe('OK 0x0000000000221100');
    expect(run(q, `readq 0x${end.toString(16)}`)).toBe('OK 0x0000000000000000');
  });

  it('unassigned space is RAZ/WI, up to the top of the 64-bit space', () => {
    const { q } = server();
    for (const a of ['0x0c000000', '0x2000000000000', '0xfffffffffffffffc']) {
      expect(run(q, `writeq ${a} 0x55`)).toBe('OK');
      expect(run(q, `readq ${a}`)).toBe('OK 0x0000000000000000');
    }
    expect(run(q, 'readq 0xffffffffffffffff')).toBe('OK 0x0000000000000000');
    expect(run(q, 'memset 0 0xffffffffffffffff 0')).toBe('OK');
  });
});

describe('SMMU frame accesses (QEMU memory_access_size rules, valid sizes 4..8)', () => {
  it('aligned 4/8-byte accesses reach the device; smaller or misaligned ones do not', () => {
    const { q, regs } = server();
    const s = (o: number) => `0x${(VIRT_SMMU_BASE + o).toString(16)}`;
    expect(run(q, `readl ${s(0)}`)).toBe('OK 0x0000000000001000');
    expect(run(q, `readq ${s(0x80)}`)).toBe('OK 0x0000000000001080');
    expect(run(q, `readb ${s(0)}`)).toBe('OK 0x0000000000000000');
    expect(run(q, `readw ${s(4)}`)).toBe('OK 0x0000000000000000');
    expect(run(q, `readl ${s(2)}`)).toBe('OK 0x0000000000000000');
    expect(run(q, `writeb ${s(0x20)} 0xff`)).toBe('OK');
    expect(regs.log).toEqual(['r4@0', 'r8@80']);
    // An 8-byte access at a 4-aligned offset becomes two 4-byte accesses (low half first).
    regs.log.length = 0;
    // Low half from offset 0xfffc (reads 0xfffc + 0x1000), high half from 0x10000.
    const want = (0x11000n << 32n) | 0x10ffcn;
    expect(run(q, `readq ${s(0xfffc)}`)).toBe(`OK 0x${want.toString(16).padStart(16, '0')}`);
    expect(regs.log).toEqual(['r4@fffc', 'r4@10000']);
    regs.log.length = 0;
    expect(run(q, `writeq ${s(0x24)} 0x1122334455667788`)).toBe('OK');
    expect(regs.log).toEqual(['w4@24=55667788', 'w4@28=11223344']);
    regs.log.length = 0;
    expect(run(q, `read ${s(0x10)} 16`)).toBe(
      `OK 0x${toHex(
        Uint8Array.from([
          ...le(0x1010n, 8), // offset 0x10 is 16-aligned: one 8-byte access
          ...le(0x1018n, 8),
        ]),
      )}`,
    );
    expect(regs.log).toEqual(['r8@10', 'r8@18']);
  });
  it('the frame ends after page 1', () => {
    const { q, regs } = server();
    expect(run(q, `readl 0x${(VIRT_SMMU_BASE + 0x20000).toString(16)}`)).toBe(
      'OK 0x0000000000000000',
    );
    expect(regs.log).toEqual([]);
  });
});

function le(v: bigint, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}

describe('malformed lines answer FAIL and the server goes on', () => {
  it.each([
    ['', 'FAIL empty command'],
    ['readl', 'FAIL missing address'],
    ['readl  0x40000000', "FAIL bad address ''"],
    ['readl 0x', "FAIL bad address '0x'"],
    ['readl 0x10000000000000000', "FAIL bad address '0x10000000000000000'"],
    ['readl 0x40000000\r', "FAIL bad address '0x40000000\r'"],
    ['read 0x40000000 0', 'FAIL zero size'],
    ['write 0x40000000 2', 'FAIL missing data'],
    ['irq_intercept_out', 'FAIL missing QOM path'],
    ['foo', "FAIL Unknown command 'foo'"],
    ['FOO bar', "FAIL Unknown command 'FOO'"],
    ['clock_step', "FAIL Unknown command 'clock_step'"],
    ['read 0x40000000 0x2000000', "FAIL size 33554432 above the model's limit of 16777216"],
  ])('%j → %j', (line, reply) => {
    const { q } = server();
    expect(run(q, line)).toBe(reply);
    expect(run(q, 'endianness')).toBe('OK little');
  });
  it('extra words after a complete request are ignored (as QEMU does)', () => {
    const { q } = server();
    expect(run(q, 'readl 0x40000000 junk')).toBe('OK 0x0000000000000000');
  });
  it('I/O ports read all-ones (no port space on virt)', () => {
    const { q } = server();
    expect(run(q, 'inb 0x10')).toBe('OK 0x00ff');
    expect(run(q, 'inl 0x10')).toBe('OK 0xffffffff');
    expect(run(q, 'outw 0x10 1')).toBe('OK');
    expect(run(q, 'outw 0x10000 1')).toBe('FAIL port above 0xffff');
  });
});

describe('interrupt interception', () => {
  it('IRQ lines appear only after irq_intercept_out, only on a level change, before the reply', () => {
    const { q, m } = server();
    const irqDev: MmioDevice = {
      mmioRead: () => 0n,
      mmioWrite: (off) => {
        if (off === 0x100) q.pulseIrq(3);
        if (off === 0x104) q.setIrq(0, true);
      },
    };
    m.smmu = irqDev;
    const w = (o: number) => `writel 0x${(VIRT_SMMU_BASE + o).toString(16)} 1`;
    expect(q.exec(w(0x100))).toBe('OK\n');
    expect(q.exec('irq_intercept_out /nope')).toBe('FAIL Unknown device\n');
    expect(q.exec(`irq_intercept_out ${SMMU_QOM_PATH}`)).toBe('FAIL No intercepts installed\n');
    expect(q.exec(`irq_intercept_out ${SMMU_QOM_PATH} sysbus-irq`)).toBe('OK\n');
    expect(q.exec(`irq_intercept_out ${SMMU_QOM_PATH} sysbus-irq`)).toBe('OK\n');
    expect(q.exec(w(0x100))).toBe('IRQ raise 3\nIRQ lower 3\nOK\n');
    expect(q.exec(w(0x104))).toBe('IRQ raise 0\nOK\n');
    expect(q.exec(w(0x104))).toBe('OK\n');
  });
  it('feed() splits input on newlines and keeps a partial line', () => {
    const { q } = server();
    expect(q.feed('endianness\nendi')).toBe('OK little\n');
    expect(q.feed('anness\n\n')).toBe('OK little\nFAIL empty command\n');
    expect(q.feed('endianness')).toBe('');
    expect(q.end()).toBe('OK little\n');
  });
});

/** Maps IOVA pages to PA pages; unmapped pages fault. Records every translate() call. */
class PageMap implements DmaTranslator {
  readonly calls: TranslateRequest[] = [];
  private readonly pages: Map<bigint, bigint>;
  constructor(pages: Map<bigint, bigint>) {
    this.pages = pages;
  }
  translate(req: TranslateRequest): TranslateResult {
    this.calls.push(req);
    const pa = this.pages.get(req.iova >> 12n);
    return pa === undefined
      ? { ok: false }
      : { ok: true, pa: (pa << 12n) | (req.iova & 0xfffn), attrs: {} };
  }
}

describe('smmu_dma extension', () => {
  const ram = BigInt(VIRT_RAM_BASE);
  function dmaServer(): { q: QtestServer; t: PageMap } {
    const { q } = server();
    // IOVA page 0x10 → RAM page 0x300, page 0x11 → RAM page 0x100 (not contiguous), 0x12 unmapped.
    const t = new PageMap(
      new Map([
        [0x10n, (ram >> 12n) + 0x300n],
        [0x11n, (ram >> 12n) + 0x100n],
      ]),
    );
    q.translator = t;
    return { q, t };
  }

  it('writes and reads across a 4 KB boundary as two transactions', () => {
    const { q, t } = dmaServer();
    const data = Array.from({ length: 8 }, (_, i) => i + 0xa0);
    const hex = toHex(Uint8Array.from(data));
    expect(run(q, `smmu_dma 0x10 - 0x10ffc 8 W 0x${hex.toUpperCase()}`)).toBe('OK');
    expect(t.calls.map((c) => [c.sid, c.ssid, c.iova, c.access])).toEqual([
      [0x10, undefined, 0x10ffcn, 'write'],
      [0x10, undefined, 0x11000n, 'write'],
    ]);
    const pa1 = ram + 0x300000n + 0xffcn;
    const pa2 = ram + 0x100000n;
    expect(run(q, `read 0x${pa1.toString(16)} 4`)).toBe(`OK 0x${hex.slice(0, 8)}`);
    expect(run(q, `read 0x${pa2.toString(16)} 4`)).toBe(`OK 0x${hex.slice(8)}`);
    expect(run(q, 'smmu_dma 16 5 0x10ffc 8 R')).toBe(`OK 0x${hex}`);
    expect(t.calls.at(-1)).toMatchObject({ ssid: 5, iova: 0x11000n, access: 'read' });
  });

  it('the first terminated transaction ends the DMA with FAIL fault; earlier ones happened', () => {
    const { q, t } = dmaServer();
    expect(run(q, `smmu_dma 0x10 - 0x11ffe 4 W 0x01020304`)).toBe('FAIL fault');
    expect(t.calls.length).toBe(2);
    expect(run(q, `read 0x${(ram + 0x100ffen).toString(16)} 2`)).toBe('OK 0x0102');
    expect(run(q, 'smmu_dma 0x10 - 0x12000 1 R')).toBe('FAIL fault');
  });

  it('a 4096-byte DMA at an unaligned IOVA is two transactions; LEN beyond 4096 is refused', () => {
    const { q, t } = dmaServer();
    expect(run(q, 'smmu_dma 0x10 - 0x10800 4096 R')).toMatch(/^OK 0x[0-9a-f]{8192}$/);
    expect(t.calls.map((c) => c.iova)).toEqual([0x10800n, 0x11000n]);
    expect(run(q, 'smmu_dma 0x10 - 0x10000 4097 R')).toBe('FAIL LEN 4097 outside 1..4096');
    expect(run(q, 'smmu_dma 0x10 - 0x10000 0 R')).toBe('FAIL LEN 0 outside 1..4096');
  });

  it.each([
    [
      'smmu_dma 0x10 - 0x10000 2 W 0x123',
      'FAIL W data must be 0x followed by exactly 4 hex digits',
    ],
    [
      'smmu_dma 0x10 - 0x10000 2 W 0x12345',
      'FAIL W data must be 0x followed by exactly 4 hex digits',
    ],
    [
      'smmu_dma 0x10 - 0x10000 2 W 0x12zz',
      'FAIL W data must be 0x followed by exactly 4 hex digits',
    ],
    ['smmu_dma 0x10 - 0x10000 2 W', 'FAIL W data must be 0x followed by exactly 4 hex digits'],
    ['smmu_dma 0x10 - 0x10000 2 R 0x1234', 'FAIL R takes no data'],
    ['smmu_dma 0x10 - 0x10000 2 X', "FAIL direction 'X' is not R or W"],
    ['smmu_dma 0x10 0x100000 0x10000 2 R', 'FAIL SSID 1048576 above 20 bits'],
    ['smmu_dma 0x100000000 - 0x10000 2 R', 'FAIL SID 4294967296 above 32 bits'],
    ['smmu_dma 0x10 - 0xffffffffffffffff 2 R', 'FAIL IOVA range passes 2^64'],
    ['smmu_dma 0x10 - 0x10000', 'FAIL usage: smmu_dma SID SSID IOVA LEN R|W [0xHEX]'],
  ])('%j → %j', (line, reply) => {
    const { q, t } = dmaServer();
    expect(run(q, line)).toBe(reply);
    expect(t.calls).toEqual([]);
  });

  it('without an SMMU the DMA fails', () => {
    const { q } = server();
    expect(run(q, 'smmu_dma 0x10 - 0x10000 2 R')).toBe('FAIL no SMMU');
  });
});
