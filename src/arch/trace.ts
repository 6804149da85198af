// Trace events and event records shared by every layer (interfaces.md §4): the walker
// (pgtable), the SMMU, the kernel model and the VMM emit them into an optional sink; the CLI
// --trace and the playground render the same events. Pure types, no state.

/** An event record (32 bytes = four little-endian 64-bit words). */
export interface EventRecord {
  readonly raw: readonly [bigint, bigint, bigint, bigint];
  /** Spec name, e.g. `F_TRANSLATION`. */
  readonly type: string;
  /** Decoded fields by spec name. */
  readonly fields: Readonly<Record<string, bigint>>;
}

/** A trace event (interfaces.md §4); the CLI --trace and the playground render the same events. */
export type TraceEvent =
  | {
      readonly kind: 'walk-step';
      readonly stage: 1 | 2;
      readonly level: number;
      readonly tablePa: number;
      readonly index: number;
      readonly descriptor: bigint;
      readonly decision: string;
    }
  | { readonly kind: 'tlb'; readonly op: 'hit' | 'fill' | 'invalidate'; readonly detail: string }
  | {
      readonly kind: 'config';
      readonly op: 'fetch' | 'hit' | 'invalidate';
      readonly detail: string;
    }
  | {
      readonly kind: 'command';
      readonly opcode: string;
      readonly words: readonly [bigint, bigint];
      /**
       * Who reports it: the SMMU hardware executing it, the host kernel driver issuing it, or the
       * VMM's vSMMU consuming it from the guest's queue.
       */
      readonly source?: 'smmu' | 'host-driver' | 'vmm';
    }
  | { readonly kind: 'event'; readonly record: EventRecord }
  | {
      readonly kind: 'ioctl';
      readonly name: string;
      readonly ret: number;
      readonly bytes?: Uint8Array;
    };

/** Where trace events go; absent = tracing off (cost: one null check). */
export type TraceSink = (e: TraceEvent) => void;
