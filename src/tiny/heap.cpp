#include "tiny/heap.h"

#include <pthread.h>

#include "base/spin_lock.h"
#include "config/options.h"
#include "os/os.h"
#include "tiny/collect.h"
#include "policy/purger.h"
#include "policy/retention.h"
#include "tiny/ownership.h"
#include "tiny/refill.h"
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
// Slabs with free blocks a heap keeps owned per class besides the bound one. Remote
// frees into an owned slab wait for its owner, who may go idle; beyond these few the
// heap lets go of them, and frees complete them wherever they come from.
constexpr uint8_t kKeepPartialSmall = 16;
constexpr uint8_t kKeepPartialMedium = 4;
// Full slabs a heap keeps owned per class: a thread that frees its own blocks into a
// slab it filled recently does so locally. Older full slabs are let go of, so that
// other threads' frees into them do not wait for this thread.
constexpr uint8_t kKeepFullSmall = 8;
constexpr uint8_t kKeepFullMedium = 2;

// tid - 1 indexes this table; heaps are never unmapped, so an entry stays readable.
std::atomic<ThreadHeap*> g_heaps[kMaxHeaps];
std::atomic<uint32_t> g_heap_count{0};
SpinLock g_registry_lock;
// The shared heap: one heap that threads take turns to act as the owner of, under its
// lock. It serves (1) threads whose own heap was already torn down (allocations in TLS
// destructors that run after ours), so such a thread never creates a heap nobody would
// tear down, and (2) every thread's first few blocks of each class, the nursery
// (heap_alloc_slow): a thread that allocates a handful of blocks in many classes would
// otherwise pin a slab page per class.
SpinLock g_shared_lock;
std::atomic<ThreadHeap*> g_shared_heap{nullptr};  // created under g_shared_lock, never torn down
// Set while fork() waits for g_shared_lock: nursery allocations, which need not go
// there, then leave the lock alone, so that threads starting up in a loop cannot keep
// the forking thread waiting (the lock is a test-and-set, not a queue).
std::atomic<bool> g_shared_wanted{false};
ThreadHeap* g_recycled = nullptr;  // under g_registry_lock
std::atomic<uint64_t> g_threads_live{0}, g_threads_exited{0};
pthread_key_t g_exit_key;
// pthread_setspecific on the exit key never allocates: glibc keeps the values of the
// first 32 keys in the thread descriptor. Else threads get a heap at once (no records).
bool g_heapless = false;
uint8_t nursery_quota(uint32_t c);

// A thread that has taken nothing but nursery blocks has no heap, whose first page
// would cost it 4 KiB resident: its quotas live in a 128-byte record in memory hakmem
// maps for itself, reached through the exit key with its low bit set. The thread's
// first allocation past a quota creates its heap, which takes the quotas over. Records
// are recycled, never unmapped; the live ones are listed so that a fork child can
// release those of threads that did not survive. Lists under g_registry_lock.
struct alignas(128) NurseryRecord {
  uint8_t left[kNumClasses];
  NurseryRecord* prev;
  NurseryRecord* next;
  int32_t os_tid;            // its thread's kernel id (a reclaimer checks it is still there)
  uint64_t gone_checked_ms;  // under g_registry_lock
};
static_assert(sizeof(NurseryRecord) == 128);
constexpr size_t kRecordChunkBytes = 64 * 1024;
NurseryRecord* g_records_live = nullptr;
NurseryRecord* g_records_free = nullptr;
NurseryRecord* g_records_next = nullptr;  // the unused rest of the last chunk mapped
NurseryRecord* g_records_end = nullptr;

// The process id heaps and records were made under (set at start-up and in a fork
// child). A task that shares our memory under another process id, a vfork() child above
// all, runs on its parent thread's TLS: what it creates lives on in that thread, whose
// kernel id is not the child's. Its heaps and records get id 0, never checked (a vfork
// child that mallocs is outside POSIX, but real programs do it).
std::atomic<int32_t> g_pid{0};
int32_t liveness_tid() {
  return os::process_id() == g_pid.load(std::memory_order_relaxed) ? os::thread_id() : 0;
}

NurseryRecord* record_of(void* key_value) {
  auto v = reinterpret_cast<uintptr_t>(key_value);
  return v & 1 ? reinterpret_cast<NurseryRecord*>(v - 1) : nullptr;
}
void* key_value_of(NurseryRecord* r) { return reinterpret_cast<char*>(r) + 1; }

// Under g_registry_lock. The thread id is set here, not after: a sweep for records of
// gone threads (under the same lock) must never see a recycled record with the id of
// its previous thread.
void record_link(NurseryRecord* r, int32_t os_tid) {
  r->os_tid = os_tid;
  r->gone_checked_ms = 0;
  r->prev = nullptr;
  r->next = g_records_live;
  if (g_records_live) g_records_live->prev = r;
  g_records_live = r;
}

NurseryRecord* record_new() {
  NurseryRecord* r = nullptr;
  const int32_t os_tid = liveness_tid();
  {
    LockGuard g(g_registry_lock);
    if ((r = g_records_free) != nullptr) g_records_free = r->next;
    else if (g_records_next != g_records_end) r = g_records_next++;
    if (r) record_link(r, os_tid);
  }
  if (!r) {
    auto* chunk = static_cast<NurseryRecord*>(os::map_aligned(kRecordChunkBytes, os::kPageSize));
    if (!chunk) return nullptr;
    LockGuard g(g_registry_lock);
    // Another thread may have mapped a chunk meanwhile: the rest of that one is dropped.
    r = chunk;
    g_records_next = chunk + 1;
    g_records_end = chunk + kRecordChunkBytes / sizeof(NurseryRecord);
    record_link(r, os_tid);
  }
  for (uint32_t c = 0; c < kNumClasses; c++) r->left[c] = nursery_quota(c);
  return r;
}

