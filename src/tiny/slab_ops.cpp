#include "tiny/slab_ops.h"

#include <algorithm>

#include "config/options.h"
#include "diag/report.h"
#include "diag/valgrind.h"
#include "tiny/block_check.h"
#include "tiny/heap.h"
#include "tiny/ownership.h"

namespace hakmem {

namespace {
// Carving links the blocks, which touches their pages, so a slab carves what it has
// shown it needs: one page first, then as much as it carved so far (doubling), at most
// kCarveBytes at a time. A thread that allocates a few blocks in many classes then
// touches a page or two per class, not five (thread_footprint: 3 blocks in each of 40
// sizes cost 492 KiB per thread with one page then 16 KiB); a slab in steady use hits
// the carve path every 16 KiB, as before.
constexpr size_t kCarveBytes = 16 * 1024;
constexpr size_t kFirstCarveBytes = 4096;
}  // namespace

void slab_format(Slab* s, uint32_t c) {
  // Atomic stores: other threads (stats, a late notifier) may read these racily.
  __atomic_store_n(&s->class_idx, uint16_t(c), __ATOMIC_RELAXED);
  __atomic_store_n(&s->block_size, g_class_size[c], __ATOMIC_RELAXED);
  __atomic_store_n(&s->capacity, slab_capacity(superslab_of(s), s->index, g_class_size[c]), __ATOMIC_RELAXED);
  s->block_magic = block_start_magic(g_class_size[c]);
  s->cache_offset = uint16_t(c << kClassSlotShift);
  s->carved = 0;
  s->freelist = nullptr;
  s->used.store(0, std::memory_order_relaxed);
  set_place(s, SlabPlace::kNone);
  s->next = s->prev = nullptr;
}

bool slab_carve(Slab* s, bool lean) {
  uint32_t left = s->capacity - s->carved;
  if (!left) return false;
  size_t bytes = lean ? kFirstCarveBytes : std::clamp(size_t(s->carved) * s->block_size, kFirstCarveBytes, kCarveBytes);
  uint32_t n = uint32_t(bytes / s->block_size);
  if (n == 0) n = 1;
  if (n > left) n = left;
  char* first = slab_data(s) + size_t(s->carved) * s->block_size;
  char* p = first;
  for (uint32_t i = 1; i < n; i++, p += s->block_size) link_store(p, p + s->block_size);
  link_store(p, s->freelist);
  // `carved` is committed before the blocks are published on the list: a fork child
  // that finds this slab mid-carve must never see listed blocks that count as
  // uncarved (it would carve them again). Losing them instead is harmless.
  __atomic_store_n(&s->carved, s->carved + n, __ATOMIC_RELAXED);
  __atomic_store_n(&s->freelist, first, __ATOMIC_RELEASE);
  return true;
}

void* slab_pop(Slab* s, bool lean) {
  if (!s->freelist && !slab_carve(s, lean)) return nullptr;
  void* p = s->freelist;
  if (g_options.guard) {
    s->freelist = link_decode_checked(s, p);
    size_t idx = size_t(static_cast<char*>(p) - slab_data(s)) / s->block_size;
    uint64_t bit = uint64_t(1) << (idx & 63);
    uint64_t old = __atomic_fetch_or(&guard_bitmap(s)[idx / 64], bit, __ATOMIC_RELAXED);
    if (old & bit) fatal_pointer("free list corrupted: block handed out twice:", p);
    vg_malloclike(p, s->block_size, false);
  } else {
    s->freelist = *static_cast<void**>(p);
  }
  s->used.store(s->used.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return p;
}

void slab_push_local(Slab* s, void* p) {
  link_store(p, s->freelist);
  s->freelist = p;
  s->used.store(s->used.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

}  // namespace hakmem
