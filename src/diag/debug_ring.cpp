#include "diag/debug_ring.h"

#include <signal.h>

#include <atomic>

#include "diag/report.h"
#include "os/os.h"
#include "tiny/heap.h"

namespace hakmem {

namespace {

std::atomic<bool> g_dumped{false};

const char* event_name(RingEvent e) {
  switch (e) {
    case RingEvent::kAllocSlow: return "alloc-slow";
    case RingEvent::kRefill: return "refill";
    case RingEvent::kClaim: return "claim";
    case RingEvent::kDrain: return "drain";
    case RingEvent::kAdopt: return "adopt";
    case RingEvent::kRemotePush: return "remote-push";
    case RingEvent::kRelease: return "release";
    case RingEvent::kMailbox: return "mailbox";
    case RingEvent::kOsMap: return "os-map";
    case RingEvent::kOsUnmap: return "os-unmap";
    case RingEvent::kThreadExit: return "thread-exit";
    case RingEvent::kGuardFail: return "guard-fail";
  }
  return "?";
}

void dump_heap(ThreadHeap* h, void* arg) {
  int fd = *static_cast<int*>(arg);
  DebugRing& r = h->ring;
  uint64_t end = r.seq;
  if (end == 0) return;
  uint64_t begin = end > DebugRing::kSize ? end - DebugRing::kSize : 0;
  Line().str("hakmem: debug ring of thread ").u64(h->tid).str(h->live ? "" : " (exited)").str(", last ")
      .u64(end - begin).str(" events:").write(fd);
  for (uint64_t i = begin; i < end; i++) {
    const RingEntry& e = r.entries[i % DebugRing::kSize];
    Line().str("  #").u64(e.seq).ch(' ').str(event_name(e.event)).ch(' ').ptr(e.ptr).ch(' ').hex(e.arg).write(fd);
  }
}

void on_fatal_signal(int sig) {
  Line().str("hakmem: fatal signal ").i64(sig).str(" in thread ").u64(t_heap->tid).write(2);
  debug_ring_dump_all(2);
  // Default action next, so exit status and core dump are what the user expects.
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void debug_ring_record_slow(RingEvent ev, const void* p, uint64_t arg) {
  ThreadHeap* h = t_heap;
  if (h->tid == kTidNobody) return;  // the placeholder and the retired heap are shared
  DebugRing& r = h->ring;
  uint64_t seq = r.seq;
  r.entries[seq % DebugRing::kSize] = RingEntry{seq, p, arg, ev};
  // Release: a dump from another thread (signal) reads entries up to seq.
  __atomic_store_n(&r.seq, seq + 1, __ATOMIC_RELEASE);
}

void debug_ring_dump_all(int fd) {
  if (!g_options.debug_ring || g_dumped.exchange(true)) return;
  heap_for_each(dump_heap, &fd);
}

void debug_ring_install_handlers() {
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT}) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_DFL) continue;  // the program's own wins
    struct sigaction sa = {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace hakmem
