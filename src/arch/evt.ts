// Event queue records (Arm IHI 0070 H.a §7.3, 32 bytes = four little-endian 64-bit words) and PRI
// queue records (§8, 16 bytes): one field table per event type holding exactly the fields that
// type defines, plus makeEvent/decodeEvent for the hardware model. Positions checked against the
// H.a record figures where their text gives bit numbers (§7.3.2 F_UUT, §7.3.3 C_BAD_STREAMID,
// §7.3.4 F_STE_FETCH, §7.3.7 F_STREAM_DISABLED, §7.3.8 F_TRANSL_FORBIDDEN, §7.3.9
// C_BAD_SUBSTREAMID, §7.3.18 F_CFG_CONFLICT, §7.3.19 E_PAGE_REQUEST, §7.3.20 F_VMS_FETCH) and
// against Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (EVTQ_*, PRIQ_*) and QEMU
// hw/arm/smmuv3-internal.h (EVT_SET_*) for the translation-fault layout.

import { getBits, hex } from './bits.ts';
import { VsmmuError } from './errors.ts';
import type { FieldDef, StructDef } from './fields.ts';
import { decodeStruct, encodeStruct, fieldKind, findField } from './fields.ts';
import { ADDR_TOP, fld } from './smmu-values.ts';
import type { EventRecord } from './trace.ts';

/** Event record type numbers (§7.3); 0xE0–0xEF are IMPLEMENTATION DEFINED events. */
export const EVT_ID = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const;

/** Name of an architected event type. */
export type EventName = keyof typeof EVT_ID;

/** First and last IMPLEMENTATION DEFINED event numbers (§7.3.21). */
export const EVT_IMPDEF_FIRST = 0xe0;
/** Last IMPLEMENTATION DEFINED event number. */
export const EVT_IMPDEF_LAST = 0xef;

/** Values of the CLASS field: what was being accessed when the fault arose (§7.3). */
export const EVT_CLASS = { CD: 0, TT: 1, IN: 2 } as const;

const REF = 'IHI 0070 H.a §7.3';
const yesNo = (no: string, yes: string) => ({ 0: no, 1: yes });

const idField = fld('EventID', 0, 7, 0, 'Event record type', {
  meaning: (raw) => eventNameOf(Number(raw)),
});
const ssv = fld('SSV', 0, 11, 11, 'SubstreamID valid', {
  values: yesNo('no SubstreamID', 'SubstreamID valid'),
});
const ssid = fld('SubstreamID', 0, 31, 12, 'SubstreamID of the transaction');
const sid = fld('StreamID', 0, 63, 32, 'StreamID of the transaction');
const stag = fld('STAG', 1, 15, 0, 'Stall tag (meaningful when Stall == 1)');
const stall = fld('Stall', 1, 31, 31, 'Transaction stalled (awaiting CMD_RESUME)', {
  values: yesNo('terminated', 'stalled'),
});
const pnu = fld('PnU', 1, 33, 33, 'Privileged / unprivileged', {
  values: yesNo('unprivileged', 'privileged'),
});
const ind = fld('InD', 1, 34, 34, 'Instruction / data', { values: yesNo('data', 'instruction') });
const rnw = fld('RnW', 1, 35, 35, 'Read / write', { values: yesNo('write', 'read') });
const nsipa = fld('NSIPA', 1, 36, 36, 'Non-secure IPA space (Secure event queue only; 0 here)');
const s2 = fld('S2', 1, 39, 39, 'Stage of the fault', { values: yesNo('stage 1', 'stage 2') });
const cls = fld('CLASS', 1, 41, 40, 'Access that faulted', {
  values: {
    0: 'CD (CD fetch)',
    1: 'TT (stage-1 translation table fetch)',
    2: 'IN (input address)',
    3: 'reserved',
  },
});
const ttrnw = fld('TTRnW', 1, 44, 44, 'Descriptor access that faulted (valid when CLASS == TT)', {
  values: yesNo('descriptor write', 'descriptor read'),
});
const inputAddr = fld('InputAddr', 2, 63, 0, 'Input address of the transaction', {
  kind: 'addr',
});
const ipa = fld('IPA', 3, ADDR_TOP, 12, 'IPA of the faulting access (valid when S2 == 1)', {
  kind: 'addr',
});
const fetchAddr = fld('FetchAddr', 3, ADDR_TOP, 3, 'Physical address of the aborted fetch', {
  kind: 'addr',
});
const reason16 = fld('Reason', 1, 15, 0, 'IMPLEMENTATION DEFINED cause');
const gpcf = fld('GPCF', 1, 16, 16, 'Granule protection check fault (RME)');