void record_free_locked(NurseryRecord* r) {
  if (r->prev) r->prev->next = r->next;
  else g_records_live = r->next;
  if (r->next) r->next->prev = r->prev;
  r->next = g_records_free;
  g_records_free = r;
}

void record_free(NurseryRecord* r) {
  LockGuard g(g_registry_lock);
  record_free_locked(r);
}

void note_thread_exited() {
  g_threads_live.fetch_sub(1, std::memory_order_relaxed);
  g_threads_exited.fetch_add(1, std::memory_order_relaxed);
}

// The end of every thread's exit, heap or not. What it freed into the shared heap (its
// nursery blocks, typically just now) goes back with the rest of its memory rather than
// waiting for another thread's round, which an idle program may not make. Allocations
// after this point (a later TLS destructor) go to the shared heap; a free is remote to
// every slab, as the retired heap owns none.
void retire_exiting_thread() {
  heap_tend_shared(false, 0);
  t_heap = &g_heap_retired;
  note_thread_exited();
}

// The exit of a thread that never needed a heap.
void heapless_thread_exit(NurseryRecord* r) {
  record_free(r);
  retire_exiting_thread();
}

void on_thread_exit(void* arg) {
  if (NurseryRecord* r = record_of(arg)) heapless_thread_exit(r);
  else heap_thread_exit(static_cast<ThreadHeap*>(arg));
  purger_thread_exited(os::is_main_thread());
}

static_assert(offsetof(ThreadHeap, bound) <= os::kPageSize, "a fresh heap must touch one page only");

// *fresh: the heap is zero-filled memory nobody used yet.
ThreadHeap* heap_new(bool* fresh) {
  *fresh = false;
  {
    LockGuard g(g_registry_lock);
    if (ThreadHeap* h = g_recycled) {
      g_recycled = h->pool_next;
      return h;
    }
  }
  *fresh = true;
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

// How many blocks of class c a thread takes from the shared heap before it gets a slab
// of its own: up to kNurseryBytes of the class, at least one block and at most
// kNurseryBlocks (each costs the shared heap's lock and, when freed, a remote free).
// Mid-size classes too: a thread's first mid-size slab costs it a slab header's share
// and the page its last block straddles, per class (thread_footprint: 358 KiB per
// thread with small classes only, 329 with all).
constexpr size_t kNurseryBytes = 48 * 1024;
constexpr uint32_t kNurseryBlocks = 12;
uint8_t nursery_quota(uint32_t c) {
  size_t n = kNurseryBytes / g_class_size[c];
  return uint8_t(n == 0 ? 1 : n > kNurseryBlocks ? kNurseryBlocks : n);
}

// A fresh heap is all zero already: writing zeros would make its later pages resident.
void heap_reset(ThreadHeap* h, bool fresh, bool shared) {
  // A reclaimer that found this heap live in its previous life may still hold the slow
  // lock: wait for it, and keep it out until the heap is live again.
  uint32_t expected = kSlowFree;
  if (!h->slow_lock.compare_exchange_strong(expected, kSlowOwner, std::memory_order_acquire))
    heap_slow_lock_contended(h);
  h->shared = shared;
  for (uint32_t c = 0; c < kNumClasses; c++) {
    h->cls[c] = ClassCache{&g_slab_sentinel, nullptr, fast_cap_of(c)};
    h->nursery_left[c] = shared ? 0 : nursery_quota(c);
    if (fresh) continue;
    h->bound[c] = h->partial[c] = h->full[c] = h->empty[c] = nullptr;
    h->empty_count[c] = 0;
    h->emptied_run[c] = 0;
    h->partial_count[c] = 0;
    h->full_count[c] = 0;
    ClassCounters& k = h->stats.cls[c];
    k.remote_frees.store(0, std::memory_order_relaxed);
    k.drains.store(0, std::memory_order_relaxed);
    k.adopts.store(0, std::memory_order_relaxed);
    for (auto& r : k.refills) r.store(0, std::memory_order_relaxed);
  }
  h->next_tick_ms = 0;
  h->active_ms.store(os::now_ms(), std::memory_order_relaxed);
  h->tick_countdown = 0;
  h->tick_bytes = kTickBytes;
  h->prof = ProfileThread{};
  h->empty_deadline_ms = 0;
  // Before the heap is published (live, slow lock free): a reclaimer reads it.
  h->os_tid = shared ? 0 : liveness_tid();
  h->gone_checked_ms = 0;
  h->mailbox.store(nullptr, std::memory_order_release);
  h->live.store(true, std::memory_order_release);
  h->slow_lock.store(kSlowFree, std::memory_order_release);
}

Slab** list_of(ThreadHeap* h, Slab* s) {
  switch (s->place) {
    case SlabPlace::kEmpty: return &h->empty[s->class_idx];
    case SlabPlace::kFull: return &h->full[s->class_idx];
    default: return &h->partial[s->class_idx];
  }
}

void unlink(ThreadHeap* h, Slab* s) {
  switch (s->place) {
    case SlabPlace::kNone: break;
    case SlabPlace::kBound:
      h->bound[s->class_idx] = nullptr;
      h->cls[s->class_idx].slab = &g_slab_sentinel;
      // Pushers did not announce remote frees to a bound slab. From now on they do, and
      // what came before is ours to drain (the store/load pair mirrors slab_let_go).
      s->bound_hint.store(false, std::memory_order_seq_cst);
      if (s->remote_head.load(std::memory_order_seq_cst)) slab_acquire(h, s);
      break;
    case SlabPlace::kPartial:
    case SlabPlace::kFull:
    case SlabPlace::kEmpty: {
      if (s->place == SlabPlace::kFull) {
        h->full_count[s->class_idx]--;
      } else if (s->place == SlabPlace::kEmpty) {
        h->empty_count[s->class_idx]--;
        retained_add(Retained::kKeptEmpty, -int64_t(s->retained_bytes));
        s->retained_bytes = 0;
      } else {
        h->partial_count[s->class_idx]--;
      }
      Slab** head = list_of(h, s);
      if (s->prev) s->prev->next = s->next;
      else *head = s->next;
      if (s->next) s->next->prev = s->prev;
      s->next = s->prev = nullptr;
      break;
    }
  }
  set_place(s, SlabPlace::kNone);
}

void push_list(ThreadHeap* h, Slab* s, SlabPlace where) {
  set_place(s, where);
  if (where == SlabPlace::kEmpty) {
    h->empty_count[s->class_idx]++;
    s->retained_bytes = slab_resident_bytes(s);
    retained_add(Retained::kKeptEmpty, s->retained_bytes);
  } else if (where == SlabPlace::kFull) {
    h->full_count[s->class_idx]++;
  } else {
    h->partial_count[s->class_idx]++;
  }
  Slab** head = list_of(h, s);
  s->prev = nullptr;
  s->next = *head;
  if (*head) (*head)->prev = s;
  *head = s;
}

// A block of the fast cache goes back to its slab: locally if this heap still owns
// the slab, else as a remote free (the heap let go of the slab when it filled up, and
// whoever owns it now drains it). Returns the slab when it went back locally.
Slab* return_cached_block(ThreadHeap* h, void* p) {
  Slab* s = slab_of(superslab_of(p), p);
  if (s->owner_tid.load(std::memory_order_relaxed) == h->tid) {
    slab_push_local(s, p);
    return s;
  }
  slab_remote_free(s, p);
  return nullptr;
}

void flush_fast_caches(ThreadHeap* h) {
  for (uint32_t c = 0; c < kNumClasses; c++) {
    ClassCache& cc = h->cls[c];
    while (void* p = cc.fast_head) {
      cc.fast_head = *static_cast<void**>(p);
      return_cached_block(h, p);
    }
    cc.fast_room = 0;
  }
}

void release_kept_empty(ThreadHeap* h) {
  h->empty_deadline_ms = 0;
  for (uint32_t c = 0; c < kNumClasses; c++)
    while (Slab* s = h->empty[c]) heap_slab_emptied(h, s);
}

// Lists are pushed at the head, so the oldest is the last.
void let_go_of_oldest(ThreadHeap* h, Slab* head) {
  Slab* oldest = head;
  while (oldest->next) oldest = oldest->next;
  unlink(h, oldest);
  slab_let_go(h, oldest);
}

// Lets go of every slab the heap owns: the heap will not allocate again.
void let_go_of_everything(ThreadHeap* h) {
  for (uint32_t c = 0; c < kNumClasses; c++) {
    Slab* owned[4] = {h->bound[c], h->partial[c], h->full[c], h->empty[c]};
    for (Slab* head : owned) {
      for (Slab* s = head; s;) {
        Slab* next = s->place == SlabPlace::kBound ? nullptr : s->next;
        slab_acquire(h, s);  // ours already: drains what other threads freed
        unlink(h, s);
        slab_let_go(h, s);
        s = next;
      }
    }
  }
}

}  // namespace

