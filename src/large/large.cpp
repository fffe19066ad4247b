// The large tier: blocks above kMaxSlabBlock, as runs of 2 MiB chunks in reserved regions.
//
// Design. The tier maps address space in regions (at least 8 MiB, growing to 64 MiB as
// the tier grows, or the request's size), chunk-aligned, and hands out blocks as runs of
// whole chunks. A block's header sits at the base of its first chunk (chunk map:
// kChunkLarge, later chunks kChunkLargeTail), exactly as when each block had its own
// mapping; what is new is where freed chunks go. Every free run of chunks is one entry
// of a small table kept sorted by address (g_ranges, no allocation, one lock). A freed
// block's run is inserted and merged with the free runs on either side, so a freed
// 20 MiB block plus its free neighbour serve a 23 MiB request; an allocation takes the
// front of the best-fitting run (runs that hold resident pages first), so a freed block
// is reused warm: no purge, no mapping, no page fault. Regions are asked for right below
// the previous one, so their free ends merge too.
//
// Each free run carries `dirty`, an upper bound of its bytes that may be resident (0 means
// every page of it is zero: never touched, or given back since), and a stamp: when it
// last got dirty, or when it became clean. The sum of `dirty` is the tier's share of the
// retention budget (src/policy/retention.h): it is what a large free adds there, and when
// the budget is exceeded large_purge_bytes gives back the oldest dirty runs (a fully dirty
// run only as much of its tail as asked). Giving back is madvise(MADV_DONTNEED): the run
// stays in the table, clean, for reuse without a new mapping; a block taken from a clean
// run is zero (calloc skips its memset). Runs that stay dirty for HAKMEM_PURGE_DELAY_MS are
// purged by age; runs that stay clean for kUnmapFactor times as long are unmapped, so the
// address space does not grow without bound; malloc_trim / hak_collect unmap every free
// run. System calls (madvise, munmap) are made outside the lock, on runs taken out of the
// table for the time being; a run that does not fit in the full table is unmapped.
//
// With HAKMEM_LARGE_THP=1 there are two classes of regions: blocks of 4 MiB or more come
// from regions advised for transparent huge pages (once per region, not per block),
// smaller ones from regions left with 4 KiB pages, where a 200 KiB block keeps 200 KiB
// resident rather than a whole huge page; runs merge and are reused only within their
// class. By default there is one class and no advice: on bench/big_churn the advice made
// a run 0.5 s when the kernel had huge pages free and 1.5 s when it had to compact memory
// for them (THP defrag "madvise"), against a steady 0.7 s with 4 KiB pages; and two
// classes fragment more (bench/large: 48K page faults and 31K ops/s with two classes of
// 4 KiB-page regions, 12K and 48K ops/s with one).
//
// Blocks aligned to 2 MiB or more (kChunkLargeAligned: the header sits in the chunk below
// the user block) keep a mapping of their own and are unmapped when freed.
#include "large/large.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/spin_lock.h"
#include "config/options.h"
#include "diag/debug_ring.h"
#include "diag/profile.h"
#include "diag/report.h"
#include "diag/valgrind.h"
#include "os/os.h"
#include "policy/purger.h"
#include "policy/retention.h"

