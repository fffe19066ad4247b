// Every HAKMEM_* environment variable, parsed once at start-up without allocating.
// The README documents each one; add a variable here only when a user needs it.
#pragma once
#include <cstdint>

namespace hakmem {

enum class StatsMode : uint8_t { kOff, kText, kJson };

struct Options {
  bool adopt = true;              // HAKMEM_TINY_SS_ADOPT
  uint32_t fast_cap = 64;         // HAKMEM_TINY_FAST_CAP (blocks per class; 0 = off)
  bool guard = false;             // HAKMEM_GUARD
  bool debug_ring = false;        // HAKMEM_DEBUG_RING (guard turns it on)
  StatsMode stats = StatsMode::kOff;  // HAKMEM_STATS = 0 | 1 | json:PATH
  char stats_path[256] = {};
  bool verbose = false;           // HAKMEM_VERBOSE
  uint32_t purge_delay_ms = 0;    // HAKMEM_PURGE_DELAY_MS (set in options.cpp)
  uint32_t retain_mb = 32;        // HAKMEM_RETAIN_MB: floor of the retention budget
  uint32_t purge_thread = 1;      // HAKMEM_PURGE_THREAD: background purger, 0 | 1 | 2 (policy/purger.h)
  bool large_thp = false;         // HAKMEM_LARGE_THP: ask for transparent huge pages for big blocks
  char profile_path[256] = {};    // HAKMEM_PROFILE: heap profile written here at exit ("" = off)
  uint64_t profile_rate = 512 * 1024;  // HAKMEM_PROFILE_RATE: mean bytes between samples
  int profile_signal = 0;         // HAKMEM_PROFILE_SIGNAL: dump the profile on this signal
};

extern Options g_options;

// Reads the environment into g_options; warns once per malformed variable.
void options_init();

}  // namespace hakmem
