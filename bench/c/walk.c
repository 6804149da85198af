/*
 * C baseline for bench/run.ts (formats.md §10): the same work as the TypeScript walker on the
 * same data structure. Memory is a hash of page number -> 4 KiB page laid out like V8's
 * OrderedHashMap (power-of-two bucket array, chained entries, V8's integer hash of the key) with
 * SparseMemory's one-entry last-page cache, bounds check and abort check; the walk mirrors
 * src/pgtable/walker.ts (index, abort check, descriptor read, validity, address size, AF,
 * permissions, result record). Modes 4-6 mirror the SMMU model's translate (src/smmu/translate.ts,
 * tlb.ts, config-cache.ts). A TLB hit takes translateFast's hit path: the remembered configuration
 * of the last (StreamID, SubstreamID) (one shared version compare), the TLB lookups (ASID-tagged,
 * then global; one probe of tlb.ts's open-addressing index per block size present over its
 * packed slot rows; the CLOCK reference bit), the permission masks, the STE and CD LRU stamps only
 * when the caches' clock moved, one counter, the output address (one addition) and the two
 * last-result fields. A miss with the remembered configuration: the same re-stamping, the TLB
 * lookup again, the walk above and the TLB insertion with CLOCK eviction; anything else first
 * looks the STE and CD up in their caches and remembers them. Mode 4: TLB of 4096 entries, warm (hits);
 * 5: 16 entries over 256 pages (every access misses and walks, stage 1); 6: the same, nested.
 * Input: a data file written by
 * bench/run.ts. Output: "ns_per_op checksum accesses".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { uint64_t key; uint32_t *page; int32_t next; } entry_t;
static int32_t *buckets;
static entry_t *entries;
static uint32_t nbuckets, nentries;
static uint64_t limit = 1ULL << 52;
static uint64_t accesses;
static uint64_t last_pfn = ~0ULL;
static uint32_t *last_page;
static int nobservers, unbacked_abort, nranges;

static uint32_t v8hash(uint32_t h) { /* V8 ComputeUnseededHash */
  h = ~h + (h << 15); h ^= h >> 12; h += h << 2; h ^= h >> 4; h *= 2057; h ^= h >> 16;
  return h & 0x3fffffff;
}
static uint32_t *lookup(uint64_t key) {
  for (int32_t i = buckets[v8hash((uint32_t)key) & (nbuckets - 1)]; i >= 0; i = entries[i].next)
    if (entries[i].key == key) return entries[i].page;
  return 0;
}
static void insert(uint64_t key, uint32_t *page) {
  uint32_t b = v8hash((uint32_t)key) & (nbuckets - 1);
  entries[nentries] = (entry_t){ key, page, buckets[b] };
  buckets[b] = (int32_t)nentries++;
}
static inline int aborts(uint64_t pa, uint64_t size) {
  if (pa + size > limit) return 1;
  for (int r = 0; r < nranges; r++) return 1;
  if (unbacked_abort) return 1;
  return 0;
}
static inline void read64(uint64_t pa, uint32_t *out) {
  if (pa + 8 > limit) abort();
  accesses++;
  if (nobservers) abort();
  uint64_t pfn = pa / 4096;
  uint32_t *p;
  if (pfn == last_pfn) p = last_page;
  else { p = lookup(pfn); if (p) { last_pfn = pfn; last_page = p; } }
  if (!p) { out[0] = out[1] = 0; return; }
  uint32_t i = (uint32_t)(pa % 4096) >> 2;
  out[0] = p[i]; out[1] = p[i + 1];
}

typedef struct { uint64_t ttb; int input_bits, start_level, output_bits; } params_t;
typedef struct { uint64_t oa; int level, shift; uint32_t lo, hi, perms; } leaf_t;
typedef struct {
  int ok; uint64_t oa, ipa; int level, block_shift; uint32_t desc_lo, desc_hi;
  int s1_level, s1_shift; uint32_t s1_lo, s1_hi, s1_perms;
  int s2_level, s2_shift; uint32_t s2_lo, s2_hi, s2_perms;
  int attr_indx, sh, ng, mem_attr, s2_sh, cont;
} result_t;
static int f_type, f_stage, f_level;

