// Building the machine a scenario declares (issue 6 item 3): the host (kernel model with its SMMU
// hardware model, devices with StreamIDs, kernel profile and switches, kernel_capabilities), the
// VMM process with its syscall wrapper and the label table, and — for guest scenarios — the VMM
// vSMMU, guest RAM, guest driver and DMA devices (guest-world.ts). Also the cost counters of a run
// (issue 6 item 5), read from the parts that count them.

import { getBits, hex, setBits } from '../arch/bits.ts';
import type { StructDef } from '../arch/fields.ts';
import * as R from '../arch/regs.ts';
import type { EventRecord, TraceEvent, TraceSink } from '../arch/trace.ts';
import { type DmaFault, DmaMaster, type DmaPort, deviceIdentity } from '../devices/device.ts';
import { createHost, type Host } from '../iommufd/host.ts';
import type { KernelSwitches } from '../iommufd/profile.ts';
import { type IdRegisters, QEMU_VIRT_IDRS } from '../smmu/features.ts';
import { DEFAULT_DEVICES } from './check.ts';
import type { RunCounters, ScenarioTrace } from './result.ts';
import type { ScenarioSanitizer } from './sanitizer.ts';
import type { Machine } from './schema.ts';
import { CountingSyscalls } from './syscalls.ts';

/** A device of the scenario machine. */
export interface ScenarioDevice {
  readonly name: string;
  /** Index in the host's device list (its cdev is /dev/vfio/devices/vfio<index>). */
  readonly hostIndex: number;
  readonly path: string;
  readonly sid: number;
  readonly vsid: number;
  readonly ats: boolean;
  readonly pasidBits: number;
}

/** What the runner needs from a guest (implemented in guest-world.ts). */
export interface GuestSide {
  attach(
    device: string,
    domain: string,
    type: 's1' | 'bypass' | 'abort',
    ssid: number | undefined,
  ): StepOutcome;
  detach(device: string, ssid: number | undefined): StepOutcome;
  hotUnplug(device: string): StepOutcome;
  map(
    domain: string,
    iova: bigint,
    size: bigint,
    pa: bigint | undefined,
    prot: 'rw' | 'r' | 'w',
  ): StepOutcome;
  unmap(domain: string, iova: bigint, size: bigint): StepOutcome;
  dma(device: string, req: DmaRequest): DmaOutcome;
  mmioWrite(offset: number, size: 4 | 8, value: bigint): void;
  mmioRead(offset: number, size: 4 | 8): bigint;
  /** Writes raw entries to the guest command queue and lets the vSMMU consume them. */
  commands(entries: readonly (readonly [bigint, bigint])[]): StepOutcome;
  /** Events the guest driver received since the last call. */
  takeEvents(): EventRecord[];
  /** Trapped MMIO accesses so far. */
  exits(): number;
  /** New VMM/guest log lines since the last call. */
  takeLog(): string[];
  /** Overwrites the guest STE of a device (raw words) and optionally invalidates it. */
  writeSte(device: string, words: readonly bigint[], invalidate: boolean): StepOutcome;
  /** Labels of the VMM's iommufd objects (check.ts GUEST_LABELS). */
  labels(): ReadonlyMap<string, bigint>;
  /** Guest-physical address of a host-physical address inside guest RAM (else undefined). */
  gpaOf(hpa: bigint): bigint | undefined;
}

/** Outcome of a guest action. */
export interface StepOutcome {
  readonly ok: boolean;
  /** Why it failed. */
  readonly detail?: string;
  /** The negative errno a failing guest-driver call returned (absent: no errno to report). */
  readonly errno?: number;
}

/** A device DMA. */
export interface DmaRequest {
  readonly iova: bigint;
  readonly ssid: number | undefined;
  readonly write: Uint8Array | undefined;
  readonly read: number | undefined;
}

/** What a DMA did. */
export interface DmaOutcome {
  readonly ok: boolean;
  readonly data?: Uint8Array;
  /** The event the SMMU recorded for a terminated transaction (hardware view). */
  readonly event?: EventRecord;
  readonly detail?: string;
}

