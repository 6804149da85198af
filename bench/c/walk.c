/*
 * C baseline for bench/run.ts (formats.md §10): the same work as the TypeScript walker on the
 * same data structure. Memory is a hash of page number -> 4 KiB page laid out like V8's
 * OrderedHashMap (power-of-two bucket array, chained entries, V8's integer hash of the key) with
 * SparseMemory's one-entry last-page cache, bounds check and abort check; the walk mirrors
 * src/pgtable/walker.ts (index, abort check, descriptor read, validity, address size, AF,
 * permissions, result record). Modes 4-6 mirror the SMMU model's translate (src/smmu/translate.ts,
 * tlb.ts, config-cache.ts). A TLB hit takes fastHit's path: the remembered configuration of
 * the last (StreamID, SubstreamID) (two version compares), the STE and CD LRU stamps, the TLB
 * lookups (ASID-tagged, then global; one probe of tlb.ts's open-addressing index per block size
 * present, LRU list update), the permission check, the output address and the last-result
 * fields. Anything else: STE and CD cache lookups, the walk above, the TLB insertion with LRU
 * eviction and the attribute-cache lookup. Mode 4: TLB of 4096 entries, warm (hits); 5: 16 entries over 256 pages
 * (every access misses and walks, stage 1); 6: the same, nested. Input: a data file written by
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
static hmap_t ste_cache, cd_cache, attr_cache;
static uint64_t *ste_used, *cd_used, clock_;
static int32_t cap, used_, head = -1, tail = -1, freetop;
static int32_t *s_ctx, *prv, *nxt, *freel;
static uint64_t *s_block, *s_oa, *s_ipa;
static uint8_t *s_shift, *s_perm1, *s_perm2, *s_level, *s_gran;
static uint16_t *s_attr;
static uint64_t st_trans, st_hits, st_miss, st_walks, st_ste, st_cd, st_fills;
typedef struct { int ok; uint64_t pa; int attrs; } tres_t;
static tres_t tres;
/* tlb.ts's hash index: one open-addressing table (linear probing, backward-shift deletion) from
 * (context, class, block) to slot, a power of two >= 2 x capacity, the same multiplicative hash. */
static int32_t *tindex;
static uint32_t tmask, thshift;

static void link_tail(int32_t s) { prv[s] = tail; nxt[s] = -1; if (tail >= 0) nxt[tail] = s; else head = s; tail = s; }
static void unlink_(int32_t s) {
  int32_t p = prv[s], n = nxt[s];
  if (p >= 0) nxt[p] = n; else head = n;
  if (n >= 0) prv[n] = p; else tail = p;
}
static void to_tail(int32_t s) { if (tail == s) return; unlink_(s); link_tail(s); }
static int class_of(int shift) { for (int c = 0; c < NCLASS; c++) if (CLASS_SHIFT[c] == shift) return c; return -1; }
static ctx_t *ctx_of(int id) { return id ? &ctx_g : &ctx_a; }
static inline uint32_t tbucket(int id, int c, uint64_t block) {
  uint32_t x = (uint32_t)block ^ ((uint32_t)(block >> 32) * 0x85ebca6bu) ^ ((uint32_t)(id * 16 + c) * 0xc2b2ae35u);
  return ((x ^ (x >> 16)) * 0x9e3779b1u) >> thshift;
}
static inline int32_t tfind(int id, int c, uint64_t block) {
  uint8_t shift = (uint8_t)CLASS_SHIFT[c];
  for (uint32_t i = tbucket(id, c, block); ; i = (i + 1) & tmask) {
    int32_t s = tindex[i];
    if (s < 0) return -1;
    if (s_block[s] == block && s_ctx[s] == id && s_shift[s] == shift) return s;
  }
}
static uint32_t thome(int32_t s) { return tbucket(s_ctx[s], class_of(s_shift[s]), s_block[s]); }
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
  ctx_t *c = ctx_of(s_ctx[s]); int k = class_of(s_shift[s]);
  tdrop(s);
  if (--c->counts[k] == 0) {
    int n = 0; for (int i = 0; i < c->npresent; i++) if (c->present[i] != k) c->present[n++] = c->present[i];
    c->npresent = n;
  }
  unlink_(s); freel[freetop++] = s; used_--;
}
static inline int32_t tlb_lookup(const ctx_t *c, uint64_t addr) {
  for (int i = 0; i < c->npresent; i++) {
    int k = c->present[i];
    int32_t s = tfind(c->id, k, addr >> CLASS_SHIFT[k]);
    if (s >= 0) { to_tail(s); return s; }
  }
  return -1;
}
static void tlb_insert(int id, uint64_t addr, int shift, uint64_t oa, uint64_t ipa, int p1, int p2, int attr, int level) {
  ctx_t *c = ctx_of(id); int k = class_of(shift);
  uint64_t block = addr >> shift;
  int32_t s = tfind(id, k, block);
  if (s < 0) {
    if (freetop == 0) tlb_remove(head);
    s = freel[--freetop]; used_++;
    if (c->counts[k]++ == 0) {
      int i = c->npresent++;
      while (i > 0 && c->present[i - 1] > k) { c->present[i] = c->present[i - 1]; i--; }
      c->present[i] = k;
    }
    s_ctx[s] = id; s_block[s] = block; s_shift[s] = (uint8_t)shift;
    uint32_t i = tbucket(id, k, block);
    while (tindex[i] >= 0) i = (i + 1) & tmask;
    tindex[i] = s;
    link_tail(s);
  } else to_tail(s);
  s_oa[s] = oa; s_ipa[s] = ipa;
  s_perm1[s] = (uint8_t)p1; s_perm2[s] = (uint8_t)p2; s_attr[s] = (uint16_t)attr;
  s_level[s] = (uint8_t)level; s_gran[s] = 12; st_fills++;
}
static void tlb_init(int32_t n) {
  cap = n; freetop = n;
  s_ctx = malloc(n * 4); prv = malloc(n * 4); nxt = malloc(n * 4); freel = malloc(n * 4);
  s_block = malloc(n * 8); s_oa = malloc(n * 8); s_ipa = malloc(n * 8);
  s_shift = malloc(n); s_perm1 = malloc(n); s_perm2 = malloc(n); s_level = malloc(n); s_gran = malloc(n);
  s_attr = malloc(n * 2);
  for (int i = 0; i < n; i++) freel[i] = n - 1 - i;
  int bits = 1; while ((1u << bits) < 2u * (uint32_t)n) bits++;
  tindex = malloc((1u << bits) * 4); memset(tindex, 0xff, (1u << bits) * 4);
  tmask = (1u << bits) - 1; thshift = 32 - bits;
  hinit(&ste_cache, 1024); hinit(&cd_cache, 1024); hinit(&attr_cache, 64);
  ste_used = calloc(1024, 8); cd_used = calloc(1024, 8);
  hset(&ste_cache, 0x10, 0); hset(&cd_cache, 0x10ULL << 20, 0);
}

