// `vsmmu demo` (what `npm start` runs): the end-to-end story of nested SMMUv3 virtualization in
// one screen, no flags (issue 6 item 4; architecture.md "three journeys"). A host with an SMMUv3
// (the hardware model) runs the kernel model (iommufd + arm-smmu-v3); a VMM process sets up
// iommufd objects through the ioctl facade and offers the guest a virtual SMMUv3; a Linux-like
// guest driver programs it; a passthrough DMA engine's transactions go through guest stage 1 over
// host stage 2. Then a fault travels hardware → vEVENTQ → VMM → guest event queue, and an invalid
// guest STE takes the failure path: ioctl error → VMM log → C_BAD_STE to the guest → abort.
// Colours on a TTY only (picocolors); the last line is a summary.
import type { Command } from '@commander-js/extra-typings';
import { createColors } from 'picocolors';
import { hex, hex64 } from '../arch/bits.ts';
import { decodeStruct } from '../arch/fields.ts';
import { STE } from '../arch/ste.ts';
import type { TraceEvent } from '../arch/trace.ts';
import type { DmaMaster } from '../devices/device.ts';
import type { GuestDomain, GuestMaster } from '../guest/arm-smmu-v3.ts';
import { createNestedMachine } from '../scenario/nested-machine.ts';
import { VMM_CODE_LINES } from '../vmm/code-size.ts';

type Out = (s: string) => void;

/**
 * Colours only when stdout is a terminal and NO_COLOR is unset (picocolors alone also colours
 * under CI=…, which would put escape codes into logs and pipes).
 */
const pc = createColors(Boolean(process.stdout.isTTY) && !('NO_COLOR' in process.env));

/** Guest-physical base and size of the guest's RAM (the VMM's mmap, IOAS-mapped at IOVA = GPA). */
const GUEST_BASE = 0x4000_0000;
const GUEST_SIZE = 16 << 20;
/** The passthrough device: host StreamID 0x8 (the host's first device), guest vSID 0x100. */
const VSID = 0x100;
const PSID = 0x8;
/** Guest IOVA the driver maps, and the guest buffer behind it. */
const IOVA = 0x10_0000;
const BUF = GUEST_BASE + 0x40_0000;

function steSummary(words: readonly bigint[]): string {
  const d = decodeStruct(STE, words);
  const get = (n: string) => d.fields.find((f) => f.name === n);
  const parts = [`Config=${get('Config')?.raw} (${get('Config')?.meaning})`];
  const ctx = get('S1ContextPtr');
  if (ctx && ctx.raw !== 0n) parts.push(`S1ContextPtr=${hex(ctx.value)}`);
  const vmid = get('S2VMID');
  if (vmid && vmid.raw !== 0n) parts.push(`S2VMID=${vmid.raw}`);
  if (get('MEV')?.raw) parts.push('MEV=1');
  return parts.join(' ');
}

