// Threads that allocated a lot stay alive but idle (no allocator call) while other
// threads free everything they allocated: the memory must leave the process anyway.
//   quiet: the owners have been idle for a while when the frees come; after them the
//          program makes no allocator call at all (the freeing thread completes the
//          owners' slabs and gives them back itself).
//   busy:  the frees come right after the owners went idle; then the main thread only
//          allocates a little now and then (its housekeeping gives back the complete
//          slabs of the owners once they have been idle long enough).
// Bound: RSS <= baseline + live + 32 MiB, plus 24 MiB per idle owner for hakmem: each
// keeps its bound slab per class, the one its fast path pops from without a lock, and
// the slabs of the blocks in its fast cache. glibc keeps about 200 MiB here (the frees
// land in the owners' arenas, which trim only their top), as mimalloc and tcmalloc keep
// the whole peak: the _system build fails this bound, on purpose.
#include <cstring>

#include "memory_common.h"

using namespace memtest;

int main(int argc, char** argv) {
  const bool quiet = mode_arg(argc, argv, "idle_owners", {"quiet", "busy"}) == 0;
  constexpr int kOwners = 2;
  const size_t kPerOwner = 100 * MiB, kLive = 16 * MiB, kSlack = 32 * MiB;
  OsArray<void*> blocks[kOwners] = {OsArray<void*>(kPerOwner / 256), OsArray<void*>(kPerOwner / 256)};
  std::thread([] { free(malloc(64)); }).join();
  const size_t baseline = rss();
  LiveSet live(kLive);

  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::thread owners[kOwners];
  for (int i = 0; i < kOwners; ++i) {
    owners[i] = std::thread([&, i] {
      allocate_blocks(blocks[i], kPerOwner, 11 + i, 4, 16);
      free_blocks(blocks[i], 0, 3);  // a third freed locally
      ready.fetch_add(1);
      while (!go.load()) sleep_quietly(0.005);  // alive, idle, no allocator call
    });
  }
  while (ready.load() < kOwners) sleep_quietly(0.002);
  if (quiet) sleep_quietly(0.3);
  for (auto& b : blocks) free_blocks(b, 1, 3), free_blocks(b, 2, 3);  // remote frees
  const size_t right_after = rss();
  if (quiet) {
    sleep_quietly(0.2);  // no allocator call anywhere
  } else {
    Rng rng(5);
    for (double end = now() + 1.0; now() < end;) {
      light_allocation_step(rng);
      sleep_quietly(0.002);
    }
  }
  const size_t final_rss = rss();
  size_t idle_rss = final_rss;
  if (quiet) {
    sleep_quietly(1.8);  // still no allocator call: only hakmem's background purger runs
    idle_rss = rss();
  }
#ifndef MEMORY_TEST_SYSTEM_MALLOC
  static hak_stats st;
  hak_stats_get(&st);
  printf("  [hakmem] at the end: retained %.1f MiB, pending in remote queues %.1f MiB, blocks in use %.1f MiB\n",
         mib(static_cast<size_t>(st.retained_bytes)), mib(static_cast<size_t>(pending_bytes(st))),
         mib(static_cast<size_t>(slab_totals().in_use)));
  // Quiet: the purger has had eight purge delays to give back what pools and the large
  // cache held (what the owners' slabs hold is theirs: the RSS bound below allows for it).
  const char* purge_thread = getenv("HAKMEM_PURGE_THREAD");
  if (quiet && (!purge_thread || strcmp(purge_thread, "0") != 0))
    check_le("purgeable free memory 2 s after the frees (pool + large cache)",
             mib(static_cast<size_t>(st.retained_pool_bytes + st.retained_large_bytes)), 1.0);
#endif
  go.store(true);
  for (auto& t : owners) t.join();
  printf("idle_owners %s [%s]: baseline %.1f MiB, live %.1f MiB, peak %.1f MiB, right after the frees %.1f MiB, "
         "final %.1f MiB, 2 s after the frees %.1f MiB\n",
         argv[1], kAllocator, mib(baseline), mib(live.bytes), mib(peak_rss()), mib(right_after), mib(final_rss),
         mib(idle_rss));
#ifdef MEMORY_TEST_SYSTEM_MALLOC
  const size_t bound = kSlack;
#else
  const size_t bound = kSlack + kOwners * 24 * MiB;
#endif
  check_le("final RSS - baseline - live", mib(static_cast<long long>(final_rss - baseline - live.bytes)), mib(bound));
  return finish(quiet ? "idle_owners_quiet" : "idle_owners_busy");
}
