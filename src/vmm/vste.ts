// Guest STE → vSTE. The VMM reads the guest's Stream Table Entry from guest RAM, exactly where the
// architecture says the SMMU would find it (IHI 0070 H.a §5.1 linear and 2-level stream tables,
// §5.1.1 L1STD, §6.3.23/24 SMMU_STRTAB_BASE(_CFG); smmuv3-arch.md §1.2), decides what the stream
// needs (§5.2 V/Config: abort, bypass, or a stage-1 configuration that becomes a nested HWPT), and
// builds the two vSTE words sent in `struct iommu_hwpt_arm_smmuv3` (include/uapi/linux/iommufd.h):
// masked to the fields the kernel accepts (Linux STRTAB_STE_{0,1}_NESTING_ALLOWED) that are also
// meaningful under the advertised vIDRs, with S1ContextPtr cut to the advertised OAS (OpenVMM's
// canonical STE; pitfall 1 of vmm-designs.md: unmasked words make real Linux guests fail with EIO).

import { genmask, getBits } from '../arch/bits.ts';
import { findField, maskOf } from '../arch/fields.ts';
import * as R from '../arch/regs.ts';
import { L1STD, STE, STE_CFG } from '../arch/ste.ts';
import type { SmmuFeatures } from '../smmu/types.ts';
import type { GuestRam } from './guest-ram.ts';

/** The guest's stream-table registers. */
export interface GuestStreamTable {
  readonly strtabBase: bigint;
  readonly strtabBaseCfg: number;
}

/** Result of looking a StreamID up in the guest stream table. */
export type SteFetch =
  | { readonly ok: true; readonly words: readonly [bigint, bigint]; readonly addr: number }
  | { readonly ok: false; readonly reason: string };

/** What a stream needs from the host. */
export type SteDecision =
  | { readonly kind: 'abort'; readonly reason: string }
  | { readonly kind: 'bypass'; readonly reason: string }
  | {
      readonly kind: 'nested';
      /** The guest STE words 0–1 as read. */
      readonly raw: readonly [bigint, bigint];
      /** The vSTE sent to the kernel. */
      readonly vste: readonly [bigint, bigint];
    }
  | {
      /**
       * ILLEGAL under the advertised vIDRs although the host (with wider IDRs) would accept it:
       * the VMM refuses it itself, through its invalid-vSTE policy.
       */
      readonly kind: 'illegal';
      readonly reason: string;
      /** The guest STE words 0–1 as read. */
      readonly raw: readonly [bigint, bigint];
    };

const F = {
  base: findField(R.STRTAB_BASE, 'ADDR'),
  fmt: findField(R.STRTAB_BASE_CFG, 'FMT'),
  split: findField(R.STRTAB_BASE_CFG, 'SPLIT'),
  log2: findField(R.STRTAB_BASE_CFG, 'LOG2SIZE'),
  span: findField(L1STD, 'Span'),
  l2ptr: findField(L1STD, 'L2Ptr'),
  v: findField(STE, 'V'),
  config: findField(STE, 'Config'),
  ctxPtr: findField(STE, 'S1ContextPtr'),
  cdMax: findField(STE, 'S1CDMax'),
  s1Fmt: findField(STE, 'S1Fmt'),
  stalld: findField(STE, 'S1STALLD'),
} as const;

const STE_BYTES = 64;
const L1STD_BYTES = 8;

function addrBits(v: bigint, hi: number, oas: number): bigint {
  // §3.4.3: structure addresses beyond OAS are truncated to OAS (a CONSTRAINED UNPREDICTABLE
  // choice for the stream table; the other option is F_STE_FETCH on traffic).
  return v & genmask(Math.min(hi, oas - 1), 0);
}

function alignDown(a: bigint, bytes: bigint): bigint {
  return a - (a % bytes);
}

/**
 * Finds the STE of `sid` in the guest stream table (words 0 and 1 are all the vSTE needs).
 * Every failure the architecture reports per transaction (C_BAD_STREAMID, F_STE_FETCH) is a
 * reason here: the stream is then aborted.
 */
