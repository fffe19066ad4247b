// The pool of free slabs and the SuperSlabs that hold them ("mmap gate").
//
// SuperSlab headers are never unmapped: a thread that pushed a remote free a moment
// ago may still read a slab's `listed` flag, and a mailbox may still hold a stale
// pointer to a slab. Purging gives the slabs' pages back to the OS instead, which is
// what resident memory counts; only the header pages of an empty SuperSlab stay.
#include "tiny/superslab.h"

#include <cstring>

#include "base/spin_lock.h"
#include "config/options.h"
#include "diag/debug_ring.h"
#include "os/os.h"
#include "policy/retention.h"
#include "tiny/ownership.h"

namespace hakmem {

namespace {

struct Pool {
  SpinLock lock;
  SuperSlab* with_free = nullptr;  // SuperSlabs that have at least one pooled slab
  SuperSlab* all = nullptr;
};

Pool g_pools[kNumSlabKinds];

std::atomic<uint64_t> g_superslabs{0}, g_superslabs_peak{0}, g_bytes_mapped{0}, g_bytes_mapped_peak{0},
    g_bytes_purged{0}, g_os_maps{0}, g_os_unmaps{0};
std::atomic<uint64_t> g_next_purge_ms{0};

void raise_peak(std::atomic<uint64_t>& peak, uint64_t v) {
  uint64_t p = peak.load(std::memory_order_relaxed);
  while (v > p && !peak.compare_exchange_weak(p, v, std::memory_order_relaxed)) {}
}

unsigned slab_shift_of(SlabKind k) { return k == SlabKind::kSmall ? kSmallSlabShift : kMediumSlabShift; }

// Bitmap words per slab for guard mode: one bit per smallest block of the kind.
size_t guard_words(SlabKind k) {
  size_t min_block = k == SlabKind::kSmall ? g_class_size[0] : kMaxSmallBlock + 1;
  size_t blocks = (size_t(1) << slab_shift_of(k)) / min_block + 1;
  return (blocks + 63) / 64;
}

uint32_t all_slabs_mask(const SuperSlab* ss) {
  return ss->num_slabs == 32 ? 0xffffffffu : ((1u << ss->num_slabs) - 1);
}

// The pool keeps SuperSlabs on two intrusive doubly linked lists: all of them, and
// those with a pooled slab. One pair of functions serves both, by link fields.
template <SuperSlab* SuperSlab::*Next, SuperSlab* SuperSlab::*Prev>
void list_push(SuperSlab*& head, SuperSlab* ss) {
  ss->*Prev = nullptr;
  ss->*Next = head;
  if (head) head->*Prev = ss;
  head = ss;
}

template <SuperSlab* SuperSlab::*Next, SuperSlab* SuperSlab::*Prev>
void list_unlink(SuperSlab*& head, SuperSlab* ss) {
  if (ss->*Prev) (ss->*Prev)->*Next = ss->*Next;
  else head = ss->*Next;
  if (ss->*Next) (ss->*Next)->*Prev = ss->*Prev;
  ss->*Next = ss->*Prev = nullptr;
}

void link_with_free(Pool& p, SuperSlab* ss) { list_push<&SuperSlab::pool_next, &SuperSlab::pool_prev>(p.with_free, ss); }
void unlink_with_free(Pool& p, SuperSlab* ss) { list_unlink<&SuperSlab::pool_next, &SuperSlab::pool_prev>(p.with_free, ss); }
void link_all(Pool& p, SuperSlab* ss) { list_push<&SuperSlab::all_next, &SuperSlab::all_prev>(p.all, ss); }
void unlink_all(Pool& p, SuperSlab* ss) { list_unlink<&SuperSlab::all_next, &SuperSlab::all_prev>(p.all, ss); }

// Geometry of a SuperSlab whose slabs are all in the pool. Slab metadata is left
// alone: a stale pointer to a slab may still sit in some list (see the file comment),
// and every slab's owner stays kOwnerPool, so such a pointer can claim nothing.
void superslab_format(SuperSlab* ss, SlabKind kind) {
  ss->kind = kind;
  ss->slab_shift = uint8_t(slab_shift_of(kind));
  ss->num_slabs = uint8_t(kChunkSize >> ss->slab_shift);
  size_t bitmap_offset = (sizeof(SuperSlab) + 63) & ~size_t(63);
  ss->guard_bits = reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(ss) + bitmap_offset);
  size_t header = bitmap_offset + ss->num_slabs * guard_words(kind) * 8;
  ss->header_size = uint32_t((header + os::kPageSize - 1) & ~(os::kPageSize - 1));
  ss->free_mask = all_slabs_mask(ss);
  ss->dirty_mask = 0;
  ChunkKind ck = g_options.guard ? kChunkSuperSlabGuard
                 : kind == SlabKind::kSmall ? kChunkSuperSlab
                                            : kChunkSuperSlabMedium;
  chunk_map_set(ss, kChunkSize, ck, kChunkNone);
}

SuperSlab* superslab_map(SlabKind kind) {
  void* mem = os::map_aligned(kChunkSize, kChunkSize);
  if (!mem) return nullptr;
  auto* ss = static_cast<SuperSlab*>(mem);  // fresh mapping: all zero
  ss->magic = kSuperSlabMagic;
  for (uint32_t i = 0; i < kMaxSlabsPerSuperSlab; i++) {  // all 32, whatever the kind uses
    Slab& s = ss->slabs[i];
    s.index = uint8_t(i);
    s.owner_tid.store(kOwnerPool, std::memory_order_relaxed);
  }
  superslab_format(ss, kind);
  uint64_t n = g_superslabs.fetch_add(1, std::memory_order_relaxed) + 1;
  raise_peak(g_superslabs_peak, n);
  uint64_t bytes = g_bytes_mapped.fetch_add(kChunkSize, std::memory_order_relaxed) + kChunkSize;
  raise_peak(g_bytes_mapped_peak, bytes);
  g_os_maps.fetch_add(1, std::memory_order_relaxed);
  debug_ring_record(RingEvent::kOsMap, ss, kChunkSize);
  return ss;
}

// Demand moves between small and mid classes: an empty SuperSlab of the other kind is
// re-cut rather than mapping a new one. Its pages are zeroed on the way (guard bitmaps
// must start clear), which also gives them back to the OS.
SuperSlab* convert_empty_superslab(SlabKind want) {
  Pool& other = g_pools[1 - int(want)];
  SuperSlab* ss = nullptr;
  {
    LockGuard g(other.lock);
    for (SuperSlab* c = other.with_free; c; c = c->pool_next)
      if (c->free_mask == all_slabs_mask(c)) { ss = c; break; }
    if (!ss) return nullptr;
    unlink_with_free(other, ss);
    unlink_all(other, ss);
    for (uint32_t m = ss->dirty_mask; m; m &= m - 1) {
      Slab& sl = ss->slabs[__builtin_ctz(m)];
      retained_add(Retained::kPool, -int64_t(sl.retained_bytes));
      sl.retained_bytes = 0;
    }
  }
  char* base = reinterpret_cast<char*>(ss);
  size_t meta_end = (sizeof(SuperSlab) + 63) & ~size_t(63);
  size_t keep = 2 * os::kPageSize;  // the pages holding the SuperSlab and slab metadata
  static_assert(sizeof(SuperSlab) <= 2 * os::kPageSize);
  memset(base + meta_end, 0, keep - meta_end);
  os::decommit(base + keep, kChunkSize - keep);
  g_bytes_purged.fetch_add(kChunkSize - keep, std::memory_order_relaxed);
  superslab_format(ss, want);
  return ss;
}

// Pages a pooled slab may still have resident: what its last owner carved.
uint32_t resident_estimate(const SuperSlab* ss, const Slab* s) {
  size_t carved = size_t(s->carved) * s->block_size;
  if (s->index == 0) carved += ss->header_size;  // slab 0's data starts after the header
  size_t start = s->index == 0 ? ss->header_size : 0;
  size_t end = (carved + os::kPageSize - 1) & ~(os::kPageSize - 1);
  size_t cap = size_t(1) << ss->slab_shift;
  if (end > cap) end = cap;
  return end > start ? uint32_t(end - start) : 0;
}

// Gives back the pages of the dirty pooled slabs in `mask`, one system call per run of
// neighbouring slabs (an empty SuperSlab goes back in one call). Pool lock held.
uint64_t decommit_slabs(SuperSlab* ss, uint32_t mask) {
  uint64_t freed = 0;
  mask &= ss->dirty_mask;
  while (mask) {
    uint32_t first = uint32_t(__builtin_ctz(mask));
    uint32_t ones = mask >> first;
    uint32_t run = ~ones ? uint32_t(__builtin_ctz(~ones)) : 32;
    char* start = slab_data(ss, first);
    char* end = reinterpret_cast<char*>(ss) + (size_t(first + run) << ss->slab_shift);
    os::decommit(start, size_t(end - start));
    debug_ring_record(RingEvent::kOsUnmap, start, size_t(end - start));
    for (uint32_t i = first; i < first + run; i++) {
      Slab& sl = ss->slabs[i];
      freed += sl.retained_bytes;
      retained_add(Retained::kPool, -int64_t(sl.retained_bytes));
      sl.retained_bytes = 0;
    }
    g_bytes_purged.fetch_add(uint64_t(end - start), std::memory_order_relaxed);
    uint32_t run_mask = run == 32 ? 0xffffffffu : ((1u << run) - 1) << first;
    ss->dirty_mask &= ~run_mask;
    mask &= ~run_mask;
  }
  return freed;
}

}  // namespace

