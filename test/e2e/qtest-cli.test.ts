// `vsmmu qtest` as a user runs it: the real CLI (bin/vsmmu.js) in a child process, requests on
// stdin, replies on stdout only, exit codes per formats.md §2. Expected values are the QEMU 10.0.2
// `virt` register values of formats.md §6 and replies derived from the protocol rules.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../../bin/vsmmu.js');

function qtest(args: string[], input: string) {
  const r = spawnSync(process.execPath, [BIN, 'qtest', ...args], {
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('vsmmu qtest (CLI)', () => {
  it('answers a register/memory sequence with replies only', () => {
    const r = qtest(
      [],
      [
        'readl 0x09050000',
        'readl 0x09050014',
        'writel 0x09050020 0xc',
        'readl 0x09050024',
        'writeq 0x40001000 0x0102030405060708',
        'read 0x40001000 8',
        'smmu_dma 0x10 - 0x40001000 8 R', // SMMUEN = 0, GBPA bypass: IOVA = PA
        'smmu_dma 0x10 - 0x40001004 2 W 0xaabb',
        'b64read 0x40001000 8',
        'nonsense',
        '',
      ].join('\n'),
    );
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out.split('\n')).toEqual([
      'OK 0x000000000d44101b',
      'OK 0x0000000000000074',
      'OK',
      'OK 0x000000000000000c',
      'OK',
      'OK 0x0807060504030201',
      'OK 0x0807060504030201',
      'OK',
      `OK ${Buffer.from([8, 7, 6, 5, 0xaa, 0xbb, 2, 1]).toString('base64')}`,
      "FAIL Unknown command 'nonsense'",
      '',
    ]);
  });

  it('prints GERROR interrupts once intercepted (illegal command → CERROR_ILL)', () => {
    const r = qtest(
      [],
      [
        'irq_intercept_out /machine/unattached/device[6] sysbus-irq',
        'writeq 0x09050090 0x41100004', // CMDQ_BASE: 16 entries at 0x4110_0000
        'writel 0x40000000 0',
        'writel 0x09050050 0x1', // IRQ_CTRL.GERROR_IRQEN
        'writel 0x09050020 0x8', // CMDQEN
        'writeq 0x41100000 0xff', // opcode 0xff
        'writel 0x09050098 1', // CMDQ_PROD = 1
        'readl 0x0905009c',
        'readl 0x09050060',
        '',
      ].join('\n'),
    );
    expect(r.code).toBe(0);
    // CONS stays at entry 0 with ERR = CERROR_ILL (1) in bits [30:24]; GERROR.CMDQ_ERR toggles.
    expect(r.out.split('\n')).toEqual([
      'OK',
      'OK',
      'OK',
      'OK',
      'OK',
      'OK',
      'IRQ raise 3',
      'IRQ lower 3',
      'OK',
      'OK 0x0000000001000000',
      'OK 0x0000000000000001',
      '',
    ]);
  });

  it('takes a ~100 KB line and pipelined input', () => {
    const data = Buffer.alloc(75_000, 0x5a);
    const b64 = data.toString('base64');
    expect(b64.length).toBeGreaterThan(99_000);
    const lines = [`b64write 0x40200000 ${data.length} ${b64}`];
    for (let i = 0; i < 2000; i++) lines.push(`readb 0x${(0x40200000 + i * 37).toString(16)}`);
    const r = qtest([], `${lines.join('\n')}\n`);
    expect(r.code).toBe(0);
    const out = r.out.trimEnd().split('\n');
    expect(out.length).toBe(2001);
    expect(out[0]).toBe('OK');
    expect(new Set(out.slice(1))).toEqual(new Set(['OK 0x000000000000005a']));
  });

  it('applies --ram-size and --reg', () => {
    const r = qtest(
      ['--ram-size', '1M', '--reg', 'IDR0=0x0d44101a', '--reg', 'iidr=0x43b'],
      'writel 0x400ffffc 7\nreadl 0x400ffffc\nwritel 0x40100000 7\nreadl 0x40100000\nreadl 0x09050000\nreadl 0x09050018\n',
    );
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual([
      'OK',
      'OK 0x0000000000000007',
      'OK',
      'OK 0x0000000000000000', // beyond 1 MB of RAM: unassigned, RAZ/WI
      'OK 0x000000000d44101a',
      'OK 0x000000000000043b',
      '',
    ]);
  });

  it.each([
    [['--reg', 'FOO=1'], /--reg: 'FOO=1' is not NAME=VALUE/],
    [['--reg', 'IDR0=0x1ffffffff'], /not a 32-bit number/],
    [['--ram-size', 'lots'], /--ram-size: 'lots' is not a size/],
    [['--ram-size', '1000'], /not a positive multiple of 4 KB/],
  ])('bad option %j → exit 2 with one line on stderr', (args, msg) => {
    const r = qtest(args, '');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(msg);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });
});
