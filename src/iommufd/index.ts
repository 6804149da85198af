// Public surface of the iommufd kernel model (interfaces.md §2): the host and process facade, the
// UAPI layout tables and request numbers, the kernel-version profiles, and the entry-writer tool.

export type { HandledEvent, LoggedCommand } from './arm-smmu-v3/driver.ts';
export { type EntryKind, type WriteStep, writeEntry } from './arm-smmu-v3/entry-writer.ts';
export {
  LoopbackSmmu,
  QEMU_VIRT_IDRS,
  type SmmuIdRegs,
  type SmmuPort,
} from './arm-smmu-v3/smmu-port.ts';
export {
  createHost,
  Host,
  type HostConfig,
  type HostOptions,
  type HostSmmu,
  type HostSmmuConfig,
  type SmmuModelChoice,
} from './host.ts';
export type { HostDevice, HostDeviceConfig } from './host-device.ts';
export { type FileOps, POLL, Process } from './process.ts';
export {
  DEFAULT_PROFILE,
  KERNEL_PROFILES,
  type KernelProfileName,
  type KernelSwitches,
  resolveProfile,
} from './profile.ts';
export {
  formatSteWrite,
  runSteWrite,
  STE_WRITE_FEATURES,
  type SteWriteFeature,
  type SteWriteInput,
  type SteWriteResult,
  steWriteToJson,
} from './ste-write.ts';
export * from './uapi.ts';