uint32_t slab_resident_bytes(const Slab* s) { return resident_estimate(superslab_of(s), s); }

uint64_t* guard_bitmap(Slab* s) {
  SuperSlab* ss = superslab_of(s);
  return ss->guard_bits + size_t(s->index) * guard_words(ss->kind);
}

Slab* pool_take_slab(uint32_t c, SlabOrigin* origin, bool may_map) {
  SlabKind kind = slab_kind_for_class(c);
  Pool& p = g_pools[int(kind)];
  p.lock.lock();
  SuperSlab* ss = p.with_free;
  *origin = SlabOrigin::kGate;
  if (!ss) {
    p.lock.unlock();
    ss = convert_empty_superslab(kind);
    if (!ss) {
      if (!may_map) return nullptr;
      ss = superslab_map(kind);
      if (!ss) return nullptr;
      *origin = SlabOrigin::kFresh;
    }
    p.lock.lock();
    link_all(p, ss);
    link_with_free(p, ss);
  }
  // Prefer a slab whose pages are still resident: reusing them costs no page faults.
  uint32_t candidates = ss->free_mask & ss->dirty_mask;
  uint32_t idx = uint32_t(__builtin_ctz(candidates ? candidates : ss->free_mask));
  ss->free_mask &= ~(1u << idx);
  if (ss->dirty_mask & (1u << idx)) {
    retained_add(Retained::kPool, -int64_t(ss->slabs[idx].retained_bytes));
    ss->slabs[idx].retained_bytes = 0;
  }
  ss->dirty_mask &= ~(1u << idx);
  if (!ss->free_mask) unlink_with_free(p, ss);
  p.lock.unlock();
  live_slab_bytes_add(int64_t(slab_bytes(ss, idx)));
  // Still owned by kOwnerPool: the caller claims it through slab_acquire.
  return &ss->slabs[idx];
}