namespace hakmem {

namespace {

constexpr uint64_t kLargeMagic = 0x48414b4c41524745ull;  // "HAKLARGE"
constexpr uint32_t kMaxRanges = 512;                   // free runs in the table
constexpr size_t kRegionMin = size_t(8) << 20;
constexpr size_t kRegionMax = size_t(64) << 20;
constexpr uint32_t kUnmapFactor = 4;  // clean runs are unmapped after 4x the purge delay
constexpr uint32_t kBatch = 32;       // runs handled per lock round by the purges

enum class LargeState : uint32_t { kLive = 1, kFree = 2 };
constexpr uint32_t kOwnMapping = 1;  // LargeHeader::flags: a mapping of its own (aligned)
constexpr uint32_t kHugeRun = 2;     // LargeHeader::flags: a run in a huge-page region
// Blocks of at least this much are runs in regions advised for transparent huge pages
// (fewer faults and TLB misses); smaller ones live in regions left with 4 KiB pages, where
// a 200 KiB block in its 2 MiB chunk keeps 200 KiB resident, not a whole huge page.
constexpr size_t kHugeMin = size_t(4) << 20;

struct LargeHeader {
  uint64_t magic;
  void* user;
  void* map_base;   // start of the block (chunk-aligned) or of its own mapping
  size_t map_size;  // bytes from map_base that belong to the block's usable extent
  LargeState state;
  uint32_t flags;
  size_t span;      // chunk run: bytes of address space the block owns (>= map_size)
  void* sample;     // the heap profiler's record when the block was sampled
};
static_assert(sizeof(LargeHeader) <= 64, "the user block starts 64 bytes in");

struct Range {
  uintptr_t start;  // chunk-aligned
  size_t size;      // multiple of kChunkSize
  size_t dirty;     // sum of its chunks' resident extents; 0: all pages read as zero
  uint64_t stamp;   // ms: when it last got dirty (dirty > 0) or became clean
  bool huge;        // in a huge-page region: merges and serves only blocks of its class
};

// Resident extent of every chunk of the tier: how far from the chunk's start its pages may
// be resident, in 64 KiB units (0..32), an upper bound kept across reuse until the pages
// are given back. Two levels, so only the parts that cover the tier's regions are mapped.
constexpr size_t kUnit = size_t(64) << 10;
constexpr unsigned kLeafShift = 12;  // a leaf page covers 4096 chunks (8 GiB)
std::atomic<uint8_t*> g_extent_leaf[kChunkCount >> kLeafShift];

SpinLock g_lock;
Range g_ranges[kMaxRanges];  // sorted by start, never two adjacent ones; under g_lock
uint32_t g_nranges = 0;      // under g_lock
uint64_t g_dirty = 0;        // sum of dirty; under g_lock
std::atomic<uintptr_t> g_last_region[2];  // per class: the next one goes right below
std::atomic<uint64_t> g_blocks{0}, g_bytes{0}, g_maps{0}, g_unmaps{0}, g_mapped{0}, g_purged{0}, g_cached_stat{0};

size_t round_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

// Every change of the resident free bytes goes through here so the retention policy sees it.
void dirty_add(int64_t delta) {
  if (delta == 0) return;
  g_dirty += delta;
  g_cached_stat.store(g_dirty, std::memory_order_relaxed);
  retained_add(Retained::kLargeCache, delta);
}

// ---- resident extents ---------------------------------------------------------------

// Relaxed atomics, like the chunk map: a run's extents are written by whoever holds the
// run (a block's owner, the lock, a purge that took it out of the table), and the hand-
// over orders them, including through the kernel when an unmapped range is mapped again.
uint8_t* extent_slot(uintptr_t chunk_addr) {
  uintptr_t c = chunk_addr >> kChunkShift;
  return g_extent_leaf[c >> kLeafShift].load(std::memory_order_acquire) + (c & ((1u << kLeafShift) - 1));
}
uint8_t extent_of(uintptr_t chunk_addr) { return __atomic_load_n(extent_slot(chunk_addr), __ATOMIC_RELAXED); }
void set_extent(uintptr_t chunk_addr, uint8_t units) {
  __atomic_store_n(extent_slot(chunk_addr), units, __ATOMIC_RELAXED);
}

// Maps the leaves that cover [start, start + size); false when out of memory.
bool ensure_extent_leaves(uintptr_t start, size_t size) {
  uintptr_t first = (start >> kChunkShift) >> kLeafShift, last = ((start + size - 1) >> kChunkShift) >> kLeafShift;
  for (uintptr_t l = first; l <= last; l++) {
    if (g_extent_leaf[l].load(std::memory_order_acquire)) continue;
    auto* leaf = static_cast<uint8_t*>(os::map_aligned(size_t(1) << kLeafShift, os::kPageSize));
    if (!leaf) return false;
    uint8_t* expected = nullptr;
    if (!g_extent_leaf[l].compare_exchange_strong(expected, leaf, std::memory_order_acq_rel))
      os::unmap(leaf, size_t(1) << kLeafShift);  // another thread installed one
  }
  return true;
}

// Bytes of [start, start + size) that may be resident (both chunk-aligned).
size_t resident_in(uintptr_t start, size_t size) {
  size_t units = 0;
  for (uintptr_t c = start; c < start + size; c += kChunkSize) units += extent_of(c);
  return units * kUnit;
}

void clear_extents(uintptr_t start, size_t size) {
  for (uintptr_t c = start; c < start + size; c += kChunkSize) set_extent(c, 0);
}

// A block's run is freed: the program may have written anything up to the end of its
// usable extent. Returns the run's resident bytes.
size_t mark_written(uintptr_t start, size_t span, size_t map_size) {
  size_t units = 0;
  for (size_t off = 0; off < span; off += kChunkSize) {
    uint8_t e = extent_of(start + off);
    size_t used = map_size > off ? map_size - off : 0;
    if (used > kChunkSize) used = kChunkSize;
    uint8_t u = uint8_t((used + kUnit - 1) / kUnit);
    if (u > e) set_extent(start + off, e = u);
    units += e;
  }
  return units * kUnit;
}

// ---- the table of free runs (all under g_lock) --------------------------------------

uint32_t lower_bound(uintptr_t a) {
  uint32_t lo = 0, hi = g_nranges;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (g_ranges[mid].start < a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

void erase_at(uint32_t i) {
  memmove(&g_ranges[i], &g_ranges[i + 1], (g_nranges - i - 1) * sizeof(Range));
  g_nranges--;
}

// The stamp of two merged runs: the age of the dirt if only one holds some.
uint64_t merged_stamp(const Range& a, const Range& b) {
  if ((a.dirty > 0) != (b.dirty > 0)) return a.dirty ? a.stamp : b.stamp;
  return a.stamp > b.stamp ? a.stamp : b.stamp;
}

// Adds a free run, merged with its neighbours. False when the table is full.
bool insert_range(Range r) {
  uint32_t i = lower_bound(r.start);
  bool prev = i > 0 && g_ranges[i - 1].start + g_ranges[i - 1].size == r.start && g_ranges[i - 1].huge == r.huge;
  bool next = i < g_nranges && r.start + r.size == g_ranges[i].start && g_ranges[i].huge == r.huge;
  if (!prev && !next && g_nranges == kMaxRanges) return false;
  dirty_add(int64_t(r.dirty));
  if (prev) {
    Range& p = g_ranges[i - 1];
    p.stamp = merged_stamp(p, r);
    p.size += r.size;
    p.dirty += r.dirty;
    if (next) {
      p.stamp = merged_stamp(p, g_ranges[i]);
      p.size += g_ranges[i].size;
      p.dirty += g_ranges[i].dirty;
      erase_at(i);
    }
  } else if (next) {
    Range& n = g_ranges[i];
    n.stamp = merged_stamp(n, r);
    n.start = r.start;
    n.size += r.size;
    n.dirty += r.dirty;
  } else {
    memmove(&g_ranges[i + 1], &g_ranges[i], (g_nranges - i) * sizeof(Range));
    g_ranges[i] = r;
    g_nranges++;
  }
  return true;
}

Range take_at(uint32_t i) {
  Range r = g_ranges[i];
  dirty_add(-int64_t(r.dirty));
  erase_at(i);
  return r;
}

// Takes [at, at + bytes) out of run i (both chunk-aligned, inside the run), whose resident
// bytes are `dirty`; a piece in the middle leaves two runs.
void take_piece(uint32_t i, uintptr_t at, size_t bytes, size_t dirty) {
  Range& r = g_ranges[i];
  dirty_add(-int64_t(dirty));
  r.dirty -= dirty;
  uintptr_t end = r.start + r.size;
  if (at == r.start) {
    r.start += bytes;
    r.size -= bytes;
    if (r.size == 0) erase_at(i);
  } else if (at + bytes == end) {
    r.size -= bytes;
  } else {
    // The back part becomes a run of its own; if the table is full it stays with the
    // front (then the piece is taken from the front instead, see carve()).
    Range back{at + bytes, end - at - bytes, resident_in(at + bytes, end - at - bytes), r.stamp, r.huge};
    r.size = at - r.start;
    r.dirty -= back.dirty;
    memmove(&g_ranges[i + 2], &g_ranges[i + 1], (g_nranges - i - 1) * sizeof(Range));
    g_ranges[i + 1] = back;
    g_nranges++;
  }
}

// Takes `bytes` from run i: the chunk-aligned window that holds the most resident pages
// (the front on ties), so a block reuses as much warm memory as the run has. Returns the
// start; *dirty gets the resident bytes taken (0: the block reads as zero).
uintptr_t carve(uint32_t i, size_t bytes, size_t* dirty) {
  Range& r = g_ranges[i];
  uintptr_t best = r.start;
  size_t window = resident_in(r.start, bytes), most = window;
  if (r.dirty > window) {  // some other window may hold more
    for (uintptr_t at = r.start + kChunkSize; at + bytes <= r.start + r.size; at += kChunkSize) {
      window += (size_t(extent_of(at + bytes - kChunkSize)) - extent_of(at - kChunkSize)) * kUnit;
      bool middle = at + bytes < r.start + r.size;
      if (window > most && !(middle && g_nranges == kMaxRanges)) {
        most = window;
        best = at;
      }
    }
  }
  *dirty = most;
  take_piece(i, best, bytes, most);
  return best;
}

// Takes `bytes` off the front of run i (growing the block before it in place).
size_t carve_front(uint32_t i, size_t bytes) {
  size_t dirty = resident_in(g_ranges[i].start, bytes);
  take_piece(i, g_ranges[i].start, bytes, dirty);
  return dirty;
}

// The run that fits and can give the most resident bytes (each fault avoided is a page
// not zeroed again, and each resident byte used is one the budget need not purge); the
// smallest of those (best fit). -1 if none fits.
int pick_range(size_t span, bool huge) {
  int best = -1;
  size_t best_warm = 0;
  for (uint32_t i = 0; i < g_nranges; i++) {
    const Range& r = g_ranges[i];
    if (r.size < span || r.huge != huge) continue;
    size_t warm = r.dirty < span ? r.dirty : span;
    if (best < 0 || warm > best_warm || (warm == best_warm && r.size < g_ranges[best].size)) {
      best = int(i);
      best_warm = warm;
    }
  }
  return best;
}

// ---- system calls on runs out of the table (no lock held) ----------------------------

void unmap_range(const Range& r) {
  clear_extents(r.start, r.size);  // a region mapped there later starts clean
  // The run leaves the map before its pages do: once munmap returns, another thread may
  // map something there and register it, which a late clear would undo.
  chunk_map_set(reinterpret_cast<void*>(r.start), r.size, kChunkNone, kChunkNone);
  debug_ring_record(RingEvent::kOsUnmap, reinterpret_cast<void*>(r.start), r.size);
  os::unmap(reinterpret_cast<void*>(r.start), r.size);
  g_unmaps.fetch_add(1, std::memory_order_relaxed);
  g_mapped.fetch_sub(r.size, std::memory_order_relaxed);
  g_purged.fetch_add(r.dirty, std::memory_order_relaxed);
}

// Puts a run back into the table; unmaps it when the table is full.
void return_range(const Range& r) {
  bool ok;
  {
    LockGuard g(g_lock);
    ok = insert_range(r);
  }
  if (!ok) unmap_range(r);
}

// Gives a run's pages back and returns it to the table, clean.
void decommit_range(Range r, uint64_t now) {
  clear_extents(r.start, r.size);
  os::decommit(reinterpret_cast<void*>(r.start), r.size);
  g_purged.fetch_add(r.dirty, std::memory_order_relaxed);
  r.dirty = 0;
  r.stamp = now;
  return_range(r);
}

// ---- blocks -------------------------------------------------------------------------

// Extent of a block in a chunk run: 64 KiB steps. Growing by realloc stays in place up
// to the run's last chunk for free, and beyond it while a free run follows.
size_t run_size(size_t bytes) { return round_up(bytes, kUnit); }

// Mapping size for a block with a mapping of its own: 64 KiB steps, or an eighth of the
// power of two above 4 MiB, so that growing by realloc (mremap) stays in place a while.
size_t mapping_size(size_t bytes) {
  size_t step = size_t(64) << 10;
  if (bytes > (size_t(4) << 20)) step = (size_t(1) << (63 - __builtin_clzll(bytes - 1))) / 8;
  return round_up(bytes, step);
}

LargeHeader* header_of(const void* p, ChunkKind kind) {
  uintptr_t chunk = reinterpret_cast<uintptr_t>(p) & ~kChunkMask;
  if (kind == kChunkLarge) return reinterpret_cast<LargeHeader*>(chunk);
  if (kind == kChunkLargeAligned) return reinterpret_cast<LargeHeader*>(chunk - kChunkSize);
  return nullptr;
}

[[noreturn]] void report_double_free(const void* p, const char* caller) {
  Line().str("hakmem: ").str(caller).str("(): double free of ").ptr(p).write();
  debug_ring_dump_all(2);
  os::abort_process();
}

LargeHeader* checked_header(const void* p, ChunkKind kind, const char* caller) {
  LargeHeader* h = header_of(p, kind);
  if (!h || h->magic != kLargeMagic || h->user != p) {
    Line().str("hakmem: ").str(caller).str("(): invalid pointer ").ptr(p).str(" (not a block hakmem handed out)").write();
    debug_ring_dump_all(2);
    os::abort_process();
  }
  if (h->state != LargeState::kLive) report_double_free(p, caller);
  return h;
}

// Offset of the user pointer from a chunk-aligned block start, for align < 2 MiB.
size_t user_offset(size_t align) { return round_up(sizeof(LargeHeader), align < 64 ? 64 : align); }

size_t usable_of(const LargeHeader* h) {
  return static_cast<char*>(h->map_base) + h->map_size - static_cast<char*>(h->user);
}

// A new region of at least `span` bytes; the block takes its front, the rest becomes a
// clean free run. Asked for right below the previous region so their free ends merge.
uintptr_t map_region(size_t span, bool huge) {
  size_t region = round_up(g_mapped.load(std::memory_order_relaxed) / 4, kChunkSize);
  if (region < kRegionMin) region = kRegionMin;
  if (region > kRegionMax) region = kRegionMax;
  if (region < span) region = span;
  uintptr_t last = g_last_region[huge].load(std::memory_order_relaxed);
  void* hint = last > region ? reinterpret_cast<void*>(last - region) : nullptr;
  void* base = os::map_aligned_at(region, kChunkSize, hint);
  if (!base && region > span) base = os::map_aligned(region = span, kChunkSize);
  if (!base) return 0;
  if (!ensure_extent_leaves(reinterpret_cast<uintptr_t>(base), region)) {
    os::unmap(base, region);
    return 0;
  }
  // Huge pages for the whole region, once: no system call per block. Only when asked:
  // where the kernel's THP defrag mode is "madvise" (Debian's default), a fault in an
  // advised region compacts memory first when no huge page is free, and on a machine
  // whose memory is fragmented that stall costs more than the huge pages save.
  if (huge && g_options.large_thp) os::advise_huge(base, region);
  g_last_region[huge].store(reinterpret_cast<uintptr_t>(base), std::memory_order_relaxed);
  debug_ring_record(RingEvent::kOsMap, base, region);
  g_maps.fetch_add(1, std::memory_order_relaxed);
  g_mapped.fetch_add(region, std::memory_order_relaxed);
  chunk_map_set(base, region, kChunkLargeTail, kChunkLargeTail);  // no block starts there yet
  uintptr_t start = reinterpret_cast<uintptr_t>(base);
  if (region > span) return_range(Range{start + span, region - span, 0, os::now_ms(), huge});
  return start;
}

void* alloc_run(size_t need, size_t align, bool* fresh) {
  size_t span = round_up(need, kChunkSize);
  bool huge = g_options.large_thp && need >= kHugeMin;  // one class of regions unless huge pages are asked for
  uintptr_t start = 0;
  size_t dirty = 0;
  {
    LockGuard g(g_lock);
    int i = pick_range(span, huge);
    if (i >= 0) start = carve(uint32_t(i), span, &dirty);
  }
  if (!start && !(start = map_region(span, huge))) return nullptr;
  chunk_map_set(reinterpret_cast<void*>(start), span, kChunkLarge, kChunkLargeTail);
  auto* h = reinterpret_cast<LargeHeader*>(start);
  *h = LargeHeader{kLargeMagic, reinterpret_cast<char*>(start) + user_offset(align), h, need, LargeState::kLive,
                   huge ? kHugeRun : 0, span, nullptr};
  *fresh = dirty == 0;  // the header is written below the user block
  // Live bytes are what the block may touch, not the chunks it spans: a 200 KiB block
  // holds a 2 MiB chunk, and counting 2 MiB would inflate the retention budget tenfold.
  live_large_bytes_add(int64_t(need));
  return h->user;
}

void* alloc_own_mapping(size_t size, size_t align) {
  // The user block starts on a chunk boundary; its header sits at the start of the
  // chunk below, which the mapping also covers.
  size_t span = round_up(align + size, os::kPageSize);
  char* base = static_cast<char*>(os::map_aligned(span, align));
  if (!base) return nullptr;
  void* user = base + align;
  auto* h = reinterpret_cast<LargeHeader*>(static_cast<char*>(user) - kChunkSize);
  *h = LargeHeader{kLargeMagic, user, base, span, LargeState::kLive, kOwnMapping, 0, nullptr};
  chunk_map_set(base, span, kChunkLargeTail, kChunkLargeTail);
  chunk_map_set(user, kChunkSize, kChunkLargeAligned, kChunkLargeAligned);
  debug_ring_record(RingEvent::kOsMap, base, span);
  g_maps.fetch_add(1, std::memory_order_relaxed);
  g_mapped.fetch_add(span, std::memory_order_relaxed);
  live_large_bytes_add(int64_t(span));
  return user;
}

void release_own_mapping(LargeHeader* h) {
  void* base = h->map_base;
  size_t size = h->map_size;
  chunk_map_set(base, size, kChunkNone, kChunkNone);
  debug_ring_record(RingEvent::kOsUnmap, base, size);
  os::unmap(base, size);
  g_unmaps.fetch_add(1, std::memory_order_relaxed);
  g_mapped.fetch_sub(size, std::memory_order_relaxed);
  g_purged.fetch_add(size, std::memory_order_relaxed);
}

}  // namespace

void* large_alloc(size_t size, size_t align, bool* fresh) {
  if (align < 16) align = 16;
  if (fresh) *fresh = false;
  if (size > (size_t(1) << 46) || align > (size_t(1) << 40)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* user;
  bool zero = true;
  if (align < kChunkSize) user = alloc_run(run_size(user_offset(align) + size), align, &zero);
  else user = alloc_own_mapping(size, align);
  if (!user) {
    errno = ENOMEM;
    return nullptr;
  }
  if (fresh) *fresh = zero;
  g_blocks.fetch_add(1, std::memory_order_relaxed);
  LargeHeader* h = header_of(user, chunk_kind_of(user));
  g_bytes.fetch_add(usable_of(h), std::memory_order_relaxed);
  if (profile_on()) h->sample = profile_large_alloc(usable_of(h));
  if (g_options.guard) vg_malloclike(user, size, zero);
  purger_poll();  // no lock held here
  return user;
}

size_t large_usable_size(const void* p, ChunkKind kind, const char* caller) {
  return usable_of(checked_header(p, kind, caller));
}

void large_free(void* p, ChunkKind kind, const char* caller) {
  LargeHeader* h = checked_header(p, kind, caller);
  if (g_options.guard) vg_freelike(p);
  // Exchanged, so that of two racing frees of a sampled block only one forgets the sample.
  if (void* sample = __atomic_exchange_n(&h->sample, nullptr, __ATOMIC_RELAXED)) profile_large_free(sample);
  size_t usable = usable_of(h);
  if (h->flags & kOwnMapping) {
    bool was_live;
    {
      LockGuard g(g_lock);  // a racing double free reports as one
      was_live = h->state == LargeState::kLive;
      h->state = LargeState::kFree;
    }
    if (!was_live) report_double_free(p, caller);
    g_blocks.fetch_sub(1, std::memory_order_relaxed);
    g_bytes.fetch_sub(usable, std::memory_order_relaxed);
    live_large_bytes_add(-int64_t(h->map_size));
    release_own_mapping(h);
    return;
  }
  Range r{reinterpret_cast<uintptr_t>(h), h->span, 0, os::now_ms(), (h->flags & kHugeRun) != 0};
  size_t live_size = h->map_size;  // read before the run is back in the table: then the header is anyone's
  bool was_live, ok = false;
  {
    LockGuard g(g_lock);
    was_live = h->state == LargeState::kLive;
    if (was_live) {
      h->state = LargeState::kFree;  // the header stays: a later free of p is a double free
      r.dirty = mark_written(r.start, r.size, h->map_size);
      ok = insert_range(r);
    }
  }
  if (!was_live) report_double_free(p, caller);
  g_blocks.fetch_sub(1, std::memory_order_relaxed);
  g_bytes.fetch_sub(usable, std::memory_order_relaxed);
  live_large_bytes_add(-int64_t(live_size));
  if (!ok) {
    unmap_range(r);
    return;
  }
  retention_enforce();  // over the budget: the oldest cached runs go back now
}

bool large_resize_in_place(void* p, ChunkKind kind, size_t new_size) {
  LargeHeader* h = checked_header(p, kind, "realloc");
  size_t offset = static_cast<char*>(p) - static_cast<char*>(h->map_base);
  if (new_size > (size_t(1) << 46)) return false;
  size_t need = h->flags & kOwnMapping ? mapping_size(offset + new_size) : run_size(offset + new_size);
  if (need <= h->map_size) return need + h->map_size / 2 >= h->map_size;  // not worth shrinking
  if (h->flags & kOwnMapping) {
    if (!os::remap_in_place(h->map_base, h->map_size, need)) return false;
    chunk_map_set(static_cast<char*>(h->map_base) + round_up(h->map_size, kChunkSize),
                  need > round_up(h->map_size, kChunkSize) ? need - round_up(h->map_size, kChunkSize) : 0,
                  kChunkLargeTail, kChunkLargeTail);
    g_mapped.fetch_add(need - h->map_size, std::memory_order_relaxed);
  } else if (need > h->span) {
    // Take the chunks that follow from the free run that starts there, if it has enough.
    size_t extra = round_up(need, kChunkSize) - h->span;
    uintptr_t end = reinterpret_cast<uintptr_t>(h->map_base) + h->span;
    bool grew = false;
    {
      LockGuard g(g_lock);
      uint32_t i = lower_bound(end);
      if (i < g_nranges && g_ranges[i].start == end && g_ranges[i].size >= extra &&
          g_ranges[i].huge == ((h->flags & kHugeRun) != 0)) {
        carve_front(i, extra);  // its resident extents stay with the chunks
        grew = true;
      }
    }
    if (!grew) return false;
    chunk_map_set(reinterpret_cast<void*>(end), extra, kChunkLargeTail, kChunkLargeTail);
    h->span += extra;
  }
  g_bytes.fetch_add(need - h->map_size, std::memory_order_relaxed);
  live_large_bytes_add(int64_t(need - h->map_size));
  h->map_size = need;
  if (h->sample) profile_large_resized(h->sample, usable_of(h));  // the profile follows the new size
  return true;
}

void* large_grow_by_moving(void* p, ChunkKind kind, size_t new_size) {
  LargeHeader* h = checked_header(p, kind, "realloc");
  // Worth it only when copying would cost more than a few system calls.
  if (kind != kChunkLarge || h->map_size < (size_t(1) << 20) || new_size > (size_t(1) << 46)) return nullptr;
  size_t offset = static_cast<char*>(p) - static_cast<char*>(h->map_base);
  size_t need = run_size(offset + new_size);
  size_t new_span = round_up(need, kChunkSize);
  void* old_base = h->map_base;
  size_t old_span = h->span, old_map = h->map_size;
  void* dest = os::map_aligned(new_span, kChunkSize);
  if (!dest) return nullptr;
  if (!ensure_extent_leaves(reinterpret_cast<uintptr_t>(dest), new_span)) {
    os::unmap(dest, new_span);
    return nullptr;
  }
  // The old run leaves the map before its pages do: once mremap releases it, another
  // thread may map a new block there and register it, which a late clear would undo.
  chunk_map_set(old_base, old_span, kChunkNone, kChunkNone);
  if (!os::remap_to(old_base, old_span, new_span, dest)) {  // e.g. the run spans two mappings
    chunk_map_set(old_base, old_span, kChunkLarge, kChunkLargeTail);
    os::unmap(dest, new_span);
    return nullptr;
  }
  // The pages moved: the old run's extents now describe nothing, the new run's (clean
  // before) are set when the block is freed. The mapping kept its huge-page advice (the
  // block its class) along with its pages.
  clear_extents(reinterpret_cast<uintptr_t>(old_base), old_span);
  auto* moved = static_cast<LargeHeader*>(dest);  // the header came along with the pages
  moved->map_base = dest;
  moved->map_size = need;
  moved->span = new_span;
  moved->user = static_cast<char*>(dest) + offset;
  chunk_map_set(dest, new_span, kChunkLarge, kChunkLargeTail);
  g_maps.fetch_add(1, std::memory_order_relaxed);
  g_mapped.fetch_add(new_span - old_span, std::memory_order_relaxed);
  g_bytes.fetch_add(need - old_map, std::memory_order_relaxed);
  live_large_bytes_add(int64_t(need - old_map));
  if (moved->sample) profile_large_resized(moved->sample, usable_of(moved));
  return moved->user;
}

void large_purge(uint64_t now, bool force) {
  uint64_t unmap_delay = uint64_t(g_options.purge_delay_ms) * kUnmapFactor;
  // Each round takes a batch of due runs out of the table and handles it unlocked; a run
  // given back clean returns to the table and is not due again in this call.
  for (uint32_t round = 0; round < kMaxRanges / kBatch + 1; round++) {
    Range purge[kBatch], unmap[kBatch];
    uint32_t np = 0, nu = 0;
    {
      LockGuard g(g_lock);
      for (uint32_t i = 0; i < g_nranges && np < kBatch && nu < kBatch;) {
        const Range& r = g_ranges[i];
        uint64_t age = now > r.stamp ? now - r.stamp : 0;
        if (force || (!r.dirty && age >= unmap_delay)) unmap[nu++] = take_at(i);
        else if (r.dirty && age >= g_options.purge_delay_ms) purge[np++] = take_at(i);
        else i++;
      }
    }
    for (uint32_t i = 0; i < nu; i++) unmap_range(unmap[i]);
    for (uint32_t i = 0; i < np; i++) decommit_range(purge[i], now);
    if (np < kBatch && nu < kBatch) break;
  }
}

uint64_t large_purge_bytes(uint64_t want) {
  uint64_t got = 0;
  while (got < want) {
    Range victim;
    {
      LockGuard g(g_lock);
      int oldest = -1;
      for (uint32_t i = 0; i < g_nranges; i++)
        if (g_ranges[i].dirty && (oldest < 0 || g_ranges[i].stamp < g_ranges[oldest].stamp)) oldest = int(i);
      if (oldest < 0) break;
      Range& r = g_ranges[oldest];
      // Only as much of its tail as asked: its front stays warm for reuse.
      uintptr_t cut = r.start + r.size;
      size_t tail = 0;
      while (cut > r.start && tail < want - got) {
        cut -= kChunkSize;
        tail += size_t(extent_of(cut)) * kUnit;
      }
      if (cut > r.start) {
        victim = Range{cut, r.start + r.size - cut, tail, r.stamp, r.huge};
        r.size -= victim.size;
        r.dirty -= tail;
        dirty_add(-int64_t(tail));
      } else {
        victim = take_at(uint32_t(oldest));
      }
    }
    got += victim.dirty;
    decommit_range(victim, os::now_ms());
  }
  return got;
}

uint32_t large_free_ranges(LargeRangeInfo* out, uint32_t max) {
  LockGuard g(g_lock);
  uint32_t n = g_nranges < max ? g_nranges : max;
  for (uint32_t i = 0; i < n; i++)
    out[i] = LargeRangeInfo{g_ranges[i].start, g_ranges[i].size, g_ranges[i].dirty, g_ranges[i].stamp};
  return g_nranges;
}

void large_counters(LargeCounters* out) {
  out->blocks = g_blocks.load(std::memory_order_relaxed);
  out->bytes = g_bytes.load(std::memory_order_relaxed);
  out->cached_bytes = g_cached_stat.load(std::memory_order_relaxed);
  out->maps = g_maps.load(std::memory_order_relaxed);
  out->unmaps = g_unmaps.load(std::memory_order_relaxed);
  out->mapped_bytes = g_mapped.load(std::memory_order_relaxed);
  out->purged_bytes = g_purged.load(std::memory_order_relaxed);
}

void large_lock() { g_lock.lock(); }
void large_unlock() { g_lock.unlock(); }
void large_reset_lock_in_child() { g_lock.reset(); }

}  // namespace hakmem
