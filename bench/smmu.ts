// SMMU model benchmarks (issue 4.8): translate with a TLB hit, translate with a cold stage-1 walk,
// nested (Config 0b111) translate with a cold walk, the TLB/config-cache bookkeeping bytes per
// cached entry, and the same DMA sequence through the model and through QEMU 10.0.2 over qtest
// (qemu-oracle.md §2, §4). The SMMU is programmed with the oracle rig's qtest lines (STE, CD,
// page tables in the `virt` RAM), so the model and QEMU run exactly the same set-up. The C side
// of the translate ratios (bench/c/walk.c modes 4–6) does the same work on the same data: config
// cache lookups, the TLB hash lookup per block size with the CLOCK reference bit, the permission
// check and, on a miss, the walk over the same table pages and the insertion with eviction.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { bench, do_not_optimize, run } from 'mitata';
import { createQtestServer } from '../src/devices/qtest.ts';
import { BoundedCache } from '../src/smmu/config-cache.ts';
import type { Smmu } from '../src/smmu/smmu.ts';
import { TLB_KIND, Tlb } from '../src/smmu/tlb.ts';
import { createTranslation, type Translation } from '../src/smmu/translate.ts';
import { FAST_ACCESS, type TranslateRequest } from '../src/smmu/types.ts';
import { probeQemu, QemuQtest } from '../test/oracle/qemu-client.ts';
import {
  applyScenario,
  Driver,
  EDU_SID,
  LAYOUT,
  ModelSide,
  QemuSide,
  Scenario,
} from '../test/oracle/rig.ts';
import { type Figure, fmtNs, fmtRate, median, medianNs } from './summary.ts';

const PAGE = 4096;
/** The 256 pages every translate bench cycles over: 4 L1, 16 L2, 64 L3 tables (as bench/run.ts). */
export const IOVAS: number[] = Array.from(
  { length: 256 },
  (_, i) =>
    (i & 3) * 2 ** 39 + ((i >> 2) & 3) * 2 ** 30 + ((i >> 4) & 3) * 2 ** 21 + (i >> 6) * PAGE,
);
/** Output page of IOVA i (in the rig's data pool). */
const dataPa = (i: number): bigint => LAYOUT.data + BigInt(i * PAGE);
/** IPA of IOVA i in the nested set-up. */
const nestedIpa = (i: number): bigint => 0x3_0000_0000n + BigInt(i * PAGE);

/** A model with the rig's S1 or nested set-up, driven over in-process qtest lines. */
export interface ModelRig {
  readonly smmu: Smmu;
  readonly side: ModelSide;
  readonly sc: Scenario;
}

/** Builds the S1 (4K, 48-bit) or nested (S1 4K 48-bit over S2 4K 40-bit) scenario. */
export function scenario(mode: 's1' | 'nested'): Scenario {
  const sc = new Scenario(mode);
  if (mode === 'nested') {
    const s2 = sc.useS2(4096, 40);
    const s1 = sc.useS1(4096, 48);
    sc.mapNestedWindow();
    IOVAS.forEach((va, i) => {
      s1.map(BigInt(va), nestedIpa(i), 0x1000n, true, true);
      s2.map(nestedIpa(i), dataPa(i), 0x1000n, true, true);
    });
  } else {
    const s1 = sc.useS1(4096, 48);
    IOVAS.forEach((va, i) => {
      s1.map(BigInt(va), dataPa(i), 0x1000n, true, true);
    });
  }
  return sc;
}

export async function modelRig(mode: 's1' | 'nested', tlbCapacity: number): Promise<ModelRig> {
  const { server, smmu } = createQtestServer({
    translation: (core) => createTranslation(core, { tlbCapacity }),
  });
  const side = new ModelSide(server);
  const sc = scenario(mode);
  await applyScenario(new Driver(side), sc, sc.build());
  return { smmu, side, sc };
}

const REQS: TranslateRequest[] = IOVAS.map((va) => ({
  sid: EDU_SID,
  ssid: undefined,
  iova: BigInt(va),
  access: 'read',
}));

/** One pass over the 256 IOVAs; returns the sum of the output addresses (checksum). */
function pass(smmu: Smmu): number {
  let sum = 0;
  for (let i = 0; i < REQS.length; i++) {
    const r = smmu.translate(REQS[i] as TranslateRequest);
    if (r.ok) sum += Number(r.pa);
  }
  return sum;
}

