// The VMSAv8-64 walker (src/pgtable/walker.ts). Tables are written by hand in each test with
// bigint descriptors composed from the DDI 0487 D8.3 bit positions; expected outcomes follow the
// rules cited per block (IHI 0070 §7.3 fault records, §7.3.22 priority, DDI 0487 D8.4 permissions).
import { describe, expect, it } from 'vitest';
import type { TraceEvent } from '../../src/arch/trace.ts';
import { SparseMemory } from '../../src/mem/sparse-memory.ts';
import {
  checkPermission,
  PERM,
  PERM_CHECK,
  type StageParams,
  type WalkFault,
  type WalkRequest,
  walk,
  walkNested,
  walkS1,
  walkS2,
} from '../../src/pgtable/index.ts';

const TABLE = 3n;
const BLOCK = 1n;
const PAGE = 3n;
const AF = 1n << 10n;
const AP_UNPRIV = 1n << 6n; // AP[1]
const AP_RDONLY = 1n << 7n; // AP[2]
const S2AP_R = 1n << 6n;
const S2AP_W = 1n << 7n;
const DBM = 1n << 51n;
const PXN = 1n << 53n;
const UXN = 1n << 54n;
const PXNTABLE = 1n << 59n;
const XNTABLE = 1n << 60n;
const APTABLE_NOEL0 = 1n << 61n;
const APTABLE_RO = 1n << 62n;

const RD: WalkRequest = { address: 0, write: false, exec: false, priv: false };
const req = (address: number, o: Partial<WalkRequest> = {}): WalkRequest => ({
  ...RD,
  address,
  ...o,
});

/** shift of level l for granule shift g: g + (3 − l)(g − 3). */
const shiftOf = (g: number, l: number) => g + (3 - l) * (g - 3);

interface Chain {
  mem: SparseMemory;
  /** table base per level (index = level − start) */
  tables: number[];
  /** descriptor address per level */
  descPa: number[];
  ttb: number;
}

/**
 * Writes a chain of tables for `va` from `start` down to `leafLevel`: table descriptors with
 * `tableBits[level]` added, then `leaf` (already including type, attributes and OA) at
 * `leafLevel`. Tables live at `base`, `base + granule`, ….
 */
function chain(opts: {
  va: number;
  g?: number;
  start?: number;
  inputBits?: number;
  leafLevel: number;
  leaf: bigint;
  tableBits?: Record<number, bigint>;
  base?: number;
  mem?: SparseMemory;
}): Chain {
  const g = opts.g ?? 12;
  const start = opts.start ?? 0;
  const inputBits = opts.inputBits ?? 48;
  const mem = opts.mem ?? new SparseMemory();
  const base = opts.base ?? 0x40_0000;
  const tables: number[] = [];
  const descPa: number[] = [];
  for (let l = start; l <= opts.leafLevel; l++) {
    const table = base + (l - start) * 2 ** g * 2;
    tables.push(table);
    const width = l === start ? inputBits - shiftOf(g, l) : g - 3;
    const index = Number((BigInt(opts.va) >> BigInt(shiftOf(g, l))) & ((1n << BigInt(width)) - 1n));
    const pa = table + index * 8;
    descPa.push(pa);
    if (l === opts.leafLevel) mem.write64(pa, opts.leaf);
    else {
      const next = base + (l + 1 - start) * 2 ** g * 2;
      mem.write64(pa, BigInt(next) | TABLE | (opts.tableBits?.[l] ?? 0n));
    }
  }
  return { mem, tables, descPa, ttb: base };
}

function params(c: Chain, o: Partial<StageParams> = {}): StageParams {
  return {
    granule: 4096,
    ttb: c.ttb,
    inputBits: 48,
    startLevel: 0,
    outputBits: 48,
    ds: false,
    lpa: false,
    ha: false,
    hd: false,
    affd: false,
    ...o,
  };
}

// A VA with distinct indices at every 4K level: i0=1, i1=2, i2=3, i3=4, offset 0x567.
const VA = 2 ** 39 + 2 * 2 ** 30 + 3 * 2 ** 21 + 4 * 2 ** 12 + 0x567;
const OA_PAGE = 0x12_3456_7000;
const s1Page = (extra = 0n) => BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV | extra;
const s2Page = (extra = 0n) => BigInt(OA_PAGE) | PAGE | AF | S2AP_R | S2AP_W | extra;