// The class the nursery serves class c from: the first one whose size is a multiple of
// the cache line, so that its blocks (slabs start page-aligned) never share a line and
// two threads' nursery blocks side by side cannot falsely share one (Hoard's
// cache_thrash: each thread writes its one small block in a loop). Below 1 KiB this
// rounds a block up by less than a line; from 1 KiB on every class is a multiple of
// 64 B but a few between 4 and 8 KiB, whose blocks share at most their end lines.
constexpr size_t kCacheLine = 64;
uint32_t nursery_class(uint32_t c) {
  if (g_class_size[c] >= 1024) return c;
  while (g_class_size[c] % kCacheLine) c++;
  return c;
}

constinit Slab g_slab_sentinel{};
constinit ThreadHeap g_heap_placeholder{PlaceholderTag{}, &g_slab_sentinel};
constinit ThreadHeap g_heap_retired{PlaceholderTag{}, &g_slab_sentinel};
__thread ThreadHeap* t_heap __attribute__((tls_model("initial-exec"))) = &g_heap_placeholder;

void heap_process_init() {
  g_pid.store(os::process_id(), std::memory_order_relaxed);
  g_slab_sentinel.owner_tid.store(kTidNobody, std::memory_order_relaxed);
  g_heapless = pthread_key_create(&g_exit_key, on_thread_exit) == 0 && g_exit_key < 32;
}

ThreadHeap* heap_get() {
  ThreadHeap* h = t_heap;
  if (h != &g_heap_placeholder) return h == &g_heap_retired ? nullptr : h;
  bool fresh;
  h = heap_new(&fresh);
  if (!h) return nullptr;
  heap_reset(h, fresh, false);
  if (NurseryRecord* r = record_of(pthread_getspecific(g_exit_key))) {
    for (uint32_t c = 0; c < kNumClasses; c++) h->nursery_left[c] = r->left[c];
    record_free(r);  // the thread was counted live when it took its record
  } else {
    g_threads_live.fetch_add(1, std::memory_order_relaxed);
  }
  // Set the TLS pointer first: pthread_setspecific may allocate (high key numbers)
  // and that allocation must find this heap rather than recurse.
  t_heap = h;
  pthread_setspecific(g_exit_key, h);
  return h;
}

