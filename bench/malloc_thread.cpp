// In the style of glibc's bench-malloc-thread: each thread keeps a working set of 1024
// blocks and, for a fixed time, frees a random one and allocates a new one with a size
// from an inverse-square distribution over 4 B .. 32 KiB (mostly small, a long tail).
#include <cmath>
#include <cstdlib>
#include <thread>
#include <vector>
#include <atomic>

#include "common/bench_util.h"

namespace {

constexpr size_t kWorkingSet = 1024;
constexpr size_t kSizeTable = 16384;
std::atomic<bool> g_stop{false};

size_t inverse_square_size(double u) {
  const double lo = 4, hi = 32768;
  const double lo_pow = 1 / lo, hi_pow = 1 / hi;  // x^(exponent+1) with exponent -2
  return static_cast<size_t>(1 / ((hi_pow - lo_pow) * u + lo_pow));
}

void worker(uint64_t seed, uint64_t* ops_out) {
  bench::Rng rng(seed);
  std::vector<uint32_t> sizes(kSizeTable);
  for (auto& s : sizes) s = static_cast<uint32_t>(inverse_square_size((rng.next() >> 11) * 0x1.0p-53));
  void* slots[kWorkingSet] = {};
  uint64_t ops = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int burst = 0; burst < 256; ++burst, ++ops) {
      size_t i = rng.below(kWorkingSet);
      free(slots[i]);
      slots[i] = malloc(sizes[ops % kSizeTable]);
      static_cast<char*>(slots[i])[0] = 1;
    }
  }
  for (void* p : slots) free(p);
  *ops_out = ops;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: malloc_thread [threads=2] [seconds=3]\n"
                "  prints RESULT ops_per_sec=N (total free+malloc pairs per second over all threads)\n");
  const int threads = a.integer(1, 2);
  const double seconds = a.real(2, 3);

  std::vector<uint64_t> ops(threads);
  std::vector<std::thread> ts;
  double start = bench::now_seconds();
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, 99 + t, &ops[t]);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  g_stop.store(true);
  for (auto& t : ts) t.join();
  double elapsed = bench::now_seconds() - start;
  uint64_t total = 0;
  for (auto o : ops) total += o;
  bench::result("ops_per_sec", total / elapsed);
  return 0;
}