function fault(r: ReturnType<typeof walkS1>): WalkFault {
  if (r.ok) throw new Error(`expected a fault, got oa ${r.oa.toString(16)}`);
  return r;
}

describe('successful walks', () => {
  it('stage-1 4K page, block sizes at levels 1 and 2', () => {
    let c = chain({ va: VA, leafLevel: 3, leaf: s1Page(1n << 11n) });
    let r = walkS1(c.mem, params(c), req(VA));
    expect(r).toMatchObject({
      ok: true,
      oa: OA_PAGE + 0x567,
      level: 3,
      blockShift: 12,
      nG: true,
      sh: 0,
    });
    // 2M block at level 2: OA keeps VA[20:0]
    c = chain({ va: VA, leafLevel: 2, leaf: 0x40_0000_0000n | BLOCK | AF | AP_UNPRIV });
    r = walkS1(c.mem, params(c), req(VA));
    expect(r).toMatchObject({
      ok: true,
      oa: 0x40_0000_0000 + (VA % 2 ** 21),
      level: 2,
      blockShift: 21,
    });
    // 1G block at level 1; OA bits below the block size in the descriptor are ignored
    c = chain({ va: VA, leafLevel: 1, leaf: 0x80_4000_0000n | 0x1000n | BLOCK | AF | AP_UNPRIV });
    r = walkS1(c.mem, params(c), req(VA));
    expect(r).toMatchObject({
      ok: true,
      oa: 0x80_4000_0000 + (VA % 2 ** 30),
      level: 1,
      blockShift: 30,
    });
  });

  it('stage-2 page with attributes', () => {
    const c = chain({ va: VA, leafLevel: 3, leaf: s2Page((0xfn << 2n) | (3n << 8n)) });
    const r = walkS2(c.mem, params(c), req(VA, { write: true }));
    expect(r).toMatchObject({
      ok: true,
      oa: OA_PAGE + 0x567,
      memAttr: 0xf,
      s2Sh: 3,
      attrIndx: -1,
      s1Level: -1,
    });
    expect(walk(c.mem, { s2: params(c) }, req(VA))).toMatchObject({
      ok: true,
      oa: OA_PAGE + 0x567,
    });
  });

  it('start level 1 with a concatenated (2-table) pgd', () => {
    // 4K, 40-bit input, start level 1: 10 index bits at level 1 (1024 entries, 2 pages)
    const va = 0xff_8000_1234;
    const c = chain({ va, start: 1, inputBits: 40, leafLevel: 3, leaf: s2Page() });
    expect(c.descPa[0]).toBe(c.ttb + 0x3fe * 8);
    const r = walkS2(c.mem, params(c, { inputBits: 40, startLevel: 1 }), req(va));
    expect(r).toMatchObject({ ok: true, oa: OA_PAGE + 0x234 });
  });
});