void* heap_alloc_heapless(uint32_t c) {
  if (!g_heapless) return nullptr;
  void* v = pthread_getspecific(g_exit_key);
  NurseryRecord* r = record_of(v);
  if (!r) {
    if (v || g_shared_wanted.load(std::memory_order_relaxed)) return nullptr;
    if (!(r = record_new())) return nullptr;
    pthread_setspecific(g_exit_key, key_value_of(r));
    g_threads_live.fetch_add(1, std::memory_order_relaxed);
  }
  return nursery_take(r->left[c], c);
}

void* nursery_take(uint8_t& left, uint32_t c) {
  if (!left) return nullptr;
  left--;
  void* p = heap_alloc_nursery(nursery_class(c));
  if (!p) left = 0;  // the shared heap could not serve: a slab of the thread's own
  return p;
}

uint8_t heap_nursery_left(uint32_t c) {
  ThreadHeap* h = t_heap;
  if (h != &g_heap_placeholder) return h->nursery_left[c];
  NurseryRecord* r = g_heapless ? record_of(pthread_getspecific(g_exit_key)) : nullptr;
  return r ? r->left[c] : nursery_quota(c);
}

bool heap_is_heapless() { return t_heap == &g_heap_placeholder && g_heapless && record_of(pthread_getspecific(g_exit_key)); }

void* heap_alloc_nursery(uint32_t c) {
  if (g_shared_wanted.load(std::memory_order_relaxed)) return nullptr;
  return heap_alloc_shared(c);
}

// The shared heap, made on first use. Under g_shared_lock (or in a fork child).
static ThreadHeap* shared_heap_get() {
  ThreadHeap* h = g_shared_heap.load(std::memory_order_relaxed);
  if (!h) {
    bool fresh;
    h = heap_new(&fresh);
    if (!h) return nullptr;
    heap_reset(h, fresh, true);
    g_shared_heap.store(h, std::memory_order_release);
  }
  return h;
}

void* heap_alloc_shared(uint32_t c) {
  LockGuard g(g_shared_lock);
  ThreadHeap* h = shared_heap_get();
  return h ? heap_alloc_slow(h, c) : nullptr;
}

// The shared heap has no thread of its own to run its housekeeping, and once every
// thread has taken its nursery quota nobody allocates from it: the blocks threads free
// into it would wait in its mailbox. So every thread's collection round (and the
// purger's, malloc_trim, and a thread's exit) tends it: the slabs its mailbox announced
// are drained and settled (empty ones kept or pooled; malloc_trim also pools the kept
// ones). Kept-empty slabs that come due while nobody uses the shared heap go back like
// any idle heap's (heap_reclaim_complete).
void heap_tend_shared(bool force, uint32_t orphan_budget) {
  ThreadHeap* h = g_shared_heap.load(std::memory_order_acquire);
  if (!orphan_budget && (!h || (!force && !h->mailbox.load(std::memory_order_relaxed)))) return;
  // A thread on the shared heap's own slow path (which tends it anyway) holds the lock.
  if (force || orphan_budget) g_shared_lock.lock();
  else if (!g_shared_lock.try_lock()) return;
  if (!h && !(h = shared_heap_get())) {
    g_shared_lock.unlock();
    return;
  }
  {
    HeapSlowScope scope(h);
    if (orphan_budget) collect_orphans(h, orphan_budget);
    // Its bound slabs (announced like the others, see heap_bind) are let go of their
    // binding too, so that an empty one goes back to the pool rather than wait there
    // for the next nursery allocation of its class.
    for (Slab* b : h->bound) {
      if (!b) continue;
      heap_place(h, b, SlabPlace::kNone);
      heap_settle(h, b);
    }
    heap_process_mailbox(h);
    if (force) release_kept_empty(h);
  }
  g_shared_lock.unlock();
}

void heap_release_kept_empty(ThreadHeap* h) { release_kept_empty(h); }

ThreadHeap* heap_by_tid(uint32_t tid) {
  if (tid == 0 || tid > g_heap_count.load(std::memory_order_acquire)) return nullptr;
  return g_heaps[tid - 1].load(std::memory_order_acquire);
}

void heap_place(ThreadHeap* h, Slab* s, SlabPlace where) {
  unlink(h, s);
  if (where == SlabPlace::kNone) return;
  if (where == SlabPlace::kBound) {
    heap_bind(h, s);
    return;
  }
  push_list(h, s, where);
}

void heap_bind(ThreadHeap* h, Slab* s) {
  unlink(h, s);
  uint32_t c = s->class_idx;
  if (Slab* old = h->bound[c]) {
    unlink(h, old);
    heap_settle(h, old);
  }
  set_place(s, SlabPlace::kBound);
  // The shared heap's next call may never come: frees into its bound slab are
  // announced like any other (heap_tend_shared looks at its mailbox).
  s->bound_hint.store(!h->shared, std::memory_order_relaxed);
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
  uint32_t c = s->class_idx;
  if (s->used.load(std::memory_order_relaxed) == 0) {
    if (s->place == SlabPlace::kEmpty) return;
    // Kept for reuse only while the retention budget has room: beyond it the slab
    // goes to the pool, which gives its pages back at once.
    uint8_t keep = class_is_small(c) ? kKeepEmptySmall : kKeepEmptyMedium;
    if (h->empty_count[c] >= keep || retention_owner_share_exceeded(slab_resident_bytes(s))) {
      heap_slab_emptied(h, s);
      return;
    }
    heap_place(h, s, SlabPlace::kEmpty);
    if (!h->empty_deadline_ms) h->empty_deadline_ms = os::now_ms() + g_options.purge_delay_ms;
    return;
  }
  if (slab_has_free(s)) {
    if (s->place == SlabPlace::kPartial) return;
    // Beyond a few partial slabs per class, the oldest is let go of: remote frees into
    // an owned slab wait for its owner, who may go idle.
    uint8_t keep = class_is_small(c) ? kKeepPartialSmall : kKeepPartialMedium;
    if (h->partial_count[c] >= keep) let_go_of_oldest(h, h->partial[c]);
    heap_place(h, s, SlabPlace::kPartial);
    return;
  }
  // Full. Older full slabs are let go of: the first free into one adopts it, or the one
  // that completes it gives it back to the pool, so its memory comes back whether we
  // stay busy, go idle or exit.
  if (s->place == SlabPlace::kFull) return;
  uint8_t keep = class_is_small(c) ? kKeepFullSmall : kKeepFullMedium;
  if (h->full_count[c] >= keep) let_go_of_oldest(h, h->full[c]);
  heap_place(h, s, SlabPlace::kFull);
}

