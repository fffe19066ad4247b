// malloc_stats() and pthread_cancel. Threads call malloc_stats(), hak_stats_print(2),
// mallinfo2() and hak_stats_write_json in a loop and are cancelled at random moments (deferred
// cancellation: write() is a cancellation point, and pthread_testcancel() between calls
// gives allocators that make the report uncancellable, as glibc does, a place to stop).
// stderr is a pipe drained slowly by a reader thread, so the writes block and a cancel
// often lands inside one (mallinfo2 reads /proc for the resident size: a cancellation
// point too). Afterwards malloc_stats(), mallinfo2() and fork() from the main thread must
// still return: a thread cancelled while it held the report's lock must not leave it held.
//
// Everything runs in a subject process reaped with a deadline (a stuck lock hangs the
// joins or the last malloc_stats); the subject's stderr is the pipe, so the reports do
// not reach the test's output. Pass: the subject finishes. About 4 s when it passes.
#include <pthread.h>

#include <atomic>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr uint64_t kRunMs = 3000;
constexpr unsigned kSubjectTimeoutMs = 15000;
constexpr int kThreads = 4;

int g_out = -1;  // the real stderr, for this test's own messages
std::atomic<bool> g_draining{true};
std::atomic<long> g_reports{0};

void say(const char* msg) { (void)!write(g_out, msg, strlen(msg)); }

void* drain(void* arg) {
  int fd = int(intptr_t(arg));
  char buf[2048];
  while (g_draining.load(std::memory_order_relaxed)) {
    if (read(fd, buf, sizeof(buf)) <= 0) break;
    usleep(50);  // slowly: the pipe fills, writers block in write()
  }
  return nullptr;
}

void* reporter(void* arg) {
  int kind = int(intptr_t(arg));
  for (;;) {
#ifdef HOSTILE_NO_HAKMEM
    // (Not stats_print's malloc_info: glibc holds an arena lock across its fprintf, so a
    // thread cancelled there deadlocks glibc itself. malloc_stats is uncancellable.)
    (void)kind;
    malloc_stats();
#else
    if (kind % 4 == 0) malloc_stats();
    else if (kind % 4 == 1) stats_print(2);
    else if (kind % 4 == 2) (void)mallinfo2();
    else stats_json("/dev/null");
#endif
    g_reports.fetch_add(1, std::memory_order_relaxed);
    pthread_testcancel();
  }
  return nullptr;
}

int subject() {
  g_out = dup(2);
  int p[2];
  if (g_out < 0 || pipe(p) != 0) die("pipe");
  if (dup2(p[1], 2) < 0) die("dup2");
  close(p[1]);
  pthread_t drainer;
  if (pthread_create(&drainer, nullptr, drain, reinterpret_cast<void*>(intptr_t(p[0])))) die("pthread_create");

  Rng rng(23);
  long rounds = 0, cancelled = 0;
  uint64_t t0 = now_ms();
  while (now_ms() - t0 < kRunMs) {
    pthread_t th[kThreads];
    for (int i = 0; i < kThreads; i++)
      if (pthread_create(&th[i], nullptr, reporter, reinterpret_cast<void*>(intptr_t(i)))) die("pthread_create");
    usleep(useconds_t(rng.below(3000)));
    for (int i = 0; i < kThreads; i++) pthread_cancel(th[i]);
    for (int i = 0; i < kThreads; i++) {
      void* res = nullptr;
      pthread_join(th[i], &res);
      if (res == PTHREAD_CANCELED) cancelled++;
    }
    rounds++;
  }
  // The lock a cancelled thread may have held: these must return.
  malloc_stats();
  (void)mallinfo2();
#ifndef HOSTILE_NO_HAKMEM
  stats_print(2);
#endif
  pid_t child = fork();  // takes every allocator lock (the drainer makes this process threaded)
  if (child < 0) die("fork");
  if (child == 0) _exit(0);
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("fork child failed");
  char msg[256];
  snprintf(msg, sizeof(msg), "stats_cancel (%s): %ld rounds, %ld threads cancelled, %ld reports written\n",
           allocator_name(), rounds, cancelled, g_reports.load());
  say(msg);
  g_draining = false;
  (void)!write(2, "\n", 1);  // wakes the drainer, which then sees the flag
  pthread_join(drainer, nullptr);
  return 0;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog_report(55, "stats_cancel");
  if (run_subject("stats_cancel", kSubjectTimeoutMs, subject)) {
    fprintf(stderr, "hostile FAILURE: stats_cancel: malloc_stats(), mallinfo2() or fork() after cancelled statistics "
                    "calls did not return (a lock left held by a cancelled thread?)\n");
    return 1;
  }
  printf("stats_cancel: PASS\n");
  return 0;
}