/* The remembered configuration of translate.ts's fastHit: (StreamID, SubstreamID), the two
 * config caches' versions, the cache slots, the input limit, and the last-result fields. */
static int64_t m_sid = -1, m_ssid = -2;
static uint32_t ste_ver, cd_ver, m_ste_ver = ~0u, m_cd_ver = ~0u;
static int32_t m_ste_slot, m_cd_slot;
static uint64_t m_limit;
static uint64_t last_pa; static int last_attr, last_alloc, last_priv, last_inst;
/* walker.ts checkPermission: need bit, PAN, dirty-state check. */
static inline int perm_ok(uint32_t perms, int write, int priv) {
  uint32_t need = write ? (priv ? 2 : 16) : (priv ? 1 : 8);
  if (!(perms & need)) return 0;
  if (priv && (perms & 0x80)) return 0; /* PAN */
  if (write && (perms & 0x40)) return 0; /* DIRTY_PENDING */
  return 1;
}

/* One transaction (read, unprivileged, data) by StreamID 0x10 without a SubstreamID. */
static void translate(uint64_t iova, const params_t *p1, const params_t *p2) {
  const int write = 0, priv = 0;
  if (iova >> 63 && iova > ~0ULL) abort(); /* request range checks */
  /* The TLB-hit path (fastHit): remembered config, TLB lookups, permission check, PA. */
  if (m_sid == 0x10 && m_ssid == -1 && ste_ver == m_ste_ver && cd_ver == m_cd_ver && iova < m_limit) {
    int32_t s = tlb_lookup(&ctx_a, iova);
    if (s < 0) s = tlb_lookup(&ctx_g, iova);
    if (s >= 0 && perm_ok(s_perm1[s], write, priv) && (p2 == 0 || perm_ok(s_perm2[s], write, priv))) {
      ste_used[m_ste_slot] = ++clock_; cd_used[m_cd_slot] = ++clock_;
      st_trans++; st_ste++; st_cd++; st_hits++;
      last_pa = s_oa[s] + (iova & ((1ULL << s_shift[s]) - 1));
      last_attr = s_attr[s]; last_alloc = -1; last_priv = priv; last_inst = 0;
      tres.ok = 1; tres.pa = last_pa; tres.attrs = last_attr;
      return;
    }
  }
  st_trans++;
  int32_t si = hget(&ste_cache, 0x10); ste_used[si] = ++clock_; st_ste++;
  int32_t ci = hget(&cd_cache, 0x10ULL << 20); cd_used[ci] = ++clock_; st_cd++;
  if (iova >= (1ULL << 53)) abort();
  uint64_t key = iova;
  if (key >= (1ULL << p1->input_bits)) { tres.ok = 0; return; }
  /* remember the configuration for the hit path */
  m_sid = 0x10; m_ssid = -1; m_ste_ver = ste_ver; m_cd_ver = cd_ver; m_ste_slot = si; m_cd_slot = ci;
  m_limit = 1ULL << p1->input_bits;
  int32_t slot = tlb_lookup(&ctx_a, key);
  if (slot < 0) slot = tlb_lookup(&ctx_g, key);
  uint64_t pa; int attr;
  if (slot >= 0) {
    int nested = p2 != 0;
    if (!perm_ok(s_perm1[slot], write, priv) || (nested && !perm_ok(s_perm2[slot], write, priv))) abort();
    st_hits++;
    pa = s_oa[slot] + (key & ((1ULL << s_shift[slot]) - 1));
    attr = s_attr[slot];
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
               (int)res.s1_perms, p2 ? (int)res.s2_perms : 0xff, attr, res.s1_level);
    pa = res.oa;
  }
  /* the shared attribute object of (attr, alloc, priv, inst) */
  uint64_t ak = (((uint64_t)attr * 16 + 0) * 2 + (uint64_t)priv) * 2 + 0;
  int32_t ai = hget(&attr_cache, ak);
  if (ai < 0) { ai = (int32_t)attr_cache.top; hset(&attr_cache, ak, ai); }
  tres.ok = 1; tres.pa = pa; tres.attrs = ai;
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
          translate(items[i], &p1, mode == 6 ? &p2 : 0);
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
