// Number and reference syntax of scenario files (formats.md §1, typescript.md §5). YAML 1.2's core
// schema reads `0xfffffffffffff000` as a double and silently rounds it, so the rule is: plain YAML
// integers for counts and small values only (they must be safe integers, below 2^53), and every
// quantity that may exceed 2^53 (addresses, STE/command words) is a quoted hex string
// ("0xffff_ffff_f000"): underscores are stripped, the digits checked, the range checked, and the
// value becomes a bigint. Raw-ioctl arguments may also name a UAPI constant or a `$label`, and OR
// several of them with `|` (flags).

import { z } from 'zod';

/** A quoted hex literal: `0x` then hex digits, `_` allowed as a separator. */
export const HEX_PATTERN = '^0[xX][0-9a-fA-F_]*[0-9a-fA-F][0-9a-fA-F_]*$';
const HEX_RE = new RegExp(HEX_PATTERN);

/** Label names: `[A-Za-z_][A-Za-z0-9_.-]*`. */
export const LABEL_PATTERN = '^[A-Za-z_][A-Za-z0-9_.-]*$';
const LABEL_RE = new RegExp(LABEL_PATTERN);

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const BEYOND_2_53 =
  'integer beyond 2^53 (YAML rounds it): write 64-bit values as quoted hex strings, e.g. "0xffff_ffff_f000"';

/** Parses a hex literal (already matched against HEX_PATTERN) into a bigint. */
export function parseHex(s: string): bigint {
  return BigInt(`0x${s.slice(2).replace(/_/g, '')}`);
}

/** A non-negative YAML integer that fits `bits` bits (and 2^53). */
function plainUint(bits: number) {
  const max = bits >= 53 ? MAX_SAFE : 2 ** bits - 1;
  return z
    .number({ error: 'expected an integer' })
    .int({ error: (iss) => (iss.code === 'too_big' ? BEYOND_2_53 : 'expected an integer') })
    .min(0, { error: 'must not be negative' })
    .max(max, {
      error:
        bits >= 53 ? BEYOND_2_53 : `exceeds ${bits} bits (maximum ${max}, 0x${max.toString(16)})`,
    });
}

/** A quoted hex string that fits `bits` bits, as a bigint. */
export function hexUint(bits: number) {
  const max = (1n << BigInt(bits)) - 1n;
  return z
    .string()
    .regex(HEX_RE, {
      error: 'expected an integer or a quoted hex string like "0x1f" (digits 0-9 a-f, `_` allowed)',
    })
    .transform((s, ctx) => {
      const v = parseHex(s);
      if (v > max) {
        ctx.issues.push({
          code: 'custom',
          input: s,
          message: `${s} exceeds ${bits} bits (maximum 0x${max.toString(16)})`,
        });
        return z.NEVER;
      }
      return v;
    });
}

/** An unsigned value of `bits` bits: a YAML integer or a quoted hex string; always a bigint. */
export function uint(bits: number) {
  return z
    .union([plainUint(bits), hexUint(bits)], {
      error: `expected an unsigned ${bits}-bit value: an integer or a quoted hex string "0x…"`,
    })
    .transform((v) => BigInt(v));
}

/** An unsigned value of at most 32 bits, as a number. */
export function small(bits = 32) {
  return z
    .union([plainUint(bits), hexUint(bits)], {
      error: `expected an unsigned ${bits}-bit value: an integer or a quoted hex string "0x…"`,
    })
    .transform((v) => Number(v));
}

/** A 64-bit quantity (address, size, STE/command word) as a bigint. */
export const u64 = uint(64);

/** A label name (for `as:`, `bind:` and `$label` references). */
export const label = z.string().regex(LABEL_RE, {
  error: 'expected a label name (letters, digits, _ . -; not starting with a digit)',
});

/** One term of an argument expression. */
export type ArgTerm =
  | { readonly kind: 'num'; readonly value: bigint }
  | { readonly kind: 'label'; readonly name: string }
  | { readonly kind: 'const'; readonly name: string };

const TERM_RE = /^(?:\$[A-Za-z_][A-Za-z0-9_.-]*|[A-Z][A-Z0-9_]*|0[xX][0-9a-fA-F_]+|[0-9]+)$/;

/** Parses one `|`-separated term; undefined when it is not a term. */
function parseTerm(t: string): ArgTerm | undefined {
  if (!TERM_RE.test(t)) return undefined;
  if (t.startsWith('$')) return { kind: 'label', name: t.slice(1) };
  if (/^0[xX]/.test(t)) return HEX_RE.test(t) ? { kind: 'num', value: parseHex(t) } : undefined;
  if (/^[0-9]+$/.test(t)) return { kind: 'num', value: BigInt(t) };
  return { kind: 'const', name: t };
}

/**
 * A raw-ioctl scalar argument: an integer, a quoted hex string, a UAPI constant name
 * (`IOMMU_HWPT_DATA_ARM_SMMUV3`), a `$label`, or several of these joined by `|` (bitwise OR).
 * Result: the list of terms to OR together (resolved when the step runs).
 */
export const argExpr = z
  .union([
    plainUint(64).transform((v): ArgTerm[] => [{ kind: 'num', value: BigInt(v) }]),
    z.string().transform((s, ctx): ArgTerm[] => {
      const terms = s.split('|').map((x) => x.trim());
      const out: ArgTerm[] = [];
      for (const t of terms) {
        const term = parseTerm(t);
        if (!term) {
          ctx.issues.push({
            code: 'custom',
            input: s,
            message: `'${t}' is not an integer, a hex value "0x…", a UAPI constant name or a $label`,
          });
          return z.NEVER;
        }
        if (term.kind === 'num' && term.value > 0xffff_ffff_ffff_ffffn) {
          ctx.issues.push({ code: 'custom', input: s, message: `${t} exceeds 64 bits` });
          return z.NEVER;
        }
        out.push(term);
      }
      return out;
    }),
  ])
  .describe(
    'An integer, a quoted hex string "0x…", a UAPI constant (IOMMU_…), a $label, or several joined by |',
  );

/** Parsed form of argExpr. */
export type ArgExpr = z.output<typeof argExpr>;

/** An errno name (`EINVAL`) or `ok`. */
export const expectResult = z
  .string()
  .regex(/^(ok|E[A-Z0-9]+)$/, { error: 'expected `ok` or an errno name such as EINVAL' })
  .describe('`ok`, or the errno name the call must fail with (EINVAL, EIO, …)');

/** A byte string: a list of byte values, or a hex string of whole bytes ("0xdeadbeef", in order). */
export const byteData = z
  .union(
    [
      z.array(small(8)).max(1 << 20),
      z
        .string()
        .regex(HEX_RE, { error: 'expected a hex string of bytes, first byte first' })
        .transform((s, ctx) => {
          const digits = s.slice(2).replace(/_/g, '');
          if (digits.length % 2 !== 0) {
            ctx.issues.push({
              code: 'custom',
              input: s,
              message: `${s}: a byte string needs an even number of hex digits`,
            });
            return z.NEVER;
          }
          const out: number[] = [];
          for (let i = 0; i < digits.length; i += 2)
            out.push(Number.parseInt(digits.slice(i, i + 2), 16));
          return out;
        }),
    ],
    { error: 'expected bytes: a list of byte values or a hex string "0x0011…" (first byte first)' },
  )
  .transform((v) => Uint8Array.from(v));
