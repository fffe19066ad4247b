// Fragmentation: allocate many blocks of mixed sizes, free most of them in random order,
// then allocate a second set with a different size mix. A fragmentation-resistant
// allocator reuses the holes and keeps the final RSS close to the live data.
// Reports peak RSS (VmHWM) and final RSS (VmRSS, with the survivors and the second set live).
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/bench_util.h"

namespace {

size_t first_mix(bench::Rng& rng) {
  uint64_t r = rng.below(100);
  if (r < 60) return rng.between(16, 256);
  if (r < 90) return rng.between(257, 4096);
  return rng.between(4097, 32768);
}
// Sizes the first set rarely used, so holes must be reused across size classes or
// returned to the OS for the RSS to stay low.
size_t second_mix(bench::Rng& rng) {
  uint64_t r = rng.below(100);
  if (r < 50) return rng.between(300, 700);
  if (r < 90) return rng.between(2000, 6000);
  return rng.between(10000, 24000);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: frag_rss [blocks=300000] [keep_percent=10] [seed=11]\n"
                "  prints RESULT peak_rss_kb=K, RESULT final_rss_kb=K, RESULT live_kb=K, RESULT seconds=S\n");
  const size_t blocks = a.integer(1, 300000);
  const uint64_t keep = a.integer(2, 10);
  bench::Rng rng(a.integer(3, 11));

  double start = bench::now_seconds();
  std::vector<char*> first(blocks);
  std::vector<size_t> first_size(blocks);
  for (size_t i = 0; i < blocks; ++i) {
    first_size[i] = first_mix(rng);
    first[i] = static_cast<char*>(malloc(first_size[i]));
    memset(first[i], 1, first_size[i]);
  }
  // Free all but keep_percent, in random order.
  std::vector<size_t> order(blocks);
  for (size_t i = 0; i < blocks; ++i) order[i] = i;
  for (size_t i = 0; i < blocks; ++i) std::swap(order[i], order[i + rng.below(blocks - i)]);
  size_t live = 0;
  for (size_t k = 0; k < blocks; ++k) {
    size_t i = order[k];
    if (rng.below(100) < keep) {
      live += first_size[i];
      continue;
    }
    free(first[i]);
    first[i] = nullptr;
  }
  long after_free = bench::rss_kb();
  std::vector<char*> second(blocks / 4);
  for (auto& p : second) {
    size_t n = second_mix(rng);
    p = static_cast<char*>(malloc(n));
    memset(p, 2, n);
    live += n;
  }
  double elapsed = bench::now_seconds() - start;
  long final_rss = bench::rss_kb();
  printf("frag_rss: rss after freeing %llu%%: %ld kB\n", 100ull - keep, after_free);
  bench::result("peak_rss_kb", bench::peak_rss_kb());
  bench::result("final_rss_kb", final_rss);
  bench::result("live_kb", live / 1024.0);
  bench::result("seconds", elapsed);
  for (char* p : first) free(p);
  for (char* p : second) free(p);
  return 0;
}
