// `vsmmu qtest` (formats.md §6): serves QEMU 10.0.2's qtest line protocol (system/qtest.c) on
// stdin/stdout for a `virt` machine with the SMMUv3 model, plus the `smmu_dma` extension, so a
// register/memory sequence written for QEMU replays unchanged against the model. stdout carries
// replies and `IRQ raise|lower N` lines only. Option values use the qtest number rule (strtoull
// base 0); sizes may end in K, M or G like QEMU's `-m`.
import type { Command } from '@commander-js/extra-typings';
import { VsmmuError } from '../arch/errors.ts';
import { createQtestServer, parseStrtoull } from '../devices/qtest.ts';
import { VIRT_DEFAULT_RAM_SIZE } from '../devices/virt.ts';
import type { IdRegisters } from '../smmu/features.ts';

/** Registers that `--reg NAME=VALUE` can set. */
const REG_NAMES = ['IDR0', 'IDR1', 'IDR2', 'IDR3', 'IDR4', 'IDR5', 'AIDR', 'IIDR', 'GBPA'] as const;
type RegName = (typeof REG_NAMES)[number];

function u32(text: string, what: string): number {
  const v = parseStrtoull(text);
  if (v === undefined || v > 0xffff_ffffn) {
    throw new VsmmuError('BAD_ARGUMENT', `${what}: '${text}' is not a 32-bit number`);
  }
  return Number(v);
}

/** Parses a RAM size: a qtest number of bytes, optionally followed by K, M or G (binary units). */
export function parseRamSize(text: string): number {
  const m = /^(.*?)([KMG])?$/i.exec(text.trim()) as RegExpExecArray;
  const v = parseStrtoull(m[1] ?? '');
  const unit = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[(m[2] ?? '').toUpperCase()] ?? 1;
  if (v === undefined || v === 0n || v * BigInt(unit) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VsmmuError('BAD_ARGUMENT', `--ram-size: '${text}' is not a size (e.g. 256M)`);
  }
  return Number(v) * unit;
}

/** Parses `NAME=VALUE` register overrides into a map (later ones win). */
export function parseRegOverrides(items: readonly string[]): Map<RegName, number> {
  const out = new Map<RegName, number>();
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).toUpperCase();
    if (eq < 0 || !(REG_NAMES as readonly string[]).includes(name)) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        `--reg: '${item}' is not NAME=VALUE with NAME one of ${REG_NAMES.join(', ')}`,
      );
    }
    out.set(name as RegName, u32(item.slice(eq + 1), `--reg ${name}`));
  }
  return out;
}

/** Registers `qtest`. */
export function register(program: Command): void {
  program
    .command('qtest')
    .description(
      "serve QEMU's qtest protocol on stdin/stdout for a virt machine with the SMMUv3 model " +
        '(plus `smmu_dma SID SSID|- IOVA LEN R|W [0xHEX]`)',
    )
    .option('--ram-size <size>', 'RAM at 0x40000000, e.g. 256M, 1G or a byte count', '256M')
    .option(
      '--reg <NAME=VALUE>',
      `override an ID/reset register (${REG_NAMES.join(', ')}); repeatable`,
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option(
      '--qemu-page-alias',
      'decode the register pages like QEMU (page 1 aliases page 0; queue pointers also in page 0)',
    )
    .action(async (opts) => {
      const ramSize = parseRamSize(opts.ramSize ?? String(VIRT_DEFAULT_RAM_SIZE));
      const regs = parseRegOverrides(opts.reg);
      const idr: Partial<Record<keyof IdRegisters, number>> = {};
      for (const [name, v] of regs) {
        if (name.startsWith('IDR') || name === 'AIDR') {
          idr[name.toLowerCase() as keyof IdRegisters] = v;
        }
      }
      const iidr = regs.get('IIDR');
      const gbpa = regs.get('GBPA');
      const { server } = createQtestServer({
        ramSize,
        idr,
        ...(iidr === undefined ? {} : { iidr }),
        ...(gbpa === undefined ? {} : { gbpaReset: gbpa }),
        ...(opts.qemuPageAlias ? { policies: { pageAlias: 'qemu' as const } } : {}),
      });
      await serve(server, process.stdin, process.stdout);
    });
}

/** Pumps `input` through the server into `output`, respecting back-pressure. */
export async function serve(
  server: { feed(chunk: string): string; end(): string },
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<void> {
  input.setEncoding('latin1');
  const write = async (s: string): Promise<void> => {
    if (s.length === 0) return;
    if (!output.write(s)) {
      await new Promise<void>((resolve) => output.once('drain', () => resolve()));
    }
  };
  for await (const chunk of input) await write(server.feed(chunk as string));
  await write(server.end());
}
