// Process start-up: options, thread-exit hook, fork handlers, exit report.
#pragma once
#include <atomic>

namespace hakmem {

extern std::atomic<int> g_init_state;  // 0 none, 1 running, 2 done
void init_slow();

inline void ensure_init() {
  if (__builtin_expect(g_init_state.load(std::memory_order_acquire) != 2, 0)) init_slow();
}

}  // namespace hakmem
