// Benchmarks: the single entry of `npm run bench` (never part of npm test). It runs every suite,
// each in a Node process of its own so that no suite's heap or JIT profile shapes another's code
// (as each C mode runs in its own process): page-table walks and field decode (here, one mitata
// run), each SMMU translate row (bench/smmu.ts via bench/translate-row.ts, issue 4.8), the
// iommufd kernel model (bench/iommufd.ts, issue 5.11) and the guest loop (bench/guest.ts, issue
// 6.7) via bench/suite.ts; then the QEMU comparison, and prints one summary table: figure,
// median, baseline, ratio, target, met? Each ratio's C side does the same work on the same data
// structure (formats.md §10), compiled with `cc -O2` into bench/.build/ and timed in the same run
// (bench/c/walk.c). Exits 1 when the two sides disagree on the results (checksums).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bench, do_not_optimize, run } from 'mitata';
import { field } from '../src/arch/bits.ts';
import { SparseMemory } from '../src/mem/sparse-memory.ts';
import {
  IOMMU_PROT,
  IoPgtable,
  type PageAllocator,
  RegionAllocator,
  type StageParams,
  type TableMemory,
  walkNested,
  walkS1,
} from '../src/pgtable/index.ts';
import {
  bytesPerEntry,
  qemuComparison,
  IOVAS as SMMU_IOVAS,
  type TranslateRow,
  translateFigures,
  translateRows,
} from './smmu.ts';
import { type Figure, fmtNs, printSummary } from './summary.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD = join(HERE, '.build');
const C_SRC = join(HERE, 'c', 'walk.c');
const C_BIN = join(BUILD, 'walk');
const { READ, WRITE } = IOMMU_PROT;
const PAGE = 4096;

/** 256 VAs whose walks spread over 4 L1, 16 L2 and 64 L3 tables (a warm working set). */
const VAS: number[] = [];
for (let i = 0; i < 256; i++) {
  VAS.push(
    (i & 3) * 2 ** 39 +
      ((i >> 2) & 3) * 2 ** 30 +
      ((i >> 4) & 3) * 2 ** 21 +
      (i >> 6) * PAGE +
      0x10,
  );
}

/** Guest RAM view: IPA ↔ PA + base (a linear memory slot), for tables the guest builds. */
class GuestView implements TableMemory {
  readonly mem: SparseMemory;
  readonly base: number;
  constructor(mem: SparseMemory, base: number) {
    this.mem = mem;
    this.base = base;
  }
  read64Into(ipa: number, out: Uint32Array): void {
    this.mem.read64Into(ipa + this.base, out);
  }
  write64Split(ipa: number, lo: number, hi: number): void {
    this.mem.write64Split(ipa + this.base, lo, hi);
  }
}

/** Allocates guest-RAM tables by IPA. */
class GuestAllocator implements PageAllocator {
  readonly inner: RegionAllocator;
  readonly base: number;
  constructor(mem: SparseMemory, base: number, ipa: number, size: number) {
    this.inner = new RegionAllocator(mem, base + ipa, size);
    this.base = base;
  }
  alloc(bytes: number): number | undefined {
    const pa = this.inner.alloc(bytes);
    return pa === undefined ? undefined : pa - this.base;
  }
  free(ipa: number, bytes: number): void {
    this.inner.free(ipa + this.base, bytes);
  }
}

interface Scenario {
  mem: SparseMemory;
  s1: StageParams;
  s2: StageParams | undefined;
  /** [start, bytes] ranges holding every table page, dumped for the C side */
  regions: [number, number][];
}

const HOST_TT = 0x1000_0000;
const GUEST_BASE = 2 ** 36;

function s1Scenario(): Scenario {
  const mem = new SparseMemory();
  const pt = IoPgtable.create(mem, new RegionAllocator(mem, HOST_TT, 2 ** 24), {
    fmt: 'ARM_64_LPAE_S1',
    pgsizeBitmap: PAGE,
    ias: 48,
    oas: 48,
  });
  if (!pt) throw new Error('s1 create');
  VAS.forEach((va, i) => {
    if (pt.map(va - 0x10, 0x80_0000_0000 + i * PAGE, PAGE, READ | WRITE)) throw new Error('map');
  });
  return { mem, s1: pt.stageParams(), s2: undefined, regions: [[HOST_TT, 2 ** 24]] };
}

