// Statistics: hak_stats_get, the exit report, the JSON file.
#include "diag/stats.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "base/no_cancel.h"
#include "base/spin_lock.h"
#include "config/options.h"
#include "diag/report.h"
#include "hakmem/hakmem.h"
#include "large/large.h"
#include "os/os.h"
#include "policy/purger.h"
#include "policy/retention.h"
#include "tiny/heap.h"
#include "tiny/superslab.h"

namespace hakmem {

namespace {

// The report lock serialises users of g_snapshot (print, JSON, mallinfo): a
// hak_stats is too big for some threads' stacks. Taken before g_absorbed_lock.
SpinLock g_report_lock;
hak_stats g_snapshot;
SpinLock g_absorbed_lock;
int g_report_fd = 2;  // a duplicate of stderr, taken at start-up (see stats_prepare)
HeapStats g_absorbed;  // counters of exited threads

void add_counters(hak_class_stats& out, const ClassCounters& c) {
  out.remote_frees += c.remote_frees.load(std::memory_order_relaxed);
  out.drains += c.drains.load(std::memory_order_relaxed);
  out.adopts += c.adopts.load(std::memory_order_relaxed);
  out.refill_own_remote += c.refills[kRefillOwnRemote].load(std::memory_order_relaxed);
  out.refill_sticky += c.refills[kRefillSticky].load(std::memory_order_relaxed);
  out.refill_mailbox += c.refills[kRefillMailbox].load(std::memory_order_relaxed);
  out.refill_adopt += c.refills[kRefillAdopt].load(std::memory_order_relaxed);
  out.refill_gate += c.refills[kRefillGate].load(std::memory_order_relaxed);
  out.refill_fresh += c.refills[kRefillFresh].load(std::memory_order_relaxed);
}

void add_heap(ThreadHeap* h, void* arg) {
  if (!h->live) return;
  auto* out = static_cast<hak_stats*>(arg);
  for (uint32_t c = 0; c < kNumClasses; c++) add_counters(out->classes[c], h->stats.cls[c]);
}

void add_superslab(SuperSlab* ss, void* arg) {
  auto* out = static_cast<hak_stats*>(arg);
  for (uint32_t i = 0; i < ss->num_slabs; i++) {
    Slab& s = ss->slabs[i];
    if (s.owner_tid.load(std::memory_order_acquire) == kOwnerPool) continue;
    // Another thread's slab: these reads race with its owner and are only a snapshot.
    uint32_t c = __atomic_load_n(&s.class_idx, __ATOMIC_RELAXED);
    uint32_t cap = __atomic_load_n(&s.capacity, __ATOMIC_RELAXED);
    uint32_t used = s.used.load(std::memory_order_relaxed);
    if (c >= kNumClasses || used > cap) continue;
    hak_class_stats& k = out->classes[c];
    uint32_t pending = remote_count(s.remote_head.load(std::memory_order_relaxed));
    if (pending > used) pending = used;
    k.slabs++;
    k.blocks_in_use += used - pending;
    k.blocks_pending += pending;
    k.blocks_free += cap - used + pending;
  }
}

}  // namespace

void stats_absorb(const HeapStats& s) {
  LockGuard g(g_absorbed_lock);
  for (uint32_t c = 0; c < kNumClasses; c++) {
    const ClassCounters& from = s.cls[c];
    ClassCounters& to = g_absorbed.cls[c];
    counter_add(to.remote_frees, from.remote_frees.load(std::memory_order_relaxed));
    counter_add(to.drains, from.drains.load(std::memory_order_relaxed));
    counter_add(to.adopts, from.adopts.load(std::memory_order_relaxed));
    for (int r = 0; r < kNumRefillPaths; r++) counter_add(to.refills[r], from.refills[r].load(std::memory_order_relaxed));
  }
}

// Under the report lock: hak_stats_get reads /proc (a cancellation point).
StatsTotals stats_totals() {
  NoCancel no_cancel;
  LockGuard g(g_report_lock);
  hak_stats_get(&g_snapshot);
  const hak_stats& st = g_snapshot;
  StatsTotals t{st.bytes_mapped, st.large_bytes, st.large_cached_bytes, st.large_bytes};
  for (uint32_t c = 0; c < st.num_classes; c++) {
    t.in_use += st.classes[c].bytes_in_use;
    t.free += st.classes[c].bytes_free;
  }
  return t;
}

void stats_lock_all() {
  g_report_lock.lock();
  g_absorbed_lock.lock();
}
void stats_unlock_all() {
  g_absorbed_lock.unlock();
  g_report_lock.unlock();
}
void stats_reset_locks_in_child() {
  g_absorbed_lock.reset();
  g_report_lock.reset();
}

void stats_prepare() {
  // Many programs (coreutils among them) close stderr in an atexit handler, which runs
  // before our destructor prints the report: keep a descriptor of our own.
  if (g_options.stats != StatsMode::kText) return;
  int fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
  if (fd >= 0) g_report_fd = fd;
}

void stats_at_exit() {
  if (g_options.stats == StatsMode::kText) hak_stats_print(g_report_fd);
  else if (g_options.stats == StatsMode::kJson) hak_stats_write_json(g_options.stats_path);
}

}  // namespace hakmem

