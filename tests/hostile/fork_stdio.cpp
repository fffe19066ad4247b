// fork() against stdio (glibc's bug 19431, for another allocator). Reader threads read
// a file of long lines with getline() -- which reallocs its buffer while it holds the
// FILE's lock -- and fgets(); a flusher thread calls fflush(NULL), which takes stdio's
// list lock and then each FILE's lock; a forker thread forks in a loop, its children
// _exit at once. glibc's fork takes stdio's list lock after the atfork prepare
// handlers: an allocator whose prepare handler takes its own locks first can deadlock
// with (fflush holding the list lock, waiting for the FILE) -> (getline holding the
// FILE, waiting in realloc for an allocator lock) -> (fork holding the allocator locks,
// waiting for the list lock).
//
// The threads run in a subject process reaped with a deadline: a deadlock shows as a
// hung subject (reported with its /proc state, then killed). Pass: the subject stops on
// time, every fork child exited 0. About 6 s when it passes.
#include <pthread.h>

#include <atomic>
#include <thread>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr uint64_t kRunMs = 5000;
constexpr unsigned kSubjectTimeoutMs = 15000;
constexpr unsigned kChildTimeoutMs = 5000;
constexpr int kReaders = 3;
constexpr int kLines = 48;

char g_path[64];
std::atomic<bool> g_stop{false};
std::atomic<long> g_lines{0}, g_flushes{0}, g_forks{0};

void make_file() {
  strcpy(g_path, "/tmp/hakmem_fork_stdio_XXXXXX");
  int fd = mkstemp(g_path);
  if (fd < 0) die("mkstemp");
  Rng rng(17);
  static char line[700 * 1024];
  for (int i = 0; i < kLines; i++) {
    // Lengths over every tier: a few bytes, a few KiB, up to ~600 KiB (large blocks).
    size_t len = i % 3 == 0 ? rng.below(200) : i % 3 == 1 ? rng.below(32 * 1024) : rng.below(600 * 1024);
    memset(line, 'a' + i % 26, len);
    line[len] = '\n';
    if (write(fd, line, len + 1) != ssize_t(len + 1)) die("write");
  }
  close(fd);
}

void reader(int id) {
  char small[4096];
  while (!g_stop.load(std::memory_order_relaxed)) {
    FILE* f = fopen(g_path, "r");
    if (!f) die("fopen");
    for (int i = 0; !g_stop.load(std::memory_order_relaxed); i++) {
      if ((i + id) % 4 == 3) {  // fgets: the FILE's own buffer, allocated under its lock
        if (!fgets(small, sizeof(small), f)) break;
        continue;
      }
      char* buf = nullptr;  // fresh each time: getline grows it by realloc, FILE locked
      size_t cap = 0;
      ssize_t n = getline(&buf, &cap, f);
      free(buf);
      if (n < 0) break;
      g_lines.fetch_add(1, std::memory_order_relaxed);
    }
    fclose(f);
  }
}

void flusher() {
  FILE* out = fopen("/dev/null", "w");  // something for fflush(NULL) to write
  if (!out) die("fopen /dev/null");
  while (!g_stop.load(std::memory_order_relaxed)) {
    fprintf(out, "%0*d\n", 3000, 1);
    fflush(nullptr);
    g_flushes.fetch_add(1, std::memory_order_relaxed);
  }
  fclose(out);
}

bool forker() {
  Reaper reaper("fork_stdio children", kChildTimeoutMs);
  while (!g_stop.load(std::memory_order_relaxed)) {
    reaper.wait_below(4);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) _exit(0);
    reaper.add(pid);
    g_forks.fetch_add(1, std::memory_order_relaxed);
  }
  reaper.drain();
  if (!reaper.clean()) reaper.summary(stderr);
  return reaper.clean();
}

int subject() {
  bool children_ok = true;
  std::thread readers[kReaders];
  for (int i = 0; i < kReaders; i++) readers[i] = std::thread(reader, i);
  std::thread flush(flusher);
  std::thread fork_thread([&] { children_ok = forker(); });
  usleep(kRunMs * 1000);
  g_stop = true;
  for (auto& t : readers) t.join();
  flush.join();
  fork_thread.join();
  printf("fork_stdio (%s): %ld forks, %ld lines read with getline, %ld fflush(NULL)\n", allocator_name(), g_forks.load(),
         g_lines.load(), g_flushes.load());
  if (g_forks.load() < 20 || g_lines.load() < 20) {
    fprintf(stderr, "hostile FAILURE: fork_stdio: too little happened\n");
    return 1;
  }
  return children_ok ? 0 : 1;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  watchdog_report(55, "fork_stdio");
  make_file();
  int rc = run_subject("fork_stdio", kSubjectTimeoutMs, subject);
  unlink(g_path);
  if (rc) {
    fprintf(stderr, "hostile FAILURE: fork_stdio: fork() against getline/fflush(NULL) did not finish (deadlock?)\n");
    return 1;
  }
  printf("fork_stdio: PASS\n");
  return 0;
}