namespace {

// Slabs a class must empty (or adopt by freeing) without an allocation slow path in
// between before the frees count as a bulk free.
constexpr uint8_t kBulkFreeRun = 8;

// Puts the class's fast-cache blocks back on their slabs and settles each slab of ours
// they went to (a slab made empty, or given its first free block, changes lists), as
// the frees would have had the cache been full.
void flush_class_cache(ThreadHeap* h, uint32_t c) {
  ClassCache& cc = h->cls[c];
  while (void* p = cc.fast_head) {
    cc.fast_head = *static_cast<void**>(p);
    if (Slab* s = return_cached_block(h, p)) heap_settle(h, s);
  }
}

// A slab this thread's frees emptied (the fast path comes here only with the cache full)
// or adopted (remote_free_unowned), with no allocation slow path in the class since the
// last one: a run of them is a bulk free. The cache's blocks would pin a slab each,
// scattered in the order the program freed them, and keep those slabs out of the pool,
// idle or not (300 MiB of 16..1040 B blocks freed in random order left ~40 MiB of slabs
// pinned by 64 blocks a class). Adopted slabs count too: a thread that frees what others
// allocated adopts the slabs they let go of, and the frees of a second thread into those
// are remote, so that the slabs never empty here (two threads freeing 300 MiB that two
// others allocated, then all four idle: 80 MiB pinned, malloc_trim included, as an idle
// thread's cache is nobody else's to touch). So the cache's blocks go back now, and until
// the class's next allocation slow path its frees bypass the cache (room 0, cache empty;
// heap_cache_resume), so that what the program frees next empties slabs instead of
// refilling the cache. Not at the first step: a loop that frees a batch of a few slabs
// and allocates it again (malloc_simple, 100 blocks of 4 KiB) would pay the flush and the
// uncached frees every round (+15%).
void note_bulk_free_step(ThreadHeap* h, uint32_t c) {
  ClassCache& cc = h->cls[c];
  if (h->emptied_run[c] < 255) h->emptied_run[c]++;
  if (h->emptied_run[c] < kBulkFreeRun || cc.fast_room != 0 || !cc.fast_head) return;
  flush_class_cache(h, c);
  // The bound slab too: the fast path never settles it, so bound it would stay resident
  // however empty the run leaves it. Unbound, its frees settle it like any other slab's,
  // and the class's next allocation binds a slab again (slow path).
  if (Slab* b = h->bound[c]) {
    unlink(h, b);
    heap_settle(h, b);
  }
}

}  // namespace

void heap_free_local_slow(ThreadHeap* h, Slab* s) {
  HeapSlowScope scope(h);
  // The fast path pushed without the lock, and that free may have completed the slab:
  // a reclaimer may have given it back before we got the lock (found by the model,
  // verify/ -DRECLAIM). Then it is not ours to settle.
  if (s->owner_tid.load(std::memory_order_relaxed) != h->tid) {
    heap_tick(h);
    return;
  }
  uint32_t c = s->class_idx;
  bool emptied = s->used.load(std::memory_order_relaxed) == 0;
  heap_settle(h, s);
  if (emptied) note_bulk_free_step(h, c);
  heap_tick(h);
}

void heap_slab_adopted_by_free(ThreadHeap* h, uint32_t c) { note_bulk_free_step(h, c); }

