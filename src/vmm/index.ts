// Public surface of the VMM vSMMU (issue 6 item 1): the VMM, its vSMMUs, the pieces a scenario or
// test may want on their own (vIDR construction, vSTE extraction, vEVENTQ parsing), counters and
// the code-size figure. See docs/vmm.md.

export type { AccelDeviceConfig, AttachKind, InstallResult } from './backend.ts';
export { NestingBackend, vsteBytes } from './backend.ts';
export { countCodeLines, VMM_CODE_LINES } from './code-size.ts';
export { newCounters, type VmmCounters } from './counters.ts';
export { POLLIN, type VmmSyscalls } from './facade.ts';
export { type GuestMemoryView, GuestRam } from './guest-ram.ts';
export { formatStruct, IoctlIssuer, type VmmLogEntry, type VmmLogger } from './ioctl.ts';
export { type RawEvent, VEVENT_RECORD_BYTES, type VeventBatch, VeventReader } from './vevent.ts';
export {
  buildVidr,
  HOST_READABLE_FIELDS,
  type HostSmmuInfo,
  hostField,
  hostMismatch,
  type Vidr,
  type VidrField,
  type VidrPlan,
  VSMMU_AIDR_MINOR,
} from './vidr.ts';
export {
  DEFAULT_RAM_BASE,
  DEFAULT_RAM_SIZE,
  Vmm,
  type VmmConfig,
  type VsmmuConfig,
} from './vmm.ts';
export {
  type GuestCommandError,
  type HostEventLossPolicy,
  INVALID_STE_POLICIES,
  type InvalidStePolicy,
  type StreamState,
  VirtualSmmu,
  type VsmmuIrq,
  type VsmmuMsi,
  type VsmmuOptions,
} from './vsmmu.ts';
export {
  decideSte,
  fetchGuestSte,
  type GuestStreamTable,
  maskVste,
  type SteDecision,
  type SteFetch,
} from './vste.ts';