void pool_return_slab(Slab* s) {
  slab_uncount_free_blocks(s);
  SuperSlab* ss = superslab_of(s);
  Pool& p = g_pools[int(ss->kind)];
  uint64_t now = os::now_ms();
  // Release: the next owner's claim (an acquire CAS from kOwnerPool) sees our writes.
  uint32_t resident = resident_estimate(ss, s);
  s->owner_tid.store(kOwnerPool, std::memory_order_release);
  live_slab_bytes_add(-int64_t(slab_bytes(ss, s->index)));
  {
    LockGuard g(p.lock);
    uint32_t bit = 1u << s->index;
    if (!ss->free_mask) link_with_free(p, ss);
    ss->free_mask |= bit;
    if (resident) {
      ss->dirty_mask |= bit;
      s->retained_bytes = resident;
      retained_add(Retained::kPool, resident);
    }
    s->freed_at_ms = now;
    if (ss->free_mask == all_slabs_mask(ss)) ss->empty_since_ms = now;
  }
  // Over the budget, the free that emptied this slab gives memory back at once.
  retention_enforce();
}

void pool_purge(uint64_t now, bool force) {
  if (!force) {
    uint64_t due = g_next_purge_ms.load(std::memory_order_relaxed);
    if (now < due) return;
    uint64_t period = g_options.purge_delay_ms / 4 + 10;
    if (!g_next_purge_ms.compare_exchange_strong(due, now + period, std::memory_order_relaxed)) return;
  }
  uint64_t delay = g_options.purge_delay_ms;
  for (Pool& p : g_pools) {
    LockGuard g(p.lock);
    for (SuperSlab* ss = p.with_free; ss; ss = ss->pool_next) {
      uint32_t due = 0;
      for (uint32_t dirty = ss->dirty_mask; dirty; dirty &= dirty - 1) {
        uint32_t idx = uint32_t(__builtin_ctz(dirty));
        // A stamp newer than `now` (another thread's clock read came later) is not due.
        uint64_t freed = ss->slabs[idx].freed_at_ms;
        if (force || (now > freed && now - freed >= delay)) due |= 1u << idx;
      }
      decommit_slabs(ss, due);
    }
  }
}