function evt(name: EventName, fields: readonly FieldDef[]): StructDef {
  return { name: `evt.${name}`, title: name, words: 4, ref: REF, fields: [idField, ...fields] };
}

const translationFault = [ssv, ssid, sid, stag, stall, pnu, ind, rnw, nsipa, s2, cls, inputAddr];

/** Field tables of the architected event types, by name. */
export const EVENTS: Readonly<Record<EventName, StructDef>> = {
  F_UUT: evt('F_UUT', [ssv, ssid, sid, reason16, pnu, ind, rnw, inputAddr]),
  C_BAD_STREAMID: evt('C_BAD_STREAMID', [ssv, ssid, sid]),
  F_STE_FETCH: evt('F_STE_FETCH', [ssv, ssid, sid, reason16, gpcf, fetchAddr]),
  C_BAD_STE: evt('C_BAD_STE', [ssv, ssid, sid]),
  // Layout from the reference digest (smmuv3-arch.md §2.2); the H.a figure was not available.
  F_BAD_ATS_TREQ: evt('F_BAD_ATS_TREQ', [
    ssv,
    ssid,
    sid,
    fld('Span', 1, 3, 0, 'Number of STUs requested'),
    fld('P', 1, 28, 28, 'Privileged access requested'),
    fld('X', 1, 29, 29, 'Execute permission requested'),
    fld('W', 1, 30, 30, 'Write permission requested (= !NW)'),
    fld('R', 1, 31, 31, 'Read permission requested'),
    fld('InputAddr', 2, 63, 12, 'Requested address [63:12]', { kind: 'addr' }),
  ]),
  F_STREAM_DISABLED: evt('F_STREAM_DISABLED', [sid]),
  F_TRANSL_FORBIDDEN: evt('F_TRANSL_FORBIDDEN', [sid, rnw, inputAddr]),
  C_BAD_SUBSTREAMID: evt('C_BAD_SUBSTREAMID', [
    fld('SubstreamID', 0, 31, 12, 'SubstreamID (always valid in this record)'),
    sid,
  ]),
  F_CD_FETCH: evt('F_CD_FETCH', [ssv, ssid, sid, reason16, gpcf, fetchAddr]),
  C_BAD_CD: evt('C_BAD_CD', [ssv, ssid, sid]),
  F_WALK_EABT: evt('F_WALK_EABT', [
    ssv,
    ssid,
    sid,
    reason16,
    gpcf,
    pnu,
    ind,
    rnw,
    s2,
    cls,
    inputAddr,
    fetchAddr,
  ]),
  F_TRANSLATION: evt('F_TRANSLATION', [...translationFault, ipa]),
  F_ADDR_SIZE: evt('F_ADDR_SIZE', [...translationFault, ipa]),
  F_ACCESS: evt('F_ACCESS', [...translationFault, ipa]),
  F_PERMISSION: evt('F_PERMISSION', [...translationFault, ttrnw, ipa]),
  F_TLB_CONFLICT: evt('F_TLB_CONFLICT', [
    ssv,
    ssid,
    sid,
    reason16,
    pnu,
    ind,
    rnw,
    s2,
    inputAddr,
    ipa,
  ]),
  F_CFG_CONFLICT: evt('F_CFG_CONFLICT', [
    ssv,
    ssid,
    sid,
    fld('Reason', 1, 31, 0, 'IMPLEMENTATION DEFINED conflict reason'),
  ]),
  E_PAGE_REQUEST: evt('E_PAGE_REQUEST', [
    ssv,
    ssid,
    sid,
    fld('uX', 1, 34, 34, 'Unprivileged execute anticipated'),
    fld('uW', 1, 35, 35, 'Unprivileged write anticipated'),
    fld('uR', 1, 36, 36, 'Unprivileged read anticipated'),
    fld('pX', 1, 37, 37, 'Privileged execute anticipated'),
    fld('pW', 1, 38, 38, 'Privileged write anticipated'),
    fld('pR', 1, 39, 39, 'Privileged read anticipated'),
    fld('Span', 1, 51, 44, 'Span of the hint: Span x 4KB'),
    fld('InputAddr', 2, 63, 12, 'Address [63:12] of the anticipated access', { kind: 'addr' }),
  ]),
  F_VMS_FETCH: evt('F_VMS_FETCH', [ssv, ssid, sid, reason16, gpcf, fetchAddr]),
};