describe('faults at every level (stage 1 and stage 2)', () => {
  for (const stage of [1, 2] as const) {
    const w = stage === 1 ? walkS1 : walkS2;
    const leaf = stage === 1 ? s1Page : s2Page;
    const cls = 'IN';
    const ipa = stage === 2 ? VA : undefined;
    const expectFault = (f: WalkFault, type: string, level: number, extra: object = {}) =>
      expect(f).toEqual({
        ok: false,
        fault: type,
        stage,
        level,
        class: cls,
        ipa,
        fetchAddr: undefined,
        ttRead: undefined,
        ...extra,
      });

    it(`S${stage}: translation — invalid descriptor at levels 0..3 and input out of range`, () => {
      for (let level = 0; level <= 3; level++) {
        const c = chain({ va: VA, leafLevel: level, leaf: 0n });
        expectFault(fault(w(c.mem, params(c), req(VA))), 'translation', level);
      }
      const c = chain({ va: VA, leafLevel: 3, leaf: leaf() });
      const f = fault(w(c.mem, params(c, { inputBits: 39, startLevel: 1 }), req(2 ** 39)));
      expect(f).toMatchObject({ fault: 'translation', level: 1, stage });
    });

    it(`S${stage}: translation — block where none is allowed, reserved level-3 type`, () => {
      let c = chain({ va: VA, leafLevel: 0, leaf: BLOCK | AF });
      expectFault(fault(w(c.mem, params(c), req(VA))), 'translation', 0);
      c = chain({ va: VA, leafLevel: 3, leaf: BigInt(OA_PAGE) | BLOCK | AF });
      expectFault(fault(w(c.mem, params(c), req(VA))), 'translation', 3);
    });

    it(`S${stage}: address size — next-table address at levels 0..2, output at levels 1..3`, () => {
      // outputBits 40: any address ≥ 2^40 is out of range
      for (let level = 0; level <= 2; level++) {
        const c = chain({ va: VA, leafLevel: level, leaf: (1n << 41n) | TABLE });
        expectFault(fault(w(c.mem, params(c, { outputBits: 40 }), req(VA))), 'addrSize', level);
      }
      for (let level = 1; level <= 3; level++) {
        const type = level === 3 ? PAGE : BLOCK;
        const oa = (1n << 40n) + (1n << 30n);
        const c = chain({
          va: VA,
          leafLevel: level,
          leaf: (leaf() & ~0xffff_ffff_f003n) | oa | type,
        });
        expectFault(fault(w(c.mem, params(c, { outputBits: 40 }), req(VA))), 'addrSize', level);
      }
    });

    it(`S${stage}: access flag — AF = 0 at levels 1..3`, () => {
      for (let level = 1; level <= 3; level++) {
        const type = level === 3 ? PAGE : BLOCK;
        const c = chain({ va: VA, leafLevel: level, leaf: (leaf() & ~(AF | 3n)) | type });
        expectFault(fault(w(c.mem, params(c), req(VA))), 'access', level);
      }
    });

    it(`S${stage}: permission — write to a read-only leaf at levels 1..3`, () => {
      for (let level = 1; level <= 3; level++) {
        const type = level === 3 ? PAGE : BLOCK;
        const ro = stage === 1 ? s1Page(AP_RDONLY) : s2Page() & ~S2AP_W;
        const c = chain({ va: VA, leafLevel: level, leaf: (ro & ~3n) | type });
        expectFault(fault(w(c.mem, params(c), req(VA, { write: true }))), 'permission', level);
        expect(w(c.mem, params(c), req(VA)).ok).toBe(true);
      }
    });

    it(`S${stage}: external abort on the descriptor fetch at levels 0..3`, () => {
      for (let level = 0; level <= 3; level++) {
        const c = chain({ va: VA, leafLevel: 3, leaf: leaf() });
        c.mem.addAbortRange(c.tables[level] as number, 4096);
        const f = fault(w(c.mem, params(c), req(VA)));
        // stage-1 walk aborts are CLASS TT (IHI 0070 §7.3.11)
        expect(f).toEqual({
          ok: false,
          fault: 'walkEabt',
          stage,
          level,
          class: stage === 1 ? 'TT' : 'IN',
          ipa,
          fetchAddr: c.descPa[level],
          ttRead: undefined,
        });
      }
    });
  }

  it('fault priority: abort before invalid, address size before access flag before permission', () => {
    // leaf with OA out of range, AF = 0 and read-only: address size wins
    let c = chain({ va: VA, leafLevel: 3, leaf: (1n << 44n) | PAGE | AP_RDONLY });
    expect(
      fault(walkS1(c.mem, params(c, { outputBits: 40 }), req(VA, { write: true }))).fault,
    ).toBe('addrSize');
    // AF = 0 and read-only: access flag wins over permission
    c = chain({ va: VA, leafLevel: 3, leaf: BigInt(OA_PAGE) | PAGE | AP_RDONLY });
    expect(fault(walkS1(c.mem, params(c), req(VA, { write: true }))).fault).toBe('access');
  });
});

