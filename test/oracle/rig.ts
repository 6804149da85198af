// The differential rig (qemu-oracle.md §7): a model-neutral scenario — SMMU registers, stream
// table, STEs, CDs, page tables, commands, DMA probes — applied with the same qtest lines to two
// sides, and the outcomes read back the same way. The sides differ only in how a DMA is made:
// the model answers the `smmu_dma` extension; QEMU has no such command, so its side programs the
// `edu` PCI device (StreamID 0x10) to move the bytes through the SMMU (qemu-oracle.md §2).
//
// A scenario also carries its own reference: the test knows every mapping it wrote, so it derives
// the expected outcome of each probe (data or the first event and its fields) from the mapping
// table and the SMMUv3 rules (IHI 0070 §3.4, §5.2, §7.3). Each side is checked against that
// reference, and the two sides against each other, with the documented QEMU deviations
// (allow-list.ts) excused.
import type { QtestServer } from '../../src/devices/qtest.ts';
import type { QemuQtest } from './qemu-client.ts';
import {
  CMD,
  type Cmd,
  CONFIG,
  DESC,
  decodeEvent,
  type Evt,
  encodeCd,
  encodeSte,
  type Granule,
  PS,
  TG,
  wordsToBytes,
} from './smmu-encode.ts';

// ---- Addresses (the `virt` map: SMMU page 0/1, RAM from 0x4000_0000; edu BAR and ECAM) ---------

export const SMMU = 0x0905_0000;
export const R = {
  IDR0: 0x00,
  IDR1: 0x04,
  IDR3: 0x0c,
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
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVENTQ_BASE: 0xa0,
  /** Page 1 (page-0 offsets are Reserved; QEMU aliases them, the model does not by default). */
  EVENTQ_PROD: 0x1_00a8,
  EVENTQ_CONS: 0x1_00ac,
} as const;

/** Where the rig keeps its structures in RAM (QEMU's DTB sits at the start of RAM). */
export const LAYOUT = {
  strtab: 0x4100_0000n,
  cmdq: 0x4110_0000n,
  evtq: 0x4120_0000n,
  /** Page tables and CDs (bump allocator, granule aligned). */
  tables: 0x4200_0000n,
  tablesEnd: 0x4400_0000n,
  /** Output pages of the probes. */
  data: 0x4400_0000n,
  dataEnd: 0x4800_0000n,
  /** The readback window the QEMU side maps at MIRROR_IOVA (64 KB aligned). */
  scratch: 0x4900_0000n,
} as const;
export const CMDQ_LOG2 = 8;
export const EVTQ_LOG2 = 8;
/** IAS of the QEMU `virt` SMMU: IDR5.OAS = 44 bits and AArch64-only tables (IHI 0070 §3.4). */
export const IAS_BITS = 44n;
/** IOVA (or IPA) of the readback mirror in every translating configuration. */
export const MIRROR_IOVA = 0x7ff0_0000n;
/** Nested: IPA = PA + this for the bulk window that holds the stage-1 tables and CD. */
export const NESTED_IPA_OFFSET = 0x1_0000_0000n;
/** The edu device: PCI 00:02.0 → StreamID 0x10, BAR0 at 0x1000_0000, buffer at 0x40000. */
export const EDU_SID = 0x10;
const ECAM = 0x40_1000_0000n;
const EDU_CFG = ECAM + (2n << 15n);
const EDU_BAR = 0x1000_0000n;
const EDU_BUF = 0x40000n;

const hx = (v: number | bigint): string => {
  if (v < 0) throw new Error(`negative value ${v} in a qtest line`);
  return `0x${v.toString(16)}`;
};

// ---- Sides -----------------------------------------------------------------------------------

/** What one side returns for a DMA probe. */
export interface DmaResult {
  /** Model: `FAIL fault`. QEMU: unknown from the device itself (edu reports nothing). */
  readonly failed: boolean;
  /** Bytes read (R probes; QEMU: via the mirror readback, zeros where the read was aborted). */
  readonly data?: Uint8Array;
  /** Event records written while the probe ran, in order. */
  readonly events: Evt[];
}