/** Table of an IMPLEMENTATION DEFINED event: its payload is shown as opaque words. */
export function impdefEventStruct(id: number): StructDef {
  return {
    name: `evt.IMPDEF_${hex(id)}`,
    title: `IMPLEMENTATION DEFINED event ${hex(id)}`,
    words: 4,
    ref: 'IHI 0070 H.a §7.3.21',
    fields: [
      idField,
      fld('IMPDEF_W0', 0, 63, 8, 'IMPLEMENTATION DEFINED payload'),
      fld('IMPDEF_W1', 1, 63, 0, 'IMPLEMENTATION DEFINED payload'),
      fld('IMPDEF_W2', 2, 63, 0, 'IMPLEMENTATION DEFINED payload'),
      fld('IMPDEF_W3', 3, 63, 0, 'IMPLEMENTATION DEFINED payload'),
    ],
  };
}

/** Table of a reserved event number: only the number is defined. */
export function unknownEventStruct(id: number): StructDef {
  return {
    name: `evt.UNKNOWN_${hex(id)}`,
    title: `reserved event number ${hex(id)}`,
    words: 4,
    ref: REF,
    fields: [idField],
  };
}

const nameById = new Map<number, EventName>();
for (const [name, id] of Object.entries(EVT_ID)) nameById.set(id, name as EventName);

function eventNameOf(id: number): string {
  const name = nameById.get(id);
  if (name) return name;
  if (id >= EVT_IMPDEF_FIRST && id <= EVT_IMPDEF_LAST) return `IMPDEF_${hex(id)}`;
  return `UNKNOWN_${hex(id)}`;
}

/** The field table of an event record, chosen by its type (word 0 bits [7:0]). */
export function eventStruct(w0: bigint): StructDef {
  const id = Number(getBits(w0, 7, 0));
  const name = nameById.get(id);
  if (name) return EVENTS[name];
  if (id >= EVT_IMPDEF_FIRST && id <= EVT_IMPDEF_LAST) return impdefEventStruct(id);
  return unknownEventStruct(id);
}

/** Field values accepted by makeEvent: denoted values (addresses as addresses). */
export type EventFields = Readonly<Record<string, bigint | number | boolean>>;

/**
 * Builds an event record of the given type from named field values. Values are what the fields
 * denote: addresses are passed as addresses (InputAddr, IPA, FetchAddr) and flags as 0/1 or
 * booleans. Unknown field names, values wider than their field and misaligned addresses are
 * programming errors and throw VsmmuError('BAD_ARGUMENT').
 *
 * @example makeEvent('F_TRANSLATION', { StreamID: 0x10n, InputAddr: iova, RnW: 1n, CLASS: 2n })
 */
