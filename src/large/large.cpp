#include "large/large.h"

#include <atomic>
#include <cerrno>

#include "base/spin_lock.h"
#include "config/options.h"
#include "diag/debug_ring.h"
#include "diag/report.h"
#include "diag/valgrind.h"
#include "os/os.h"
#include "policy/retention.h"

namespace hakmem {

namespace {

constexpr uint64_t kLargeMagic = 0x48414b4c41524745ull;  // "HAKLARGE"
constexpr uint32_t kCacheSlots = 32;
constexpr size_t kCacheMaxBlock = size_t(64) << 20;   // larger mappings are never cached
constexpr size_t kCacheMaxBytes = size_t(256) << 20;

enum class LargeState : uint32_t { kLive = 1, kCached = 2 };

struct LargeHeader {
  uint64_t magic;
  void* user;
  void* map_base;
  size_t map_size;
  LargeState state;
  uint64_t cached_at_ms;
};

SpinLock g_lock;
LargeHeader* g_cache[kCacheSlots];  // under g_lock
size_t g_cached_bytes = 0;          // under g_lock
std::atomic<uint64_t> g_blocks{0}, g_bytes{0}, g_maps{0}, g_unmaps{0}, g_mapped{0}, g_purged{0}, g_cached_stat{0};

// Every change of the cached total goes through here so the retention policy sees it.
void cached_add(int64_t delta) {
  g_cached_bytes += delta;
  g_cached_stat.store(g_cached_bytes, std::memory_order_relaxed);
  retained_add(Retained::kLargeCache, delta);
}

size_t round_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

// Mapping size for a large block: 64 KiB steps, or an eighth of the power of two above
// 4 MiB. Growing by realloc then stays in place for a while (a string builder that
// appends to a 200 KiB buffer copies it every 64 KiB, not every page); the slack is
// address space only until it is written.
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

LargeHeader* checked_header(const void* p, ChunkKind kind, const char* caller) {
  LargeHeader* h = header_of(p, kind);
  if (!h || h->magic != kLargeMagic || h->user != p) {
    Line().str("hakmem: ").str(caller).str("(): invalid pointer ").ptr(p).str(" (not a block hakmem handed out)").write();
    debug_ring_dump_all(2);
    os::abort_process();
  }
  if (h->state != LargeState::kLive) {
    Line().str("hakmem: ").str(caller).str("(): double free of ").ptr(p).write();
    debug_ring_dump_all(2);
    os::abort_process();
  }
  return h;
}

void release_mapping(LargeHeader* h) {
  void* base = h->map_base;
  size_t size = h->map_size;
  chunk_map_set(base, size, kChunkNone, kChunkNone);
  debug_ring_record(RingEvent::kOsUnmap, base, size);
  os::unmap(base, size);
  g_unmaps.fetch_add(1, std::memory_order_relaxed);
  g_mapped.fetch_sub(size, std::memory_order_relaxed);
  g_purged.fetch_add(size, std::memory_order_relaxed);
}

// Offset of the user pointer from a chunk-aligned mapping start, for align < 2 MiB.
size_t user_offset(size_t align) { return round_up(sizeof(LargeHeader), align < 64 ? 64 : align); }

// Smallest cached mapping that fits. A much bigger one is split at a chunk boundary
// (mappings start on chunks, so the tail can carry its own header) and the tail stays
// cached: its pages are resident, so the next big request costs no page faults either.
LargeHeader* from_cache(size_t need, size_t align) {
  LockGuard g(g_lock);
  int best = -1;
  for (uint32_t i = 0; i < kCacheSlots; i++) {
    LargeHeader* h = g_cache[i];
    if (h && h->map_size >= need && (best < 0 || h->map_size < g_cache[best]->map_size)) best = int(i);
  }
  if (best < 0) return nullptr;
  LargeHeader* h = g_cache[best];
  g_cache[best] = nullptr;
  size_t keep = round_up(need, kChunkSize);
  if (h->map_size >= keep + kChunkSize) {
    auto* tail = reinterpret_cast<LargeHeader*>(static_cast<char*>(h->map_base) + keep);
    *tail = LargeHeader{kLargeMagic, nullptr, tail, h->map_size - keep, LargeState::kCached, h->cached_at_ms};
    chunk_map_set(tail, tail->map_size, kChunkLarge, kChunkLargeTail);
    h->map_size = keep;
    cached_add(-int64_t(keep));
    g_cache[best] = tail;  // the slot just freed
    g_maps.fetch_add(1, std::memory_order_relaxed);  // it is one more mapping to unmap later
  } else {
    cached_add(-int64_t(h->map_size));
  }
  h->state = LargeState::kLive;
  h->user = reinterpret_cast<char*>(h) + user_offset(align);
  return h;
}

size_t usable_of(const LargeHeader* h) {
  return static_cast<char*>(h->map_base) + h->map_size - static_cast<char*>(h->user);
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
  if (align < kChunkSize) {
    size_t need = mapping_size(user_offset(align) + size);
    if (LargeHeader* h = from_cache(need, align)) {
      g_blocks.fetch_add(1, std::memory_order_relaxed);
      g_bytes.fetch_add(usable_of(h), std::memory_order_relaxed);
      live_large_bytes_add(int64_t(h->map_size));
      if (g_options.guard) vg_malloclike(h->user, size, false);
      return h->user;
    }
    void* base = os::map_aligned(need, kChunkSize);
    if (!base) return nullptr;
    // Whole 2 MiB chunks of a big block: huge pages cut page faults and TLB misses.
    if (need >= kChunkSize) os::advise_huge(base, need & ~kChunkMask);
    auto* h = static_cast<LargeHeader*>(base);
    *h = LargeHeader{kLargeMagic, static_cast<char*>(base) + user_offset(align), base, need, LargeState::kLive, 0};
    chunk_map_set(base, need, kChunkLarge, kChunkLargeTail);
    user = h->user;
  } else {
    // The user block starts on a chunk boundary; its header sits at the start of the
    // chunk below, which the mapping also covers.
    size_t span = round_up(align + size, os::kPageSize);
    char* base = static_cast<char*>(os::map_aligned(span, align));
    if (!base) return nullptr;
    user = base + align;
    auto* h = reinterpret_cast<LargeHeader*>(static_cast<char*>(user) - kChunkSize);
    *h = LargeHeader{kLargeMagic, user, base, span, LargeState::kLive, 0};
    chunk_map_set(base, span, kChunkLargeTail, kChunkLargeTail);
    chunk_map_set(user, kChunkSize, kChunkLargeAligned, kChunkLargeAligned);
  }
  auto* h = header_of(user, chunk_kind_of(user));
  if (fresh) *fresh = true;
  debug_ring_record(RingEvent::kOsMap, h->map_base, h->map_size);
  g_maps.fetch_add(1, std::memory_order_relaxed);
  g_mapped.fetch_add(h->map_size, std::memory_order_relaxed);
  g_blocks.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(usable_of(h), std::memory_order_relaxed);
  live_large_bytes_add(int64_t(h->map_size));
  if (g_options.guard) vg_malloclike(user, size, true);
  return user;
}

size_t large_usable_size(const void* p, ChunkKind kind, const char* caller) {
  return usable_of(checked_header(p, kind, caller));
}

void large_free(void* p, ChunkKind kind, const char* caller) {
  LargeHeader* h = checked_header(p, kind, caller);
  if (g_options.guard) vg_freelike(p);
  g_blocks.fetch_sub(1, std::memory_order_relaxed);
  g_bytes.fetch_sub(usable_of(h), std::memory_order_relaxed);
  live_large_bytes_add(-int64_t(h->map_size));
  bool cached = false;
  if (kind == kChunkLarge && h->map_size <= kCacheMaxBlock) {
    LockGuard g(g_lock);
    if (g_cached_bytes + h->map_size <= kCacheMaxBytes) {
      for (auto& slot : g_cache) {
        if (!slot) {
          h->state = LargeState::kCached;
          h->cached_at_ms = os::now_ms();
          slot = h;
          cached_add(int64_t(h->map_size));
          cached = true;
          break;
        }
      }
    }
  }
  if (cached) {
    retention_enforce();  // over the budget: the oldest cached blocks go back now
    return;
  }
  h->state = LargeState::kCached;  // a racing double free now reports as one
  release_mapping(h);
}

bool large_resize_in_place(void* p, ChunkKind kind, size_t new_size) {
  LargeHeader* h = checked_header(p, kind, "realloc");
  size_t offset = static_cast<char*>(p) - static_cast<char*>(h->map_base);
  if (new_size > (size_t(1) << 46)) return false;
  size_t need = mapping_size(offset + new_size);
  if (need <= h->map_size) return need + h->map_size / 2 >= h->map_size;  // not worth shrinking
  if (!os::remap_in_place(h->map_base, h->map_size, need)) return false;
  chunk_map_set(static_cast<char*>(h->map_base) + round_up(h->map_size, kChunkSize),
                need > round_up(h->map_size, kChunkSize) ? need - round_up(h->map_size, kChunkSize) : 0,
                kChunkLargeTail, kChunkLargeTail);
  g_mapped.fetch_add(need - h->map_size, std::memory_order_relaxed);
  g_bytes.fetch_add(need - h->map_size, std::memory_order_relaxed);
  live_large_bytes_add(int64_t(need - h->map_size));
  h->map_size = need;
  return true;
}

void* large_grow_by_moving(void* p, ChunkKind kind, size_t new_size) {
  LargeHeader* h = checked_header(p, kind, "realloc");
  // Worth it only when copying would cost more than a few system calls.
  if (kind != kChunkLarge || h->map_size < (size_t(1) << 20) || new_size > (size_t(1) << 46)) return nullptr;
  size_t offset = static_cast<char*>(p) - static_cast<char*>(h->map_base);
  size_t need = mapping_size(offset + new_size);
  void* old_base = h->map_base;
  size_t old_size = h->map_size;
  void* dest = os::map_aligned(need, kChunkSize);
  if (!dest) return nullptr;
  // The old range leaves the map before its pages do: once mremap releases it, another
  // thread may map a new block there and register it, which a late clear would undo.
  chunk_map_set(old_base, old_size, kChunkNone, kChunkNone);
  if (!os::remap_to(old_base, old_size, need, dest)) {
    chunk_map_set(old_base, old_size, kChunkLarge, kChunkLargeTail);
    os::unmap(dest, need);
    return nullptr;
  }
  auto* moved = static_cast<LargeHeader*>(dest);  // the header came along with the pages
  moved->map_base = dest;
  moved->map_size = need;
  moved->user = static_cast<char*>(dest) + offset;
  chunk_map_set(dest, need, kChunkLarge, kChunkLargeTail);
  g_mapped.fetch_add(need - old_size, std::memory_order_relaxed);
  g_bytes.fetch_add(need - old_size, std::memory_order_relaxed);
  live_large_bytes_add(int64_t(need - old_size));
  return moved->user;
}

void large_purge(uint64_t now, bool force) {
  LargeHeader* victims[kCacheSlots];
  uint32_t n = 0;
  {
    LockGuard g(g_lock);
    for (auto& slot : g_cache) {
      if (slot && (force || (now > slot->cached_at_ms && now - slot->cached_at_ms >= g_options.purge_delay_ms))) {
        cached_add(-int64_t(slot->map_size));
        victims[n++] = slot;
        slot = nullptr;
      }
    }
  }
  for (uint32_t i = 0; i < n; i++) release_mapping(victims[i]);
}

uint64_t large_purge_bytes(uint64_t want) {
  LargeHeader* victims[kCacheSlots];
  uint32_t n = 0;
  uint64_t got = 0;
  {
    LockGuard g(g_lock);
    while (got < want) {
      int oldest = -1;
      for (uint32_t i = 0; i < kCacheSlots; i++)
        if (g_cache[i] && (oldest < 0 || g_cache[i]->cached_at_ms < g_cache[oldest]->cached_at_ms)) oldest = int(i);
      if (oldest < 0) break;
      LargeHeader* h = g_cache[oldest];
      g_cache[oldest] = nullptr;
      cached_add(-int64_t(h->map_size));
      got += h->map_size;
      victims[n++] = h;
    }
  }
  for (uint32_t i = 0; i < n; i++) release_mapping(victims[i]);
  return got;
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
