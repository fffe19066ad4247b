#include "tiny/heap.h"

#include <pthread.h>

#include "base/spin_lock.h"
#include "config/options.h"
#include "os/os.h"
#include "tiny/collect.h"
#include "tiny/ownership.h"
#include "tiny/slab_ops.h"

namespace hakmem {

namespace {

// Time between two housekeeping rounds of one thread (mailbox, purge).
constexpr uint64_t kTickMs = 20;
constexpr uint32_t kTickEvery = 16;
constexpr uint32_t kMaxHeaps = 1u << 20;
// Unused slabs a heap keeps per class (bounded so idle memory stays small).
constexpr uint8_t kKeepEmptySmall = 4;
constexpr uint8_t kKeepEmptyMedium = 1;

// tid - 1 indexes this table; heaps are never unmapped, so an entry stays readable.
std::atomic<ThreadHeap*> g_heaps[kMaxHeaps];
std::atomic<uint32_t> g_heap_count{0};
SpinLock g_registry_lock;
ThreadHeap* g_recycled = nullptr;  // under g_registry_lock
std::atomic<uint64_t> g_threads_live{0}, g_threads_exited{0};
pthread_key_t g_exit_key;

void on_thread_exit(void* arg) { heap_thread_exit(static_cast<ThreadHeap*>(arg)); }

ThreadHeap* heap_new() {
  {
    LockGuard g(g_registry_lock);
    if (ThreadHeap* h = g_recycled) {
      g_recycled = h->pool_next;
      return h;
    }
  }
  uint32_t idx = g_heap_count.load(std::memory_order_relaxed);
  if (idx >= kMaxHeaps) return nullptr;
  size_t bytes = (sizeof(ThreadHeap) + os::kPageSize - 1) & ~(os::kPageSize - 1);
  auto* h = static_cast<ThreadHeap*>(os::map_aligned(bytes, os::kPageSize));
  if (!h) return nullptr;
  LockGuard g(g_registry_lock);
  idx = g_heap_count.load(std::memory_order_relaxed);
  if (idx >= kMaxHeaps) return nullptr;  // leaks one mapping in a pathological case
  h->tid = idx + 1;
  g_heaps[idx].store(h, std::memory_order_release);
  g_heap_count.store(idx + 1, std::memory_order_release);
  return h;
}

// The fast cache holds at most HAKMEM_TINY_FAST_CAP blocks of a class and at most
// kFastCacheBytes of it, so big classes cannot park megabytes in an idle thread.
constexpr size_t kFastCacheBytes = 64 * 1024;
uint32_t fast_cap_of(uint32_t c) {
  size_t by_bytes = kFastCacheBytes / g_class_size[c];
  if (by_bytes == 0) by_bytes = 1;
  return g_options.fast_cap < by_bytes ? g_options.fast_cap : uint32_t(by_bytes);
}

void heap_reset(ThreadHeap* h) {
  h->live.store(true, std::memory_order_relaxed);
  for (uint32_t c = 0; c < kNumClasses; c++) {
    h->cls[c] = ClassCache{&g_slab_sentinel, nullptr, fast_cap_of(c)};
    h->bound[c] = h->partial[c] = h->full[c] = h->empty[c] = nullptr;
    h->empty_count[c] = 0;
    ClassCounters& k = h->stats.cls[c];
    k.remote_frees.store(0, std::memory_order_relaxed);
    k.drains.store(0, std::memory_order_relaxed);
    k.adopts.store(0, std::memory_order_relaxed);
    for (auto& r : k.refills) r.store(0, std::memory_order_relaxed);
  }
  h->next_tick_ms = 0;
  h->tick_countdown = 0;
  h->alloc_ticks = kAllocTickPeriod;
  h->empty_deadline_ms = 0;
  h->mailbox.store(nullptr, std::memory_order_release);
}

Slab** list_of(ThreadHeap* h, Slab* s) {
  switch (s->place) {
    case SlabPlace::kPartial: return &h->partial[s->class_idx];
    case SlabPlace::kEmpty: return &h->empty[s->class_idx];
    default: return &h->full[s->class_idx];
  }
}

void unlink(ThreadHeap* h, Slab* s) {
  switch (s->place) {
    case SlabPlace::kNone: break;
    case SlabPlace::kBound:
      h->bound[s->class_idx] = nullptr;
      h->cls[s->class_idx].slab = &g_slab_sentinel;
      // Pushers did not announce remote frees to a bound slab. From now on they do, and
      // what came before is ours to drain (the store/load pair mirrors slab_release).
      s->bound_hint.store(false, std::memory_order_seq_cst);
      if (s->remote_head.load(std::memory_order_seq_cst)) slab_acquire(h, s);
      break;
    case SlabPlace::kPartial:
    case SlabPlace::kFull:
    case SlabPlace::kEmpty: {
      if (s->place == SlabPlace::kEmpty) h->empty_count[s->class_idx]--;
      Slab** head = list_of(h, s);
      if (s->prev) s->prev->next = s->next;
      else *head = s->next;
      if (s->next) s->next->prev = s->prev;
      s->next = s->prev = nullptr;
      break;
    }
  }
  s->place = SlabPlace::kNone;
}

}  // namespace

constinit Slab g_slab_sentinel{};
constinit ThreadHeap g_heap_placeholder{PlaceholderTag{}, &g_slab_sentinel};
__thread ThreadHeap* t_heap __attribute__((tls_model("initial-exec"))) = &g_heap_placeholder;

void heap_process_init() {
  g_slab_sentinel.owner_tid.store(kTidNobody, std::memory_order_relaxed);
  pthread_key_create(&g_exit_key, on_thread_exit);
}

ThreadHeap* heap_get() {
  ThreadHeap* h = t_heap;
  if (h != &g_heap_placeholder) return h;
  h = heap_new();
  if (!h) return nullptr;
  heap_reset(h);
  g_threads_live.fetch_add(1, std::memory_order_relaxed);
  // Set the TLS pointer first: pthread_setspecific may allocate (high key numbers)
  // and that allocation must find this heap rather than recurse.
  t_heap = h;
  pthread_setspecific(g_exit_key, h);
  return h;
}

ThreadHeap* heap_by_tid(uint32_t tid) {
  if (tid == 0 || tid > g_heap_count.load(std::memory_order_acquire)) return nullptr;
  return g_heaps[tid - 1].load(std::memory_order_acquire);
}

void heap_place(ThreadHeap* h, Slab* s, SlabPlace where) {
  unlink(h, s);
  if (where == SlabPlace::kFull && slab_has_free(s)) where = SlabPlace::kPartial;  // drained on unbind
  if (where == SlabPlace::kNone) return;
  if (where == SlabPlace::kBound) {
    heap_bind(h, s);
    return;
  }
  s->place = where;
  if (where == SlabPlace::kEmpty) h->empty_count[s->class_idx]++;
  Slab** head = list_of(h, s);
  s->prev = nullptr;
  s->next = *head;
  if (*head) (*head)->prev = s;
  *head = s;
}

void heap_bind(ThreadHeap* h, Slab* s) {
  unlink(h, s);
  uint32_t c = s->class_idx;
  if (Slab* old = h->bound[c]) heap_place(h, old, slab_has_free(old) ? SlabPlace::kPartial : SlabPlace::kFull);
  s->place = SlabPlace::kBound;
  s->bound_hint.store(true, std::memory_order_relaxed);
  h->bound[c] = s;
  // Guard mode keeps the fast path's view empty so every allocation takes the checked path.
  h->cls[c].slab = g_options.guard ? &g_slab_sentinel : s;
}

void heap_slab_emptied(ThreadHeap* h, Slab* s) {
  unlink(h, s);
  pool_return_slab(s);
}

void heap_settle(ThreadHeap* h, Slab* s) {
  if (s->place == SlabPlace::kBound) return;
  if (s->used.load(std::memory_order_relaxed) == 0) {
    uint32_t c = s->class_idx;
    uint8_t keep = class_is_small(c) ? kKeepEmptySmall : kKeepEmptyMedium;
    if (s->place == SlabPlace::kEmpty) return;
    if (h->empty_count[c] >= keep) {
      heap_slab_emptied(h, s);
      return;
    }
    heap_place(h, s, SlabPlace::kEmpty);
    if (!h->empty_deadline_ms) h->empty_deadline_ms = os::now_ms() + g_options.purge_delay_ms;
    return;
  }
  SlabPlace want = slab_has_free(s) ? SlabPlace::kPartial : SlabPlace::kFull;
  if (s->place != want) heap_place(h, s, want);
}

void heap_free_local_slow(ThreadHeap* h, Slab* s) {
  heap_settle(h, s);
  heap_tick(h);
}

void heap_process_mailbox(ThreadHeap* h) {
  if (!h->mailbox.load(std::memory_order_relaxed)) return;
  Slab* list = h->mailbox.exchange(nullptr, std::memory_order_acquire);
  while (list) {
    Slab* s = list;
    list = s->list_next;
    if (slab_take_listed(h, s)) heap_settle(h, s);
  }
}

void* heap_alloc_tick(ThreadHeap* h, void* block) {
  h->alloc_ticks = kAllocTickPeriod;
  h->tick_countdown = 0;
  heap_tick(h);
  return block;
}

void heap_tick(ThreadHeap* h) {
  // Reading the clock costs more than a refill; look at it every few slow paths.
  if (h->tick_countdown) {
    h->tick_countdown--;
    return;
  }
  h->tick_countdown = kTickEvery;
  uint64_t now = os::now_ms();
  if (now < h->next_tick_ms) return;
  h->next_tick_ms = now + kTickMs;
  heap_process_mailbox(h);
  if (h->empty_deadline_ms && now >= h->empty_deadline_ms) {
    h->empty_deadline_ms = 0;
    for (uint32_t c = 0; c < kNumClasses; c++)
      while (Slab* s = h->empty[c]) heap_slab_emptied(h, s);
  }
  collect_tick(h, now, false);
}

void heap_thread_exit(ThreadHeap* h) {
  if (h == &g_heap_placeholder || !h->live) return;
  debug_ring_record(RingEvent::kThreadExit, h, h->tid);
  // Blocks in the fast caches belong to slabs this thread owns: put them back first.
  for (uint32_t c = 0; c < kNumClasses; c++) {
    ClassCache& cc = h->cls[c];
    while (void* p = cc.fast_head) {
      cc.fast_head = *static_cast<void**>(p);
      Slab* s = slab_of(superslab_of(p), p);
      slab_push_local(s, p);
    }
    cc.fast_room = 0;
  }
  // Close the mailbox: later announcements go to the global lists instead.
  Slab* list = h->mailbox.exchange(kMailboxClosed, std::memory_order_acq_rel);
  while (list) {
    Slab* s = list;
    list = s->list_next;
    if (slab_take_listed(h, s) && s->place == SlabPlace::kNone) heap_place(h, s, SlabPlace::kFull);
  }
  for (uint32_t c = 0; c < kNumClasses; c++) {
    Slab* owned[4] = {h->bound[c], h->partial[c], h->full[c], h->empty[c]};
    for (Slab* head : owned) {
      for (Slab* s = head; s;) {
        Slab* next = s->place == SlabPlace::kBound ? nullptr : s->next;
        slab_acquire(h, s);  // ours already: drains what other threads freed
        unlink(h, s);
        if (s->used.load(std::memory_order_relaxed) == 0) {
          pool_return_slab(s);
        } else {
          bool has_free = slab_has_free(s);
          slab_release(s);
          // Adoption: the free blocks of a dead thread's slab are offered to others.
          // Without it they come back only when another thread frees into the slab.
          if (has_free && g_options.adopt && !s->listed.exchange(true, std::memory_order_seq_cst))
            orphan_push(OrphanList::kAdopt, c, s);
        }
        s = next;
      }
    }
  }
  stats_absorb(h->stats);
  h->live.store(false, std::memory_order_relaxed);
  t_heap = &g_heap_placeholder;
  g_threads_live.fetch_sub(1, std::memory_order_relaxed);
  g_threads_exited.fetch_add(1, std::memory_order_relaxed);
  LockGuard g(g_registry_lock);
  h->pool_next = g_recycled;
  g_recycled = h;
}

void heap_for_each(void (*fn)(ThreadHeap*, void*), void* arg) {
  uint32_t n = g_heap_count.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++)
    if (ThreadHeap* h = g_heaps[i].load(std::memory_order_acquire)) fn(h, arg);
}

