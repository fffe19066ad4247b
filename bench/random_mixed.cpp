// One thread, random sizes 16..1040 B over a working set of 8192 slots: each operation
// frees a random slot and allocates a new random-size block into it. Measures the
// single-threaded fast paths across many size classes with a cache-sized working set.
#include <cstdlib>

#include "common/bench_util.h"

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: random_mixed [ops=30000000] [seed=42] [slots=8192] [min=16] [max=1040]\n"
                "  prints RESULT ops_per_sec=N (one op = one free + one malloc)\n");
  const long ops = a.integer(1, 30000000);
  bench::Rng rng(a.integer(2, 42));
  const size_t slots = a.integer(3, 8192), min = a.integer(4, 16), max = a.integer(5, 1040);

  char** slot = static_cast<char**>(calloc(slots, sizeof(char*)));
  for (size_t i = 0; i < slots; ++i) slot[i] = static_cast<char*>(malloc(rng.between(min, max)));

  double start = bench::now_seconds();
  for (long i = 0; i < ops; ++i) {
    size_t s = rng.below(slots);
    free(slot[s]);
    char* p = static_cast<char*>(malloc(rng.between(min, max)));
    p[0] = static_cast<char>(i);  // touch it, as a program would
    slot[s] = p;
  }
  double elapsed = bench::now_seconds() - start;

  for (size_t i = 0; i < slots; ++i) free(slot[i]);
  free(slot);
  bench::result("ops_per_sec", ops / elapsed);
  return 0;
}
