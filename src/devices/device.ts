// DMA-capable devices as hardware: a PCI-ish identity (name, StreamID(s), ATS and PASID
// capability) and a DMA master that turns reads and writes of IOVA ranges into transactions
// presented to an IOMMU (interfaces.md §4 translate contract; IHI 0070 H.a §3.9 transaction
// attributes). PCIe forbids a request from crossing a 4 KiB address boundary (PCIe Base §2.2.7),
// and no translation granule is smaller than 4 KiB, so every transaction stays inside one 4 KiB
// page of IOVA space and therefore maps to one contiguous physical range.
//
// A device knows nothing of iommufd or of which IOMMU sits in front of it: it talks to a DmaPort
// (translate + physical memory). The SMMU model is a DmaPort as it is (`translate` and `mem`);
// `identityPort` is the no-IOMMU case.

import { VsmmuError } from '../arch/errors.ts';
import type { EventRecord } from '../arch/trace.ts';
import type { Access, TranslateRequest, TranslateResult } from '../smmu/types.ts';

/** PCIe requests never cross a 4 KiB boundary; the DMA master splits there. */
export const DMA_BOUNDARY = 4096;

/** What a device is, as firmware and PCI config space describe it. */
export interface DeviceIdentity {
  readonly name: string;
  /** StreamIDs the device emits (a PCI function: usually one, its Requester ID). */
  readonly streamIds: readonly number[];
  /** PCIe ATS capability. */
  readonly ats: boolean;
  /** PASID capability width in bits (0 = no PASID capability). */
  readonly pasidBits: number;
}

/** Validates and normalises a device identity (usage errors throw VsmmuError). */
export function deviceIdentity(spec: {
  readonly name: string;
  readonly streamIds: readonly number[];
  readonly ats?: boolean;
  readonly pasidBits?: number;
}): DeviceIdentity {
  if (typeof spec.name !== 'string' || spec.name.length === 0) {
    throw new VsmmuError('BAD_CONFIG', 'a device needs a name');
  }
  if (spec.streamIds.length === 0) {
    throw new VsmmuError('BAD_CONFIG', `device ${spec.name} needs at least one StreamID`);
  }
  for (const sid of spec.streamIds) {
    if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** 32) {
      throw new VsmmuError(
        'BAD_CONFIG',
        `device ${spec.name}: StreamID ${String(sid)} is not a u32`,
      );
    }
  }
  const pasidBits = spec.pasidBits ?? 0;
  if (!Number.isInteger(pasidBits) || pasidBits < 0 || pasidBits > 20) {
    throw new VsmmuError('BAD_CONFIG', `device ${spec.name}: pasidBits must be 0..20`);
  }
  return { name: spec.name, streamIds: [...spec.streamIds], ats: spec.ats ?? false, pasidBits };
}

/** Physical memory as a device reaches it after translation (SparseMemory satisfies it). */
export interface PhysMemory {
  readBytes(pa: number, len: number): Uint8Array;
  writeBytes(pa: number, bytes: Uint8Array): void;
  /** True when an access of `size` bytes at `pa` is an external abort (optional). */
  aborts?(pa: number, size: number): boolean;
}

/**
 * A terminated transaction may complete as RAZ/WI instead of aborting (IHI 0070 §3.12, CD.A = 0):
 * reads return zeros, writes are ignored, and the device cannot tell. A translation side reports
 * that with `razwi: true` on the failed result.
 */
export type DmaTranslateResult = TranslateResult & { readonly razwi?: boolean };

/** Where a device's transactions go: an IOMMU's translate() and the memory behind it. */
export interface DmaPort {
  translate(req: TranslateRequest): DmaTranslateResult;
  readonly mem: PhysMemory;
}

/** A port without an IOMMU: IOVA = PA. */
export function identityPort(mem: PhysMemory): DmaPort {
  return {
    mem,
    translate: (req) => ({ ok: true, pa: req.iova, attrs: {} }),
  };
}