describe('stage-1 permissions (DDI 0487 D8.4)', () => {
  // a privileged read always passes stage-1 checks (unless PAN), so the walk reports the mask
  const perms = (
    leaf: bigint,
    tableBits: Record<number, bigint> = {},
    o: Partial<StageParams> = {},
  ) => {
    const c = chain({ va: VA, leafLevel: 3, leaf, tableBits });
    const r = walkS1(c.mem, params(c, o), req(VA, { priv: !o.pan }));
    return r.ok ? r.s1Perms : -1;
  };
  const { PR, PW, PX, UR, UW, UX } = PERM;

  it('AP[2:1] and XN bits', () => {
    expect(perms(BigInt(OA_PAGE) | PAGE | AF)).toBe(PR | PW | PX); // AP 00: EL1 RW, EL0 none
    // AP 01: RW both — EL0-writable is implicitly PXN
    expect(perms(BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV)).toBe(PR | PW | UR | UW | UX);
    expect(perms(BigInt(OA_PAGE) | PAGE | AF | AP_RDONLY)).toBe(PR | PX); // AP 10
    expect(perms(BigInt(OA_PAGE) | PAGE | AF | AP_RDONLY | AP_UNPRIV)).toBe(PR | PX | UR | UX); // AP 11
    expect(perms(BigInt(OA_PAGE) | PAGE | AF | AP_RDONLY | AP_UNPRIV | PXN | UXN)).toBe(PR | UR);
  });

  it('hierarchical APTable/XNTable/PXNTable, ignored with HAD', () => {
    const rw = BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV;
    expect(perms(rw, { 1: APTABLE_RO })).toBe(PR | UR | PX | UX);
    expect(perms(rw, { 2: APTABLE_NOEL0 })).toBe(PR | PW | PX);
    expect(perms(BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV | AP_RDONLY, { 0: XNTABLE })).toBe(
      PR | PX | UR,
    );
    expect(perms(BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV | AP_RDONLY, { 2: PXNTABLE })).toBe(
      PR | UR | UX,
    );
    expect(perms(rw, { 0: APTABLE_RO | XNTABLE }, { had: true })).toBe(PR | PW | UR | UW | UX);
  });

  it('WXN, PAN and execute-needs-read', () => {
    expect(perms(BigInt(OA_PAGE) | PAGE | AF, {}, { wxn: true })).toBe(PR | PW);
    const p = perms(BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV | AP_RDONLY, {}, { pan: true });
    expect(p & PERM.PAN).toBe(PERM.PAN);
    expect(checkPermission(p, false, false, true)).toBe(PERM_CHECK.FAULT); // privileged data read
    expect(checkPermission(p, false, true, true)).toBe(PERM_CHECK.OK); // privileged fetch
    expect(checkPermission(p, false, false, false)).toBe(PERM_CHECK.OK);
    // AP 00 (no EL0 access) with UXN clear: execute-only at EL0 unless execNeedsRead
    expect(perms(BigInt(OA_PAGE) | PAGE | AF)).toBe(PR | PW | PX);
    expect(perms(BigInt(OA_PAGE) | PAGE | AF, {}, { execNeedsRead: false })).toBe(
      PR | PW | PX | UX,
    );
  });

  it('a walk applies the permissions to the request', () => {
    const c = chain({
      va: VA,
      leafLevel: 3,
      leaf: BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV | AP_RDONLY,
      tableBits: { 1: PXNTABLE },
    });
    expect(walkS1(c.mem, params(c), req(VA, { exec: true, priv: false })).ok).toBe(true);
    expect(fault(walkS1(c.mem, params(c), req(VA, { exec: true, priv: true }))).fault).toBe(
      'permission',
    );
    expect(fault(walkS1(c.mem, params(c), req(VA, { write: true, priv: true }))).fault).toBe(
      'permission',
    );
  });
});

describe('stage-2 permissions', () => {
  const perms = (leaf: bigint, o: Partial<StageParams> = {}) => {
    const c = chain({ va: VA, leafLevel: 3, leaf });
    const r = walkS2(c.mem, params(c, o), req(VA, { write: false }));
    return r.ok ? r.s2Perms : -1;
  };
  const { PR, PW, PX, UR, UW, UX } = PERM;
  it('S2AP and XN with and without FEAT_XNX', () => {
    expect(perms(s2Page())).toBe(PR | UR | PW | UW | PX | UX);
    expect(perms(s2Page(2n << 53n))).toBe(PR | UR | PW | UW); // XN[1] = bit 54
    expect(perms(s2Page(1n << 53n))).toBe(PR | UR | PW | UW | PX | UX); // bit 53 RES0 without XNX
    expect(perms(s2Page(1n << 53n), { xnx: true })).toBe(PR | UR | PW | UW | UX); // 01: PXN
    expect(perms(s2Page(3n << 53n), { xnx: true })).toBe(PR | UR | PW | UW | PX); // 11: UXN
    // write-only: no read, hence (execNeedsRead) no execute
    const c = chain({ va: VA, leafLevel: 3, leaf: BigInt(OA_PAGE) | PAGE | AF | S2AP_W });
    const r = walkS2(c.mem, params(c), req(VA, { write: true }));
    expect(r.ok && r.s2Perms).toBe(PW | UW);
  });
});

