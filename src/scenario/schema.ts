// The lifecycle scenario language (issue 6 item 3; formats.md §1, §5): one YAML file declares a
// machine (SMMU ID registers, kernel profile, devices with StreamIDs, guest RAM, VMM policy, guest
// driver bugs) and a list of steps at every level — guest driver actions, raw guest register and
// command-queue accesses, raw iommufd/VFIO ioctls with struct members spelled as in
// include/uapi/linux/iommufd.h, device DMA, and expectations (data, events, errno, counters, log).
//
// Every step is a mapping whose first key is its kind (`ioctl:`, `map:`, `dma:`, …), followed by
// that kind's fields. The schemas below are the single source: the loader validates each step with the schema
// of its kind (so errors name the right fields), and `scenarioJsonSchema()` publishes the whole
// language as JSON Schema (docs/scenario.schema.json) for editor completion.

import { z } from 'zod';
import { argExpr, byteData, expectResult, HEX_PATTERN, label, small, u64 } from './values.ts';

/** Kernel profiles (formats.md §8). */
export const KERNEL_PROFILE_NAMES = ['v6.17', 'v6.19', 'v7'] as const;

/** VMM invalid-vSTE policies (vmm-designs.md; issue 6 item 1). */
export const INVALID_VSTE_POLICIES = ['log-event-abort', 'cerror-keep', 'silent-abort'] as const;

/** Deliberate guest-driver bugs (issue 6 item 6): a stale translation stays usable after unmap. */
export const DRIVER_BUGS = ['none', 'forget-tlbi', 'wrong-asid'] as const;

/** What a stale-translation report says was missing (src/smmu/sanitizer.ts SanitizerMissing). */
export const SANITIZER_MISSING = [
  'TLBI',
  'CMD_SYNC',
  'ASID',
  'VMID',
  'range',
  'leaf',
  'TTL',
  'TG',
  'S12',
  'S2',
  'CFGI',
] as const;

const note = z.string().describe('Free text shown in the log and the trace').optional();

/** A reference to an open file: a label bound by `open`/`bind` (with or without `$`) or an fd number. */
export const fdRef = z
  .union([
    small(32).transform((n) => ({ kind: 'num' as const, value: n })),
    z
      .string()
      .regex(/^\$?[A-Za-z_][A-Za-z0-9_.-]*$/, { error: 'expected an fd label or an fd number' })
      .transform((s) => ({ kind: 'label' as const, name: s.replace(/^\$/, '') })),
  ])
  .describe('An fd label (`iommufd`, a device name, or one bound with `as:`) or an fd number');

/** A reference to a process address: `$label` of a buffer, or a quoted hex address. */
export const addrRef = z
  .union([
    u64.transform((v) => ({ kind: 'num' as const, value: v })),
    z
      .string()
      .regex(/^\$[A-Za-z_][A-Za-z0-9_.-]*$/, { error: 'expected a $label or a hex address' })
      .transform((s) => ({ kind: 'label' as const, name: s.slice(1) })),
  ])
  .describe('A $label bound to a buffer (or any value), or a quoted hex address');

const deviceName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, { error: 'expected a device name' })
  .describe('A device declared in machine.devices');

/** A pointer member given as process memory the runner mmaps and fills (formats.md §5). */
export const bufferArg = z
  .strictObject({
    buffer: z
      .array(u64)
      .describe('64-bit words written little-endian from the start of the buffer'),
    size: small(32)
      .refine((n) => n > 0 && n <= 1 << 24, { error: 'size must be between 1 and 16 MiB' })
      .describe('Bytes to map (default: 8 per word, at least 1)')
      .optional(),
    fill: small(8).describe('Byte value of the bytes after the words (default 0)').optional(),
    as: label.describe('Binds the buffer address to this label').optional(),
  })
  .describe('Process memory (mmapped in the VMM process, written LE); its address is passed');

/** One raw-ioctl argument: a scalar expression, an array member's elements, or a buffer. */
export const ioctlArg = z.union([argExpr, z.array(argExpr), bufferArg]);

