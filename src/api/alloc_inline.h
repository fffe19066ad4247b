// The fast paths, inlined into both the hak_* entry points and the standard names.
//
// malloc: size -> class by table, pop the bound slab's local free list. free: chunk map
// says "SuperSlab", the slab's owner is this thread, push onto its local list. No
// locks, no atomic read-modify-write; everything else is out of line.
#pragma once
#include <cstddef>

#include "tiny/block_check.h"
#include "tiny/chunk_map.h"
#include "tiny/heap.h"
#include "tiny/ownership.h"
#include "tiny/size_class.h"

namespace hakmem {

void* alloc_slow(size_t size);
void* alloc_class_slow(uint32_t c, size_t size);
void free_slow(void* p, const char* caller);
void free_remote(Slab* s, void* p);

#define HAK_INLINE __attribute__((always_inline)) inline
#define HAK_LIKELY(x) __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)

// `size` is what the caller asked for: housekeeping (and heap profiling) run on a
// countdown of requested bytes, one subtraction of a value already in a register.
// `slot` is the class index << kClassSlotShift: the byte offset of its cache.
HAK_INLINE void* alloc_slot(size_t slot, size_t size) {
  ThreadHeap* h = t_heap;
  ClassCache& cc = *reinterpret_cast<ClassCache*>(reinterpret_cast<char*>(h->cls) + slot);
  void* p = cc.fast_head;
  if (p) {
    cc.fast_head = *static_cast<void**>(p);
    cc.fast_room++;
  } else {
    Slab* s = cc.slab;
    p = s->freelist;
    if (HAK_UNLIKELY(p == nullptr)) return alloc_class_slow(uint32_t(slot >> kClassSlotShift), size);
    s->freelist = *static_cast<void**>(p);
    s->used.store(s->used.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  block_clear_mark(p);
  // Housekeeping (mailbox, purge) must run even in a thread that only ever hits the
  // fast path, or memory other threads freed into its slabs would never go back.
  if (HAK_UNLIKELY((h->tick_bytes -= int64_t(size)) < 0)) return heap_alloc_tick(h, p);
  return p;
}

HAK_INLINE void* alloc_class(uint32_t c, size_t size) { return alloc_slot(size_t(c) << kClassSlotShift, size); }

HAK_INLINE void* alloc_fast(size_t size) {
  if (HAK_LIKELY(size <= kLookupMax)) return alloc_slot(g_class_slot_of_small[(size + 15) >> 4], size);
  return alloc_slow(size);
}

// The owner pushes onto the slab's local list; anyone else onto its remote queue.
// Both check first that p starts a block and that the block is not free already.
template <bool kSmallKind>
HAK_INLINE void free_slab_block(void* p) {
  SuperSlab* ss = superslab_of(p);
  Slab* s = kSmallKind ? small_slab_of(ss, p) : slab_of(ss, p);
  if (HAK_UNLIKELY(!is_block_start<kSmallKind ? kSmallSlabShift : kMediumSlabShift>(s, p)))
    return report_interior_free("free", p, s);
  ThreadHeap* h = t_heap;
  // Relaxed is enough: only this thread ever stores its own tid into owner_tid.
  if (HAK_LIKELY(s->owner_tid.load(std::memory_order_relaxed) == h->tid)) {
    if (HAK_UNLIKELY(block_is_marked_free(p))) return report_double_free("free", p);
    block_mark_free(p);
    ClassCache& cc = *reinterpret_cast<ClassCache*>(reinterpret_cast<char*>(h->cls) + s->cache_offset);
    if (cc.fast_room) {
      *static_cast<void**>(p) = cc.fast_head;
      cc.fast_head = p;
      cc.fast_room--;
      return;
    }
    void* head = s->freelist;
    *static_cast<void**>(p) = head;
    s->freelist = p;
    uint32_t used = s->used.load(std::memory_order_relaxed) - 1;
    // Release (a plain store on x86): a reclaimer that reads this count (acquire) and
    // finds the slab complete also sees the push above.
    s->used.store(used, std::memory_order_release);
    // A list that was empty (slab was full) or a slab now unused changes lists;
    // the bound slab stays bound however often it empties (malloc/free ping-pong).
    if (HAK_LIKELY(head != nullptr && (used != 0 || place_of(s) == SlabPlace::kBound))) return;
    heap_free_local_slow(h, s);
    return;
  }
  free_remote(s, p);
}

HAK_INLINE void free_fast(void* p) {
  if (HAK_LIKELY(chunk_kind_of(p) == kChunkSuperSlab)) {
    free_slab_block<true>(p);
    return;
  }
  free_slow(p, "free");
}

}  // namespace hakmem
