// Per-thread, per-class event counters. Written by the owning thread with relaxed
// atomics (plain stores on x86), summed by hak_stats_get from any thread.
#pragma once
#include <atomic>
#include <cstdint>

#include "tiny/size_class.h"

namespace hakmem {

enum RefillPath : uint8_t { kRefillOwnRemote, kRefillSticky, kRefillMailbox, kRefillAdopt, kRefillGate, kRefillFresh, kNumRefillPaths };

struct ClassCounters {
  std::atomic<uint64_t> remote_frees{0};  // blocks drained from remote queues
  std::atomic<uint64_t> drains{0};
  std::atomic<uint64_t> adopts{0};
  std::atomic<uint64_t> refills[kNumRefillPaths]{};
};

inline void counter_add(std::atomic<uint64_t>& c, uint64_t n) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct HeapStats {
  ClassCounters cls[kNumClasses];
};

// Counters of exited threads are folded in here.
void stats_absorb(const HeapStats& s);
// Start-up: what the exit report needs early (a descriptor for it).
void stats_prepare();
// Prints or writes the exit report that HAKMEM_STATS asks for.
void stats_at_exit();
// Byte totals for mallinfo/mallinfo2 (one consistent snapshot; callers may race).
struct StatsTotals {
  uint64_t mapped, in_use, free, large;
};
StatsTotals stats_totals();
// Fork: the report lock (printing, JSON, mallinfo), then the absorbed counters' lock.
void stats_lock_all();
void stats_unlock_all();
void stats_reset_locks_in_child();

}  // namespace hakmem
