// fork() while threads hammer the guard-mode paths (run with HAKMEM_GUARD=1). Four
// threads each allocate and free blocks of their own size class as fast as they can,
// so their slabs go between 0 and 1 block in use, and hand one block in eight to a
// neighbour to free (the remote queue). The main thread forks again and again; each
// child (one thread: the others do not exist there, and may have been anywhere in a
// pop, a free or a drain) allocates 8 MiB of 4 KiB blocks, which takes every slab the
// pool holds, dead threads' slabs included, frees them and exits 0.
// The bug it was written for: a pop sets the block's bit in the slab's guard bitmap
// before it counts the block in `used`. A thread caught between the two left `used`
// one short; at 0 the child gave the slab back to the pool with the bit set, and the
// child's first pop of that index aborted with "block handed out twice".
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kHammers = 4;
constexpr int kMaxForks = 200;
constexpr uint64_t kBudgetMs = 3000;
constexpr size_t kSizes[kHammers] = {48, 256, 1024, 3072};

std::atomic<bool> g_stop{false};
// One block in flight from hammer i to hammer i + 1, which frees it.
std::atomic<void*> g_handoff[kHammers];

void hammer(int self) {
  const size_t n = kSizes[self];
  std::atomic<void*>& in = g_handoff[self];
  std::atomic<void*>& out = g_handoff[(self + 1) % kHammers];
  for (uint64_t i = 0; !g_stop.load(std::memory_order_relaxed); i++) {
    void* p = malloc(n);
    if (!p) die("malloc returned NULL", nullptr, n);
    static_cast<unsigned char*>(p)[0] = static_cast<unsigned char>(i);
    if ((i & 7) == 0 && !out.load(std::memory_order_relaxed)) {
      void* expected = nullptr;
      if (out.compare_exchange_strong(expected, p, std::memory_order_acq_rel)) continue;
    }
    free(p);
    if (void* q = in.exchange(nullptr, std::memory_order_acq_rel)) free(q);  // a remote free
  }
}

int child() {
  alarm(20);
  constexpr size_t kBlock = 4096;
  constexpr size_t kCount = (8u << 20) / kBlock;
  static void* blocks[kCount];  // not on the stack, no allocation of our own
  for (size_t i = 0; i < kCount; i++) blocks[i] = alloc_stamped(kBlock);
  for (size_t i = 0; i < kCount; i++) free_verified(blocks[i], kBlock);
  for (size_t i = 0; i < 4096; i++) free(malloc(kSizes[i % kHammers]));
  return 0;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog_report(18, "fork_guard");
  std::vector<std::thread> threads;
  for (int i = 0; i < kHammers; i++) threads.emplace_back(hammer, i);
  Rng rng(3);
  int failures = 0, forks = 0;
  const uint64_t start = now_ms();
  for (; forks < kMaxForks && now_ms() - start < kBudgetMs; forks++) {
    std::this_thread::sleep_for(std::chrono::microseconds(200 + rng.below(1500)));
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) _exit(child());
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    if (WIFSIGNALED(status)) {
      fprintf(stderr, "hostile FAILURE: fork child %d died of signal %d%s\n", forks, WTERMSIG(status),
              WTERMSIG(status) == SIGALRM ? " (timeout: deadlock after fork?)" : "");
      failures++;
    } else if (WEXITSTATUS(status) != 0) {
      fprintf(stderr, "hostile FAILURE: fork child %d exited with %d\n", forks, WEXITSTATUS(status));
      failures++;
    }
  }
  g_stop = true;
  for (auto& t : threads) t.join();
  for (auto& h : g_handoff)
    if (void* q = h.exchange(nullptr)) free(q);
  if (failures) {
    fprintf(stderr, "fork_guard: %d of %d fork children failed\n", failures, forks);
    return 1;
  }
  printf("fork_guard: PASS: %d forks while threads hammer allocation and free\n", forks);
  return 0;
}
