// Field tables of src/arch (regs, STE, CD, commands, events, PRI records) checked two ways:
// internally (checkTable: no overlaps, positions inside the word, unique names) and against
// masks written out as literals from public sources:
//  - Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h, gregkh/linux @ d2cb798d2d8c (v6.13/6.14,
//    the file that defines STRTAB_STE_{0,1}_NESTING_ALLOWED): GENMASK_ULL(h, l) values below are
//    transcribed as genmask(h, l) calls or hex literals of the macro.
//  - QEMU hw/arm/smmuv3-internal.h (FIELD(reg, name, shift, length) and STE_*/CD_* extractors).
//  - Arm IHI 0070 H.a field descriptions (bit numbers of the STE as [n] over the 512-bit entry,
//    i.e. word n/64, bit n%64).
import { describe, expect, it } from 'vitest';
import { genmask } from '../../src/arch/bits.ts';
import { CD, L1CD } from '../../src/arch/cd.ts';
import {
  allCommandStructs,
  CMD_OP,
  COMMANDS,
  commandName,
  commandStruct,
} from '../../src/arch/cmd.ts';
import { allEventStructs, EVENTS, EVT_ID, eventStruct, PRIQ_RECORD } from '../../src/arch/evt.ts';
import { checkTable, findField, maskOf, type StructDef } from '../../src/arch/fields.ts';
import { SMMU_REG_OFFSET, SMMU_REGS } from '../../src/arch/regs.ts';
import {
  L1STD,
  STE,
  STRTAB_STE_0_NESTING_ALLOWED,
  STRTAB_STE_1_NESTING_ALLOWED,
} from '../../src/arch/ste.ts';

const g = genmask;
const bitN = (n: number) => 1n << BigInt(n);

/** Mask of one field, word-relative. */
function m(def: StructDef, name: string): bigint {
  return maskOf(def, [name]);
}
function wordOf(def: StructDef, name: string): number {
  return findField(def, name).word;
}

const ALL_TABLES: StructDef[] = [
  ...Object.values(SMMU_REGS).map((r) => r.def),
  STE,
  L1STD,
  CD,
  L1CD,
  ...allCommandStructs(),
  ...allEventStructs(),
  PRIQ_RECORD,
];

describe('every table is internally consistent', () => {
  it.each(ALL_TABLES.map((d) => [d.name, d] as const))('%s', (_name, def) => {
    expect(checkTable(def)).toEqual([]);
    expect(def.fields.length).toBeGreaterThan(0);
    expect(def.fields.every((f) => f.doc.length > 0)).toBe(true);
  });
  it('checkTable can fail (self-check with an overlapping table)', () => {
    const bad: StructDef = {
      name: 'bad',
      title: 'bad',
      words: 1,
      ref: 'test',
      fields: [
        { name: 'A', word: 0, hi: 3, lo: 0, doc: 'a' },
        { name: 'B', word: 0, hi: 4, lo: 3, doc: 'b' },
      ],
    };
    expect(checkTable(bad)).not.toEqual([]);
  });
});

describe('register offsets (Linux ARM_SMMU_*, IHI 0070 §6.2; page 1 = +0x10000)', () => {
  // Linux defines EVTQ/PRIQ PROD/CONS at their page-0 offsets and adds the page-1 base at run
  // time (arm_smmu_page1_fixup); IHI 0070 places them in page 1 only.
  const linux: Record<string, number> = {
    IDR0: 0x0,
    IDR1: 0x4,
    IDR3: 0xc,
    IDR5: 0x14,
    IIDR: 0x18,
    AIDR: 0x1c,
    CR0: 0x20,
    CR0ACK: 0x24,
    CR1: 0x28,
    CR2: 0x2c,
    GBPA: 0x44,
    IRQ_CTRL: 0x50,
    IRQ_CTRLACK: 0x54,
    GERROR: 0x60,
    GERRORN: 0x64,
    GERROR_IRQ_CFG0: 0x68,
    GERROR_IRQ_CFG1: 0x70,
    GERROR_IRQ_CFG2: 0x74,
    STRTAB_BASE: 0x80,
    STRTAB_BASE_CFG: 0x88,
    CMDQ_BASE: 0x90,
    CMDQ_PROD: 0x98,
    CMDQ_CONS: 0x9c,
    EVENTQ_BASE: 0xa0,
    EVENTQ_PROD: 0x10000 + 0xa8,
    EVENTQ_CONS: 0x10000 + 0xac,
    EVENTQ_IRQ_CFG0: 0xb0,
    EVENTQ_IRQ_CFG1: 0xb8,
    EVENTQ_IRQ_CFG2: 0xbc,
    PRIQ_BASE: 0xc0,
    PRIQ_PROD: 0x10000 + 0xc8,
    PRIQ_CONS: 0x10000 + 0xcc,
    PRIQ_IRQ_CFG0: 0xd0,
    PRIQ_IRQ_CFG1: 0xd8,
    PRIQ_IRQ_CFG2: 0xdc,
    // Not in the Linux header: IHI 0070 §6.3 (IDR2/IDR4 at 0x08/0x10, STATUSR 0x40, AGBPA 0x48).
    IDR2: 0x8,
    IDR4: 0x10,
    STATUSR: 0x40,
    AGBPA: 0x48,
  };
  it('every offset matches', () => {
    for (const [name, off] of Object.entries(linux)) {
      expect([name, SMMU_REG_OFFSET[name as keyof typeof SMMU_REG_OFFSET]]).toEqual([name, off]);
      expect(SMMU_REGS[name as keyof typeof SMMU_REGS].offset).toBe(off);
    }
    expect(Object.keys(SMMU_REGS).sort()).toEqual(Object.keys(linux).sort());
  });
  it('64-bit registers are the base and IRQ_CFG0 registers', () => {
    const wide = Object.entries(SMMU_REGS)
      .filter(([, r]) => r.bits === 64)
      .map(([n]) => n)
      .sort();
    expect(wide).toEqual(
      [
        'CMDQ_BASE',
        'EVENTQ_BASE',
        'EVENTQ_IRQ_CFG0',
        'GERROR_IRQ_CFG0',
        'PRIQ_BASE',
        'PRIQ_IRQ_CFG0',
        'STRTAB_BASE',
      ].sort(),
    );
  });
});