/** Why a DMA stopped. */
export interface DmaFault {
  /** IOVA of the transaction that was terminated. */
  readonly iova: bigint;
  readonly access: Access;
  readonly ssid: number | undefined;
  /**
   * 'translation' — the IOMMU terminated it (an event may have been recorded); 'stalled' — the
   * IOMMU stalled it (the device gives up on it here); 'external-abort' — the translated access
   * to memory aborted.
   */
  readonly reason: 'translation' | 'stalled' | 'external-abort';
  /** The event record the IOMMU produced, when it recorded one. */
  readonly event?: EventRecord;
  /** Output address of an access that aborted in memory. */
  readonly pa?: bigint;
}

/** Cost counters of a DMA master. */
export interface DmaStats {
  /** Transactions presented to the IOMMU. */
  transactions: number;
  readTransactions: number;
  writeTransactions: number;
  bytesRead: number;
  bytesWritten: number;
  /** Transactions that were terminated or aborted (each stops its DMA). */
  faults: number;
  /** Transactions completed as RAZ/WI. */
  razWi: number;
}

/** Per-DMA options. */
export interface DmaOptions {
  /** SubstreamID (PASID) of the transactions; undefined = none. */
  readonly ssid?: number | undefined;
  /** Privileged transactions (PnU = 1). */
  readonly priv?: boolean | undefined;
}

/** Outcome of a DMA read. */
export type DmaReadResult =
  | { readonly ok: true; readonly data: Uint8Array }
  | {
      readonly ok: false;
      readonly fault: DmaFault;
      /** Bytes read before the fault (the data of those bytes is in `data`). */
      readonly done: number;
      readonly data: Uint8Array;
    };

/** Outcome of a DMA write. */
export type DmaWriteResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly fault: DmaFault; readonly done: number };

/** Checks and converts an IOVA argument (usage errors throw VsmmuError). */
export function toIova(v: bigint | number): bigint {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) {
    throw new VsmmuError('OUT_OF_RANGE', `IOVA ${String(v)} is not an integer`);
  }
  const b = typeof v === 'bigint' ? v : BigInt(v);
  if (b < 0n || b >= 1n << 64n)
    throw new VsmmuError('OUT_OF_RANGE', `IOVA ${String(v)} is not a u64`);
  return b;
}

/**
 * The DMA engine inside a device: splits accesses at 4 KiB IOVA boundaries, translates each
 * transaction through the port and moves the bytes, stopping at the first transaction that is
 * terminated (RAZ/WI completions carry on with zeros / dropped data).
 */
export class DmaMaster {
  readonly identity: DeviceIdentity;
  readonly port: DmaPort;
  readonly stats: DmaStats = {
    transactions: 0,
    readTransactions: 0,
    writeTransactions: 0,
    bytesRead: 0,
    bytesWritten: 0,
    faults: 0,
    razWi: 0,
  };
  /** The StreamID the transactions carry. */
  readonly sid: number;

  constructor(identity: DeviceIdentity, port: DmaPort, sidIndex = 0) {
    this.identity = identity;
    this.port = port;
    const sid = identity.streamIds[sidIndex];
    if (sid === undefined) {
      throw new VsmmuError('BAD_CONFIG', `device ${identity.name} has no StreamID #${sidIndex}`);
    }
    this.sid = sid;
  }

