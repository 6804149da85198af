// Test kit for the VMM unit tests: a VMM on the fake kernel, and a minimal "guest" that programs
// the vSMMU through MMIO with register offsets and field positions written here from IHI 0070 H.a
// §6.2/§6.3 (not taken from src/), and builds STEs and commands from the §5.2 / §4 bit positions.

import { Vmm, type VmmConfig, type VsmmuOptions } from '../../src/vmm/index.ts';
import type { VidrPlan } from '../../src/vmm/vidr.ts';
import { FakeKernel } from './vmm-fake-kernel.ts';

/** Register offsets (§6.2). */
export const OFF = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR3: 0x0c,
  IDR5: 0x14,
  AIDR: 0x1c,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR2: 0x2c,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  IRQ_CTRLACK: 0x54,
  GERROR: 0x60,
  GERRORN: 0x64,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  EVENTQ_IRQ_CFG0: 0xb0,
  EVENTQ_IRQ_CFG1: 0xb8,
  EVENTQ_PROD: 0x100a8,
  EVENTQ_CONS: 0x100ac,
} as const;

/** CR0 bits: SMMUEN 0, EVENTQEN 2, CMDQEN 3. */
export const CR0 = { SMMUEN: 1, EVENTQEN: 4, CMDQEN: 8 } as const;

export const RAM_BASE = 0x4000_0000;
export const ST = RAM_BASE + 0x1_0000;
export const CMDQ = RAM_BASE + 0x2_0000;
export const EVTQ = RAM_BASE + 0x2_1000;
export const DOORBELL = RAM_BASE + 0x3_0000;
export const CD_TABLE = RAM_BASE + 0x4_0000;
/** log2 entries of the guest queues. */
export const QLOG2 = 4;

export interface Kit {
  readonly k: FakeKernel;
  readonly vmm: Vmm;
  readonly v: Vmm['smmus'][number];
  /** Guest command-queue producer index (with wrap bit). */
  prod: number;
}

/** A VMM with one vSMMU and devices at vSIDs 0x8 (vfio0) and 0x10 (vfio1). */
export function makeKit(
  options: VsmmuOptions = {},
  plan: Omit<VidrPlan, 'vsids'> = {},
  tweak?: (k: FakeKernel) => void,
  extra: Partial<VmmConfig> = {},
): Kit {
  const k = new FakeKernel();
  tweak?.(k);
  const vmm = Vmm.create(k, {
    ram: { base: RAM_BASE, size: 0x10_0000 },
    smmus: [
      {
        devices: [
          { path: '/dev/vfio/devices/vfio0', vsid: 0x8 },
          { path: '/dev/vfio/devices/vfio1', vsid: 0x10 },
        ],
        plan,
        options: { eventPolling: 'manual', ...options },
      },
    ],
    ...extra,
  });
  return { k, vmm, v: vmm.smmus[0] as Vmm['smmus'][number], prod: 0 };
}

/** Linux-like bring-up: linear stream table of 2^8 STEs, queues of 2^QLOG2, queues enabled. */
export function boot(kit: Kit, opts: { smmuen?: boolean; irq?: boolean } = {}): void {
  const { v } = kit;
  v.write64(OFF.STRTAB_BASE, BigInt(ST));
  v.write32(OFF.STRTAB_BASE_CFG, 8); // FMT 0 (linear), LOG2SIZE 8
  v.write64(OFF.CMDQ_BASE, BigInt(CMDQ) | BigInt(QLOG2));
  v.write32(OFF.CMDQ_PROD, 0);
  v.write32(OFF.CMDQ_CONS, 0);
  v.write64(OFF.EVENTQ_BASE, BigInt(EVTQ) | BigInt(QLOG2));
  v.write32(OFF.EVENTQ_PROD, 0);
  v.write32(OFF.EVENTQ_CONS, 0);
  if (opts.irq) v.write32(OFF.IRQ_CTRL, 0b101); // GERROR_IRQEN | EVENTQ_IRQEN
  v.write32(OFF.CR0, CR0.CMDQEN | CR0.EVENTQEN);
  if (opts.smmuen !== false) v.write32(OFF.CR0, CR0.CMDQEN | CR0.EVENTQEN | CR0.SMMUEN);
  kit.prod = 0;
}