describe('register fields (Linux arm-smmu-v3.h)', () => {
  const R = (n: keyof typeof SMMU_REGS) => SMMU_REGS[n].def;
  it('IDR0', () => {
    const d = R('IDR0');
    expect(m(d, 'ST_LEVEL')).toBe(g(28, 27)); // IDR0_ST_LVL
    expect(m(d, 'STALL_MODEL')).toBe(g(25, 24));
    expect(m(d, 'TTENDIAN')).toBe(g(22, 21));
    expect(m(d, 'CD2L')).toBe(bitN(19));
    expect(m(d, 'VMID16')).toBe(bitN(18));
    expect(m(d, 'PRI')).toBe(bitN(16));
    expect(m(d, 'SEV')).toBe(bitN(14));
    expect(m(d, 'MSI')).toBe(bitN(13));
    expect(m(d, 'ASID16')).toBe(bitN(12));
    expect(m(d, 'ATS')).toBe(bitN(10));
    expect(m(d, 'Hyp')).toBe(bitN(9));
    expect(m(d, 'HTTU')).toBe(g(7, 6));
    expect(m(d, 'COHACC')).toBe(bitN(4));
    expect(m(d, 'TTF')).toBe(g(3, 2));
    expect(m(d, 'S1P')).toBe(bitN(1));
    expect(m(d, 'S2P')).toBe(bitN(0));
    // QEMU FIELD(IDR0, TERM_MODEL, 26, 1), FIELD(IDR0, RME_IMPL, 30, 1), NS1ATS 11, VMW 17.
    expect(m(d, 'TERM_MODEL')).toBe(bitN(26));
    expect(m(d, 'RME_IMPL')).toBe(bitN(30));
    expect(m(d, 'NS1ATS')).toBe(bitN(11));
    expect(m(d, 'VMW')).toBe(bitN(17));
  });
  it('IDR1', () => {
    const d = R('IDR1');
    expect(m(d, 'TABLES_PRESET')).toBe(bitN(30));
    expect(m(d, 'QUEUES_PRESET')).toBe(bitN(29));
    expect(m(d, 'REL')).toBe(bitN(28));
    expect(m(d, 'ATTR_TYPES_OVR')).toBe(bitN(27));
    expect(m(d, 'CMDQS')).toBe(g(25, 21));
    expect(m(d, 'EVENTQS')).toBe(g(20, 16));
    expect(m(d, 'PRIQS')).toBe(g(15, 11));
    expect(m(d, 'SSIDSIZE')).toBe(g(10, 6));
    expect(m(d, 'SIDSIZE')).toBe(g(5, 0));
  });
  it('IDR3 and IDR5', () => {
    expect(m(R('IDR3'), 'FWB')).toBe(bitN(8));
    expect(m(R('IDR3'), 'RIL')).toBe(bitN(10));
    expect(m(R('IDR3'), 'BBML')).toBe(g(12, 11)); // QEMU FIELD(IDR3, BBML, 11, 2)
    const d = R('IDR5');
    expect(m(d, 'STALL_MAX')).toBe(g(31, 16));
    expect(m(d, 'GRAN64K')).toBe(bitN(6));
    expect(m(d, 'GRAN16K')).toBe(bitN(5));
    expect(m(d, 'GRAN4K')).toBe(bitN(4));
    expect(m(d, 'OAS')).toBe(g(2, 0));
    expect(m(d, 'VAX')).toBe(g(11, 10));
    expect(m(d, 'DS')).toBe(bitN(7)); // IHI 0070 H.a SMMU_IDR5.DS, bit [7]
    expect(m(d, 'D128')).toBe(bitN(8)); // SMMU_IDR5.D128, bit [8]
  });
  it('IIDR', () => {
    const d = R('IIDR');
    expect(m(d, 'ProductID')).toBe(g(31, 20));
    expect(m(d, 'Variant')).toBe(g(19, 16));
    expect(m(d, 'Revision')).toBe(g(15, 12));
    expect(m(d, 'Implementer')).toBe(g(11, 0));
  });
  it('CR0, CR1, CR2, GBPA, IRQ_CTRL', () => {
    const cr0 = R('CR0');
    expect(maskOf(cr0, ['ATSCHK', 'CMDQEN', 'EVENTQEN', 'PRIQEN', 'SMMUEN'])).toBe(0x1fn);
    expect(m(cr0, 'CMDQEN')).toBe(bitN(3));
    expect(m(cr0, 'EVENTQEN')).toBe(bitN(2));
    const cr1 = R('CR1');
    expect(m(cr1, 'TABLE_SH')).toBe(g(11, 10));
    expect(m(cr1, 'TABLE_OC')).toBe(g(9, 8));
    expect(m(cr1, 'TABLE_IC')).toBe(g(7, 6));
    expect(m(cr1, 'QUEUE_SH')).toBe(g(5, 4));
    expect(m(cr1, 'QUEUE_OC')).toBe(g(3, 2));
    expect(m(cr1, 'QUEUE_IC')).toBe(g(1, 0));
    const cr2 = R('CR2');
    expect(m(cr2, 'PTM')).toBe(bitN(2));
    expect(m(cr2, 'RECINVSID')).toBe(bitN(1));
    expect(m(cr2, 'E2H')).toBe(bitN(0));
    expect(m(R('GBPA'), 'Update')).toBe(bitN(31)); // GBPA_UPDATE
    expect(m(R('GBPA'), 'ABORT')).toBe(bitN(20)); // GBPA_ABORT
    const irq = R('IRQ_CTRL');
    expect(m(irq, 'EVENTQ_IRQEN')).toBe(bitN(2));
    expect(m(irq, 'PRIQ_IRQEN')).toBe(bitN(1));
    expect(m(irq, 'GERROR_IRQEN')).toBe(bitN(0));
  });
  it('GERROR: the Linux GERROR_ERR_MASK 0x1fd is exactly the SMMUv3.0 error bits', () => {
    const d = R('GERROR');
    expect(
      maskOf(d, [
        'SFM_ERR',
        'MSI_GERROR_ABT_ERR',
        'MSI_PRIQ_ABT_ERR',
        'MSI_EVENTQ_ABT_ERR',
        'MSI_CMDQ_ABT_ERR',
        'PRIQ_ABT_ERR',
        'EVENTQ_ABT_ERR',
        'CMDQ_ERR',
      ]),
    ).toBe(0x1fdn);
    // IHI 0070 H.a SMMU_GERROR: CMDQP_ERR bit [9], DPT_ERR bit [10].
    expect(m(d, 'CMDQP_ERR')).toBe(bitN(9));
    expect(m(d, 'DPT_ERR')).toBe(bitN(10));
  });
  it('stream table and queue base registers', () => {
    expect(m(R('STRTAB_BASE'), 'RA')).toBe(bitN(62));
    expect(m(R('STRTAB_BASE'), 'ADDR')).toBe(g(51, 6)); // STRTAB_BASE_ADDR_MASK
    const cfg = R('STRTAB_BASE_CFG');
    expect(m(cfg, 'FMT')).toBe(g(17, 16));
    expect(m(cfg, 'SPLIT')).toBe(g(10, 6));
    expect(m(cfg, 'LOG2SIZE')).toBe(g(5, 0));
    for (const q of ['CMDQ_BASE', 'EVENTQ_BASE', 'PRIQ_BASE'] as const) {
      expect(m(R(q), 'ADDR')).toBe(g(51, 5)); // Q_BASE_ADDR_MASK
      expect(m(R(q), 'LOG2SIZE')).toBe(g(4, 0)); // Q_BASE_LOG2SIZE
    }
    expect(m(R('CMDQ_BASE'), 'RA')).toBe(bitN(62)); // Q_BASE_RWA
    expect(m(R('EVENTQ_BASE'), 'WA')).toBe(bitN(62));
    for (const c of ['GERROR_IRQ_CFG0', 'EVENTQ_IRQ_CFG0', 'PRIQ_IRQ_CFG0'] as const) {
      expect(m(R(c), 'ADDR')).toBe(g(51, 2)); // MSI_CFG0_ADDR_MASK
    }
    for (const c of ['GERROR_IRQ_CFG2', 'EVENTQ_IRQ_CFG2', 'PRIQ_IRQ_CFG2'] as const) {
      expect(m(R(c), 'SH')).toBe(g(5, 4)); // MSI_CFG2_SH
      expect(m(R(c), 'MemAttr')).toBe(g(3, 0)); // MSI_CFG2_MEMATTR
    }
  });
  it('queue PROD/CONS: CMDQ_CONS.ERR, overflow flags only on event/PRI queues', () => {
    expect(m(R('CMDQ_CONS'), 'ERR')).toBe(g(30, 24)); // CMDQ_CONS_ERR
    expect(m(R('EVENTQ_PROD'), 'OVFLG')).toBe(0x80000000n); // Q_OVERFLOW_FLAG
    expect(m(R('EVENTQ_CONS'), 'OVACKFLG')).toBe(0x80000000n);
    expect(m(R('PRIQ_PROD'), 'OVFLG')).toBe(0x80000000n);
    expect(R('CMDQ_PROD').fields.some((f) => f.hi === 31)).toBe(false);
    for (const q of ['CMDQ_PROD', 'EVENTQ_PROD', 'PRIQ_PROD'] as const) {
      expect(m(R(q), 'WR')).toBe(g(19, 0)); // max QS 19 → wrap bit at most bit 19
    }
  });
});

