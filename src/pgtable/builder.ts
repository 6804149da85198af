// io-pgtable-arm: the Linux kernel's builder of VMSAv8-64 stage-1 (ARM_64_LPAE_S1) and stage-2
// (ARM_64_LPAE_S2) page tables for SMMUs, modelled on drivers/iommu/io-pgtable-arm.c (v6.17
// era): arm_lpae_map_pages / arm_lpae_unmap_pages / arm_lpae_iova_to_phys, arm_lpae_prot_to_pte,
// arm_lpae_restrict_pgsizes, the S1/S2 allocators with their TCR/VTCR/MAIR values and mandatory
// stage-2 concatenation. `map`/`unmap` add the iommu core's page-size splitting
// (drivers/iommu/iommu.c iommu_pgsize, __iommu_map with its roll-back, __iommu_unmap).
// Errors are negative errno numbers; tables live in a caller-supplied memory and allocator, and
// the TLB maintenance the kernel would request (tlb_flush_walk, tlb_add_page) is reported through
// a callback so a driver model can turn it into TLBI commands.

import {
  bitSet53,
  ffs53,
  fls53,
  lowBits,
  numHi,
  numLo,
  or53,
  subset53,
  TWO32,
} from '../arch/bits.ts';
import { ERRNO } from '../arch/errno.ts';
import { MAIR_IDX, PTE_HI, PTE_LO } from '../arch/pte.ts';
import type { PageAllocator } from './allocator.ts';
import {
  type IoPgtableGeometry,
  ioPgtableGeometry,
  ioPgtableS2Geometry,
  psEncode,
  sl0Encode,
  tg0Encode,
} from './format.ts';
import type { Granule, StageParams } from './types.ts';

/** IOMMU_* protection flags (include/linux/iommu.h). */
export const IOMMU_PROT = {
  READ: 1 << 0,
  WRITE: 1 << 1,
  CACHE: 1 << 2,
  NOEXEC: 1 << 3,
  MMIO: 1 << 4,
  PRIV: 1 << 5,
} as const;

/** io-pgtable formats modelled. */
export type IoPgtableFmt = 'ARM_64_LPAE_S1' | 'ARM_64_LPAE_S2';

/** IO_PGTABLE_QUIRK_* this model understands (each format accepts a subset, as in the kernel). */
export interface IoPgtableQuirks {
  /** ARM_NS: set NS / NSTable (stage 1 only). */
  readonly armNs?: boolean;
  /** ARM_OUTER_WBWA: outer WBWA table walks when not coherent (stage 1 only). */
  readonly armOuterWbwa?: boolean;
  /** ARM_HD: writable stage-1 leaves get DBM for hardware dirty tracking. */
  readonly armHd?: boolean;
  /** ARM_S2FWB: stage-2 cacheable leaves use the FWB MemAttr encoding. */
  readonly armS2fwb?: boolean;
  /** NO_WARN: no WARN on -EEXIST or empty unmap (the model never prints; kept for acceptance). */
  readonly noWarn?: boolean;
}

/** TLB maintenance requested by the page-table code (struct iommu_flush_ops). */
export type TlbOp =
  | {
      readonly op: 'flush_walk';
      readonly iova: number;
      readonly size: number;
      readonly granule: number;
    }
  | { readonly op: 'add_page'; readonly iova: number; readonly granule: number };

/** Configuration of a page table (struct io_pgtable_cfg). */
export interface IoPgtableConfig {
  readonly fmt: IoPgtableFmt;
  /** Page sizes offered by the IOMMU (bit n set = 2^n bytes), e.g. 4K|2M|1G. */
  readonly pgsizeBitmap: number;
  /** Input address bits. */
  readonly ias: number;
  /** Output address bits. */
  readonly oas: number;
  /** The IOMMU walks tables coherently (default true). */
  readonly coherentWalk?: boolean;
  readonly quirks?: IoPgtableQuirks;
  /** The CPU PAGE_SIZE used to pick the granule (default 4096). */
  readonly cpuPageSize?: number;
  /**
   * What unmap returns when it meets an empty entry: `'enoent'` — v6.17 returns -ENOENT cast to
   * size_t (modelled as UNMAP_ENOENT); `'zero'` — older and newer kernels return 0.
   */
  readonly emptyUnmap?: 'enoent' | 'zero';
  /** Receives tlb_flush_walk / tlb_add_page requests. */
  readonly tlb?: (op: TlbOp) => void;
}

