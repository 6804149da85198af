// The IOAS's IO page table (drivers/iommu/iommufd/io_pagetable.c, pages.c): areas mapping IOVA
// ranges to slices of user memory ("pages"), reserved and allowed IOVA ranges, the IOVA alignment
// driven by the attached domains, IOVA auto-allocation, and the pinning/accounting of user pages
// while any domain (HWPT_PAGING) mirrors the IOAS.
//
// Behaviour follows the kernel code paths: iopt_map_pages (iopt_alloc_area_pages → iopt_check_iova
// or iopt_alloc_iova → iopt_insert_area → fill domains), iopt_unmap_iova_range (superset rule:
// splitting → ENOENT, areas before the split one are already gone), iopt_get_pages for COPY,
// iopt_set_allow_iova (EADDRINUSE), iopt_table_add_domain/remove_domain (alignment → EADDRINUSE,
// aperture reservation), pinning with RLIMIT_MEMLOCK accounting (IOPT_PAGES_ACCOUNT_USER / _MM /
// _NONE). IOVAs are bigint (the kernel's unsigned long covers the full 64 bits); the domains receive
// numbers (their apertures are below 2^53).

import { ERRNO } from '../arch/errno.ts';
import type { PagingDomain, ResvRegion } from './domain.ts';
import { IOMMU_PROT } from './domain.ts';
import { type FaultInjector, PAGE_SIZE } from './host-memory.ts';
import type { Process } from './process.ts';

const { EINVAL, EOVERFLOW, EEXIST, ENOENT, ENOSPC, EADDRINUSE, ENOMEM, EPERM } = ERRNO;

/** ULONG_MAX on a 64-bit kernel. */
export const ULONG_MAX = (1n << 64n) - 1n;
const PAGE = BigInt(PAGE_SIZE);

/** How pinned pages are accounted (IOPT_PAGES_ACCOUNT_*). */
export type AccountMode = 'none' | 'user' | 'mm';

/** Per-user accounting shared by every process of the user (user_struct->locked_vm). */
export interface UserAccount {
  lockedVm: number;
}

/** A slice source: pinned user memory (struct iopt_pages). */
export class IoptPages {
  /** Page-aligned start of the user range. */
  readonly uptr: number;
  readonly npages: number;
  /** Physical addresses once pinned. */
  pinned: number[] | null = null;
  /** Areas (in IOASes with at least one domain) that need the pages pinned. */
  storageUsers = 0;
  /** kref: areas and in-flight copies holding the pages. */
  refs = 1;

  readonly proc: Process;

  /** User address of byte 0 of the mapping (not page aligned necessarily). */
  readonly userVa: number;
  readonly length: number;
  readonly writable: boolean;
  accountMode: AccountMode;
  private readonly user: UserAccount;

  constructor(
    proc: Process,
    userVa: number,
    length: number,
    writable: boolean,
    accountMode: AccountMode,
    user: UserAccount,
  ) {
    this.proc = proc;
    this.userVa = userVa;
    this.length = length;
    this.writable = writable;
    this.accountMode = accountMode;
    this.user = user;
    this.uptr = Math.floor(userVa / PAGE_SIZE) * PAGE_SIZE;
    this.npages = Math.ceil((length + (userVa - this.uptr)) / PAGE_SIZE);
  }

  /** Pins and accounts the pages: 0 or -EFAULT / -ENOMEM. Idempotent while pinned. */
  pin(faults: FaultInjector): number {
    if (this.pinned) return 0;
    if (faults.hit('pin')) return -ENOMEM;
    // Accounting first (incr_user_locked_vm / account_locked_vm), then pin_user_pages.
    const limit = this.proc.rlimitMemlock / PAGE_SIZE;
    if (this.accountMode === 'user') {
      if (this.user.lockedVm + this.npages > limit) return -ENOMEM;
    } else if (this.accountMode === 'mm') {
      if (!this.proc.capIpcLock && this.proc.lockedVm + this.npages > limit) return -ENOMEM;
    }
    const pas = this.proc.pinPages(this.uptr, this.npages);
    if (typeof pas === 'number') return pas;
    if (this.accountMode === 'user') this.user.lockedVm += this.npages;
    else if (this.accountMode === 'mm') this.proc.lockedVm += this.npages;
    this.proc.pinnedVm += this.npages;
    this.pinned = pas;
    return 0;
  }

  /** Unpins and unaccounts. */
  unpin(): void {
    if (!this.pinned) return;
    this.proc.unpinPages(this.uptr, this.npages);
    if (this.accountMode === 'user') this.user.lockedVm -= this.npages;
    else if (this.accountMode === 'mm') this.proc.lockedVm -= this.npages;
    this.proc.pinnedVm -= this.npages;
    this.pinned = null;
  }

