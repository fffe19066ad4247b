#include "policy/retention.h"

#include <atomic>

#include "config/options.h"
#include "large/large.h"
#include "policy/purger.h"
#include "tiny/superslab.h"

namespace hakmem {

namespace {

std::atomic<int64_t> g_retained[int(Retained::kCount)];
std::atomic<int64_t> g_live_slab{0}, g_live_large{0};
std::atomic<bool> g_enforcing{false};

uint64_t nonneg(int64_t v) { return v > 0 ? uint64_t(v) : 0; }

}  // namespace

void retained_add(Retained where, int64_t bytes) {
  // Memory the purger can do something about wakes it if it sleeps (kept-empty slabs
  // are their owner's to release). seq_cst: see purger_kick.
  if (bytes > 0 && where != Retained::kKeptEmpty) {
    g_retained[int(where)].fetch_add(bytes, std::memory_order_seq_cst);
    purger_kick();
    return;
  }
  g_retained[int(where)].fetch_add(bytes, std::memory_order_relaxed);
}

uint64_t retained_bytes(Retained where, std::memory_order order) { return nonneg(g_retained[int(where)].load(order)); }

int64_t retained_raw(Retained where) { return g_retained[int(where)].load(std::memory_order_relaxed); }

uint64_t retained_total(std::memory_order order) {
  int64_t sum = 0;
  for (auto& r : g_retained) sum += r.load(order);
  return nonneg(sum);
}

void live_slab_bytes_add(int64_t bytes) { g_live_slab.fetch_add(bytes, std::memory_order_relaxed); }
void live_large_bytes_add(int64_t bytes) { g_live_large.fetch_add(bytes, std::memory_order_relaxed); }
uint64_t live_bytes() {
  return nonneg(g_live_slab.load(std::memory_order_relaxed) + g_live_large.load(std::memory_order_relaxed));
}

uint64_t retention_budget() {
  uint64_t floor = uint64_t(g_options.retain_mb) << 20;
  // A quarter of the live slab bytes, and as much as the live large bytes. Small blocks
  // are reused in place (a pooled slab serves any class), so little free memory covers
  // their churn. Big blocks are not: a 20 MiB buffer freed and an 18 MiB one allocated
  // next leave a 2 MiB remainder, remainders add up to a sizeable share of the live big-
  // block heap before they merge again, and purging them means the next block faults its
  // megabytes back in. Measured on bench/big_churn (20 live buffers of 5..25 MiB, zero-
  // filled, 1200 replacements; 4 KiB pages): with a quarter of the large bytes hakmem
  // purged 1.2 GB during the run, with three quarters 150 MB (145K page faults, 0.77..
  // 0.83 s), with all of them nothing until the final frees (117K faults, 0.71..0.77 s,
  // tcmalloc 0.70..0.79, peak 1.05x glibc's). What this keeps is bounded by the program's
  // own live big blocks, and gone as soon as it frees them all.
  uint64_t slab = nonneg(g_live_slab.load(std::memory_order_relaxed));
  uint64_t large = nonneg(g_live_large.load(std::memory_order_relaxed));
  uint64_t share = slab / 4 + large;
  return share > floor ? share : floor;
}

uint64_t retention_slab_budget() {
  uint64_t floor = uint64_t(g_options.retain_mb) << 20;
  uint64_t share = nonneg(g_live_slab.load(std::memory_order_relaxed)) / 4;
  return share > floor ? share : floor;
}

namespace {

struct RetainedNow {
  uint64_t total, slab;  // slab: everything but the large cache (pooled, kept empty, pending)
};

RetainedNow retained_now() {
  int64_t sum = 0;
  for (auto& r : g_retained) sum += r.load(std::memory_order_relaxed);
  int64_t large = g_retained[int(Retained::kLargeCache)].load(std::memory_order_relaxed);
  return {nonneg(sum), nonneg(sum - large)};
}

bool over_budget(const RetainedNow& r) { return r.total > retention_budget() || r.slab > retention_slab_budget(); }

}  // namespace

bool retention_owner_share_exceeded(uint64_t extra) {
  uint64_t held = retained_bytes(Retained::kKeptEmpty) + retained_bytes(Retained::kRemotePending);
  uint64_t share = (uint64_t(g_options.retain_mb) << 20) / 2;
  return held + extra > share;
}

void retention_enforce() {
  if (!over_budget(retained_now())) return;
  // One enforcer at a time: a second thread that finds the budget exceeded while the
  // first is giving memory back has nothing to add but lock contention.
  if (g_enforcing.exchange(true, std::memory_order_acquire)) return;
  for (int round = 0; round < 4; round++) {
    RetainedNow r = retained_now();
    if (!over_budget(r)) break;
    // Free slab memory is held to its own part of the budget: the large part is there
    // for warm reuse of big blocks, and a program with a big live array must not keep
    // that much of freed small blocks (a 150 MiB table made the pool keep 110 MiB of
    // slabs freed in random order). Pooled slabs go first and down to half their part:
    // a program that keeps freeing small blocks then pays one round of system calls
    // per half budget, not one per slab. Cached large blocks go next and only down to
    // the budget: warm reuse of big blocks is worth more than the calls saved (each
    // purge of them is a refault of megabytes later).
    uint64_t got = 0, slab_budget = retention_slab_budget();
    if (r.slab > slab_budget) got += pool_purge_bytes(r.slab - slab_budget / 2);
    uint64_t total = retained_total(), budget = retention_budget();
    if (total > budget) got += large_purge_bytes(total - budget);
    if (got == 0) break;  // what is left sits in thread heaps; their owners keep it bounded
  }
  g_enforcing.store(false, std::memory_order_release);
}

void retention_reset_in_child() { g_enforcing.store(false, std::memory_order_relaxed); }

}  // namespace hakmem
