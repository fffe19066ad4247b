// A small test-and-test-and-set lock for slow paths. It never allocates (unlike
// some mutex implementations' first use) and a fork child can reset it.
#pragma once
#include <atomic>

#include "os/os.h"

namespace hakmem {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The back-off of every spin in the allocator: a few pauses, then give the CPU away (the
// holder may be descheduled on a machine with fewer cores than threads).
inline void spin_wait(unsigned spins) {
  if (spins < 64) cpu_relax();
  else os::yield_cpu();
}

class SpinLock {
 public:
  void lock() {
    for (unsigned spins = 0; !try_lock(); spins++) spin_wait(spins);
  }
  bool try_lock() { return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() { locked_.store(false, std::memory_order_release); }
  // Only for a fork child, where the thread that held it no longer exists.
  void reset() { locked_.store(false, std::memory_order_relaxed); }

 private:
  std::atomic<bool> locked_{false};
};

class LockGuard {
 public:
  explicit LockGuard(SpinLock& l) : l_(l) { l_.lock(); }
  ~LockGuard() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace hakmem