void heap_thread_counts(uint64_t* live, uint64_t* exited) {
  *live = g_threads_live.load(std::memory_order_relaxed);
  *exited = g_threads_exited.load(std::memory_order_relaxed);
}

namespace {

// Fork child: the threads behind these heaps do not exist here. Their slabs are
// released and offered for adoption so the child can reuse and free into them.
void release_dead_owners(SuperSlab* ss, void* arg) {
  uint32_t self = *static_cast<uint32_t*>(arg);
  for (uint32_t i = 0; i < ss->num_slabs; i++) {
    Slab* s = &ss->slabs[i];
    uint32_t owner = s->owner_tid.load(std::memory_order_relaxed);
    if (owner == kOwnerNone || owner == kOwnerPool || owner == self) continue;
    s->place = SlabPlace::kNone;
    s->next = s->prev = nullptr;
    s->bound_hint.store(false, std::memory_order_seq_cst);
    bool has_free = slab_has_free(s);
    slab_release(s);
    if (has_free && !s->listed.exchange(true, std::memory_order_seq_cst)) orphan_push(OrphanList::kAdopt, s->class_idx, s);
  }
}

}  // namespace

void heap_abandon_others_in_child() {
  ThreadHeap* self = t_heap;
  uint32_t n = g_heap_count.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    ThreadHeap* h = g_heaps[i].load(std::memory_order_acquire);
    if (!h || h == self || !h->live) continue;
    // Each fast-cache push or pop is a single store away from consistent, so the
    // lists can be walked even if their thread was inside one at fork time.
    for (auto& cc : h->cls) {
      while (void* p = cc.fast_head) {
        cc.fast_head = *static_cast<void**>(p);
        slab_push_local(slab_of(superslab_of(p), p), p);
      }
    }
    // Announcements waiting in its mailbox: drop them, and their tokens with them.
    Slab* list = h->mailbox.exchange(kMailboxClosed, std::memory_order_acq_rel);
    for (; list; list = list->list_next) list->listed.store(false, std::memory_order_relaxed);
    stats_absorb(h->stats);
    h->live.store(false, std::memory_order_relaxed);
    h->pool_next = g_recycled;
    g_recycled = h;
    g_threads_live.fetch_sub(1, std::memory_order_relaxed);
  }
  uint32_t self_tid = self->tid;
  pool_for_each_superslab(release_dead_owners, &self_tid);
}

void heap_registry_lock() { g_registry_lock.lock(); }
void heap_registry_unlock() { g_registry_lock.unlock(); }
void heap_registry_reset_in_child() { g_registry_lock.reset(); }

}  // namespace hakmem
