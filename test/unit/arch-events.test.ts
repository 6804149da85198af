// makeEvent / decodeEvent (src/arch/evt.ts) and the decode input parsers (src/arch/decode-input.ts)
// on hand-derived examples. Expected words are computed here from the field positions of IHI 0070
// §7.3 / Linux EVTQ_* written out as shifts, independently of the field tables.
import { describe, expect, it } from 'vitest';
import { parseDmesg, parseWords } from '../../src/arch/decode-input.ts';
import { decodeNamed, formatDecoded } from '../../src/arch/decode-view.ts';
import { VsmmuError } from '../../src/arch/errors.ts';
import { decodeEvent, eventField, makeEvent } from '../../src/arch/evt.ts';

describe('makeEvent', () => {
  it('F_TRANSLATION from named fields', () => {
    const iova = 0xffff_8000_1234_5678n;
    const rec = makeEvent('F_TRANSLATION', {
      StreamID: 0x10n,
      SSV: 1,
      SubstreamID: 5,
      InputAddr: iova,
      RnW: 1n,
      S2: true,
      CLASS: 2n,
      IPA: 0x8_0000_3000n,
    });
    // W0 = ID | SSV<<11 | SSID<<12 | SID<<32; W1 = RnW<<35 | S2<<39 | CLASS<<40; W3 = IPA.
    expect(rec.raw).toEqual([
      0x10n | (1n << 11n) | (5n << 12n) | (0x10n << 32n),
      (1n << 35n) | (1n << 39n) | (2n << 40n),
      iova,
      0x8_0000_3000n,
    ]);
    expect(rec.type).toBe('F_TRANSLATION');
    expect(rec.fields.InputAddr).toBe(iova);
    expect(rec.fields.IPA).toBe(0x8_0000_3000n);
    expect(rec.fields.CLASS).toBe(2n);
  });
  it('C_BAD_STE and F_STE_FETCH', () => {
    expect(makeEvent('C_BAD_STE', { StreamID: 3 }).raw).toEqual([0x04n | (3n << 32n), 0n, 0n, 0n]);
    const f = makeEvent('F_STE_FETCH', { StreamID: 1, FetchAddr: 0x4000_0040n, Reason: 7 });
    expect(f.raw).toEqual([0x03n | (1n << 32n), 7n, 0n, 0x4000_0040n]);
  });
  it('rejects unknown fields, over-wide values and misaligned addresses', () => {
    expect(() => makeEvent('C_BAD_STE', { InputAddr: 1n })).toThrow(VsmmuError);
    expect(() => makeEvent('C_BAD_STE', { StreamID: 2n ** 32n })).toThrow(/does not fit/);
    expect(() => makeEvent('F_TRANSLATION', { IPA: 0x1001n })).toThrow(/aligned/);
    expect(() => makeEvent('F_STREAM_DISABLED', { SSV: 1 })).toThrow(/no field SSV/);
    expect(() => makeEvent('C_BAD_STE', { EventID: 5 })).toThrow(/contradicts/);
  });
});

describe('decodeEvent', () => {
  it('reads Linux-style words', () => {
    // A stage-1 permission fault: SID 0x8, no SSID, write, privileged data, CLASS IN.
    const w0 = 0x13n | (0x8n << 32n);
    const w1 = (1n << 33n) | (2n << 40n);
    const rec = decodeEvent([w0, w1, 0x4000n, 0n]);
    expect(rec.type).toBe('F_PERMISSION');
    expect(rec.fields.StreamID).toBe(8n);
    expect(rec.fields.PnU).toBe(1n);
    expect(rec.fields.RnW).toBe(0n);
    expect(rec.fields.InputAddr).toBe(0x4000n);
    expect(eventField([w0, w1, 0x4000n, 0n], 'CLASS')).toBe(2n);
  });
  it('names IMPDEF and reserved numbers', () => {
    expect(decodeEvent([0xe3n, 1n, 2n, 3n]).type).toBe('IMPDEF_0xe3');
    expect(decodeEvent([0x42n, 0n, 0n, 0n]).type).toBe('UNKNOWN_0x42');
    expect(() => decodeEvent([1n, 2n])).toThrow(VsmmuError);
  });
});