using namespace hakmem;

extern "C" __attribute__((visibility("default"))) void hak_stats_get(hak_stats* out) {
  *out = hak_stats{};
  out->num_classes = kNumClasses;
  for (uint32_t c = 0; c < kNumClasses; c++) out->classes[c].block_size = g_class_size[c];
  {
    LockGuard g(g_absorbed_lock);
    for (uint32_t c = 0; c < kNumClasses; c++) add_counters(out->classes[c], g_absorbed.cls[c]);
  }
  heap_for_each(add_heap, out);
  pool_for_each_superslab(add_superslab, out);
  for (uint32_t c = 0; c < kNumClasses; c++) {
    hak_class_stats& k = out->classes[c];
    k.bytes_in_use = k.blocks_in_use * k.block_size;
    k.bytes_free = k.blocks_free * k.block_size;
  }
  PoolCounters pc;
  pool_counters(&pc);
  LargeCounters lc;
  large_counters(&lc);
  out->superslabs = pc.superslabs;
  out->superslabs_peak = pc.superslabs_peak;
  out->large_blocks = lc.blocks;
  out->large_bytes = lc.bytes;
  out->large_cached_bytes = lc.cached_bytes;
  out->bytes_mapped = pc.bytes_mapped + lc.mapped_bytes;
  out->bytes_mapped_peak = pc.bytes_mapped_peak + lc.mapped_bytes;
  out->bytes_purged = pc.bytes_purged + lc.purged_bytes;
  out->rss_bytes = os::rss_bytes();
  out->rss_peak_bytes = os::rss_peak_bytes();
  heap_thread_counts(&out->threads_live, &out->threads_exited);
  out->os_maps = pc.os_maps + lc.maps;
  out->os_unmaps = pc.os_unmaps + lc.unmaps;
  out->retained_kept_empty_bytes = retained_bytes(Retained::kKeptEmpty);
  out->retained_pool_bytes = retained_bytes(Retained::kPool);
  out->retained_large_bytes = retained_bytes(Retained::kLargeCache);
  out->retained_remote_bytes = retained_bytes(Retained::kRemotePending);
  out->retained_bytes = retained_total();
  out->retention_budget = retention_budget();
  out->live_bytes = live_bytes();
  out->purger_rounds = purger_rounds();
}

