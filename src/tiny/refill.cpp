// Refill: where a thread finds its next slab when its bound slab of a class runs dry,
// in the order of the design notes. Every candidate is taken through slab_acquire
// (claim, then drain) and bound only after that succeeded.
#include "tiny/refill.h"

#include "config/options.h"
#include "diag/debug_ring.h"
#include "diag/report.h"
#include "tiny/collect.h"
#include "tiny/heap.h"
#include "tiny/ownership.h"
#include "tiny/slab_ops.h"

namespace hakmem {

namespace {

inline void count(ThreadHeap* h, uint32_t c, RefillPath path) {
  counter_add(h->stats.cls[c].refills[path], 1);
  debug_ring_record(RingEvent::kRefill, h->bound[c], path);
}

// A slab taken off a global list: bind it when it serves class c, else keep it where
// its state says.
bool take_orphan(ThreadHeap* h, uint32_t c, OrphanList which) {
  while (Slab* s = orphan_pop(which, c)) {
    // A mailbox entry carries the token; an adopt entry is a hint that may be stale
    // (a freeing thread adopted the slab meanwhile): then the claim fails.
    bool claimed = which == OrphanList::kMailbox ? slab_take_listed(h, s) : slab_acquire(h, s, kOwnerNone);
    if (!claimed) continue;
    if (which == OrphanList::kAdopt) {
      counter_add(h->stats.cls[s->class_idx].adopts, 1);
      debug_ring_record(RingEvent::kAdopt, s, s->class_idx);
    }
    if (s->class_idx == c && slab_has_free(s)) {
      heap_bind(h, s);
      return true;
    }
    heap_settle(h, s);
  }
  return false;
}

}  // namespace

bool refill(ThreadHeap* h, uint32_t c) {
  // 1. The bound slab's own remote frees: it is ours, so claiming is a formality.
  if (Slab* b = h->bound[c]) {
    if (b->remote_head.load(std::memory_order_relaxed)) {
      slab_acquire(h, b);
      if (slab_has_free(b)) {
        count(h, c, kRefillOwnRemote);
        return true;
      }
    }
    heap_place(h, b, SlabPlace::kNone);
    heap_settle(h, b);  // full: we let go of it
  }
  // 2. Slabs this thread already owns: announced ones first, then the partial list.
  heap_process_mailbox(h);
  if (Slab* s = h->partial[c] ? h->partial[c] : h->empty[c]) {
    heap_bind(h, s);
    count(h, c, kRefillSticky);
    return true;
  }
  // 3. Unowned slabs that received remote frees; 4. slabs of exited threads.
  if (take_orphan(h, c, OrphanList::kMailbox)) {
    count(h, c, kRefillMailbox);
    return true;
  }
  if (take_orphan(h, c, OrphanList::kAdopt)) {
    count(h, c, kRefillAdopt);
    return true;
  }
  // 5. A free slab of an existing SuperSlab (the mmap gate), else 6. a new SuperSlab.
  SlabOrigin origin;
  Slab* s = pool_take_slab(c, &origin, false);
  if (!s) {
    // Before asking the OS: slabs parked unowned in the global lists may be empty.
    collect_orphans(h, kNumClasses * 64);
    s = pool_take_slab(c, &origin, true);
  }
  if (!s) return false;
  if (!slab_acquire(h, s, kOwnerPool)) fatal("pool handed out a slab that was not free");
  slab_format(s, c);
  heap_bind(h, s);
  count(h, c, origin == SlabOrigin::kGate ? kRefillGate : kRefillFresh);
  return true;
}

void* heap_alloc_slow(ThreadHeap* h, uint32_t c) {
  // 0. The nursery: a thread's first blocks of a class come from the shared heap, packed
  // with other threads' first blocks (in whole cache lines), until it has taken its
  // quota or owns a slab of the class anyway (adopted, or taken with another class's
  // refill). Its frees of them are remote frees like any other.
  if (h->nursery_left[c]) {
    if (h->partial[c] || h->empty[c]) h->nursery_left[c] = 0;
    else if (void* p = nursery_take(h->nursery_left[c], c)) return p;
  }
  HeapSlowScope scope(h);
  debug_ring_record(RingEvent::kAllocSlow, h, c);
  heap_tick(h);
  ClassCache& cc = h->cls[c];
  if (void* p = cc.fast_head) {
    cc.fast_head = *static_cast<void**>(p);
    cc.fast_room++;
    return p;
  }
  heap_cache_resume(h, c);
  for (;;) {
    if (Slab* s = h->bound[c]) {
      // Blocks other threads gave back are warm: take them before carving new ones.
      if (!s->freelist && s->remote_head.load(std::memory_order_relaxed)) slab_acquire(h, s);
      // The shared heap hands out one block per locked call, never from a fast path:
      // carving ahead would only touch pages no thread may come back for.
      if (void* p = slab_pop(s, h->shared)) return p;
    }
    if (!refill(h, c)) return nullptr;
  }
}

}  // namespace hakmem
