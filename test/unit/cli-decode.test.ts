// `vsmmu decode` run in-process through runCli (src/cli/main.ts), with stdout/stderr captured.
// Includes the acceptance example: an S1-translate vSTE with a CD table at 0x80000000 and
// WBRA/ISH CD-fetch attributes, as QEMU and the kernel selftests build it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type CliRun, runCliCaptured } from '../cli-capture.ts';

function run(...argv: string[]): Promise<CliRun> {
  return runCliCaptured(argv);
}

type JsonField = { name: string; raw: string; value: string; meaning: string; word: number };
function field(json: { fields: JsonField[] }, name: string): JsonField {
  const f = json.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name}`);
  return f;
}

describe('vsmmu decode ste (acceptance)', () => {
  it('decodes the example STE as JSON', async () => {
    const r = await run(
      'decode',
      'ste',
      '0x000000008000000b',
      '0x00000000000000d4',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out);
    expect(j.format).toBe('vsmmu.decode');
    expect(j.version).toBe(1);
    expect(j.structure).toBe('ste');
    expect(j.words).toEqual(['0x8000000b', '0xd4', '0x0', '0x0', '0x0', '0x0', '0x0', '0x0']);
    expect(field(j, 'V').raw).toBe('0x1');
    // 0x8000000b: bit 0 = V, bits 3:1 = 0b101.
    expect(field(j, 'Config')).toMatchObject({ raw: '0x5', value: '0x5' });
    expect(field(j, 'Config').meaning).toBe('S1 translate, S2 bypass');
    // Bits 51:6 of 0x8000000b are 0x80000000 >> 6 = 0x2000000; the value is the address.
    expect(field(j, 'S1ContextPtr')).toMatchObject({ raw: '0x2000000', value: '0x80000000' });
    // 0xd4 = 0b11_01_01_00: S1DSS 0, S1CIR 1 (WBRA), S1COR 1 (WBRA), S1CSH 3 (ISH).
    expect(field(j, 'S1CIR').meaning).toMatch(/^WBRA/);
    expect(field(j, 'S1COR').meaning).toMatch(/^WBRA/);
    expect(field(j, 'S1CSH').meaning).toMatch(/^ISH/);
    expect(j.reservedSet).toEqual([]);
    // formats.md §3 shape: exactly these keys.
    expect(Object.keys(j).sort()).toEqual(
      ['fields', 'format', 'reservedSet', 'structure', 'version', 'words'].sort(),
    );
    expect(Object.keys(j.fields[0]).sort()).toEqual(
      ['hi', 'lo', 'meaning', 'name', 'raw', 'value', 'word'].sort(),
    );
  });
  it('text output shows every field with name, value and meaning', async () => {
    const r = await run(
      'decode',
      'ste',
      '0x000000008000000b',
      '0xd4',
      '0',
      '0',
      '0',
      '0',
      '0',
      '0',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Config += 0b101 \(S1 translate, S2 bypass\)/);
    expect(r.out).toMatch(/S1ContextPtr += 0x80000000 \(CD table address\)/);
    expect(r.out).toMatch(/S1CSH += 0b11 \(ISH/);
    expect(r.out).toMatch(/reserved bits: none set/);
    expect(r.out.split('\n').filter((l) => / = /.test(l)).length).toBeGreaterThan(60);
  });
  it('a 2-word vSTE is padded, and the tool says so', async () => {
    const text = await run('decode', 'ste', '0x000000008000000b', '0xd4');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/note: 2 words given \(a vSTE\)/);
    const json = await run('decode', 'ste', '0x000000008000000b,0xd4', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out).words).toHaveLength(8);
    expect(json.err).toMatch(/padded with zeros/);
  });
  it('accepts one concatenated string of 16-digit words', async () => {
    const r = await run('decode', 'ste', '000000008000000b00000000000000d4', '--json');
    expect(r.code).toBe(0);
    expect(field(JSON.parse(r.out), 'S1ContextPtr').value).toBe('0x80000000');
  });
});

describe('other structures', () => {
  it('cmd: CFGI_STE_RANGE with Range 31 is CFGI_ALL', async () => {
    const r = await run('decode', 'cmd', '0x4', '0x1f', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.structure).toBe('cmd.CFGI_ALL');
    expect(field(j, 'Range').meaning).toMatch(/CFGI_ALL/);
  });
  it('cmd: CMD_SYNC with an MSI address', async () => {
    // CS = 1 (bits 13:12), MSIData 0x1234 in bits 63:32; W1 = MSI address 0x8000040.
    const r = await run('decode', 'cmd', '0x0000123400001046', '0x8000040', '--json');
    const j = JSON.parse(r.out);
    expect(j.structure).toBe('cmd.CMD_SYNC');
    expect(field(j, 'CS').meaning).toMatch(/SIG_IRQ/);
    expect(field(j, 'MSIData').raw).toBe('0x1234');
    expect(field(j, 'MSIAddr').value).toBe('0x8000040');
  });
  it('cmd: a reserved opcode flags every other bit as reserved', async () => {
    const r = await run('decode', 'cmd', '0xff14', '0x1', '--json');
    const j = JSON.parse(r.out);
    expect(j.fields.map((f: JsonField) => f.name)).toEqual(['Opcode']);
    expect(j.reservedSet).toEqual([
      { word: 0, mask: '0xff00' },
      { word: 1, mask: '0x1' },
    ]);
  });
  it('evt: F_TRANSLATION', async () => {
    const r = await run(
      'decode',
      'evt',
      '0x0000001000000010',
      '0x0000020800000000',
      '0xdeadb000',
      '0',
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/F_TRANSLATION/);
    expect(r.out).toMatch(/StreamID += 0x10/);
    expect(r.out).toMatch(/RnW += 1 \(read\)/);
    expect(r.out).toMatch(/CLASS += 0b10 \(IN/);
  });
  it('registers: cr0, idr0 (QEMU virt default), eventq_prod and a 64-bit base', async () => {
    const cr0 = await run('decode', 'cr0', '0xd', '--json');
    const j = JSON.parse(cr0.out);
    expect(j.structure).toBe('cr0');
    expect(j.words).toEqual(['0xd']);
    expect(field(j, 'SMMUEN').raw).toBe('0x1');
    expect(field(j, 'EVENTQEN').raw).toBe('0x1');
    expect(field(j, 'CMDQEN').raw).toBe('0x1');
    const idr0 = await run('decode', 'idr0', '0x0d44101b');
    expect(idr0.out).toMatch(/STALL_MODEL += 0b01 \(terminate only\)/);
    expect(idr0.out).toMatch(/TTENDIAN += 0b10 \(little-endian only\)/);
    const prod = await run('decode', 'eventq_prod', '0x80000005', '--json');
    expect(field(JSON.parse(prod.out), 'OVFLG').raw).toBe('0x1');
    const base = await run('decode', 'strtab_base', '0x4000000012340000', '--json');
    expect(field(JSON.parse(base.out), 'ADDR').value).toBe('0x12340000');
    expect(field(JSON.parse(base.out), 'RA').raw).toBe('0x1');
  });
  it('l1std, l1cd, cd and priq', async () => {
    for (const [name, words] of [
      ['l1std', ['0x40001009']],
      ['l1cd', ['0x40002001']],
      ['cd', ['0x80000010', '0x40000000', '0', '0x44ff', '0', '0', '0', '0']],
      ['priq', ['0x8000000000000001', '0x1000']],
    ] as const) {
      const r = await run('decode', name, ...words, '--json');
      expect([name, r.code]).toEqual([name, 0]);
      expect(JSON.parse(r.out).structure).toBe(name);
    }
  });
});

describe('bad input: one stderr line, exit code 2', () => {
  const cases: [string, string[], RegExp][] = [
    ['wrong word count', ['decode', 'cd', '1', '2'], /cd takes 8 words, got 2 words/],
    ['ste with 3 words', ['decode', 'ste', '1', '2', '3'], /ste takes 8 words \(or 2 for a vSTE\)/],
    ['non-hex word', ['decode', 'cr0', 'xyz'], /'xyz' is not a hexadecimal word/],
    ['unknown structure', ['decode', 'frob', '1'], /unknown structure 'frob'/],
    ['register too wide', ['decode', 'cr0', '0x100000000'], /cr0 is a 32-bit register/],
    ['no words', ['decode', 'ste'], /no words given/],
    ['no structure', ['decode'], /needs a structure/],
    ['bad granule', ['decode', 'pte-s1', '3', '--granule', '8k', '--level', '3'], /--granule/],
    ['missing log file', ['decode', '--dmesg', '/nonexistent/x.log'], /x\.log: cannot read/],
  ];
  it.each(cases)('%s', async (_label, argv, message) => {
    const r = await run(...argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});

describe('--dmesg', () => {
  it('reads a file and prints JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vsmmu-dmesg-'));
    const file = join(dir, 'log.txt');
    writeFileSync(
      file,
      [
        'arm-smmu-v3 arm-smmu-v3.0.auto: event 0x04 received:',
        'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000800000004',
        'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000',
        'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000',
        'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000',
      ].join('\n'),
    );
    const r = await run('decode', '--dmesg', file, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ format: 'vsmmu.decode-dmesg', version: 1 });
    expect(j.events).toHaveLength(1);
    expect(j.events[0]).toMatchObject({ line: 1, device: 'arm-smmu-v3.0.auto' });
    expect(j.events[0].decode.structure).toBe('evt.C_BAD_STE');
    expect(field(j.events[0].decode, 'StreamID').raw).toBe('0x8');
  });
  it('--dmesg with structure arguments is a usage error', async () => {
    const r = await run('decode', 'ste', '--dmesg', 'x');
    expect(r.code).toBe(2);
  });
});

describe('pte-s1 / pte-s2 (descriptor tables from src/arch/pte.ts)', () => {
  it('a 4KB level-3 stage-1 page descriptor', async () => {
    // 0x0040000040000703: bits[1:0] = 0b11 (valid page), SH bits[9:8] = 0b11, AF bit 10,
    // output address bits[47:12] = 0x40000000, UXN bit 54.
    const r = await run(
      'decode',
      'pte-s1',
      '0x0040000040000703',
      '--granule',
      '4k',
      '--level',
      '3',
      '--json',
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.structure).toMatch(/page/);
    expect(field(j, 'AF').raw).toBe('0x1');
    expect(field(j, 'UXN').raw).toBe('0x1');
    expect(field(j, 'OA').value).toBe('0x40000000');
  });
  it('a stage-2 table descriptor at level 1', async () => {
    const r = await run('decode', 'pte-s2', '0x40000000003', '--granule', '4k', '--level', '1');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/table descriptor/);
  });
  it('needs --granule and --level; rejects a level the granule does not have', async () => {
    const a = await run('decode', 'pte-s1', '0x3');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/needs --granule/);
    const b = await run('decode', 'pte-s1', '0x1', '--granule', '64k', '--level', '-1');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/pte-s1: .*level -1/);
    const c = await run('decode', 'pte-s2', '0x1', '--granule', '4k', '--level', '7');
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/--level '7'/);
  });
});

describe('the installed entry point', () => {
  it('reads a kernel log from stdin with --dmesg -', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = join(import.meta.dirname, '../../bin/vsmmu.js');
    const log = [
      'arm-smmu-v3 smmu: event 0x06 received:',
      'arm-smmu-v3 smmu: \t0x0000000300000006',
      'arm-smmu-v3 smmu: \t0x0000000000000000',
      'arm-smmu-v3 smmu: \t0x0000000000000000',
      'arm-smmu-v3 smmu: \t0x0000000000000000',
    ].join('\n');
    const r = spawnSync(process.execPath, [bin, 'decode', '--dmesg', '-', '--json'], {
      input: log,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.events[0].decode.structure).toBe('evt.F_STREAM_DISABLED');
    expect(j.events[0].device).toBe('smmu');
  });
});