static uint32_t s1_perms(uint32_t lo, uint32_t hi, uint32_t thi) {
  int ur = (lo & 0x40) && !(thi & (1u << 29));
  int pw = !(lo & 0x80) && !(thi & (1u << 30));
  int uw = ur && pw;
  int px = !(hi & (1u << 21)) && !(thi & (1u << 27)) && !uw;
  int ux = !(hi & (1u << 22)) && !(thi & (1u << 28));
  if (!ur) ux = 0;
  return 1 | (pw ? 2 : 0) | (px ? 4 : 0) | (ur ? 8 : 0) | (uw ? 16 : 0) | (ux ? 32 : 0);
}
static uint32_t s2_perms(uint32_t lo, uint32_t hi) {
  int r = lo & 0x40, w = lo & 0x80, x = !((hi >> 21) & 2) && r;
  return (r ? 9 : 0) | (w ? 18 : 0) | (x ? 36 : 0);
}
static inline int check_perm(uint32_t perms, int write, int priv) {
  uint32_t need = write ? (priv ? 2 : 16) : (priv ? 1 : 8);
  return (perms & need) != 0;
}

static int walk_stage(const params_t *p, int stage, uint64_t addr, int write, int priv,
                      leaf_t *out, const params_t *s2, leaf_t *tt) {
  const int g = 12, bpl = 9;
  uint64_t out_limit = 1ULL << p->output_bits;
  if (addr >= (1ULL << p->input_bits)) { f_type = 0; f_stage = stage; f_level = p->start_level; return 0; }
  uint32_t alo = (uint32_t)addr, ahi = (uint32_t)(addr >> 32);
  int level = p->start_level, shift = g + (3 - level) * bpl, width = p->input_bits - shift;
  uint64_t table = p->ttb & ~((1ULL << (width + 3)) - 1);
  uint32_t thi = 0, d[2];
  for (;;) {
    uint32_t index = (shift >= 32 ? ahi >> (shift - 32) : shift == 0 ? alo : (alo >> shift) | (ahi << (32 - shift))) & ((1u << width) - 1);
    uint64_t da = table + index * 8, pa = da;
    if (s2) {
      if (!walk_stage(s2, 2, da, 0, 0, tt, 0, 0)) return 0;
      pa = tt->oa;
    }
    if ((unbacked_abort || nranges) && aborts(pa, 8)) { f_type = 4; return 0; }
    read64(pa, d);
    uint32_t lo = d[0], hi = d[1];
    if (!(lo & 1)) { f_type = 0; f_stage = stage; f_level = level; return 0; }
    if ((lo & 2) && level < 3) {
      uint64_t next = (uint64_t)(hi & 0xffff) << 32 | (lo & ~((1u << g) - 1));
      if (next >= out_limit) { f_type = 1; return 0; }
      if (stage == 1) thi |= hi;
      table = next; level++; shift -= bpl; width = bpl;
      continue;
    }
    if (level == 3 ? !(lo & 2) : !(level == 1 || level == 2)) { f_type = 0; return 0; }
    uint64_t base = (uint64_t)(hi & 0xffff) << 32 | (lo & ~((1u << g) - 1));
    uint64_t oa_base = base & ~((1ULL << shift) - 1);
    if (oa_base >= out_limit) { f_type = 1; return 0; }
    if (!(lo & 0x400)) { f_type = 2; return 0; }
    uint32_t perms = stage == 1 ? s1_perms(lo, hi, thi) : s2_perms(lo, hi);
    if (!check_perm(perms, write, priv)) { f_type = 3; return 0; }
    out->oa = oa_base + (addr & ((1ULL << shift) - 1));
    out->level = level; out->shift = shift; out->lo = lo; out->hi = hi; out->perms = perms;
    return 1;
  }
}