/** Memory the tables live in (a SparseMemory, or a guest-RAM view of one). */
export interface TableMemory {
  read64Into(pa: number, out: Uint32Array): void;
  write64Split(pa: number, lo: number, hi: number): void;
}

/**
 * The value v6.17's unmap returns for an empty entry: `(size_t)-ENOENT` in the kernel, here the
 * negative number −ENOENT so callers can recognise it.
 */
export const UNMAP_ENOENT = -ERRNO.ENOENT;

/** Outcome of map_pages. */
export interface MapResult {
  /** 0 or a negative errno. */
  readonly ret: number;
  /** Bytes mapped, even when `ret` is an error (the caller unmaps them). */
  readonly mapped: number;
}

/** TCR (stage 1) or VTCR (stage 2) fields io-pgtable hands to the driver. */
export interface IoPgtableTcr {
  /** T0SZ / S2T0SZ = 64 − IAS. */
  readonly tsz: number;
  /** TG0 encoding. */
  readonly tg: number;
  /** SH0: 3 IS (coherent) or 2 OS. */
  readonly sh: number;
  /** IRGN0/ORGN0: 1 WBWA (coherent) or 0 NC. */
  readonly irgn: number;
  readonly orgn: number;
  /** IPS (stage 1) or PS (stage 2) encoding of OAS. */
  readonly ps: number;
  /** Stage 2 only: SL0 encoding of the start level. */
  readonly sl: number;
}

const EINVAL = -ERRNO.EINVAL;
const EEXIST = -ERRNO.EEXIST;
const ENOMEM = -ERRNO.ENOMEM;
const ERANGE = -ERRNO.ERANGE;

/**
 * arm_lpae_restrict_pgsizes: the granule (the CPU page size if offered, else the largest smaller
 * size, else the smallest larger one) and the page sizes valid with it; IAS/OAS capped at 48
 * (52 with 64K). Returns the restricted bitmap, IAS and OAS.
 */
export function restrictPgsizes(
  pgsizeBitmap: number,
  ias: number,
  oas: number,
  cpuPageSize = 4096,
): { pgsizeBitmap: number; ias: number; oas: number } {
  const pageShift = ffs53(cpuPageSize);
  let granule = 0;
  if (bitSet53(pgsizeBitmap, pageShift)) granule = cpuPageSize;
  else {
    let smaller = -1;
    let larger = -1;
    for (let b = 0; b <= 52; b++) {
      if (!bitSet53(pgsizeBitmap, b)) continue;
      if (b < pageShift) smaller = b;
      else if (larger < 0) larger = b;
    }
    if (smaller >= 0) granule = 2 ** smaller;
    else if (larger >= 0) granule = 2 ** larger;
  }
  let pageSizes = 0;
  let maxBits = 48;
  if (granule === 4096) pageSizes = 4096 + 2 ** 21 + 2 ** 30;
  else if (granule === 16384) pageSizes = 16384 + 2 ** 25;
  else if (granule === 65536) {
    maxBits = 52;
    pageSizes = 65536 + 2 ** 29;
    if (oas > 48) pageSizes += 2 ** 42;
  }
  let out = 0;
  for (let b = 0; b <= 52; b++)
    if (bitSet53(pgsizeBitmap, b) && bitSet53(pageSizes, b)) out += 2 ** b;
  return { pgsizeBitmap: out, ias: Math.min(ias, maxBits), oas: Math.min(oas, maxBits) };
}

/**
 * iommu_pgsize: the largest supported page size usable at (iova, paddr) for `size` bytes, and
 * how many of them to map before a larger size becomes usable.
 */
export function iommuPgsize(
  pgsizeBitmap: number,
  iova: number,
  paddr: number,
  size: number,
): { pgsize: number; count: number } | undefined {
  const addrMerge = or53(paddr, iova);
  const maxIdx = fls53(size);
  const alignIdx = addrMerge ? ffs53(addrMerge) : 52;
  let pick = -1;
  for (let b = 0; b <= Math.min(maxIdx, alignIdx); b++) if (bitSet53(pgsizeBitmap, b)) pick = b;
  if (pick < 0) return undefined;
  const pgsize = 2 ** pick;
  let next = -1;
  for (let b = pick + 1; b <= 52; b++) {
    if (bitSet53(pgsizeBitmap, b)) {
      next = b;
      break;
    }
  }
  if (next >= 0 && lowBits(iova, next) === lowBits(paddr, next)) {
    const pgsizeNext = 2 ** next;
    const offset = pgsizeNext - lowBits(addrMerge, next);
    if (offset + pgsizeNext <= size) size = offset;
  }
  return { pgsize, count: Math.floor(size / pgsize) };
}

