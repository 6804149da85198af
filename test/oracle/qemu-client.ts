// A small qtest client for QEMU 10.0.2 (`system/qtest.c` line protocol): spawns
// qemu-system-aarch64 with the `virt` machine, its SMMUv3 and an `edu` PCI device
// (qemu-oracle.md §2), pipelines request lines over stdin and matches each reply line to its
// request in order; asynchronous `IRQ raise|lower N` lines are collected on the side.
//
// Debian's QEMU has no qtest accelerator, so the machine runs TCG with `-icount shift=0,sleep=off`
// and a two-instruction `wfi; b .` loop: with the vCPU idle QEMU warps the virtual clock to the
// next timer deadline, which lets edu's DMA timer fire while we poll its status register.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The QEMU version the oracle and its allow-list are pinned to. */
export const QEMU_VERSION = '10.0.2';
/** The QEMU binary (override with VSMMU_QEMU). */
export const QEMU_BIN = process.env['VSMMU_QEMU'] ?? 'qemu-system-aarch64';

/** `1: wfi; b 1b` as little-endian A64 words (0xd503207f, 0x17ffffff). */
const WFI_LOOP = Uint8Array.from([0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17]);
/** Where the loop is loaded (top of the 256 MB of RAM, away from the DTB at its start). */
export const WFI_ADDR = 0x4ff0_0000;

/** Result of probing for a usable QEMU. */
export type QemuProbe =
  | { readonly ok: true; readonly version: string; readonly banner: string }
  | { readonly ok: false; readonly reason: string };

/** Checks that `qemu-system-aarch64` exists and reports exactly QEMU_VERSION. */
export function probeQemu(bin = QEMU_BIN): QemuProbe {
  let out: string;
  try {
    out = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  } catch (e) {
    return { ok: false, reason: `${bin} not runnable (${(e as Error).message.split('\n')[0]})` };
  }
  const banner = out.split('\n')[0] ?? '';
  const m = /^QEMU emulator version (\S+)/.exec(banner);
  const version = m?.[1] ?? '?';
  if (version !== QEMU_VERSION) {
    return { ok: false, reason: `${bin} is version ${version}, the oracle needs ${QEMU_VERSION}` };
  }
  return { ok: true, version, banner };
}

/** Options of a QEMU instance. */
export interface QemuOptions {
  /** Machine type (default `virt`: S1+S2+nested SMMU). */
  readonly machine?: string;
  /** Extra arguments (e.g. `-global arm-smmuv3.stage=2`). */
  readonly extraArgs?: readonly string[];
  /** Guest RAM (default 256M). */
  readonly mem?: string;
  /** Add the edu device at PCI slot 2 (StreamID 0x10). Default true. */
  readonly edu?: boolean;
}

/** A running QEMU speaking qtest on its stdio. */
export class QemuQtest {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly dir: string;
  private buf = '';
  private readonly pending: { line: string; resolve: (s: string) => void }[] = [];
  private exited: string | undefined;
  private stderr = '';
  /** Every `IRQ raise|lower N` line, in arrival order. */
  readonly irqs: string[] = [];
  /** Number of requests sent. */
  requests = 0;

  private constructor(opts: QemuOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'vsmmu-qemu-'));
    const blob = join(this.dir, 'wfi.bin');
    writeFileSync(blob, WFI_LOOP);
    const args = [
      '-qtest',
      'stdio',
      '-qtest-log',
      '/dev/null',
      '-display',
      'none',
      '-nodefaults',
      '-machine',
      `${opts.machine ?? 'virt'},iommu=smmuv3`,
      '-cpu',
      'cortex-a57',
      '-m',
      opts.mem ?? '256M',
      '-icount',
      'shift=0,sleep=off',
      '-device',
      `loader,file=${blob},addr=0x${WFI_ADDR.toString(16)},cpu-num=0`,
      ...(opts.edu === false ? [] : ['-device', 'edu,addr=2,dma_mask=0xffffffffffffffff']),
      ...(opts.extraArgs ?? []),
    ];
    this.proc = spawn(QEMU_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (d: string) => this.onData(d));
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d: string) => {
      this.stderr += d;
    });
    this.proc.on('exit', (code, sig) => this.onExit(`QEMU exited (code ${code}, signal ${sig})`));
    this.proc.on('error', (e) => this.onExit(`QEMU failed to start: ${e.message}`));
    this.proc.stdin.on('error', () => {});
  }

  /** Starts QEMU and waits until it answers. */
  static async start(opts: QemuOptions = {}): Promise<QemuQtest> {
    const q = new QemuQtest(opts);
    const r = await q.cmd('endianness');
    if (r !== 'OK little') throw new Error(`QEMU did not start: ${r}`);
    return q;
  }

  private onData(d: string): void {
    this.buf += d;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.startsWith('IRQ ')) {
        this.irqs.push(line);
        continue;
      }
      const p = this.pending.shift();
      if (p) p.resolve(line);
    }
  }

  private onExit(why: string): void {
    if (this.exited) return;
    this.exited = `${why}${this.stderr ? `: ${this.stderr.trim()}` : ''}`;
    for (const p of this.pending.splice(0)) p.resolve(`FAIL ${this.exited}`);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Sends one request line; resolves to its reply line (`OK …`, `FAIL …` or `ERR …`). */
  cmd(line: string): Promise<string> {
    if (this.exited) return Promise.resolve(`FAIL ${this.exited}`);
    this.requests++;
    return new Promise((resolve) => {
      this.pending.push({ line, resolve });
      this.proc.stdin.write(`${line}\n`);
    });
  }

  /** Sends a request that must succeed; returns the text after `OK` (possibly empty). */
  async ok(line: string): Promise<string> {
    const r = await this.cmd(line);
    if (r !== 'OK' && !r.startsWith('OK ')) throw new Error(`qtest '${line}' → '${r}'`);
    return r.slice(3);
  }

  async readl(addr: number | bigint): Promise<number> {
    return Number(BigInt(await this.ok(`readl 0x${addr.toString(16)}`)));
  }
  async readq(addr: number | bigint): Promise<bigint> {
    return BigInt(await this.ok(`readq 0x${addr.toString(16)}`));
  }
  async writel(addr: number | bigint, v: number | bigint): Promise<void> {
    await this.ok(`writel 0x${addr.toString(16)} 0x${v.toString(16)}`);
  }
  async writeq(addr: number | bigint, v: number | bigint): Promise<void> {
    await this.ok(`writeq 0x${addr.toString(16)} 0x${BigInt.asUintN(64, BigInt(v)).toString(16)}`);
  }
  /** Writes bytes with `b64write`. */
  async writeBytes(addr: number | bigint, bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    const b64 = Buffer.from(bytes).toString('base64');
    await this.ok(`b64write 0x${addr.toString(16)} 0x${bytes.length.toString(16)} ${b64}`);
  }
  /** Reads bytes with `b64read`. */
  async readBytes(addr: number | bigint, len: number): Promise<Uint8Array> {
    const r = await this.ok(`b64read 0x${addr.toString(16)} 0x${len.toString(16)}`);
    return new Uint8Array(Buffer.from(r, 'base64'));
  }

  /** Stops QEMU (closing stdin alone does not stop a TCG QEMU: SIGTERM). */
  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.stdin.end();
    this.proc.kill('SIGTERM');
    await done;
  }
}
