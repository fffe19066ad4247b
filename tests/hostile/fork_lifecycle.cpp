// fork() while threads are being born and torn down, and while another thread reads the
// statistics. A spawner thread keeps starting short-lived pairs of threads that each
// allocate a block in every size class (16 B .. 128 KiB) and a few large blocks, free
// some, hand some to other threads, free what others handed them, and exit; a stats
// thread loops over mallinfo2(), hak_stats_get, hak_stats_print and hak_stats_write_json
// (to /dev/null). The main thread forks at least kMinForks times (as many as fit in the
// time budget, up to kMaxForks). Each child frees blocks inherited from the parent
// (its own and a dead thread's), allocates and frees in several classes, sometimes
// starts a thread, reads the statistics itself, and exits (mostly _exit(0); every
// fourth with exit(0), so atexit handlers and hakmem's exit report run).
//
// The parent reaps the children with a deadline: a child that died of a signal is a
// crash, one that has not exited after kChildTimeoutMs is killed and counted as hung
// (with its /proc state: spinning or blocked). Pass: no crash, no hang, no failure.
// About 25 s on 2 busy cores when it passes (3000 forks; stops at 40 s with >= 2000).
//
// What it catches: a child whose parent had a thread inside heap_thread_exit at fork
// time (mailbox already closed, heap still marked live), and a child that inherits a
// statistics lock (absorbed counters, report/JSON locks) held by a parent thread.
#include <pthread.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kMinForks = 2000;
constexpr int kMaxForks = 3000;
constexpr uint64_t kBudgetMs = 40000;  // forking stops here (if kMinForks are done)
constexpr unsigned kChildTimeoutMs = 5000;
constexpr size_t kMaxOutstanding = 4;  // children alive at once
constexpr size_t kHandoff = 512;
constexpr uint64_t kEnoughFailures = 12;  // then the test stops forking and fails

struct Block {
  void* p;
  size_t n;
};

// Blocks handed from one thread to another. Never destroyed (a child that exit()s must
// not run a destructor over a table a parent thread was editing at fork time).
struct Handoff {
  std::mutex mu;
  Block blocks[kHandoff];
  size_t count = 0;
};
Handoff* const g_handoff = new Handoff;

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_threads_started{0}, g_stats_rounds{0};
size_t g_sizes[HAK_STATS_MAX_CLASSES];
size_t g_num_sizes = 0;
int g_devnull = -1;

void give(Block b) {
  std::unique_lock<std::mutex> g(g_handoff->mu);
  if (g_handoff->count < kHandoff) {
    g_handoff->blocks[g_handoff->count++] = b;
    return;
  }
  g.unlock();
  free_verified(b.p, b.n);
}

// Takes up to max blocks others handed over; try_lock in a fork child (the table may
// have been locked by a thread that does not exist there).
size_t take(Block* out, size_t max, bool try_only) {
  std::unique_lock<std::mutex> g(g_handoff->mu, std::defer_lock);
  if (try_only) {
    if (!g.try_lock()) return 0;
  } else {
    g.lock();
  }
  size_t n = 0;
  while (n < max && g_handoff->count) out[n++] = g_handoff->blocks[--g_handoff->count];
  return n;
}

// A short life: one block per class and two large ones; free half, hand a quarter on,
// keep the rest until the end; free what others handed over.
void short_life(uint64_t seed) {
  Rng rng(seed);
  Block mine[HAK_STATS_MAX_CLASSES + 2];
  size_t n = 0;
  for (size_t i = 0; i < g_num_sizes; i++) {
    size_t sz = g_sizes[i] - rng.below(g_sizes[i] / 4 + 1);
    mine[n++] = Block{alloc_stamped(sz), sz};
  }
  for (size_t sz : {size_t(192 * 1024), size_t(1200 * 1024)}) mine[n++] = Block{alloc_stamped(sz), sz};
  for (size_t i = 0; i < n; i++) {
    switch (rng.below(4)) {
      case 0: case 1: free_verified(mine[i].p, mine[i].n); mine[i].p = nullptr; break;
      case 2: give(mine[i]); mine[i].p = nullptr; break;
      default: break;
    }
  }
  Block got[32];
  size_t k = take(got, 32, false);
  for (size_t i = 0; i < k; i++) free_verified(got[i].p, got[i].n);
  for (size_t i = 0; i < n; i++)
    if (mine[i].p) free_verified(mine[i].p, mine[i].n);
}

void spawner() {
  uint64_t seed = 1;
  while (!g_stop.load(std::memory_order_relaxed)) {
    std::thread a(short_life, seed++), b(short_life, seed++);
    a.join();
    b.join();
    g_threads_started.fetch_add(2, std::memory_order_relaxed);
  }
}