const scratch = new Uint32Array(2);

/** A live io-pgtable (struct arm_lpae_io_pgtable + its ops). */
export class IoPgtable {
  readonly fmt: IoPgtableFmt;
  /** Page sizes after restriction. */
  readonly pgsizeBitmap: number;
  readonly ias: number;
  readonly oas: number;
  readonly granule: Granule;
  readonly geometry: IoPgtableGeometry;
  /** Address of the start-level table (TTBR / VTTBR). */
  readonly pgd: number;
  /** TCR or VTCR fields. */
  readonly tcr: IoPgtableTcr;
  /** Stage-1 MAIR value (0 for stage 2). */
  readonly mair: bigint;
  private readonly mem: TableMemory;
  private readonly allocator: PageAllocator;
  private readonly quirks: IoPgtableQuirks;
  private readonly emptyUnmapValue: number;
  private readonly tlb: ((op: TlbOp) => void) | undefined;
  private readonly pgShift: number;
  private readonly bpl: number;
  private readonly startLevel: number;
  private readonly ptesPerTable: number;
  private mappedAcc = 0;
  private freed = false;

  /**
   * alloc_io_pgtable_ops: returns undefined where the kernel returns NULL (unsupported quirks,
   * granule or address size, too many concatenated stage-2 tables, pgd allocation failure).
   */
  static create(
    mem: TableMemory,
    allocator: PageAllocator,
    cfg: IoPgtableConfig,
  ): IoPgtable | undefined {
    const q = cfg.quirks ?? {};
    const s1 = cfg.fmt === 'ARM_64_LPAE_S1';
    if (!s1 && (q.armNs || q.armOuterWbwa || q.armHd)) return undefined;
    if (s1 && q.armS2fwb) return undefined;
    const r = restrictPgsizes(cfg.pgsizeBitmap, cfg.ias, cfg.oas, cfg.cpuPageSize ?? 4096);
    if (
      !(
        bitSet53(r.pgsizeBitmap, 12) ||
        bitSet53(r.pgsizeBitmap, 14) ||
        bitSet53(r.pgsizeBitmap, 16)
      )
    ) {
      return undefined;
    }
    if (r.ias > 52 || r.oas > 52) return undefined;
    const granule = (2 ** ffs53(r.pgsizeBitmap)) as Granule;
    const geometry = s1
      ? ioPgtableGeometry(granule, r.ias)
      : ioPgtableS2Geometry(granule, r.ias, r.oas);
    if (!geometry) return undefined;
    const coherent = cfg.coherentWalk ?? true;
    if (s1 && coherent && q.armOuterWbwa) return undefined;
    const ps = psEncode(r.oas);
    if (ps === undefined) return undefined;
    const tcr: IoPgtableTcr = {
      tsz: 64 - r.ias,
      tg: tg0Encode(granule),
      sh: coherent ? 3 : 2,
      irgn: coherent ? 1 : 0,
      orgn: coherent || (s1 && q.armOuterWbwa) ? 1 : 0,
      ps,
      sl: s1 ? 0 : sl0Encode(granule, geometry.startLevel),
    };
    const mair = s1
      ? (0x44n << BigInt(8 * MAIR_IDX.NC)) |
        (0xffn << BigInt(8 * MAIR_IDX.CACHE)) |
        (0x04n << BigInt(8 * MAIR_IDX.DEV)) |
        (0xf4n << BigInt(8 * MAIR_IDX.INC_OCACHE))
      : 0n;
    const pgd = allocator.alloc(Math.max(geometry.pgdSize, 64));
    if (pgd === undefined) return undefined;
    return new IoPgtable(mem, allocator, cfg, r, granule, geometry, pgd, tcr, mair);
  }

  private constructor(
    mem: TableMemory,
    allocator: PageAllocator,
    cfg: IoPgtableConfig,
    r: { pgsizeBitmap: number; ias: number; oas: number },
    granule: Granule,
    geometry: IoPgtableGeometry,
    pgd: number,
    tcr: IoPgtableTcr,
    mair: bigint,
  ) {
    this.mem = mem;
    this.allocator = allocator;
    this.fmt = cfg.fmt;
    this.pgsizeBitmap = r.pgsizeBitmap;
    this.ias = r.ias;
    this.oas = r.oas;
    this.granule = granule;
    this.geometry = geometry;
    this.pgd = pgd;
    this.tcr = tcr;
    this.mair = mair;
    this.quirks = cfg.quirks ?? {};
    this.emptyUnmapValue = (cfg.emptyUnmap ?? 'enoent') === 'enoent' ? UNMAP_ENOENT : 0;
    this.tlb = cfg.tlb;
    this.pgShift = geometry.pgShift;
    this.bpl = geometry.bitsPerLevel;
    this.startLevel = geometry.startLevel;
    this.ptesPerTable = granule / 8;
  }