export function fetchGuestSte(
  ram: GuestRam,
  st: GuestStreamTable,
  sid: number,
  f: SmmuFeatures,
): SteFetch {
  const cfg = BigInt(st.strtabBaseCfg >>> 0);
  // §6.3.24: LOG2SIZE is capped by IDR1.SIDSIZE for range checks and indexing.
  const log2 = Math.min(Number(getBits(cfg, F.log2.hi, F.log2.lo)), f.sidSize);
  if (sid >= 2 ** log2)
    return { ok: false, reason: `StreamID ${sid} beyond 2^${log2} (C_BAD_STREAMID)` };
  const base = addrBits(st.strtabBase, F.base.hi, f.oas) & genmask(F.base.hi, F.base.lo);
  const fmt = Number(getBits(cfg, F.fmt.hi, F.fmt.lo));
  let steAddr: bigint;
  if (fmt === 1 && f.stLevel !== 0) {
    // 2-level: SPLIT ∈ {6, 8, 10}, any other value behaves as 6.
    const rawSplit = Number(getBits(cfg, F.split.hi, F.split.lo));
    const split = rawSplit === 8 || rawSplit === 10 ? rawSplit : 6;
    const l1Entries = 2 ** Math.max(0, log2 - split);
    const l1Base = alignDown(base, BigInt(Math.max(64, l1Entries * L1STD_BYTES)));
    const l1Addr = l1Base + BigInt(Math.floor(sid / 2 ** split) * L1STD_BYTES);
    const l1 = ram.read64(Number(l1Addr));
    if (l1 === undefined)
      return { ok: false, reason: `L1STD fetch at 0x${l1Addr.toString(16)} aborted (F_STE_FETCH)` };
    const span = Number(getBits(l1, F.span.hi, F.span.lo));
    const low = sid % 2 ** split;
    if (span === 0 || span > 11 || span > split + 1 || low >= 2 ** (span - 1)) {
      return {
        ok: false,
        reason: `L1STD Span ${span} does not cover StreamID ${sid} (C_BAD_STREAMID)`,
      };
    }
    const l2 = addrBits(l1, F.l2ptr.hi, f.oas) & genmask(F.l2ptr.hi, F.l2ptr.lo);
    // The level-2 array is aligned to its size: L2Ptr[5+Span-1:0] are taken as zero.
    const l2Base = alignDown(l2, BigInt(STE_BYTES * 2 ** (span - 1)));
    steAddr = l2Base + BigInt(low * STE_BYTES);
  } else {
    // Linear (FMT 0b1x is reserved and behaves as linear): the table is aligned to its size.
    steAddr = alignDown(base, BigInt(STE_BYTES * 2 ** log2)) + BigInt(sid * STE_BYTES);
  }
  const words = ram.readWords(Number(steAddr), 2);
  if (!words)
    return { ok: false, reason: `STE fetch at 0x${steAddr.toString(16)} aborted (F_STE_FETCH)` };
  return { ok: true, words: [words[0] as bigint, words[1] as bigint], addr: Number(steAddr) };
}

/** Fields of STE word 0 / word 1 sent when meaningful (all inside the kernel's allowed masks). */
const W0_ALWAYS = maskOf(STE, ['V', 'Config']);
const W0_SUBSTREAMS = maskOf(STE, ['S1Fmt', 'S1CDMax']);
const W1_ALWAYS = maskOf(STE, ['S1CIR', 'S1COR', 'S1CSH', 'S1STALLD']);
const W1_DSS = maskOf(STE, ['S1DSS']);
const W1_EATS = maskOf(STE, ['EATS']);

/**
 * The vSTE for a stage-1 guest STE: V, Config and S1ContextPtr (cut to the advertised OAS);
 * S1Fmt/S1CDMax only with substreams (IGNORED when SSIDSIZE = 0, §5.2 S1CDMax); S1DSS only when
 * S1CDMax ≠ 0 (§5.2 S1DSS); the CD-fetch attributes and S1STALLD; EATS only when ATS is
 * advertised (IGNORED otherwise, §5.2 EATS). Everything else the guest wrote is RES0/IGNORED under
 * the vIDRs and dropped — including SHCFG, which Linux sets for bypass-default-substream masters.
 */
