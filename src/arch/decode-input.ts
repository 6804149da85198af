// Input parsing for `vsmmu decode` and the playground (formats.md §1 number rules, §3 decode):
// hexadecimal word lists, and Linux arm-smmu-v3 event dumps found in a kernel log. Pure functions
// over strings; reading files and stdin is the caller's business.
//
// The dump formats are those of drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c: older kernels log
// `event 0x%02x received:` and four `\t0x%016llx` lines with dev_info from arm_smmu_evtq_thread;
// newer ones log the same lines with dev_err from arm_smmu_dump_raw_event, followed (from
// arm_smmu_dump_event) by a summary line `event: <NAME> client: <dev> sid: %#x ssid: %#x ...` and,
// for translation faults, a line `priv|unpriv inst|data read|write s1|s2 "<class>" ... stag: %#x`.
// Every line carries the dev_printk prefix `<driver> <device>: `.

import { VsmmuError } from './errors.ts';

const HEX_DIGITS = /^[0-9a-fA-F]+$/;

/**
 * Parses hexadecimal words given as separate arguments, comma-separated lists, or one
 * concatenated string of 16-hex-digit words (word 0 first). Each word may carry a `0x` prefix and
 * `_` separators; bare digits are hexadecimal too. Throws VsmmuError('BAD_HEX') naming the bad
 * token.
 */
export function parseWords(args: readonly string[]): bigint[] {
  const out: bigint[] = [];
  for (const arg of args) {
    for (const piece of arg.split(',')) {
      const token = piece.trim();
      if (token === '') continue;
      let digits = token.replaceAll('_', '');
      if (digits.startsWith('0x') || digits.startsWith('0X')) digits = digits.slice(2);
      if (digits === '' || !HEX_DIGITS.test(digits)) {
        throw new VsmmuError('BAD_HEX', `'${token}' is not a hexadecimal word`);
      }
      if (digits.length <= 16) {
        out.push(BigInt(`0x${digits}`));
        continue;
      }
      if (digits.length % 16 !== 0) {
        throw new VsmmuError(
          'BAD_HEX',
          `'${token}' has ${digits.length} hex digits: a word has at most 16, and a concatenated ` +
            'string must be a multiple of 16 digits',
        );
      }
      for (let i = 0; i < digits.length; i += 16) {
        out.push(BigInt(`0x${digits.slice(i, i + 16)}`));
      }
    }
  }
  return out;
}

/** One event dump found in a kernel log. */
export interface DmesgEvent {
  /** 1-based line number of the `event 0xNN received:` line. */
  readonly line: number;
  /** Device name from the dev_printk prefix, e.g. `arm-smmu-v3.0.auto`. */
  readonly device: string;
  /** Event number printed in the header line. */
  readonly id: number;
  /** The four record words, word 0 first. */
  readonly words: readonly [bigint, bigint, bigint, bigint];
  /** The kernel's own summary lines that followed the dump (newer kernels), without prefix. */
  readonly summary: readonly string[];
}

/** Something in the log that looked like a dump but could not be used. */
export interface DmesgProblem {
  readonly line: number;
  readonly message: string;
}

/** Result of scanning a kernel log. */
export interface DmesgScan {
  readonly events: readonly DmesgEvent[];
  readonly problems: readonly DmesgProblem[];
}

const HEADER = /(\S+): event 0x([0-9a-fA-F]{1,2}) received:\s*$/;
// The word lines print a tab before the value; log tools may show it as a tab, spaces, `\t` or
// `\x09`.
const WORD = /(\S+):(?:\s|\\t|\\x09)*0x([0-9a-fA-F]{16})\s*$/;
const SUMMARY_FIRST = /(\S+): (event: \S+ client: .*)$/;
const SUMMARY_SECOND = /(\S+): ((?:priv|unpriv) (?:inst|data) (?:read|write) s[12] .*)$/;

interface Pending {
  line: number;
  device: string;
  id: number;
  words: bigint[];
}

/**
 * Finds every arm-smmu-v3 event dump in a kernel log (dmesg, journalctl or syslog text). Lines of
 * other devices may be interleaved with a dump; a dump cut short is reported as a problem.
 */
export function parseDmesg(text: string): DmesgScan {
  const lines = text.split(/\r?\n/);
  const events: DmesgEvent[] = [];
  const problems: DmesgProblem[] = [];
  const pending = new Map<string, Pending>();
  /** Device → index in `events` of its latest complete dump (summary lines attach to it). */
  const lastComplete = new Map<string, number>();

  lines.forEach((text, i) => {
    const lineNo = i + 1;
    const header = HEADER.exec(text);
    if (header) {
      const device = header[1] as string;
      const open = pending.get(device);
      if (open) {
        problems.push({
          line: open.line,
          message: `incomplete event dump (${open.words.length} of 4 words) from ${device}`,
        });
      }
      pending.set(device, {
        line: lineNo,
        device,
        id: Number.parseInt(header[2] as string, 16),
        words: [],
      });
      lastComplete.delete(device);
      return;
    }
    const word = WORD.exec(text);
    if (word) {
      const open = pending.get(word[1] as string);
      if (!open) return;
      open.words.push(BigInt(`0x${word[2]}`));
      if (open.words.length === 4) {
        const [w0, w1, w2, w3] = open.words as [bigint, bigint, bigint, bigint];
        events.push({
          line: open.line,
          device: open.device,
          id: open.id,
          words: [w0, w1, w2, w3],
          summary: [],
        });
        pending.delete(open.device);
        lastComplete.set(open.device, events.length - 1);
        if (Number(w0 & 0xffn) !== open.id) {
          problems.push({
            line: open.line,
            message: `header says event 0x${open.id.toString(16)} but word 0 holds 0x${(w0 & 0xffn).toString(16)}`,
          });
        }
      }
      return;
    }
    const summary = SUMMARY_FIRST.exec(text) ?? SUMMARY_SECOND.exec(text);
    if (summary) {
      const idx = lastComplete.get(summary[1] as string);
      const ev = idx === undefined ? undefined : events[idx];
      if (ev && idx !== undefined) {
        events[idx] = { ...ev, summary: [...ev.summary, summary[2] as string] };
      }
    }
  });
  for (const open of pending.values()) {
    problems.push({
      line: open.line,
      message: `incomplete event dump (${open.words.length} of 4 words) from ${open.device}`,
    });
  }
  problems.sort((a, b) => a.line - b.line);
  return { events, problems };
}
