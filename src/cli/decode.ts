// `vsmmu decode` (formats.md §3): decodes SMMUv3 structures, commands, event records, registers
// and translation-table descriptors given as hex words, or every arm-smmu-v3 event dump found in a
// Linux kernel log (--dmesg). The parsing and rendering live in src/arch/decode-input.ts and
// src/arch/decode-view.ts so the playground can reuse them; this file only wires commander, files
// and output.

import { readFile } from 'node:fs/promises';
import type { Command } from '@commander-js/extra-typings';
import { parseDmesg, parseWords } from '../arch/decode-input.ts';
import { type DecodeOptions, decodeNamed, formatDecoded } from '../arch/decode-view.ts';
import { VsmmuError } from '../arch/errors.ts';
import { EVENTS, eventStruct } from '../arch/evt.ts';
import { decodedToJson, decodeStruct } from '../arch/fields.ts';

interface DecodeCliOptions {
  json?: boolean;
  granule?: string;
  level?: string;
  ds?: boolean;
  dmesg?: string | true;
}

const GRANULES: Readonly<Record<string, 4096 | 16384 | 65536>> = {
  '4k': 4096,
  '16k': 16384,
  '64k': 65536,
};

function descriptorOptions(o: DecodeCliOptions): DecodeOptions {
  const out: { granule?: 4096 | 16384 | 65536; level?: number; ds?: boolean } = {};
  if (o.granule !== undefined) {
    const g = GRANULES[o.granule.toLowerCase()];
    if (g === undefined) {
      throw new VsmmuError('BAD_ARGUMENT', `--granule '${o.granule}' must be 4k, 16k or 64k`);
    }
    out.granule = g;
  }
  if (o.level !== undefined) {
    if (!/^[0-3]$/.test(o.level) && o.level !== '-1') {
      throw new VsmmuError('BAD_ARGUMENT', `--level '${o.level}' must be -1, 0, 1, 2 or 3`);
    }
    out.level = Number(o.level);
  }
  if (o.ds) out.ds = true;
  return out;
}

async function readLog(source: string): Promise<string> {
  if (source === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(source, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `${code}`;
    throw new VsmmuError('BAD_INPUT', `${source}: cannot read (${why})`);
  }
}

async function runDmesg(source: string, json: boolean): Promise<void> {
  const scan = parseDmesg(await readLog(source));
  const decoded = scan.events.map((e) => ({
    event: e,
    decoded: decodeStruct(eventStruct(e.words[0]), e.words),
  }));
  for (const p of scan.problems) process.stderr.write(`${source}:${p.line}: ${p.message}\n`);
  if (json) {
    const out = {
      format: 'vsmmu.decode-dmesg',
      version: 1,
      events: decoded.map((d) => ({
        line: d.event.line,
        device: d.event.device,
        decode: decodedToJson(d.decoded),
      })),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  if (decoded.length === 0) {
    process.stdout.write('no arm-smmu-v3 event dumps found\n');
    return;
  }
  const parts = decoded.map((d) => {
    const head = `${source}:${d.event.line}: ${d.event.device}: event ${d.decoded.def.title}`;
    const kernel = d.event.summary.map((s) => `kernel: ${s}\n`).join('');
    return `${head}\n${kernel}${formatDecoded(d.decoded)}`;
  });
  process.stdout.write(parts.join('\n'));
}

/** Registers `decode`. */
export function register(program: Command): void {
  program
    .command('decode')
    .description(
      'decode SMMUv3 structures, commands, event records, registers and descriptors from hex ' +
        'words, or the arm-smmu-v3 event dumps in a kernel log (--dmesg)',
    )
    .argument('[structure]', 'ste, cd, l1std, l1cd, cmd, evt, priq, pte-s1, pte-s2 or a register')
    .argument('[words...]', 'hex words, word 0 first (0x…, bare hex, _ separators, commas)')
    .option('--json', 'print the formats.md §3 JSON instead of text')
    .option('--granule <size>', 'pte-s1/pte-s2: translation granule 4k, 16k or 64k')
    .option('--level <n>', 'pte-s1/pte-s2: lookup level of the descriptor')
    .option('--ds', 'pte-s1/pte-s2: 52-bit (LPA2) descriptor forms')
    .option('--dmesg [file]', 'decode every event dump in a kernel log (file, or - for stdin)')
    .addHelpText(
      'after',
      `\nExamples:\n  vsmmu decode ste 0x000000008000000b 0x00000000000000d4\n` +
        `  vsmmu decode cmd 0x0000000100000003,0x1\n  vsmmu decode cr0 0xd\n` +
        `  dmesg | vsmmu decode --dmesg -\nEvent types: ${Object.keys(EVENTS).join(', ')}`,
    )
    .action(async (structure, words, opts) => {
      const json = opts.json === true;
      if (opts.dmesg !== undefined) {
        if (structure !== undefined || words.length > 0) {
          throw new VsmmuError(
            'BAD_ARGUMENT',
            '--dmesg takes a log file, not a structure or words',
          );
        }
        await runDmesg(opts.dmesg === true ? '-' : opts.dmesg, json);
        return;
      }
      if (structure === undefined) {
        throw new VsmmuError(
          'BAD_ARGUMENT',
          'decode needs a structure name and words (or --dmesg)',
        );
      }
      const parsed = parseWords(words);
      if (parsed.length === 0) {
        throw new VsmmuError('BAD_WORD_COUNT', `no words given to decode as ${structure}`);
      }
      const { decoded, notes } = decodeNamed(structure, parsed, descriptorOptions(opts));
      if (json) {
        for (const n of notes) process.stderr.write(`vsmmu: note: ${n}\n`);
        process.stdout.write(`${JSON.stringify(decodedToJson(decoded), null, 2)}\n`);
      } else {
        process.stdout.write(formatDecoded(decoded, notes));
      }
    });
}