export function maskVste(w0: bigint, w1: bigint, f: SmmuFeatures): [bigint, bigint] {
  const ptr = genmask(Math.min(F.ctxPtr.hi, f.oas - 1), F.ctxPtr.lo);
  let m0 = W0_ALWAYS | ptr;
  let m1 = W1_ALWAYS;
  if (f.ssidSize > 0) {
    m0 |= W0_SUBSTREAMS;
    if (getBits(w0, F.cdMax.hi, F.cdMax.lo) !== 0n) m1 |= W1_DSS;
  }
  if (f.ats) m1 |= W1_EATS;
  return [w0 & m0, w1 & m1];
}

/**
 * What the stream needs, from the guest STE (§5.2.2 order): V = 0 or Config 0b0xx → abort (the
 * host pSTE aborts without an event; see docs/vmm.md for the C_BAD_STE difference), 0b100 →
 * bypass, a stage-1 STE that breaks an ILLEGAL rule governed by the vIDRs (`vidrIllegal`) →
 * illegal (refused by the VMM), anything else with a stage-1 bit or a stage-2 bit → a nested HWPT
 * from the masked vSTE (the kernel validates it: stage-2 configurations are ILLEGAL on this
 * S1-only vSMMU and come back as EIO, which the invalid-vSTE policy handles).
 */
export function decideSte(fetch: SteFetch, f: SmmuFeatures): SteDecision {
  if (!fetch.ok) return { kind: 'abort', reason: fetch.reason };
  const [w0, w1] = fetch.words;
  if (getBits(w0, F.v.hi, F.v.lo) === 0n) return { kind: 'abort', reason: 'STE.V = 0' };
  const config = Number(getBits(w0, F.config.hi, F.config.lo));
  if (config < STE_CFG.BYPASS) return { kind: 'abort', reason: `STE.Config ${config} (abort)` };
  if (config === STE_CFG.BYPASS) return { kind: 'bypass', reason: 'STE.Config 0b100 (bypass)' };
  const reason = (config & 1) === 1 ? vidrIllegal(w0, w1, f) : undefined;
  if (reason !== undefined) return { kind: 'illegal', reason, raw: [w0, w1] };
  return { kind: 'nested', raw: [w0, w1], vste: maskVste(w0, w1, f) };
}

/**
 * The ILLEGAL rules of §5.2 for a stage-1 STE that depend on IDR fields the VMM advertises and
 * on STE fields the kernel passes through unchecked: the host (with its own, possibly wider,
 * IDRs) would accept such an STE, so the VMM refuses it. Returns the reason, or undefined.
 * - §5.2 S1CDMax: with substreams (SSIDSIZE ≠ 0), S1CDMax > SSIDSIZE.
 * - §5.2 S1Fmt: with substreams and S1CDMax ≠ 0, a 2-level format (0b01, 0b10) when CD2L = 0
 *   (0b11 behaves as linear).
 * - §5.2 S1STALLD, §5.5: S1STALLD = 1 when STALL_MODEL ≠ 0b00 (this VMM advertises 0b01).
 * The other stage-1 rows of the ILLEGAL list are either checked by the kernel (Config, EATS) or
 * concern fields the vSTE never carries (STRW, stage 2).
 */
function vidrIllegal(w0: bigint, w1: bigint, f: SmmuFeatures): string | undefined {
  const cdMax = Number(getBits(w0, F.cdMax.hi, F.cdMax.lo));
  if (f.ssidSize > 0 && cdMax > f.ssidSize)
    return `STE.S1CDMax ${cdMax} > SSIDSIZE ${f.ssidSize} (ILLEGAL)`;
  const fmt = Number(getBits(w0, F.s1Fmt.hi, F.s1Fmt.lo));
  if (f.ssidSize > 0 && cdMax !== 0 && !f.cd2l && (fmt === 1 || fmt === 2))
    return `STE.S1Fmt ${fmt} (2-level CD table) with CD2L = 0 (ILLEGAL)`;
  if (getBits(w1, F.stalld.hi, F.stalld.lo) === 1n && f.stallModel !== 0)
    return `STE.S1STALLD = 1 with STALL_MODEL ${f.stallModel} (ILLEGAL)`;
  return undefined;
}