uint64_t pool_purge_bytes(uint64_t want) {
  uint64_t got = 0;
  // Whole empty SuperSlabs first (one call each, and the least likely to be reused
  // soon), then any dirty pooled slab.
  for (int pass = 0; pass < 2 && got < want; pass++) {
    for (Pool& p : g_pools) {
      LockGuard g(p.lock);
      for (SuperSlab* ss = p.with_free; ss && got < want; ss = ss->pool_next) {
        if (!ss->dirty_mask || (pass == 0 && ss->free_mask != all_slabs_mask(ss))) continue;
        got += decommit_slabs(ss, ss->free_mask);
      }
    }
  }
  return got;
}

void pool_counters(PoolCounters* out) {
  out->superslabs = g_superslabs.load(std::memory_order_relaxed);
  out->superslabs_peak = g_superslabs_peak.load(std::memory_order_relaxed);
  out->bytes_mapped = g_bytes_mapped.load(std::memory_order_relaxed);
  out->bytes_mapped_peak = g_bytes_mapped_peak.load(std::memory_order_relaxed);
  out->bytes_purged = g_bytes_purged.load(std::memory_order_relaxed);
  out->os_maps = g_os_maps.load(std::memory_order_relaxed);
  out->os_unmaps = g_os_unmaps.load(std::memory_order_relaxed);
}

void pool_for_each_superslab(void (*fn)(SuperSlab*, void*), void* arg) {
  for (Pool& p : g_pools) {
    LockGuard g(p.lock);
    for (SuperSlab* ss = p.all; ss; ss = ss->all_next) fn(ss, arg);
  }
}

void pool_for_each_superslab_in_child(void (*fn)(SuperSlab*, void*), void* arg) {
  for (Pool& p : g_pools)
    for (SuperSlab* ss = p.all; ss; ss = ss->all_next) fn(ss, arg);
}

void pool_repair_in_child() {
  uint64_t now = os::now_ms();
  for (Pool& p : g_pools)
    for (SuperSlab* ss = p.all; ss; ss = ss->all_next)
      for (uint32_t i = 0; i < ss->num_slabs; i++) {
        uint32_t bit = 1u << i;
        if (ss->slabs[i].owner_tid.load(std::memory_order_relaxed) != kOwnerPool || (ss->free_mask & bit)) continue;
        if (!ss->free_mask) link_with_free(p, ss);
        ss->free_mask |= bit;
        ss->slabs[i].freed_at_ms = now;
        // Its pages may be resident: count nothing, purge it like a clean slab later.
        if (ss->free_mask == all_slabs_mask(ss)) ss->empty_since_ms = now;
      }
}

void pool_lock_all() {
  for (Pool& p : g_pools) p.lock.lock();
}
void pool_unlock_all() {
  for (Pool& p : g_pools) p.lock.unlock();
}
void pool_reset_locks_in_child() {
  for (Pool& p : g_pools) p.lock.reset();
}

}  // namespace hakmem
