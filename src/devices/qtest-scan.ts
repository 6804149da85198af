// Char-code helpers for the qtest server's hot requests (src/devices/qtest.ts): a token scanner
// over one request line and a hex reply encoder. QEMU 10.0.2's system/qtest.c splits a line at
// single spaces (g_strsplit on " ") and parses numbers with qemu_strtou64, i.e. C strtoull with
// base 0 (`0x`/`0X` hex, a leading `0` octal, else decimal) and the whole word consumed. The
// scanner accepts only the plain spellings of those numbers whose value is a safe integer; any
// other word (sign, white space, overflow, stray characters) is left to the general parser, so
// the scanner never decides a reply on its own.

/** Largest value the scanner returns (Number.MAX_SAFE_INTEGER, 2^53 − 1). */
export const SCAN_MAX = Number.MAX_SAFE_INTEGER;

/** A hex digit's value (either case), −1 for anything else. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * A cursor over one request line. Words are separated by single spaces, as QEMU splits them;
 * every method either consumes what it recognises and reports success, or reports failure (the
 * position is then unspecified and the caller falls back to the general parser).
 */
export class LineScanner {
  /** The line being scanned. */
  s = '';
  /** Index of the next character. */
  i = 0;

  /** Starts scanning `line` at index `from`. */
  reset(line: string, from: number): void {
    this.s = line;
    this.i = from;
  }

  /** True when the whole line has been consumed. */
  atEnd(): boolean {
    return this.i === this.s.length;
  }

  /** Consumes one space (a word separator); false when the next character is not one. */
  space(): boolean {
    if (this.s.charCodeAt(this.i) !== 32) return false;
    this.i++;
    return true;
  }

  /** Consumes the one-character word `c` (a char code) ending at a space or the line's end. */
  char(c: number): boolean {
    const s = this.s;
    const i = this.i;
    if (s.charCodeAt(i) !== c) return false;
    if (i + 1 < s.length && s.charCodeAt(i + 1) !== 32) return false;
    this.i = i + 1;
    return true;
  }

  /**
   * Consumes a number word: `0x`/`0X` and one or more hex digits, `0` and zero or more octal
   * digits, or a decimal number without a leading zero, ending at a space or the line's end,
   * with a value of at most 2^53 − 1. Returns the value, or −1 for any other word.
   */
  num(): number {
    const s = this.s;
    const n = s.length;
    let i = this.i;
    if (i >= n) return -1;
    let v = 0;
    if (s.charCodeAt(i) === 48) {
      i++;
      if (i < n && (s.charCodeAt(i) | 32) === 120) {
        // Hex: at least one digit after the prefix (strtoull would stop at the `x` otherwise).
        i++;
        const first = i;
        for (; i < n; i++) {
          const d = hexDigit(s.charCodeAt(i));
          if (d < 0) break;
          // Exact while the true value is a safe integer; past it the float is ≥ 2^53.
          v = v * 16 + d;
          if (v > SCAN_MAX) return -1;
        }
        if (i === first) return -1;
      } else {
        for (; i < n; i++) {
          const d = s.charCodeAt(i) - 48;
          if (d < 0 || d > 7) break;
          v = v * 8 + d;
          if (v > SCAN_MAX) return -1;
        }
      }
    } else {
      const first = i;
      for (; i < n; i++) {
        const d = s.charCodeAt(i) - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        if (v > SCAN_MAX) return -1;
      }
      if (i === first) return -1;
    }
    if (i < n && s.charCodeAt(i) !== 32) return -1;
    this.i = i;
    return v;
  }
}

/**
 * Char codes of the two lowercase hex digits of each byte, packed in a u16 for a little-endian
 * host (the model's memory already assumes one: SparseMemory views u32 pages as bytes).
 */
const HEX_PAIR = new Uint16Array(256);
for (let b = 0; b < 256; b++) {
  const hi = b >> 4;
  const lo = b & 15;
  HEX_PAIR[b] = (hi < 10 ? 48 + hi : 87 + hi) | ((lo < 10 ? 48 + lo : 87 + lo) << 8);
}

/** Char codes of the lowercase hex digits. */
const HEX_CHAR = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/** The reply prefix `OK 0x` placed so that the first hex digit is at an even byte offset. */
const PREFIX = Uint8Array.from(' OK 0x', (c) => c.charCodeAt(0));
/** Replies up to this many payload bytes reuse the shared buffer and a cached view of it. */
const SHARED_MAX = 4096;

const decoder = new TextDecoder();
// Bytes [1, 6) hold `OK 0x`, byte 0 is padding so that the digit pairs are u16-aligned.
const shared = new Uint8Array(6 + 2 * SHARED_MAX + 2);
shared.set(PREFIX);
const sharedPairs = new Uint16Array(shared.buffer);
/** Views of `shared` per payload length (the reply's bytes), made on first use. */
const views: (Uint8Array | undefined)[] = new Array(SHARED_MAX + 1).fill(undefined);

/**
 * The line `OK 0x` + two lowercase hex digits per byte of `b` + `\n` (qtest's `read` reply):
 * the digits are written as char codes into one buffer and decoded once, so the result is a
 * flat string.
 */
export function hexReplyLine(b: Uint8Array): string {
  const len = b.length;
  let buf = shared;
  let pairs = sharedPairs;
  if (len > SHARED_MAX) {
    buf = new Uint8Array(6 + 2 * len + 2);
    buf.set(PREFIX);
    pairs = new Uint16Array(buf.buffer);
  }
  for (let k = 0; k < len; k++) pairs[3 + k] = HEX_PAIR[b[k] as number] as number;
  const end = 6 + 2 * len;
  buf[end] = 10;
  if (buf !== shared) return decoder.decode(buf.subarray(1, end + 1));
  let v = views[len];
  if (v === undefined) {
    v = shared.subarray(1, end + 1);
    views[len] = v;
  }
  return decoder.decode(v);
}

/** The line `OK 0x%016x\n` of a u32 value (qtest's sized-read reply). */
export function u32ReplyLine(v: number): string {
  const h = HEX_CHAR;
  return String.fromCharCode(
    79,
    75,
    32,
    48,
    120,
    48,
    48,
    48,
    48,
    48,
    48,
    48,
    48,
    h[(v >>> 28) & 15] as number,
    h[(v >>> 24) & 15] as number,
    h[(v >>> 20) & 15] as number,
    h[(v >>> 16) & 15] as number,
    h[(v >>> 12) & 15] as number,
    h[(v >>> 8) & 15] as number,
    h[(v >>> 4) & 15] as number,
    h[v & 15] as number,
    10,
  );
}