/** The same pass through the number-path entry (`translateFast`, no object per call). */
function passFast(smmu: Smmu): number {
  let sum = 0;
  for (let i = 0; i < IOVAS.length; i++) {
    const pa = smmu.translateFast(EDU_SID, -1, IOVAS[i] as number, FAST_ACCESS.READ);
    if (pa >= 0) sum += pa;
  }
  return sum;
}

/**
 * The same pass through the translation side's number path (what the C baseline mirrors: the
 * SMMU's own entry adds only its SMMUEN check and the dispatch to the side). A function of its
 * own, not passFast with another receiver: one receiver class per call site keeps V8's inlining
 * of either entry as it is for a real caller.
 */
function passSide(side: Translation): number {
  let sum = 0;
  for (let i = 0; i < IOVAS.length; i++) {
    const pa = side.translateFast(EDU_SID, -1, IOVAS[i] as number, FAST_ACCESS.READ);
    if (pa >= 0) sum += pa;
  }
  return sum;
}

/** The rigs of the translate rows: a warm 4096-entry TLB, or 16 entries cycled over 256 pages. */
type RigKind = 'hit' | 'cold' | 'nested';
/** Which entry a row measures. */
type Entry = 'side' | 'smmu' | 'bigint';

/** One translate row: name, rig, entry, C mode (bench/c/walk.c), target ratio. */
interface RowSpec {
  readonly name: string;
  readonly kind: RigKind;
  readonly entry: Entry;
  readonly mode: 4 | 5 | 6;
  readonly target?: number;
}

const ROW_SPECS: readonly RowSpec[] = [
  {
    name: '4.8 translateFast, TLB hit (S1 4K; translation side)',
    kind: 'hit',
    entry: 'side',
    mode: 4,
    target: 2,
  },
  {
    name: '4.8 translateFast, TLB hit (S1 4K; through Smmu)',
    kind: 'hit',
    entry: 'smmu',
    mode: 4,
  },
  { name: '4.8 translate (bigint API), TLB hit (S1 4K)', kind: 'hit', entry: 'bigint', mode: 4 },
  {
    name: '4.8 translateFast, cold S1 walk (4K, 4 levels)',
    kind: 'cold',
    entry: 'smmu',
    mode: 5,
  },
  {
    name: '4.8 translate (bigint API), cold S1 walk (4K, 4 levels)',
    kind: 'cold',
    entry: 'bigint',
    mode: 5,
  },
  {
    name: '4.8 translateFast, nested cold walk (4K/4K)',
    kind: 'nested',
    entry: 'smmu',
    mode: 6,
  },
];

/** A translate row with its rig (for the C data and the checksum). */
export interface TranslateRow extends RowSpec {
  readonly rig: ModelRig;
  readonly pass: () => number;
}

function buildRig(kind: RigKind): Promise<ModelRig> {
  return kind === 'nested' ? modelRig('nested', 16) : modelRig('s1', kind === 'hit' ? 4096 : 16);
}

function passOf(spec: RowSpec, rig: ModelRig): () => number {
  if (spec.entry === 'side') {
    const side = rig.smmu.translationSide as Translation;
    return () => passSide(side);
  }
  return spec.entry === 'smmu' ? () => passFast(rig.smmu) : () => pass(rig.smmu);
}

/** The expected checksum of a pass (every IOVA translates to its data page). */
const EXPECT = IOVAS.reduce((s, _, i) => s + Number(dataPa(i)), 0);

/**
 * The translate rows with their rigs, built in this process for the C side's data and the
 * checksums; the TS figures come from `measureTranslateRow`, one fresh process per row (as each
 * C mode runs in its own process): V8 optimizes a function for the profile it has seen, so a row
 * measured after rows that miss in the TLB would run code tuned for misses.
 */
export async function translateRows(): Promise<TranslateRow[]> {
  const rigs = new Map<RigKind, ModelRig>();
  const rows: TranslateRow[] = [];
  for (const spec of ROW_SPECS) {
    let rig = rigs.get(spec.kind);
    if (!rig) {
      rig = await buildRig(spec.kind);
      rigs.set(spec.kind, rig);
    }
    const p = passOf(spec, rig);
    const sum = p();
    if (sum !== EXPECT) throw new Error(`${spec.name}: translations wrong (${sum} vs ${EXPECT})`);
    rows.push({ ...spec, rig, pass: p });
  }
  return rows;
}

