#include "policy/purger.h"

#include <sys/single_threaded.h>

#include "base/spin_lock.h"
#include "config/options.h"
#include "os/os.h"
#include "policy/retention.h"
#include "tiny/collect.h"
#include "tiny/heap.h"

namespace hakmem {

std::atomic<PurgerState> g_purger_state{PurgerState::kNotStarted};

namespace {

SpinLock g_round_lock;
std::atomic<bool> g_stopped{false};
std::atomic<uint64_t> g_rounds{0};
// The futex word the purger sleeps on when nothing is left to age, and whether it does:
// a kick that sees `g_waiting` sets the word and wakes it.
std::atomic<uint32_t> g_wake{0};
std::atomic<bool> g_waiting{false};
// The longest sleep with nothing to do (a kick lost to a fork in the middle of one costs
// this much delay, not forever).
constexpr uint32_t kLongSleepMs = 10000;
// The main thread ended with pthread_exit. A process lives while any thread does, so
// the purger must not be the one that keeps it: from then on it ends as soon as it is
// the only thread left, looking at least this often (threads that never allocated tell
// it nothing when they exit; the others kick it).
std::atomic<bool> g_main_gone{false};
constexpr uint32_t kMainGoneSleepMs = 100;

uint32_t sleep_ms(uint32_t ms) {
  return g_main_gone.load(std::memory_order_relaxed) && (ms == 0 || ms > kMainGoneSleepMs) ? kMainGoneSleepMs : ms;
}

const uint32_t* futex_word() { return reinterpret_cast<const uint32_t*>(&g_wake); }

uint32_t round_period_ms() {
  // Half the purge delay: a block freed just after a round is purged at most 1.5 delays
  // after its free. Bounded both ways: not a busy loop with HAKMEM_PURGE_DELAY_MS=0,
  // not hours of sleep with a huge delay.
  uint32_t half = g_options.purge_delay_ms / 2;
  return half < 10 ? 10 : half > 1000 ? 1000 : half;
}

// Free memory whose pages only age can give back: pooled slabs and cached large blocks.
bool anything_to_age(std::memory_order order = std::memory_order_relaxed) {
  return retained_bytes(Retained::kPool, order) + retained_bytes(Retained::kLargeCache, order) > 0;
}

void one_round() {
  ThreadHeap* h = heap_get();  // to claim orphaned slabs with, as any thread's tick does
  if (!h) return;
  LockGuard round(g_round_lock);
  if (g_stopped.load(std::memory_order_relaxed)) return;
  HeapSlowScope scope(h);
  collect_tick(h, os::now_ms(), false);
  g_rounds.fetch_add(1, std::memory_order_relaxed);
}

void* purger_main(void*) {
  uint32_t idle_sleep_ms = 0;
  for (;;) {
    if (g_main_gone.load(std::memory_order_relaxed) && os::only_thread_left()) {
      // Returning makes this the process's last thread to end: glibc then calls exit(0),
      // as it would have in the program's last thread.
      g_purger_state.store(PurgerState::kOff, std::memory_order_relaxed);
      return nullptr;
    }
    if (g_stopped.load(std::memory_order_relaxed)) {
      os::wait_on(futex_word(), g_wake.load(std::memory_order_relaxed), 0);
      continue;
    }
    uint64_t before = retained_total();
    one_round();
    if (anything_to_age() || retained_total() < before) {
      idle_sleep_ms = 0;
      os::wait_on(futex_word(), g_wake.load(std::memory_order_relaxed), sleep_ms(round_period_ms()));
      continue;
    }
    // Nothing that ageing gives back. What may remain sits in thread heaps: kept-empty
    // slabs only their owners release, and blocks in the remote queues of slabs whose
    // owners are busy (reclaimed once the owner has been idle a while, so look again,
    // less and less often). Sleep until a kick says free memory appeared.
    idle_sleep_ms = idle_sleep_ms ? idle_sleep_ms * 2 : round_period_ms();
    if (idle_sleep_ms > kLongSleepMs) idle_sleep_ms = kLongSleepMs;
    g_wake.store(0, std::memory_order_relaxed);
    // Pairs with purger_kick, all seq_cst (no fence, which ThreadSanitizer cannot
    // model): either its load of g_waiting sees true, or these loads see the retained
    // bytes it added before.
    g_waiting.store(true, std::memory_order_seq_cst);
    constexpr auto kSeqCst = std::memory_order_seq_cst;
    if (!anything_to_age(kSeqCst) && retained_total(kSeqCst) <= before)
      os::wait_on(futex_word(), 0, sleep_ms(idle_sleep_ms));
    g_waiting.store(false, std::memory_order_relaxed);
  }
  return nullptr;
}

}  // namespace

void purger_start_slow() {
  PurgerState expected = PurgerState::kNotStarted;
  if (!g_options.purge_thread || g_stopped.load(std::memory_order_relaxed)) {
    g_purger_state.compare_exchange_strong(expected, PurgerState::kOff, std::memory_order_relaxed);
    return;
  }
  // Not in a process glibc still runs single-threaded (unless asked with 2): a thread of
  // ours would turn that off for good (stdio locking, shared_ptr's atomic counts) and
  // make fork() from a signal handler that interrupted malloc wait for our locks, where
  // now it takes none (glibc's tst-mallocfork2). Polled again on later ticks, so the
  // purger starts once the program has started a thread of its own.
  if (g_options.purge_thread == 1 && __libc_single_threaded) return;
  if (live_bytes() + retained_total() <= uint64_t(g_options.retain_mb) << 20) return;
  if (!g_purger_state.compare_exchange_strong(expected, PurgerState::kStarting, std::memory_order_acq_rel)) return;
  // A failure (RLIMIT_NPROC, a sandbox without clone) is final: memory is then given
  // back on allocator activity only, as with HAKMEM_PURGE_THREAD=0.
  bool ok = os::start_thread(purger_main, nullptr, "hakmem-purge");
  g_purger_state.store(ok ? PurgerState::kRunning : PurgerState::kOff, std::memory_order_release);
}

void purger_kick() {
  if (g_purger_state.load(std::memory_order_relaxed) != PurgerState::kRunning) return;
  // The caller's seq_cst add to the retained bytes comes before this seq_cst load (a
  // plain load on x86: no fence on the free path).
  if (!g_waiting.load(std::memory_order_seq_cst) || !g_waiting.exchange(false, std::memory_order_relaxed)) return;
  g_wake.store(1, std::memory_order_relaxed);
  os::wake_all(futex_word());
}

void purger_thread_exited(bool main_thread) {
  if (main_thread) g_main_gone.store(true, std::memory_order_relaxed);
  if (!g_main_gone.load(std::memory_order_relaxed) || g_purger_state.load(std::memory_order_relaxed) != PurgerState::kRunning)
    return;
  g_wake.store(1, std::memory_order_relaxed);
  os::wake_all(futex_word());
}

void purger_stop() {
  g_stopped.store(true, std::memory_order_relaxed);
  // Waits for a round in progress: after this returns none runs while the process exits.
  LockGuard round(g_round_lock);
}

uint64_t purger_rounds() { return g_rounds.load(std::memory_order_relaxed); }

void purger_lock() { g_round_lock.lock(); }
void purger_unlock() { g_round_lock.unlock(); }
void purger_reset_in_child() {
  g_round_lock.reset();
  g_waiting.store(false, std::memory_order_relaxed);
  g_wake.store(0, std::memory_order_relaxed);
  g_main_gone.store(false, std::memory_order_relaxed);  // the forking thread leads the child
  // The purger thread does not exist here; the child starts its own when it needs one.
  PurgerState s = g_purger_state.load(std::memory_order_relaxed);
  if (s == PurgerState::kRunning || s == PurgerState::kStarting)
    g_purger_state.store(PurgerState::kNotStarted, std::memory_order_relaxed);
}

}  // namespace hakmem
