// 5000 threads created and destroyed, a few at a time, while memory crosses between
// them: each thread frees blocks allocated by earlier (now dead) threads, allocates
// blocks that later threads free, and parks some in a long-lived pool that threads
// hundreds of generations later free (remote frees into slabs of long-gone threads:
// the adopt and global-mailbox paths). Heaps must be recycled: the memory mapped at the
// end stays bounded however many threads have come and gone.
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kThreads = 5000;
constexpr int kConcurrent = 8;
constexpr size_t kBaton = 64;     // blocks handed from one generation to the next
constexpr size_t kMuseum = 4096;  // blocks that outlive many generations

std::mutex g_mu;
std::vector<std::pair<void*, size_t>> g_baton, g_museum;
std::atomic<long> g_crossed{0};

void generation(int id) {
  Rng rng(id * 7919 + 1);
  std::vector<std::pair<void*, size_t>> inherited, old;
  {
    std::lock_guard<std::mutex> g(g_mu);
    inherited.swap(g_baton);
    // Evict a few museum pieces (allocated long ago by threads long gone).
    for (int i = 0; i < 8 && !g_museum.empty(); i++) {
      size_t j = rng.below(g_museum.size());
      old.push_back(g_museum[j]);
      g_museum[j] = g_museum.back();
      g_museum.pop_back();
    }
  }
  for (auto& [p, n] : inherited) free_verified(p, n);
  for (auto& [p, n] : old) free_verified(p, n);
  g_crossed += static_cast<long>(inherited.size() + old.size());

  // Some work of our own, then blocks for the next generation and the museum.
  std::vector<std::pair<void*, size_t>> mine;
  for (int i = 0; i < 32; i++) {
    size_t n = rng.size() % 2048 + 1;
    mine.emplace_back(alloc_stamped(n), n);
  }
  for (auto& [p, n] : mine) free_verified(p, n);
  std::vector<std::pair<void*, size_t>> next, keep;
  for (size_t i = 0; i < kBaton / kConcurrent; i++) {
    size_t n = rng.size();
    next.emplace_back(alloc_stamped(n), n);
  }
  for (int i = 0; i < 8; i++) {
    size_t n = rng.size() % 4096 + 1;
    keep.emplace_back(alloc_stamped(n), n);
  }
  std::lock_guard<std::mutex> g(g_mu);
  g_baton.insert(g_baton.end(), next.begin(), next.end());
  for (auto& b : keep) {
    if (g_museum.size() < kMuseum) g_museum.push_back(b);
    else free_verified(b.first, b.second);
  }
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog(55);
  auto t0 = std::chrono::steady_clock::now();
  hak_stats st0;
  hak_stats_get(&st0);
  int started = 0;
  while (started < kThreads) {
    std::vector<std::thread> wave;
    for (int i = 0; i < kConcurrent && started < kThreads; i++) wave.emplace_back(generation, started++);
    for (auto& t : wave) t.join();
  }
  hak_stats mid;
  hak_stats_get(&mid);
  for (auto& [p, n] : g_baton) free_verified(p, n);
  for (auto& [p, n] : g_museum) free_verified(p, n);
  g_baton.clear();
  g_museum.clear();
  hak_stats st;
  hak_stats_get(&st);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("thread_storm: %d threads in %.1f s, %ld blocks freed by a later thread; "
         "threads exited %llu, live %llu; mapped %llu bytes (peak %llu), superslabs peak %llu\n",
         kThreads, secs, g_crossed.load(), static_cast<unsigned long long>(st.threads_exited),
         static_cast<unsigned long long>(st.threads_live), static_cast<unsigned long long>(st.bytes_mapped),
         static_cast<unsigned long long>(st.bytes_mapped_peak),
         static_cast<unsigned long long>(st.superslabs_peak));
  HOSTILE_CHECK(st.threads_exited - st0.threads_exited >= kThreads, "every thread's heap must be torn down");
  HOSTILE_CHECK(st.threads_live <= 2, "no heap may stay live after its thread exited");
  // Live data never exceeds ~10 MiB; per-thread leaks of even one 64 KiB slab would
  // add up to 300+ MiB over 5000 threads.
  HOSTILE_CHECK(st.bytes_mapped_peak < 256ull << 20, "memory mapped must stay bounded across 5000 threads");
  printf("thread_storm: PASS\n");
  return 0;
}