static leaf_t L1, L2, TT;
static result_t res;
static void fill(const leaf_t *a, const leaf_t *b, uint64_t in) {
  const leaf_t *last = b ? b : a;
  res.ok = 1; res.oa = last->oa; res.ipa = a ? a->oa : in; res.level = last->level;
  res.block_shift = a && b ? (a->shift < b->shift ? a->shift : b->shift) : last->shift;
  res.desc_lo = last->lo; res.desc_hi = last->hi;
  res.s1_level = a ? a->level : -1; res.s1_shift = a ? a->shift : 0; res.s1_lo = a ? a->lo : 0;
  res.s1_hi = a ? a->hi : 0; res.s1_perms = a ? a->perms : 0;
  res.s2_level = b ? b->level : -1; res.s2_shift = b ? b->shift : 0; res.s2_lo = b ? b->lo : 0;
  res.s2_hi = b ? b->hi : 0; res.s2_perms = b ? b->perms : 0;
  res.attr_indx = a ? (a->lo >> 2) & 7 : -1; res.sh = a ? (a->lo >> 8) & 3 : -1;
  res.ng = a ? (a->lo >> 11) & 1 : 0; res.mem_attr = b ? (b->lo >> 2) & 15 : -1;
  res.s2_sh = b ? (b->lo >> 8) & 3 : -1; res.cont = (last->hi >> 20) & 1;
}


/* ---- modes 4-6: SMMU translate (config caches, TLB, walk on a miss) ---- */
typedef struct { uint64_t key; int32_t val, next; } hent_t;
typedef struct { int32_t *b; hent_t *e; uint32_t nb, top; int32_t freel; } hmap_t;
static void hinit(hmap_t *m, uint32_t cap) {
  m->nb = 1; while (m->nb < cap / 2 + 1) m->nb <<= 1;
  m->b = malloc(m->nb * sizeof *m->b); memset(m->b, 0xff, m->nb * sizeof *m->b);
  m->e = malloc((cap + 1) * sizeof *m->e); m->top = 0; m->freel = -1;
}
static inline uint32_t hb(const hmap_t *m, uint64_t k) { return v8hash((uint32_t)k) & (m->nb - 1); }
static inline int32_t hget(const hmap_t *m, uint64_t k) {
  for (int32_t i = m->b[hb(m, k)]; i >= 0; i = m->e[i].next) if (m->e[i].key == k) return m->e[i].val;
  return -1;
}
static void hset(hmap_t *m, uint64_t k, int32_t v) {
  int32_t i = m->freel >= 0 ? m->freel : (int32_t)m->top++;
  if (i == m->freel) m->freel = m->e[i].next;
  uint32_t b = hb(m, k);
  m->e[i] = (hent_t){ k, v, m->b[b] }; m->b[b] = i;
}

enum { NCLASS = 10 };
static const int CLASS_SHIFT[NCLASS] = {12, 14, 16, 21, 25, 29, 30, 36, 39, 42};
/* A context: its id and the classes (block sizes) present, with their entry counts. */
typedef struct { int id; int counts[NCLASS]; int present[NCLASS]; int npresent; } ctx_t;
static ctx_t ctx_a = { .id = 0 }, ctx_g = { .id = 1 }; /* ASID-tagged and global contexts */
static hmap_t ste_cache, cd_cache;
/* config-cache.ts: the caches share one epoch (version, LRU clock); stamps per slot. */
static uint64_t *ste_used, *cd_used, cache_clock, cache_version;
/* tlb.ts's slot layout: SLOT int32 words per slot (TAG = context id x 16 + class, BLO, BHI,
 * PERMS = hit mask | s1 << 8 | s2 << 16 | shift << 24, INFO = level + 1 | granule << 3 |
 * attr << 11, PREV, NEXT, REF) and two doubles (output base - input base, IPA base). */
enum { SLOT = 8, TAG = 0, BLO = 1, BHI = 2, PERMS = 3, INFO = 4, PREV = 5, NEXT = 6, REF = 7 };
static int32_t cap, used_, head = -1, tail = -1, free_head = -1;
static int32_t *tm;
static double *tf;
static uint64_t st_trans, st_hits, st_miss, st_walks, st_ste, st_cd, st_fills, fast_hits;
typedef struct { int ok; uint64_t pa; } tres_t;
static tres_t tres;
/* tlb.ts's hash index: one open-addressing table (linear probing, backward-shift deletion) from
 * (tag, block) to slot, a power of two >= 2 x capacity, the same multiplicative hash. */