/** An expected event record: its type name and any fields by spec name. */
export const eventExpect = z.strictObject({
  type: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]*$/, { error: 'expected an event name such as F_TRANSLATION' })
    .describe('Event name (IHI 0070 §7.3 spelling), e.g. F_TRANSLATION, C_BAD_STE'),
  fields: z
    .record(z.string(), u64)
    .describe('Field values by spec name (StreamID, InputAddr, …)')
    .optional(),
});

/** Counter expectation: exact value, or bounds. */
const counterValue = z.union([
  small(53),
  z.strictObject({ min: small(53).optional(), max: small(53).optional() }),
]);

/** The result counters (formats.md §5) a scenario may check. */
export const countersExpect = z.strictObject({
  guestExits: counterValue.optional(),
  ioctls: z.record(z.string(), counterValue).optional(),
  smmuCommands: z.record(z.string(), counterValue).optional(),
  walks: counterValue.optional(),
  memoryAccesses: counterValue.optional(),
  sanitizerReports: counterValue
    .describe('Stale-translation reports (needs machine.sanitizer)')
    .optional(),
});

/** A clock value of a sanitizer report: a step index, or -1 for the machine set-up. */
const stepClock = z
  .number()
  .int({ error: 'expected a step index (or -1 for the machine set-up)' })
  .min(-1, { error: 'expected a step index (or -1 for the machine set-up)' });

/** A stale-translation report to match: only the fields given are compared (docs/scenarios.md). */
export const sanitizerReportExpect = z.strictObject({
  kind: z.enum(['stale-tlb', 'stale-config']).optional(),
  device: deviceName.describe('The device whose DMA was reported').optional(),
  sid: small(32).describe('Host (physical) StreamID of the DMA').optional(),
  vsid: small(32).describe("The device's guest StreamID (guest scenarios)").optional(),
  ssid: small(20).describe('SubstreamID of the DMA').optional(),
  iova: u64.describe('Input address of the DMA').optional(),
  access: z.enum(['read', 'write']).optional(),
  pte: z
    .strictObject({
      pa: u64.describe('Host-physical address of the changed descriptor (or STE/CD word)'),
      gpa: u64.describe('Guest-physical address of the descriptor (when it is in guest RAM)'),
      old: u64.describe('Value the SMMU used'),
      new: u64.describe('Value in memory at the DMA'),
      level: z.number().int().min(-1).max(3).describe('Lookup level (STE/CD: word index)'),
      stage: z.union([z.literal(0), z.literal(1), z.literal(2)]),
      leaf: z.boolean().describe('Page/block descriptor (false: table descriptor or STE/CD)'),
    })
    .partial()
    .describe('The changed entry')
    .optional(),
  structure: z.enum(['STE', 'CD']).describe('stale-config only').optional(),
  missing: z
    .enum(SANITIZER_MISSING)
    .describe('What the driver left out: TLBI, CMD_SYNC, ASID, VMID, range, leaf, TTL, TG, …')
    .optional(),
  changedAt: stepClock.describe('Step index of the change (-1: machine set-up)').optional(),
  dmaAt: stepClock.describe('Step index of the first DMA it stands for').optional(),
  count: small(32).describe('DMAs folded into the report').optional(),
  detail: z.string().min(1).describe('Text the report detail must contain').optional(),
});

/** A 32-bit ID register given raw or as field overrides of the default value. */
const idrValue = z.union([
  small(32),
  z.record(z.string(), small(32)).describe('Field overrides by spec name, e.g. { RIL: 0 }'),
]);