/** One implementation under test, driven over qtest lines. */
export interface Side {
  readonly name: 'model' | 'qemu';
  cmd(line: string): Promise<string>;
  /**
   * A DMA by StreamID 0x10. `mirror`: the IOVA at which the scratch window is mapped (QEMU side
   * only: it loads and reads back the edu buffer through it), or undefined when there is none.
   */
  dma(
    iova: bigint,
    len: number,
    dir: 'R' | 'W',
    data: Uint8Array,
    mirror: bigint | undefined,
  ): Promise<DmaResult>;
  /** IRQ lines seen so far. */
  irqs(): string[];
  close(): Promise<void>;
}

async function ok(s: Side, line: string): Promise<string> {
  const r = await s.cmd(line);
  if (r !== 'OK' && !r.startsWith('OK ')) throw new Error(`${s.name}: '${line}' → '${r}'`);
  return r.slice(3);
}
export const readl = async (s: Side, a: number | bigint): Promise<number> =>
  Number(BigInt(await ok(s, `readl ${hx(a)}`)));
export const readq = async (s: Side, a: number | bigint): Promise<bigint> =>
  BigInt(await ok(s, `readq ${hx(a)}`));
export const writel = async (s: Side, a: number | bigint, v: number | bigint): Promise<void> => {
  await ok(s, `writel ${hx(a)} ${hx(v)}`);
};
export const writeq = async (s: Side, a: number | bigint, v: bigint): Promise<void> => {
  await ok(s, `writeq ${hx(a)} ${hx(BigInt.asUintN(64, v))}`);
};
/** Writes bytes with b64write; every chunk is issued at once so that writes keep their order. */
export async function writeBytes(s: Side, a: bigint, b: Uint8Array): Promise<void> {
  const parts: Promise<string>[] = [];
  for (let off = 0; off < b.length; off += 0xc000) {
    const part = b.subarray(off, off + 0xc000);
    const line = `b64write ${hx(a + BigInt(off))} ${hx(part.length)} ${Buffer.from(part).toString('base64')}`;
    parts.push(ok(s, line));
  }
  await Promise.all(parts);
}
export async function readBytes(s: Side, a: bigint, len: number): Promise<Uint8Array> {
  return new Uint8Array(Buffer.from(await ok(s, `b64read ${hx(a)} ${hx(len)}`), 'base64'));
}
export const reg = (s: Side, off: number): Promise<number> => readl(s, SMMU + off);
export const setReg = (s: Side, off: number, v: number): Promise<void> => writel(s, SMMU + off, v);

/** Event-queue consumer shared by both sides (reads records between CONS and PROD, then acks). */
class EventReader {
  private cons = 0;
  reset(): void {
    this.cons = 0;
  }
  async drain(s: Side): Promise<Evt[]> {
    const prod = await reg(s, R.EVENTQ_PROD);
    const out: Evt[] = [];
    const mask = (1 << EVTQ_LOG2) - 1;
    const wrapMask = (2 << EVTQ_LOG2) - 1;
    let c = this.cons;
    while ((c & wrapMask) !== (prod & wrapMask)) {
      const idx = c & mask;
      out.push(decodeEvent(await readBytes(s, LAYOUT.evtq + BigInt(idx * 32), 32)));
      c = (c + 1) & wrapMask;
    }
    if (c !== this.cons) {
      this.cons = c;
      await setReg(s, R.EVENTQ_CONS, c);
    }
    return out;
  }
}

/** The model: an in-process qtest server (src/devices/qtest.ts) with `smmu_dma`. */
export class ModelSide implements Side {
  readonly name = 'model' as const;
  readonly server: QtestServer;
  readonly events = new EventReader();
  private readonly irqLines: string[] = [];
  constructor(server: QtestServer) {
    this.server = server;
  }
  async cmd(line: string): Promise<string> {
    const out = this.server.exec(line).split('\n');
    out.pop();
    const reply = out.pop() as string;
    this.irqLines.push(...out);
    return reply;
  }
  async dma(iova: bigint, len: number, dir: 'R' | 'W', data: Uint8Array): Promise<DmaResult> {
    const line =
      dir === 'R'
        ? `smmu_dma ${EDU_SID} - ${hx(iova)} ${len} R`
        : `smmu_dma ${EDU_SID} - ${hx(iova)} ${len} W 0x${Buffer.from(data).toString('hex')}`;
    const r = await this.cmd(line);
    const events = await this.events.drain(this);
    if (r === 'FAIL fault') return { failed: true, events };
    if (r === 'OK' && dir === 'W') return { failed: false, events };
    if (r.startsWith('OK 0x') && dir === 'R') {
      return { failed: false, data: new Uint8Array(Buffer.from(r.slice(5), 'hex')), events };
    }
    throw new Error(`model: '${line.slice(0, 60)}…' → '${r}'`);
  }
  irqs(): string[] {
    return this.irqLines;
  }
  async close(): Promise<void> {}
}

