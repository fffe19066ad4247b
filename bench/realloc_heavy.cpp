// Growing buffers by realloc, as string builders and vectors do: a pool of live buffers,
// each step appends a few bytes to a random one. Half the buffers grow exactly to fit
// (a realloc per append, like naive string concatenation), half double their capacity
// (like std::vector). A buffer that reaches its random final length is freed and started
// again. Measures in-place growth, copying, and size-class transitions.
#include <cstdlib>
#include <cstring>

#include "common/bench_util.h"

namespace {

struct Buffer {
  char* data = nullptr;
  size_t length = 0, capacity = 0, limit = 0;
  bool exact = false;
};

size_t final_length(bench::Rng& rng) {
  // Mostly short strings, some long ones: log-uniform over 64 B .. 256 KiB.
  int bits = 6 + static_cast<int>(rng.below(13));
  return rng.between(size_t(1) << bits, size_t(2) << bits);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: realloc_heavy [steps=5000000] [buffers=512] [seed=3]\n"
                "  prints RESULT ops_per_sec=N (appends per second; each exact-fit append is a realloc)\n");
  const long steps = a.integer(1, 5000000);
  const size_t count = a.integer(2, 512);
  bench::Rng rng(a.integer(3, 3));

  Buffer* buffers = static_cast<Buffer*>(calloc(count, sizeof(Buffer)));
  for (size_t i = 0; i < count; ++i) {
    buffers[i].exact = i % 2 == 0;
    buffers[i].limit = final_length(rng);
  }
  long reallocs = 0;
  double start = bench::now_seconds();
  for (long s = 0; s < steps; ++s) {
    Buffer& b = buffers[rng.below(count)];
    size_t add = rng.between(1, 64);
    size_t need = b.length + add;
    if (need > b.capacity) {
      size_t cap = b.exact ? need : (b.capacity ? b.capacity * 2 : 32);
      if (cap < need) cap = need;
      char* p = static_cast<char*>(realloc(b.data, cap));
      if (!p) abort();
      if (b.length && p[0] != 'S') abort();  // contents must survive the move
      b.data = p;
      b.capacity = cap;
      ++reallocs;
    }
    memset(b.data + b.length, b.length ? 'x' : 'S', add);
    if (b.length == 0) b.data[0] = 'S';
    b.length = need;
    if (b.length >= b.limit) {
      free(b.data);
      b = Buffer{nullptr, 0, 0, final_length(rng), b.exact};
    }
  }
  double elapsed = bench::now_seconds() - start;
  for (size_t i = 0; i < count; ++i) free(buffers[i].data);
  free(buffers);
  printf("realloc_heavy: %ld reallocs in %ld steps\n", reallocs, steps);
  bench::result("ops_per_sec", steps / elapsed);
  return 0;
}