/** The machine a scenario runs on. */
export const machineSchema = z
  .strictObject({
    kernel: z
      .enum(KERNEL_PROFILE_NAMES)
      .describe('Kernel-version profile (formats.md §8); default v6.19')
      .optional(),
    switches: z
      .strictObject({
        'nested-attach-without-vdevice': z.boolean().optional(),
        'ste-update-safe': z.boolean().optional(),
        'strict-invalidate': z.boolean().optional(),
        'ats-for-bypass-vste': z.boolean().optional(),
        'report-ats-not-supported': z.boolean().optional(),
        'vdevice-single-sid': z.boolean().optional(),
      })
      .describe('Per-switch overrides of the kernel profile')
      .optional(),
    'kernel-capabilities': z
      .union([z.boolean(), small(32)])
      .describe('Experimental kernel_capabilities (formats.md §7): true, false or the bit mask')
      .optional(),
    smmu: z
      .strictObject({
        idr: z
          .strictObject({
            idr0: idrValue.optional(),
            idr1: idrValue.optional(),
            idr2: idrValue.optional(),
            idr3: idrValue.optional(),
            idr4: idrValue.optional(),
            idr5: idrValue.optional(),
            aidr: idrValue.optional(),
          })
          .describe('ID register overrides of the QEMU 10.0.2 virt defaults')
          .optional(),
        iidr: small(32).optional(),
      })
      .optional(),
    devices: z
      .array(
        z.strictObject({
          name: deviceName.describe('Device name used by steps'),
          sid: small(32).describe('Host StreamID'),
          vsid: small(32).describe('Guest StreamID (default: the host StreamID)').optional(),
          ats: z.boolean().optional(),
          'pasid-bits': small(5).optional(),
        }),
      )
      .describe('Assigned devices (default: vfio0 at StreamID 0x8)')
      .optional(),
    sanitizer: z
      .boolean()
      .describe(
        'Run the stale-translation sanitizer on every host SMMU; unexpected reports fail the run',
      )
      .optional(),
    guest: z
      .strictObject({
        ram: u64.describe('Guest RAM size in bytes (page multiple)').optional(),
        base: u64.describe('Guest-physical base of RAM (default 0x4000_0000)').optional(),
        'driver-bug': z
          .enum(DRIVER_BUGS)
          .describe('Planted guest-driver bug: unmap without TLBI, or TLBI of the wrong ASID')
          .optional(),
      })
      .describe('Present: a guest with a Linux-like driver behind the VMM vSMMU')
      .optional(),
    vmm: z
      .strictObject({
        'invalid-vste': z
          .enum(INVALID_VSTE_POLICIES)
          .describe('What the VMM does when the kernel rejects a vSTE')
          .optional(),
        'ssid-bits': small(5)
          .describe(
            'vIDR1.SSIDSIZE the VMM asks for (default: the widest device PASID; capped by the host)',
          )
          .optional(),
        ats: z.boolean().describe('Advertise ATS (default: when a device has ATS)').optional(),
        ril: z
          .boolean()
          .describe('Advertise range invalidation when the host has it (default true)')
          .optional(),
        oas: z
          .union([
            z.literal(32),
            z.literal(36),
            z.literal(40),
            z.literal(42),
            z.literal(44),
            z.literal(48),
            z.literal(52),
          ])
          .describe('vIDR5.OAS in bits: the guest IPA size (default 44)')
          .optional(),
      })
      .describe("The VMM's vSMMU choices")
      .optional(),
  })
  .describe('The machine: SMMU, kernel, devices, guest, VMM');