/** QEMU: DMA through the edu device; read data comes back through the mirror mapping. */
export class QemuSide implements Side {
  readonly name = 'qemu' as const;
  readonly q: QemuQtest;
  readonly events = new EventReader();
  /** edu DMAs issued and status polls made (for the log). */
  dmas = 0;
  polls = 0;
  constructor(q: QemuQtest) {
    this.q = q;
  }
  cmd(line: string): Promise<string> {
    return this.q.cmd(line);
  }
  /** Enables edu: BAR0 at 0x1000_0000, memory decoding and bus mastering. */
  async initEdu(): Promise<void> {
    const id = await readl(this, EDU_CFG);
    if (id !== 0x11e81234) throw new Error(`edu not found at 00:02.0 (id ${hx(id)})`);
    await writel(this, EDU_CFG + 0x10n, Number(EDU_BAR));
    await writel(this, EDU_CFG + 0x04n, 0x6);
  }
  /** One edu transfer (cmd 1: RAM → buffer, 3: buffer → RAM); waits for completion. */
  private async edu(src: bigint, dst: bigint, cnt: number, cmd: number): Promise<void> {
    this.dmas++;
    await Promise.all([
      writeq(this, EDU_BAR + 0x80n, src),
      writeq(this, EDU_BAR + 0x88n, dst),
      writeq(this, EDU_BAR + 0x90n, BigInt(cnt)),
      writeq(this, EDU_BAR + 0x98n, BigInt(cmd)),
    ]);
    for (let i = 0; i < 10_000; i++) {
      this.polls++;
      if (((await readq(this, EDU_BAR + 0x98n)) & 1n) === 0n) return;
    }
    throw new Error('edu DMA did not complete');
  }
  async dma(
    iova: bigint,
    len: number,
    dir: 'R' | 'W',
    data: Uint8Array,
    mirror: bigint | undefined,
  ): Promise<DmaResult> {
    if (dir === 'R') {
      if (mirror !== undefined) {
        // Preload the buffer with a pattern (through the mirror) so a read that moved nothing
        // is visible as the pattern.
        await writeBytes(this, LAYOUT.scratch, new Uint8Array(len).fill(0xa5));
        await this.edu(mirror, EDU_BUF, len, 1);
        await this.expectNoEvents('mirror preload');
      }
      await this.edu(iova, EDU_BUF, len, 1);
      const events = await this.events.drain(this);
      if (mirror === undefined) return { failed: false, events };
      await this.edu(EDU_BUF, mirror, len, 3);
      await this.expectNoEvents('mirror readback');
      return { failed: false, data: await readBytes(this, LAYOUT.scratch, len), events };
    }
    if (mirror !== undefined) {
      await writeBytes(this, LAYOUT.scratch, data);
      await this.edu(mirror, EDU_BUF, len, 1);
      await this.expectNoEvents('mirror load');
    }
    await this.edu(EDU_BUF, iova, len, 3);
    return { failed: false, events: await this.events.drain(this) };
  }
  private async expectNoEvents(what: string): Promise<void> {
    const e = await this.events.drain(this);
    if (e.length) throw new Error(`qemu: ${what} through the mirror raised ${e[0]?.type}`);
  }
  irqs(): string[] {
    return this.q.irqs;
  }
  close(): Promise<void> {
    return this.q.close();
  }
}

/** A memory write: physical address and bytes. */
export type MemWrite = readonly [bigint, Uint8Array];

// ---- Page tables (VMSAv8-64, test-side builder) ------------------------------------------------

/** Geometry of a translation regime: granule and input size decide the levels. */
export function geometry(granule: Granule, ias: number) {
  const g = Math.log2(granule);
  const stride = g - 3;
  const vaBits = ias - g;
  const levels = Math.ceil(vaBits / stride);
  const start = 4 - levels;
  const firstBits = vaBits - stride * (levels - 1);
  return { g, stride, levels, start, firstBits };
}