/** Measures one translate row in this process (bench/translate-row.ts): ns per transaction. */
export async function measureTranslateRow(name: string): Promise<number> {
  const spec = ROW_SPECS.find((r) => r.name === name);
  if (!spec) throw new Error(`no translate row '${name}'`);
  const p = passOf(spec, await buildRig(spec.kind));
  const sum = p();
  if (sum !== EXPECT) throw new Error(`${spec.name}: translations wrong (${sum} vs ${EXPECT})`);
  bench(name, () => do_not_optimize(p()));
  const results = await run({ format: 'quiet' });
  return medianNs(results, name) / IOVAS.length;
}

/** The summary rows of the translate figures (TS ns per row, C ns per mode). */
export function translateFigures(
  rows: readonly TranslateRow[],
  tsNs: ReadonlyMap<string, number>,
  cNs: ReadonlyMap<number, number>,
): Figure[] {
  return rows.map((r) => {
    const ts = tsNs.get(r.name) as number;
    const c = cNs.get(r.mode) as number;
    const ratio = ts / c;
    return {
      name: r.name,
      value: fmtNs(ts),
      baseline: `C ${fmtNs(c)}`,
      ratio: `${ratio.toFixed(2)}×`,
      target: r.target ? `≤ ${r.target}× C` : '',
      met: r.target ? ratio <= r.target : undefined,
    };
  });
}

// ---- Memory: bookkeeping bytes per cached entry ------------------------------------------------

let gcFn: (() => void) | undefined;
/** Forces a full GC (v8 flag set at run time; no command-line flag needed). */
export function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

