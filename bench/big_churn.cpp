// Big-block churn (mimalloc-bench's malloc-large pattern): 20 live buffers; each step
// replaces a random one by a new buffer of a random 5..25 MiB, zero-filled the way
// std::make_unique<char[]>(n) does it (new char[n]()), so every byte is written.
// Measures how the allocator hands out and takes back blocks far above any size class:
// a fresh mapping per buffer means page faults on every byte; reusing a freed block
// while it is still resident avoids them. Reports seconds and peak RSS (VmHWM).
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/bench_util.h"

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: big_churn [replacements=600] [live=20] [seed=7]\n"
                "  prints RESULT seconds=S (all replacements), RESULT peak_rss_kb=K (VmHWM)\n");
  const long steps = a.integer(1, 600);
  const size_t live = static_cast<size_t>(a.integer(2, 20));
  bench::Rng rng(static_cast<uint64_t>(a.integer(3, 7)));
  constexpr size_t kMin = 5u << 20, kMax = 25u << 20;

  auto buffers = std::make_unique<std::unique_ptr<char[]>[]>(live);
  unsigned long checksum = 0;
  double start = bench::now_seconds();
  for (size_t i = 0; i < live; ++i) {
    size_t n = rng.between(kMin, kMax);
    buffers[i] = std::make_unique<char[]>(n);  // value-initialised: zero-filled
    buffers[i][n - 1] = 1;
  }
  for (long s = 0; s < steps; ++s) {
    size_t slot = rng.below(live);
    size_t n = rng.between(kMin, kMax);
    buffers[slot].reset();
    buffers[slot] = std::make_unique<char[]>(n);
    buffers[slot][n / 2] = static_cast<char>(s);
    checksum += static_cast<unsigned char>(buffers[slot][0]);  // 0: the fill really happened
    bench::escape(buffers[slot].get());
  }
  for (size_t i = 0; i < live; ++i) buffers[i].reset();
  double elapsed = bench::now_seconds() - start;
  if (checksum != 0) {
    fprintf(stderr, "big_churn: a new buffer was not zero-filled\n");
    return 1;
  }
  long peak = bench::peak_rss_kb();
  printf("big_churn: %ld replacements of 5..25 MiB with %zu live: %.3f s, peak RSS %ld kB\n", steps, live,
         elapsed, peak);
  bench::result("seconds", elapsed);
  bench::result("peak_rss_kb", peak);
  return 0;
}