static int32_t *tindex;
static uint32_t tmask, thshift;

static void link_tail(int32_t s) {
  tm[s * SLOT + PREV] = tail; tm[s * SLOT + NEXT] = -1;
  if (tail >= 0) tm[tail * SLOT + NEXT] = s; else head = s;
  tail = s;
}
static void unlink_(int32_t s) {
  int32_t p = tm[s * SLOT + PREV], n = tm[s * SLOT + NEXT];
  if (p >= 0) tm[p * SLOT + NEXT] = n; else head = n;
  if (n >= 0) tm[n * SLOT + PREV] = p; else tail = p;
}
static void to_tail(int32_t s) { if (tail == s) return; unlink_(s); link_tail(s); }
static int class_of(int shift) { for (int c = 0; c < NCLASS; c++) if (CLASS_SHIFT[c] == shift) return c; return -1; }
static ctx_t *ctx_of(int id) { return id ? &ctx_g : &ctx_a; }
static inline uint32_t tbucket(int32_t tag, uint64_t block) {
  uint32_t x = (uint32_t)block ^ (((uint32_t)(block >> 32) + (uint32_t)tag * 512u) * 0x85ebca6bu);
  return ((x ^ (x >> 16)) * 0x9e3779b1u) >> thshift;
}
static inline int32_t tfind(int32_t tag, uint64_t block) {
  int32_t lo = (int32_t)(uint32_t)block, hi = (int32_t)(uint32_t)(block >> 32);
  for (uint32_t i = tbucket(tag, block); ; i = (i + 1) & tmask) {
    int32_t s = tindex[i];
    if (s < 0) return -1;
    const int32_t *e = tm + s * SLOT;
    if (e[BLO] == lo && e[TAG] == tag && e[BHI] == hi) return s;
  }
}
static uint64_t block_of(int32_t s) { return (uint64_t)(uint32_t)tm[s * SLOT + BHI] << 32 | (uint32_t)tm[s * SLOT + BLO]; }
static uint32_t thome(int32_t s) { return tbucket(tm[s * SLOT + TAG], block_of(s)); }
static void tdrop(int32_t slot) {
  uint32_t i = thome(slot);
  while (tindex[i] != slot) i = (i + 1) & tmask;
  for (uint32_t j = (i + 1) & tmask; ; j = (j + 1) & tmask) {
    int32_t s = tindex[j];
    if (s < 0) break;
    uint32_t h = thome(s);
    if (i <= j ? (i < h && h <= j) : (i < h || h <= j)) continue;
    tindex[i] = s; i = j;
  }
  tindex[i] = -1;
}
static void tlb_remove(int32_t s) {
  int32_t tag = tm[s * SLOT + TAG];
  ctx_t *c = ctx_of(tag >> 4); int k = tag & 15;
  tdrop(s);
  if (--c->counts[k] == 0) {
    int n = 0; for (int i = 0; i < c->npresent; i++) if (c->present[i] != k) c->present[n++] = c->present[i];
    c->npresent = n;
  }
  unlink_(s); tm[s * SLOT + TAG] = -1; tm[s * SLOT + NEXT] = free_head; free_head = s; used_--;
}
/* CLOCK eviction: referenced entries at the head lose their bit and go to the back. */
static void tlb_evict(void) {
  int32_t v = head;
  while (tm[v * SLOT + REF]) { tm[v * SLOT + REF] = 0; to_tail(v); v = head; }
  tlb_remove(v);
}
/* lookupPair: ASID-tagged context, then global; one probe per block size present; CLOCK ref. */
static inline int32_t tlb_lookup(const ctx_t *first, const ctx_t *second, uint64_t addr) {
  const ctx_t *c = first;
  for (;;) {
    for (int k = 0; k < c->npresent; k++) {
      int cl = c->present[k];
      int32_t tag = c->id * 16 + cl;
      uint64_t block = addr >> CLASS_SHIFT[cl];
      int32_t lo = (int32_t)(uint32_t)block, hi = (int32_t)(uint32_t)(block >> 32);
      for (uint32_t i = tbucket(tag, block); ; i = (i + 1) & tmask) {
        int32_t s = tindex[i];
        if (s < 0) break;
        int32_t *e = tm + s * SLOT;
        if (e[BLO] == lo && e[TAG] == tag && e[BHI] == hi) { e[REF] = 1; return s; }
      }
    }
    if (c == second) return -1;
    c = second;
  }
}
static void tlb_insert(int id, uint64_t addr, int shift, uint64_t oa, uint64_t ipa, int p1, int p2, int attr, int level, int kind12) {
  ctx_t *c = ctx_of(id); int k = class_of(shift);
  uint64_t block = addr >> shift;
  int32_t tag = id * 16 + k;
  int32_t s = tfind(tag, block);
  if (s < 0) {
    if (free_head < 0) tlb_evict();
    s = free_head; free_head = tm[s * SLOT + NEXT]; used_++;
    if (c->counts[k]++ == 0) {
      int i = c->npresent++;
      while (i > 0 && c->present[i - 1] > k) { c->present[i] = c->present[i - 1]; i--; }
      c->present[i] = k;
    }
    tm[s * SLOT + TAG] = tag; tm[s * SLOT + BLO] = (int32_t)(uint32_t)block; tm[s * SLOT + BHI] = (int32_t)(uint32_t)(block >> 32);
    uint32_t i = tbucket(tag, block);
    while (tindex[i] >= 0) i = (i + 1) & tmask;
    tindex[i] = s;
    link_tail(s);
  }
  tm[s * SLOT + REF] = 1;
  int hit = kind12 ? ((p1 & p2 & 0x3f) | ((p1 | p2) & 0xc0)) : p1;
  tm[s * SLOT + PERMS] = hit | (p1 & 0xff) << 8 | (p2 & 0xff) << 16 | shift << 24;
  tm[s * SLOT + INFO] = (level + 1) | 12 << 3 | attr << 11;
  tf[s * 2] = (double)oa - (double)(block << shift); tf[s * 2 + 1] = (double)ipa;
  st_fills++;
}
static void tlb_init(int32_t n) {
  cap = n;
  tm = malloc((size_t)n * SLOT * 4); tf = malloc((size_t)n * 2 * sizeof *tf);
  for (int i = 0; i < n; i++) { tm[i * SLOT + TAG] = -1; tm[i * SLOT + NEXT] = i + 1 < n ? i + 1 : -1; }
  free_head = n > 0 ? 0 : -1;
  int bits = 1; while ((1u << bits) < 2u * (uint32_t)n) bits++;
  tindex = malloc((1u << bits) * 4); memset(tindex, 0xff, (1u << bits) * 4);
  tmask = (1u << bits) - 1; thshift = 32 - bits;
  hinit(&ste_cache, 1024); hinit(&cd_cache, 1024);
  ste_used = calloc(1024, 8); cd_used = calloc(1024, 8);
  hset(&ste_cache, 0x10, 0); hset(&cd_cache, 0x10ULL << 20, 0);
}