/** STE.S2SL0 for a start level (4K: 2 − start; 16K/64K: 3 − start). */
export function sl0For(granule: Granule, start: number): number {
  return granule === 4096 ? 2 - start : 3 - start;
}

/** A leaf the builder wrote: the reference uses these to predict translations. */
export interface Leaf {
  readonly va: bigint;
  readonly size: bigint;
  readonly out: bigint;
  readonly r: boolean;
  readonly w: boolean;
  readonly level: number;
  /** Address (in the table's address space) of the descriptor. */
  readonly descAddr: bigint;
}

/** Builds one regime's tables; descriptors are recorded at table addresses (IPA or PA). */
export class Tables {
  readonly granule: Granule;
  readonly ias: number;
  readonly stage: 1 | 2;
  readonly root: bigint;
  readonly leaves: Leaf[] = [];
  /** Descriptor writes: table address → 64-bit value. */
  readonly writes = new Map<bigint, bigint>();
  private readonly alloc: () => bigint;
  private readonly next = new Map<bigint, bigint>();
  constructor(granule: Granule, ias: number, stage: 1 | 2, alloc: () => bigint) {
    this.granule = granule;
    this.ias = ias;
    this.stage = stage;
    this.alloc = alloc;
    this.root = alloc();
  }
  get geo() {
    return geometry(this.granule, this.ias);
  }
  private index(va: bigint, level: number): bigint {
    const { g, stride, start, firstBits } = this.geo;
    const shift = BigInt(g + stride * (3 - level));
    const bits = level === start ? firstBits : stride;
    return (va >> shift) & ((1n << BigInt(bits)) - 1n);
  }
  /** Size mapped by a leaf at `level`. */
  blockSize(level: number): bigint {
    const { g, stride } = this.geo;
    return 1n << BigInt(g + stride * (3 - level));
  }
  /** Maps [va, va+size) → out with a leaf at the level whose block size is `size`. */
  map(va: bigint, out: bigint, size: bigint, r: boolean, w: boolean): Leaf {
    const { start } = this.geo;
    let level = 3;
    while (level > start && this.blockSize(level) < size) level--;
    if (this.blockSize(level) !== size) throw new Error(`no leaf of size ${hx(size)}`);
    if (va % size !== 0n || out % size !== 0n) throw new Error('misaligned leaf');
    let table = this.root;
    for (let l = start; l < level; l++) {
      const slot = table + this.index(va, l) * 8n;
      let nxt = this.next.get(slot);
      if (nxt === undefined) {
        nxt = this.alloc();
        this.next.set(slot, nxt);
        this.writes.set(slot, DESC.table(nxt));
      }
      table = nxt;
    }
    const slot = table + this.index(va, level) * 8n;
    const page = level === 3;
    const d = this.stage === 1 ? DESC.s1Leaf(out, w, page) : DESC.s2Leaf(out, r, w, page);
    this.writes.set(slot, d);
    const leaf = { va, size, out, r, w, level, descAddr: slot };
    this.leaves.push(leaf);
    return leaf;
  }
  /** Finds the leaf covering `va`. */
  lookup(va: bigint): Leaf | undefined {
    for (let i = this.leaves.length - 1; i >= 0; i--) {
      const l = this.leaves[i] as Leaf;
      if (va >= l.va && va < l.va + l.size) return l;
    }
    return undefined;
  }
  /** Removes a leaf (descriptor → 0); returns its descriptor address. */
  unmap(leaf: Leaf): bigint {
    const i = this.leaves.indexOf(leaf);
    if (i >= 0) this.leaves.splice(i, 1);
    this.writes.set(leaf.descAddr, 0n);
    return leaf.descAddr;
  }
  /** Sizes a leaf may have in this regime without LPA2 (4K: 4K/2M; 16K: 16K/32M; 64K: 64K). */
  leafSizes(): bigint[] {
    const { start } = this.geo;
    const out = [this.blockSize(3)];
    if (this.granule !== 65536 && start <= 2) out.push(this.blockSize(2));
    return out;
  }
}

// ---- Scenario --------------------------------------------------------------------------------

