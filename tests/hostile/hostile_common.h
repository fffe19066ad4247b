// Shared pieces of the hostile tests. They link the overriding libhakmem.so, so plain
// malloc/free is hakmem's (require_hakmem_malloc() makes sure), and stamp every block
// with a pattern derived from its address and size, verified before it is freed.
//
// Built with HOSTILE_NO_HAKMEM (the `_glibc` variants, option HAKMEM_HOSTILE_GLIBC) a
// test runs on the system allocator instead, to show the scenario itself is sound: the
// hakmem-only calls below then do what glibc offers, or nothing.
#pragma once

#include <fcntl.h>
#include <hakmem/hakmem.h>
#include <malloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../common/block_stamp.h"
#include "../common/xorshift.h"

namespace hostile {

[[noreturn]] inline void die(const char* what, const void* p = nullptr, size_t n = 0) {
  fprintf(stderr, "hostile FAILURE: %s (block %p size %zu)\n", what, p, n);
  fflush(stderr);
  abort();
}

#define HOSTILE_CHECK(cond, msg)                                                           \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "hostile FAILURE: %s (%s:%d): %s\n", msg, __FILE__, __LINE__, #cond); \
      fflush(stderr);                                                                      \
      abort();                                                                             \
    }                                                                                      \
  } while (0)

inline void require_hakmem_malloc() {
#ifndef HOSTILE_NO_HAKMEM
  void* p = malloc(24);
  if (!hak_owns(p)) die("malloc is not hakmem's: link libhakmem.so (or preload it)", p, 24);
  free(p);
#endif
}

// "hakmem" or "glibc": which allocator this build of the test runs on.
inline const char* allocator_name() {
#ifdef HOSTILE_NO_HAKMEM
  return "glibc";
#else
  return "hakmem";
#endif
}

// Threads with a live hakmem heap (0 on glibc).
inline uint64_t threads_live() {
#ifdef HOSTILE_NO_HAKMEM
  return 0;
#else
  hak_stats st;
  hak_stats_get(&st);
  return st.threads_live;
#endif
}

// Rounds hakmem's background purger has made: once it started, its thread (and heap)
// counts among the live ones for good.
inline uint64_t purger_rounds() {
#ifdef HOSTILE_NO_HAKMEM
  return 0;
#else
  hak_stats st;
  hak_stats_get(&st);
  return st.purger_rounds;
#endif
}

// The text report to fd (glibc: malloc_stats(), which writes to stderr).
inline void stats_print(int fd) {
#ifdef HOSTILE_NO_HAKMEM
  // malloc_info: glibc's report to any FILE (malloc_stats only writes to stderr).
  static FILE* const out = fdopen(dup(fd), "w");
  if (out) {
    malloc_info(0, out);
    fflush(out);
  }
#else
  hak_stats_print(fd);
#endif
}

// The JSON report to path (nothing on glibc).
inline void stats_json(const char* path) {
#ifdef HOSTILE_NO_HAKMEM
  (void)path;
#else
  hak_stats_write_json(path);
#endif
}

// Every tiny-tier block size (16 B .. 128 KiB) hakmem has, or a similar ladder on glibc.
inline size_t class_sizes(size_t* out, size_t cap) {
  size_t n = 0;
#ifndef HOSTILE_NO_HAKMEM
  static hak_stats st;  // big: not on the stack of a small thread
  static bool done = false;
  static size_t sizes[HAK_STATS_MAX_CLASSES];
  static size_t count = 0;
  if (!done) {  // called first from a single thread (the tests' main) before any race
    hak_stats_get(&st);
    for (uint32_t c = 0; c < st.num_classes && count < HAK_STATS_MAX_CLASSES; c++) sizes[count++] = st.classes[c].block_size;
    done = true;
  }
  for (size_t i = 0; i < count && n < cap; i++) out[n++] = sizes[i];
#else
  for (size_t s = 16; s <= 128 * 1024 && n < cap; s += s < 128 ? 16 : s / 8) out[n++] = s;
#endif
  return n;
}

inline uint64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// Resident set of this process in bytes (VmRSS), read without stdio.
inline uint64_t rss_bytes() {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strstr(buf, "VmRSS:");
  return p ? strtoull(p + 6, nullptr, 10) * 1024 : 0;
}

