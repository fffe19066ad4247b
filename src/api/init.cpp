#include "api/init.h"

#include "api/fork.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "base/no_cancel.h"
#include "config/options.h"
#include "diag/debug_ring.h"
#include "diag/profile.h"
#include "diag/report.h"
#include "diag/stats.h"
#include "hakmem/hakmem.h"
#include "large/large.h"
#include "os/os.h"
#include "policy/purger.h"
#include "tiny/heap.h"
#include "tiny/ownership.h"
#include "tiny/superslab.h"

namespace hakmem {

std::atomic<int> g_init_state{0};

namespace {

__thread bool t_initialising __attribute__((tls_model("initial-exec"))) = false;

}  // namespace

void init_slow() {
  int expected = 0;
  if (!g_init_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    // Another thread is initialising (or we are, re-entered from below): wait, unless
    // it is us, in which case the options read so far are good enough.
    while (!t_initialising && g_init_state.load(std::memory_order_acquire) != 2) os::yield_cpu();
    return;
  }
  t_initialising = true;
  {
    // Other threads wait for state 2: a warning about a malformed option (write) must
    // not be where this thread gets cancelled.
    NoCancel no_cancel;
    options_init();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ownership_init(uint64_t(ts.tv_nsec) ^ (uint64_t(getpid()) << 32) ^ reinterpret_cast<uintptr_t>(&ts));
    heap_process_init();
    g_init_state.store(2, std::memory_order_release);
  }
  t_initialising = false;
  // These may allocate, which is fine now.
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  if (g_options.debug_ring) debug_ring_install_handlers();
  stats_prepare();
  if (g_options.verbose) {
    Line()
        .str("hakmem: " HAKMEM_VERSION_STRING " ready (guard=")
        .u64(g_options.guard)
        .str(" adopt=")
        .u64(g_options.adopt)
        .str(" fast_cap=")
        .u64(g_options.fast_cap)
        .str(" debug_ring=")
        .u64(g_options.debug_ring)
        .str(" purge_delay_ms=")
        .u64(g_options.purge_delay_ms)
        .str(")")
        .write();
  }
}

}  // namespace hakmem

// The profiler starts here rather than in init_slow: it dlopens its unwinder, which must
// not happen inside whatever allocation came first (possibly one the loader makes).
__attribute__((constructor)) static void hakmem_load() {
  hakmem::ensure_init();
  hakmem::profile_init();
}
__attribute__((destructor)) static void hakmem_unload() {
  hakmem::purger_stop();
  hakmem::profile_at_exit();
  hakmem::stats_at_exit();
}
