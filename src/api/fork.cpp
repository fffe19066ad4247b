// fork(): every lock an allocator path can hold, in one list, taken across fork() so
// that the child never inherits a lock held by a thread that does not exist there.
//
// Order matters twice over:
//  - Among our locks, outermost first: a thread that holds one of them only ever waits
//    for locks further down the list, so taking them in list order cannot deadlock
//    with it.
//  - Against stdio: glibc's fork takes the stdio list lock after the prepare handlers
//    run, so a thread inside fflush(NULL) holding that lock, waiting for a FILE that a
//    thread inside getline holds while it waits in realloc for a lock we took, would
//    deadlock us (glibc's own malloc hit this: its bug 19431). We take the stdio list
//    lock first, as glibc's malloc does; it is recursive, so glibc's own take in fork
//    succeeds.
// A single-threaded process takes nothing, as glibc does: no other thread can hold a
// lock, and a signal handler that forks while this thread is inside fork() must not
// spin on a lock its own interrupted frame holds. The same goes for a nested fork on a
// thread that already holds the locks.
#include "api/fork.h"

#include <sys/single_threaded.h>

#include "diag/profile.h"
#include "diag/stats.h"
#include "large/large.h"
#include "policy/purger.h"
#include "policy/retention.h"
#include "tiny/heap.h"
#include "tiny/ownership.h"
#include "tiny/superslab.h"

extern "C" {
// Exported by glibc since 2.2.5; weak so another C library still links.
void _IO_list_lock() __attribute__((weak));
void _IO_list_unlock() __attribute__((weak));
void _IO_list_resetlock() __attribute__((weak));
}

namespace hakmem {

namespace {

struct ForkLock {
  void (*lock)();
  void (*unlock)();
  void (*reset_in_child)();
};

// Outermost first. Who nests in whom:
//   background purger round -> its heap's slow lock, then what a housekeeping tick takes
//   stats report/mallinfo -> absorbed counters, slab pools
//   shared heap -> reclaim, heap registry, orphan lists, slab pools, large cache (its slow paths)
//   reclaim -> orphan lists, slab pools, large cache (a reclaimer only tries it)
//   orphan lists, slab pools, large cache: leaves (nothing is taken while holding one)
//   heap profiler: a leaf, taken on its own (sampled allocations and frees, dumps)
constexpr ForkLock kForkLocks[] = {
    {purger_lock, purger_unlock, purger_reset_in_child},
    {stats_lock_all, stats_unlock_all, stats_reset_locks_in_child},
    {heap_shared_lock, heap_shared_unlock, heap_shared_reset_in_child},
    {heap_reclaim_lock, heap_reclaim_unlock, heap_reclaim_reset_in_child},
    {heap_registry_lock, heap_registry_unlock, heap_registry_reset_in_child},
    {orphan_lock_all, orphan_unlock_all, orphan_reset_locks_in_child},
    {pool_lock_all, pool_unlock_all, pool_reset_locks_in_child},
    {large_lock, large_unlock, large_reset_lock_in_child},
    {profile_lock, profile_unlock, profile_reset_in_child},
};

// One bit per nested fork() on this thread (a signal handler may fork inside fork):
// set when that level took the locks.
__thread uint32_t t_fork_held __attribute__((tls_model("initial-exec"))) = 0;

bool took_locks_at_this_level() { return t_fork_held & 1u; }

void pop_level() { t_fork_held >>= 1; }

}  // namespace

void fork_prepare() {
  bool already_held = t_fork_held != 0;
  bool take = !__libc_single_threaded && !already_held;
  t_fork_held = (t_fork_held << 1) | (take ? 1u : 0u);
  if (!take) return;
  if (_IO_list_lock) _IO_list_lock();
  for (const ForkLock& l : kForkLocks) l.lock();
}

void fork_parent() {
  if (took_locks_at_this_level()) {
    for (size_t i = sizeof(kForkLocks) / sizeof(kForkLocks[0]); i-- > 0;) kForkLocks[i].unlock();
    if (_IO_list_unlock) _IO_list_unlock();
  }
  pop_level();
}

void fork_child() {
  bool took = took_locks_at_this_level();
  pop_level();
  // The child has one thread: every lock is free again, whoever held it (our
  // prepare, or a thread that does not exist here).
  t_fork_held = 0;
  for (const ForkLock& l : kForkLocks) l.reset_in_child();
  if (took && _IO_list_resetlock) _IO_list_resetlock();  // glibc reset it already; idempotent
  retention_reset_in_child();
  heap_pid_reset_in_child();
  // Without our locks (single-threaded parent) no other thread existed either.
  if (took) heap_abandon_others_in_child();
}

}  // namespace hakmem