describe('STE (Linux STRTAB_STE_*, IHI 0070 H.a §5.2)', () => {
  it('vSTE masks equal the Linux literals', () => {
    // arm-smmu-v3.h: STRTAB_STE_0_NESTING_ALLOWED = V | CFG | S1FMT | S1CTXPTR_MASK | S1CDMAX
    expect(STRTAB_STE_0_NESTING_ALLOWED).toBe(0xf80fffffffffffffn);
    // STRTAB_STE_1_NESTING_ALLOWED = S1DSS | S1CIR | S1COR | S1CSH | S1STALLD | EATS
    expect(STRTAB_STE_1_NESTING_ALLOWED).toBe(0x380000ffn);
  });
  it('Linux GENMASK positions', () => {
    const cases: [string, number, bigint][] = [
      ['V', 0, 1n],
      ['Config', 0, g(3, 1)],
      ['S1Fmt', 0, g(5, 4)],
      ['S1ContextPtr', 0, g(51, 6)],
      ['S1CDMax', 0, g(63, 59)],
      ['S1DSS', 1, g(1, 0)],
      ['S1CIR', 1, g(3, 2)],
      ['S1COR', 1, g(5, 4)],
      ['S1CSH', 1, g(7, 6)],
      ['MEV', 1, bitN(19)],
      ['S2FWB', 1, bitN(25)],
      ['S1STALLD', 1, bitN(27)],
      ['EATS', 1, g(29, 28)],
      ['STRW', 1, g(31, 30)],
      ['SHCFG', 1, g(45, 44)],
      ['S2VMID', 2, g(15, 0)],
      ['S2AA64', 2, bitN(51)],
      ['S2ENDI', 2, bitN(52)],
      ['S2PTW', 2, bitN(54)],
      ['S2S', 2, bitN(57)],
      ['S2R', 2, bitN(58)],
      ['S2TTB', 3, g(51, 4)],
    ];
    for (const [name, word, mask] of cases) {
      expect([name, wordOf(STE, name), m(STE, name)]).toEqual([name, word, mask]);
    }
  });
  it('VTCR sub-fields sit at STRTAB_STE_2_VTCR (bits 50:32) + their VTCR offsets', () => {
    const vtcr: [string, number, number][] = [
      ['S2T0SZ', 5, 0],
      ['S2SL0', 7, 6],
      ['S2IR0', 9, 8],
      ['S2OR0', 11, 10],
      ['S2SH0', 13, 12],
      ['S2TG', 15, 14],
      ['S2PS', 18, 16],
    ];
    let union = 0n;
    for (const [name, hi, lo] of vtcr) {
      expect([name, m(STE, name)]).toEqual([name, g(hi + 32, lo + 32)]);
      union |= m(STE, name);
    }
    expect(union).toBe(g(50, 32)); // STRTAB_STE_2_VTCR
  });
  it('QEMU STE_* extractors (32-bit word index w, shift s → word w/2, bit s + 32·(w%2))', () => {
    // STE_S2AFFD(x) word[5] bit 21, STE_S2HD word[5] 23, STE_S2HA word[5] 24, STE_S1CDMAX
    // word[1] 27..31, STE_S1STALLD word[2] 27.
    expect(m(STE, 'S2AFFD')).toBe(bitN(32 + 21));
    expect(m(STE, 'S2HD')).toBe(bitN(32 + 23));
    expect(m(STE, 'S2HA')).toBe(bitN(32 + 24));
    expect(m(STE, 'S1CDMax')).toBe(g(32 + 31, 32 + 27));
  });
  it('IHI 0070 H.a STE bit numbers [n] over the 512-bit entry', () => {
    const spec: [string, number, number][] = [
      ['S2HWU59', 72, 72],
      ['DRE', 76, 76],
      ['CONT', 80, 77],
      ['DCP', 81, 81],
      ['PPAR', 82, 82],
      ['MEV', 83, 83],
      ['SW_RESERVED', 87, 84],
      ['S1PIE', 88, 88],
      ['S2FWB', 89, 89],
      ['S1MPAM', 90, 90],
      ['MemAttr', 99, 96],
      ['MTCFG', 100, 100],
      ['ALLOCCFG', 104, 101],
      ['NSCFG', 111, 110],
      ['PRIVCFG', 113, 112],
      ['INSTCFG', 115, 114],
      ['S2HAFT', 187, 187],
      ['S2PIE', 188, 188],
      ['S2POE', 189, 189],
      ['DPT_VMATCH', 191, 190],
      ['S2SL0_2', 194, 194],
      ['S2DS', 195, 195],
      ['S2SKL', 254, 253],
      ['PARTID', 287, 272],
      ['PMG', 327, 320],
      ['AssuredOnly', 329, 329],
      ['TL0', 330, 330],
      ['TL1', 331, 331],
    ];
    for (const [name, hi, lo] of spec) {
      const f = findField(STE, name);
      expect([name, f.word * 64 + f.hi, f.word * 64 + f.lo]).toEqual([name, hi, lo]);
    }
  });
  it('L1STD (Linux STRTAB_L1_DESC_*)', () => {
    expect(m(L1STD, 'Span')).toBe(g(4, 0));
    expect(m(L1STD, 'L2Ptr')).toBe(g(51, 6));
  });
});