  /** PA of page `index` (pinned pages only). */
  pa(index: number): number {
    return (this.pinned as number[])[index] as number;
  }
}

/** One mapping of the IOAS (struct iopt_area). */
export interface IoptArea {
  iova: bigint;
  last: bigint;
  pages: IoptPages;
  /** Byte offset of the area's first byte inside `pages` (relative to pages.uptr). */
  startByte: number;
  prot: number;
}

interface Span {
  start: bigint;
  last: bigint;
}

interface Reserved extends Span {
  owner: unknown;
}

/** An element of a COPY source list (struct iopt_pages_list). */
export interface PagesSlice {
  pages: IoptPages;
  startByte: number;
  length: number;
}

function roundupPow2(x: bigint): bigint {
  let p = 1n;
  while (p < x) p <<= 1n;
  return p;
}

function lowestBit(x: bigint): bigint {
  return x & -x;
}

function alignUp(x: bigint, a: bigint): bigint {
  return ((x + a - 1n) / a) * a;
}

function overlaps(a: Span, start: bigint, last: bigint): boolean {
  return a.start <= last && a.last >= start;
}

/** Holes of the union of `spans` inside [start, last]. */
function holes(spans: readonly Span[], start: bigint, last: bigint): Span[] {
  const sorted = spans
    .filter((s) => overlaps(s, start, last))
    .sort((a, b) => (a.start < b.start ? -1 : 1));
  const out: Span[] = [];
  let cur = start;
  for (const s of sorted) {
    if (s.start > cur) out.push({ start: cur, last: s.start - 1n });
    if (s.last >= cur) {
      if (s.last === ULONG_MAX) return out;
      cur = s.last + 1n;
    }
    if (cur > last) return out;
  }
  if (cur <= last) out.push({ start: cur, last });
  return out;
}

/** The IO page table of one IOAS. */
export class IoPagetable {
  /** Areas sorted by IOVA. */
  readonly areas: IoptArea[] = [];
  readonly reserved: Reserved[] = [];
  allowed: Span[] = [];
  readonly domains: PagingDomain[] = [];
  iovaAlignment = 1;
  disableLargePages = false;

  private readonly faults: FaultInjector;

  constructor(faults: FaultInjector) {
    this.faults = faults;
  }

  // ---- queries ----

  /** First area intersecting [start, last]. */
  areaIterFirst(start: bigint, last: bigint): IoptArea | undefined {
    for (const a of this.areas) if (a.iova <= last && a.last >= start) return a;
    return undefined;
  }

  private reservedIterFirst(start: bigint, last: bigint): Reserved | undefined {
    for (const r of this.reserved) if (overlaps(r, start, last)) return r;
    return undefined;
  }

  /** The usable ranges reported by IOMMU_IOAS_IOVA_RANGES (holes of the reserved tree). */
  iovaRanges(): Span[] {
    return holes(this.reserved, 0n, ULONG_MAX);
  }

  /** Pinned-page bookkeeping for inspection. */
  mappedBytes(): bigint {
    let n = 0n;
    for (const a of this.areas) n += a.last - a.iova + 1n;
    return n;
  }

  // ---- IOVA selection ----

  private checkIova(iova: bigint, length: bigint): number {
    if (iova % BigInt(this.iovaAlignment) !== 0n) return -EINVAL;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return -EOVERFLOW;
    if (this.reservedIterFirst(iova, last)) return -EINVAL;
    if (this.areaIterFirst(iova, last)) return -EEXIST;
    return 0;
  }

  private allocIova(uptr: bigint, length: bigint): bigint | number {
    const pageOffset = uptr % PAGE;
    if (length === 0n || length >= ULONG_MAX / 2n) return -EOVERFLOW;
    const align =
      uptr === 0n
        ? roundupPow2(length)
        : (() => {
            const a = roundupPow2(length);
            const b = lowestBit(uptr);
            return a < b ? a : b;
          })();
    if (align < BigInt(this.iovaAlignment)) return -EINVAL;
    const lo = PAGE;
    const hi = ULONG_MAX - PAGE;
    const allowedSpans: Span[] =
      this.allowed.length === 0
        ? [{ start: lo, last: hi }]
        : this.allowed
            .filter((s) => overlaps(s, lo, hi))
            .map((s) => ({ start: s.start < lo ? lo : s.start, last: s.last > hi ? hi : s.last }))
            .sort((a, b) => (a.start < b.start ? -1 : 1));
    const used: Span[] = [
      ...this.reserved,
      ...this.areas.map((a) => ({ start: a.iova, last: a.last })),
    ];
    for (const span of allowedSpans) {
      if (span.last - span.start < length - 1n) continue;
      const start = alignUp(span.start, align) | pageOffset;
      if (start > span.last || span.last - start < length - 1n) continue;
      for (const h of holes(used, start, span.last)) {
        if (h.last - h.start < length - 1n) continue;
        const hs = alignUp(h.start, align) | pageOffset;
        if (hs > h.last || h.last - hs < length - 1n) continue;
        return hs;
      }
    }
    return -ENOSPC;
  }

