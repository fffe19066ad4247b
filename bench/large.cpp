// Large blocks: a few live blocks of 64 KiB .. 8 MiB (log-uniform); each operation frees
// one, allocates a new one and touches every byte of it (memset). Measures the large
// tier: mapping, caching and reuse of big blocks, and the page faults of fresh memory.
#include <cstdlib>
#include <cstring>

#include "common/bench_util.h"

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: large [ops=6000] [live=4] [seed=5]\n"
                "  prints RESULT ops_per_sec=N (one op = free + malloc + memset of the new block)\n");
  const long ops = a.integer(1, 6000);
  const size_t live = a.integer(2, 4);
  bench::Rng rng(a.integer(3, 5));
  auto size = [&] {
    int bits = 16 + static_cast<int>(rng.below(7));  // 64 KiB .. 8 MiB
    return static_cast<size_t>(rng.between(size_t(1) << bits, size_t(2) << bits));
  };

  char** slot = static_cast<char**>(calloc(live, sizeof(char*)));
  double start = bench::now_seconds();
  for (long i = 0; i < ops; ++i) {
    size_t s = rng.below(live);
    free(slot[s]);
    size_t n = size();
    slot[s] = static_cast<char*>(malloc(n));
    memset(slot[s], static_cast<int>(i), n);
    bench::escape(slot[s]);
  }
  double elapsed = bench::now_seconds() - start;
  for (size_t i = 0; i < live; ++i) free(slot[i]);
  free(slot);
  bench::result("ops_per_sec", ops / elapsed);
  return 0;
}
