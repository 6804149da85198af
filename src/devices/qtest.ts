// The qtest line protocol of QEMU 10.0.2 (system/qtest.c), served by the model: one request line
// in, one reply line out (`OK …`, `FAIL …`, or `ERR …` where QEMU sends that), with asynchronous
// `IRQ raise N` / `IRQ lower N` lines in between, so that a register/memory sequence written for
// QEMU's `virt` machine replays unchanged against the model. Replies are byte-identical to
// QEMU's (`OK 0x%016x` for sized reads, lowercase hex for `read`, padded base64 for `b64read`).
// Where QEMU would g_assert-abort on a malformed line (missing or unparsable argument, empty
// line, zero-length `read`), the model answers `FAIL <reason>` and goes on. Numbers are parsed
// like C strtoull(s, NULL, 0) with the whole word consumed (QEMU's qemu_strtou64). The hot
// requests (sized register/RAM reads, `writel`, `read`, `smmu_dma … R`) with plain numbers are
// scanned on char codes (qtest-scan.ts) without splitting the line; every other line, and every
// malformed one, goes through the general parser, which gives the same replies.
//
// Extension (issue 4): `smmu_dma SID SSID IOVA LEN R|W [0xHEX]` performs a DMA through the SMMU:
// SSID `-` = no SubstreamID; LEN 1..4096; the DMA is split into transactions at 4 KB IOVA
// boundaries, performed in order; the first terminated transaction ends it with `FAIL fault`
// (the earlier transactions have happened). Any event it caused is in the event queue before
// the reply, since translate() records events synchronously.
import { VsmmuError } from '../arch/errors.ts';
import type { Smmu } from '../smmu/smmu.ts';
import { hexReplyLine, LineScanner, u32ReplyLine } from './qtest-scan.ts';
import {
  createVirtSmmu,
  type DmaTranslator,
  VIRT_SMMU_BASE,
  VIRT_SMMU_SIZE,
  type VirtMachine,
  type VirtSmmuOptions,
} from './virt.ts';

/** QOM path of the SMMU in QEMU 10.0.2's `virt` machine (for `irq_intercept_out`). */
export const SMMU_QOM_PATH = '/machine/unattached/device[6]';
/** Name of the SMMU's gpio-out list (sysbus IRQs). */
export const SMMU_IRQ_GPIO_NAME = 'sysbus-irq';
/** The SMMU's wired interrupt lines as QEMU numbers them (hw/arm/smmuv3.c). */
export const SMMU_IRQ = { EVTQ: 0, PRIQ: 1, CMD_SYNC: 2, GERROR: 3 } as const;
/** Largest `read`/`write`/`b64read`/`b64write` transfer the model accepts (QEMU: g_malloc). */
export const QTEST_MAX_TRANSFER = 16 * 1024 * 1024;
/** Largest `smmu_dma` length. */
export const SMMU_DMA_MAX_LEN = 4096;

const U64_MAX = (1n << 64n) - 1n;
const SIZES = { b: 1, w: 2, l: 4, q: 8 } as const;

/** A malformed request: becomes `FAIL <message>`. */
class Malformed extends Error {}

/**
 * Parses `s` like C `strtoull(s, &end, 0)` requiring `*end == '\0'` (QEMU's qemu_strtou64):
 * optional leading white space and sign, `0x`/`0X` hex, leading `0` octal, else decimal; a `-`
 * negates modulo 2^64; overflow, no digits or trailing characters are errors (undefined here).
 */
export function parseStrtoull(s: string): bigint | undefined {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i] as string)) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  let base = 10;
  if (
    s[i] === '0' &&
    (s[i + 1] === 'x' || s[i + 1] === 'X') &&
    /[0-9a-fA-F]/.test(s[i + 2] ?? '')
  ) {
    base = 16;
    i += 2;
  } else if (s[i] === '0') {
    base = 8;
  }
  const digits = base === 16 ? /^[0-9a-fA-F]+/ : base === 8 ? /^[0-7]+/ : /^[0-9]+/;
  const m = digits.exec(s.slice(i));
  if (!m || i + m[0].length !== s.length) return undefined;
  // One conversion of the whole digit string (exact: BigInt() reads 0x/0o/decimal strings).
  const d = m[0];
  const v = BigInt(base === 16 ? `0x${d}` : base === 8 ? `0o${d}` : d);
  if (v > U64_MAX) return undefined;
  return neg ? BigInt.asUintN(64, -v) : v;
}