  /** Walker parameters describing this table (output size = OAS, no HTTU unless overridden). */
  stageParams(extra: Partial<StageParams> = {}): StageParams {
    return {
      granule: this.granule,
      ttb: this.pgd,
      inputBits: this.ias,
      startLevel: this.startLevel,
      outputBits: this.oas,
      ds: false,
      lpa: this.oas > 48,
      ha: false,
      hd: false,
      affd: false,
      ...extra,
    };
  }

  private shift(lvl: number): number {
    return (4 - lvl) * this.bpl + 3;
  }

  private blockSize(lvl: number): number {
    return 2 ** this.shift(lvl);
  }

  private lvlIdx(iova: number, lvl: number): number {
    const width = lvl === this.startLevel ? this.geometry.pgdBits : this.bpl;
    return Math.floor(iova / 2 ** this.shift(lvl)) % 2 ** width;
  }

  private maxEntries(i: number): number {
    return this.ptesPerTable - (i & (this.ptesPerTable - 1));
  }

  private static leaf(lo: number, lvl: number): boolean {
    return lvl === 3 ? (lo & 3) === 3 : (lo & 3) === 1;
  }

  /** paddr_to_iopte, low and high halves. */
  private static addrLo(pa: number): number {
    return ((numLo(pa) & 0xffff_f000) | (((numHi(pa) >>> 16) & 0xf) << 12)) >>> 0;
  }

  private static addrHi(pa: number): number {
    return numHi(pa) & 0xffff;
  }

  /** iopte_to_paddr. */
  private toPaddr(lo: number, hi: number): number {
    const h = (hi & 0xffff) * TWO32;
    if (this.granule < 65536) return h + ((lo & 0xffff_f000) >>> 0);
    return h + ((lo & 0xffff_0000) >>> 0) + ((lo >>> 12) & 0xf) * 2 ** 48;
  }

  private read(pa: number): void {
    this.mem.read64Into(pa, scratch);
  }

  /** arm_lpae_prot_to_pte as (lo, hi). */
  private protToPte(prot: number): [number, number] {
    let lo = 0;
    let hi = 0;
    const s1 = this.fmt === 'ARM_64_LPAE_S1';
    if (s1) {
      lo |= PTE_LO.NG;
      if (!(prot & IOMMU_PROT.WRITE) && prot & IOMMU_PROT.READ) lo |= PTE_LO.AP_RDONLY;
      else if (this.quirks.armHd) hi |= PTE_HI.DBM;
      if (!(prot & IOMMU_PROT.PRIV)) lo |= PTE_LO.AP_UNPRIV;
      if (prot & IOMMU_PROT.MMIO) lo |= MAIR_IDX.DEV << PTE_LO.ATTRINDX_SHIFT;
      else if (prot & IOMMU_PROT.CACHE) lo |= MAIR_IDX.CACHE << PTE_LO.ATTRINDX_SHIFT;
    } else {
      if (prot & IOMMU_PROT.READ) lo |= PTE_LO.S2AP_READ;
      if (prot & IOMMU_PROT.WRITE) lo |= PTE_LO.S2AP_WRITE;
      if (prot & IOMMU_PROT.MMIO) lo |= 0x1 << PTE_LO.MEMATTR_SHIFT;
      else if (prot & IOMMU_PROT.CACHE) {
        lo |= (this.quirks.armS2fwb ? 0x6 : 0xf) << PTE_LO.MEMATTR_SHIFT;
      } else lo |= 0x5 << PTE_LO.MEMATTR_SHIFT;
    }
    lo |= (prot & IOMMU_PROT.CACHE ? 3 : 2) << PTE_LO.SH_SHIFT;
    if (prot & IOMMU_PROT.NOEXEC) hi |= PTE_HI.S2XN_MASK;
    if (this.quirks.armNs) lo |= PTE_LO.NS;
    lo |= PTE_LO.AF;
    return [lo >>> 0, hi >>> 0];
  }