/* translate.ts's remembered configuration: (StreamID, SubstreamID), the caches' version and the
 * clock after the last re-stamp, the cache slots, the input limit, the flags forced by PRIVCFG /
 * INSTCFG; the last-result fields (PA and attrsOf's key). */
static int64_t m_sid = -1, m_ssid = -2;
static int64_t m_ver = -1, m_clock = -1;
static int32_t m_ste_slot, m_cd_slot, m_keep = 7, m_set = 0;
static uint64_t m_limit;
static uint64_t last_pa; static int last_info;
/* walker.ts checkPermission: need bit, PAN, dirty-state check. */
static inline int perm_ok(uint32_t perms, int write, int priv) {
  uint32_t need = write ? (priv ? 2 : 16) : (priv ? 1 : 8);
  if (!(perms & need)) return 0;
  if (priv && (perms & 0x80)) return 0; /* PAN */
  if (write && (perms & 0x40)) return 0; /* DIRTY_PENDING */
  return 1;
}
/* The PERM_NEED / PERM_DENY masks per FAST_ACCESS value (write 1, priv 2, inst 4). */
static const uint8_t PERM_NEED[8] = {8, 16, 1, 2, 32, 16, 4, 2};
static const uint8_t PERM_DENY[8] = {0, 64, 128, 192, 0, 64, 0, 192};