/** The schema of each step kind, by its kind key. */
export const STEP_SCHEMAS = {
  open: z.strictObject({
    open: z.string().min(1).describe('Path: /dev/iommu or /dev/vfio/devices/vfioN'),
    as: label.describe('Label for the new fd').optional(),
    expect: expectResult.optional(),
    note,
  }),
  close: z.strictObject({ close: fdRef, expect: expectResult.optional(), note }),
  ioctl: z.strictObject({
    ioctl: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]*$/, { error: 'expected an ioctl name such as IOMMU_HWPT_ALLOC' })
      .describe('Request macro name from include/uapi/linux/iommufd.h or vfio.h'),
    fd: fdRef,
    args: z
      .record(z.string(), ioctlArg)
      .describe('Struct members by kernel name; size/argsz default to sizeof')
      .optional(),
    bind: z
      .record(z.string(), label)
      .describe('Output members to bind to labels, e.g. { out_hwpt_id: hwpt }')
      .optional(),
    out: z
      .record(z.string(), z.union([argExpr, z.array(argExpr)]))
      .describe('Expected member values after the call (same syntax as args)')
      .optional(),
    expect: expectResult.optional(),
    note,
  }),
  read: z.strictObject({
    read: fdRef.describe('read(2) on this fd (a vEVENTQ fd)'),
    count: small(24).describe('Bytes to read (default 4096)').optional(),
    expect: expectResult.optional(),
    events: z
      .array(eventExpect)
      .describe('Expected vEVENTQ records (header + 32-byte record each), in order')
      .optional(),
    note,
  }),
  memory: z.strictObject({
    memory: addrRef.describe('Process memory to check (VMM process)'),
    offset: small(32).optional(),
    u32: z.array(small(32)).describe('Expected little-endian 32-bit words').optional(),
    u64: z.array(u64).describe('Expected little-endian 64-bit words').optional(),
    bytes: byteData.describe('Expected bytes').optional(),
    note,
  }),
  write: z.strictObject({
    write: addrRef.describe('Process memory to write (VMM process)'),
    offset: small(32).optional(),
    u32: z.array(small(32)).describe('Little-endian 32-bit words').optional(),
    u64: z.array(u64).describe('Little-endian 64-bit words').optional(),
    bytes: byteData.optional(),
    note,
  }),
  dma: z.strictObject({
    dma: deviceName.describe('The device that issues the DMA'),
    iova: u64.describe('Address the device uses (IOVA / guest VA of its domain)'),
    ssid: small(20).optional(),
    write: byteData.describe('Data the device writes').optional(),
    read: small(24).describe('Number of bytes the device reads').optional(),
    data: byteData.describe('Expected data of a read').optional(),
    expect: z
      .enum(['ok', 'fault'])
      .describe('Whether the DMA completes or is terminated (default ok)')
      .optional(),
    event: eventExpect.describe('The event the fault must produce').optional(),
    note,
  }),
  attach: z.strictObject({
    attach: deviceName,
    domain: label.describe('Domain name; created on first use'),
    type: z
      .enum(['s1', 'bypass', 'abort'])
      .describe('Domain type when created (default s1: guest stage-1 translation)')
      .optional(),
    ssid: small(20)
      .describe('Attach this PASID (SubstreamID ≥ 1) of the device instead of its RID')
      .optional(),
    expect: expectResult
      .describe('`ok`, or the errno name the guest-driver call must fail with (EINVAL, …)')
      .optional(),
    note,
  }),
  detach: z.strictObject({
    detach: deviceName,
    ssid: small(20).describe('Detach this PASID only').optional(),
    expect: expectResult
      .describe('`ok`, or the errno name the guest-driver call must fail with (EINVAL, …)')
      .optional(),
    note,
  }),
  'hot-unplug': z.strictObject({ 'hot-unplug': deviceName, note }),
  map: z.strictObject({
    map: label.describe('Domain name'),
    iova: u64,
    size: u64,
    pa: u64.describe('Guest-physical address (default: fresh guest RAM)').optional(),
    prot: z.enum(['rw', 'r', 'w']).describe('Access rights (default rw)').optional(),
    expect: expectResult
      .describe('`ok`, or the errno name the guest-driver call must fail with (EINVAL, …)')
      .optional(),
    note,
  }),
  unmap: z.strictObject({
    unmap: label.describe('Domain name'),
    iova: u64,
    size: u64,
    expect: expectResult
      .describe('`ok`, or the errno name the guest-driver call must fail with (EINVAL, …)')
      .optional(),
    note,
  }),
  'mmio-write': z.strictObject({
    'mmio-write': z.union([
      z.string().regex(/^[A-Z][A-Z0-9_]*$/, { error: 'expected a register name such as CR0' }),
      small(17),
    ]),
    value: u64,
    size: z.union([z.literal(4), z.literal(8)]).optional(),
    note,
  }),
  'mmio-read': z.strictObject({
    'mmio-read': z.union([
      z.string().regex(/^[A-Z][A-Z0-9_]*$/, { error: 'expected a register name such as CR0' }),
      small(17),
    ]),
    expect: u64.describe('Expected value (after mask)').optional(),
    mask: u64.optional(),
    size: z.union([z.literal(4), z.literal(8)]).optional(),
    note,
  }),
  ste: z.strictObject({
    ste: deviceName.describe('The device whose guest STE (at its vSID) the guest overwrites'),
    words: z
      .array(u64)
      .min(1)
      .max(8)
      .describe('STE words from word 0 (missing words are zero), written as a driver bug would'),
    invalidate: z
      .boolean()
      .describe('Issue CFGI_STE (leaf) + CMD_SYNC afterwards (default true)')
      .optional(),
    note,
  }),
  cmd: z.strictObject({
    cmd: z
      .array(z.tuple([u64, u64]))
      .min(1)
      .describe('Raw command-queue entries [word0, word1] the guest writes to its CMDQ'),
    note,
  }),
  'expect-events': z.strictObject({
    'expect-events': z
      .array(eventExpect)
      .describe('Events the guest driver received since the last expect-events, in order'),
    note,
  }),
  'expect-counters': z.strictObject({
    'expect-counters': countersExpect,
    delta: z
      .boolean()
      .describe('Compare increments since the previous expect-counters step (default: totals)')
      .optional(),
    note,
  }),
  'expect-sanitizer': z.strictObject({
    'expect-sanitizer': z
      .strictObject({
        count: counterValue.describe('Number of new reports (exact, or { min, max })').optional(),
        reports: z
          .array(sanitizerReportExpect)
          .describe('The new reports, in order; each matched on the fields given')
          .optional(),
      })
      .describe(
        'Stale-translation reports that appeared since the previous expect-sanitizer step (needs machine.sanitizer)',
      ),
    note,
  }),
  'expect-log': z.strictObject({
    'expect-log': z.string().min(1).describe('Text that a log line must contain'),
    absent: z.boolean().describe('True: no log line may contain it').optional(),
    note,
  }),
  log: z.strictObject({ log: z.string().describe('A line for the log (narration)') }),
} as const;

