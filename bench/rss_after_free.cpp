// Does memory go back to the OS? (issue 6) Two threads allocate ~900 MiB in total of
// small and mid blocks (16 B .. 64 KiB, log-uniform) and touch them; then everything is
// freed, half of each thread's blocks by the other thread. Then the program idles for
// 3 s with light allocation (a few small malloc/free pairs every 10 ms, as a mostly idle
// server would) and reads VmRSS. Reports peak RSS and RSS 3 s after the free.
#include <barrier>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "common/bench_util.h"

namespace {

struct Work {
  std::vector<char*> blocks;
};

void allocate(Work& w, size_t bytes, uint64_t seed) {
  bench::Rng rng(seed);
  size_t total = 0;
  while (total < bytes) {
    int bits = 4 + static_cast<int>(rng.below(12));  // 16 B .. 64 KiB
    size_t n = rng.between(size_t(1) << bits, (size_t(2) << bits) - 1);
    if (n > 65536) n = 65536;
    char* p = static_cast<char*>(malloc(n));
    memset(p, 7, n);
    w.blocks.push_back(p);
    total += n;
  }
}

// Frees own even-indexed blocks and the other thread's odd-indexed ones.
void release(Work& own, Work& other) {
  for (size_t i = 0; i < own.blocks.size(); i += 2) free(own.blocks[i]);
  for (size_t i = 1; i < other.blocks.size(); i += 2) free(other.blocks[i]);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: rss_after_free [total_mib=900] [idle_seconds=3]\n"
                "  prints RESULT peak_rss_kb=K, RESULT rss_after_free_kb=K (right after the free),\n"
                "         RESULT rss_after_idle_kb=K (idle_seconds later, threads still alive)\n");
  const size_t total = static_cast<size_t>(a.integer(1, 900)) << 20;
  const double idle_seconds = a.real(2, 3);

  // The same two threads live through all phases, as in a server: per-thread caches
  // stay alive rather than being flushed by thread exit.
  Work w[2];
  std::barrier sync(2);
  long peak = 0, after_free = 0, after_idle = 0;
  auto run = [&](int me) {
    allocate(w[me], total / 2, 1 + me);
    sync.arrive_and_wait();
    if (me == 0) peak = bench::peak_rss_kb();
    sync.arrive_and_wait();
    release(w[me], w[1 - me]);
    sync.arrive_and_wait();
    if (me == 0) after_free = bench::rss_kb();
    bench::light_allocation(idle_seconds, 10 + me);
    sync.arrive_and_wait();
    if (me == 0) after_idle = bench::rss_kb();
    sync.arrive_and_wait();
  };
  std::thread t0(run, 0), t1(run, 1);
  t0.join();
  t1.join();
  printf("rss_after_free: peak %ld kB, right after free %ld kB, %.0f s later %ld kB\n", peak, after_free,
         idle_seconds, after_idle);
  bench::result("peak_rss_kb", peak);
  bench::result("rss_after_free_kb", after_free);
  bench::result("rss_after_idle_kb", after_idle);
  return 0;
}