  // ---- mapping ----

  /**
   * Maps an area into domains: runs of physically contiguous pinned pages are mapped with one
   * iommu_map each (so the page table can use blocks), page by page when huge pages are disabled
   * (batch_iommu_map_small). On failure everything mapped by this call is unmapped again.
   */
  private fillArea(area: IoptArea, domains: readonly PagingDomain[]): number {
    const pages = area.pages;
    const first = Math.floor(area.startByte / PAGE_SIZE);
    const off = area.startByte % PAGE_SIZE;
    const len = Number(area.last - area.iova + 1n);
    const npages = Math.ceil((off + len) / PAGE_SIZE);
    const base = Number(area.iova) - off;
    for (let d = 0; d < domains.length; d++) {
      const dom = domains[d] as PagingDomain;
      let i = 0;
      while (i < npages) {
        let n = 1;
        const pa = pages.pa(first + i);
        if (!this.disableLargePages) {
          while (i + n < npages && pages.pa(first + i + n) === pa + n * PAGE_SIZE) n++;
        }
        const rc = dom.map(base + i * PAGE_SIZE, pa, n * PAGE_SIZE, area.prot);
        if (rc < 0) {
          if (i > 0) dom.unmap(base, i * PAGE_SIZE);
          for (let e = 0; e < d; e++) (domains[e] as PagingDomain).unmap(base, npages * PAGE_SIZE);
          return rc;
        }
        i += n;
      }
    }
    return 0;
  }

  private unfillArea(area: IoptArea, domains: readonly PagingDomain[]): void {
    const len = Number(area.last - area.iova + 1n);
    const off = area.startByte % PAGE_SIZE;
    const npages = Math.ceil((off + len) / PAGE_SIZE);
    const base = Number(area.iova) - off;
    for (const d of domains) d.unmap(base, npages * PAGE_SIZE);
  }

  /** Takes a storage reference on the pages of an area inserted into an IOAS with domains. */
  private storageGet(pages: IoptPages): number {
    if (pages.storageUsers === 0) {
      const rc = pages.pin(this.faults);
      if (rc) return rc;
    }
    pages.storageUsers++;
    return 0;
  }

  private storagePut(pages: IoptPages): void {
    pages.storageUsers--;
    if (pages.storageUsers === 0) pages.unpin();
  }

  /**
   * iopt_map_pages: places the slices at `dstIova` (FIXED) or an allocated IOVA; returns the IOVA
   * or a negative errno. On failure nothing changed.
   */
  mapPages(
    slices: readonly PagesSlice[],
    length: bigint,
    fixed: boolean,
    dstIova: bigint,
    prot: number,
  ): bigint | number {
    // kzalloc of each area (fail_nth point).
    for (let i = 0; i < slices.length; i++) if (this.faults.hit('alloc')) return -ENOMEM;
    if (length % BigInt(this.iovaAlignment) !== 0n || length === 0n) return -EINVAL;
    let iova: bigint;
    if (!fixed) {
      const first = slices[0] as PagesSlice;
      const r = this.allocIova(BigInt(first.pages.uptr + first.startByte), length);
      if (typeof r === 'number') return r;
      iova = r;
    } else {
      const rc = this.checkIova(dstIova, length);
      if (rc) return rc;
      iova = dstIova;
    }
    // iopt_insert_area checks, all before any change.
    const areas: IoptArea[] = [];
    let cur = iova;
    for (const s of slices) {
      if (prot & IOMMU_PROT.WRITE && !s.pages.writable) return -EPERM;
      if ((s.startByte % PAGE_SIZE) % this.iovaAlignment !== 0) return -EINVAL;
      const last = cur + BigInt(s.length) - 1n;
      if (last > ULONG_MAX) return -EOVERFLOW;
      areas.push({ iova: cur, last, pages: s.pages, startByte: s.startByte, prot });
      cur = last + 1n;
    }
    // Fill the domains (pin + map); undo on failure.
    if (this.domains.length > 0) {
      for (let i = 0; i < areas.length; i++) {
        const a = areas[i] as IoptArea;
        let rc = this.storageGet(a.pages);
        if (!rc) {
          rc = this.fillArea(a, this.domains);
          if (rc) this.storagePut(a.pages);
        }
        if (rc) {
          for (let j = 0; j < i; j++) {
            const b = areas[j] as IoptArea;
            this.unfillArea(b, this.domains);
            this.storagePut(b.pages);
          }
          return rc;
        }
      }
    }
    for (const a of areas) {
      a.pages.refs++;
      this.insertArea(a);
    }
    return iova;
  }

