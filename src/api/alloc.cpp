// The C API (hak_*) and the slow paths behind the inline fast paths.
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include "api/alloc_inline.h"
#include "api/init.h"
#include "config/options.h"
#include "diag/profile.h"
#include "diag/report.h"
#include "diag/valgrind.h"
#include "hakmem/hakmem.h"
#include "large/large.h"
#include "os/os.h"
#include "policy/purger.h"
#include "tiny/collect.h"
#include "tiny/refill.h"
#include "tiny/slab_ops.h"

#define HAK_EXPORT extern "C" __attribute__((visibility("default")))

namespace hakmem {

namespace {

[[noreturn]] void invalid_pointer(const char* caller, const void* p) {
  Line().str("hakmem: ").str(caller).str("(): invalid pointer ").ptr(p).str(" (not allocated by hakmem)").write();
  debug_ring_dump_all(2);
  os::abort_process();
}

}  // namespace

[[noreturn]] void report_interior_free_and_abort(const char* caller, const void* p, const Slab* s) {
  size_t bs = __atomic_load_n(&s->block_size, __ATOMIC_RELAXED);
  uintptr_t slab_base = reinterpret_cast<uintptr_t>(p) & ~((uintptr_t(1) << superslab_of(p)->slab_shift) - 1);
  if (bs == 0) invalid_pointer(caller, p);
  debug_ring_record(RingEvent::kGuardFail, p, 1);
  Line().str("hakmem: ").str(caller).str("(): interior pointer ").ptr(p).str(" (block starts at ")
      .ptr(reinterpret_cast<void*>(slab_base + (reinterpret_cast<uintptr_t>(p) - slab_base) / bs * bs)).str(")").write();
  debug_ring_dump_all(2);
  os::abort_process();
}

[[noreturn]] void report_double_free_and_abort(const char* caller, const void* p) {
  debug_ring_record(RingEvent::kGuardFail, p, 2);
  Line().str("hakmem: ").str(caller).str("(): double free of ").ptr(p).str(" (block is not allocated)").write();
  debug_ring_dump_all(2);
  os::abort_process();
}

void report_interior_free(const char* caller, const void* p, const Slab* s) { report_interior_free_and_abort(caller, p, s); }

// A free by a thread that does not own the block's slab (default mode).
void free_remote(Slab* s, void* p) {
  // A live block's slab is never in the pool, so a free into a pooled slab is a second
  // free of a block whose first free emptied the slab (or of no block at all).
  if (block_is_marked_free(p) || s->owner_tid.load(std::memory_order_relaxed) == kOwnerPool)
    report_double_free_and_abort("free", p);
  block_mark_free(p);
  slab_remote_free(s, p);
}
void report_double_free(const char* caller, const void* p) { report_double_free_and_abort(caller, p); }

namespace {

// Guard mode: the block must be the start of a block that is handed out.
Slab* guard_check_block(void* p, const char* caller, bool release) {
  Slab* s = slab_of(superslab_of(p), p);
  if (s->owner_tid.load(std::memory_order_acquire) == kOwnerPool) invalid_pointer(caller, p);
  char* base = slab_data(s);
  char* c = static_cast<char*>(p);
  size_t bs = s->block_size;
  if (c < base || bs == 0 || c >= base + size_t(s->capacity) * bs) invalid_pointer(caller, p);
  size_t idx = size_t(c - base) / bs;
  if (size_t(c - base) % bs != 0) report_interior_free_and_abort(caller, p, s);
  uint64_t bit = uint64_t(1) << (idx & 63);
  uint64_t* word = &guard_bitmap(s)[idx / 64];
  uint64_t old = release ? __atomic_fetch_and(word, ~bit, __ATOMIC_ACQ_REL) : __atomic_load_n(word, __ATOMIC_ACQUIRE);
  if (!(old & bit)) report_double_free_and_abort(caller, p);
  return s;
}

// What an allocation on these paths counts towards the housekeeping tick. The tick
// comes every kTickBytes requested, which for small blocks is a thousand allocations or
// more; counted in full, 64 KiB blocks would read the clock and take the heap's slow lock
// every second allocation (a third of a 64 KiB malloc+free pair's instructions). The
// heap profiler needs the true bytes: its sampling countdown is the same counter.
inline size_t tick_size_of(size_t size) {
  constexpr size_t kTickCap = 4096;  // a tick at most every 32 big allocations
  return size < kTickCap || profile_on() ? size : kTickCap;
}

// Allocation from any class on the slow paths (mid-size, aligned): mid-size blocks that
// came back from other threads stop counting as retained memory when handed out again
// (ownership.h).
inline void* alloc_class_checked(uint32_t c, size_t size) {
  void* p = alloc_class(c, tick_size_of(size));
  if (p && !class_is_small(c) && !g_options.guard) mid_block_taken(p, g_class_size[c]);
  return p;
}

void guard_free(void* p, const char* caller) {
  Slab* s = guard_check_block(p, caller, true);
  vg_freelike(p);
  ThreadHeap* h = t_heap;
  if (s->owner_tid.load(std::memory_order_relaxed) == h->tid) {
    slab_push_local(s, p);
    heap_free_local_slow(h, s);
  } else {
    slab_remote_free(s, p);
  }
}

template <unsigned kSlabShift>
Slab* checked_slab_of(const void* p, const char* caller) {
  Slab* s = slab_of(superslab_of(p), p);
  if (!is_block_start<kSlabShift>(s, p)) report_interior_free_and_abort(caller, p, s);
  return s;
}

size_t usable_size(const void* p, const char* caller) {
  ChunkKind k = chunk_kind_of(p);
  switch (k) {
    case kChunkSuperSlab:
      return checked_slab_of<kSmallSlabShift>(p, caller)->block_size;
    case kChunkSuperSlabMedium:
      return checked_slab_of<kMediumSlabShift>(p, caller)->block_size;
    case kChunkSuperSlabGuard:
      return guard_check_block(const_cast<void*>(p), caller, false)->block_size;
    case kChunkLarge:
    case kChunkLargeAligned:
      return large_usable_size(p, k, caller);
    case kChunkProfiled:
      return profile_usable_size(p, caller);
    default:
      invalid_pointer(caller, p);
  }
}

void* alloc_aligned(size_t align, size_t size) {
  if (align <= 16) return alloc_fast(size);
  // A slab class whose block size is a multiple of the alignment keeps every block
  // aligned: slab data starts page-aligned.
  if (align <= os::kPageSize && size <= kMaxSlabBlock) {
    uint32_t c = size_class_of(size > align ? size : align);
    while (c < kNumClasses && g_class_size[c] % align) c++;
    if (c < kNumClasses) return alloc_class_checked(c, size);
  }
  if (size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return nullptr;
  }
  return large_alloc(size, align);
}

}  // namespace

void* alloc_class_slow(uint32_t c, size_t size) {
  ThreadHeap* h = t_heap;
  void* p;
  if (h == &g_heap_retired) {
    p = heap_alloc_shared(c);
  } else {
    p = nullptr;
    if (h == &g_heap_placeholder) {
      ensure_init();
      p = heap_alloc_heapless(c);  // within its nursery quotas a thread needs no heap
      if (!p && !(h = heap_get())) {
        errno = ENOMEM;
        return nullptr;
      }
    }
    if (!p) {
      p = heap_alloc_slow(h, c);
      if (p && (h->tick_bytes -= int64_t(size)) < 0) p = heap_alloc_tick(h, p);
    }
  }
  if (!p) {
    errno = ENOMEM;
    return nullptr;
  }
  if (!g_options.guard) block_clear_mark(p);
  return p;
}

void* alloc_slow(size_t size) {
  if (size <= kMaxSlabBlock) return alloc_class_checked(size_class_of_mid(size), size);
  if (size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return nullptr;
  }
  ensure_init();
  return large_alloc(size, 16);
}

// Mid-size blocks (above 8 KiB) come here first; their own function so that the
// switch below, whose other cases need a stack frame, does not set one up for them.
__attribute__((noinline)) void free_medium(void* p) { free_slab_block<false>(p); }

void free_slow(void* p, const char* caller) {
  ChunkKind k = chunk_kind_of(p);
  if (HAK_LIKELY(k == kChunkSuperSlabMedium)) return free_medium(p);
  switch (k) {
    case kChunkSuperSlab:
      free_slab_block<true>(p);
      return;
    case kChunkSuperSlabGuard:
      guard_free(p, caller);
      return;
    case kChunkLarge:
    case kChunkLargeAligned:
      large_free(p, k, caller);
      return;
    case kChunkProfiled:
      profile_free(p, caller);
      return;
    default:
      if (!p) return;
      invalid_pointer(caller, p);
  }
}

}  // namespace hakmem