// What a process is doing, for a hang report: its state letter (R: spinning, S/D:
// blocked), where it sleeps in the kernel and the system call it is in.
inline void describe_process(pid_t pid, char* out, size_t cap) {
  char path[64], stat[512] = "", wchan[64] = "", sys[64] = "";
  auto slurp = [&](const char* what, char* buf, size_t n) {
    snprintf(path, sizeof(path), "/proc/%d/%s", int(pid), what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    buf[r > 0 ? r : 0] = 0;
    for (char* c = buf; *c; c++)
      if (*c == '\n') *c = 0;
  };
  slurp("stat", stat, sizeof(stat));
  slurp("wchan", wchan, sizeof(wchan));
  slurp("syscall", sys, sizeof(sys));
  const char* paren = strrchr(stat, ')');
  char state = paren && paren[1] ? paren[2] : '?';
  char* sp = strchr(sys, ' ');
  if (sp) *sp = 0;  // the syscall number only
  snprintf(out, cap, "state %c%s, wchan %s, syscall %s", state, state == 'R' ? " (spinning)" : "",
           wchan[0] ? wchan : "-", sys[0] ? sys : "-");
}

// Waits for forked children, each with a deadline: a child that has not exited by then
// is reported as hung (with what /proc says it is doing) and killed. Counts children
// that exited 0, exited with another status, died of a signal, or hung. Allocation-free
// (a fixed table), so it can be used anywhere in a parent.
//
// HOSTILE_KEEP_HUNG=1 in the environment: a hung child is stopped (SIGSTOP) and left
// for a debugger instead of killed, and its pid printed.
class Reaper {
 public:
  Reaper(const char* what, unsigned timeout_ms) : what_(what), timeout_ms_(timeout_ms) {
    keep_hung_ = getenv("HOSTILE_KEEP_HUNG") != nullptr;
  }

  void add(pid_t pid) {
    while (n_ == kSlots) wait_below(kSlots);
    slots_[n_++] = Slot{pid, now_ms() + timeout_ms_, seq_++};
  }
  size_t outstanding() const { return n_; }

  // Reaps whatever has exited and kills what is overdue; never blocks.
  void poll() {
    uint64_t now = now_ms();
    for (size_t i = 0; i < n_;) {
      int status = 0;
      pid_t r = waitpid(slots_[i].pid, &status, WNOHANG);
      if (r == slots_[i].pid) {
        account(slots_[i], status);
        slots_[i] = slots_[--n_];
        continue;
      }
      if (r < 0 && errno != EINTR) {  // not our child any more (reaped elsewhere)
        slots_[i] = slots_[--n_];
        continue;
      }
      if (now >= slots_[i].deadline) {
        char how[256];
        describe_process(slots_[i].pid, how, sizeof(how));
        hung++;
        if (hung <= kMaxReports || keep_hung_)
          fprintf(stderr, "hostile: %s: child #%llu (pid %d) HUNG: no exit within %u ms (%s)%s\n", what_,
                  static_cast<unsigned long long>(slots_[i].seq), int(slots_[i].pid), timeout_ms_, how,
                  keep_hung_ ? "; stopped and left for a debugger" : "; killed");
        if (keep_hung_) {
          kill(slots_[i].pid, SIGSTOP);
        } else {
          kill(slots_[i].pid, SIGKILL);
          waitpid(slots_[i].pid, &status, 0);
        }
        slots_[i] = slots_[--n_];
        continue;
      }
      i++;
    }
  }

  // Polls (sleeping a little between rounds) until fewer than k children are left.
  void wait_below(size_t k) {
    while (n_ >= k && n_ > 0) {
      poll();
      if (n_ >= k && n_ > 0) usleep(200);
    }
  }
  void drain() { wait_below(1); }

  bool clean() const { return crashed == 0 && hung == 0 && bad_exit == 0; }
  void summary(FILE* f) const {
    fprintf(f, "%s: %llu children: %llu exited 0, %llu crashed (signal), %llu hung, %llu exited non-zero\n", what_,
            static_cast<unsigned long long>(seq_), static_cast<unsigned long long>(ok),
            static_cast<unsigned long long>(crashed), static_cast<unsigned long long>(hung),
            static_cast<unsigned long long>(bad_exit));
  }

  uint64_t ok = 0, bad_exit = 0, crashed = 0, hung = 0;

 private:
  struct Slot {
    pid_t pid;
    uint64_t deadline;
    uint64_t seq;
  };
  static constexpr size_t kSlots = 64;
  static constexpr uint64_t kMaxReports = 8;

  void account(const Slot& s, int status) {
    if (WIFSIGNALED(status)) {
      crashed++;
      if (crashed <= kMaxReports)
        fprintf(stderr, "hostile: %s: child #%llu (pid %d) died of signal %d (%s)\n", what_,
                static_cast<unsigned long long>(s.seq), int(s.pid), WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else if (WEXITSTATUS(status) != 0) {
      bad_exit++;
      if (bad_exit <= kMaxReports)
        fprintf(stderr, "hostile: %s: child #%llu (pid %d) exited with status %d\n", what_,
                static_cast<unsigned long long>(s.seq), int(s.pid), WEXITSTATUS(status));
    } else {
      ok++;
    }
  }

  const char* what_;
  unsigned timeout_ms_;
  bool keep_hung_ = false;
  Slot slots_[kSlots];
  size_t n_ = 0;
  uint64_t seq_ = 0;
};

// Runs fn() in a forked child ("the subject") and waits for it with a deadline: the
// way to catch a whole process that deadlocks or spins (every thread stuck), which no
// watchdog inside it could report reliably. Returns 0 when the subject exited 0, else 1
// after saying why (signal, status, or hung with its /proc state). Call it while the
// caller is single-threaded.
template <typename F>
inline int run_subject(const char* what, unsigned timeout_ms, F fn) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    int rc = fn();
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  Reaper r(what, timeout_ms);
  r.add(pid);
  r.drain();
  return r.clean() ? 0 : 1;
}

inline void stamp(void* p, size_t n) { test_common::stamp_as(p, n, p); }

inline void verify(const void* p, size_t n) {
  if (test_common::first_mismatch(p, n, p) != SIZE_MAX) die("stamp mismatch: block corrupted or handed out twice", p, n);
}

inline void* alloc_stamped(size_t n) {
  void* p = malloc(n);
  if (!p) die("malloc returned NULL", nullptr, n);
  stamp(p, n);
  return p;
}

inline void free_verified(void* p, size_t n) {
  verify(p, n);
  free(p);
}

// This suite's seeds and random sizes over tests/common's generator.
struct Rng : test_common::XorShift64 {
  explicit Rng(uint64_t seed) : XorShift64(seed * 0x2545f4914f6cdd1dull | 1) {}
  // Mostly small, some mid-size, a few large blocks.
  size_t size() {
    uint64_t r = next();
    switch (r % 16) {
      case 15: return 128 * 1024 + (r >> 8) % (512 * 1024);
      case 13: case 14: return 1024 + (r >> 8) % (64 * 1024);
      default: return 1 + (r >> 8) % 512;
    }
  }
};

// Kills the test if it hangs (a deadlock in the allocator, say) instead of waiting for
// CTest's timeout: the message names the test.
inline void watchdog(unsigned seconds) { alarm(seconds); }

// The same, but saying so: when the alarm fires the process writes "<what>: watchdog:
// ... (hang?)" and exits 3. (Only write() and _exit() in the handler: the process may
// be stuck on any lock.) Fork children do not inherit the alarm.
inline const char* g_watchdog_what = "hostile";
inline void watchdog_fired(int) {
  char msg[256];
  int n = snprintf(msg, sizeof(msg), "hostile FAILURE: %s: watchdog: still running after its time bound (hang?)\n",
                   g_watchdog_what);
  if (n > 0) (void)!write(2, msg, size_t(n) < sizeof(msg) ? size_t(n) : sizeof(msg) - 1);
  _exit(3);
}
inline void watchdog_report(unsigned seconds, const char* what) {
  g_watchdog_what = what;
  signal(SIGALRM, watchdog_fired);
  alarm(seconds);
}

}  // namespace hostile
