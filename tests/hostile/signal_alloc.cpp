// malloc and free inside a signal handler.
//
// What hakmem supports, and this test checks: a handler may call malloc/free/realloc
// when the thread it interrupts is NOT itself inside the allocator -- here the signal is
// only unblocked while the thread waits in sigsuspend(), between its own allocations.
// That includes the first allocation of a thread that never allocated before (its heap
// is created inside the handler).
//
// What is NOT supported (as with glibc, whose malloc is not async-signal-safe either):
// a handler that allocates while the interrupted thread is inside malloc/free. The
// handler would run on the same thread heap, whose owner-local lists the interrupted
// call is in the middle of editing. POSIX lists no allocation function among the
// async-signal-safe ones; such a program is wrong with every allocator, so no test.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kSignals = 20000;

std::atomic<int> g_handled{0};
void* g_kept = nullptr;  // a block one handler call leaves for the next to free
size_t g_kept_size = 0;

void handler(int) {
  int saved = errno;
  size_t n = 16 + static_cast<size_t>(g_handled.load(std::memory_order_relaxed) % 97) * 40;
  void* a = alloc_stamped(n);
  void* b = alloc_stamped(3 * n + 1000);
  b = realloc(b, 5 * n + 2000);
  if (!b) die("realloc in a signal handler failed");
  free_verified(a, n);
  free(b);
  if (g_kept) free_verified(g_kept, g_kept_size);
  g_kept_size = n * 2;
  g_kept = alloc_stamped(g_kept_size);
  g_handled.fetch_add(1, std::memory_order_release);
  errno = saved;
}

// Blocks SIGUSR1 except inside sigsuspend(); allocates between the waits.
void target(std::atomic<bool>* ready, bool allocates_itself) {
  sigset_t block, waiting;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &waiting);
  sigdelset(&waiting, SIGUSR1);
  ready->store(true);
  Rng rng(3);
  int seen = 0;
  while (seen < kSignals) {
    if (allocates_itself) {  // the thread's own allocator traffic, signal blocked
      size_t n = rng.size() % 4096 + 1;
      void* p = alloc_stamped(n);
      free_verified(p, n);
    }
    sigsuspend(&waiting);  // the only place SIGUSR1 is delivered
    seen = g_handled.load(std::memory_order_acquire);
  }
  if (g_kept) free_verified(g_kept, g_kept_size);
  g_kept = nullptr;
}

void run(bool allocates_itself) {
  g_handled = 0;
  std::atomic<bool> ready{false};
  std::thread t(target, &ready, allocates_itself);
  while (!ready.load()) std::this_thread::yield();
  pthread_t h = t.native_handle();
  for (int i = 0; i < kSignals; i++) {
    int before = g_handled.load(std::memory_order_acquire);
    pthread_kill(h, SIGUSR1);
    while (g_handled.load(std::memory_order_acquire) == before) std::this_thread::yield();
  }
  t.join();
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog(55);
  struct sigaction sa = {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  run(false);  // the thread's first allocations happen inside the handler
  run(true);
  printf("signal_alloc: PASS: %d handler calls that malloc/realloc/free\n", 2 * kSignals);
  return 0;
}