describe('CD (Linux CTXDESC_CD_*, IHI 0070 H.a §5.4)', () => {
  it('Linux GENMASK positions', () => {
    const cases: [string, number, bigint][] = [
      ['T0SZ', 0, g(5, 0)],
      ['TG0', 0, g(7, 6)],
      ['IR0', 0, g(9, 8)],
      ['OR0', 0, g(11, 10)],
      ['SH0', 0, g(13, 12)],
      ['EPD0', 0, bitN(14)],
      ['EPD1', 0, bitN(30)],
      ['ENDI', 0, bitN(15)],
      ['V', 0, bitN(31)],
      ['IPS', 0, g(34, 32)],
      ['TBI0', 0, bitN(38)],
      ['HA', 0, bitN(43)],
      ['HD', 0, bitN(42)],
      ['AA64', 0, bitN(41)],
      ['S', 0, bitN(44)],
      ['R', 0, bitN(45)],
      ['A', 0, bitN(46)],
      ['ASET', 0, bitN(47)],
      ['ASID', 0, g(63, 48)],
      ['TTB0', 1, g(51, 4)],
      ['MAIR0', 3, g(31, 0)],
      ['MAIR1', 3, g(63, 32)],
    ];
    for (const [name, word, mask] of cases) {
      expect([name, wordOf(CD, name), m(CD, name)]).toEqual([name, word, mask]);
    }
  });
  it('QEMU CD_* extractors (CD_TSZ/TG/EPD for TTB1 at +16, CD_AFFD word[1] bit 3, HAD word[2k+2] bit 1)', () => {
    expect(m(CD, 'T1SZ')).toBe(g(16 + 5, 16));
    expect(m(CD, 'TG1')).toBe(g(16 + 7, 16 + 6));
    expect(m(CD, 'AFFD')).toBe(bitN(32 + 3));
    expect([wordOf(CD, 'HAD0'), m(CD, 'HAD0')]).toEqual([1, bitN(1)]);
    expect([wordOf(CD, 'HAD1'), m(CD, 'HAD1')]).toEqual([2, bitN(1)]);
  });
  it('IHI 0070 H.a CD bit numbers', () => {
    const spec: [string, number, number][] = [
      ['WXN', 36, 36],
      ['UWXN', 37, 37],
      ['TBI1', 39, 39],
      ['PAN', 40, 40],
      ['NSCFG0', 64, 64],
      ['E0PD0', 66, 66],
      ['HAFT', 67, 67],
      ['PnCH', 122, 122],
      ['EPAN', 123, 123],
      ['HWU059', 124, 124],
      ['HWU060', 125, 125],
      ['NSCFG1', 128, 128],
      ['E0PD1', 130, 130],
      ['AIE', 131, 131],
      ['DS', 186, 186],
      ['PIE', 187, 187],
      ['HWU159', 188, 188],
      ['MAIR0', 223, 192],
      ['AMAIR1', 319, 288],
      ['PARTID', 367, 352],
      ['PMG', 375, 368],
    ];
    for (const [name, hi, lo] of spec) {
      const f = findField(CD, name);
      expect([name, f.word * 64 + f.hi, f.word * 64 + f.lo]).toEqual([name, hi, lo]);
    }
  });
  it('L1CD (Linux CTXDESC_L1_DESC_*)', () => {
    expect(m(L1CD, 'V')).toBe(1n);
    expect(m(L1CD, 'L2Ptr')).toBe(g(51, 12));
  });
});

