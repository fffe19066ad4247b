// TLS destructors that allocate, in every destructor round, after hakmem has torn the
// thread's heap down. 20,000 threads, 16 at a time, each doing little: set two
// pthread keys and exit. Both keys are created after hakmem's own (at load time), so in
// each destructor round their destructors run after hakmem's teardown:
//  - g_key_once: its destructor allocates and frees a few blocks (first round only);
//  - g_key_rearm: its destructor sets its key again, so it runs in all
//    PTHREAD_DESTRUCTOR_ITERATIONS rounds -- the last one after hakmem's last chance to
//    tear down whatever the earlier rounds set up. Each round allocates blocks in a dozen
//    classes (rotating over all of them, 16 B .. 128 KiB, and a large block), frees most,
//    and hands a few to the main thread, which frees them between batches.
// Pass: resident memory grows by at most 16 MiB from after a warm-up batch to the end,
// and hakmem's live-thread count comes back to where it started. The test stops early
// (and fails) as soon as either is clearly off, so a leaking allocator does not run the
// machine out of memory. About 10-20 s when it passes (2 busy cores).
#include <pthread.h>

#include <atomic>
#include <mutex>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kThreads = 20000;
constexpr int kBatch = 16;
constexpr int kWarmup = 512;  // threads before the baseline is taken
constexpr uint64_t kMaxGrowth = 16ull << 20;
constexpr uint64_t kGiveUpGrowth = 96ull << 20;  // stop early: clearly leaking
constexpr size_t kHandoff = 1024;
constexpr int kPerRound = 12;

struct Block {
  void* p;
  size_t n;
};

pthread_key_t g_key_once, g_key_rearm;
size_t g_sizes[HAK_STATS_MAX_CLASSES];
size_t g_num_sizes = 0;
std::atomic<uint64_t> g_rounds{0};
std::atomic<uint64_t> g_max_round{0};

std::mutex g_mu;
Block g_handoff[kHandoff];
size_t g_handoff_count = 0;

void give(Block b) {
  {
    std::lock_guard<std::mutex> g(g_mu);
    if (g_handoff_count < kHandoff) {
      g_handoff[g_handoff_count++] = b;
      return;
    }
  }
  free_verified(b.p, b.n);
}

void free_handoff() {
  std::lock_guard<std::mutex> g(g_mu);
  for (size_t i = 0; i < g_handoff_count; i++) free_verified(g_handoff[i].p, g_handoff[i].n);
  g_handoff_count = 0;
}

struct PerThread {
  uint64_t seed;
  int round;
};

// A dozen classes, starting somewhere that depends on the thread and the round, so the
// threads together cover every class; plus one large block now and then.
void alloc_round(PerThread* t) {
  Block b[kPerRound + 1];
  size_t start = size_t(t->seed * 7 + uint64_t(t->round) * 13) % g_num_sizes;
  size_t stride = g_num_sizes / kPerRound;
  int n = 0;
  for (int i = 0; i < kPerRound; i++) {
    size_t sz = g_sizes[(start + size_t(i) * stride) % g_num_sizes];
    b[n++] = Block{alloc_stamped(sz), sz};
  }
  if ((t->seed + uint64_t(t->round)) % 8 == 0) b[n++] = Block{alloc_stamped(300 * 1024), 300 * 1024};
  for (int i = 0; i < n; i++) {
    if (i % 5 == 1) give(b[i]);  // another thread frees it
    else free_verified(b[i].p, b[i].n);
  }
}

void once_destructor(void* v) {
  void* a = alloc_stamped(40);
  void* c = alloc_stamped(3000);
  free_verified(a, 40);
  free_verified(c, 3000);
  free(v);
}

void rearm_destructor(void* v) {
  auto* t = static_cast<PerThread*>(v);
  t->round++;
  alloc_round(t);
  g_rounds.fetch_add(1, std::memory_order_relaxed);
  uint64_t r = uint64_t(t->round), m = g_max_round.load(std::memory_order_relaxed);
  while (r > m && !g_max_round.compare_exchange_weak(m, r)) {}
  if (t->round < PTHREAD_DESTRUCTOR_ITERATIONS) {
    pthread_setspecific(g_key_rearm, t);  // run again in the next round
  } else {
    free(t);
  }
}

void* thread_body(void* arg) {
  auto seed = uint64_t(reinterpret_cast<uintptr_t>(arg));
  void* p = alloc_stamped(64);  // the thread's own heap, before any destructor
  free_verified(p, 64);
  pthread_setspecific(g_key_once, alloc_stamped(24));
  auto* t = static_cast<PerThread*>(malloc(sizeof(PerThread)));
  if (!t) die("malloc");
  *t = PerThread{seed, 0};
  pthread_setspecific(g_key_rearm, t);
  return nullptr;
}