  private insertArea(a: IoptArea): void {
    let i = 0;
    while (i < this.areas.length && (this.areas[i] as IoptArea).iova < a.iova) i++;
    this.areas.splice(i, 0, a);
  }

  private removeArea(a: IoptArea): void {
    const i = this.areas.indexOf(a);
    if (i >= 0) this.areas.splice(i, 1);
    if (this.domains.length > 0) {
      this.unfillArea(a, this.domains);
      this.storagePut(a.pages);
    }
    a.pages.refs--;
  }

  /**
   * iopt_unmap_iova_range: unmaps whole areas inside [start, last] from the lowest up. An area
   * reaching outside the range → -ENOENT (areas unmapped before it stay unmapped, as in the
   * kernel); nothing mapped → -ENOENT. Returns bytes unmapped or a negative errno.
   */
  unmapRange(start: bigint, last: bigint): { rc: number; unmapped: bigint } {
    let unmapped = 0n;
    for (;;) {
      const a = this.areaIterFirst(start, last);
      if (!a) break;
      if (a.iova < start || a.last > last) return { rc: -ENOENT, unmapped };
      this.removeArea(a);
      unmapped += a.last - a.iova + 1n;
    }
    return { rc: unmapped > 0n ? 0 : -ENOENT, unmapped };
  }

  /** iopt_unmap_iova: `length` 0 → EINVAL, overflow → EOVERFLOW. */
  unmapIova(iova: bigint, length: bigint): { rc: number; unmapped: bigint } {
    if (length === 0n) return { rc: -EINVAL, unmapped: 0n };
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return { rc: -EOVERFLOW, unmapped: 0n };
    return this.unmapRange(iova, last);
  }

  /** iopt_unmap_all: an empty IOAS succeeds. */
  unmapAll(): bigint {
    const r = this.unmapRange(0n, ULONG_MAX);
    return r.unmapped;
  }

  /** Whether [iova, iova + length) is covered by contiguous areas (iopt_area_contig_* walk). */
  covered(iova: bigint, length: bigint): boolean {
    if (length === 0n) return false;
    const last = iova + length - 1n;
    let cur = iova;
    for (;;) {
      const a = this.areaIterFirst(cur, cur);
      if (!a) return false;
      if (a.last >= last) return true;
      cur = a.last + 1n;
    }
  }

  /** iopt_get_pages for COPY: slices covering [iova, iova+length) or a negative errno. */
  getPages(iova: bigint, length: bigint): PagesSlice[] | number {
    if (length === 0n) return -EINVAL;
    const lastIova = iova + length - 1n;
    if (lastIova > ULONG_MAX) return -EOVERFLOW;
    const out: PagesSlice[] = [];
    let cur = iova;
    let area = this.areaIterFirst(iova, iova);
    while (area) {
      if (this.faults.hit('alloc')) return -ENOMEM;
      const last = lastIova < area.last ? lastIova : area.last;
      out.push({
        pages: area.pages,
        startByte: area.startByte + Number(cur - area.iova),
        length: Number(last - cur + 1n),
      });
      if (last === lastIova) return out;
      cur = area.last + 1n;
      const next = this.areaIterFirst(cur, cur);
      if (!next || next.iova !== cur) break;
      area = next;
    }
    return -ENOENT;
  }

  // ---- allowed / reserved ----

  /** iopt_set_allow_iova: EADDRINUSE when an allowed range meets a reserved one. */
  setAllowIova(ranges: Span[]): number {
    for (const r of ranges) if (this.reservedIterFirst(r.start, r.last)) return -EADDRINUSE;
    this.allowed = ranges;
    return 0;
  }