void heap_cache_resume(ThreadHeap* h, uint32_t c) {
  h->emptied_run[c] = 0;
  ClassCache& cc = h->cls[c];
  if (cc.fast_room == 0 && !cc.fast_head) cc.fast_room = fast_cap_of(c);
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

// With the profiler on, the countdown also runs to the next sample, and this block may
// be the sampled one (replaced by one the profiler records). Out of line, so the tick
// without the profiler stays what it was.
__attribute__((noinline, cold)) void* heap_alloc_tick_profiled(ThreadHeap* h, void* block) {
  HeapSlowScope scope(h);
  if (!profile_alloc_tick(h->prof, &h->tick_bytes, &block)) return block;
  h->tick_countdown = 0;
  heap_tick(h);
  return block;
}

void* heap_alloc_tick(ThreadHeap* h, void* block) {
  if (profile_on()) {
    block = heap_alloc_tick_profiled(h, block);
  } else {
    HeapSlowScope scope(h);
    h->tick_bytes = kTickBytes;
    h->tick_countdown = 0;
    heap_tick(h);
  }
  purger_poll();  // after the slow lock is released: starting it allocates
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
  h->active_ms.store(now, std::memory_order_relaxed);
  if (now < h->next_tick_ms) return;
  h->next_tick_ms = now + kTickMs;
  heap_process_mailbox(h);
  if (h->empty_deadline_ms && now >= h->empty_deadline_ms) release_kept_empty(h);
  collect_tick(h, now, false);
}

// Everything a thread's exit does to its heap, under the heap's slow lock held as its
// owner: by the thread itself, or by a reclaimer for a thread that ended without our
// exit hook (heap_reclaim_complete).
static void heap_teardown(ThreadHeap* h) {
  debug_ring_record(RingEvent::kThreadExit, h, h->tid);
  // Blocks in the fast caches belong to slabs this thread owns or let go of: put them
  // back first.
  flush_fast_caches(h);
  // Close the mailbox: from now on announcements to this heap are dropped, which is
  // safe because every slab we still own is let go of below, and slab_let_go looks at
  // the remote queue after each release.
  Slab* list = h->mailbox.exchange(kMailboxClosed, std::memory_order_acq_rel);
  while (list) {
    Slab* s = list;
    list = s->list_next;
    if (slab_take_listed(h, s) && s->place == SlabPlace::kNone) heap_place(h, s, SlabPlace::kPartial);
  }
  let_go_of_everything(h);
  stats_absorb(h->stats);
}

// A torn-down heap goes to the free list of heaps. Its slow lock must be released first
// (the next thread's first scope would take a lock still showing kSlowOwner for its own)
// and the heap marked dead (so that no reclaimer takes it for a live one meanwhile).
static void heap_recycle(ThreadHeap* h) {
  LockGuard g(g_registry_lock);
  h->pool_next = g_recycled;
  g_recycled = h;
}

void heap_thread_exit(ThreadHeap* h) {
  if (h->tid == kTidNobody || !h->live) return;
  {
    HeapSlowScope scope(h);
    heap_teardown(h);
  }
  h->live.store(false, std::memory_order_relaxed);
  retire_exiting_thread();
  heap_recycle(h);
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

struct ChildRecovery {
  ThreadHeap* self;
  uint32_t shared_tid;
};

// Guard mode: the blocks of s handed out, as its bitmap says.
uint32_t guard_handed_out(Slab* s) {
  const uint64_t* bits = guard_bitmap(s);
  uint32_t n = 0;
  for (uint32_t w = 0; w < (s->capacity + 63) / 64; w++) n += uint32_t(__builtin_popcountll(bits[w]));
  return n;
}

// Fork child: the threads that owned these slabs do not exist here, and may have been
// anywhere in an owner-local update when fork() copied memory (every lock was held by
// the forking thread, so only owner-local state can be torn). Why taking such a slab
// over is safe:
//  - `used` is off by at most the one block that thread was handing out or taking
//    back, and that block is referenced by nothing the child can reach, so `used`
//    never undercounts a block the child can free: the slab never reaches the pool
//    while a reachable block lives in it (at worst it never reaches it: a leak).
//  - a carve commits `carved` before it publishes the carved blocks on the free list
//    (slab_carve), so no block is both uncarved and listed.
//  - slab_format runs only on a slab fresh from the pool (used == 0, nothing handed
//    out), so a torn format is a slab with used == 0, which goes back to the pool and
//    is formatted again before any use.
//  - a drain exchanges the whole remote queue first: a torn drain loses blocks (a
//    leak), never lists one twice.
//  - guard mode keeps a second record of the blocks handed out, the slab's bitmap,
//    and a pop sets the block's bit before it counts the block in `used`. A thread
//    caught between the two left `used` one short of the bitmap, and a slab whose
//    `used` reaches 0 goes back to the pool with that bit still set (the pool never
//    clears a bitmap: it is clear whenever `used` is 0), so its next owner's pop of
//    that index aborts with "block handed out twice" (preload.fork_guard, about 3% of
//    runs). So in guard mode `used` is recounted from the bitmap, which changes by one
//    atomic operation per block: the torn pop's block stays counted (a leak, never
//    handed out again), and a torn free or drain no longer counts blocks that are free.
// The heap lists of dead threads are not trusted at all: every slab is found through
// its SuperSlab, and its place and links are reset.
void take_over_dead_slabs(SuperSlab* ss, void* arg) {
  auto* r = static_cast<ChildRecovery*>(arg);
  for (uint32_t i = 0; i < ss->num_slabs; i++) {
    Slab* s = &ss->slabs[i];
    uint32_t owner = s->owner_tid.load(std::memory_order_relaxed);
    // Unowned slabs too: a dead thread may have pushed a remote free into one and died
    // before announcing it, or let go of one and died before looking at its queue.
    if (owner == kOwnerPool) continue;
    if (owner == r->self->tid || owner == r->shared_tid) {
      // A thread that did not survive may have died between its push into this slab's
      // queue and the announcement, whose token went with the rebuilt flags: announce
      // it again, unless its owner drains it unasked (bound, with the hint). Found by
      // the spin model (verify/README.md, bug 5).
      if (s->remote_head.load(std::memory_order_relaxed) && !s->listed.load(std::memory_order_relaxed) &&
          !s->bound_hint.load(std::memory_order_relaxed))
        slab_notify(s);
      continue;
    }
    set_place(s, SlabPlace::kNone);
    s->next = s->prev = nullptr;
    s->retained_bytes = 0;  // a kept-empty count of a dead heap; the counter is rebuilt below
    s->bound_hint.store(false, std::memory_order_relaxed);
    s->owner_tid.store(r->self->tid, std::memory_order_relaxed);
    slab_acquire(r->self, s);  // ours now: drains the queue
    if (g_options.guard) s->used.store(guard_handed_out(s), std::memory_order_relaxed);
    slab_let_go(r->self, s);
  }
}

}  // namespace

uint64_t kept_empty_bytes(ThreadHeap* h) {
  uint64_t sum = 0;
  for (uint32_t c = 0; c < kNumClasses; c++)
    for (Slab* s = h->empty[c]; s; s = s->next) sum += s->retained_bytes;
  return sum;
}

void heap_pid_reset_in_child() { g_pid.store(os::process_id(), std::memory_order_relaxed); }

void heap_abandon_others_in_child() {
  ThreadHeap* self = t_heap;
  if (self->tid == kTidNobody) self = heap_get();  // the forking thread had no heap yet
  // A thread past its own exit (a later TLS destructor forked) has no heap to take the
  // dead threads' slabs over with, and must not get one: the shared heap takes them,
  // as it takes this thread's allocations from now on.
  if (!self) self = shared_heap_get();
  if (!self) return;
  if (!self->shared) self->os_tid = liveness_tid();  // the child's thread has an id of its own
  ThreadHeap* dead = nullptr;  // linked through pool_next, unused while a heap is live
  ThreadHeap* shared = g_shared_heap.load(std::memory_order_relaxed);
  if (shared == self) shared = nullptr;  // counted once below, as self
  uint32_t n = g_heap_count.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    ThreadHeap* h = g_heaps[i].load(std::memory_order_acquire);
    if (!h || h == self || h == shared || !h->live) continue;
    // Announcements waiting in its mailbox: drop them, and their tokens with them (an
    // exiting thread may have closed it already: then there is nothing to walk).
    Slab* list = h->mailbox.exchange(kMailboxClosed, std::memory_order_acq_rel);
    if (list == kMailboxClosed) list = nullptr;
    for (; list; list = list->list_next) list->listed.store(false, std::memory_order_relaxed);
    h->live.store(false, std::memory_order_relaxed);
    // Its thread may have died inside a slow path (a reclaimer cannot have: fork holds
    // the reclaim lock): nobody else will ever release it.
    h->slow_lock.store(kSlowFree, std::memory_order_relaxed);
    h->pool_next = dead;
    dead = h;
  }
  Slab* live_mailboxes[2] = {self->mailbox.load(std::memory_order_relaxed),
                             shared ? shared->mailbox.load(std::memory_order_relaxed) : nullptr};
  orphan_rebuild_flags_in_child(live_mailboxes, 2);
  pool_repair_in_child();
  ChildRecovery r{self, shared ? shared->tid : kTidNobody};
  pool_for_each_superslab_in_child(take_over_dead_slabs, &r);
  while (ThreadHeap* h = dead) {
    dead = h->pool_next;
    // Each fast-cache push or pop is a single store away from consistent, so the
    // lists can be walked even if their thread was inside one at fork time. Their
    // slabs were taken over above, so the blocks go back through the usual free.
    for (auto& cc : h->cls) {
      while (void* p = cc.fast_head) {
        cc.fast_head = *static_cast<void**>(p);
        return_cached_block(self, p);
      }
    }
    stats_absorb(h->stats);
    heap_recycle(h);
    g_threads_live.fetch_sub(1, std::memory_order_relaxed);
  }
  // Records of heapless threads that did not survive (the forking thread's own became
  // its heap above).
  for (NurseryRecord* r; (r = g_records_live) != nullptr;) {
    record_free(r);
    g_threads_live.fetch_sub(1, std::memory_order_relaxed);
  }
  // Kept-empty slabs of the dead heaps were taken over with the rest: recount.
  uint64_t kept = kept_empty_bytes(self) + (shared ? kept_empty_bytes(shared) : 0);
  retained_add(Retained::kKeptEmpty, int64_t(kept) - int64_t(retained_raw(Retained::kKeptEmpty)));
}