describe('commands (Linux CMDQ_*)', () => {
  it('opcodes', () => {
    // Linux CMDQ_OP_* values, plus IHI 0070 §4.1.1 for the ones Linux does not define.
    expect(CMD_OP.PREFETCH_CONFIG).toBe(0x1);
    expect(CMD_OP.CFGI_STE).toBe(0x3);
    expect(CMD_OP.CFGI_STE_RANGE).toBe(0x4); // Linux CMDQ_OP_CFGI_ALL
    expect(CMD_OP.CFGI_CD).toBe(0x5);
    expect(CMD_OP.CFGI_CD_ALL).toBe(0x6);
    expect(CMD_OP.TLBI_NH_ALL).toBe(0x10);
    expect(CMD_OP.TLBI_NH_ASID).toBe(0x11);
    expect(CMD_OP.TLBI_NH_VA).toBe(0x12);
    expect(CMD_OP.TLBI_NH_VAA).toBe(0x13);
    expect(CMD_OP.TLBI_EL2_ALL).toBe(0x20);
    expect(CMD_OP.TLBI_EL2_ASID).toBe(0x21);
    expect(CMD_OP.TLBI_EL2_VA).toBe(0x22);
    expect(CMD_OP.TLBI_S12_VMALL).toBe(0x28);
    expect(CMD_OP.TLBI_S2_IPA).toBe(0x2a);
    expect(CMD_OP.TLBI_NSNH_ALL).toBe(0x30);
    expect(CMD_OP.ATC_INV).toBe(0x40);
    expect(CMD_OP.PRI_RESP).toBe(0x41);
    expect(CMD_OP.RESUME).toBe(0x44);
    expect(CMD_OP.CMD_SYNC).toBe(0x46);
    // QEMU SMMUCommandType: EL3_ALL 0x18, EL3_VA 0x1a, EL2_VAA 0x23, STALL_TERM 0x45.
    expect(CMD_OP.TLBI_EL3_ALL).toBe(0x18);
    expect(CMD_OP.TLBI_EL3_VA).toBe(0x1a);
    expect(CMD_OP.TLBI_EL2_VAA).toBe(0x23);
    expect(CMD_OP.STALL_TERM).toBe(0x45);
    for (const [name, op] of Object.entries(CMD_OP)) {
      expect(commandStruct(BigInt(op)).name).toBe(`cmd.${name}`);
    }
  });
  it('field positions', () => {
    const C = COMMANDS;
    expect(m(C.CMD_SYNC, 'Opcode')).toBe(g(7, 0)); // CMDQ_0_OP
    expect(m(C.ATC_INV, 'SSV')).toBe(bitN(11)); // CMDQ_0_SSV
    expect(m(C.PREFETCH_CONFIG, 'StreamID')).toBe(g(63, 32)); // CMDQ_PREFETCH_0_SID
    expect(m(C.PREFETCH_ADDR, 'Size')).toBe(g(4, 0)); // CMDQ_PREFETCH_1_SIZE
    expect(m(C.PREFETCH_ADDR, 'Addr')).toBe(g(63, 12)); // CMDQ_PREFETCH_1_ADDR_MASK
    expect(m(C.CFGI_CD, 'SubstreamID')).toBe(g(31, 12)); // CMDQ_CFGI_0_SSID
    expect(m(C.CFGI_CD, 'StreamID')).toBe(g(63, 32)); // CMDQ_CFGI_0_SID
    expect(m(C.CFGI_STE, 'Leaf')).toBe(1n); // CMDQ_CFGI_1_LEAF
    expect(m(C.CFGI_STE_RANGE, 'Range')).toBe(g(4, 0)); // CMDQ_CFGI_1_RANGE
    expect(m(C.TLBI_NH_VA, 'NUM')).toBe(g(16, 12)); // CMDQ_TLBI_0_NUM
    // CMDQ_TLBI_0_SCALE is GENMASK(24, 20); IHI 0070 H.a §4.4.1.1 widens it to [25:20] when
    // SMMU_IDR5.DS == 1, so the table holds 25:20 and contains the Linux mask.
    expect(m(C.TLBI_NH_VA, 'SCALE')).toBe(g(25, 20));
    expect(m(C.TLBI_NH_VA, 'SCALE') & g(24, 20)).toBe(g(24, 20));
    expect(m(C.TLBI_NH_VA, 'VMID')).toBe(g(47, 32)); // CMDQ_TLBI_0_VMID
    expect(m(C.TLBI_NH_VA, 'ASID')).toBe(g(63, 48)); // CMDQ_TLBI_0_ASID
    expect(m(C.TLBI_NH_VA, 'Leaf')).toBe(1n); // CMDQ_TLBI_1_LEAF
    expect(m(C.TLBI_NH_VA, 'TTL')).toBe(g(9, 8)); // CMDQ_TLBI_1_TTL
    expect(m(C.TLBI_NH_VA, 'TG')).toBe(g(11, 10)); // CMDQ_TLBI_1_TG
    expect(m(C.TLBI_NH_VA, 'Addr')).toBe(g(63, 12)); // CMDQ_TLBI_1_VA_MASK
    expect(m(C.TLBI_NH_VA, 'TTL128')).toBe(bitN(7)); // IHI 0070 H.a §4.4.1.1 TTL128 [71]
    expect(m(C.TLBI_S2_IPA, 'IPA')).toBe(g(51, 12)); // CMDQ_TLBI_1_IPA_MASK
    expect(m(C.ATC_INV, 'Global')).toBe(bitN(9)); // CMDQ_ATC_0_GLOBAL
    expect(m(C.ATC_INV, 'Size')).toBe(g(5, 0)); // CMDQ_ATC_1_SIZE
    expect(m(C.PRI_RESP, 'PRGIndex')).toBe(g(8, 0)); // CMDQ_PRI_1_GRPID
    expect(m(C.PRI_RESP, 'Resp')).toBe(g(13, 12)); // CMDQ_PRI_1_RESP
    // CMDQ_RESUME_0_RESP GENMASK(13, 12) = {Ab, Ac}; QEMU CMD_RESUME_AC bit 12, AB bit 13.
    expect(maskOf(C.RESUME, ['Ac', 'Ab'])).toBe(g(13, 12));
    expect(m(C.RESUME, 'Ac')).toBe(bitN(12));
    expect(m(C.RESUME, 'STAG')).toBe(g(15, 0)); // CMDQ_RESUME_1_STAG
    expect(m(C.CMD_SYNC, 'CS')).toBe(g(13, 12)); // CMDQ_SYNC_0_CS
    expect(m(C.CMD_SYNC, 'MSH')).toBe(g(23, 22));
    expect(m(C.CMD_SYNC, 'MSIAttr')).toBe(g(27, 24));
    expect(m(C.CMD_SYNC, 'MSIData')).toBe(g(63, 32));
    expect(m(C.CMD_SYNC, 'MSIAddr')).toBe(g(51, 2)); // CMDQ_SYNC_1_MSIADDR_MASK
    expect(m(C.RESUME, 'SSec')).toBe(bitN(10)); // QEMU CMD_SSEC bit 10
  });
  it('CFGI_STE_RANGE with Range 31 is CFGI_ALL', () => {
    const w0 = 0x4n;
    expect(commandName(w0, 31n)).toBe('CFGI_ALL');
    expect(commandStruct(w0, 31n).name).toBe('cmd.CFGI_ALL');
    expect(commandName(w0, 3n)).toBe('CFGI_STE_RANGE');
    expect(commandStruct(w0, 3n).name).toBe('cmd.CFGI_STE_RANGE');
  });
  it('Secure-only and reserved opcodes', () => {
    expect(commandName(0x50n, 0n)).toBe('TLBI_S_EL2_ALL');
    expect(commandStruct(0x5an).title).toMatch(/Secure queue only/);
    expect(commandName(0x5bn, 0n)).toBe('UNKNOWN_0x5b');
    const unk = commandStruct(0x14n);
    expect(unk.fields.map((f) => f.name)).toEqual(['Opcode']);
  });
});