/** The expected outcome of a probe, derived from the scenario's own mapping tables. */
export type Expect =
  | { readonly kind: 'ok'; readonly pa: bigint }
  | {
      readonly kind: 'fault';
      /** IOVA of the first terminated 4 KB transaction. */
      readonly at: bigint;
      /** The event it records, or undefined when it is terminated silently. */
      readonly event?: {
        readonly type: string;
        readonly s2?: boolean;
        readonly cls?: number;
        readonly ipa?: bigint;
        /** Event kinds whose address fields are meaningless (configuration errors). */
        readonly noAddr?: boolean;
      };
    };

/** Probe kinds the reference can judge. */
export interface Probe {
  readonly iova: bigint;
  readonly len: number;
  readonly dir: 'R' | 'W';
}

export type Mode = 'disabled' | 'bypass' | 'abort' | 'bad-ste' | 'bad-sid' | 's1' | 's2' | 'nested';

/** A set-up of the SMMU for StreamID 0x10 plus the means to predict every probe. */
export class Scenario {
  readonly mode: Mode;
  readonly strtabLog2: number;
  s1: Tables | undefined;
  s2: Tables | undefined;
  /** CD: record faults (CD.R); STE: record stage-2 faults (S2R). */
  s1Record = true;
  s2Record = true;
  asid = 1;
  vmid = 1;
  gbpaAbort = false;
  /** CR2.RECINVSID: record C_BAD_STREAMID (QEMU records it regardless). */
  recInvSid = true;
  private tablePtr: bigint = LAYOUT.tables;
  /** Reference memory of the data pool: what each 4 KB page should hold. */
  readonly shadow = new Map<bigint, Uint8Array>();
  /** Memory writes to apply (PA → bytes). */
  readonly pending: MemWrite[] = [];
  cdPa = 0n;

  constructor(mode: Mode, strtabLog2 = 6) {
    this.mode = mode;
    this.strtabLog2 = strtabLog2;
  }

  /** Allocates one granule-sized, granule-aligned table in the table pool (returns its PA). */
  allocPa(granule: Granule): bigint {
    const g = BigInt(granule);
    const pa = (this.tablePtr + g - 1n) & ~(g - 1n);
    this.tablePtr = pa + g;
    if (this.tablePtr > LAYOUT.tablesEnd) throw new Error('table pool exhausted');
    // Memory is reused between scenarios on a long-lived QEMU: a new table starts zeroed.
    this.pending.push([pa, new Uint8Array(granule)]);
    return pa;
  }
  /** Table address as the walker sees it (nested stage-1 tables live at IPAs). */
  private s1Alloc(granule: Granule): () => bigint {
    return () => {
      const pa = this.allocPa(granule);
      return this.mode === 'nested' ? pa + NESTED_IPA_OFFSET : pa;
    };
  }
  useS1(granule: Granule, ias: number): Tables {
    this.s1 = new Tables(granule, ias, 1, this.s1Alloc(granule));
    return this.s1;
  }
  useS2(granule: Granule, ias: number): Tables {
    this.s2 = new Tables(granule, ias, 2, () => this.allocPa(granule));
    return this.s2;
  }
  /**
   * Nested: maps the IPA window PA + NESTED_IPA_OFFSET over all of RAM with the largest stage-2
   * blocks the regime has (4K: 1 GB at level 1 when the walk starts there or above, else 2 MB;
   * 16K: 32 MB; 64K: 512 MB), so the stage-1 tables, the CD and the scratch window are reachable.
   */
  mapNestedWindow(): void {
    const s2 = this.s2 as Tables;
    const { start } = s2.geo;
    const level = s2.granule === 4096 && start <= 1 ? 1 : 2;
    const big = s2.blockSize(level);
    const ramLo = 0x4000_0000n;
    const lo = ramLo & ~(big - 1n);
    for (let pa = lo; pa < ramLo + 0x1000_0000n; pa += big) {
      s2.map(pa + NESTED_IPA_OFFSET, pa, big, true, true);
    }
  }
  /** Mirror mapping (QEMU readback): IOVA MIRROR_IOVA → scratch in every translating mode. */
  mapMirror(): void {
    if (this.mode === 's1')
      this.s1?.map(MIRROR_IOVA, LAYOUT.scratch, this.s1.blockSize(3), true, true);
    if (this.mode === 's2')
      this.s2?.map(MIRROR_IOVA, LAYOUT.scratch, this.s2.blockSize(3), true, true);
    if (this.mode === 'nested') {
      const s1 = this.s1 as Tables;
      s1.map(MIRROR_IOVA, LAYOUT.scratch + NESTED_IPA_OFFSET, s1.blockSize(3), true, true);
    }
  }
  /**
   * The IOVA through which the QEMU side reaches the scratch window: the scratch PA itself in
   * the identity modes, MIRROR_IOVA where `mapMirror` mapped it, none where every DMA faults.
   */
  get mirror(): bigint | undefined {
    if (this.mode === 'bypass' || (this.mode === 'disabled' && !this.gbpaAbort)) {
      return LAYOUT.scratch;
    }
    if (this.mode === 's1' || this.mode === 's2' || this.mode === 'nested') return MIRROR_IOVA;
    return undefined;
  }