describe('access flag and dirty state (HTTU, IHI 0070 §3.13)', () => {
  it('HA sets AF in memory; AFFD suppresses the fault without writing', () => {
    let c = chain({ va: VA, leafLevel: 3, leaf: BigInt(OA_PAGE) | PAGE | AP_UNPRIV });
    const pa = c.descPa[3] as number;
    expect(walkS1(c.mem, params(c, { ha: true }), req(VA)).ok).toBe(true);
    expect(c.mem.read64(pa)).toBe(BigInt(OA_PAGE) | PAGE | AP_UNPRIV | AF);
    c = chain({ va: VA, leafLevel: 3, leaf: BigInt(OA_PAGE) | PAGE | AP_UNPRIV });
    expect(walkS1(c.mem, params(c, { affd: true }), req(VA)).ok).toBe(true);
    expect(c.mem.read64(c.descPa[3] as number) & AF).toBe(0n);
  });

  it('HD + DBM: a write clears AP[2] (stage 1) / sets S2AP[1] (stage 2)', () => {
    const leaf1 = BigInt(OA_PAGE) | PAGE | AF | AP_UNPRIV | AP_RDONLY | DBM;
    let c = chain({ va: VA, leafLevel: 3, leaf: leaf1 });
    // without HD: permission fault; HD without HA: no dirty update either
    expect(fault(walkS1(c.mem, params(c), req(VA, { write: true }))).fault).toBe('permission');
    expect(fault(walkS1(c.mem, params(c, { hd: true }), req(VA, { write: true }))).fault).toBe(
      'permission',
    );
    // a read leaves the descriptor clean but reports the pending dirty state
    const rd = walkS1(c.mem, params(c, { ha: true, hd: true }), req(VA));
    expect(rd.ok && rd.s1Perms & PERM.DIRTY_PENDING).toBe(PERM.DIRTY_PENDING);
    expect(rd.ok && checkPermission(rd.s1Perms, true, false, false)).toBe(PERM_CHECK.WALK);
    expect(c.mem.read64(c.descPa[3] as number)).toBe(leaf1);
    const wr = walkS1(c.mem, params(c, { ha: true, hd: true }), req(VA, { write: true }));
    expect(wr.ok && wr.s1Perms & PERM.DIRTY_PENDING).toBe(0);
    expect(c.mem.read64(c.descPa[3] as number)).toBe(leaf1 & ~AP_RDONLY);
    // table-level read-only is not overridden by DBM
    c = chain({ va: VA, leafLevel: 3, leaf: leaf1, tableBits: { 2: APTABLE_RO } });
    expect(
      fault(walkS1(c.mem, params(c, { ha: true, hd: true }), req(VA, { write: true }))).fault,
    ).toBe('permission');
    // stage 2
    const leaf2 = BigInt(OA_PAGE) | PAGE | AF | S2AP_R | DBM;
    c = chain({ va: VA, leafLevel: 3, leaf: leaf2 });
    expect(walkS2(c.mem, params(c, { ha: true, hd: true }), req(VA, { write: true })).ok).toBe(
      true,
    );
    expect(c.mem.read64(c.descPa[3] as number)).toBe(leaf2 | S2AP_W);
  });

  it('checkPermission', () => {
    const { PR, PW, UR } = PERM;
    expect(checkPermission(PR | UR, false, false, false)).toBe(PERM_CHECK.OK);
    expect(checkPermission(PR | UR, true, false, false)).toBe(PERM_CHECK.FAULT);
    expect(checkPermission(PR | PW, true, false, true)).toBe(PERM_CHECK.OK);
    expect(checkPermission(PR | PW, false, true, true)).toBe(PERM_CHECK.FAULT);
    expect(checkPermission(PR | PW | PERM.DIRTY_PENDING, true, false, true)).toBe(PERM_CHECK.WALK);
  });
});

