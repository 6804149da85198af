// Shared set-up for the guest-driver tests: a bare-metal machine in which guest RAM is the SMMU
// model's own physical memory (the real register/queue side with the real translation side),
// the Linux-like guest driver on the SMMU's MMIO, and a recording MMIO wrapper so tests can check
// the order of register writes. Field positions used by the tests to *check* what the driver wrote
// are written out here from the spec (IHI 0070 H.a §5.2 STE, §5.4 CD, §6.3 registers, §4 commands)
// rather than taken from the driver's own encoder.

import { GuestArmSmmuV3, type GuestDriverOptions } from '../../src/guest/arm-smmu-v3.ts';
import { createGuestRam } from '../../src/guest/guest-ram.ts';
import { mmioFromRegion, type SmmuMmio } from '../../src/guest/mmio.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import { encodeIdrs, QEMU_VIRT_IDRS } from '../../src/smmu/features.ts';
import { type IrqLine, Smmu } from '../../src/smmu/smmu.ts';
import {
  createTranslation,
  type Translation,
  type TranslationOptions,
} from '../../src/smmu/translate.ts';
import type { SmmuFeatures, TraceEvent } from '../../src/smmu/types.ts';

/** Guest RAM window the driver allocates from. */
export const RAM_BASE = 0x4000_0000;
export const RAM_SIZE = 0x1000_0000;
/** A data area the tests use for DMA buffers (outside the allocator's region). */
export const DATA_BASE = 0x8000_0000;

/** One MMIO access as recorded. */
export interface MmioAccess {
  readonly kind: 'r32' | 'w32' | 'r64' | 'w64';
  readonly offset: number;
  readonly value: bigint;
}

/** Wraps an MMIO interface and records every access. */
export function recordingMmio(inner: SmmuMmio): SmmuMmio & { readonly log: MmioAccess[] } {
  const log: MmioAccess[] = [];
  return {
    log,
    read32(offset) {
      const v = inner.read32(offset);
      log.push({ kind: 'r32', offset, value: BigInt(v) });
      return v;
    },
    write32(offset, value) {
      log.push({ kind: 'w32', offset, value: BigInt(value >>> 0) });
      inner.write32(offset, value);
    },
    read64(offset) {
      const v = inner.read64(offset);
      log.push({ kind: 'r64', offset, value: v });
      return v;
    },
    write64(offset, value) {
      log.push({ kind: 'w64', offset, value });
      inner.write64(offset, value);
    },
  };
}

/** Register offsets from IHI 0070 H.a §6.2 (written out, not imported). */
export const REG = {
  IDR0: 0x00,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  IRQ_CTRLACK: 0x54,
  GERROR: 0x60,
  GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_IRQ_CFG0: 0xb0,
  EVENTQ_PROD: 0x100a8,
  EVENTQ_CONS: 0x100ac,
} as const;

/** Options of a test machine. */
export interface MachineOptions {
  /** SMMU features on top of QEMU `virt`'s ID registers. */
  readonly features?: Partial<SmmuFeatures>;
  readonly driver?: GuestDriverOptions;
  readonly translation?: TranslationOptions;
  /** Wire the SMMU's interrupt outputs to the driver (driver option interrupts: 'wired'). */
  readonly wired?: boolean;
  readonly trace?: (e: TraceEvent) => void;
  /** Deliver the SMMU's MSI writes to the driver's doorbell as interrupts. */
  readonly msiWired?: boolean;
  /** Run probe() (default true). */
  readonly probe?: boolean;
}

/** A bare-metal machine: memory, SMMU (both sides), guest driver. */
export interface Machine {
  readonly mem: SparseMemory;
  readonly smmu: Smmu;
  readonly t: Translation;
  readonly driver: GuestArmSmmuV3;
  readonly mmio: SmmuMmio & { readonly log: MmioAccess[] };
  readonly probeResult: number;
}

/** Builds a machine; the driver is probed unless `probe: false`. */
export function machine(opts: MachineOptions = {}): Machine {
  const mem = new SparseMemory();
  let t: Translation | undefined;
  let driver: GuestArmSmmuV3 | undefined;
  const idr = opts.features ? encodeIdrs(opts.features, QEMU_VIRT_IDRS) : QEMU_VIRT_IDRS;
  const smmu = new Smmu({
    mem,
    idr,
    translation: (core) => {
      t = createTranslation(core, opts.translation);
      return t;
    },
    ...(opts.trace ? { trace: opts.trace } : {}),
    ...(opts.msiWired
      ? {
          msi: (w: { address: bigint; data: number }) => {
            if (w.address !== BigInt(opts.driver?.msiDoorbell ?? -1)) return;
            const line = driver?.msiLine(w.data);
            if (line) driver?.interrupt(line);
          },
        }
      : {}),
    ...(opts.wired
      ? {
          irq: (line: IrqLine, level: boolean) => {
            if (level) driver?.interrupt(line);
          },
        }
      : {}),
  });
  const mmio = recordingMmio(mmioFromRegion(smmu));
  const ram = createGuestRam(mem, RAM_BASE, RAM_SIZE);
  driver = new GuestArmSmmuV3(
    { mmio, ram },
    { ...(opts.wired ? { interrupts: 'wired' as const } : {}), ...opts.driver },
  );
  const probeResult = opts.probe === false ? 0 : driver.probe();
  return { mem, smmu, t: t as unknown as Translation, driver, mmio, probeResult };
}

/** Unwraps a driver result, failing the test on a negative errno. */
export function must<T>(x: T | number): T {
  if (typeof x === 'number') throw new Error(`driver call failed with ${x}`);
  return x;
}

/** Bits [hi:lo] of a 64-bit word (test-side reference). */
export function bits(w: bigint, hi: number, lo: number): number {
  return Number((w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
}

/** Fills `len` bytes at `pa` with a recognisable pattern derived from `seed`. */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (seed * 31 + i * 7 + (i >> 8)) & 0xff;
  return out;
}
