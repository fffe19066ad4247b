// What a thread costs in resident memory: T threads (default 32) each allocate 3 blocks
// in each of 40 sizes, log-spaced from 16 B to 16 KiB (one or more per size class in
// every allocator measured), touch them, and wait at a barrier; RSS is read there, and
// the increase over the RSS before the threads started, divided by T, is the per-thread
// footprint. Thread stacks are part of it for every allocator alike (each thread touches
// only its top pages). Then the threads free their blocks and exit, and RSS is read
// again after they have been joined: what the allocator keeps of exited threads.
#include <pthread.h>

#include <barrier>
#include <cmath>
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_util.h"

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: thread_footprint [threads=32]\n"
                "  prints RESULT kb_per_thread=K (RSS increase per live thread),\n"
                "         RESULT kb_after_exit=K (RSS increase left once they exited)\n");
  const int threads = static_cast<int>(a.integer(1, 32));
  constexpr int kSizes = 40, kBlocks = 3;
  size_t sizes[kSizes];
  for (int i = 0; i < kSizes; ++i)
    sizes[i] = static_cast<size_t>(std::lround(16.0 * std::pow(1024.0, i / double(kSizes - 1))));

  std::barrier ready(threads + 1), measured(threads + 1);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  const long before = bench::rss_kb();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      void* blocks[kSizes * kBlocks];
      for (int i = 0; i < kSizes; ++i)
        for (int k = 0; k < kBlocks; ++k) {
          char* p = static_cast<char*>(malloc(sizes[i]));
          if (!p) abort();
          memset(p, 1, sizes[i]);
          blocks[i * kBlocks + k] = p;
        }
      ready.arrive_and_wait();
      measured.arrive_and_wait();
      for (void* p : blocks) free(p);
    });
  ready.arrive_and_wait();
  const long live = bench::rss_kb();
  measured.arrive_and_wait();
  for (auto& t : pool) t.join();
  const long after = bench::rss_kb();
  const double per_thread = double(live - before) / threads;
  printf("thread_footprint: %d threads x %d blocks in %d sizes (16 B..16 KiB): %.0f kB per thread, %ld kB left after exit\n",
         threads, kBlocks, kSizes, per_thread, after - before);
  bench::result("kb_per_thread", per_thread);
  bench::result("kb_after_exit", double(after - before));
  return 0;
}
