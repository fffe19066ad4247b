// The thread heap: what one thread owns in the SuperSlab tier.
//
// Reached through one initial-exec TLS pointer (8 bytes of static TLS, so a late
// dlopen still finds room). Heaps live in memory hakmem maps for itself and are
// recycled, never unmapped, so a stale pointer to one stays safe to read.
#pragma once
#include <atomic>
#include <cstdint>

#include "diag/debug_ring.h"
#include "diag/profile.h"
#include "diag/stats.h"
#include "tiny/superslab.h"

namespace hakmem {

struct alignas(32) ClassCache {
  Slab* slab;        // the bound slab the fast path pops from; a sentinel when there is none
  void* fast_head;   // the fast cache (HAKMEM_TINY_FAST_CAP): blocks of slabs this thread owns
  uint32_t fast_room;  // how many more blocks the fast cache takes
};

static_assert(sizeof(ClassCache) == size_t(1) << kClassSlotShift);

struct PlaceholderTag {};

struct ThreadHeap {
  constexpr ThreadHeap() = default;
  // The placeholder: owns nothing, and its class caches point at the sentinel slab.
  constexpr explicit ThreadHeap(PlaceholderTag, Slab* sentinel) : tid(kTidNobody) {
    for (auto& cc : cls) cc.slab = sentinel;
  }

  // Everything a new heap must write, and everything the fast paths read, comes first
  // and fits in the first page: a fresh heap is zero-filled memory from the OS, so a
  // thread that never owns a slab (it allocates only from the nursery) costs one page.
  uint32_t tid = 0;                    // owner_tid of the slabs this heap owns
  std::atomic<bool> live{false};    // owner writes; stats and dumps read
  bool shared = false;              // the shared heap (heap_alloc_shared)
  int32_t os_tid = 0;               // the owner's kernel thread id (0: the shared heap)
  // Exclusion between the owner on its slow paths and a reclaimer: another thread that,
  // while this heap is idle, gives back the slabs other threads' frees made complete
  // (heap_reclaim_complete). The fast paths never look at it (see that function).
  std::atomic<uint32_t> slow_lock{0};
  // Slabs this thread owns that received remote frees; other threads push, the
  // owner takes the whole stack. kMailboxClosed once the thread has exited.
  std::atomic<Slab*> mailbox{nullptr};
  std::atomic<uint64_t> active_ms{0};  // the owner's last housekeeping clock read
  uint64_t next_tick_ms = 0;
  uint32_t tick_countdown = 0;
  int64_t tick_bytes = 0;          // requested bytes until the next heap_alloc_tick
  uint64_t empty_deadline_ms = 0;
  uint64_t gone_checked_ms = 0;    // a reclaimer last asked whether its thread still exists
  ProfileThread prof = {};         // the heap profiler's countdown (diag/profile.h)
  ThreadHeap* pool_next = nullptr;  // free list of recycled heaps
  // Blocks of each class still to be taken from the shared heap before this heap gets
  // a slab of its own (heap_alloc_slow).
  uint8_t nursery_left[kNumClasses] = {};
  ClassCache cls[kNumClasses] = {};
  // Owner-local lists of owned slabs. The bound slab is on none of them.
  Slab* bound[kNumClasses] = {};
  Slab* partial[kNumClasses] = {};  // free blocks available ("sticky": reused first)
  Slab* full[kNumClasses] = {};     // no free block right now (frees into them are local)
  // Unused slabs kept for reuse, so a program that fills and empties a few slabs in a
  // loop does not send them through the pool each time; released at empty_deadline_ms.
  Slab* empty[kNumClasses] = {};
  uint8_t empty_count[kNumClasses] = {};
  uint8_t partial_count[kNumClasses] = {};
  uint8_t full_count[kNumClasses] = {};
  // Slabs of the class emptied or adopted by this thread's frees since its last
  // allocation slow path: a run of them is a bulk free (heap_free_local_slow).
  uint8_t emptied_run[kNumClasses] = {};
  HeapStats stats;
  DebugRing ring = {};
};

inline Slab* const kMailboxClosed = reinterpret_cast<Slab*>(uintptr_t(1));

extern Slab g_slab_sentinel;             // freelist always empty: the fast path falls through
extern ThreadHeap g_heap_placeholder;    // every thread's heap until its first slow path
// A thread's heap after its teardown (thread exit): owns nothing, so every free is
// remote, and allocations are served by the shared heap (heap_alloc_shared).
extern ThreadHeap g_heap_retired;
extern __thread ThreadHeap* t_heap __attribute__((tls_model("initial-exec")));

// The calling thread's heap, created on first use; nullptr if the OS refuses memory or
// the thread's heap was torn down already (it is exiting).
ThreadHeap* heap_get();
// An allocation from the shared heap, one thread at a time under its lock: the nursery
// (a thread's first blocks of each class, heap_alloc_slow), and every allocation by a
// thread whose heap was torn down (a TLS destructor that runs after ours), so nothing
// is left owned by a thread that is gone, whatever the destructor rounds do.
void* heap_alloc_shared(uint32_t c);
// A nursery allocation: as heap_alloc_shared, or nullptr when the shared heap cannot
// serve it now (out of memory, or fork() is waiting for its lock).
void* heap_alloc_nursery(uint32_t c);
// A nursery allocation by a thread that has no heap yet (t_heap is the placeholder):
// nullptr when the thread has taken its quota of class c (or the nursery cannot serve
// it), and then the caller creates the thread's heap, which takes the quotas over.
void* heap_alloc_heapless(uint32_t c);
// One nursery block of class c against the quota `left` (a heap's or a heapless
// thread's record): nullptr when the quota is spent, or the shared heap cannot serve it
// now, which ends the quota.
void* nursery_take(uint8_t& left, uint32_t c);
// Nursery blocks of class c the calling thread may still take (tests, introspection).
uint8_t heap_nursery_left(uint32_t c);
// The calling thread allocated from the nursery only so far and has no heap.
bool heap_is_heapless();
// The class the nursery serves class c's blocks from (heap.cpp says why it may differ).
uint32_t nursery_class(uint32_t c);
// Housekeeping of the shared heap, from other threads' collection rounds and exits:
// drains what was freed into it; `force` (malloc_trim) waits for its lock and also
// pools its kept-empty slabs. A caller with no heap of its own to claim orphaned slabs
// with (a thread past its exit, in a later TLS destructor) passes an orphan_budget:
// the shared heap claims up to that many from the global mailboxes (collect_orphans).
void heap_tend_shared(bool force, uint32_t orphan_budget);
// Gives h's kept-empty slabs to the pool now (malloc_trim, deadline).
void heap_release_kept_empty(ThreadHeap* h);
ThreadHeap* heap_by_tid(uint32_t tid);
void heap_thread_exit(ThreadHeap* h);

inline constexpr uint32_t kSlowFree = 0, kSlowOwner = 1, kSlowReclaimer = 2;
void heap_slow_lock_contended(ThreadHeap* h);

// Held by the owner across each of its slow paths (outermost entry points only; nested
// scopes are free). Only the owner ever stores kSlowOwner, so finding it means "mine".
class HeapSlowScope {
 public:
  explicit HeapSlowScope(ThreadHeap* h) : h_(h) {
    if (h->tid == kTidNobody || h->slow_lock.load(std::memory_order_relaxed) == kSlowOwner) {
      h_ = nullptr;
      return;
    }
    uint32_t expected = kSlowFree;
    if (!h->slow_lock.compare_exchange_strong(expected, kSlowOwner, std::memory_order_acquire))
      heap_slow_lock_contended(h);
  }
  ~HeapSlowScope() { release(); }
  void release() {
    if (h_) h_->slow_lock.store(kSlowFree, std::memory_order_release);
    h_ = nullptr;
  }
  HeapSlowScope(const HeapSlowScope&) = delete;
  HeapSlowScope& operator=(const HeapSlowScope&) = delete;