using namespace hakmem;

HAK_EXPORT void* hak_malloc(size_t size) { return alloc_fast(size); }

HAK_EXPORT void hak_free(void* p) { free_fast(p); }

HAK_EXPORT void hak_free_sized(void* p, size_t) { free_fast(p); }

HAK_EXPORT void hak_free_aligned_sized(void* p, size_t, size_t) { free_fast(p); }

HAK_EXPORT void* hak_calloc(size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (total > kMaxSlabBlock) {
    if (total > PTRDIFF_MAX) {
      errno = ENOMEM;
      return nullptr;
    }
    ensure_init();
    bool fresh;
    void* p = large_alloc(total, 16, &fresh);
    if (p && !fresh) memset(p, 0, total);
    return p;
  }
  void* p = alloc_fast(total);
  if (p) memset(p, 0, total);
  return p;
}

HAK_EXPORT void* hak_realloc(void* p, size_t size) {
  if (!p) return alloc_fast(size);
  if (size == 0) {  // glibc: realloc(p, 0) frees p and returns NULL
    free_fast(p);
    return nullptr;
  }
  ChunkKind k = chunk_kind_of(p);
  size_t old = usable_size(p, "realloc");
  if ((k == kChunkSuperSlab || k == kChunkSuperSlabMedium) && block_is_marked_free(p)) report_double_free_and_abort("realloc", p);
  if (k == kChunkSuperSlab || k == kChunkSuperSlabMedium || k == kChunkSuperSlabGuard || k == kChunkProfiled) {
    // Keep the block unless the new size would fit a class at most half as big.
    if (size <= old && (old <= 64 || size > old / 2)) return p;
  } else if (size <= old ? size > old / 2 : large_resize_in_place(p, k, size)) {
    return p;
  } else if (size > old) {
    if (void* q = large_grow_by_moving(p, k, size)) return q;
  }
  // A block that grows by realloc tends to grow again (string builders, buffers):
  // moving it to a class an eighth bigger than asked halves the copies of such a
  // pattern, for at most one class step of slack.
  size_t want = size;
  if (size > old && size <= kMaxSlabBlock && old <= kMaxSlabBlock) want = size + (size >> 3);
  void* q = alloc_fast(want);
  if (!q) return nullptr;  // errno set, p untouched
  memcpy(q, p, old < size ? old : size);
  free_fast(p);
  return q;
}

