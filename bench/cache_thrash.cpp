// Hoard's cache-thrash (active false sharing): each thread repeatedly allocates a small
// object, writes it many times, and frees it. An allocator that hands objects from one
// cache line to different threads makes those writes ping-pong the line between cores.
// The total work is fixed; it is divided among the threads.
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_util.h"

namespace {

void worker(long iterations, long repetitions, size_t size) {
  for (long i = 0; i < iterations; ++i) {
    volatile char* obj = static_cast<char*>(malloc(size));
    for (long r = 0; r < repetitions; ++r)
      for (size_t k = 0; k < size; ++k) {
        obj[k] = static_cast<char>(k);
        char c = obj[k];
        obj[k] = static_cast<char>(c + 1);
      }
    free(const_cast<char*>(obj));
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: cache_thrash [threads=2] [iterations=1000] [size=8] [repetitions=200000]\n"
                "  repetitions are divided among the threads; prints RESULT seconds=S\n");
  const int threads = a.integer(1, 2);
  const long iterations = a.integer(2, 1000);
  const size_t size = a.integer(3, 8);
  const long repetitions = a.integer(4, 200000);

  double start = bench::now_seconds();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, iterations, repetitions / threads, size);
  for (auto& t : ts) t.join();
  bench::result("seconds", bench::now_seconds() - start);
  return 0;
}