describe('nested walks (IHI 0070 §7.3.22, §3.13)', () => {
  // Stage 1 (4K, 39-bit, start level 1) in IPA space; stage 2 (4K, 40-bit, start 1, concatenated)
  // maps the S1 tables and the output IPA. S1 tables at IPA 0x4000_0000.., S2 tables at PA 0x80_0000..
  const S1_TT = 0x4000_0000;
  const S2_TT = 0x80_0000;
  const va = 0x12_3456_7abc;
  const ipaOut = 0x8_7654_3000;

  it('uses one stage-2 table shared by all IPAs', () => {
    // Build a single S2 table tree by hand: level-1 concatenated root at S2_TT, one L2/L3 per 1G
    // region touched. The three S1 tables (IPA 0x4000_0000, +0x2000, +0x4000) sit in one 2M
    // region; the output IPA in another.
    const mem = new SparseMemory();
    const S2 = { root: S2_TT, next: S2_TT + 0x2000 };
    const s2map = (ipa: number, leaf: bigint) => {
      let table = S2.root;
      for (let level = 1; level <= 3; level++) {
        const shift = shiftOf(12, level);
        const width = level === 1 ? 40 - 30 : 9;
        const i = Math.floor(ipa / 2 ** shift) % 2 ** width;
        const pa = table + i * 8;
        if (level === 3) {
          mem.write64(pa, leaf);
          return pa;
        }
        let d = mem.read64(pa);
        if (!d) {
          d = BigInt(S2.next) | TABLE;
          S2.next += 0x1000;
          mem.write64(pa, d);
        }
        table = Number(d & 0xffff_ffff_f000n);
      }
      return 0;
    };
    const s1IpaToPa = (ipa: number) => ipa + 0x10_0000_0000;
    const s1 = chain({
      va,
      start: 1,
      inputBits: 39,
      leafLevel: 3,
      leaf: BigInt(ipaOut) | PAGE | AF | AP_UNPRIV,
      base: S1_TT,
      mem: new SparseMemory(),
    });
    const s2LeafPa: number[] = [];
    for (const t of s1.tables) {
      for (let off = 0; off < 4096; off += 8) {
        const d = s1.mem.read64(t + off);
        if (d) mem.write64(s1IpaToPa(t) + off, d);
      }
      s2LeafPa.push(s2map(t, BigInt(s1IpaToPa(t)) | PAGE | AF | S2AP_R | S2AP_W | (0xfn << 2n)));
    }
    const outPa = 0x30_0000_0000;
    const outLeafPa = s2map(ipaOut, BigInt(outPa) | PAGE | AF | S2AP_R | S2AP_W | (0xfn << 2n));
    const p1: StageParams = {
      ...params({ mem, tables: [], descPa: [], ttb: S1_TT }),
      inputBits: 39,
      startLevel: 1,
      outputBits: 40,
    };
    const p2: StageParams = {
      ...params({ mem, tables: [], descPa: [], ttb: S2_TT }),
      inputBits: 40,
      startLevel: 1,
      outputBits: 48,
    };

    // success: PA = outPa + page offset, both stages reported
    const ok = walkNested(mem, p1, p2, req(va));
    expect(ok).toMatchObject({
      ok: true,
      oa: outPa + 0xabc,
      ipa: ipaOut + 0xabc,
      s1Level: 3,
      s2Level: 3,
      blockShift: 12,
      memAttr: 0xf,
      attrIndx: 0,
    });
    expect(walk(mem, { s1: p1, s2: p2 }, req(va))).toMatchObject({ ok: true, oa: outPa + 0xabc });

    // stage-2 translation fault on the level-2 S1 table fetch → S2, CLASS TT, IPA = descriptor IPA
    const saved = mem.read64(s2LeafPa[1] as number);
    mem.write64(s2LeafPa[1] as number, 0n);
    expect(fault(walkNested(mem, p1, p2, req(va)))).toEqual({
      ok: false,
      fault: 'translation',
      stage: 2,
      level: 3,
      class: 'TT',
      ipa: s1.descPa[1],
      fetchAddr: undefined,
      ttRead: true,
    });
    mem.write64(s2LeafPa[1] as number, saved);

    // stage-2 fault on the output IPA → CLASS IN with the transaction's IPA
    const savedOut = mem.read64(outLeafPa);
    mem.write64(outLeafPa, savedOut & ~S2AP_W);
    expect(fault(walkNested(mem, p1, p2, req(va, { write: true })))).toEqual({
      ok: false,
      fault: 'permission',
      stage: 2,
      level: 3,
      class: 'IN',
      ipa: ipaOut + 0xabc,
      fetchAddr: undefined,
      ttRead: undefined,
    });
    // ...but a stage-1 permission fault comes first (stage-1 checks precede the final S2 walk)
    const s1LeafPa = s1IpaToPa(s1.descPa[2] as number);
    const s1Leaf = mem.read64(s1LeafPa);
    mem.write64(s1LeafPa, s1Leaf | AP_RDONLY);
    expect(fault(walkNested(mem, p1, p2, req(va, { write: true })))).toMatchObject({
      fault: 'permission',
      stage: 1,
      class: 'IN',
      ipa: undefined,
    });
    mem.write64(s1LeafPa, s1Leaf);
    mem.write64(outLeafPa, savedOut);

    // stage-1 descriptor fetch abort → stage 1, CLASS TT, FetchAddr = PA read
    mem.addAbortRange(s1IpaToPa(s1.tables[2] as number), 4096);
    expect(fault(walkNested(mem, p1, p2, req(va)))).toEqual({
      ok: false,
      fault: 'walkEabt',
      stage: 1,
      level: 3,
      class: 'TT',
      ipa: undefined,
      fetchAddr: s1IpaToPa(s1.descPa[2] as number),
      ttRead: undefined,
    });
  });

  it('HA update of a stage-1 descriptor needs stage-2 write permission (TTRnW = 0)', () => {
    const mem = new SparseMemory();
    // S1: single level-3 table at IPA 0x1000 (start level 3, 21-bit input), S2 identity with
    // the S1 table page read-only.
    const s1Table = 0x1000;
    const vaS = 0x5123;
    mem.write64(s1Table + 5 * 8, 0x7000n | PAGE | AP_UNPRIV); // AF = 0
    // S2: start level 3 too (4K, 21-bit IPA), table at PA 0x20_0000
    const s2Root = 0x20_0000;
    mem.write64(s2Root + 1 * 8, 0x1000n | PAGE | AF | S2AP_R); // IPA 0x1000 → PA 0x1000, read-only
    mem.write64(s2Root + 7 * 8, 0x9000n | PAGE | AF | S2AP_R | S2AP_W); // IPA 0x7000 → 0x9000
    const base = params({ mem, tables: [], descPa: [], ttb: 0 });
    const p1: StageParams = { ...base, ttb: s1Table, inputBits: 21, startLevel: 3, ha: true };
    const p2: StageParams = { ...base, ttb: s2Root, inputBits: 21, startLevel: 3 };
    expect(fault(walkNested(mem, p1, p2, req(vaS)))).toEqual({
      ok: false,
      fault: 'permission',
      stage: 2,
      level: 3,
      class: 'TT',
      ipa: s1Table + 5 * 8,
      fetchAddr: undefined,
      ttRead: false,
    });
    // make the S1 table writable at stage 2: AF gets set, translation succeeds
    mem.write64(s2Root + 1 * 8, 0x1000n | PAGE | AF | S2AP_R | S2AP_W);
    expect(walkNested(mem, p1, p2, req(vaS))).toMatchObject({ ok: true, oa: 0x9123 });
    expect(mem.read64(s1Table + 5 * 8) & AF).toBe(AF);
    // S2PTW: stage-1 walks into stage-2 Device memory fault at stage 2
    mem.write64(s2Root + 1 * 8, 0x1000n | PAGE | AF | S2AP_R | S2AP_W | (0x1n << 2n));
    expect(fault(walkNested(mem, p1, { ...p2, ptw: true }, req(vaS)))).toMatchObject({
      fault: 'permission',
      stage: 2,
      class: 'TT',
      ttRead: true,
    });
    expect(walkNested(mem, p1, p2, req(vaS)).ok).toBe(true);
  });

  it('stage-1 output beyond the stage-2 input size is a stage-2 translation fault (CLASS IN)', () => {
    const mem = new SparseMemory();
    mem.write64(0x1000 + 5 * 8, 0x40_0000n | PAGE | AF | AP_UNPRIV); // VA 0x5000 → IPA 0x40_0000
    mem.write64(0x20_0000 + 1 * 8, 0x1000n | PAGE | AF | S2AP_R);
    const base = params({ mem, tables: [], descPa: [], ttb: 0 });
    const p1: StageParams = { ...base, ttb: 0x1000, inputBits: 21, startLevel: 3 };
    const p2: StageParams = { ...base, ttb: 0x20_0000, inputBits: 21, startLevel: 3 };
    expect(fault(walkNested(mem, p1, p2, req(0x5010)))).toEqual({
      ok: false,
      fault: 'translation',
      stage: 2,
      level: 3,
      class: 'IN',
      ipa: 0x40_0010,
      fetchAddr: undefined,
      ttRead: undefined,
    });
  });
});