  /** PA of an IPA for the tables (nested window) — where the bytes of an S1 table live. */
  private tableToPa(addr: bigint): bigint {
    return this.mode === 'nested' ? addr - NESTED_IPA_OFFSET : addr;
  }

  /** Bytes to write for the STE, CD and all tables, plus the initial data-pool signatures. */
  build(): MemWrite[] {
    if (this.s1 && this.cdPa === 0n) this.cdPa = this.allocPa(4096);
    const w: MemWrite[] = this.pending.splice(0);
    w.push([LAYOUT.strtab + BigInt(EDU_SID) * 64n, wordsToBytes(this.steWords())]);
    if (this.s1) {
      w.push([
        this.cdPa,
        wordsToBytes(
          encodeCd({
            t0sz: 64 - this.s1.ias,
            granule: this.s1.granule,
            ips: PS[44],
            ttb0: this.s1.root,
            asid: this.asid,
            r: this.s1Record,
          }),
        ),
      ]);
      for (const [a, d] of this.s1.writes) w.push([this.tableToPa(a), wordsToBytes([d])]);
      this.s1.writes.clear();
    }
    if (this.s2) {
      for (const [a, d] of this.s2.writes) w.push([a, wordsToBytes([d])]);
      this.s2.writes.clear();
    }
    return w;
  }

  steWords(): bigint[] {
    switch (this.mode) {
      case 'disabled':
      case 'bad-sid':
        return encodeSte({ v: true, config: CONFIG.BYPASS });
      case 'bypass':
        return encodeSte({ v: true, config: CONFIG.BYPASS });
      case 'abort':
        return encodeSte({ v: true, config: CONFIG.ABORT });
      case 'bad-ste':
        return encodeSte({ v: false, config: CONFIG.BYPASS });
      default: {
        const s2 = this.s2;
        const ctx =
          this.mode === 's2'
            ? undefined
            : this.mode === 'nested'
              ? this.cdPa + NESTED_IPA_OFFSET
              : this.cdPa;
        return encodeSte({
          v: true,
          config: this.mode === 's1' ? CONFIG.S1 : this.mode === 's2' ? CONFIG.S2 : CONFIG.NESTED,
          ...(ctx === undefined ? {} : { s1ContextPtr: ctx }),
          ...(s2
            ? {
                s2: {
                  vmid: this.vmid,
                  t0sz: 64 - s2.ias,
                  sl0: sl0For(s2.granule, s2.geo.start),
                  granule: s2.granule,
                  ps: PS[44],
                  ttb: s2.root,
                  s2r: this.s2Record,
                },
              }
            : {}),
        });
      }
    }
  }

