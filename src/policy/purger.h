// The background purger: one thread that gives free memory back by age while the
// program makes no allocator call (idle after a spike, sleeping between requests).
//
// Without it, purging by age happens on allocator activity only (housekeeping ticks of
// the threads that allocate), so an idle program keeps what the retention budget allows
// until its next call. The purger runs the same housekeeping round every half purge
// delay while there is free memory to age, and sleeps until woken otherwise.
//
// Started lazily, from an allocation's slow path holding no lock, the first time
// hakmem's heap (live plus retained free bytes) exceeds the budget's floor
// (HAKMEM_RETAIN_MB) in a process that already runs threads of its own: a program that
// stays below the floor, or single-threaded, never gets it (HAKMEM_PURGE_THREAD=2 starts
// it in single-threaded processes too, =0 never). A fork child starts without it and
// gets its own when it needs one.
#pragma once
#include <atomic>
#include <cstdint>

namespace hakmem {

enum class PurgerState : uint32_t { kNotStarted, kStarting, kRunning, kOff };
extern std::atomic<PurgerState> g_purger_state;

void purger_start_slow();
// Starts the purger when it is wanted. Call only where no allocator lock is held and the
// thread is a normal one (not exiting): pthread_create allocates.
inline void purger_poll() {
  if (g_purger_state.load(std::memory_order_relaxed) == PurgerState::kNotStarted) purger_start_slow();
}
// Free memory appeared: wake the purger if it sleeps with nothing to do. Cheap and lock-
// free; safe under any allocator lock.
void purger_kick();
// A thread with a heap or nursery record is exiting (its exit hook); main_thread: the
// process's first thread, which only gets here through pthread_exit. From then on the
// purger ends once it is the last thread, so that it never keeps the process alive.
void purger_thread_exited(bool main_thread);
// The process is exiting (our destructor): no more rounds, no new thread.
void purger_stop();
// Rounds made so far (stats).
uint64_t purger_rounds();

// A round holds this lock from start to end. fork() takes it first, so the child never
// inherits a round half done; hak_collect takes it so that no round holds memory out
// of its reach.
void purger_lock();
void purger_unlock();
void purger_reset_in_child();

}  // namespace hakmem