function nestedScenario(): Scenario {
  const mem = new SparseMemory();
  const s2 = IoPgtable.create(mem, new RegionAllocator(mem, HOST_TT, 2 ** 24), {
    fmt: 'ARM_64_LPAE_S2',
    pgsizeBitmap: PAGE,
    ias: 48,
    oas: 48,
  });
  const s1 = IoPgtable.create(
    new GuestView(mem, GUEST_BASE),
    new GuestAllocator(mem, GUEST_BASE, 0, 2 ** 22),
    {
      fmt: 'ARM_64_LPAE_S1',
      pgsizeBitmap: PAGE,
      ias: 48,
      oas: 48,
    },
  );
  if (!s1 || !s2) throw new Error('nested create');
  // S2: guest RAM holding the S1 tables (4K pages, so every S2 walk has 4 levels)
  if (s2.map(0, GUEST_BASE, 2 ** 22, READ | WRITE)) throw new Error('s2 ram');
  VAS.forEach((va, i) => {
    const ipa = 2 ** 30 + i * PAGE;
    if (s1.map(va - 0x10, ipa, PAGE, READ | WRITE)) throw new Error('s1 map');
    if (s2.map(ipa, 0x80_0000_0000 + i * PAGE, PAGE, READ | WRITE)) throw new Error('s2 map');
  });
  return {
    mem,
    s1: s1.stageParams(),
    s2: s2.stageParams(),
    regions: [
      [HOST_TT, 2 ** 24],
      [GUEST_BASE, 2 ** 22],
    ],
  };
}

/** Writes the C program's input: header, table pages, items (VAs or words). */
function writeData(file: string, mode: number, sc: Scenario | undefined, items: bigint[]): void {
  const pages: [number, Uint8Array][] = [];
  for (const [start, bytes] of sc?.regions ?? []) {
    for (let pa = start; pa < start + bytes; pa += PAGE) {
      if (sc?.mem.isBacked(pa)) pages.push([pa / PAGE, sc.mem.readBytes(pa, PAGE)]);
    }
  }
  const head = Buffer.alloc(16 + 16 + 24);
  head.writeUInt32LE(mode, 0);
  head.writeUInt32LE(pages.length, 4);
  head.writeUInt32LE(items.length, 8);
  head.writeBigUInt64LE(BigInt(sc?.s1.ttb ?? 0), 16);
  head.writeBigUInt64LE(BigInt(sc?.s2?.ttb ?? 0), 24);
  const geo = [sc?.s1, sc?.s2].flatMap((p) => [
    p?.inputBits ?? 0,
    p?.startLevel ?? 0,
    p?.outputBits ?? 0,
  ]);
  for (const [i, v] of geo.entries()) head.writeInt32LE(v, 32 + 4 * i);
  const parts: Uint8Array[] = [head];
  for (const [pfn, data] of pages) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(pfn));
    parts.push(b, data);
  }
  const it = Buffer.alloc(8 * items.length);
  for (const [i, v] of items.entries()) it.writeBigUInt64LE(v, 8 * i);
  parts.push(it);
  writeFileSync(file, Buffer.concat(parts));
}

function ensureCompiler(): void {
  if (spawnSync('cc', ['--version']).status === 0) return;
  console.log('cc not found: installing gcc with apt-get');
  spawnSync('apt-get', ['install', '-y', 'gcc'], { stdio: 'inherit' });
}