/** Runs the demonstration, writing to `out`; returns the number of unexpected outcomes (0 = good). */
export function runDemo(out: Out): number {
  let problems = 0;
  const check = (okay: boolean, what: string): void => {
    if (!okay) {
      problems++;
      out(pc.red(`  unexpected: ${what}`));
    }
  };
  const head = (s: string): void => {
    out('');
    out(pc.bold(pc.underline(s)));
  };

  out(pc.bold('vsmmu — nested SMMUv3 virtualization over Linux iommufd, executable'));

  // ---- host (SMMU model + kernel model), VMM (iommufd objects, vSMMU), guest driver -----------
  head('1. Boot: the VMM builds its iommufd objects and a virtual SMMUv3');
  const ioctls: { name: string; ret: number }[] = [];
  const m = createNestedMachine({
    devices: [{ name: 'dma0', vsid: VSID }],
    ram: { base: GUEST_BASE, size: GUEST_SIZE },
    // The stale-translation sanitizer watches every page-table write, invalidation and DMA.
    sanitizer: true,
    trace: (e: TraceEvent) => {
      if (e.kind === 'ioctl') ioctls.push({ name: e.name, ret: e.ret });
    },
  });
  const { host, hw, vmm, driver: drv, guestLog, sanitizer } = m;
  // The translation side folds fast-path hits into its counters when `stats` is read: read it
  // where the figures are printed.
  const stats = () => m.translation.stats;
  const hostSmmu = host.smmu(0);
  const setup = ioctls.map((i) => i.name.replace(/^(IOMMU_|VFIO_DEVICE_)/, ''));
  out(`VMM ioctls: ${pc.cyan(setup.join(' → '))}`);
  check(
    ioctls.every((i) => i.ret === 0),
    'a set-up ioctl failed',
  );
  const features = guestLog.find((l) => /feature|ias|oas/i.test(l));
  out(`guest driver probed the vSMMU${features ? `: ${pc.dim(features.trim())}` : ''}`);

  // ---- attach -----------------------------------------------------------------------------
  head('2. Attach: guest STE write → CFGI_STE trap → nested HWPT from the vSTE');
  const master = drv.addDevice({ name: 'dma0', sids: [VSID] });
  const domain = drv.allocDomain({ stage: 1 });
  if (typeof master === 'number' || typeof domain === 'number') {
    out(pc.red('guest driver could not create the device or domain'));
    return problems + 1;
  }
  const mark0 = ioctls.length;
  check(drv.attach(master as GuestMaster, domain as GuestDomain) === 0, 'guest attach failed');
  const gste = drv.readSte(VSID) ?? [];
  out(`guest STE (vSID ${hex(VSID)}): ${steSummary(gste)}`);
  out(
    `VMM ioctls: ${pc.cyan(
      ioctls
        .slice(mark0)
        .map((i) => i.name)
        .join(', '),
    )}`,
  );
  const pste = hostSmmu.readSte(PSID);
  out(`kernel installed physical STE (SID ${hex(PSID)}): ${pc.green(steSummary(pste))}`);
  check(Number((pste[0] ?? 0n) >> 1n) % 8 === 7, 'physical STE is not nested (Config 7)');

  // ---- map + DMA ---------------------------------------------------------------------------
  head('3. DMA through guest stage 1 over host stage 2');
  const pattern = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
  vmm.ram.writeBytes(BUF, pattern);
  check(drv.map(domain as GuestDomain, IOVA, BUF, 4096) === 0, 'guest map failed');
  const dev = m.dma.get('dma0') as DmaMaster;
  const walksBefore = stats().walks ?? 0;
  const rd = dev.read(IOVA, pattern.length);
  const same = rd.ok && rd.data.every((b, i) => b === pattern[i]);
  out(
    `device reads ${pattern.length} bytes at IOVA ${hex(IOVA)} → guest PA ${hex(BUF)}: ${
      same ? pc.green('data matches') : pc.red('data differs')
    } (${(stats().walks ?? 0) - walksBefore} stage walks, nested)`,
  );
  check(same, 'DMA data');
  const again = dev.read(IOVA + 8, 8);
  out(`same page again: ${again.ok ? pc.green('TLB hit') : pc.red('failed')}`);

  // ---- unmap + invalidate ------------------------------------------------------------------
  head('4. Unmap + invalidate: guest TLBI → HWPT_INVALIDATE → TLBI_NH_VA with the VMID forced');
  const mark1 = ioctls.length;
  const cmark = hostSmmu.mark();
  const unmapped = drv.unmap(domain as GuestDomain, IOVA, 4096);
  check(unmapped === 4096, 'guest unmap');
  out(
    `VMM ioctls: ${pc.cyan(
      ioctls
        .slice(mark1)
        .map((i) => i.name)
        .join(', ') || 'none',
    )}`,
  );
  const hwCmds = hostSmmu.commandsSince(cmark).map((c) => c.name);
  out(`host SMMU executed: ${pc.cyan(hwCmds.join(', '))}`);

  // ---- fault -------------------------------------------------------------------------------
  head('5. Fault: hardware event → vEVENTQ → VMM → guest event queue');
  const emark = drv.eventMark();
  const rd2 = dev.read(IOVA, 8);
  check(!rd2.ok, 'DMA after unmap should fault');
  const hwEvent = !rd2.ok ? rd2.fault.event : undefined;
  if (hwEvent) {
    out(
      `SMMU: ${pc.yellow(hwEvent.type)} StreamID ${hex(hwEvent.fields['StreamID'] ?? 0n)} ` +
        `InputAddr ${hex(hwEvent.fields['InputAddr'] ?? 0n)} S2=${hwEvent.fields['S2'] ?? 0n}`,
    );
  }
  vmm.pollEvents();
  const gev = drv.eventsSince(emark);
  for (const e of gev) {
    out(
      `guest event queue: ${pc.yellow(e.record.type)} vSID ${hex(e.sid)} ` +
        `InputAddr ${hex(e.record.fields['InputAddr'] ?? 0n)}`,
    );
  }
  check(gev.length === 1 && gev[0]?.sid === VSID, 'fault not delivered to the guest with the vSID');

  // ---- invalid vSTE ------------------------------------------------------------------------
  head('6. Invalid vSTE: ioctl error → VMM log → C_BAD_STE to the guest → abort');
  const stePa = drv.stePa(VSID);
  const logMark = vmm.logLines.length;
  const emark2 = drv.eventMark();
  if (stePa !== undefined) {
    // A buggy guest writes Config = 0b110 (stage 2), which this stage-1-only vSMMU never offers.
    const bad = 1n | (6n << 1n);
    vmm.ram.writeWords(stePa, [bad]);
    out(`guest writes STE word 0 = ${hex64(bad)} and issues CFGI_STE`);
    drv.submitCommands([[0x03n | (BigInt(VSID) << 32n), 1n]]);
    vmm.pollEvents();
  }
  for (const l of vmm.logLines.slice(logMark)) out(`VMM log: ${pc.magenta(l.text)}`);
  const bad = drv.eventsSince(emark2).filter((e) => e.record.type === 'C_BAD_STE');
  for (const e of bad) out(`guest event queue: ${pc.yellow('C_BAD_STE')} vSID ${hex(e.sid)}`);
  const aborted = hostSmmu.readSte(PSID);
  out(`physical STE now: ${pc.green(steSummary(aborted))}`);
  const rd3 = dev.read(IOVA, 8);
  out(`device DMA: ${rd3.ok ? pc.red('completed') : pc.green('aborted')}; the guest keeps running`);
  check(bad.length === 1, 'C_BAD_STE not delivered');
  check(!rd3.ok, 'DMA after abort STE should fail');

  // ---- summary -----------------------------------------------------------------------------
  head('Costs');
  const c = vmm.counters;
  const ioctlText = Object.entries(c.ioctls)
    .map(([k, v]) => `${k.replace(/^IOMMU_/, '')}×${v}`)
    .join(' ');
  out(`guest exits ${c.exits} (${c.cmdqProdWrites} CMDQ_PROD writes); ioctls ${ioctlText}`);
  const smmuCmds = hw.commandCounts;
  out(
    `host SMMU commands ${Object.entries(smmuCmds)
      .map(([k, v]) => `${k}×${v}`)
      .join(' ')}; walks ${stats().walks ?? 0}, TLB hits ${stats().tlbHits ?? 0}; memory accesses ${
      host.mem.accesses
    }`,
  );
  out(`the VMM's vSMMU is ${VMM_CODE_LINES} lines of TypeScript (src/vmm)`);
  const stale = sanitizer?.reports.length ?? 0;
  out(
    `stale-translation sanitizer: ${stale === 0 ? pc.green('0 reports') : pc.red(`${stale} reports`)}`,
  );
  for (const l of sanitizer?.lines() ?? []) out(pc.red(`  ${l}`));
  check(stale === 0, 'the sanitizer reported stale translations');
  out('');
  const summary = `summary: attach, map, DMA, unmap, fault delivery and the invalid-vSTE path ${
    problems === 0
      ? 'all behaved as the kernel and the architecture say'
      : `had ${problems} problems`
  }`;
  out(problems === 0 ? pc.bold(pc.green(summary)) : pc.bold(pc.red(summary)));
  return problems;
}

/** Registers `demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('run the end-to-end demonstration (what `npm start` runs)')
    .action(() => {
      const problems = runDemo((s) => process.stdout.write(`${s}\n`));
      if (problems > 0) process.exitCode = 1;
    });
}
