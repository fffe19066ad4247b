// Claim-then-drain, release, remote free and the routing of slabs with remote frees.
// Memory orders: the remote push (CAS) and the release (store of owner 0) are both
// seq_cst and each is followed by a seq_cst read of the other's variable, a Dekker
// pair: either the pusher sees the slab unowned or the releaser sees the remote
// queue non-empty, so a slab with remote frees is always announced to someone.
#include "tiny/ownership.h"

#include "base/spin_lock.h"
#include "config/options.h"
#include "diag/debug_ring.h"
#include "diag/report.h"
#include "diag/valgrind.h"
#include "tiny/block_check.h"
#include "tiny/heap.h"
#include "tiny/slab_ops.h"
#include "os/os.h"
#include "policy/retention.h"

namespace hakmem {

namespace {

struct OrphanQueue {
  SpinLock lock;
  std::atomic<Slab*> head{nullptr};  // written under the lock; atomic for the lock-free peek
};
OrphanQueue g_orphans[2][kNumClasses];

uint64_t g_secret = 0;

bool is_mid_size(const Slab* s) { return s->block_size > kMaxSmallBlock; }

// The pages of a free block after the one holding its links.
void decommit_inner_pages(void* p, size_t bs) {
  uintptr_t start = (reinterpret_cast<uintptr_t>(p) + (kPendingWord + 1) * sizeof(void*) + os::kPageSize - 1) &
                    ~(os::kPageSize - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bs) & ~(os::kPageSize - 1);
  if (end > start) os::decommit(reinterpret_cast<void*>(start), end - start);
}

// Before a mid-size block is published on a remote queue: count its bytes as retained
// while the budget has room, else give its inner pages back now (the first page keeps
// the links). Not in guard mode: memcheck must not see us write into a freed block.
void account_pending(Slab* s, void* p) {
  if (g_options.guard || !is_mid_size(s)) return;
  size_t bs = s->block_size;
  auto* words = static_cast<uintptr_t*>(p);
  if (!retention_owner_share_exceeded(bs)) {
    words[kPendingWord] = kPendingCounted;
    retained_add(Retained::kRemotePending, int64_t(bs));
    return;
  }
  words[kPendingWord] = 0;
  decommit_inner_pages(p, bs);
}

[[noreturn]] void ownership_violation(ThreadHeap* h, Slab* s) {
  Line()
      .str("hakmem: ownership violation: thread ")
      .u64(h->tid)
      .str(" drains slab ")
      .ptr(s)
      .str(" owned by ")
      .u64(s->owner_tid.load(std::memory_order_relaxed))
      .write();
  debug_ring_dump_all(2);
  os::abort_process();
}

inline bool link_in_slab(Slab* s, void* p) {
  char* base = slab_data(s);
  char* c = static_cast<char*>(p);
  return c >= base && c < base + size_t(s->capacity) * s->block_size &&
         size_t(c - base) % s->block_size == 0;
}

// Splices the remote queue into the local free list. Only the owner may do this, and
// only slab_acquire calls it: the seed's crash was a drain by a thread that had not
// claimed the slab, racing the real owner's pops from the same list.
void slab_drain(ThreadHeap* h, Slab* s) {
  if (s->owner_tid.load(std::memory_order_relaxed) != h->tid) ownership_violation(h, s);
  uintptr_t word = s->remote_head.exchange(0, std::memory_order_acquire);
  void* list = remote_top(word);
  if (!list) return;
  uint32_t n = 1;
  void* tail = list;
  if (g_options.guard) {
    for (void* next; (next = link_decode_checked(s, tail)) != nullptr; tail = next) n++;
    link_store(tail, s->freelist);
  } else if (is_mid_size(s)) {
    // The blocks keep counting as retained on our free list until handed out. If the
    // budget is exceeded (other places grew meanwhile), their inner pages go back now.
    bool over = retention_owner_share_exceeded();
    uint64_t uncounted = 0;
    for (void* b = list;; b = *static_cast<void**>(b)) {
      uintptr_t* w = static_cast<uintptr_t*>(b);
      if (over && w[kPendingWord] == kPendingCounted) {
        w[kPendingWord] = 0;
        uncounted++;
        decommit_inner_pages(b, s->block_size);
      }
      if (!*static_cast<void**>(b)) {
        tail = b;
        break;
      }
      n++;
    }
    if (uncounted) retained_add(Retained::kRemotePending, -int64_t(uncounted * s->block_size));
    *static_cast<void**>(tail) = s->freelist;
  } else {
    for (void* next; (next = *static_cast<void**>(tail)) != nullptr; tail = next) n++;
    *static_cast<void**>(tail) = s->freelist;
  }
  (void)word;  // remote_count(word) == n; the walk finds the tail anyway
  s->freelist = list;
  s->used.store(s->used.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  ClassCounters& cc = h->stats.cls[s->class_idx];
  counter_add(cc.drains, 1);
  counter_add(cc.remote_frees, n);
  debug_ring_record(RingEvent::kDrain, s, n);
}

void route(Slab* s) {
  for (;;) {
    uint32_t owner = s->owner_tid.load(std::memory_order_seq_cst);
    // A pooled slab (a late notifier) still goes on the list rather than dropping the
    // token: the pool may hand it out and its new owner release it with free blocks
    // before we drop it, and that release's offer fails on the token we hold (found by
    // the spin model). A stale entry costs its popper one failed claim.
    ThreadHeap* h = owner != kOwnerNone && owner != kOwnerPool ? heap_by_tid(owner) : nullptr;
    if (!h) break;
    Slab* head = h->mailbox.load(std::memory_order_relaxed);
    while (head != kMailboxClosed) {
      s->list_next = head;
      if (h->mailbox.compare_exchange_weak(head, s, std::memory_order_release, std::memory_order_relaxed)) {
        debug_ring_record(RingEvent::kMailbox, s, owner);
        return;
      }
    }
    // Its thread is exiting: it closed the mailbox before letting go of its slabs, and
    // slab_let_go looks at the queue after each release (the Dekker pair with the push
    // that made us announce), so these frees are its to hand on. A global entry would
    // hold the token and stop the next owner from hearing of new frees.
    s->listed.store(false, std::memory_order_seq_cst);
    // But the releaser may have let go already, and if it gave up re-draining while we
    // held the token its own announcement failed on it (found by the spin model): look
    // again, and announce once more if nobody else will.
    if (s->owner_tid.load(std::memory_order_seq_cst) == owner) return;  // not released yet
    if (!remote_top(s->remote_head.load(std::memory_order_seq_cst))) return;
    if (s->listed.exchange(true, std::memory_order_seq_cst)) return;  // someone else announces
  }
  // Not the owner: the class is read atomically (a new owner may be formatting it; then
  // the entry is stale and whoever pops it finds out).
  orphan_push(OrphanList::kMailbox, __atomic_load_n(&s->class_idx, __ATOMIC_RELAXED), s);
}

// A free into a slab nobody owns (its owner filled it and let go, or exited). Its
// `used` stays as the last owner left it, so the push that brings the queue's length to
// `used` completes the slab: that thread claims it (then drains, as everywhere) and
// gives it back to the pool. A thread that frees into a slab it let go of itself adopts
// it back: its next frees there are local and the slab's free blocks serve its next
// allocations (a thread freeing its own blocks stays on the fast path). Other threads
// only push: adopting every slab one frees into would leave slabs owned by threads that
// then go idle, their remote frees waiting for them; instead the first push offers the
// slab for adoption by refills, and the push that completes it returns it to the pool.
// A heap keeps only a few partial slabs per class (heap_settle lets go of the oldest),
// so what an idle thread holds stays bounded.
void remote_free_unowned(Slab* s, uint32_t pending) {
  ThreadHeap* h = t_heap;
  if (h == &g_heap_placeholder) h = heap_get();
  if (!h || h->tid == kTidNobody) {  // a thread past its teardown: the global mailbox carries it
    slab_notify(s);
    return;
  }
  HeapSlowScope scope(h);
  if (pending >= s->used.load(std::memory_order_relaxed)) {
    if (slab_acquire(h, s, kOwnerNone)) slab_let_go(h, s);  // to the pool: used is 0 now
    return;  // else another thread claimed it: the slab and its queue are theirs
  }
  if (!s->listed.exchange(true, std::memory_order_seq_cst)) {
    if (slab_take_listed(h, s)) {
      const uint32_t c = s->class_idx;  // settling may give the slab back to the pool
      counter_add(h->stats.cls[c].adopts, 1);
      debug_ring_record(RingEvent::kAdopt, s, 1);
      heap_settle(h, s);
      heap_slab_adopted_by_free(h, c);
    }
    return;
  }
  if (pending == 1) adopt_offer(s, __atomic_load_n(&s->class_idx, __ATOMIC_RELAXED));
}

}  // namespace

void mid_block_uncount(void* p, size_t block_size) {
  static_cast<uintptr_t*>(p)[kPendingWord] = 0;
  retained_add(Retained::kRemotePending, -int64_t(block_size));
}

void slab_uncount_free_blocks(Slab* s) {
  if (g_options.guard || !is_mid_size(s)) return;
  uint64_t counted = 0;
  uint32_t limit = s->capacity;
  for (void* b = s->freelist; b && limit--; b = *static_cast<void**>(b))
    if (static_cast<uintptr_t*>(b)[kPendingWord] == kPendingCounted) {
      static_cast<uintptr_t*>(b)[kPendingWord] = 0;
      counted++;
    }
  if (counted) retained_add(Retained::kRemotePending, -int64_t(counted * s->block_size));
}

void ownership_init(uint64_t entropy) {
  g_secret = (entropy * 0x9e3779b97f4a7c15ull) | 1;
  g_free_mark_secret = (entropy ^ 0x5bd1e9955bd1e995ull) * 0xff51afd7ed558ccdull;
}

uintptr_t g_free_mark_secret = 0x6861b0c4d3a2f1e7ull;

void link_store(void* block, void* next) {
  uintptr_t v = reinterpret_cast<uintptr_t>(next);
  if (g_options.guard) {
    v ^= g_secret ^ reinterpret_cast<uintptr_t>(block);
    vg_open_link(block);
    *static_cast<uintptr_t*>(block) = v;
    vg_close_link(block);
    return;
  }
  *static_cast<uintptr_t*>(block) = v;
}

void* link_decode_checked(Slab* s, void* block) {
  vg_open_link(block);
  uintptr_t raw = *static_cast<uintptr_t*>(block);
  vg_close_link(block);
  void* next = reinterpret_cast<void*>(raw ^ g_secret ^ reinterpret_cast<uintptr_t>(block));
  if (next && !link_in_slab(s, next)) {
    debug_ring_record(RingEvent::kGuardFail, block, raw);
    Line().str("hakmem: corrupted free list: block ").ptr(block).str(" of slab ").ptr(s)
        .str(" links to ").ptr(next).str(" (written after free?)").write();
    debug_ring_dump_all(2);
    os::abort_process();
  }
  return next;
}

bool slab_acquire(ThreadHeap* h, Slab* s, uint32_t expected) {
#ifdef HAKMEM_FAULT_UNSAFE_DRAIN
  // Test-only: the seed's bug, a drain before the claim.
  if (expected == kOwnerNone && remote_top(s->remote_head.load(std::memory_order_relaxed))) slab_drain(h, s);
#endif
  uint32_t owner = s->owner_tid.load(std::memory_order_acquire);
  if (owner != h->tid) {
    if (owner != expected) return false;
    // Acquire: we see the local list exactly as the previous owner left it.
    if (!s->owner_tid.compare_exchange_strong(owner, h->tid, std::memory_order_acq_rel, std::memory_order_relaxed))
      return false;
    debug_ring_record(RingEvent::kClaim, s, expected);
  }
  slab_drain(h, s);
  return true;
}

void slab_let_go(ThreadHeap* h, Slab* s) {
  // Under a storm of remote frees the releaser stops re-draining after a few rounds
  // and lets the global mailbox carry the slab.
  constexpr int kRounds = 4;
  for (int round = 0;; round++) {
    if (s->used.load(std::memory_order_relaxed) == 0) {
      pool_return_slab(s);
      return;
    }
    uint32_t c = s->class_idx;
    bool has_free = slab_has_free(s);  // read while ours: after the store it is not
    debug_ring_record(RingEvent::kRelease, s, h->tid);
    s->last_owner.store(h->tid, std::memory_order_relaxed);
    s->owner_tid.store(kOwnerNone, std::memory_order_seq_cst);
    if (!s->remote_head.load(std::memory_order_seq_cst)) {
      if (has_free) adopt_offer(s, c);
      return;
    }
    if (round == kRounds) {
      slab_notify(s);
      return;
    }
    // A push raced the release. Claim, then drain, as everywhere; if a freeing thread
    // claimed it first, the slab and its queue are that thread's.
    uint32_t expected = kOwnerNone;
    if (!s->owner_tid.compare_exchange_strong(expected, h->tid, std::memory_order_acq_rel, std::memory_order_relaxed))
      return;
    slab_drain(h, s);
  }
}

void slab_remote_free(Slab* s, void* p) {
  account_pending(s, p);
  uintptr_t old = s->remote_head.load(std::memory_order_relaxed);
  uint32_t pending;
  do {
    link_store(p, remote_top(old));
    pending = remote_count(old) + 1;
  } while (!s->remote_head.compare_exchange_weak(old, remote_word(p, pending), std::memory_order_seq_cst,
                                                 std::memory_order_relaxed));
  debug_ring_record(RingEvent::kRemotePush, p, reinterpret_cast<uintptr_t>(s));
  if (s->owner_tid.load(std::memory_order_seq_cst) == kOwnerNone) {
    remote_free_unowned(s, pending);
    return;
  }
  // Only the push that made the queue non-empty announces it; later pushes ride along.
  // The owner drains its bound slab when the slab runs dry, and looks at the queue when
  // it unbinds it (seq_cst on both sides, as with slab_let_go), so no announcement.
  if (pending == 1 && !s->bound_hint.load(std::memory_order_seq_cst)) slab_notify(s);
  // The push that completes a slab of an idle owner gives it back now (heap.h).
  if (pending == s->used.load(std::memory_order_relaxed))
    if (ThreadHeap* owner = heap_by_tid(s->owner_tid.load(std::memory_order_relaxed)))
      heap_reclaim_complete(owner, false);
}

void slab_notify(Slab* s) {
  if (s->listed.exchange(true, std::memory_order_seq_cst)) return;
  route(s);
}

bool slab_take_listed(ThreadHeap* h, Slab* s, uint32_t expected) {
  // Clear the token before draining: a push after our drain must be able to
  // announce the slab again.
  s->listed.store(false, std::memory_order_seq_cst);
  if (slab_acquire(h, s, expected)) return true;
  // Someone else owns it (or it went back to the pool); make sure they hear of any
  // remote frees that rode on the stale entry.
  if (s->remote_head.load(std::memory_order_seq_cst)) slab_notify(s);
  return false;
}

void orphan_push(OrphanList which, uint32_t c, Slab* s) {
  OrphanQueue& q = g_orphans[int(which)][c];
  LockGuard g(q.lock);
  Slab* head = q.head.load(std::memory_order_relaxed);
  if (which == OrphanList::kAdopt) s->adopt_next = head;
  else s->list_next = head;
  q.head.store(s, std::memory_order_relaxed);
}

Slab* orphan_pop(OrphanList which, uint32_t c) {
  OrphanQueue& q = g_orphans[int(which)][c];
  if (!q.head.load(std::memory_order_relaxed)) return nullptr;  // cheap peek, rechecked below
  LockGuard g(q.lock);
  Slab* s = q.head.load(std::memory_order_relaxed);
  if (!s) return nullptr;
  if (which == OrphanList::kAdopt) {
    q.head.store(s->adopt_next, std::memory_order_relaxed);
    // Not a relaxed store: with the popper's claim (a load of owner_tid) and a
    // releaser's offer (store owner 0, then this flag) it forms a store-buffering
    // pair, and both sides must see each other or the slab drops off every list.
    s->adopt_listed.exchange(false, std::memory_order_seq_cst);
  } else {
    q.head.store(s->list_next, std::memory_order_relaxed);
  }
  return s;
}

void adopt_offer(Slab* s, uint32_t c) {
  if (!g_options.adopt || s->adopt_listed.exchange(true, std::memory_order_seq_cst)) return;
  orphan_push(OrphanList::kAdopt, c, s);
}

namespace {
void clear_flags(SuperSlab* ss, void*) {
  for (uint32_t i = 0; i < kMaxSlabsPerSuperSlab; i++) {
    ss->slabs[i].listed.store(false, std::memory_order_relaxed);
    ss->slabs[i].adopt_listed.store(false, std::memory_order_relaxed);
  }
}
}  // namespace

void orphan_rebuild_flags_in_child(Slab* const* mailboxes, int n) {
  pool_for_each_superslab_in_child(clear_flags, nullptr);
  for (auto& per : g_orphans)
    for (auto& q : per) {
      bool adopt = &per == &g_orphans[int(OrphanList::kAdopt)];
      for (Slab* s = q.head.load(std::memory_order_relaxed); s; s = adopt ? s->adopt_next : s->list_next)
        (adopt ? s->adopt_listed : s->listed).store(true, std::memory_order_relaxed);
    }
  for (int i = 0; i < n; i++)
    for (Slab* s = mailboxes[i]; s && s != kMailboxClosed; s = s->list_next) s->listed.store(true, std::memory_order_relaxed);
}

void orphan_lock_all() {
  for (auto& per : g_orphans)
    for (auto& q : per) q.lock.lock();
}
void orphan_unlock_all() {
  for (auto& per : g_orphans)
    for (auto& q : per) q.lock.unlock();
}
void orphan_reset_locks_in_child() {
  for (auto& per : g_orphans)
    for (auto& q : per) q.lock.reset();
}

}  // namespace hakmem