/* One transaction by StreamID 0x10 without a SubstreamID, access flags `flags`. */
static void translate(uint64_t iova, int flags, const params_t *p1, const params_t *p2) {
  /* translateFast's hit path: remembered config, TLB lookup, permission mask, PA. */
  if (m_sid == 0x10 && m_ssid == -1 && (int64_t)cache_version == m_ver && iova < m_limit && (flags & 7) == flags) {
    int32_t s = tlb_lookup(&ctx_a, &ctx_g, iova);
    if (s >= 0) {
      int f = (flags & m_keep) | m_set;
      int32_t p = tm[s * SLOT + PERMS];
      if ((p & PERM_NEED[f]) && !(p & PERM_DENY[f])) {
        if ((int64_t)cache_clock != m_clock) {
          ste_used[m_ste_slot] = ++cache_clock; cd_used[m_cd_slot] = ++cache_clock; m_clock = (int64_t)cache_clock;
        }
        fast_hits++;
        uint64_t pa = (uint64_t)((double)iova + tf[s * 2]);
        last_pa = pa;
        last_info = (tm[s * SLOT + INFO] >> 11) * 64 + (f & 2) + ((f & 5) == 4);
        tres.ok = 1; tres.pa = pa;
        return;
      }
    }
  }
  /* fastMiss: the remembered configuration (missRemembered: its STE/CD re-stamped as on a hit,
   * no cache lookups), or the general path (STE and CD cache lookups, remember). */
  int write = flags & 1, priv = (flags >> 1) & 1;
  st_trans++;
  if (iova >= (1ULL << 53)) abort();
  uint64_t key = iova;
  if (m_sid == 0x10 && m_ssid == -1 && (int64_t)cache_version == m_ver && iova < m_limit) {
    if ((int64_t)cache_clock != m_clock) {
      ste_used[m_ste_slot] = ++cache_clock; cd_used[m_cd_slot] = ++cache_clock; m_clock = (int64_t)cache_clock;
    }
    st_ste++; st_cd++;
  } else {
    int32_t si = hget(&ste_cache, 0x10); ste_used[si] = ++cache_clock; st_ste++;
    int32_t ci = hget(&cd_cache, 0x10ULL << 20); cd_used[ci] = ++cache_clock; st_cd++;
    if (key >= (1ULL << p1->input_bits)) { tres.ok = 0; return; }
    m_sid = 0x10; m_ssid = -1; m_ver = (int64_t)cache_version; m_clock = -1;
    m_ste_slot = si; m_cd_slot = ci; m_limit = 1ULL << p1->input_bits;
  }
  int32_t slot = tlb_lookup(&ctx_a, &ctx_g, key);
  uint64_t pa; int attr;
  if (slot >= 0) {
    int32_t p = tm[slot * SLOT + PERMS];
    if (!perm_ok(p & 0xff, write, priv)) abort();
    st_hits++;
    pa = (uint64_t)((double)key + tf[slot * 2]);
    attr = tm[slot * SLOT + INFO] >> 11;
  } else {
    st_miss++; st_walks++;
    if (p2) {
      if (!walk_stage(p1, 1, key, write, priv, &L1, p2, &TT) || !walk_stage(p2, 2, L1.oa, write, priv, &L2, 0, 0)) { tres.ok = 0; return; }
      fill(&L1, &L2, key);
    } else {
      if (!walk_stage(p1, 1, key, write, priv, &L1, 0, 0)) { tres.ok = 0; return; }
      fill(&L1, 0, key);
    }
    int shift = res.block_shift;
    attr = (res.attr_indx & 0xff) + 512 * (res.sh & 3);
    uint64_t lowmask = (1ULL << shift) - 1;
    tlb_insert(res.ng ? 0 : 1, key, shift, res.oa & ~lowmask, p2 ? res.ipa & ~lowmask : ~0ULL,
               (int)res.s1_perms, p2 ? (int)res.s2_perms : 0xff, attr, res.s1_level, p2 != 0);
    pa = res.oa;
  }
  /* noteHit: the last-result fields (lastResult builds the attribute object on demand) */
  last_pa = pa; last_info = attr * 64 + priv * 2;
  tres.ok = 1; tres.pa = pa;
}