void heap_slow_lock_contended(ThreadHeap* h) {
  for (unsigned spins = 0;; spins++) {
    uint32_t expected = kSlowFree;
    if (h->slow_lock.load(std::memory_order_relaxed) == kSlowFree &&
        h->slow_lock.compare_exchange_weak(expected, kSlowOwner, std::memory_order_acquire))
      return;
    spin_wait(spins);
  }
}

namespace {

// Held by a reclaimer for its whole visit, so that fork() (which takes it) never finds
// a heap half reclaimed; reclaimers only try it, never wait.
SpinLock g_reclaim_lock;

// Every block free: `used` counts the blocks handed out, and as many wait in the remote
// queue. The owner's fast path cannot change either: a free of one of its blocks would
// need a block the program still holds, and none is held (the fast cache's blocks
// count in `used` too).
bool slab_complete(const Slab* s) {
  uint32_t used = s->used.load(std::memory_order_acquire);
  return used != 0 && remote_count(s->remote_head.load(std::memory_order_acquire)) == used;
}

// Takes the mailbox (not a closed one: the owner closes it on its slow path, which we
// exclude).
Slab* take_mailbox(ThreadHeap* h) {
  Slab* head = h->mailbox.load(std::memory_order_acquire);
  while (head && head != kMailboxClosed &&
         !h->mailbox.compare_exchange_weak(head, nullptr, std::memory_order_acquire, std::memory_order_acquire)) {
  }
  return head == kMailboxClosed ? nullptr : head;
}

void give_back_mailbox(ThreadHeap* h, Slab* first, Slab* last) {
  Slab* head = h->mailbox.load(std::memory_order_relaxed);
  do last->list_next = head;
  while (!h->mailbox.compare_exchange_weak(head, first, std::memory_order_release, std::memory_order_relaxed));
}

}  // namespace

// A heap or nursery record whose thread ended without running our exit hook: its first
// allocator call came in the last round of its TLS destructors, and glibc runs no round
// after that one, so the key value we set then never gets its destructor. Idle heaps are
// asked whether their thread still exists (a system call) at most once a second each,
// the list of records is swept at most once a second, and malloc_trim asks for all but
// those asked in the last few milliseconds (a program may call it in a loop).
// Records hold only quotas.
static constexpr uint64_t kGoneCheckMs = 1000;
static constexpr uint64_t kGoneCheckForcedMs = 10;
static std::atomic<uint64_t> g_next_record_sweep_ms{0};