  /**
   * arm_lpae_map_pages: maps `pgcount` pages of `pgsize` (one bit of the bitmap) at `iova` →
   * `paddr`, as many as fit in one table; `mapped` says how many bytes were installed.
   */
  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): MapResult {
    this.mappedAcc = 0;
    if (!pgsize || !subset53(pgsize, this.pgsizeBitmap)) return { ret: EINVAL, mapped: 0 };
    if (iova >= 2 ** this.ias || paddr >= 2 ** this.oas) return { ret: ERANGE, mapped: 0 };
    if (!(prot & (IOMMU_PROT.READ | IOMMU_PROT.WRITE))) return { ret: EINVAL, mapped: 0 };
    const [plo, phi] = this.protToPte(prot);
    const ret = this.mapAt(iova, paddr, pgsize, pgcount, plo, phi, this.startLevel, this.pgd);
    return { ret, mapped: this.mappedAcc };
  }

  private mapAt(
    iova: number,
    paddr: number,
    size: number,
    pgcount: number,
    plo: number,
    phi: number,
    lvl: number,
    table: number,
  ): number {
    for (;;) {
      const i = this.lvlIdx(iova, lvl);
      const ptep = table + i * 8;
      if (size === this.blockSize(lvl)) {
        const num = Math.min(pgcount, this.maxEntries(i));
        const ret = this.initPte(iova, paddr, plo, phi, lvl, num, ptep, table);
        if (!ret) this.mappedAcc += num * size;
        return ret;
      }
      if (lvl >= 3) return EINVAL;
      this.read(ptep);
      let lo = scratch[0] as number;
      let hi = scratch[1] as number;
      if (lo === 0 && hi === 0) {
        const t = this.allocator.alloc(this.granule);
        if (t === undefined) return ENOMEM;
        lo = (IoPgtable.addrLo(t) | 3) >>> 0;
        hi = IoPgtable.addrHi(t);
        if (this.quirks.armNs) hi = (hi | PTE_HI.NSTABLE) >>> 0;
        this.mem.write64Split(ptep, lo, hi);
        table = t;
      } else if (!IoPgtable.leaf(lo, lvl)) {
        table = this.toPaddr(lo, hi);
      } else {
        return EEXIST;
      }
      lvl++;
    }
  }

  private initPte(
    iova: number,
    paddr: number,
    plo: number,
    phi: number,
    lvl: number,
    num: number,
    ptep: number,
    table: number,
  ): number {
    const sz = this.blockSize(lvl);
    for (let k = 0; k < num; k++) {
      this.read(ptep + k * 8);
      const lo = scratch[0] as number;
      if (IoPgtable.leaf(lo, lvl)) return EEXIST;
      if ((lo & 3) === 3) {
        // A table where a block goes: unmap and free it first (one walk-cache flush, no gather).
        if (this.unmapAt(iova + k * sz, sz, 1, lvl, table, false) !== sz) return EINVAL;
      }
    }
    const type = lvl === 3 ? PTE_LO.TYPE_TABLE : PTE_LO.TYPE_BLOCK;
    for (let k = 0; k < num; k++) {
      const pa = paddr + k * sz;
      this.mem.write64Split(
        ptep + k * 8,
        (plo | type | IoPgtable.addrLo(pa)) >>> 0,
        (phi | IoPgtable.addrHi(pa)) >>> 0,
      );
    }
    return 0;
  }

  /**
   * arm_lpae_unmap_pages: clears up to `pgcount` entries of `pgsize` at `iova` (within one
   * table), freeing sub-tables. Returns bytes unmapped; 0 for bad arguments or an attempt to
   * unmap part of a larger block; UNMAP_ENOENT (or 0, per `emptyUnmap`) when an entry on the way
   * is empty. `gather` false models a NULL gather (no tlb_add_page), as in the selftest.
   */
  unmapPages(iova: number, pgsize: number, pgcount: number, gather = true): number {
    if (!pgsize || !subset53(pgsize, this.pgsizeBitmap) || !pgcount) return 0;
    if (iova >= 2 ** this.ias) return 0;
    return this.unmapAt(iova, pgsize, pgcount, this.startLevel, this.pgd, gather);
  }

  private unmapAt(
    iova: number,
    size: number,
    pgcount: number,
    lvl: number,
    table: number,
    gather: boolean,
  ): number {
    for (;;) {
      if (lvl === 4) return 0;
      const i = this.lvlIdx(iova, lvl);
      const ptep = table + i * 8;
      this.read(ptep);
      const lo = scratch[0] as number;
      const hi = scratch[1] as number;
      if (lo === 0 && hi === 0) return this.emptyUnmapValue;
      if (size === this.blockSize(lvl)) {
        const num = Math.min(pgcount, this.maxEntries(i));
        let k = 0;
        for (; k < num; k++) {
          this.read(ptep + k * 8);
          const elo = scratch[0] as number;
          const ehi = scratch[1] as number;
          if (elo === 0 && ehi === 0) break;
          if (!IoPgtable.leaf(elo, lvl)) {
            this.mem.write64Split(ptep + k * 8, 0, 0);
            this.tlb?.({ op: 'flush_walk', iova: iova + k * size, size, granule: this.granule });
            this.freeTable(lvl + 1, this.toPaddr(elo, ehi));
          }
        }
        for (let j = 0; j < k; j++) this.mem.write64Split(ptep + j * 8, 0, 0);
        if (gather && this.tlb) {
          for (let j = 0; j < k; j++)
            this.tlb({ op: 'add_page', iova: iova + j * size, granule: size });
        }
        return k * size;
      }
      if (IoPgtable.leaf(lo, lvl)) return 0; // "Unmap of a partial large IOPTE is not allowed"
      table = this.toPaddr(lo, hi);
      lvl++;
    }
  }

  /** __arm_lpae_free_pgtable: frees a table and every table below it. */
  private freeTable(lvl: number, table: number): void {
    const bytes = lvl === this.startLevel ? this.geometry.pgdSize : this.granule;
    if (lvl < 3) {
      for (let off = 0; off < bytes; off += 8) {
        this.read(table + off);
        const lo = scratch[0] as number;
        const hi = scratch[1] as number;
        if ((lo === 0 && hi === 0) || IoPgtable.leaf(lo, lvl)) continue;
        this.freeTable(lvl + 1, this.toPaddr(lo, hi));
      }
    }
    this.allocator.free(table, Math.max(bytes, 64));
  }

  /** arm_lpae_iova_to_phys: the output address, or 0 when unmapped. */
  iovaToPhys(iova: number): number {
    let lvl = this.startLevel;
    let table = this.pgd;
    for (;;) {
      this.read(table + this.lvlIdx(iova, lvl) * 8);
      const lo = scratch[0] as number;
      const hi = scratch[1] as number;
      if (IoPgtable.leaf(lo, lvl)) {
        return or53(this.toPaddr(lo, hi), lowBits(iova, this.shift(lvl)));
      }
      if (lvl === 3 || (lo & 3) !== 3) return 0;
      table = this.toPaddr(lo, hi);
      lvl++;
    }
  }

  /**
   * iommu_map (__iommu_map): splits [iova, iova+size) into the largest usable page sizes and maps
   * them; on failure unmaps what was mapped. Returns 0 or a negative errno.
   */
  map(iova: number, paddr: number, size: number, prot: number): number {
    const minPagesz = 2 ** ffs53(this.pgsizeBitmap);
    if (lowBits(or53(or53(iova, paddr), size), ffs53(minPagesz)) !== 0) return EINVAL;
    const origIova = iova;
    const origSize = size;
    let ret = 0;
    while (size) {
      const pg = iommuPgsize(this.pgsizeBitmap, iova, paddr, size);
      if (!pg) return EINVAL;
      const r = this.mapPages(iova, paddr, pg.pgsize, pg.count, prot);
      size -= r.mapped;
      ret = r.ret;
      if (ret) break;
      iova += r.mapped;
      paddr += r.mapped;
    }
    if (ret) this.unmap(origIova, origSize - size);
    return ret;
  }

  /**
   * iommu_unmap (__iommu_unmap): unmaps [iova, iova+size) page size by page size; returns the
   * bytes unmapped (stopping at the first 0), or UNMAP_ENOENT when the table returned it.
   */
  unmap(iova: number, size: number): number {
    const minShift = ffs53(this.pgsizeBitmap);
    if (lowBits(or53(iova, size), minShift) !== 0) return 0;
    let unmapped = 0;
    while (unmapped < size) {
      const pg = iommuPgsize(this.pgsizeBitmap, iova, iova, size - unmapped);
      if (!pg) break;
      const n = this.unmapPages(iova, pg.pgsize, pg.count);
      if (n === UNMAP_ENOENT && this.emptyUnmapValue === UNMAP_ENOENT) return UNMAP_ENOENT;
      if (!n) break;
      iova += n;
      unmapped += n;
    }
    return unmapped;
  }

  /** free_io_pgtable_ops: frees every table (after which the object must not be used). */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.freeTable(this.startLevel, this.pgd);
  }
}