  private checkSsid(ssid: number | undefined): void {
    if (ssid === undefined) return;
    const bits = this.identity.pasidBits;
    if (bits === 0 || !Number.isInteger(ssid) || ssid < 0 || ssid >= 2 ** bits) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        bits === 0
          ? `device ${this.identity.name} has no PASID capability`
          : `PASID ${String(ssid)} exceeds the ${bits}-bit PASID capability of ${this.identity.name}`,
      );
    }
  }

  /**
   * One transaction of `len` bytes (within one 4 KiB page) at `iova`: the physical address, a
   * RAZ/WI completion, or a fault.
   */
  private transaction(
    iova: bigint,
    len: number,
    access: Access,
    opts: DmaOptions,
  ): { kind: 'pa'; pa: number } | { kind: 'raz' } | { kind: 'fault'; fault: DmaFault } {
    this.stats.transactions++;
    if (access === 'read') this.stats.readTransactions++;
    else this.stats.writeTransactions++;
    const res = this.port.translate({
      sid: this.sid,
      ssid: opts.ssid,
      iova,
      access,
      priv: opts.priv,
    });
    if (!res.ok) {
      if (res.razwi === true) {
        this.stats.razWi++;
        return { kind: 'raz' };
      }
      this.stats.faults++;
      const fault: DmaFault = {
        iova,
        access,
        ssid: opts.ssid,
        reason: res.stalled ? 'stalled' : 'translation',
        ...(res.event ? { event: res.event } : {}),
      };
      return { kind: 'fault', fault };
    }
    if (res.pa + BigInt(len) > 1n << 53n || this.port.mem.aborts?.(Number(res.pa), len)) {
      this.stats.faults++;
      return {
        kind: 'fault',
        fault: { iova, access, ssid: opts.ssid, reason: 'external-abort', pa: res.pa },
      };
    }
    return { kind: 'pa', pa: Number(res.pa) };
  }

  /** Reads `len` bytes at `iova` through the IOMMU. */
  read(iova: bigint | number, len: number, opts: DmaOptions = {}): DmaReadResult {
    const start = toIova(iova);
    if (!Number.isSafeInteger(len) || len < 0) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        `DMA length ${String(len)} is not a non-negative integer`,
      );
    }
    this.checkSsid(opts.ssid);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = start + BigInt(done);
      const chunk = Math.min(len - done, DMA_BOUNDARY - Number(a % BigInt(DMA_BOUNDARY)));
      const t = this.transaction(a, chunk, 'read', opts);
      if (t.kind === 'fault')
        return { ok: false, fault: t.fault, done, data: out.subarray(0, done) };
      // RAZ/WI: the bytes stay zero.
      if (t.kind === 'pa') out.set(this.port.mem.readBytes(t.pa, chunk), done);
      this.stats.bytesRead += chunk;
      done += chunk;
    }
    return { ok: true, data: out };
  }

  /** Writes `data` at `iova` through the IOMMU. */
  write(iova: bigint | number, data: Uint8Array, opts: DmaOptions = {}): DmaWriteResult {
    const start = toIova(iova);
    this.checkSsid(opts.ssid);
    let done = 0;
    while (done < data.length) {
      const a = start + BigInt(done);
      const chunk = Math.min(data.length - done, DMA_BOUNDARY - Number(a % BigInt(DMA_BOUNDARY)));
      const t = this.transaction(a, chunk, 'write', opts);
      if (t.kind === 'fault') return { ok: false, fault: t.fault, done };
      if (t.kind === 'pa') this.port.mem.writeBytes(t.pa, data.subarray(done, done + chunk));
      this.stats.bytesWritten += chunk;
      done += chunk;
    }
    return { ok: true };
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Little-endian u32 of a byte array at `off`. */
export function leU32(b: Uint8Array, off: number): number {
  return view(b).getUint32(off, true);
}

/** Little-endian u64 of a byte array at `off`. */
export function leU64(b: Uint8Array, off: number): bigint {
  return view(b).getBigUint64(off, true);
}

/** Stores a little-endian u32 into a byte array at `off`. */
export function putLeU32(b: Uint8Array, off: number, v: number): void {
  view(b).setUint32(off, v >>> 0, true);
}

/** Stores a little-endian u64 into a byte array at `off`. */
export function putLeU64(b: Uint8Array, off: number, v: bigint): void {
  view(b).setBigUint64(off, BigInt.asUintN(64, v), true);
}
