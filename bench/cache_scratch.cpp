// Hoard's cache-scratch (passive false sharing): the main thread allocates one small
// object per thread (likely neighbours in one cache line) and hands them out; each
// thread frees its object, then repeatedly allocates, writes and frees objects of the
// same size. An allocator that gives a thread back the remotely freed object (or its
// neighbours) makes threads share cache lines they never meant to share.
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_util.h"

namespace {

void worker(char* inherited, long iterations, long repetitions, size_t size) {
  free(inherited);
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
                "usage: cache_scratch [threads=2] [iterations=1000] [size=8] [repetitions=200000]\n"
                "  repetitions are divided among the threads; prints RESULT seconds=S\n");
  const int threads = a.integer(1, 2);
  const long iterations = a.integer(2, 1000);
  const size_t size = a.integer(3, 8);
  const long repetitions = a.integer(4, 200000);

  std::vector<char*> objs(threads);
  for (auto& p : objs) p = static_cast<char*>(malloc(size));
  double start = bench::now_seconds();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, objs[t], iterations, repetitions / threads, size);
  for (auto& t : ts) t.join();
  bench::result("seconds", bench::now_seconds() - start);
  return 0;
}
