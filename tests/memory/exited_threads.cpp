// Frees into slabs of exited threads come back. Two threads allocate ~200 MiB of small
// and mid blocks (16 B .. 64 KiB) and exit; two other threads free all of it (each frees
// every other block of both, so slabs get frees from both) and exit; the main thread
// then allocates lightly for at most 1 s. RSS must fall to <= baseline + live + 64 MiB
// (live: a dense 16 MiB the main thread holds throughout), and hakmem's stats must no
// longer count those blocks and slabs as in use.
#include "memory_common.h"

using namespace memtest;

int main() {
  const size_t kTotal = 200 * MiB, kLive = 16 * MiB, kSlack = 64 * MiB;
  const double kMaxWait = 1.0;
  OsArray<void*> blocks[2] = {OsArray<void*>(kTotal / 2 / 256), OsArray<void*>(kTotal / 2 / 256)};
  std::thread([] { free(malloc(64)); }).join();  // thread start-up costs go into the baseline
  const size_t baseline = rss();
  LiveSet live(kLive);

  {
    std::thread a0([&] { allocate_blocks(blocks[0], kTotal / 2, 1, 4, 16); });
    std::thread a1([&] { allocate_blocks(blocks[1], kTotal / 2, 2, 4, 16); });
    a0.join();
    a1.join();
  }
  const size_t full = rss();
  {
    std::thread f0([&] { free_blocks(blocks[0], 0, 2), free_blocks(blocks[1], 0, 2); });
    std::thread f1([&] { free_blocks(blocks[0], 1, 2), free_blocks(blocks[1], 1, 2); });
    f0.join();
    f1.join();
  }
  const size_t after_free = rss();
  const size_t bound = baseline + live.bytes + kSlack;
  Rng rng(99);
  const double start = now();
  size_t current = after_free;
  while (current > bound && now() - start < kMaxWait) {
    light_allocation_step(rng);
    current = rss();
  }
  const double waited = now() - start;
  printf("exited_threads [%s]: baseline %.1f MiB, live %.1f MiB, allocated %.1f MiB (RSS %.1f), right after "
         "the frees %.1f MiB, after %.2f s of light allocation %.1f MiB\n",
         kAllocator, mib(baseline), mib(live.bytes), mib(kTotal), mib(full), mib(after_free), waited, mib(current));
  check_le("RSS - baseline - live after <= 1 s of light allocation", mib(static_cast<long long>(current - baseline - live.bytes)),
           mib(kSlack));
#ifndef MEMORY_TEST_SYSTEM_MALLOC
  // Blocks freed into slabs of exited threads are not in use any more, and the slabs
  // that held them do not stay attached to a class beyond the same slack.
  SlabTotals t = slab_totals();
  check_le("hak_stats: bytes_in_use (all classes) - live", mib(static_cast<long long>(t.in_use - live.bytes)),
           mib(8 * MiB));
  check_le("hak_stats: slab bytes carrying a class - live", mib(static_cast<long long>(t.capacity - live.bytes)),
           mib(kSlack));
#endif
  return finish("exited_threads");
}