describe('parseWords', () => {
  it('accepts 0x, bare hex, underscores, commas and concatenated 16-digit words', () => {
    const want = [0x8000000bn, 0xd4n];
    expect(parseWords(['0x000000008000000b', '0xd4'])).toEqual(want);
    expect(parseWords(['8000000b', 'D4'])).toEqual(want);
    expect(parseWords(['0x0000_0000_8000_000b,0xd4'])).toEqual(want);
    expect(parseWords(['000000008000000b00000000000000d4'])).toEqual(want);
    expect(parseWords(['0x000000008000000b00000000000000d4'])).toEqual(want);
    expect(parseWords(['0', '1,', ',2'])).toEqual([0n, 1n, 2n]);
  });
  it('rejects non-hex and odd-length concatenations with one clear message', () => {
    expect(() => parseWords(['0xg'])).toThrow(/'0xg' is not a hexadecimal word/);
    expect(() => parseWords(['12345678901234567'])).toThrow(/17 hex digits/);
    expect(() => parseWords(['0x'])).toThrow(/not a hexadecimal word/);
    expect(() => parseWords(['-1'])).toThrow(VsmmuError);
  });
});

describe('decodeNamed', () => {
  it('pads a vSTE and says so', () => {
    const r = decodeNamed('STE', [0x8000000bn, 0xd4n]);
    expect(r.decoded.words).toHaveLength(8);
    expect(r.notes.join()).toMatch(/padded with zeros/);
    expect(formatDecoded(r.decoded, r.notes)).toMatch(
      /Config += 0b101 \(S1 translate, S2 bypass\)/,
    );
  });
  it('checks word counts, register widths and names', () => {
    expect(() => decodeNamed('cd', [1n])).toThrow(/cd takes 8 words, got 1 word/);
    expect(() => decodeNamed('ste', [1n, 2n, 3n])).toThrow(/8 words \(or 2 for a vSTE\)/);
    expect(() => decodeNamed('cr0', [2n ** 32n])).toThrow(/32-bit register/);
    expect(() => decodeNamed('strtab_base', [2n ** 63n]).decoded).not.toThrow();
    expect(() => decodeNamed('nope', [1n])).toThrow(/unknown structure 'nope'/);
    expect(decodeNamed('evtq_prod', [0x80000003n]).decoded.def.name).toBe('eventq_prod');
  });
  it('flags reserved bits', () => {
    const r = decodeNamed('cr2', [0x10n]);
    expect(r.decoded.reservedSet).toEqual([{ word: 0, mask: 0x10n }]);
    expect(formatDecoded(r.decoded)).toMatch(/reserved bits set: W0 mask 0x10/);
  });
});

describe('parseDmesg', () => {
  it('finds old dev_info dumps with a prefix and interleaved lines', () => {
    const log = [
      '[   12.000000] pci 0000:00:01.0: something else',
      '[   12.100000] arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:',
      '[   12.100001] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000001000000010',
      '[   12.100002] e1000e 0000:01:00.0: unrelated',
      '[   12.100003] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000020000000000',
      '[   12.100004] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x00000000deadb000',
      '[   12.100005] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000',
    ].join('\n');
    const scan = parseDmesg(log);
    expect(scan.problems).toEqual([]);
    expect(scan.events).toHaveLength(1);
    expect(scan.events[0]).toMatchObject({ line: 2, device: 'arm-smmu-v3.0.auto', id: 0x10 });
    expect(scan.events[0]?.words).toEqual([0x1000000010n, 0x20000000000n, 0xdeadb000n, 0n]);
  });
  it('reports an incomplete dump', () => {
    const log =
      'arm-smmu-v3 smmu0: event 0x04 received:\narm-smmu-v3 smmu0: \t0x0000000100000004\n';
    const scan = parseDmesg(log);
    expect(scan.events).toEqual([]);
    expect(scan.problems).toEqual([{ line: 1, message: expect.stringMatching(/1 of 4 words/) }]);
  });
});