void run_batch(int first, int count) {
  pthread_t th[kBatch];
  for (int i = 0; i < count; i++) {
    int rc = pthread_create(&th[i], nullptr, thread_body, reinterpret_cast<void*>(uintptr_t(first + i)));
    if (rc != 0) {
      fprintf(stderr, "hostile FAILURE: tls_destructor_churn: pthread_create: %s\n", strerror(rc));
      exit(1);
    }
  }
  for (int i = 0; i < count; i++) pthread_join(th[i], nullptr);
  free_handoff();
}

// The live-thread count right after a join may still include a thread that is in the
// last steps of its exit: give it a moment.
uint64_t settled_threads_live(uint64_t want) {
  uint64_t live = threads_live();
  for (int i = 0; i < 100 && live != want; i++) {
    usleep(10000);
    live = threads_live();
  }
  return live;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog_report(55, "tls_destructor_churn");
  g_num_sizes = class_sizes(g_sizes, HAK_STATS_MAX_CLASSES);
  // Created after hakmem's key (hakmem creates its own while the library loads).
  if (pthread_key_create(&g_key_once, once_destructor) || pthread_key_create(&g_key_rearm, rearm_destructor))
    die("pthread_key_create");
  uint64_t t0 = now_ms();
  uint64_t live0 = threads_live();
  const uint64_t purger0 = purger_rounds();

  int started = 0;
  while (started < kWarmup) {
    run_batch(started, kBatch);
    started += kBatch;
  }
  uint64_t rss0 = rss_bytes();
  uint64_t rss_max = rss0;
  bool gave_up = false;
  while (started < kThreads) {
    int n = kThreads - started < kBatch ? kThreads - started : kBatch;
    run_batch(started, n);
    started += n;
    if ((started / kBatch) % 16 == 0) {
      uint64_t rss = rss_bytes();
      if (rss > rss_max) rss_max = rss;
      uint64_t live = threads_live();
      if (rss > rss0 + kGiveUpGrowth || live > live0 + 64) {
        fprintf(stderr,
                "tls_destructor_churn: stopping early after %d threads: rss %+lld KiB since warm-up, "
                "%llu heaps live (started with %llu)\n",
                started, (long long)(rss - rss0) / 1024, (unsigned long long)live, (unsigned long long)live0);
        gave_up = true;
        break;
      }
    }
  }
  uint64_t rss1 = rss_bytes();
  // The background purger may have started meanwhile (the churn's mappings pass the
  // retention floor): its thread stays, and is not a heap a destructor re-created.
  if (purger_rounds() > purger0) live0++;
  uint64_t live1 = settled_threads_live(live0);
  double secs = double(now_ms() - t0) / 1000;
  long long growth = (long long)rss1 - (long long)rss0;
  printf("tls_destructor_churn (%s): %d threads in %.1f s, %llu destructor rounds (max round %llu); "
         "rss %llu KiB after warm-up, %llu KiB at the end (%+lld KiB); threads live %llu -> %llu\n",
         allocator_name(), started, secs, (unsigned long long)g_rounds.load(), (unsigned long long)g_max_round.load(),
         (unsigned long long)rss0 / 1024, (unsigned long long)rss1 / 1024, growth / 1024,
         (unsigned long long)live0, (unsigned long long)live1);
  bool ok = true;
  if (g_max_round.load() != PTHREAD_DESTRUCTOR_ITERATIONS) {
    fprintf(stderr, "hostile FAILURE: tls_destructor_churn: the re-arming destructor ran %llu rounds, not %d\n",
            (unsigned long long)g_max_round.load(), PTHREAD_DESTRUCTOR_ITERATIONS);
    ok = false;
  }
  if (gave_up || growth > (long long)kMaxGrowth) {
    fprintf(stderr,
            "hostile FAILURE: tls_destructor_churn: resident memory grew by %lld KiB over %d threads (bound %llu KiB): "
            "memory allocated by TLS destructors after the heap's teardown is never given back\n",
            growth / 1024, started - kWarmup, (unsigned long long)(kMaxGrowth >> 10));
    ok = false;
  }
  if (live1 != live0) {
    fprintf(stderr,
            "hostile FAILURE: tls_destructor_churn: %llu heaps live after every thread was joined (%llu before): "
            "a heap re-created by a TLS destructor is never torn down\n",
            (unsigned long long)live1, (unsigned long long)live0);
    ok = false;
  }
  if (!ok) return 1;
  printf("tls_destructor_churn: PASS\n");
  return 0;
}
