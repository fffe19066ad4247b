// Debug ring: the last allocator events of each thread, dumped with async-signal-safe
// writes when the process dies (SIGSEGV, SIGBUS, SIGABRT) or a guard check fails, so a
// crash report says what the allocator was doing. Events come from slow paths only.
#pragma once
#include <cstdint>

#include "config/options.h"

namespace hakmem {

enum class RingEvent : uint8_t {
  kAllocSlow, kRefill, kClaim, kDrain, kAdopt, kRemotePush, kRelease, kMailbox,
  kOsMap, kOsUnmap, kThreadExit, kGuardFail,
};

struct RingEntry {
  uint64_t seq;
  const void* ptr;
  uint64_t arg;
  RingEvent event;
};

struct DebugRing {
  static constexpr uint32_t kSize = 128;
  uint64_t seq;
  RingEntry entries[kSize];
};

void debug_ring_record_slow(RingEvent ev, const void* p, uint64_t arg);

inline void debug_ring_record(RingEvent ev, const void* p, uint64_t arg) {
  if (__builtin_expect(g_options.debug_ring, 0)) debug_ring_record_slow(ev, p, arg);
}

// Dumps every thread's ring once per process (later calls do nothing).
void debug_ring_dump_all(int fd);
// SIGSEGV, SIGBUS, SIGABRT handlers that dump, then take the default action.
void debug_ring_install_handlers();

}  // namespace hakmem