extern "C" __attribute__((visibility("default"))) void hak_stats_print(int fd) {
  if (fd < 0) fd = 2;
  NoCancel no_cancel;
  LockGuard g(g_report_lock);
  hak_stats& st = g_snapshot;
  hak_stats_get(&st);
  Out o(fd);
  o.s("hakmem " HAKMEM_VERSION_STRING " stats (pid ").u(uint64_t(getpid())).s(")\n");
  o.s("  mapped ").u(st.bytes_mapped >> 10).s(" KiB (peak ").u(st.bytes_mapped_peak >> 10).s(" KiB), purged ")
      .u(st.bytes_purged >> 10).s(" KiB, rss ").u(st.rss_bytes >> 10).s(" KiB (peak ").u(st.rss_peak_bytes >> 10)
      .s(" KiB)\n");
  o.s("  superslabs ").u(st.superslabs).s(" (peak ").u(st.superslabs_peak).s("), large blocks ").u(st.large_blocks)
      .s(" (").u(st.large_bytes >> 10).s(" KiB, cached ").u(st.large_cached_bytes >> 10).s(" KiB), threads live ")
      .u(st.threads_live).s(" exited ").u(st.threads_exited).s("\n");
  o.s("  retained free ").u(st.retained_bytes >> 10).s(" KiB (kept-empty ").u(st.retained_kept_empty_bytes >> 10)
      .s(", pool ").u(st.retained_pool_bytes >> 10).s(", large cache ").u(st.retained_large_bytes >> 10)
      .s(", mid-size remote ").u(st.retained_remote_bytes >> 10)
      .s("), budget ").u(st.retention_budget >> 10).s(" KiB, live ").u(st.live_bytes >> 10).s(" KiB, purger rounds ").u(st.purger_rounds).s("\n");
  o.s("  class   size  slabs     in-use       free    pending  remote-fr   drains  adopts  refills(own/sticky/mail/adopt/gate/fresh)\n");
  for (uint32_t c = 0; c < st.num_classes; c++) {
    const hak_class_stats& k = st.classes[c];
    uint64_t refills = k.refill_own_remote + k.refill_sticky + k.refill_mailbox + k.refill_adopt + k.refill_gate + k.refill_fresh;
    if (!k.slabs && !refills && !k.remote_frees) continue;
    o.padu(c, 7).padu(k.block_size, 7).padu(k.slabs, 7).padu(k.blocks_in_use, 11).padu(k.blocks_free, 11)
        .padu(k.blocks_pending, 11).padu(k.remote_frees, 11).padu(k.drains, 9).padu(k.adopts, 8).s("  ").u(k.refill_own_remote).c('/')
        .u(k.refill_sticky).c('/').u(k.refill_mailbox).c('/').u(k.refill_adopt).c('/').u(k.refill_gate).c('/')
        .u(k.refill_fresh).c('\n');
  }
}

extern "C" __attribute__((visibility("default"))) int hak_stats_write_json(const char* path) {
  NoCancel no_cancel;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  {
    LockGuard g(g_report_lock);
    hak_stats& st = g_snapshot;
    hak_stats_get(&st);
    Out o(fd);
    o.s("{\"hakmem\":\"" HAKMEM_VERSION_STRING "\",").kv("pid", uint64_t(getpid())).kv("num_classes", st.num_classes);
    o.s("\"classes\":[");
    for (uint32_t c = 0; c < st.num_classes; c++) {
      const hak_class_stats& k = st.classes[c];
      o.s(c ? ",{" : "{").kv("class", c).kv("block_size", k.block_size).kv("slabs", k.slabs)
          .kv("blocks_in_use", k.blocks_in_use).kv("blocks_free", k.blocks_free).kv("bytes_in_use", k.bytes_in_use)
          .kv("bytes_free", k.bytes_free).kv("blocks_pending", k.blocks_pending).kv("remote_frees", k.remote_frees).kv("drains", k.drains)
          .kv("adopts", k.adopts).kv("refill_own_remote", k.refill_own_remote).kv("refill_sticky", k.refill_sticky)
          .kv("refill_mailbox", k.refill_mailbox).kv("refill_adopt", k.refill_adopt).kv("refill_gate", k.refill_gate)
          .kv("refill_fresh", k.refill_fresh, false).s("}");
    }
    o.s("],").kv("superslabs", st.superslabs).kv("superslabs_peak", st.superslabs_peak)
        .kv("large_blocks", st.large_blocks).kv("large_bytes", st.large_bytes)
        .kv("large_cached_bytes", st.large_cached_bytes).kv("bytes_mapped", st.bytes_mapped)
        .kv("bytes_mapped_peak", st.bytes_mapped_peak).kv("bytes_purged", st.bytes_purged)
        .kv("rss_bytes", st.rss_bytes).kv("rss_peak_bytes", st.rss_peak_bytes).kv("threads_live", st.threads_live)
        .kv("threads_exited", st.threads_exited).kv("os_maps", st.os_maps).kv("os_unmaps", st.os_unmaps)
        .kv("retained_bytes", st.retained_bytes).kv("retained_kept_empty_bytes", st.retained_kept_empty_bytes)
        .kv("retained_pool_bytes", st.retained_pool_bytes).kv("retained_large_bytes", st.retained_large_bytes)
        .kv("retained_remote_bytes", st.retained_remote_bytes)
        .kv("retention_budget", st.retention_budget).kv("live_bytes", st.live_bytes)
        .kv("purger_rounds", st.purger_rounds, false)
        .s("}\n");
  }
  close(fd);
  return 0;
}
