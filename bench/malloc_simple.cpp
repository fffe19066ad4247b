// In the style of glibc's bench-malloc-simple: one thread, one size at a time, a tight
// loop that allocates a small batch of blocks and frees them again. Reports the time
// of one malloc+free pair for each size: the pure fast-path cost. Each size runs for a
// fixed time, so a slow path (e.g. trimming the heap top every round) cannot stretch it.
#include <cstdlib>
#include <cstring>

#include "common/bench_util.h"

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: malloc_simple [seconds_per_size=0.5] [batch=100]\n"
                "  sizes 16, 128, 1024, 4096; prints RESULT ns_per_pair_<size>=T for each\n");
  const double seconds = a.real(1, 0.5);
  const long batch = a.integer(2, 100);
  static const size_t kSizes[] = {16, 128, 1024, 4096};

  void** blocks = static_cast<void**>(calloc(batch, sizeof(void*)));
  for (size_t size : kSizes) {
    long rounds = 0;
    double start = bench::now_seconds(), elapsed = 0;
    do {
      for (int k = 0; k < 64; ++k, ++rounds) {
        for (long i = 0; i < batch; ++i) {
          blocks[i] = malloc(size);
          bench::escape(blocks[i]);
        }
        for (long i = 0; i < batch; ++i) free(blocks[i]);
      }
      elapsed = bench::now_seconds() - start;
    } while (elapsed < seconds);
    char name[64];
    snprintf(name, sizeof name, "ns_per_pair_%zu", size);
    bench::result(name, elapsed * 1e9 / (static_cast<double>(rounds) * batch));
  }
  free(blocks);
  return 0;
}
