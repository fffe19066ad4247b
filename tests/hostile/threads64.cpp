// 64 threads on 2 cores (the process is pinned to two CPUs when it has more) trading
// stamped blocks: each thread allocates, sends most blocks to a random peer, frees what
// peers sent it (remote frees into its own slabs' stacks from 63 directions) and some of
// its own. Every block is verified before it is freed.
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kThreads = 64;
constexpr int kOpsPerThread = 60000;
constexpr size_t kInboxCap = 64;  // beyond this the sender keeps the block

struct Inbox {
  std::mutex mu;
  std::vector<std::pair<void*, size_t>> blocks;  // the vector's memory is hakmem's too
};
Inbox g_inbox[kThreads];
std::atomic<int> g_running{0};
std::atomic<long> g_sent{0}, g_received{0};

void drain(int self) {
  std::vector<std::pair<void*, size_t>> mine;
  {
    std::lock_guard<std::mutex> g(g_inbox[self].mu);
    mine.swap(g_inbox[self].blocks);
  }
  for (auto& [p, n] : mine) free_verified(p, n);
  g_received += static_cast<long>(mine.size());
}

void worker(int self) {
  Rng rng(self + 1);
  std::vector<std::pair<void*, size_t>> own;
  for (int op = 0; op < kOpsPerThread; op++) {
    size_t n = rng.next() % 64 == 0 ? rng.size() : rng.size() % 2048 + 1;  // few large ones
    void* p = alloc_stamped(n);
    int peer = static_cast<int>(rng.below(kThreads));
    bool sent = false;
    if (peer != self) {
      std::lock_guard<std::mutex> g(g_inbox[peer].mu);
      if (g_inbox[peer].blocks.size() < kInboxCap) {
        g_inbox[peer].blocks.emplace_back(p, n);
        sent = true;
      }
    }
    if (sent) g_sent++;
    else own.emplace_back(p, n);
    if (own.size() > 64) {  // free a random one of ours (a local free)
      size_t i = rng.below(own.size());
      free_verified(own[i].first, own[i].second);
      own[i] = own.back();
      own.pop_back();
    }
    if (op % 8 == 0) drain(self);
  }
  for (auto& [p, n] : own) free_verified(p, n);
  g_running--;
  while (g_running.load() > 0) {  // keep draining until every sender is done
    drain(self);
    std::this_thread::yield();
  }
  drain(self);
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog(55);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 2) {
    cpu_set_t two;
    CPU_ZERO(&two);
    int taken = 0;
    for (int c = 0; c < CPU_SETSIZE && taken < 2; c++)
      if (CPU_ISSET(c, &set)) CPU_SET(c, &two), taken++;
    sched_setaffinity(0, sizeof two, &two);  // threads created below inherit it
  }
  auto t0 = std::chrono::steady_clock::now();
  g_running = kThreads;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; i++) drain(i);
  HOSTILE_CHECK(g_sent.load() == g_received.load(), "every block sent must be received and freed");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  hak_stats st;
  hak_stats_get(&st);
  printf("threads64: PASS: %d threads, %ld cross-thread frees, %.1f s; mapped %llu bytes, rss %llu (peak %llu)\n",
         kThreads, g_sent.load(), secs, static_cast<unsigned long long>(st.bytes_mapped),
         static_cast<unsigned long long>(st.rss_bytes), static_cast<unsigned long long>(st.rss_peak_bytes));
  return 0;
}