void stats_reader() {
  static hak_stats st;  // only this thread uses it
  uint64_t round = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    struct mallinfo2 mi = mallinfo2();
    if (mi.arena == size_t(-1)) die("mallinfo2");
#ifndef HOSTILE_NO_HAKMEM
    hak_stats_get(&st);
#endif
    stats_print(g_devnull);
    if (round % 8 == 0) stats_json("/dev/null");
    round++;
    g_stats_rounds.fetch_add(1, std::memory_order_relaxed);
  }
}

void churn(uint64_t seed, int rounds) {
  Rng rng(seed);
  Block live[16] = {};
  for (int i = 0; i < rounds; i++) {
    Block& b = live[rng.below(16)];
    if (b.p) free_verified(b.p, b.n);
    b.n = g_sizes[rng.below(g_num_sizes)];
    b.p = alloc_stamped(b.n);
  }
  for (auto& b : live)
    if (b.p) free_verified(b.p, b.n);
}

[[noreturn]] void child(Block* inherited, size_t n_inherited, uint64_t seq) {
  for (size_t i = 0; i < n_inherited; i++) free_verified(inherited[i].p, inherited[i].n);
  Block got[8];
  size_t k = take(got, 8, true);  // blocks of threads that do not exist here
  for (size_t i = 0; i < k; i++) free_verified(got[i].p, got[i].n);
  churn(seq * 3 + 1, 200);
  if (seq % 8 == 0) {
    std::thread t(churn, seq * 3 + 2, 200);
    t.join();
  }
  struct mallinfo2 mi = mallinfo2();
  (void)mi;
  stats_print(g_devnull);
  stats_json("/dev/null");
  if (seq % 4 == 0) exit(0);
  _exit(0);
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog_report(kBudgetMs / 1000 + 18, "fork_lifecycle");
  g_num_sizes = class_sizes(g_sizes, HAK_STATS_MAX_CLASSES);
  g_devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (g_devnull < 0) die("open /dev/null");
  // HOSTILE_NO_STATS=1: no stats thread (to see the thread-exit defect alone: the stats
  // locks otherwise hang most children first).
  bool with_stats = getenv("HOSTILE_NO_STATS") == nullptr;
  std::thread spawn(spawner), reader(with_stats ? stats_reader : [] {});

  Reaper reaper("fork_lifecycle", kChildTimeoutMs);
  uint64_t t0 = now_ms();
  Rng rng(7);
  int forks = 0;
  uint64_t first_failure_ms = 0;
  fflush(stdout);
  fflush(stderr);
  while (forks < kMaxForks && (forks < kMinForks || now_ms() - t0 < kBudgetMs)) {
    // Blocks the child frees: some of ours, in several tiers.
    Block mine[4];
    for (auto& b : mine) {
      b.n = g_sizes[rng.below(g_num_sizes)];
      b.p = alloc_stamped(b.n);
    }
    reaper.wait_below(kMaxOutstanding);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) child(mine, 4, uint64_t(forks));
    reaper.add(pid);
    forks++;
    for (auto& b : mine) free_verified(b.p, b.n);
    if (!reaper.clean() && !first_failure_ms) first_failure_ms = now_ms() - t0;
    if (reaper.crashed + reaper.hung + reaper.bad_exit >= kEnoughFailures) break;  // proven: stop early
    if (now_ms() - t0 > kBudgetMs + 8000) break;  // far too slow a machine: stop, report
  }
  uint64_t fork_ms = now_ms() - t0;
  g_stop = true;
  spawn.join();
  reader.join();
  reaper.drain();
  Block rest[kHandoff];
  size_t k = take(rest, kHandoff, false);
  for (size_t i = 0; i < k; i++) free_verified(rest[i].p, rest[i].n);

  printf("fork_lifecycle (%s): %d forks in %.1f s, %llu short-lived threads, %llu stats rounds\n", allocator_name(),
         forks, double(fork_ms) / 1000, static_cast<unsigned long long>(g_threads_started.load()),
         static_cast<unsigned long long>(g_stats_rounds.load()));
  reaper.summary(stdout);
  if (!reaper.clean()) {
    fprintf(stderr,
            "hostile FAILURE: fork_lifecycle: %llu crashed, %llu hung, %llu failed of %d children "
            "(first seen %.1f s in)\n",
            static_cast<unsigned long long>(reaper.crashed), static_cast<unsigned long long>(reaper.hung),
            static_cast<unsigned long long>(reaper.bad_exit), forks, double(first_failure_ms) / 1000);
    return 1;
  }
  if (forks < kMinForks) {
    fprintf(stderr, "hostile FAILURE: fork_lifecycle: only %d forks in the time bound (want %d)\n", forks, kMinForks);
    return 1;
  }
  printf("fork_lifecycle: PASS\n");
  return 0;
}
