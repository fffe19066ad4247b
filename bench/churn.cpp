// Thread churn in the style of mstress: generations of threads each free the objects
// the previous generation left them (allocated by another, now exited, thread),
// allocate a new set of mixed sizes, free part of it, hand the rest to the next
// generation, and exit. Stresses thread start/exit in the allocator, reclaiming and
// reusing memory of dead threads, and remote frees.
#include <cstdlib>
#include <thread>
#include <vector>

#include "common/bench_util.h"

namespace {

size_t object_size(bench::Rng& rng) {
  uint64_t r = rng.below(100);
  if (r < 70) return rng.between(16, 128);
  if (r < 95) return rng.between(129, 2048);
  if (r < 99) return rng.between(2049, 32768);
  return rng.between(32769, 262144);
}

struct Transfer {
  std::vector<char*> objects;
};

void generation_worker(Transfer& inbox, Transfer& outbox, size_t objects, uint64_t seed) {
  bench::Rng rng(seed);
  for (char* p : inbox.objects) {
    if (p[0] != 'm') abort();  // memory handed over must still hold what was written
    free(p);
  }
  inbox.objects.clear();
  std::vector<char*> mine(objects);
  for (auto& p : mine) {
    p = static_cast<char*>(malloc(object_size(rng)));
    p[0] = 'm';
  }
  // Free a random half now (local frees), pass the rest on.
  for (size_t i = 0; i < objects; ++i) {
    size_t j = i + rng.below(objects - i);
    std::swap(mine[i], mine[j]);
  }
  for (size_t i = 0; i < objects / 2; ++i) free(mine[i]);
  outbox.objects.assign(mine.begin() + objects / 2, mine.end());
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: churn [threads=4] [generations=300] [objects=5000] [seed=7]\n"
                "  prints RESULT seconds=S (wall time for all generations)\n");
  const int threads = a.integer(1, 4);
  const long generations = a.integer(2, 300);
  const size_t objects = a.integer(3, 5000);
  uint64_t seed = a.integer(4, 7);

  std::vector<Transfer> in(threads), out(threads);
  double start = bench::now_seconds();
  for (long g = 0; g < generations; ++g) {
    std::vector<std::thread> gen;
    for (int t = 0; t < threads; ++t)
      // Thread t's leftovers go to thread t+1 of the next generation.
      gen.emplace_back(generation_worker, std::ref(in[t]), std::ref(out[(t + 1) % threads]), objects,
                       seed++ * 7919);
    for (auto& t : gen) t.join();
    std::swap(in, out);
  }
  double elapsed = bench::now_seconds() - start;
  for (auto& t : in)
    for (char* p : t.objects) free(p);
  bench::result("seconds", elapsed);
  return 0;
}