/** The running machine. */
export interface World {
  readonly host: Host;
  readonly sys: CountingSyscalls;
  readonly devices: readonly ScenarioDevice[];
  /** Label values (fds, object IDs, buffer addresses). */
  readonly labels: Map<string, bigint>;
  guest: GuestSide | undefined;
  /** Single-stage table walks seen so far. */
  walks: number;
  /** Index of the next host driver event to log. */
  hostEventsSeen: number;
  /** The stale-translation sanitizer (machine.sanitizer: true). */
  sanitizer: ScenarioSanitizer | undefined;
}

const IDR_TABLES: readonly [keyof IdRegisters, StructDef][] = [
  ['idr0', R.IDR0],
  ['idr1', R.IDR1],
  ['idr2', R.IDR2],
  ['idr3', R.IDR3],
  ['idr4', R.IDR4],
  ['idr5', R.IDR5],
  ['aidr', R.AIDR],
];

/** The ID registers a machine declares: QEMU 10.0.2 virt defaults with raw or field overrides. */
export function machineIdrs(m: Machine): IdRegisters {
  const out: Record<string, number> = { ...QEMU_VIRT_IDRS };
  for (const [key, def] of IDR_TABLES) {
    const v = m.smmu?.idr?.[key];
    if (v === undefined) continue;
    if (typeof v === 'number') {
      out[key] = v >>> 0;
      continue;
    }
    let w = BigInt(out[key] ?? 0);
    for (const [name, x] of Object.entries(v)) {
      const f = def.fields.find((y) => y.name === name);
      if (f) w = setBits(w, f.hi, f.lo, BigInt(x));
    }
    out[key] = Number(getBits(w, 31, 0));
  }
  return out as unknown as IdRegisters;
}

const SWITCH_KEYS: readonly [string, keyof KernelSwitches][] = [
  ['nested-attach-without-vdevice', 'nestedAttachWithoutVdevice'],
  ['ste-update-safe', 'steUpdateSafe'],
  ['strict-invalidate', 'strictInvalidate'],
  ['ats-for-bypass-vste', 'atsForBypassVste'],
  ['report-ats-not-supported', 'reportAtsNotSupported'],
  ['vdevice-single-sid', 'vdeviceSingleSid'],
];

/** True for a walk-step that ends a single-stage walk (anything but a next-level table). */
function endsWalk(e: TraceEvent): boolean {
  return e.kind === 'walk-step' && e.decision !== 'table';
}

/** Builds the host, the VMM process and its labels (the guest is added by guest-world.ts). */
export function buildHostWorld(m: Machine, trace: ScenarioTrace | undefined): World {
  const devs = m.devices ?? DEFAULT_DEVICES;
  const switches: Partial<Record<keyof KernelSwitches, boolean>> = {};
  for (const [k, name] of SWITCH_KEYS) {
    const v = m.switches?.[k as keyof NonNullable<Machine['switches']>];
    if (v !== undefined) switches[name] = v;
  }
  let world: World | undefined;
  const sink: TraceSink = (e) => {
    if (world && endsWalk(e)) world.walks++;
    // ioctls are traced by the syscall wrapper (it sees the VFIO cdev ioctls too).
    if (trace && e.kind !== 'ioctl') trace(e, 'host');
  };
  const kc = m['kernel-capabilities'];
  const host = createHost({
    ...(m.kernel ? { profile: m.kernel } : {}),
    switches,
    smmus: [{ idr: machineIdrs(m), ...(m.smmu?.iidr !== undefined ? { iidr: m.smmu.iidr } : {}) }],
    devices: devs.map((d) => ({
      name: d.name,
      sid: d.sid,
      ...(d.ats !== undefined ? { ats: d.ats } : {}),
      ...(d['pasid-bits'] !== undefined ? { pasidBits: d['pasid-bits'] } : {}),
    })),
    options: kc === undefined ? {} : { kernelCapabilities: kc },
    trace: sink,
  });
  const sys = new CountingSyscalls(host.process());
  if (trace) sys.onIoctl = (name, ret) => trace({ kind: 'ioctl', name, ret }, 'syscall');
  const devices: ScenarioDevice[] = devs.map((d, i) => ({
    name: d.name,
    hostIndex: i,
    path: host.devices[i]?.path ?? `/dev/vfio/devices/vfio${i}`,
    sid: d.sid,
    vsid: d.vsid ?? d.sid,
    ats: d.ats ?? false,
    pasidBits: d['pasid-bits'] ?? 0,
  }));
  world = {
    host,
    sys,
    devices,
    labels: new Map(),
    guest: undefined,
    walks: 0,
    hostEventsSeen: 0,
    sanitizer: undefined,
  };
  return world;
}