static bool thread_gone_check_due(int32_t os_tid, uint64_t* checked_ms, uint64_t now, bool always) {
  if (!os_tid) return false;  // the shared heap
  if (now - *checked_ms < (always ? kGoneCheckForcedMs : kGoneCheckMs)) return false;
  *checked_ms = now;
  return true;
}

static void release_records_of_gone_threads(bool always) {
  const uint64_t now = os::now_ms();
  uint64_t due = g_next_record_sweep_ms.load(std::memory_order_relaxed);
  if (!always && now < due) return;
  if (always && now + kGoneCheckMs - kGoneCheckForcedMs < due) return;  // swept a moment ago
  if (!g_next_record_sweep_ms.compare_exchange_strong(due, now + kGoneCheckMs, std::memory_order_relaxed)) return;
  LockGuard g(g_registry_lock);
  for (NurseryRecord* r = g_records_live; r;) {
    NurseryRecord* next = r->next;
    if (thread_gone_check_due(r->os_tid, &r->gone_checked_ms, now, always) && os::thread_gone(r->os_tid)) {
      record_free_locked(r);
      note_thread_exited();
    }
    r = next;
  }
}

// Why a reclaimer may act as h's owner: it holds h's slow lock, so the owner is on no
// slow path (those are the only code that moves slabs between h's lists, drains or
// lets go). The owner's fast paths take no lock: the alloc path pops from the bound
// slab, which is never taken here, and the free path pushes onto a slab of a block the
// program frees, which a complete slab does not have. So the complete partial or full
// slabs of h's mailbox can be drained (claim, then drain: h's tid is the owner's) and
// given back as the owner would, and so can its kept-empty slabs. The others go back
// into the mailbox, tokens and all.
uint32_t heap_reclaim_complete(ThreadHeap* h, bool always) {
  if (h->tid == kTidNobody || !h->live.load(std::memory_order_relaxed)) return 0;
  if (!always && os::now_ms() - h->active_ms.load(std::memory_order_relaxed) < kIdleMs) return 0;
  if (!g_reclaim_lock.try_lock()) return 0;
  uint32_t expected = kSlowFree;
  if (!h->slow_lock.compare_exchange_strong(expected, kSlowReclaimer, std::memory_order_acquire)) {
    g_reclaim_lock.unlock();
    return 0;
  }
  if (!h->live.load(std::memory_order_acquire)) {  // exited since we looked: nothing of it is owned
    h->slow_lock.store(kSlowFree, std::memory_order_release);
    g_reclaim_lock.unlock();
    return 0;
  }
  if (thread_gone_check_due(h->os_tid, &h->gone_checked_ms, os::now_ms(), always) && os::thread_gone(h->os_tid)) {
    // Its thread ended without our exit hook and will never run again: do what the
    // hook would have, as its owner (nested scopes inside are then ours).
    h->slow_lock.store(kSlowOwner, std::memory_order_relaxed);
    heap_teardown(h);
    h->slow_lock.store(kSlowFree, std::memory_order_release);
    h->live.store(false, std::memory_order_relaxed);
    note_thread_exited();
    heap_recycle(h);
    g_reclaim_lock.unlock();
    return 0;
  }
  uint32_t freed = 0;
  Slab *keep = nullptr, *keep_last = nullptr;
  for (Slab* s = take_mailbox(h); s;) {
    Slab* next = s->list_next;
    bool reclaimable = s->owner_tid.load(std::memory_order_acquire) == h->tid &&
                       (s->place == SlabPlace::kPartial || s->place == SlabPlace::kFull) && slab_complete(s);
    if (reclaimable && slab_take_listed(h, s)) {
      if (s->used.load(std::memory_order_relaxed) == 0) {
        heap_slab_emptied(h, s);
        freed++;
      }
    } else {
      s->list_next = keep;
      keep = s;
      if (!keep_last) keep_last = s;
    }
    s = next;
  }
  if (keep) give_back_mailbox(h, keep, keep_last);
  // Kept-empty slabs wait for an owner that is not coming back soon: no block in use,
  // so its fast paths cannot touch them either.
  if (h->empty_deadline_ms) release_kept_empty(h);
  h->slow_lock.store(kSlowFree, std::memory_order_release);
  g_reclaim_lock.unlock();
  return freed;
}

void heap_reclaim_all(bool always) {
  release_records_of_gone_threads(always);
  ThreadHeap* self = t_heap;
  uint32_t n = g_heap_count.load(std::memory_order_acquire);
  for (uint32_t i = 0; i < n; i++) {
    ThreadHeap* h = g_heaps[i].load(std::memory_order_acquire);
    if (h && h != self) heap_reclaim_complete(h, always);
  }
}

void heap_reclaim_lock() { g_reclaim_lock.lock(); }
void heap_reclaim_unlock() { g_reclaim_lock.unlock(); }
void heap_reclaim_reset_in_child() { g_reclaim_lock.reset(); }

void heap_registry_lock() { g_registry_lock.lock(); }
void heap_registry_unlock() { g_registry_lock.unlock(); }
void heap_registry_reset_in_child() { g_registry_lock.reset(); }
void heap_shared_lock() {
  g_shared_wanted.store(true, std::memory_order_relaxed);
  g_shared_lock.lock();
  g_shared_wanted.store(false, std::memory_order_relaxed);
}
void heap_shared_unlock() { g_shared_lock.unlock(); }
void heap_shared_reset_in_child() { g_shared_lock.reset(); }

}  // namespace hakmem