function heapNow(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * TLB: a Tlb of N entries filled with N distinct 4 KB pages of one context, heap + ArrayBuffer
 * bytes after minus before constructing it, per entry (the slot rows, the hash index, the
 * replacement links). Config cache: a BoundedCache of N entries holding one
 * shared value, so only the cache's own bookkeeping is counted (the parsed STE/CD is payload).
 */
export function bytesPerEntry(): { tlb: number; config: number } {
  const N = 1 << 16;
  const keep: unknown[] = [];
  let before = heapNow();
  const tlb = new Tlb(N, 'clock');
  const ctx = tlb.context(TLB_KIND.S1, 0, 0, 1, false, 0);
  for (let i = 0; i < N; i++) tlb.insert(ctx, i * PAGE, 12, i * PAGE, -1, 0x3f, 0xff, 0, 3, 12);
  keep.push(tlb);
  const tlbBytes = (heapNow() - before) / N;
  before = heapNow();
  const cache = new BoundedCache<object>(N, 'lru');
  const v = {};
  for (let i = 0; i < N; i++) cache.set(i, v);
  keep.push(cache);
  const cfgBytes = (heapNow() - before) / N;
  if (tlb.size !== N || cache.size !== N) throw new Error('memory bench: caches not full');
  return { tlb: tlbBytes, config: cfgBytes };
}

// ---- The same DMA sequence through the model and QEMU ------------------------------------------

/** DMA probes: 64-byte reads over the 256 mapped pages (one translated transaction each). */
const seq = (n: number): { iova: bigint; len: number }[] =>
  Array.from({ length: n }, (_, k) => ({
    iova: BigInt((IOVAS[k % IOVAS.length] as number) + ((k * 64) % PAGE)),
    len: 64,
  }));

/** The edu device's BAR0 registers (qemu-oracle.md §2): src, dst, count, cmd (1 = RAM → buffer). */
const EDU = { SRC: 0x1000_0080n, DST: 0x1000_0088n, CNT: 0x1000_0090n, CMD: 0x1000_0098n } as const;
const EDU_BUF = 0x40000n;

/**
 * One DMA read on QEMU: program edu and poll its status (as the oracle rig does, but waiting by
 * time, not by a poll count, since the edu timer may need many polls on a loaded machine).
 */
async function qemuDma(q: QemuQtest, iova: bigint, len: number): Promise<void> {
  const hx = (v: bigint): string => `0x${v.toString(16)}`;
  await Promise.all([
    q.ok(`writeq ${hx(EDU.SRC)} ${hx(iova)}`),
    q.ok(`writeq ${hx(EDU.DST)} ${hx(EDU_BUF)}`),
    q.ok(`writeq ${hx(EDU.CNT)} ${hx(BigInt(len))}`),
    q.ok(`writeq ${hx(EDU.CMD)} 0x1`),
  ]);
  const t0 = performance.now();
  while (((await q.readq(EDU.CMD)) & 1n) !== 0n) {
    if (performance.now() - t0 > 10_000) throw new Error('edu DMA did not complete in 10 s');
  }
}

/** Runs the sequence of `n` DMAs on QEMU (edu); returns DMA ops per second. */
async function runSeq(qs: QemuSide, n: number): Promise<number> {
  const t0 = performance.now();
  for (const p of seq(n)) {
    await qemuDma(qs.q, p.iova, p.len);
    // As on the model side: the Event queue is checked after every DMA.
    if ((await qs.events.drain(qs)).length) throw new Error(`qemu: DMA at ${p.iova} faulted`);
  }
  return n / ((performance.now() - t0) / 1000);
}

/**
 * The model over qtest lines, synchronously (it is in-process, so no promise per line): per DMA
 * one `smmu_dma` line and one `readl` of EVENTQ_PROD to check that no event was recorded — the
 * lines a qtest client sends to the `vsmmu qtest` server.
 */
function runSeqLines(rig: ModelRig, n: number): number {
  const lines = seq(n).map((p) => `smmu_dma ${EDU_SID} - 0x${p.iova.toString(16)} ${p.len} R`);
  const prodLine = `readl 0x${(0x0905_0000 + 0x1_00a8).toString(16)}`;
  const server = rig.side.server;
  const prod0 = server.exec(prodLine);
  const t0 = performance.now();
  for (const line of lines) {
    const r = server.exec(line);
    if (!r.startsWith('OK 0x')) throw new Error(`model: '${line}' → '${r}'`);
    if (server.exec(prodLine) !== prod0) throw new Error(`model: '${line}' recorded an event`);
  }
  return n / ((performance.now() - t0) / 1000);
}

/** DMA ops/s of the model over in-process qtest lines (`smmu_dma`), and of QEMU via edu. */
export async function qemuComparison(): Promise<Figure[]> {
  const model = await modelRig('s1', 4096);
  runSeqLines(model, 2000); // warm-up (JIT, TLB)
  const modelRates: number[] = [];
  for (let i = 0; i < 5; i++) modelRates.push(runSeqLines(model, 20_000));
  // The model driven directly (library call + 64-byte read of the output page).
  const mem = createDirect(model);
  const directRates: number[] = [];
  for (let i = 0; i < 5; i++) directRates.push(mem());
  const m = median(modelRates);
  const d = median(directRates);
  const probe = probeQemu();
  const name = '4.8 same DMA sequence, model vs QEMU-qtest';
  if (!probe.ok) {
    console.log(`[bench] QEMU row skipped: ${probe.reason}`);
    return [
      {
        name,
        value: fmtRate(m, 'DMA'),
        baseline: 'QEMU absent',
        ratio: '',
        target: '≥ 100×',
        met: undefined,
      },
    ];
  }
  const q = await QemuQtest.start();
  try {
    const qs = new QemuSide(q);
    await qs.initEdu();
    const sc = scenario('s1');
    await applyScenario(new Driver(qs), sc, sc.build());
    await runSeq(qs, 200); // warm-up
    const qemuRates: number[] = [];
    for (let i = 0; i < 3; i++) qemuRates.push(await runSeq(qs, 1500));
    const qr = median(qemuRates);
    return [
      {
        name: `${name} (both over qtest lines)`,
        value: fmtRate(m, 'DMA'),
        baseline: `QEMU ${fmtRate(qr, 'DMA')}`,
        ratio: `${(m / qr).toFixed(0)}×`,
        target: '≥ 100×',
        met: m / qr >= 100,
      },
      {
        name: `${name} (model as a library)`,
        value: fmtRate(d, 'DMA'),
        baseline: `QEMU ${fmtRate(qr, 'DMA')}`,
        ratio: `${(d / qr).toFixed(0)}×`,
        target: '≥ 100×',
        met: d / qr >= 100,
      },
    ];
  } finally {
    await q.close();
  }
}

/**
 * The same sequence as library calls: translateFast, then read the 64 bytes at the output
 * address.
 */
function createDirect(rig: ModelRig): () => number {
  const probes = seq(20_000).map((p) => Number(p.iova));
  const mem = rig.smmu.mem;
  return () => {
    const t0 = performance.now();
    let sum = 0;
    for (const iova of probes) {
      const pa = rig.smmu.translateFast(EDU_SID, -1, iova, FAST_ACCESS.READ);
      if (pa < 0) throw new Error('direct DMA faulted');
      sum += mem.readBytes(pa, 64)[0] as number;
    }
    do_not_optimize(sum);
    return probes.length / ((performance.now() - t0) / 1000);
  };
}