  /** Signature byte of a data-pool address: never zero, differs between nearby bytes/pages. */
  static sig(pa: bigint): number {
    const x = Number((pa * 0x9e3779b1n) >> 7n) & 0xff;
    return x === 0 ? 0x5a : x;
  }
  /** Ensures the 4 KB data pages covering [pa, pa+len) have signatures (queued for writing). */
  touch(pa: bigint, len: number): void {
    for (let p = pa & ~0xfffn; p < pa + BigInt(len); p += 0x1000n) {
      if (p < LAYOUT.data || p >= LAYOUT.dataEnd || this.shadow.has(p)) continue;
      const b = new Uint8Array(4096);
      for (let i = 0; i < 4096; i++) b[i] = Scenario.sig(p + BigInt(i));
      this.shadow.set(p, b);
      this.pending.push([p, b.slice()]);
    }
  }
  shadowRead(pa: bigint, len: number): Uint8Array {
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) {
      const a = pa + BigInt(i);
      out[i] = this.shadow.get(a & ~0xfffn)?.[Number(a & 0xfffn)] ?? 0;
    }
    return out;
  }
  shadowWrite(pa: bigint, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const a = pa + BigInt(i);
      const page = this.shadow.get(a & ~0xfffn);
      if (page) page[Number(a & 0xfffn)] = data[i] as number;
    }
  }

  /** Reference translation of one transaction (IHI 0070 §3.4, §5.2, §7.3; table §2.1 of the digest). */
  resolve(iova: bigint, write: boolean, ignorePermissions = false): Expect {
    const fault = (ev?: NonNullable<Extract<Expect, { kind: 'fault' }>['event']>): Expect =>
      ev ? { kind: 'fault', at: iova, event: ev } : { kind: 'fault', at: iova };
    switch (this.mode) {
      case 'disabled':
        return this.gbpaAbort ? fault() : { kind: 'ok', pa: iova };
      case 'bypass':
        return { kind: 'ok', pa: iova };
      case 'abort':
        return fault();
      case 'bad-ste':
        return fault({ type: 'C_BAD_STE', noAddr: true });
      case 'bad-sid':
        return fault({ type: 'C_BAD_STREAMID', noAddr: true });
      default:
        break;
    }
    let ipa = iova;
    if (this.mode === 's1' || this.mode === 'nested') {
      const s1 = this.s1 as Tables;
      const rec = this.s1Record;
      const l = iova < 1n << BigInt(s1.ias) ? s1.lookup(iova) : undefined;
      if (!l) return fault(rec ? { type: 'F_TRANSLATION', s2: false, cls: 2 } : undefined);
      if (write && !l.w)
        return fault(rec ? { type: 'F_PERMISSION', s2: false, cls: 2 } : undefined);
      ipa = l.out + (iova - l.va);
      if (this.mode === 's1') return { kind: 'ok', pa: ipa };
    }
    const s2 = this.s2 as Tables;
    // Stage 1 skipped (Config 0b110): an input above IAS (= OAS = 44 bits here, AArch64 tables
    // only) is a stage-1 F_ADDR_SIZE, recorded whatever S2R says (IHI 0070 §3.4).
    if (this.mode === 's2' && iova >= 1n << IAS_BITS) {
      return fault({ type: 'F_ADDR_SIZE', s2: false, cls: 2 });
    }
    const rec = this.s2Record;
    const page = ipa & ~0xfffn;
    const l = ipa < 1n << BigInt(s2.ias) ? s2.lookup(ipa) : undefined;
    if (!l) return fault(rec ? { type: 'F_TRANSLATION', s2: true, cls: 2, ipa: page } : undefined);
    if ((write ? !l.w : !l.r) && !ignorePermissions) {
      return fault(rec ? { type: 'F_PERMISSION', s2: true, cls: 2, ipa: page } : undefined);
    }
    return { kind: 'ok', pa: l.out + (ipa - l.va) };
  }

  /** Expected outcome of a whole probe: per 4 KB transaction, the first fault ends it. */
  expect(p: Probe): { transactions: { iova: bigint; len: number; r: Expect }[]; fault?: Expect } {
    const out: { iova: bigint; len: number; r: Expect }[] = [];
    let done = 0;
    while (done < p.len) {
      const va = p.iova + BigInt(done);
      const n = Math.min(p.len - done, 4096 - Number(va & 0xfffn));
      const r = this.resolve(va, p.dir === 'W');
      out.push({ iova: va, len: n, r });
      if (r.kind === 'fault') return { transactions: out, fault: r };
      done += n;
    }
    return { transactions: out };
  }
}

// ---- Driving a side ------------------------------------------------------------------------------

/** Per-side state: the command-queue producer index (with its wrap bit). */
export class Driver {
  readonly side: Side;
  private prod = 0;
  /** The next command-queue index (with wrap bit) this driver will write. */
  get nextIndex(): number {
    return this.prod;
  }
  constructor(side: Side) {
    this.side = side;
  }