describe('52-bit forms', () => {
  it('4K with DS: level −1 start, OA[51:50] in bits [9:8], OA[49:48] in [49:48]', () => {
    const va = 2 ** 51 + 2 ** 48 + 0x1234_5678_9000 + 0xabc; // needs 52 input bits
    const oa = 0xf_8123_4567_8000;
    // descriptor OA: bits [49:12] direct, [51:50] → [9:8]
    const leaf =
      (BigInt(oa) & 0x3_ffff_ffff_f000n) | ((BigInt(oa) >> 50n) << 8n) | PAGE | AF | AP_UNPRIV;
    const c = chain({ va, start: -1, inputBits: 52, leafLevel: 3, leaf });
    const r = walkS1(
      c.mem,
      params(c, { inputBits: 52, startLevel: -1, outputBits: 52, ds: true }),
      req(va),
    );
    expect(r).toMatchObject({ ok: true, oa: oa + 0xabc, sh: -1 });
    // without DS the same tables cap the output at 48 bits → address size
    const c2 = chain({
      va: 0x1000,
      leafLevel: 3,
      leaf: (1n << 48n) | 0x5000n | PAGE | AF | AP_UNPRIV,
    });
    const r2 = walkS1(c2.mem, params(c2, { outputBits: 52 }), req(0x1000));
    expect(r2.ok && r2.oa).toBe(0x5000); // bits [49:48] are RES0 without DS: ignored
  });

  it('4K DS allows a level-0 (512G) block; 16K DS a level-1 (64G) block', () => {
    const va = 0x12_3456_789a;
    let c = chain({ va, leafLevel: 0, leaf: (1n << 39n) | BLOCK | AF | AP_UNPRIV });
    expect(walkS1(c.mem, params(c, { ds: true }), req(va))).toMatchObject({
      ok: true,
      oa: 2 ** 39 + va,
      blockShift: 39,
    });
    // 16K, 48-bit input, start 0 (1 index bit), block at level 1 (shift 36)
    c = chain({ va, g: 14, leafLevel: 1, leaf: (3n << 36n) | BLOCK | AF | AP_UNPRIV });
    const p = params(c, { granule: 16384 });
    expect(fault(walkS1(c.mem, p, req(va))).fault).toBe('translation');
    expect(walkS1(c.mem, { ...p, ds: true }, req(va))).toMatchObject({
      ok: true,
      oa: 3 * 2 ** 36 + (va % 2 ** 36),
    });
  });

  it('64K with FEAT_LPA: OA[51:48] from bits [15:12]; level-1 (4T) blocks', () => {
    const va = 0x3_2100_0000_1234;
    const leaf = 0x1234_5678_0000n | (0xcn << 12n) | PAGE | AF | AP_UNPRIV;
    const c = chain({ va, g: 16, start: 1, inputBits: 52, leafLevel: 3, leaf });
    const p = params(c, {
      granule: 65536,
      inputBits: 52,
      startLevel: 1,
      outputBits: 52,
      lpa: true,
    });
    expect(walkS1(c.mem, p, req(va))).toMatchObject({ ok: true, oa: 0xc_1234_5678_0000 + 0x1234 });
    // OA above a 48-bit IPS → address size
    expect(fault(walkS1(c.mem, { ...p, outputBits: 48 }, req(va))).fault).toBe('addrSize');
    const b = chain({
      va,
      g: 16,
      start: 1,
      inputBits: 52,
      leafLevel: 1,
      leaf: (5n << 42n) | BLOCK | AF | AP_UNPRIV,
    });
    const pb = params(b, {
      granule: 65536,
      inputBits: 52,
      startLevel: 1,
      outputBits: 52,
      lpa: true,
    });
    expect(walkS1(b.mem, pb, req(va))).toMatchObject({
      ok: true,
      oa: 5 * 2 ** 42 + (va % 2 ** 42),
      level: 1,
    });
    expect(fault(walkS1(b.mem, { ...pb, lpa: false }, req(va))).fault).toBe('translation');
  });
});

describe('trace', () => {
  it('emits one walk-step per descriptor; none without a sink', () => {
    const c = chain({ va: VA, leafLevel: 3, leaf: s1Page() });
    const events: TraceEvent[] = [];
    walkS1(c.mem, params(c), req(VA), (e) => events.push(e));
    expect(
      events.map((e) => (e.kind === 'walk-step' ? [e.level, e.index, e.decision] : [])),
    ).toEqual([
      [0, 1, 'table'],
      [1, 2, 'table'],
      [2, 3, 'table'],
      [3, 4, 'page'],
    ]);
    const last = events[3];
    expect(last?.kind === 'walk-step' && last.descriptor).toBe(s1Page());
    expect(last?.kind === 'walk-step' && last.tablePa).toBe(c.tables[3]);
  });
});
