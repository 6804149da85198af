// PCIe ATS as the SMMUv3 sees it (Arm IHI 0070 H.a §3.9 ATS and PRI, §3.9.1 ATS Translation
// Requests and Translated transactions, §4.5.1 CMD_ATC_INV, §5.2 STE.EATS, SMMU_CR0.ATSCHK,
// §7.3.6 F_BAD_ATS_TREQ, §7.3.8 F_TRANSL_FORBIDDEN; smmuv3-arch.md [1.1], [2.1]): the request and
// completion shapes of the Translation Request API, and a model of an endpoint's Address
// Translation Cache that CMD_ATC_INV invalidates.

import { lowBits } from '../arch/bits.ts';

/** An ATS Translation Request from an endpoint (PCIe ATS 1.1 fields the SMMU sees). */
export interface AtsRequest {
  readonly sid: number;
  /** PASID; undefined = no PASID prefix. */
  readonly ssid?: number | undefined;
  /** Untranslated address (the request carries bits [63:12]). */
  readonly iova: bigint;
  /** No-Write: the endpoint asks for read access only. */
  readonly noWrite?: boolean | undefined;
  /** Execute requested (PASID prefix). */
  readonly exec?: boolean | undefined;
  /** Privileged mode requested (PASID prefix). */
  readonly priv?: boolean | undefined;
  /** Number of STUs (4 KiB) requested, 1..16 (default 1). */
  readonly span?: number | undefined;
}

/**
 * The completion: UR (Unsupported Request: ATS not permitted, F_BAD_ATS_TREQ recorded), CA
 * (Completer Abort: configuration error, nothing recorded), or a translation. A translation
 * fault completes successfully with R = W = 0 (nothing recorded).
 */
export type AtsCompletion =
  | { readonly status: 'UR' }
  | { readonly status: 'CA' }
  | {
      readonly status: 'SUCCESS';
      /** Translated address of the request's first STU (PA; IPA for split-stage EATS 0b10). */
      readonly translated: bigint;
      /** Bytes the translation covers (a power of two ≥ 4 KiB, aligned). */
      readonly size: number;
      readonly read: boolean;
      readonly write: boolean;
      readonly exec: boolean;
      readonly priv: boolean;
      /** Split-stage translation (the address is an IPA; stage 2 applies on use). */
      readonly splitStage: boolean;
    };

/** A Translated transaction (PCIe AT = 0b10) presented to the SMMU. */
export interface TranslatedRequest {
  readonly sid: number;
  readonly ssid?: number | undefined;
  /** Translated address (PA, or IPA with split-stage ATS). */
  readonly addr: bigint;
  readonly access: 'read' | 'write';
}

/** An ATC entry: a successful completion cached by the endpoint. */
export interface AtcEntry {
  readonly sid: number;
  readonly ssid: number | undefined;
  /** Untranslated base (aligned to size). */
  readonly base: number;
  readonly size: number;
  readonly completion: Extract<AtsCompletion, { status: 'SUCCESS' }>;
}

/**
 * An endpoint's Address Translation Cache. Entries come from successful completions; CMD_ATC_INV
 * removes the span 4 KiB · 2^Size aligned to itself (52 = everything) for the StreamID: for one
 * PASID, or for every PASID when the command has no PASID (SSV = 0) or sets Global.
 */
export class Atc {
  private entries: AtcEntry[] = [];

  /** Caches a successful completion for `req` (untranslated address below 2^52). */
  fill(req: AtsRequest, c: AtsCompletion): void {
    if (c.status !== 'SUCCESS' || (!c.read && !c.write)) return;
    const addr = Number(req.iova % (1n << 52n));
    const base = addr - lowBits(addr, Math.log2(c.size));
    this.entries = this.entries.filter(
      (e) => !(e.sid === req.sid && e.ssid === req.ssid && e.base === base),
    );
    this.entries.push({ sid: req.sid, ssid: req.ssid, base, size: c.size, completion: c });
  }

  /** The cached translation of an untranslated address, if any. */
  lookup(sid: number, ssid: number | undefined, iova: bigint): AtcEntry | undefined {
    const a = Number(iova % (1n << 52n));
    return this.entries.find(
      (e) => e.sid === sid && e.ssid === ssid && a >= e.base && a < e.base + e.size,
    );
  }

  /** CMD_ATC_INV: returns how many entries went. */
  invalidate(
    sid: number,
    ssid: number | undefined,
    global: boolean,
    addr: bigint,
    sizeLog2: number,
  ): number {
    const before = this.entries.length;
    const all = sizeLog2 >= 52;
    const span = all ? 0 : 4096 * 2 ** sizeLog2;
    const a = Number(addr % (1n << 52n));
    const start = all ? 0 : a - lowBits(a, 12 + sizeLog2);
    this.entries = this.entries.filter((e) => {
      if (e.sid !== sid) return true;
      // An invalidation without PASID reaches every entry of the function (PCIe ATS: there is no
      // way to name only the PASID-less ones); with a PASID only that PASID's entries go, or every
      // PASID's with Global.
      if (ssid !== undefined && !global && e.ssid !== ssid) return true;
      if (all) return false;
      return !(e.base < start + span && e.base + e.size > start);
    });
    return before - this.entries.length;
  }

  get size(): number {
    return this.entries.length;
  }

  list(): readonly AtcEntry[] {
    return this.entries;
  }
}
