// Cost counters of the VMM vSMMU (issue 6 item 5): guest exits (every trapped MMIO access of the
// emulated SMMUv3 register pages, IHI 0070 §6.2), guest commands trapped from the emulated command
// queue, ioctls issued to the kernel by name (include/uapi/linux/iommufd.h macro names), and what
// the emulation did with them. Plain data so scenario reports and benchmarks can print it.

/** Counters of one VMM (all vSMMUs together). */
export interface VmmCounters {
  /** Guest exits: trapped MMIO reads and writes of the vSMMU register pages. */
  exits: number;
  mmioReads: number;
  mmioWrites: number;
  /** Exits by register name (`CMDQ_PROD`, `GERRORN`, … or `offset 0x…` for unused offsets). */
  exitsByRegister: Record<string, number>;
  /** Writes of CMDQ_PROD (each one makes the VMM consume the guest command queue). */
  cmdqProdWrites: number;
  /** Guest commands consumed (or stopped on), by command name. */
  guestCommands: Record<string, number>;
  /** ioctls issued, by macro name; failures by macro name. */
  ioctls: Record<string, number>;
  ioctlFailures: Record<string, number>;
  /** IOMMU_HWPT_INVALIDATE batches and the guest commands they carried. */
  invalidateBatches: number;
  forwardedCommands: number;
  /** Per-device commands dropped because the device has no vDEVICE or no stage-1 attachment. */
  skippedCommands: number;
  /** STE installs by result. */
  steInstalls: { abort: number; bypass: number; s1: number; unchanged: number; failed: number };
  /** Event records written into the guest event queue, discarded, and lost on the host side. */
  eventsInjected: number;
  eventsDiscarded: number;
  hostEventsLost: number;
  /** C_BAD_STE records synthesised by the invalid-vSTE policy. */
  badSteInjected: number;
  /** Commands that stopped the guest command queue with CERROR_ILL. */
  commandErrors: number;
  /** Completion signals: CMD_SYNC interrupts/MSIs and SEV, event-queue and GERROR interrupts. */
  irqs: Record<string, number>;
}

/** Fresh, all-zero counters. */
export function newCounters(): VmmCounters {
  return {
    exits: 0,
    mmioReads: 0,
    mmioWrites: 0,
    exitsByRegister: {},
    cmdqProdWrites: 0,
    guestCommands: {},
    ioctls: {},
    ioctlFailures: {},
    invalidateBatches: 0,
    forwardedCommands: 0,
    skippedCommands: 0,
    steInstalls: { abort: 0, bypass: 0, s1: 0, unchanged: 0, failed: 0 },
    eventsInjected: 0,
    eventsDiscarded: 0,
    hostEventsLost: 0,
    badSteInjected: 0,
    commandErrors: 0,
    irqs: {},
  };
}

/** Adds one to `rec[key]`. */
export function bump(rec: Record<string, number>, key: string, n = 1): void {
  rec[key] = (rec[key] ?? 0) + n;
}
