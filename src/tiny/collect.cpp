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

void collect_orphans(ThreadHeap* h) {
  uint32_t budget = kMaxOrphansPerRound;
  for (uint32_t c = 0; c < kNumClasses && budget; c++) {
    while (budget) {
      Slab* s = orphan_pop(OrphanList::kMailbox, c);
      if (!s) break;
      budget--;
      if (!slab_take_listed(h, s)) continue;
      if (s->used.load(std::memory_order_relaxed) == 0) {
        pool_return_slab(s);
        continue;
      }
      // Still in use: leave it unowned, offered to whoever refills this class.
      bool has_free = slab_has_free(s);
      slab_release(s);
      if (has_free && g_options.adopt && !s->listed.exchange(true, std::memory_order_seq_cst))
        orphan_push(OrphanList::kAdopt, s->class_idx, s);
    }
  }
}

}  // namespace

void collect_tick(ThreadHeap* h, uint64_t now, bool force) {
  if (!force) {
    uint64_t due = g_next_collect_ms.load(std::memory_order_relaxed);
    if (now < due) return;
    uint64_t period = g_options.purge_delay_ms / 4 + 10;
    if (!g_next_collect_ms.compare_exchange_strong(due, now + period, std::memory_order_relaxed)) return;
  }
  if (h) collect_orphans(h);
  pool_purge(now, force);
  large_purge(now, force);
}

}  // namespace hakmem
