// fork() from a signal handler, in a single-threaded process (what glibc's
// tst-mallocfork2 checks: fork is async-signal-safe, and with one thread malloc must not
// make it otherwise). A separate process sends SIGUSR1 as fast as it can; the handler
// forks and the child _exits at once. The process's own loop meanwhile:
//   alloc: mallocs, reallocs and frees in every tier (a signal may land while it holds
//          an allocator lock: the nested fork must not wait for it);
//   fork:  does the same and also forks itself (a signal may land inside fork(), in the
//          atfork prepare handler: the handler's fork must not spin on the locks the
//          interrupted prepare already took).
// Each scenario runs in a subject process reaped with a deadline: a hang is reported
// with the subject's /proc state and killed. Its own children (from the handler and the
// loop) are reaped with a deadline too. Pass: both scenarios finish, every child exits 0.
// About 8 s when it passes.
#include <sys/prctl.h>

#include <atomic>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr uint64_t kRunMs = 3500;                // each scenario's loop
constexpr unsigned kSubjectTimeoutMs = 15000;    // then its subject counts as hung
constexpr uint64_t kChildrenTimeoutMs = 5000;    // its children must all have exited by then

std::atomic<long> g_handled{0}, g_forked_in_handler{0}, g_fork_errors{0};
static_assert(std::atomic<long>::is_always_lock_free);

void on_signal(int) {
  int saved = errno;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  if (pid > 0) g_forked_in_handler.fetch_add(1, std::memory_order_relaxed);
  else g_fork_errors.fetch_add(1, std::memory_order_relaxed);
  g_handled.fetch_add(1, std::memory_order_relaxed);
  errno = saved;
}

// Sends SIGUSR1 to `target` until it dies (or this process's parent does).
[[noreturn]] void sender(pid_t target) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != target) _exit(0);
  for (unsigned i = 0;; i++) {
    if (kill(target, SIGUSR1) != 0) _exit(0);
    if (i % 64 == 0) sched_yield();
  }
}

struct Reaped {
  long ok = 0, bad = 0;
};

void reap_some(pid_t sender_pid, Reaped& r, bool block) {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, block ? 0 : WNOHANG);
    if (pid <= 0) return;
    if (pid == sender_pid) {
      fprintf(stderr, "fork_in_signal: the signal sender died (status %#x)\n", status);
      r.bad++;
      continue;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      r.ok++;
    } else {
      r.bad++;
      if (r.bad <= 5)
        fprintf(stderr, "fork_in_signal: child %d %s %d\n", int(pid), WIFSIGNALED(status) ? "died of signal" : "exited with",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    if (block) return;
  }
}

// Children of this process still around (from /proc), killed and reported as hung.
long kill_stragglers() {
  char path[64], buf[4096];
  snprintf(path, sizeof(path), "/proc/self/task/%d/children", int(getpid()));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  long count = 0;
  for (char* p = buf; *p;) {
    char* end;
    long pid = strtol(p, &end, 10);
    if (end == p) break;
    p = end;
    char how[256];
    describe_process(pid_t(pid), how, sizeof(how));
    if (count < 5) fprintf(stderr, "fork_in_signal: child %ld HUNG (%s); killed\n", pid, how);
    kill(pid_t(pid), SIGKILL);
    waitpid(pid_t(pid), nullptr, 0);
    count++;
  }
  return count;
}

int scenario(bool loop_forks) {
  const char* name = loop_forks ? "fork" : "alloc";
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, nullptr) != 0) die("sigaction");  // before the first signal
  pid_t self = getpid();
  pid_t snd = fork();
  if (snd < 0) die("fork");
  if (snd == 0) sender(self);

  Rng rng(loop_forks ? 3 : 5);
  Reaped reaped;
  long loop_forked = 0, iterations = 0;
  void* keep[8] = {};
  size_t keep_n[8] = {};
  uint64_t t0 = now_ms();
  while (now_ms() - t0 < kRunMs) {
    size_t n = rng.size();
    void* p = alloc_stamped(n);
    void* q = realloc(malloc(64), 64 + rng.below(300000));
    if (!q) die("realloc");
    free(q);
    unsigned k = unsigned(rng.below(8));
    if (keep[k]) free_verified(keep[k], keep_n[k]);
    keep_n[k] = rng.size();
    keep[k] = alloc_stamped(keep_n[k]);
    free_verified(p, n);
    if (loop_forks && iterations % 4 == 0) {
      pid_t pid = fork();
      if (pid == 0) _exit(0);
      if (pid > 0) loop_forked++;
      else g_fork_errors.fetch_add(1, std::memory_order_relaxed);
    }
    iterations++;
    reap_some(snd, reaped, false);
  }
  // Stop the signals, then every child must exit by the deadline.
  sa.sa_handler = SIG_IGN;
  sigaction(SIGUSR1, &sa, nullptr);
  kill(snd, SIGKILL);
  waitpid(snd, nullptr, 0);
  long forked = g_forked_in_handler.load() + loop_forked;
  uint64_t t1 = now_ms();
  while (reaped.ok + reaped.bad < forked && now_ms() - t1 < kChildrenTimeoutMs) {
    reap_some(snd, reaped, false);
    usleep(1000);
  }
  long hung = reaped.ok + reaped.bad < forked ? kill_stragglers() : 0;
  for (auto* b : keep) free(b);
  printf("fork_in_signal/%s (%s): %ld iterations, %ld signals handled, %ld forks in the handler, %ld in the loop; "
         "children: %ld exited 0, %ld failed, %ld hung; %ld fork errors\n",
         name, allocator_name(), iterations, g_handled.load(), g_forked_in_handler.load(), loop_forked, reaped.ok,
         reaped.bad, hung, g_fork_errors.load());
  if (g_handled.load() < 100) {
    fprintf(stderr, "hostile FAILURE: fork_in_signal/%s: only %ld signals handled\n", name, g_handled.load());
    return 1;
  }
  return reaped.bad || hung ? 1 : 0;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog_report(58, "fork_in_signal");
  int failures = 0;
  if (run_subject("fork_in_signal/alloc", kSubjectTimeoutMs, [] { return scenario(false); })) {
    fprintf(stderr, "hostile FAILURE: fork_in_signal/alloc: fork() in a signal handler while the loop allocates\n");
    failures++;
  }
  if (run_subject("fork_in_signal/fork", kSubjectTimeoutMs, [] { return scenario(true); })) {
    fprintf(stderr, "hostile FAILURE: fork_in_signal/fork: fork() in a signal handler that interrupted fork()\n");
    failures++;
  }
  if (failures) return 1;
  printf("fork_in_signal: PASS\n");
  return 0;
}