function num(word: string | undefined, what: string): bigint {
  if (word === undefined) throw new Malformed(`missing ${what}`);
  const v = parseStrtoull(word);
  if (v === undefined) throw new Malformed(`bad ${what} '${word}'`);
  return v;
}

/**
 * A plain number word as a number, without a bigint: `0x`/`0X` and 1..13 hex digits, `0`, or
 * 1..15 decimal digits without a leading zero (all below 2^53, and parseStrtoull gives the same
 * value for them); −1 for any other word, which then goes through `num`.
 */
export function quickNum(w: string | undefined): number {
  if (w === undefined) return -1;
  const n = w.length;
  const c0 = w.charCodeAt(0);
  if (c0 === 48) {
    if (n === 1) return 0;
    if (n < 3 || n > 15 || (w.charCodeAt(1) | 32) !== 120) return -1;
    let v = 0;
    for (let i = 2; i < n; i++) {
      const d = hex2nib(w.charCodeAt(i));
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }
  if (n < 1 || n > 15) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = w.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** `OK 0x%016x` of a value below 2^53. */
function okHex64(v: number): string {
  return `OK 0x${v.toString(16).padStart(16, '0')}`;
}

function transferLength(word: string | undefined): number {
  const len = num(word, 'size');
  if (len > BigInt(QTEST_MAX_TRANSFER)) {
    throw new Malformed(`size ${len} above the model's limit of ${QTEST_MAX_TRANSFER}`);
  }
  return Number(len);
}

/** QEMU's hex2nib: a hex digit's value, -1 for anything else. */
function hex2nib(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex of `b`, two digits per byte. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += HEX[x];
  return s;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_RANK = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_RANK[B64.charCodeAt(i)] = i;

/** Standard padded base64 (glib's g_base64_encode). */
export function toBase64(b: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 3 <= b.length; i += 3) {
    const v = ((b[i] as number) << 16) | ((b[i + 1] as number) << 8) | (b[i + 2] as number);
    s += `${B64[v >> 18]}${B64[(v >> 12) & 63]}${B64[(v >> 6) & 63]}${B64[v & 63]}`;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const v = (b[i] as number) << 16;
    s += `${B64[v >> 18]}${B64[(v >> 12) & 63]}==`;
  } else if (rest === 2) {
    const v = ((b[i] as number) << 16) | ((b[i + 1] as number) << 8);
    s += `${B64[v >> 18]}${B64[(v >> 12) & 63]}${B64[(v >> 6) & 63]}=`;
  }
  return s;
}

/** Decodes base64, skipping characters outside the alphabet; `=` ends the data. */
export function fromBase64(s: string): Uint8Array {
  const out = new Uint8Array(Math.floor((s.length * 3) / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 61) break;
    const r = c < 128 ? (B64_RANK[c] as number) : -1;
    if (r < 0) continue;
    acc = ((acc << 6) | r) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.slice(0, n);
}

/**
 * A qtest server over a VirtMachine. `exec(line)` runs one request and returns everything the
 * server prints for it (IRQ lines raised while it ran, then the reply), each line ending in '\n'.
 * It never throws: every malformed request becomes a `FAIL` reply.
 */
export class QtestServer {
  readonly machine: VirtMachine;
  /** The IOMMU `smmu_dma` goes through; undefined = `smmu_dma` fails. */
  translator: DmaTranslator | undefined;
  private intercepting = false;
  private readonly levels = new Map<number, boolean>();
  private out = '';
  private partial = '';
  /** Requests served. */
  requests = 0;
  /**
   * Serve the hot requests through the char-code scanner (default). False sends every line
   * through the general parser; the replies and effects are the same either way.
   */
  quickPath = true;
  private readonly scan = new LineScanner();
  /** The last sized-read reply line and its value (register polls repeat it). */
  private lastU32 = -1;
  private lastU32Line = '';

  constructor(machine: VirtMachine, translator?: DmaTranslator) {
    this.machine = machine;
    this.translator = translator;
  }

  /**
   * An interrupt line of the SMMU changed level. Printed as `IRQ raise|lower N` once
   * `irq_intercept_out` is active and only on a change (QEMU's qtest_irq_handler).
   */
  setIrq(line: number, level: boolean): void {
    if (!this.intercepting) return;
    if ((this.levels.get(line) ?? false) === level) return;
    this.levels.set(line, level);
    this.out += `IRQ ${level ? 'raise' : 'lower'} ${line}\n`;
  }

  /** A pulsed interrupt (QEMU's qemu_irq_pulse): raise, then lower. */
  pulseIrq(line: number): void {
    this.setIrq(line, true);
    this.setIrq(line, false);
  }

  /** Feeds raw input; runs every complete line and returns the output for them. */
  feed(chunk: string): string {
    this.partial += chunk;
    let res = '';
    let start = 0;
    for (;;) {
      const nl = this.partial.indexOf('\n', start);
      if (nl < 0) break;
      res += this.exec(this.partial.slice(start, nl));
      start = nl + 1;
    }
    this.partial = this.partial.slice(start);
    return res;
  }

  /** Ends the input: runs a last unterminated line, if any. */
  end(): string {
    const rest = this.partial;
    this.partial = '';
    return rest.length > 0 ? this.exec(rest) : '';
  }

  /** Runs one request line (without its newline). */
  exec(line: string): string {
    this.requests++;
    let reply: string | undefined;
    try {
      if (this.quickPath) reply = this.quickLine(line);
      if (reply === undefined) reply = `${this.dispatch(line.split(' '))}\n`;
    } catch (e) {
      if (e instanceof Malformed || e instanceof VsmmuError) reply = `FAIL ${e.message}\n`;
      else throw e;
    }
    const out = this.out;
    if (out === '') return reply;
    this.out = '';
    return out + reply;
  }

  /**
   * The hot requests scanned on char codes, without splitting the line or a bigint: a sized
   * read or 32-bit write of a RAM word or SMMU register, `read` of RAM, and a well-formed
   * `smmu_dma … R`, all with plain numbers (LineScanner.num). Returns the reply line, or
   * undefined, having done nothing, for any other line (then `dispatch` handles it, with the
   * same reply it always gives).
   */
  private quickLine(line: string): string | undefined {
    const c0 = line.charCodeAt(0);
    if (c0 === 115) return line.startsWith('smmu_dma ') ? this.quickDma(line) : undefined;
    const sc = this.scan;
    const m = this.machine;
    if (c0 === 114) {
      if (!line.startsWith('read')) return undefined;
      const c4 = line.charCodeAt(4);
      if (c4 === 32) {
        // read ADDR LEN
        sc.reset(line, 5);
        const a = sc.num();
        if (a < 0 || !sc.space()) return undefined;
        const len = sc.num();
        if (len < 1 || len > QTEST_MAX_TRANSFER || !sc.atEnd()) return undefined;
        return hexReplyLine(m.readBytes(a, len));
      }
      const size = c4 === 108 ? 4 : c4 === 98 ? 1 : c4 === 119 ? 2 : 0;
      if (size === 0 || line.charCodeAt(5) !== 32) return undefined;
      sc.reset(line, 6);
      const a = sc.num();
      if (a < 0 || !sc.atEnd()) return undefined;
      const v = m.readSmall(a, size);
      if (v < 0) return undefined;
      if (v !== this.lastU32) {
        this.lastU32 = v;
        this.lastU32Line = u32ReplyLine(v);
      }
      return this.lastU32Line;
    }
    if (c0 === 119 && line.startsWith('writel ')) {
      sc.reset(line, 7);
      const a = sc.num();
      if (a < 0 || !sc.space()) return undefined;
      const v = sc.num();
      if (v < 0 || !sc.atEnd()) return undefined;
      return m.writeWord(a, v >>> 0) ? 'OK\n' : undefined;
    }
    return undefined;
  }

  /** `smmu_dma SID SSID IOVA LEN R` with plain numbers, scanned; undefined for anything else. */
  private quickDma(line: string): string | undefined {
    const t = this.translator;
    if (t?.translateFast === undefined) return undefined;
    const sc = this.scan;
    sc.reset(line, 9);
    const sid = sc.num();
    if (sid < 0 || sid > 0xffff_ffff || !sc.space()) return undefined;
    let ssid = -1;
    if (!sc.char(45)) {
      ssid = sc.num();
      if (ssid < 0 || ssid > 0xf_ffff) return undefined;
    }
    if (!sc.space()) return undefined;
    const iova = sc.num();
    if (iova < 0 || !sc.space()) return undefined;
    const len = sc.num();
    if (len < 1 || len > SMMU_DMA_MAX_LEN || iova + len > 2 ** 53) return undefined;
    if (!sc.space() || !sc.char(82) || !sc.atEnd()) return undefined;
    const r = this.dmaFast(t, sid, ssid, iova, len, undefined);
    return r === null ? 'FAIL fault\n' : r === undefined ? 'OK\n' : hexReplyLine(r);
  }

  private dispatch(words: string[]): string {
    const cmd = words[0] as string;
    if (cmd === '') throw new Malformed('empty command');
    switch (cmd) {
      case 'readb':
      case 'readw':
      case 'readl':
      case 'readq': {
        const size = SIZES[cmd.charAt(4) as keyof typeof SIZES];
        if (size <= 4) {
          // Number path for RAM and register reads (no bigint); anything else below.
          const a = quickNum(words[1]);
          const v = a >= 0 ? this.machine.readSmall(a, size as 1 | 2 | 4) : -1;
          if (v >= 0) return okHex64(v);
        }
        const v = this.machine.read(num(words[1], 'address'), size);
        return `OK 0x${v.toString(16).padStart(16, '0')}`;
      }
      case 'writeb':
      case 'writew':
      case 'writel':
      case 'writeq': {
        const size = SIZES[cmd.charAt(5) as keyof typeof SIZES];
        const addr = num(words[1], 'address');
        const value = num(words[2], 'value');
        this.machine.write(addr, size, value);
        return 'OK';
      }
      case 'read': {
        const addr = num(words[1], 'address');
        const len = transferLength(words[2]);
        if (len === 0) throw new Malformed('zero size');
        return `OK 0x${toHex(this.machine.readBytes(addr, len))}`;
      }
      case 'b64read': {
        const addr = num(words[1], 'address');
        const len = transferLength(words[2]);
        return `OK ${toBase64(this.machine.readBytes(addr, len))}`;
      }
      case 'write': {
        const addr = num(words[1], 'address');
        const len = transferLength(words[2]);
        const data = words[3];
        if (data === undefined) throw new Malformed('missing data');
        if (data.length < 3) return 'ERR invalid argument size';
        // QEMU skips the first two characters (the `0x`) and zero-fills missing bytes.
        const b = new Uint8Array(len);
        for (let i = 0; i < len && i * 2 + 4 <= data.length; i++) {
          b[i] =
            ((hex2nib(data.charCodeAt(i * 2 + 2)) << 4) | hex2nib(data.charCodeAt(i * 2 + 3))) &
            0xff;
        }
        this.machine.writeBytes(addr, b);
        return 'OK';
      }
      case 'b64write': {
        const addr = num(words[1], 'address');
        const len = transferLength(words[2]);
        const data = words[3];
        if (data === undefined) throw new Malformed('missing data');
        if (data.length < 3) return 'ERR invalid argument size';
        // QEMU writes SIZE bytes whatever the decoded length; the model zero-fills (QEMU: junk).
        const b = new Uint8Array(len);
        const dec = fromBase64(data);
        b.set(dec.subarray(0, len));
        this.machine.writeBytes(addr, b);
        return 'OK';
      }
      case 'memset': {
        const addr = num(words[1], 'address');
        const len = num(words[2], 'size');
        const pattern = num(words[3], 'value');
        if (len > 0n) this.fillRange(addr, len, Number(pattern & 0xffn));
        return 'OK';
      }
      case 'endianness':
        return 'OK little';
      case 'irq_intercept_out':
      case 'irq_intercept_in':
        return this.intercept(cmd === 'irq_intercept_out', words[1], words[2]);
      case 'set_irq_in':
        if (words.length < 5) throw new Malformed('set_irq_in needs QOM-PATH NAME NUM LEVEL');
        return words[1] === SMMU_QOM_PATH
          ? 'FAIL the SMMU has no input interrupts'
          : 'FAIL Unknown device';
      case 'outb':
      case 'outw':
      case 'outl': {
        const port = num(words[1], 'port');
        num(words[2], 'value');
        if (port > 0xffffn) throw new Malformed('port above 0xffff');
        return 'OK';
      }
      case 'inb':
      case 'inw':
      case 'inl': {
        const port = num(words[1], 'port');
        if (port > 0xffffn) throw new Malformed('port above 0xffff');
        // The `virt` machine has no I/O ports: QEMU reads all-ones.
        const v = cmd === 'inb' ? 0xff : cmd === 'inw' ? 0xffff : 0xffffffff;
        return `OK 0x${v.toString(16).padStart(4, '0')}`;
      }
      case 'smmu_dma':
        return this.smmuDma(words);
      default:
        return `FAIL Unknown command '${cmd}'`;
    }
  }

  /** memset over a possibly huge range: only the parts inside RAM or the SMMU frame are touched. */
  private fillRange(addr: bigint, len: bigint, byte: number): void {
    const m = this.machine;
    const end = addr + len;
    for (const [base, size] of [
      [m.ramBase, m.ramSize],
      [VIRT_SMMU_BASE, VIRT_SMMU_SIZE],
    ] as const) {
      const lo = addr > BigInt(base) ? addr : BigInt(base);
      const hi = end < BigInt(base + size) ? end : BigInt(base + size);
      if (lo < hi) m.fill(lo, Number(hi - lo), byte);
    }
  }

  private intercept(out: boolean, path: string | undefined, name: string | undefined): string {
    if (path === undefined) throw new Malformed('missing QOM path');
    if (path !== SMMU_QOM_PATH) return 'FAIL Unknown device';
    if (name !== undefined && !out) return 'FAIL Interception of named in-GPIOs not yet supported';
    if (this.intercepting) return 'OK';
    if (!out) return 'OK';
    if (name !== SMMU_IRQ_GPIO_NAME) return 'FAIL No intercepts installed';
    this.intercepting = true;
    return 'OK';
  }

  private smmuDma(all: string[]): string {
    const t = this.translator;
    const words = [...all];
    while (words.length > 1 && words[words.length - 1] === '') words.pop();
    if (words.length < 6) throw new Malformed('usage: smmu_dma SID SSID IOVA LEN R|W [0xHEX]');
    const sid = num(words[1], 'SID');
    if (sid > 0xffff_ffffn) throw new Malformed(`SID ${sid} above 32 bits`);
    let ssid: number | undefined;
    if (words[2] !== '-') {
      const v = num(words[2], 'SSID');
      if (v > 0xf_ffffn) throw new Malformed(`SSID ${v} above 20 bits`);
      ssid = Number(v);
    }
    const iova = num(words[3], 'IOVA');
    const lenB = num(words[4], 'LEN');
    if (lenB < 1n || lenB > BigInt(SMMU_DMA_MAX_LEN)) {
      throw new Malformed(`LEN ${lenB} outside 1..${SMMU_DMA_MAX_LEN}`);
    }
    const len = Number(lenB);
    if (iova + lenB - 1n > U64_MAX) throw new Malformed('IOVA range passes 2^64');
    const dir = words[5];
    let data: Uint8Array | undefined;
    if (dir === 'W') {
      const hex = words[6];
      if (hex === undefined || !/^0x[0-9a-fA-F]*$/.test(hex) || hex.length !== 2 + 2 * len) {
        throw new Malformed(`W data must be 0x followed by exactly ${2 * len} hex digits`);
      }
      data = new Uint8Array(len);
      for (let i = 0; i < len; i++) {
        data[i] = (hex2nib(hex.charCodeAt(2 + 2 * i)) << 4) | hex2nib(hex.charCodeAt(3 + 2 * i));
      }
    } else if (dir === 'R') {
      if (words.length > 6) throw new Malformed('R takes no data');
    } else {
      throw new Malformed(`direction '${dir}' is not R or W`);
    }
    if (words.length > 7) throw new Malformed('too many arguments');
    if (!t) return 'FAIL no SMMU';
    if (t.translateFast !== undefined && iova + lenB <= 2n ** 53n) {
      return this.dmaReply(this.dmaFast(t, Number(sid), ssid ?? -1, Number(iova), len, data));
    }
    const read = data === undefined ? new Uint8Array(len) : undefined;
    let done = 0;
    while (done < len) {
      const va = iova + BigInt(done);
      const n = Math.min(len - done, 4096 - Number(va & 0xfffn));
      const r = t.translate({ sid: Number(sid), ssid, iova: va, access: data ? 'write' : 'read' });
      if (!r.ok) return 'FAIL fault';
      if (data) this.machine.writeBytes(r.pa, data.subarray(done, done + n));
      else (read as Uint8Array).set(this.machine.readBytes(r.pa, n), done);
      done += n;
    }
    return read ? `OK 0x${toHex(read)}` : 'OK';
  }

  /** The reply (without its newline) to a `dmaFast` outcome. */
  private dmaReply(r: Uint8Array | null | undefined): string {
    return r === null ? 'FAIL fault' : r === undefined ? 'OK' : `OK 0x${toHex(r)}`;
  }

  /**
   * `smmu_dma` on the number path (translateFast; addresses below 2^53): no request object or
   * bigint per transaction. Same order of effects as the general path. Returns the bytes read,
   * undefined after a write, or null when a transaction was terminated.
   */
  private dmaFast(
    t: DmaTranslator,
    sid: number,
    ssid: number,
    va0: number,
    len: number,
    data: Uint8Array | undefined,
  ): Uint8Array | null | undefined {
    const fast = t.translateFast as NonNullable<DmaTranslator['translateFast']>;
    const m = this.machine;
    const flags = data ? 1 : 0;
    let read: Uint8Array | undefined;
    let done = 0;
    while (done < len) {
      const va = va0 + done;
      const n = Math.min(len - done, 4096 - (va % 4096));
      const pa = fast.call(t, sid, ssid, va, flags);
      if (pa < 0) return null;
      if (data) m.writeBytes(pa, data.subarray(done, done + n));
      else if (n === len) read = m.readBytes(pa, n);
      else {
        if (read === undefined) read = new Uint8Array(len);
        read.set(m.readBytes(pa, n), done);
      }
      done += n;
    }
    return read;
  }
}

/**
 * The `vsmmu qtest` set-up: a `virt` machine, its SMMU (ID registers etc. from `opts`), and a
 * qtest server whose `smmu_dma` goes through that SMMU and which prints its interrupts.
 */
export function createQtestServer(opts: Omit<VirtSmmuOptions, 'irq'> = {}): {
  server: QtestServer;
  machine: VirtMachine;
  smmu: Smmu;
} {
  let server: QtestServer | undefined;
  const { machine, smmu } = createVirtSmmu({
    ...opts,
    irq: (line, level) => server?.setIrq(line, level),
  });
  server = new QtestServer(machine, smmu);
  return { server, machine, smmu };
}