function u64le(b: Uint8Array, o: number, w: bigint): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(o, BigInt.asUintN(64, w), true);
}

/** Writes guest STE words 0 and 1 (others zero) for `sid` in the linear table. */
export function writeSte(kit: Kit, sid: number, w0: bigint, w1 = 0n): void {
  const b = new Uint8Array(64);
  u64le(b, 0, w0);
  u64le(b, 8, w1);
  kit.vmm.ram.writeBytes(ST + 64 * sid, b);
}

/** Queues commands and writes CMDQ_PROD once. */
export function submit(kit: Kit, ...cmds: (readonly [bigint, bigint])[]): void {
  const n = 2 ** QLOG2;
  for (const [w0, w1] of cmds) {
    const b = new Uint8Array(16);
    u64le(b, 0, w0);
    u64le(b, 8, w1);
    kit.vmm.ram.writeBytes(CMDQ + 16 * (kit.prod % n), b);
    kit.prod = (kit.prod + 1) % (2 * n);
  }
  kit.v.write32(OFF.CMDQ_PROD, kit.prod);
}

/** Command encodings (§4.1.1 opcodes; StreamID W0[63:32]). */
export const C = {
  cfgiSte: (sid: number) => [0x03n | (BigInt(sid) << 32n), 1n] as const,
  cfgiAll: () => [0x04n, 31n] as const,
  cfgiRange: (sid: number, range: number) => [0x04n | (BigInt(sid) << 32n), BigInt(range)] as const,
  cfgiCd: (sid: number) => [0x05n | (BigInt(sid) << 32n), 1n] as const,
  cfgiCdAll: (sid: number) => [0x06n | (BigInt(sid) << 32n), 0n] as const,
  tlbiNhAll: () => [0x10n, 0n] as const,
  tlbiNhAsid: (asid: number) => [0x11n | (BigInt(asid) << 48n), 0n] as const,
  tlbiNhVa: (asid: number, va: bigint) => [0x12n | (BigInt(asid) << 48n), va] as const,
  tlbiNsnhAll: () => [0x30n, 0n] as const,
  tlbiS2Ipa: () => [0x2an, 0n] as const,
  prefetch: (sid: number) => [0x01n | (BigInt(sid) << 32n), 0n] as const,
  /** CMD_SYNC: CS W0[13:12], MSIData W0[63:32], MSIAddr W1[51:2]. */
  sync: (cs = 0, data = 0, addr = 0n) =>
    [0x46n | (BigInt(cs) << 12n) | (BigInt(data) << 32n), addr] as const,
} as const;

/** STE word 0 of a stage-1 STE: V, Config 0b101, S1ContextPtr. */
export function s1Ste(ctxPtr: number, extra0 = 0n): bigint {
  return 1n | (5n << 1n) | BigInt(ctxPtr) | extra0;
}

/** Reads event record `i` of the guest event queue (four words). */
export function guestEvent(kit: Kit, i: number): bigint[] {
  const w = kit.vmm.ram.readWords(EVTQ + 32 * (i % 2 ** QLOG2), 4);
  if (!w) throw new Error('event queue outside RAM');
  return w;
}

/** The CMDQ_CONS.ERR field [30:24]. */
export function consErr(kit: Kit): number {
  return (kit.v.read32(OFF.CMDQ_CONS) >>> 24) & 0x7f;
}

/** The CMDQ_CONS.RD pointer (index + wrap). */
export function consRd(kit: Kit): number {
  return kit.v.read32(OFF.CMDQ_CONS) & (2 ** (QLOG2 + 1) - 1);
}

/** Whether GERROR.CMDQ_ERR (bit 0) is active (GERROR ≠ GERRORN). */
export function cmdqErrActive(kit: Kit): boolean {
  return ((kit.v.read32(OFF.GERROR) ^ kit.v.read32(OFF.GERRORN)) & 1) === 1;
}

/** Acknowledges every active global error (toggle GERRORN to GERROR). */
export function ackErrors(kit: Kit): void {
  kit.v.write32(OFF.GERRORN, kit.v.read32(OFF.GERROR));
}