  /** iopt_reserve_iova (EADDRINUSE when an area or allowed range is inside). */
  reserveIova(start: bigint, last: bigint, owner: unknown): number {
    if (this.areaIterFirst(start, last)) return -EADDRINUSE;
    for (const a of this.allowed) if (overlaps(a, start, last)) return -EADDRINUSE;
    if (this.faults.hit('alloc')) return -ENOMEM;
    this.reserved.push({ start, last, owner });
    return 0;
  }

  /** Removes every reservation of `owner`. */
  removeReserved(owner: unknown): void {
    for (let i = this.reserved.length - 1; i >= 0; i--) {
      if ((this.reserved[i] as Reserved).owner === owner) this.reserved.splice(i, 1);
    }
  }

  /**
   * iopt_table_enforce_dev_resv_regions: reserves a device's regions (owner = the device);
   * relaxable direct regions are skipped.
   */
  enforceResvRegions(regions: readonly ResvRegion[], owner: unknown): number {
    for (const r of regions) {
      if (r.type === 'direct-relaxable') continue;
      const rc = this.reserveIova(r.start, r.last, owner);
      if (rc) {
        this.removeReserved(owner);
        return rc;
      }
    }
    return 0;
  }

  // ---- domains ----

  private checkAlignment(align: number): number {
    const a = BigInt(align);
    for (const ar of this.areas) {
      if (ar.iova % a !== 0n || (ar.last - ar.iova + 1n) % a !== 0n) return -EADDRINUSE;
      if ((ar.startByte % PAGE_SIZE) % align !== 0) return -EADDRINUSE;
    }
    return 0;
  }

  private calculateAlignment(): number {
    let align = this.disableLargePages ? PAGE_SIZE : 1;
    for (const d of this.domains) align = Math.max(align, lowestPgsize(d.pgsizeBitmap));
    return align;
  }

  /** iopt_table_add_domain: 0 or a negative errno (nothing changed then). */
  addDomain(domain: PagingDomain): number {
    if (this.domains.includes(domain)) return -EEXIST;
    const newAlign = Math.max(lowestPgsize(domain.pgsizeBitmap), this.iovaAlignment);
    if (newAlign > PAGE_SIZE) return -EINVAL;
    if (newAlign !== this.iovaAlignment) {
      const rc = this.checkAlignment(newAlign);
      if (rc) return rc;
    }
    if (domain.apertureEnd !== ULONG_MAX) {
      const rc = this.reserveIova(domain.apertureEnd + 1n, ULONG_MAX, domain);
      if (rc) return rc;
    }
    // xa_reserve of the domain slot.
    if (this.faults.hit('alloc')) {
      this.removeReserved(domain);
      return -ENOMEM;
    }
    const firstDomain = this.domains.length === 0;
    for (let i = 0; i < this.areas.length; i++) {
      const a = this.areas[i] as IoptArea;
      let rc = firstDomain ? this.storageGet(a.pages) : 0;
      if (!rc) {
        rc = this.fillArea(a, [domain]);
        if (rc && firstDomain) this.storagePut(a.pages);
      }
      if (rc) {
        for (let j = 0; j < i; j++) {
          const b = this.areas[j] as IoptArea;
          this.unfillArea(b, [domain]);
          if (firstDomain) this.storagePut(b.pages);
        }
        this.removeReserved(domain);
        return rc;
      }
    }
    this.iovaAlignment = newAlign;
    this.domains.push(domain);
    return 0;
  }

  /** iopt_table_remove_domain. */
  removeDomain(domain: PagingDomain): void {
    const i = this.domains.indexOf(domain);
    if (i < 0) return;
    this.domains.splice(i, 1);
    const lastDomain = this.domains.length === 0;
    for (const a of this.areas) {
      this.unfillArea(a, [domain]);
      if (lastDomain) this.storagePut(a.pages);
    }
    this.removeReserved(domain);
    this.iovaAlignment = this.calculateAlignment();
  }

  /** IOMMU_OPTION_HUGE_PAGES = 0 (iopt_disable_large_pages). */
  disableLarge(): number {
    if (this.disableLargePages) return 0;
    if (this.domains.length > 0 && this.areas.length > 0) return -EINVAL;
    this.disableLargePages = true;
    const align = this.calculateAlignment();
    if (align > this.iovaAlignment) {
      const rc = this.checkAlignment(align);
      if (rc) {
        this.disableLargePages = false;
        return rc;
      }
    }
    this.iovaAlignment = align;
    return 0;
  }

  /** IOMMU_OPTION_HUGE_PAGES = 1. */
  enableLarge(): void {
    this.disableLargePages = false;
    this.iovaAlignment = this.calculateAlignment();
  }
}

function lowestPgsize(bitmap: number): number {
  return bitmap & -bitmap;
}