describe('events (Linux EVTQ_*, EVT_ID_*)', () => {
  it('IDs', () => {
    expect(EVT_ID.C_BAD_STREAMID).toBe(0x02);
    expect(EVT_ID.F_STE_FETCH).toBe(0x03);
    expect(EVT_ID.C_BAD_STE).toBe(0x04);
    expect(EVT_ID.F_STREAM_DISABLED).toBe(0x06);
    expect(EVT_ID.C_BAD_SUBSTREAMID).toBe(0x08);
    expect(EVT_ID.F_CD_FETCH).toBe(0x09);
    expect(EVT_ID.C_BAD_CD).toBe(0x0a);
    expect(EVT_ID.F_TRANSLATION).toBe(0x10);
    expect(EVT_ID.F_ADDR_SIZE).toBe(0x11);
    expect(EVT_ID.F_ACCESS).toBe(0x12);
    expect(EVT_ID.F_PERMISSION).toBe(0x13);
    expect(EVT_ID.F_VMS_FETCH).toBe(0x25);
    // QEMU SMMUEventType for the rest.
    expect(EVT_ID.F_UUT).toBe(0x01);
    expect(EVT_ID.F_BAD_ATS_TREQ).toBe(0x05);
    expect(EVT_ID.F_TRANSL_FORBIDDEN).toBe(0x07);
    expect(EVT_ID.F_WALK_EABT).toBe(0x0b);
    expect(EVT_ID.F_TLB_CONFLICT).toBe(0x20);
    expect(EVT_ID.F_CFG_CONFLICT).toBe(0x21);
    expect(EVT_ID.E_PAGE_REQUEST).toBe(0x24);
    for (const [name, id] of Object.entries(EVT_ID)) {
      expect(eventStruct(BigInt(id)).name).toBe(`evt.${name}`);
    }
    expect(eventStruct(0xe7n).name).toBe('evt.IMPDEF_0xe7');
    expect(eventStruct(0x30n).fields.map((f) => f.name)).toEqual(['EventID']);
  });
  it('translation-fault layout', () => {
    const d = EVENTS.F_PERMISSION;
    expect(m(d, 'EventID')).toBe(g(7, 0)); // EVTQ_0_ID
    expect(m(d, 'SSV')).toBe(bitN(11)); // EVTQ_0_SSV
    expect(m(d, 'SubstreamID')).toBe(g(31, 12)); // EVTQ_0_SSID
    expect(m(d, 'StreamID')).toBe(g(63, 32)); // EVTQ_0_SID
    expect(m(d, 'STAG')).toBe(g(15, 0)); // EVTQ_1_STAG
    expect(m(d, 'Stall')).toBe(bitN(31)); // EVTQ_1_STALL
    expect(m(d, 'PnU')).toBe(bitN(33)); // EVTQ_1_PnU
    expect(m(d, 'InD')).toBe(bitN(34)); // EVTQ_1_InD
    expect(m(d, 'RnW')).toBe(bitN(35)); // EVTQ_1_RnW
    expect(m(d, 'S2')).toBe(bitN(39)); // EVTQ_1_S2
    expect(m(d, 'CLASS')).toBe(g(41, 40)); // EVTQ_1_CLASS
    expect(m(d, 'TTRnW')).toBe(bitN(44)); // EVTQ_1_TT_READ
    expect(m(d, 'InputAddr')).toBe(g(63, 0)); // EVTQ_2_ADDR
    expect(m(d, 'IPA')).toBe(g(51, 12)); // EVTQ_3_IPA
    expect(m(EVENTS.F_STE_FETCH, 'FetchAddr')).toBe(g(51, 3)); // EVTQ_3_FETCH_ADDR
    expect(wordOf(d, 'IPA')).toBe(3);
  });
  it('IHI 0070 H.a record bit numbers given in the text', () => {
    const at = (def: StructDef, name: string) => {
      const f = findField(def, name);
      return [f.word * 64 + f.hi, f.word * 64 + f.lo];
    };
    // §7.3.2 F_UUT: Reason [79:64], PnU 97, InD 98, RnW 99.
    expect(at(EVENTS.F_UUT, 'Reason')).toEqual([79, 64]);
    expect(at(EVENTS.F_UUT, 'PnU')).toEqual([97, 97]);
    expect(at(EVENTS.F_UUT, 'RnW')).toEqual([99, 99]);
    // §7.3.4 F_STE_FETCH: GPCF [80], FetchAddr from bit 195.
    expect(at(EVENTS.F_STE_FETCH, 'GPCF')).toEqual([80, 80]);
    expect(at(EVENTS.F_STE_FETCH, 'FetchAddr')[1]).toBe(195);
    // §7.3.7 F_STREAM_DISABLED: only StreamID [63:32].
    expect(EVENTS.F_STREAM_DISABLED.fields.map((f) => f.name)).toEqual(['EventID', 'StreamID']);
    // §7.3.8 F_TRANSL_FORBIDDEN: RnW [99], no SSV/SubstreamID.
    expect(at(EVENTS.F_TRANSL_FORBIDDEN, 'RnW')).toEqual([99, 99]);
    expect(EVENTS.F_TRANSL_FORBIDDEN.fields.some((f) => f.name === 'SSV')).toBe(false);
    // §7.3.9 C_BAD_SUBSTREAMID: SubstreamID [31:12] always valid, no SSV.
    expect(EVENTS.C_BAD_SUBSTREAMID.fields.some((f) => f.name === 'SSV')).toBe(false);
    // §7.3.18 F_CFG_CONFLICT: Reason [95:64].
    expect(at(EVENTS.F_CFG_CONFLICT, 'Reason')).toEqual([95, 64]);
    // §7.3.19 E_PAGE_REQUEST: Span [115:108], pR 103 … uX 98, InputAddr[63:12] at [191:140].
    expect(at(EVENTS.E_PAGE_REQUEST, 'Span')).toEqual([115, 108]);
    expect(at(EVENTS.E_PAGE_REQUEST, 'pR')).toEqual([103, 103]);
    expect(at(EVENTS.E_PAGE_REQUEST, 'uX')).toEqual([98, 98]);
    expect(at(EVENTS.E_PAGE_REQUEST, 'InputAddr')).toEqual([191, 140]);
    // §7.3.20 F_VMS_FETCH: like F_STE_FETCH.
    expect(at(EVENTS.F_VMS_FETCH, 'GPCF')).toEqual([80, 80]);
  });
  it('PRI queue record (Linux PRIQ_*)', () => {
    const d = PRIQ_RECORD;
    expect(m(d, 'StreamID')).toBe(g(31, 0));
    expect(m(d, 'SubstreamID')).toBe(g(51, 32));
    expect(m(d, 'Priv')).toBe(bitN(58));
    expect(m(d, 'X')).toBe(bitN(59));
    expect(m(d, 'R')).toBe(bitN(60));
    expect(m(d, 'W')).toBe(bitN(61));
    expect(m(d, 'Last')).toBe(bitN(62));
    expect(m(d, 'SSV')).toBe(bitN(63));
    expect([wordOf(d, 'PRGIndex'), m(d, 'PRGIndex')]).toEqual([1, g(8, 0)]);
    expect([wordOf(d, 'PageAddr'), m(d, 'PageAddr')]).toEqual([1, g(63, 12)]);
  });
});
