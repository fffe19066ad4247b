// Instruction count of one malloc+free pair, measured by bench/run.sh under
// `valgrind --tool=callgrind`: it runs this program with N and 2N pairs and divides
// the difference of the total instruction counts by N, so start-up and the first-touch
// slow paths cancel out. A warm-up of 1000 pairs precedes the measured loop.
//
// keep = 1 keeps one other block of the size alive for the whole loop: the fair case,
// where no allocator retires its page on each free. keep = 0 is the case where the
// pair's block is the only one of its size: mimalloc then retires and re-initialises
// its page on every free (about 105 instructions a pair), a cliff real programs rarely
// stand on.
#include <cstdlib>

#include "common/bench_util.h"

int main(int argc, char** argv) {
  bench::Args a(argc, argv, "usage: callgrind_pair pairs size [keep]\n");
  const long pairs = a.integer(1, 100000);
  const size_t size = a.integer(2, 64);
  void* kept = a.integer(3, 1) ? malloc(size) : nullptr;
  bench::escape(kept);
  for (long i = 0; i < 1000 + pairs; ++i) {
    char* p = static_cast<char*>(malloc(size));
    bench::escape(p);
    p[0] = 1;
    free(p);
  }
  free(kept);
  return 0;
}