  /** Resets the SMMU and points it at the rig's stream table and queues (SMMUEN left to `enable`). */
  async reset(strtabLog2: number): Promise<void> {
    const s = this.side;
    await setReg(s, R.CR0, 0);
    await this.waitAck(0);
    await writeq(s, SMMU + R.STRTAB_BASE, LAYOUT.strtab);
    await setReg(s, R.STRTAB_BASE_CFG, strtabLog2);
    await writeq(s, SMMU + R.CMDQ_BASE, LAYOUT.cmdq | BigInt(CMDQ_LOG2));
    await setReg(s, R.CMDQ_PROD, 0);
    await setReg(s, R.CMDQ_CONS, 0);
    await writeq(s, SMMU + R.EVENTQ_BASE, LAYOUT.evtq | BigInt(EVTQ_LOG2));
    await setReg(s, R.EVENTQ_PROD, 0);
    await setReg(s, R.EVENTQ_CONS, 0);
    if (s instanceof ModelSide || s instanceof QemuSide) s.events.reset();
    this.prod = 0;
    // Acknowledge any global error left from an earlier scenario.
    await setReg(s, R.GERRORN, await reg(s, R.GERROR));
    await setReg(s, R.IRQ_CTRL, 0x5);
    await setReg(s, R.CR0, 0xc);
    await this.waitAck(0xc);
  }
  async waitAck(v: number): Promise<void> {
    for (let i = 0; i < 100; i++) if ((await reg(this.side, R.CR0ACK)) === v) return;
    throw new Error(`${this.side.name}: CR0ACK never reached ${hx(v)}`);
  }
  /** Sets SMMUEN (or leaves the SMMU disabled) after invalidating every cache. */
  async enable(on: boolean): Promise<void> {
    await this.commands([CMD.cfgiAll(), CMD.tlbiNsnhAll(), CMD.sync()]);
    await setReg(this.side, R.CR0, on ? 0xd : 0xc);
    await this.waitAck(on ? 0xd : 0xc);
  }
  /** Writes memory (PA → bytes). */
  async write(w: readonly MemWrite[]): Promise<void> {
    // Issued back to back (pipelined); qtest applies them in order, so later writes win.
    await Promise.all(w.map(([pa, b]) => writeBytes(this.side, pa, b)));
  }
  /**
   * Queues commands and publishes them with one CMDQ_PROD write; returns CMDQ_CONS, GERROR and
   * the active global errors read right after (commands are consumed synchronously on both sides).
   */
  async commands(cmds: readonly Cmd[]): Promise<{ cons: number; gerror: number; active: number }> {
    const s = this.side;
    const mask = (1 << CMDQ_LOG2) - 1;
    const wrapMask = (2 << CMDQ_LOG2) - 1;
    for (const c of cmds) {
      await writeBytes(s, LAYOUT.cmdq + BigInt((this.prod & mask) * 16), wordsToBytes(c));
      this.prod = (this.prod + 1) & wrapMask;
    }
    await setReg(s, R.CMDQ_PROD, this.prod);
    const gerror = await reg(s, R.GERROR);
    // Active global errors are the bits where GERROR differs from GERRORN (§7.5).
    const active = (gerror ^ (await reg(s, R.GERRORN))) >>> 0;
    return { cons: await reg(s, R.CMDQ_CONS), gerror, active };
  }
}

/** Applies a scenario from scratch on one side: reset, structures, caches invalidated, enable. */
export async function applyScenario(
  d: Driver,
  sc: Scenario,
  w: readonly MemWrite[],
): Promise<void> {
  await d.reset(sc.mode === 'bad-sid' ? 3 : sc.strtabLog2);
  const s = d.side;
  // GBPA: ABORT per the scenario, written with Update and waited for.
  await setReg(s, R.GBPA, (0x8000_0000 | (sc.gbpaAbort ? 0x10_0000 : 0) | 0x1000) >>> 0);
  for (let i = 0; i < 100 && ((await reg(s, R.GBPA)) & 0x8000_0000) !== 0; i++);
  await setReg(s, R.CR2, sc.recInvSid ? 0x2 : 0);
  await d.write(w);
  await d.enable(sc.mode !== 'disabled');
}

export { TG };
