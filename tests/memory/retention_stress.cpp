// Retention bound under stress. Four threads allocate and free blocks of random sizes
// (16 B .. 256 KiB, log-uniform, so blocks of the large tier too) in phases separated by
// a barrier; at each barrier the test checks that free memory kept resident is bounded:
//
//   RSS - baseline - live  <=  max(32 MiB, live / 8) + slack
//
// where live is the usable size (malloc_usable_size) of every block the test holds.
// Each thread works on one "range" of slots per phase, a different one each phase, so
// most frees are of blocks another thread allocated (cross-thread frees):
//   grow:   a burst of ~40 MiB per range into its burst slots;
//   shrink: the whole burst of the range is freed, by the thread next to the one that
//           allocated it;
//   steady: random replacements in the range's base slots (free one, allocate another).
// Phases run grow, shrink, steady, four times. After a shrink, ~160 MiB just became
// free: only the budget may stay resident. The base churn is kept out of the grow and
// shrink phases on purpose: long-lived blocks allocated in between the burst's would pin
// the burst's pages (fragmentation, which no allocator can give back), and this test is
// about memory that is entirely free.
//
// The slack (what may legitimately be resident beyond live + budget, and is not memory
// the allocator chose to keep):
//   - fragmentation of the base set: ~28 MiB live in 1024 randomly replaced slots of 76
//     size classes; the partly used slabs (and glibc's holes) are resident but not live.
//     Bounded by the base set's own size: its footprint is at most twice its live bytes;
//   - per-thread front caches: at most 64 KiB per class per thread (hakmem's
//     HAKMEM_TINY_FAST_CAP default), and in practice a few MiB in all;
//   - allocator metadata: SuperSlab headers (8-24 KiB per 2 MiB, never unmapped, so up
//     to ~1.2% of the peak), large-block headers, the page tables of the process;
//   - the 4 worker thread stacks and the test's own page-rounding.
// So slack = base live (fragmentation) + 16 MiB (caches, metadata, stacks).
// hakmem (the system-malloc reference build leaves it out): + 8 MiB for what the four
// workers own while they wait at the barrier -- each keeps a bound slab and at most a
// few partial slabs per class, and blocks other threads freed into those wait for the
// owner's next allocation. Bounded per thread, not a share of the peak; giving that
// back without the owner is the open part of issue 9 (see its note). Measured
// under glibc the excess stays well within this after every phase (see the report).
#include <barrier>
#include <vector>

#include "memory_common.h"

using namespace memtest;

namespace {

constexpr int kThreads = 4;
constexpr size_t kBaseSlots = 64;          // per range, ~2 MiB live each
constexpr size_t kBurstBytes = 40 * MiB;   // per range
constexpr size_t kBurstSlots = 40 * MiB / 64;
constexpr int kSteadyOps = 4000;           // replacements per thread per steady phase
constexpr int kCycles = 4;
enum Phase { kGrow, kShrink, kSteady, kPhases };
const char* const kPhaseName[] = {"grow", "shrink", "steady"};

struct Range {
  void* base[kBaseSlots] = {};
  size_t base_live = 0;
  OsArray<void*> burst{kBurstSlots};
  size_t burst_live = 0;
};

size_t usable(void* p) { return malloc_usable_size(p); }

void* fresh(Rng& rng) {
  size_t n = rng.log_size(4, 18);  // 16 B .. 256 KiB
  void* p = malloc(n);
  if (!p) abort();
  memset(p, 0x6B, n);
  return p;
}

void replace(Range& r, Rng& rng) {
  size_t i = rng.below(kBaseSlots);
  if (r.base[i]) {
    r.base_live -= usable(r.base[i]);
    free(r.base[i]);
  }
  r.base[i] = fresh(rng);
  r.base_live += usable(r.base[i]);
}

}  // namespace

