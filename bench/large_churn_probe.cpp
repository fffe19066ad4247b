// Probe of the large tier (not a harness row): the shape of mimalloc-bench's malloc-large.
// `live` buffers of min..max MiB (uniform); each step replaces a random one with a new
// zero-filled buffer (std::make_unique<char[]>(n): operator new + memset 0), so the new
// buffer is allocated before the old one is freed. Prints wall time and peak RSS.
#include <memory>

#include "common/bench_util.h"

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: large_churn_probe [iters=2000] [live=20] [min_mib=5] [max_mib=25] [seed=42]\n"
                "  prints RESULT seconds=S and RESULT peak_rss_kb=K\n");
  const long iters = a.integer(1, 2000);
  const size_t live = a.integer(2, 20);
  const size_t lo = size_t(a.integer(3, 5)) << 20, hi = size_t(a.integer(4, 25)) << 20;
  bench::Rng rng(a.integer(5, 42));
  auto buffers = std::make_unique<std::unique_ptr<char[]>[]>(live);
  double start = bench::now_seconds();
  for (long i = 0; i < iters; ++i) {
    size_t idx = rng.below(live);
    size_t n = rng.between(lo, hi);
    buffers[idx] = std::make_unique<char[]>(n);
    bench::escape(buffers[idx].get());
  }
  double elapsed = bench::now_seconds() - start;
  long peak = bench::peak_rss_kb();
  buffers.reset();
  bench::result("seconds", elapsed);
  bench::result("peak_rss_kb", double(peak));
  return 0;
}