/** Step kind names (the kind keys). */
export type StepKind = keyof typeof STEP_SCHEMAS;

/** Every step kind. */
export const STEP_KINDS = Object.keys(STEP_SCHEMAS) as StepKind[];

/** A validated step of kind K. */
export type StepOf<K extends StepKind> = z.output<(typeof STEP_SCHEMAS)[K]>;

/** A validated step with its kind and source position. */
export type Step = {
  [K in StepKind]: {
    readonly kind: K;
    readonly index: number;
    readonly line: number;
    readonly col: number;
    readonly s: StepOf<K>;
  };
}[StepKind];

/** The top level of a scenario file (steps are validated one by one, see load.ts). */
export const topSchema = z.strictObject({
  name: z.string().min(1).describe('Scenario name (default: the file name)').optional(),
  description: z.string().optional(),
  machine: machineSchema.optional(),
  steps: z.array(z.unknown()).describe('The steps, run in order'),
});

/** Validated machine declaration. */
export type Machine = z.output<typeof machineSchema>;

/** The whole language as one zod schema (for the JSON Schema export). */
export function scenarioSchema() {
  const steps = Object.values(STEP_SCHEMAS) as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]];
  return z.strictObject({
    name: z.string().min(1).describe('Scenario name (default: the file name)').optional(),
    description: z.string().optional(),
    machine: machineSchema.optional(),
    steps: z.array(z.union(steps)).describe('The steps, run in order'),
  });
}

/** JSON Schema (draft 2020-12) of the scenario language, for editors. */
export function scenarioJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(scenarioSchema(), { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return {
    ...s,
    title: 'vsmmu scenario',
    description: `vsmmu lifecycle scenario (docs/scenarios.md). 64-bit values are quoted hex strings matching ${HEX_PATTERN}.`,
  };
}
