// What a thread with a few blocks in many classes costs, and that its memory comes
// back once it exited. Threads each allocate 3 blocks of each of 40 sizes, log-spaced
// from 16 B to 16 KiB, write them, and wait at a barrier (the workload of
// bench/thread_footprint); then they free their blocks and exit.
//   live:  RSS increase per live thread <= its requested bytes * 1.10 + 24 KiB (its
//          stack's touched pages, its heap). hakmem serves a thread's first blocks of
//          each class from the shared heap (the nursery), packed with other threads'
//          first blocks; with a slab per class of its own, a thread pins a partly used
//          page or more in each of ~40 classes: ~450 KiB per thread instead of ~330.
//   trim:  32 threads; after the exits, malloc_trim(0) must bring RSS back near the
//          baseline: the blocks they freed into the shared heap's slabs (remote frees
//          nobody allocating from it would drain) are not stranded there.
//   idle:  160 threads (~50 MiB of nursery blocks, past the 32 MiB retention floor, so
//          hakmem's background purger starts); after the exits no allocator call at
//          all for 1.5 s: what stays resident must be within the retention floor. With
//          32 threads the whole ~10 MiB stays resident, which the floor allows.
#include <barrier>
#include <cmath>
#include <cstring>
#include <vector>

#include "memory_common.h"

using namespace memtest;

int main(int argc, char** argv) {
  const bool idle = mode_arg(argc, argv, "thread_footprint", {"trim", "idle"}) == 1;
  const int kThreads = idle ? 160 : 32;
  constexpr int kSizes = 40, kBlocks = 3;
  // Measured per thread for 294.5 KiB requested: hakmem ~328 KiB (32 threads), ~322
  // (160), ~449 and ~439 without the nursery; glibc ~312 and ~306.
  constexpr double kLiveFactor = 1.10;
  constexpr size_t kLiveSlack = 24 * KiB;
  // Left after the exits whatever the allocator: exited threads' stacks glibc caches
  // (their touched pages stay resident) and what the allocator keeps below its trim
  // threshold. Measured: hakmem 0.6 MiB after malloc_trim, 2.4-2.9 MiB idle (160
  // threads), ~10 MiB idle with 32 threads (no purger below the floor); glibc 2.2, 4.9.
  const size_t kTrimSlack = 4 * MiB;
  // The retention floor (HAKMEM_RETAIN_MB, 32 MiB): free memory hakmem may keep resident
  // without a purge; plus the slack above. (HAKMEM_PURGE_THREAD=0 leaves 33.6 MiB: no
  // purger, so nothing tends the shared heap or purges the pool while all are idle.)
  const size_t kIdleSlack = 32 * MiB + kTrimSlack;

  size_t sizes[kSizes];
  size_t requested = 0;
  for (int i = 0; i < kSizes; ++i) {
    sizes[i] = static_cast<size_t>(std::lround(16.0 * std::pow(1024.0, i / double(kSizes - 1))));
    requested += kBlocks * sizes[i];
  }

  std::thread([] { free(malloc(64)); }).join();  // thread start-up costs go into the baseline
  // Built before the baseline: the barriers allocate their state.
  std::barrier ready(kThreads + 1), measured(kThreads + 1);
  std::vector<std::thread> pool;
  pool.reserve(kThreads);
  const size_t baseline = rss();
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&] {
      void* blocks[kSizes * kBlocks];
      for (int i = 0; i < kSizes; ++i)
        for (int k = 0; k < kBlocks; ++k) {
          void* p = malloc(sizes[i]);
          if (!p) abort();
          memset(p, 1, sizes[i]);
          blocks[i * kBlocks + k] = p;
        }
      ready.arrive_and_wait();
      measured.arrive_and_wait();
      for (void* p : blocks) free(p);
    });
  ready.arrive_and_wait();
  const size_t live = rss();
  measured.arrive_and_wait();
  for (auto& t : pool) t.join();
  const size_t exited = rss();
  if (idle)
    sleep_quietly(1.5);
  else
    malloc_trim(0);
  const size_t after = rss();

  const double per_thread = static_cast<double>(live - baseline) / kThreads;
  printf("thread_footprint %s [%s]: %d threads x %d blocks in %d sizes (16 B..16 KiB), %.1f KiB requested per "
         "thread: baseline %.1f MiB, %.1f KiB per live thread, %.0f KiB over the baseline after the exits, "
         "%.0f KiB %s\n",
         argv[1], kAllocator, kThreads, kBlocks, kSizes, static_cast<double>(requested) / KiB, mib(baseline),
         per_thread / KiB, static_cast<double>(static_cast<long long>(exited - baseline)) / KiB,
         static_cast<double>(static_cast<long long>(after - baseline)) / KiB,
         idle ? "after 1.5 s without an allocator call" : "after malloc_trim(0)");
  // Over all threads: check_le prints 0.1 MiB steps.
  check_le("RSS increase with every thread live", mib(static_cast<long long>(live - baseline)),
           (static_cast<double>(requested) * kLiveFactor + kLiveSlack) * kThreads / MiB);
  check_le(idle ? "RSS - baseline 1.5 s after the exits (no allocator call)" : "RSS - baseline after malloc_trim(0)",
           mib(static_cast<long long>(after - baseline)), mib(idle ? kIdleSlack : kTrimSlack));
#ifndef MEMORY_TEST_SYSTEM_MALLOC
  static hak_stats st;
  hak_stats_get(&st);
  const uint64_t pending = pending_bytes(st);
  printf("  [hakmem] at the end: retained %.2f MiB (kept empty %.2f, pool %.2f), pending in remote queues %.2f MiB, "
         "blocks in use %.2f MiB, purger rounds %llu\n",
         mib(static_cast<size_t>(st.retained_bytes)), mib(static_cast<size_t>(st.retained_kept_empty_bytes)),
         mib(static_cast<size_t>(st.retained_pool_bytes)), mib(static_cast<size_t>(pending)),
         mib(static_cast<size_t>(slab_totals().in_use)), static_cast<unsigned long long>(st.purger_rounds));
  // RSS alone does not tell: slabs that the frees made complete come back anyway
  // (heap_reclaim_all); what nobody but the shared heap's tending drains is the rest,
  // ~1.6 MiB here (RSS 2.3 MiB after malloc_trim, within glibc's 2.2 + slack). Idle: the
  // background purger's rounds tend the shared heap (with the purger off nothing does).
  const char* purge_thread = getenv("HAKMEM_PURGE_THREAD");
  if (!idle || !purge_thread || strcmp(purge_thread, "0") != 0)
    check_le("hak_stats: freed blocks still waiting in remote queues", mib(static_cast<size_t>(pending)), 0.1);
#endif
  return finish(idle ? "thread_footprint_idle" : "thread_footprint_trim");
}