static const int FIELDS[16][2] = {
  {5, 0}, {7, 6}, {9, 8}, {11, 10}, {13, 12}, {14, 14}, {15, 15}, {21, 16},
  {29, 22}, {30, 30}, {31, 31}, {34, 32}, {38, 35}, {41, 39}, {47, 42}, {63, 48}};

static double now_ns(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: walk DATA\n"); return 2; }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 2; }
  uint32_t hdr[4]; uint64_t ttb[2]; int32_t geo[6];
  if (fread(hdr, 4, 4, f) != 4 || fread(ttb, 8, 2, f) != 2 || fread(geo, 4, 6, f) != 6) return 2;
  uint32_t mode = hdr[0], npages = hdr[1], nitems = hdr[2];
  nbuckets = 1; while (nbuckets < npages / 2 + 1) nbuckets <<= 1;
  buckets = malloc(nbuckets * sizeof *buckets); memset(buckets, 0xff, nbuckets * sizeof *buckets);
  entries = malloc((npages + 1) * sizeof *entries);
  for (uint32_t i = 0; i < npages; i++) {
    uint64_t pfn; uint32_t *pg = malloc(4096);
    if (fread(&pfn, 8, 1, f) != 1 || fread(pg, 4, 1024, f) != 1024) return 2;
    insert(pfn, pg);
  }
  uint64_t *items = malloc(nitems * 8);
  if (fread(items, 8, nitems, f) != nitems) return 2;
  fclose(f);
  params_t p1 = { ttb[0], geo[0], geo[1], geo[2] }, p2 = { ttb[1], geo[3], geo[4], geo[5] };
  enum { REPS = 15 };
  double samples[REPS];
  uint64_t sum = 0;
  uint32_t rounds = mode == 3 ? 2000 : 400;
  if (mode >= 4) tlb_init(mode == 4 ? 4096 : 16);
  for (int rep = 0; rep < REPS; rep++) {
    sum = 0;
    double t0 = now_ns();
    for (uint32_t r = 0; r < rounds; r++) {
      for (uint32_t i = 0; i < nitems; i++) {
        if (mode == 1) {
          if (walk_stage(&p1, 1, items[i], 0, 0, &L1, 0, 0)) { fill(&L1, 0, items[i]); sum += res.oa; }
        } else if (mode == 2) {
          if (walk_stage(&p1, 1, items[i], 0, 0, &L1, &p2, &TT) &&
              walk_stage(&p2, 2, L1.oa, 0, 0, &L2, 0, 0)) { fill(&L1, &L2, items[i]); sum += res.oa; }
        } else if (mode >= 4) {
          translate(items[i], 0, &p1, mode == 6 ? &p2 : 0);
          if (tres.ok) sum += tres.pa;
        } else {
          uint64_t w = items[i];
          for (int k = 0; k < 16; k++) {
            int hi = FIELDS[k][0], lo = FIELDS[k][1];
            sum += (w >> lo) & ((hi - lo == 63) ? ~0ULL : ((1ULL << (hi - lo + 1)) - 1));
          }
        }
      }
    }
    samples[rep] = (now_ns() - t0) / ((double)rounds * nitems);
  }
  qsort(samples, REPS, sizeof samples[0], cmp_d);
  printf("%.3f %llu %llu\n", samples[REPS / 2], (unsigned long long)sum, (unsigned long long)accesses);
  return 0;
}