function buildC(): void {
  mkdirSync(BUILD, { recursive: true });
  if (existsSync(C_BIN) && statSync(C_BIN).mtimeMs > statSync(C_SRC).mtimeMs) return;
  ensureCompiler();
  const r = spawnSync('cc', ['-O2', '-o', C_BIN, C_SRC], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cc failed');
}

function runC(file: string): { ns: number; sum: bigint } {
  const r = spawnSync(C_BIN, [file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`C baseline failed: ${r.stderr}`);
  const [ns, sum] = r.stdout.trim().split(' ');
  return { ns: Number(ns), sum: BigInt(sum as string) };
}

// --- the three workloads, TypeScript side ---
const s1sc = s1Scenario();
const nsc = nestedScenario();
const req = { address: 0, write: false, exec: false, priv: false };

function s1Pass(): number {
  let sum = 0;
  for (const va of VAS) {
    req.address = va;
    const r = walkS1(s1sc.mem, s1sc.s1, req);
    if (r.ok) sum += r.oa;
  }
  return sum;
}

function nestedPass(): number {
  let sum = 0;
  const s2 = nsc.s2 as StageParams;
  for (const va of VAS) {
    req.address = va;
    const r = walkNested(nsc.mem, nsc.s1, s2, req);
    if (r.ok) sum += r.oa;
  }
  return sum;
}

// 1024 pseudo-random 64-bit words (xorshift), 16 fields each (a CD-word-0-like layout)
const WORDS: bigint[] = [];
const LO = new Uint32Array(1024);
const HI = new Uint32Array(1024);
{
  let x = 0x2545_f491_4f6c_dd1dn;
  for (let i = 0; i < 1024; i++) {
    x ^= (x << 13n) & 0xffff_ffff_ffff_ffffn;
    x ^= x >> 7n;
    x ^= (x << 17n) & 0xffff_ffff_ffff_ffffn;
    WORDS.push(x);
    LO[i] = Number(x & 0xffff_ffffn);
    HI[i] = Number(x >> 32n);
  }
}
const FIELDS = [
  [5, 0],
  [7, 6],
  [9, 8],
  [11, 10],
  [13, 12],
  [14, 14],
  [15, 15],
  [21, 16],
  [29, 22],
  [30, 30],
  [31, 31],
  [34, 32],
  [38, 35],
  [41, 39],
  [47, 42],
  [63, 48],
] as const;

function decodePass(): number {
  let sum = 0;
  for (let i = 0; i < 1024; i++) {
    const lo = LO[i] as number;
    const hi = HI[i] as number;
    for (const [fhi, flo] of FIELDS) sum += field(lo, hi, fhi, flo);
  }
  return sum;
}

interface Row {
  name: string;
  perPass: number;
  pass: () => number;
  mode: number;
  sc: Scenario | undefined;
  items: bigint[];
  rounds: number;
  target?: number;
}

const rows: Row[] = [
  {
    name: 'pgtable S1 walk (4K, 48-bit, 4 levels)',
    perPass: VAS.length,
    pass: s1Pass,
    mode: 1,
    sc: s1sc,
    items: VAS.map(BigInt),
    rounds: 400,
    target: 3,
  },
  {
    name: 'pgtable nested walk (4K S1 over 4K S2)',
    perPass: VAS.length,
    pass: nestedPass,
    mode: 2,
    sc: nsc,
    items: VAS.map(BigInt),
    rounds: 400,
    target: 3,
  },
  {
    name: 'arch 64-bit field decode (16 fields/word)',
    perPass: 1024 * 16,
    pass: decodePass,
    mode: 3,
    sc: undefined,
    items: WORDS,
    rounds: 2000,
  },
];

for (const row of rows) {
  bench(row.name, () => do_not_optimize(row.pass()));
}

// SMMU translate rigs (the C data and checksums; each row is measured in its own process).
const smmuRows = await translateRows();

buildC();
const results = await run({ format: 'mitata' });
let mismatch = false;
const figures: Figure[] = [];
for (const row of rows) {
  const stats = results.benchmarks.find((b) => b.alias === row.name)?.runs[0]?.stats;
  if (!stats) throw new Error(`no result for ${row.name}`);
  const ts = stats.p50 / row.perPass;
  const file = join(BUILD, `data-${row.mode}.bin`);
  writeData(file, row.mode, row.sc, row.items);
  const c = runC(file);
  const cPerOp = row.mode === 3 ? c.ns / 16 : c.ns;
  const want = BigInt(row.pass()) * BigInt(row.rounds);
  if (c.sum !== want) {
    mismatch = true;
    console.log(`  checksum mismatch for ${row.name}: C ${c.sum}, TS ${want}`);
  }
  const ratio = ts / cPerOp;
  figures.push({
    name: row.name,
    value: fmtNs(ts),
    baseline: `C ${fmtNs(cPerOp)}`,
    ratio: `${ratio.toFixed(2)}×`,
    target: row.target ? `≤ ${row.target}× C` : '',
    met: row.target ? ratio <= row.target : undefined,
  });
}

/**
 * A translate row's TS figure, measured in a fresh Node process (bench/translate-row.ts), as each
 * C mode runs in its own process (see translateRows).
 */
function measureInChild(name: string): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(HERE, 'translate-row.ts'), name], {
    encoding: 'utf8',
    cwd: join(HERE, '..'),
  });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    throw new Error(`translate row '${name}' failed: ${r.stderr || r.stdout}`);
  }
  const ns = (JSON.parse(line) as { ns: number }).ns;
  console.log(`[bench] ${name}: ${fmtNs(ns)} (own process)`);
  return ns;
}