/** Opens /dev/iommu and every device cdev in the VMM process and labels the fds (raw scenarios). */
export function openRawFds(w: World): void {
  const fd = w.sys.open('/dev/iommu');
  if (fd >= 0) w.labels.set('iommufd', BigInt(fd));
  for (const d of w.devices) {
    const dfd = w.sys.open(d.path);
    if (dfd >= 0) w.labels.set(d.name, BigInt(dfd));
  }
}

/** A DMA straight from a device to the host SMMU (raw scenarios: no guest, no VMM). */
export function hostDma(w: World, device: string, req: DmaRequest): DmaOutcome {
  const d = w.devices.find((x) => x.name === device);
  if (!d) return { ok: false, detail: `no device ${device}` };
  const port: DmaPort = { translate: (r) => w.host.dma(d.hostIndex, r), mem: w.host.mem };
  const dma = new DmaMaster(deviceOf(d), port);
  const opts = req.ssid !== undefined ? { ssid: req.ssid } : {};
  return runDma(dma, req, opts);
}

/** The hardware identity of a scenario device (host StreamID, ATS and PASID capabilities). */
export function deviceOf(d: ScenarioDevice) {
  return deviceIdentity({ name: d.name, streamIds: [d.sid], ats: d.ats, pasidBits: d.pasidBits });
}

/** Runs a DMA on a DMA master and reports it in the runner's terms. */
export function runDma(dma: DmaMaster, req: DmaRequest, opts: { ssid?: number }): DmaOutcome {
  if (req.write) {
    const r = dma.write(req.iova, req.write, opts);
    if (r.ok) return { ok: true };
    return faultOutcome(r.fault);
  }
  const r = dma.read(req.iova, req.read ?? 0, opts);
  if (r.ok) return { ok: true, data: r.data };
  return faultOutcome(r.fault);
}

function faultOutcome(f: DmaFault): DmaOutcome {
  const detail = `${f.reason} at ${hex(f.iova)}`;
  return f.event ? { ok: false, detail, event: f.event } : { ok: false, detail };
}

/** The run counters now. */
export function countersOf(w: World): RunCounters {
  const smmuCommands: Record<string, number> = {};
  for (let i = 0; i < w.host.smmuCount; i++) {
    const hw = w.host.smmu(i).hw;
    if (!hw) continue;
    for (const [k, v] of Object.entries(hw.commandCounts))
      smmuCommands[k] = (smmuCommands[k] ?? 0) + v;
  }
  const c: RunCounters = {
    guestExits: w.guest?.exits() ?? 0,
    ioctls: { ...w.sys.ioctls },
    smmuCommands,
    walks: w.walks,
    memoryAccesses: w.host.mem.accesses,
  };
  if (w.sanitizer) c.sanitizerReports = w.sanitizer.reports.length;
  return c;
}

/** New host-kernel log lines (events the host driver printed) since the last call. */
export function takeHostLog(w: World): string[] {
  const out: string[] = [];
  for (let i = 0; i < w.host.smmuCount; i++) {
    const ev = w.host.smmu(i).handledEvents;
    // One cursor for all instances is enough: scenarios declare one SMMU.
    for (; w.hostEventsSeen < ev.length; w.hostEventsSeen++) {
      const e = ev[w.hostEventsSeen];
      if (e && e.outcome === 'logged') out.push(`host: arm-smmu-v3.${i}: ${e.detail}`);
    }
  }
  return out;
}