int main() {
#ifdef MEMORY_TEST_SYSTEM_MALLOC
  const size_t kFloor = 32 * MiB, kFixedSlack = 16 * MiB;
#else
  const size_t kFloor = 32 * MiB, kFixedSlack = 24 * MiB;  // + idle owners' slabs, see above
#endif
  Range* ranges = new Range[kThreads];
  std::thread([] { free(malloc(64)); }).join();
  const size_t baseline = rss();
  int phase_index = 0;
  size_t worst_excess = 0;
  double worst_margin = -1e9;

  auto check = [&]() noexcept {
    const Phase phase = static_cast<Phase>(phase_index % kPhases);
    size_t live = 0, base_live = 0;
    for (int i = 0; i < kThreads; ++i) {
      live += ranges[i].base_live + ranges[i].burst_live;
      base_live += ranges[i].base_live;
    }
    const size_t now_rss = rss();
    const long long excess = static_cast<long long>(now_rss) - static_cast<long long>(baseline + live);
    const size_t budget = live / 8 > kFloor ? live / 8 : kFloor;
    const size_t slack = base_live + kFixedSlack;
    char what[128];
    snprintf(what, sizeof what, "phase %2d (%-6s) live %6.1f MiB: RSS - baseline - live", phase_index,
             kPhaseName[phase], mib(live));
    check_le(what, mib(excess), mib(budget + slack));
    if (excess > static_cast<long long>(worst_excess)) worst_excess = static_cast<size_t>(excess);
    if (mib(excess) - mib(budget + slack) > worst_margin) worst_margin = mib(excess) - mib(budget + slack);
#ifndef MEMORY_TEST_SYSTEM_MALLOC
    static hak_stats s;
    hak_stats_get(&s);
    uint64_t retained = 0, retention_budget = 0;
    if (retention_fields(s, &retained, &retention_budget)) {
      snprintf(what, sizeof what, "phase %2d hak_stats retained_bytes vs retention_budget", phase_index);
      check_le(what, mib(static_cast<size_t>(retained)), mib(static_cast<size_t>(retention_budget) + 8 * MiB));
    }
    // Information for whoever debugs a failure: where the excess sits.
    printf("  [hakmem]   stats: retained %.1f MiB (kept empty %.1f, pool %.1f, large %.1f), budget %.1f, "
           "pending in remote queues %.1f MiB, purged so far %.1f MiB\n",
           mib(static_cast<size_t>(retained)), mib(static_cast<size_t>(s.retained_kept_empty_bytes)),
           mib(static_cast<size_t>(s.retained_pool_bytes)), mib(static_cast<size_t>(s.retained_large_bytes)),
           mib(static_cast<size_t>(retention_budget)), mib(static_cast<size_t>(pending_bytes(s))),
           mib(static_cast<size_t>(s.bytes_purged)));
#endif
    ++phase_index;
  };
  std::barrier sync(kThreads, check);

  auto worker = [&](int me) {
    Rng rng(1000 + me);
    for (int p = 0; p < kCycles * kPhases; ++p) {
      Range& r = ranges[(me + p) % kThreads];
      const Phase phase = static_cast<Phase>(p % kPhases);
      if (phase == kGrow) {
        size_t done = 0;
        while (done < kBurstBytes) {
          void* b = fresh(rng);
          r.burst.push(b);
          r.burst_live += usable(b);
          done += usable(b);
        }
      } else if (phase == kShrink) {
        while (r.burst.size > 0) {  // newest first, as a request's scratch data goes
          void* b = r.burst[--r.burst.size];
          r.burst_live -= usable(b);
          free(b);
        }
      } else {
        for (int op = 0; op < kSteadyOps; ++op) replace(r, rng);
      }
      sync.arrive_and_wait();
    }
  };
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
    for (auto& t : threads) t.join();
  }
  printf("retention_stress [%s]: baseline %.1f MiB, peak %.1f MiB, worst excess over live %.1f MiB, "
         "worst margin to the bound %+.1f MiB\n",
         kAllocator, mib(baseline), mib(peak_rss()), mib(worst_excess), worst_margin);
  for (int i = 0; i < kThreads; ++i)
    for (void*& p : ranges[i].base) free(p);
  delete[] ranges;
  return finish("retention_stress");
}
