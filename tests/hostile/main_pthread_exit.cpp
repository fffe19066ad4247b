// main() ends with pthread_exit() while hakmem's background purger runs. POSIX: the
// process lives on while any thread does, and exits with status 0 (running its atexit
// handlers) when the last one ends. The purger is hakmem's, not the program's: it must
// not be the thread that keeps the process alive. Two orders:
//   alone:  a worker spikes past the retention floor (the purger starts) and is joined;
//           then main calls pthread_exit, and nothing of the program is left.
//   worker: main calls pthread_exit while a worker still runs; the worker allocates and
//           frees for a while and ends.
// Each runs in a subject process reaped with a deadline: pass when it exits 0 within
// it and its atexit handler ran. Before the fix the subject never exited (nor on
// SIGTERM: the purger blocks every signal).
#include <pthread.h>

#include <cstdlib>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr unsigned kSubjectTimeoutMs = 10000;
int g_marker_fd = -1;

void spike() {
  constexpr int kBlocks = 96;
  void* blocks[kBlocks];
  for (auto& b : blocks) {
    b = malloc(1 << 20);
    if (!b) die("malloc");
    memset(b, 1, 1 << 20);
  }
  for (auto& b : blocks) free(b);
}

void* spiking_worker(void*) {
  spike();
  return nullptr;
}

void* late_worker(void*) {
  for (int i = 0; i < 20; i++) {
    spike();
    usleep(10000);
  }
  return nullptr;
}

void at_exit_marker() { (void)!write(g_marker_fd, "x", 1); }

[[noreturn]] void subject(bool wait_for_worker) {
  if (atexit(at_exit_marker) != 0) die("atexit");
  pthread_t t;
  if (pthread_create(&t, nullptr, spiking_worker, nullptr)) die("pthread_create");
  pthread_join(t, nullptr);
#ifndef HOSTILE_NO_HAKMEM
  // The purger starts on an allocation slow path once the spike passed the floor.
  for (int i = 0; i < 200 && purger_rounds() == 0; i++) {
    free(malloc(64));
    usleep(10000);
  }
  if (purger_rounds() == 0) die("the background purger did not start: the test would prove nothing");
#endif
  if (!wait_for_worker && pthread_create(&t, nullptr, late_worker, nullptr)) die("pthread_create");
  pthread_exit(nullptr);
}

bool run(bool wait_for_worker, const char* name) {
  int p[2];
  if (pipe(p) != 0) die("pipe");
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(p[0]);
    g_marker_fd = p[1];
    subject(wait_for_worker);
  }
  close(p[1]);
  Reaper reaper(name, kSubjectTimeoutMs);
  reaper.add(pid);
  reaper.drain();
  char c = 0;
  bool marker = read(p[0], &c, 1) == 1;
  close(p[0]);
  bool ok = reaper.clean() && marker;
  printf("main_pthread_exit (%s), %s: %s%s\n", allocator_name(), name, ok ? "ok" : "FAILED",
         reaper.clean() && !marker ? " (atexit handlers did not run)" : "");
  return ok;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  bool ok = run(true, "main last");
  ok &= run(false, "a worker last");
  return ok ? 0 : 1;
}
