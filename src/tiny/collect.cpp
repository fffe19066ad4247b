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
// Bounded so one unlucky allocation never pays for a whole process's clean-up.
constexpr uint32_t kMaxOrphansPerRound = 256;

// Claims each slab of one global list (draining it), gives empty ones to the pool and
// puts the others back, unowned. Slabs parked in the adopt list get no announcements
// (their token is taken), so without this their remote frees would wait for the next
// thread that refills exactly their class.
uint32_t collect_list(ThreadHeap* h, OrphanList which, uint32_t c, uint32_t budget) {
  Slab* keep = nullptr;
  uint32_t used_budget = 0;
  while (used_budget < budget) {
    Slab* s = orphan_pop(which, c);
    if (!s) break;
    used_budget++;
    if (!slab_take_listed(h, s)) continue;
    if (s->place != SlabPlace::kNone) {  // one of ours after all: it stays with us
      heap_settle(h, s);
      continue;
    }
    if (s->used.load(std::memory_order_relaxed) == 0) {
      pool_return_slab(s);
      continue;
    }
    bool has_free = slab_has_free(s);
    slab_release(s);
    if (has_free && g_options.adopt && !s->listed.exchange(true, std::memory_order_seq_cst)) {
      s->list_next = keep;
      keep = s;
    }
  }
  while (keep) {
    Slab* s = keep;
    keep = s->list_next;
    orphan_push(OrphanList::kAdopt, __atomic_load_n(&s->class_idx, __ATOMIC_RELAXED), s);
  }
  return used_budget;
}

}  // namespace

void collect_orphans(ThreadHeap* h, uint32_t budget) {
  for (uint32_t c = 0; c < kNumClasses && budget; c++)
    for (OrphanList which : {OrphanList::kMailbox, OrphanList::kAdopt}) {
      uint32_t n = collect_list(h, which, c, budget);
      budget -= n < budget ? n : budget;
    }
}

namespace {
}  // namespace

void collect_tick(ThreadHeap* h, uint64_t now, bool force) {
  if (!force) {
    uint64_t due = g_next_collect_ms.load(std::memory_order_relaxed);
    if (now < due) return;
    uint64_t period = g_options.purge_delay_ms / 4 + 10;
    if (!g_next_collect_ms.compare_exchange_strong(due, now + period, std::memory_order_relaxed)) return;
  }
  if (h) collect_orphans(h, kMaxOrphansPerRound);
  pool_purge(now, force);
  large_purge(now, force);
}

}  // namespace hakmem