 private:
  ThreadHeap* h_;
};

// A heap whose owner made no allocator slow path for this long counts as idle: other
// threads give back the complete slabs waiting in its mailbox.
inline constexpr uint64_t kIdleMs = 100;
// Takes the complete slabs (every block free: in the remote queue or on the local list)
// out of h's mailbox and gives them back to the pool, acting as h's owner while holding
// h's slow lock. Only if h is idle (or `always`, for malloc_trim). Returns slabs freed.
uint32_t heap_reclaim_complete(ThreadHeap* h, bool always);
// Every heap: malloc_trim (always) and periodic collection (idle heaps only).
void heap_reclaim_all(bool always);
void heap_reclaim_lock();
void heap_reclaim_unlock();
void heap_reclaim_reset_in_child();

// Owner-side mailbox processing: drains every announced slab this heap owns.
void heap_process_mailbox(ThreadHeap* h);
// Time-throttled housekeeping on slow paths: mailbox, purge of free memory.
void heap_tick(ThreadHeap* h);
// Every kTickBytes bytes of fast-path allocations: housekeeping on the clock.
void* heap_alloc_tick(ThreadHeap* h, void* block);  // returns block
inline constexpr int64_t kTickBytes = 128 * 1024;

// Owner-local list moves.
void heap_place(ThreadHeap* h, Slab* s, SlabPlace where);
void heap_bind(ThreadHeap* h, Slab* s);
// Called by the owner when a slab it holds has no block in use (not bound).
void heap_slab_emptied(ThreadHeap* h, Slab* s);
// A free by the owner into a slab whose local list was empty or that became empty.
void heap_free_local_slow(ThreadHeap* h, Slab* s);
// This thread's free adopted a slab of class c (remote_free_unowned): a step of a bulk
// free, as a slab its frees emptied is (heap_free_local_slow).
void heap_slab_adopted_by_free(ThreadHeap* h, uint32_t c);
// The class's fast cache takes frees again, after heap_free_local_slow made them bypass
// it during a run of frees (refill calls it).
void heap_cache_resume(ThreadHeap* h, uint32_t c);

// Visits every heap in use (stats, debug ring dump). Not locked against exits.
void heap_for_each(void (*fn)(ThreadHeap*, void*), void* arg);
void heap_registry_lock();
void heap_registry_unlock();
void heap_registry_reset_in_child();
void heap_shared_lock();
void heap_shared_unlock();
void heap_shared_reset_in_child();
// Fork child: releases every slab owned by a thread that did not survive the fork.
void heap_abandon_others_in_child();
// Fork child, every fork (before heap_abandon_others_in_child): the child's process id.
void heap_pid_reset_in_child();
void heap_process_init();
void heap_thread_counts(uint64_t* live, uint64_t* exited);
// Puts an owned slab on the list its state calls for (or back in the pool if empty).
void heap_settle(ThreadHeap* h, Slab* s);

}  // namespace hakmem
