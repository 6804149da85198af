// How the VMM talks to the kernel: every request is an ioctl(2) whose struct the VMM lays out
// itself from the UAPI layout tables (include/uapi/linux/iommufd.h, include/uapi/linux/vfio.h;
// offsets via src/iommufd/uapi.ts), with driver data (vSTE, invalidation arrays, hw_info buffers)
// placed in the VMM's own memory and passed by user VA, as QEMU's backends/iommufd.c and
// Cloud Hypervisor's iommufd-ioctls crate do. Each call is counted by name, traced, and a failure
// is logged with the ioctl name, the errno name and the decoded struct that caused it.

import { hex } from '../arch/bits.ts';
import { errnoName } from '../arch/errno.ts';
import { VsmmuError } from '../arch/errors.ts';
import type { TraceSink } from '../arch/trace.ts';
import { decodeStruct, encodeStruct, REQ, type UapiStruct } from '../iommufd/uapi.ts';
import { bump, type VmmCounters } from './counters.ts';
import type { VmmSyscalls } from './facade.ts';

/** A line the VMM logs (its stderr). */
export interface VmmLogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly text: string;
}

/** Where log lines go. */
export type VmmLogger = (e: VmmLogEntry) => void;

/** Name of an ioctl the VMM issues (the kernel header's macro name). */
export type IoctlName = keyof typeof REQ;

/** Result of one ioctl: the return value and the struct bytes after the kernel wrote back. */
export interface IoctlOutcome {
  readonly ret: number;
  readonly bytes: Uint8Array;
}

/** Bytes of VMM memory reserved for ioctl payloads (vSTE, invalidation arrays, hw_info data). */
export const SCRATCH_BYTES = 0x10000;

function fmtValue(v: bigint | bigint[]): string {
  if (Array.isArray(v)) return `[${v.map((x) => fmtValue(x)).join(', ')}]`;
  return v >= 0x10000n ? hex(v) : v.toString();
}

/** `{member=value, …}` of a struct's bytes, in declaration order. */
export function formatStruct(s: UapiStruct, bytes: Uint8Array): string {
  const full = bytes.length >= s.size ? bytes : padTo(bytes, s.size);
  const d = decodeStruct(s, full);
  const parts = Object.entries(d).map(([k, v]) => `${k}=${fmtValue(v)}`);
  return `${s.name} {${parts.join(', ')}}`;
}

function padTo(b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

/** The VMM's ioctl issuer: lays out structs, counts, traces and logs failures. */
export class IoctlIssuer {
  readonly sys: VmmSyscalls;
  private readonly counters: VmmCounters;
  private readonly log: VmmLogger;
  private readonly trace: TraceSink | undefined;
  private scratchVa: bigint | undefined;

  constructor(sys: VmmSyscalls, counters: VmmCounters, log: VmmLogger, trace?: TraceSink) {
    this.sys = sys;
    this.counters = counters;
    this.log = log;
    this.trace = trace;
  }

  /**
   * Issues `name` on `fd` with a struct built from `values` (members not given are 0; `size` /
   * `argsz` default to sizeof). `detail` adds the driver data to the failure log line.
   */
  call(
    name: IoctlName,
    fd: number,
    struct: UapiStruct,
    values: Readonly<Record<string, bigint | number>>,
    detail?: string,
  ): IoctlOutcome {
    const bytes = encodeStruct(struct, values);
    const ret = this.sys.ioctl(fd, REQ[name], bytes);
    bump(this.counters.ioctls, name);
    this.trace?.({ kind: 'ioctl', name, ret, bytes });
    if (ret < 0) {
      bump(this.counters.ioctlFailures, name);
      this.log({
        level: 'error',
        text:
          `ioctl ${name} failed: ${errnoName(ret)} (${ret}); ${formatStruct(struct, bytes)}` +
          (detail ? `; ${detail}` : ''),
      });
    }
    return { ret, bytes };
  }

  /**
   * Copies `payload` into the VMM's scratch memory and returns its user VA (what a `data_uptr`
   * member points at). The scratch area is one anonymous mapping made on first use.
   */
  stage(payload: Uint8Array): bigint {
    if (payload.length > SCRATCH_BYTES) {
      throw new VsmmuError(
        'OUT_OF_RANGE',
        `ioctl payload of ${payload.length} bytes exceeds the scratch area`,
      );
    }
    const va = this.scratch();
    if (payload.length > 0) this.sys.write(va, payload);
    return va;
  }

  /** Reads back `n` bytes the kernel wrote into the scratch area. */
  unstage(n: number): Uint8Array {
    const b = this.sys.read(this.scratch(), n);
    return typeof b === 'number' ? new Uint8Array(n) : b;
  }

  private scratch(): bigint {
    if (this.scratchVa === undefined) this.scratchVa = this.sys.mmap(SCRATCH_BYTES);
    return this.scratchVa;
  }
}
