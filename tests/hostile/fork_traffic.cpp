// fork() in the middle of cross-thread traffic: four threads trade stamped blocks while
// the main thread forks twenty times. Each child (one thread: the others do not exist
// there) checks and frees blocks the parent allocated before the fork, allocates and
// frees in every tier, starts a thread that does the same, and exits 0; a deadlock on an
// allocator lock held by a parent thread at fork time shows as the child's timeout.
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kTraders = 4;
constexpr int kForks = 20;

struct Inbox {
  std::mutex mu;
  std::vector<std::pair<void*, size_t>> blocks;
};
// Never destroyed: exit() in a child must not run the vectors' destructors, as an inbox
// a trader was editing at fork time is torn there (its buffer freed twice, say).
Inbox* const g_inbox = new Inbox[kTraders];
std::atomic<bool> g_stop{false};

void trader(int self) {
  Rng rng(self + 11);
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 16; i++) {
      size_t n = rng.size();
      void* p = alloc_stamped(n);
      int peer = static_cast<int>(rng.below(kTraders));
      std::lock_guard<std::mutex> g(g_inbox[peer].mu);
      g_inbox[peer].blocks.emplace_back(p, n);
    }
    std::vector<std::pair<void*, size_t>> mine;
    {
      std::lock_guard<std::mutex> g(g_inbox[self].mu);
      mine.swap(g_inbox[self].blocks);
    }
    for (auto& [p, n] : mine) free_verified(p, n);
  }
}

void churn(uint64_t seed, int rounds) {
  Rng rng(seed);
  std::vector<std::pair<void*, size_t>> v;
  for (int i = 0; i < rounds; i++) {
    size_t n = rng.size();
    v.emplace_back(alloc_stamped(n), n);
    if (v.size() > 32) {
      free_verified(v.front().first, v.front().second);
      v.erase(v.begin());
    }
  }
  for (auto& [p, n] : v) free_verified(p, n);
}

int child(std::vector<std::pair<void*, size_t>>& before_fork) {
  alarm(20);
  for (auto& [p, n] : before_fork) free_verified(p, n);  // the parent's blocks, copied
  before_fork.clear();
  // Blocks of the traders, whose threads do not exist here: remote frees into slabs
  // nobody in this process will ever drain. (An inbox locked at fork time stays locked.)
  for (int i = 0; i < kTraders; i++) {
    Inbox& in = g_inbox[i];
    if (!in.mu.try_lock()) continue;
    for (auto& [p, n] : in.blocks) free_verified(p, n);
    in.blocks.clear();
    in.mu.unlock();
  }
  churn(99, 2000);
  std::thread t([] { churn(7, 2000); });
  t.join();
  void* big = alloc_stamped(8 << 20);  // the large tier
  free_verified(big, 8 << 20);
  return 0;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog(55);
  std::vector<std::thread> traders;
  for (int i = 0; i < kTraders; i++) traders.emplace_back(trader, i);
  Rng rng(5);
  int failures = 0;
  for (int f = 0; f < kForks; f++) {
    std::vector<std::pair<void*, size_t>> before;
    for (int i = 0; i < 64; i++) {
      size_t n = rng.size();
      before.emplace_back(alloc_stamped(n), n);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng.below(20)));
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) exit(child(before));  // exit(), not _exit(): atexit handlers run too
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    if (WIFSIGNALED(status)) {
      fprintf(stderr, "hostile FAILURE: fork child %d died of signal %d%s\n", f, WTERMSIG(status),
              WTERMSIG(status) == SIGALRM ? " (timeout: deadlock after fork?)" : "");
      failures++;
    } else if (WEXITSTATUS(status) != 0) {
      fprintf(stderr, "hostile FAILURE: fork child %d exited with %d\n", f, WEXITSTATUS(status));
      failures++;
    }
    for (auto& [p, n] : before) free_verified(p, n);
  }
  g_stop = true;
  for (auto& t : traders) t.join();
  for (int i = 0; i < kTraders; i++)
    for (auto& [p, n] : g_inbox[i].blocks) free_verified(p, n);
  if (failures) return 1;
  printf("fork_traffic: PASS: %d forks during cross-thread traffic\n", kForks);
  return 0;
}
