// Thousands of short-lived threads. Each allocates, frees some of its own blocks (so
// its caches hold blocks when it exits), frees blocks that earlier -- by now exited --
// threads left behind, and exits holding the rest, which later threads free.
// Slabs of exited threads must be reused (adopted, or reclaimed through the mailboxes),
// not leaked.
#include <mutex>
#include <thread>
#include <vector>

#include "stress_common.h"

using namespace stress;

namespace {

struct Block {
  void* p;
  size_t n;
};

std::mutex g_orphans_mutex;
std::vector<Block> g_orphans;

void short_life(uint64_t seed) {
  Rng rng(seed);
  std::vector<Block> mine(32 + rng.below(96));
  for (auto& b : mine) {
    b.n = random_size(rng, 1);
    b.p = checked_new(hak_malloc(b.n), b.n);
  }
  // And a run of one size, past what the nursery serves a thread (its first blocks of a
  // class come from the shared heap): this thread owns a slab of that class when it
  // exits, with blocks still in use, for later threads to adopt.
  const size_t run_size = random_size(rng);
  for (size_t i = 0, n = 24 + rng.below(40); i < n; ++i)
    mine.push_back(Block{checked_new(hak_malloc(run_size), run_size), run_size});
  for (size_t i = mine.size() - 1; i > 0; --i) std::swap(mine[i], mine[rng.below(i + 1)]);
  // Free a third of our own blocks: they land in this thread's caches.
  size_t keep = mine.size() * 2 / 3;
  for (size_t i = keep; i < mine.size(); ++i) {
    verify(mine[i].p, mine[i].n);
    hak_free(mine[i].p);
  }
  mine.resize(keep);
  // Free blocks of threads that are gone, then leave ours for the next ones.
  std::vector<Block> inherited;
  {
    std::lock_guard<std::mutex> g(g_orphans_mutex);
    size_t take = g_orphans.size() < 2 * keep ? g_orphans.size() : 2 * keep;
    for (size_t i = 0; i < take; ++i) {
      size_t j = rng.below(g_orphans.size());
      inherited.push_back(g_orphans[j]);
      g_orphans[j] = g_orphans.back();
      g_orphans.pop_back();
    }
  }
  for (auto& b : inherited) {
    verify(b.p, b.n);
    hak_free(b.p);
  }
  std::lock_guard<std::mutex> g(g_orphans_mutex);
  g_orphans.insert(g_orphans.end(), mine.begin(), mine.end());
}

}  // namespace

int main() {
  const size_t threads_per_round = scaled(1500, 300);
  const size_t concurrent = 6;
  hak_stats start{};
  hak_stats_get(&start);
  uint64_t seed = 1;
  run_rounds("thread_churn", 3, [&](int) {
    for (size_t done = 0; done < threads_per_round; done += concurrent) {
      std::vector<std::thread> wave;
      for (size_t i = 0; i < concurrent; ++i) wave.emplace_back(short_life, seed++);
      for (auto& t : wave) t.join();
    }
    // The last orphans are freed by one more thread.
    std::thread([] {
      for (auto& b : g_orphans) {
        verify(b.p, b.n);
        hak_free(b.p);
      }
      g_orphans.clear();
    }).join();
  });

  hak_stats end{};
  hak_stats_get(&end);
  const uint64_t spawned = seed - 1;
  fprintf(stderr, "thread_churn: %" PRIu64 " threads, threads_exited %" PRIu64 " -> %" PRIu64
          ", threads_live %" PRIu64 ", superslabs peak %" PRIu64 "\n",
          spawned, start.threads_exited, end.threads_exited, end.threads_live, end.superslabs_peak);
  STRESS_CHECK(end.threads_exited - start.threads_exited >= spawned,
               "every thread that used hakmem and exited is counted in threads_exited");
  // The background purger, once started, is a live thread with a heap of its own.
  STRESS_CHECK(end.threads_live <= start.threads_live + 1 + (end.purger_rounds > start.purger_rounds ? 1 : 0),
               "heaps of exited threads are not counted as live");
  uint64_t adopted = 0;
  for (uint32_t c = 0; c < end.num_classes; ++c) adopted += end.classes[c].refill_adopt;
  const char* adopt_env = getenv("HAKMEM_TINY_SS_ADOPT");
  if (!adopt_env || adopt_env[0] != '0') {
    fprintf(stderr, "thread_churn: %" PRIu64 " refills by adoption\n", adopted);
    STRESS_CHECK(adopted > 0, "with adoption on, later threads adopt slabs of exited threads");
  }
  puts("thread_churn: ok");
  return 0;
}