export function makeEvent(type: EventName | number, fields: EventFields = {}): EventRecord {
  const id = typeof type === 'number' ? type : EVT_ID[type];
  if (id === undefined || !Number.isInteger(id) || id < 0 || id > 0xff) {
    throw new VsmmuError('BAD_ARGUMENT', `makeEvent: unknown event type ${String(type)}`);
  }
  const def = eventStruct(BigInt(id));
  const raw: Record<string, bigint> = { EventID: BigInt(id) };
  for (const [name, v] of Object.entries(fields)) {
    if (name === 'EventID') {
      if (BigInt(v) !== BigInt(id)) {
        throw new VsmmuError('BAD_ARGUMENT', `makeEvent: EventID ${String(v)} contradicts ${type}`);
      }
      continue;
    }
    const f = def.fields.find((x) => x.name === name);
    if (!f) {
      throw new VsmmuError('BAD_ARGUMENT', `makeEvent: ${def.title} has no field ${name}`);
    }
    let x = typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v);
    const width = f.hi - f.lo + 1;
    if (fieldKind(f) === 'addr') {
      const low = (1n << BigInt(f.lo)) - 1n;
      if (x & low) {
        throw new VsmmuError(
          'BAD_ARGUMENT',
          `makeEvent: ${name} ${hex(x)} is not aligned to bit ${f.lo}`,
        );
      }
      x >>= BigInt(f.lo);
    }
    if (x < 0n || x >= 1n << BigInt(width)) {
      throw new VsmmuError(
        'BAD_ARGUMENT',
        `makeEvent: ${name} = ${hex(BigInt(v))} does not fit field bits [${f.hi}:${f.lo}]`,
      );
    }
    raw[name] = x;
  }
  const words = encodeStruct(def, raw);
  return recordOf(def, [words[0] ?? 0n, words[1] ?? 0n, words[2] ?? 0n, words[3] ?? 0n]);
}

function recordOf(def: StructDef, raw: readonly [bigint, bigint, bigint, bigint]): EventRecord {
  const d = decodeStruct(def, raw);
  const fields: Record<string, bigint> = {};
  for (const f of d.fields) fields[f.name] = f.value;
  return { raw, type: eventNameOf(Number(getBits(raw[0], 7, 0))), fields };
}

/**
 * Decodes a 32-byte event record (four 64-bit words, word 0 first) into the EventRecord shape:
 * `type` is the event name (`IMPDEF_0xe3` / `UNKNOWN_0x42` for non-architected numbers) and
 * `fields` maps each field of that type to the value it denotes (addresses as addresses).
 */
export function decodeEvent(raw: readonly bigint[]): EventRecord {
  if (raw.length !== 4) {
    throw new VsmmuError('BAD_WORD_COUNT', `an event record has 4 words, got ${raw.length}`);
  }
  const words: [bigint, bigint, bigint, bigint] = [
    raw[0] as bigint,
    raw[1] as bigint,
    raw[2] as bigint,
    raw[3] as bigint,
  ];
  return recordOf(eventStruct(words[0]), words);
}

/** Every event table (architected, one IMPDEF and one reserved example), for tests and docs. */
export function allEventStructs(): StructDef[] {
  return [...Object.values(EVENTS), impdefEventStruct(0xe0), unknownEventStruct(0x42)];
}

/** The PRI queue record (§8, Linux PRIQ_*): two 64-bit words. */
export const PRIQ_RECORD: StructDef = {
  name: 'priq',
  title: 'PRI queue record (Page Request)',
  words: 2,
  ref: 'IHI 0070 H.a §8',
  fields: [
    fld('StreamID', 0, 31, 0, 'StreamID (PCIe RequesterID in bits [15:0])'),
    fld('SubstreamID', 0, 51, 32, 'SubstreamID (PASID; UNKNOWN when SSV == 0)'),
    fld('Priv', 0, 58, 58, 'Privileged access requested'),
    fld('X', 0, 59, 59, 'Execute permission requested'),
    fld('R', 0, 60, 60, 'Read permission requested'),
    fld('W', 0, 61, 61, 'Write permission requested'),
    fld('Last', 0, 62, 62, 'Last request of its page request group'),
    fld('SSV', 0, 63, 63, 'Request carried a PASID', { values: yesNo('no PASID', 'PASID valid') }),
    fld('PRGIndex', 1, 8, 0, 'Page request group index'),
    fld('PageAddr', 1, 63, 12, 'Page address [63:12]', { kind: 'addr' }),
  ],
};

/** Reads one named field of an event record (raw words) as the value it denotes. */
export function eventField(raw: readonly bigint[], name: string): bigint {
  const def = eventStruct(raw[0] ?? 0n);
  const f = findField(def, name);
  const v = getBits(raw[f.word] ?? 0n, f.hi, f.lo);
  return fieldKind(f) === 'addr' ? v << BigInt(f.lo) : v;
}