/**
 * A suite (bench/suite.ts) in a fresh Node process: its mitata table is shown as it comes, its
 * figures come back as the last line.
 */
function suiteInChild(name: 'iommufd' | 'guest'): Figure[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(HERE, 'suite.ts'), name], {
    encoding: 'utf8',
    cwd: join(HERE, '..'),
    env: process.env,
  });
  const lines = r.stdout.trimEnd().split('\n');
  const last = lines.pop() ?? '';
  if (r.status !== 0 || !last.startsWith('[')) {
    throw new Error(`bench suite '${name}' failed: ${r.stderr || r.stdout}`);
  }
  console.log(lines.join('\n'));
  return JSON.parse(last) as Figure[];
}

/** The C side of a translate row: the rig's memory, table roots and geometry. */
function translateScenario(r: TranslateRow): Scenario {
  const sc = r.rig.sc;
  const s1 = sc.s1;
  const s2 = sc.s2;
  if (!s1) throw new Error('translate rig without stage 1');
  const params = (t: NonNullable<typeof s1>): StageParams =>
    ({
      ttb: Number(t.root),
      inputBits: t.ias,
      startLevel: t.geo.start,
      outputBits: 44,
    }) as StageParams;
  return {
    mem: r.rig.smmu.mem,
    s1: params(s1),
    s2: s2 ? params(s2) : undefined,
    regions: [[0x4200_0000, 0x200_0000]],
  };
}
const cTranslate = new Map<number, number>();
const tsTranslate = new Map<string, number>();
for (const r of smmuRows) {
  tsTranslate.set(r.name, measureInChild(r.name));
  const file = join(BUILD, `data-${r.mode}.bin`);
  writeData(file, r.mode, translateScenario(r), SMMU_IOVAS.map(BigInt));
  const c = runC(file);
  const want = BigInt(r.pass()) * 400n;
  if (c.sum !== want) {
    mismatch = true;
    console.log(`  checksum mismatch for ${r.name}: C ${c.sum}, TS ${want}`);
  }
  cTranslate.set(r.mode, c.ns);
}
figures.push(...translateFigures(smmuRows, tsTranslate, cTranslate));
const mem = bytesPerEntry();
for (const [name, v] of [
  ['4.8 TLB bookkeeping per cached entry', mem.tlb],
  ['4.8 config-cache bookkeeping per cached entry', mem.config],
] as const) {
  figures.push({
    name,
    value: `${v.toFixed(1)} B`,
    baseline: 'heap delta / 65536 entries',
    ratio: '',
    target: '≤ 64 B',
    met: v <= 64,
  });
}
figures.push(...(await qemuComparison()));
figures.push(...suiteInChild('iommufd'));
figures.push(...suiteInChild('guest'));
printSummary(figures);
console.log(
  `\nNode ${process.version}; times are medians per operation; ratios are TS / C (same run).`,
);
if (mismatch) process.exitCode = 1;
