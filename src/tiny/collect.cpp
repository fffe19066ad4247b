#include "tiny/collect.h"

#include <atomic>

#include "config/options.h"
#include "large/large.h"
#include "tiny/heap.h"
#include "tiny/ownership.h"
#include "tiny/slab_ops.h"

namespace hakmem {

namespace {

std::atomic<uint64_t> g_next_collect_ms{0};
// Bounded so one unlucky allocation never pays for a whole process's clean-up. A
// forced round (malloc_trim) takes them all, bounded only against slabs that frees
// announce again as fast as they are claimed (4 GiB of 64 KiB slabs).
constexpr uint32_t kMaxOrphansPerRound = 256;
constexpr uint32_t kMaxOrphansPerForcedRound = 65536;

// Claims each slab of the global mailbox of class c (draining it): empty ones go to
// the pool, the others are let go of again, drained. These are unowned slabs whose
// remote frees nobody else would look at: a thread that could not adopt freed into
// them, or their releaser gave up re-draining under a storm of frees. (Slabs on the
// adopt lists need no visit: the first free into one adopts it.)
uint32_t collect_mailbox(ThreadHeap* h, uint32_t c, uint32_t budget) {
  uint32_t used_budget = 0;
  while (used_budget < budget) {
    Slab* s = orphan_pop(OrphanList::kMailbox, c);
    if (!s) break;
    used_budget++;
    if (!slab_take_listed(h, s)) continue;
    if (s->place != SlabPlace::kNone) {  // one of ours after all: it stays with us
      heap_settle(h, s);
      continue;
    }
    slab_let_go(h, s);  // to the pool when empty
  }
  return used_budget;
}

}  // namespace

void collect_orphans(ThreadHeap* h, uint32_t budget) {
  for (uint32_t c = 0; c < kNumClasses && budget; c++) budget -= collect_mailbox(h, c, budget);
}

void collect_tick(ThreadHeap* h, uint64_t now, bool force) {
  if (!force) {
    uint64_t due = g_next_collect_ms.load(std::memory_order_relaxed);
    if (now < due) return;
    uint64_t period = g_options.purge_delay_ms / 4 + 10;
    if (!g_next_collect_ms.compare_exchange_strong(due, now + period, std::memory_order_relaxed)) return;
  }
  const uint32_t orphans = force ? kMaxOrphansPerForcedRound : kMaxOrphansPerRound;
  if (h) collect_orphans(h, orphans);
  // Without a heap (malloc_trim from a TLS destructor after the thread's exit) the
  // shared heap claims them.
  heap_tend_shared(force, h || !force ? 0 : orphans);
  heap_reclaim_all(false);  // complete slabs of idle threads
  pool_purge(now, force);
  large_purge(now, force);
}

}  // namespace hakmem