HAK_EXPORT void* hak_reallocarray(void* p, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return hak_realloc(p, total);
}

HAK_EXPORT int hak_posix_memalign(void** out, size_t align, size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  void* p = alloc_aligned(align, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

HAK_EXPORT void* hak_aligned_alloc(size_t align, size_t size) {
  // C17 (DR 460): any power-of-two alignment is valid, the size need not be a multiple.
  if (align == 0 || (align & (align - 1)) != 0) {
    errno = EINVAL;
    return nullptr;
  }
  return alloc_aligned(align, size);
}

HAK_EXPORT void* hak_memalign(size_t align, size_t size) {
  // glibc rounds a non-power-of-two alignment up rather than failing.
  if (align & (align - 1)) {
    size_t a = 1;
    while (a < align && a) a <<= 1;
    if (!a) {
      errno = EINVAL;
      return nullptr;
    }
    align = a;
  }
  return alloc_aligned(align, size);
}

HAK_EXPORT void* hak_valloc(size_t size) { return alloc_aligned(os::kPageSize, size); }

HAK_EXPORT void* hak_pvalloc(size_t size) {
  size_t rounded = (size + os::kPageSize - 1) & ~(os::kPageSize - 1);
  if (rounded < size) {
    errno = ENOMEM;
    return nullptr;
  }
  return alloc_aligned(os::kPageSize, rounded ? rounded : os::kPageSize);
}

HAK_EXPORT size_t hak_malloc_usable_size(const void* p) {
  if (!p) return 0;
  return usable_size(p, "malloc_usable_size");
}

HAK_EXPORT int hak_owns(const void* p) {
  ChunkKind k = chunk_kind_of(p);
  return k != kChunkNone;
}

HAK_EXPORT void hak_collect(void) {
  ensure_init();
  // A purger round in progress holds large runs out of the table while it gives their
  // pages back; waiting for it lets this call return every one of them.
  purger_lock();
  ThreadHeap* h = heap_get();  // a heap to claim orphaned slabs with
  {
    // Held to the end: collect_tick claims orphaned slabs as h's owner, and a reclaimer
    // must not act as h meanwhile (verify/README.md, bug 6).
    std::optional<HeapSlowScope> scope;
    if (h) {
      scope.emplace(h);
      heap_process_mailbox(h);
      heap_release_kept_empty(h);
    }
    heap_reclaim_all(true);  // other threads' complete slabs, idle or not (before the purge)
    collect_tick(h, os::now_ms(), true);
  }
  purger_unlock();
}
