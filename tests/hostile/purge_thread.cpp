// The background purger's lifecycle (src/policy/purger.h): when it starts, what it
// blocks, what a fork child and an exiting process see. Modes (first argument):
//   on   (the default options)
//     1. a program whose heap stays below the budget's floor gets no thread, and a
//        single-threaded one gets none past the floor either (it stays single-threaded
//        for glibc: unlocked stdio, fork from a signal handler without our locks);
//     2. once the program has run a thread of its own, past the floor, one thread named
//        "hakmem-purge" appears, with every signal a program uses blocked, so a
//        process-directed signal is never delivered to it; an idle spike goes back
//        without any allocator call (rounds are counted);
//     3. a fork child starts with one thread and no purger; when it crosses the floor
//        it gets its own, and its idle spike goes back too;
//     4. processes that exit while their purger is in a round (a spike freed, then exit
//        after 0..400 ms) all exit promptly with status 0.
//   always  (HAKMEM_PURGE_THREAD=2): a single-threaded program gets the purger past the
//           floor, and its idle spike goes back.
//   off     (HAKMEM_PURGE_THREAD=0): a program that ran a thread, the same spike, never a
//           purger, no rounds.
#include <dirent.h>
#include <sys/syscall.h>

#include <thread>
#include <vector>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr size_t MiB = size_t(1) << 20;

// Threads of this process named "hakmem-purge"; their tid in *tid.
int purger_threads(pid_t* tid = nullptr) {
  int found = 0;
  DIR* d = opendir("/proc/self/task");
  HOSTILE_CHECK(d, "opendir /proc/self/task");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char path[128], comm[64] = {};
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE* f = fopen(path, "r");
    if (!f) continue;
    if (fgets(comm, sizeof comm, f) && strncmp(comm, "hakmem-purge", 12) == 0) {
      found++;
      if (tid) *tid = pid_t(atoi(e->d_name));
    }
    fclose(f);
  }
  closedir(d);
  return found;
}

int task_count() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  HOSTILE_CHECK(d, "opendir /proc/self/task");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

uint64_t blocked_signals(pid_t tid) {
  char path[128], line[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", int(tid));
  FILE* f = fopen(path, "r");
  HOSTILE_CHECK(f, "open the purger's status");
  unsigned long long mask = 0;
  bool got = false;
  while (fgets(line, sizeof line, f)) got = got || sscanf(line, "SigBlk: %llx", &mask) == 1;
  fclose(f);
  HOSTILE_CHECK(got, "SigBlk in the purger's status");
  return mask;
}

void sleep_ms(unsigned ms) {
  struct timespec ts = {time_t(ms / 1000), long(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// 96 MiB in blocks of 1 MiB (the large tier) and 8 KiB (the slab tier), all freed.
void spike() {
  std::vector<void*> blocks;
  blocks.reserve(2048);
  for (int i = 0; i < 48; i++) blocks.push_back(memset(malloc(MiB), 1, MiB));
  for (int i = 0; i < 6144; i++) blocks.push_back(memset(malloc(8192), 2, 8192));
  for (void* p : blocks) free(p);
}

uint64_t purger_rounds() {
  static hak_stats st;
  hak_stats_get(&st);
  return st.purger_rounds;
}

// Waits up to 3 s (twelve purge delays) for RSS to fall within `bound` of `baseline`.
uint64_t wait_for_rss(uint64_t baseline, uint64_t bound) {
  uint64_t r = rss_bytes();
  for (int i = 0; i < 300 && r > baseline + bound; i++) {
    sleep_ms(10);  // no allocator call: rss_bytes reads /proc into a stack buffer
    r = rss_bytes();
  }
  return r;
}

void check_spike_goes_back(const char* who) {
  uint64_t baseline = rss_bytes();
  spike();
  uint64_t after = rss_bytes();
  uint64_t idle = wait_for_rss(baseline, 24 * MiB);
  printf("purge_thread [%s]: %s: RSS baseline %.1f MiB, after the spike's frees %.1f MiB, idle %.1f MiB\n",
         allocator_name(), who, double(baseline) / MiB, double(after) / MiB, double(idle) / MiB);
  HOSTILE_CHECK(idle <= baseline + 24 * MiB, "an idle spike went back without any allocator call");
}

void check_purger(const char* who) {
  pid_t tid = 0;
  for (int i = 0; i < 100 && purger_threads(&tid) == 0; i++) sleep_ms(10);
  HOSTILE_CHECK(purger_threads(&tid) == 1, "exactly one purger thread past the floor");
  uint64_t mask = blocked_signals(tid);
  // glibc keeps its two internal signals (32, 33) unblockable; every other one a program
  // may use must be blocked in the purger.
  const int must[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCHLD, SIGIO,
                      SIGWINCH, SIGRTMIN, SIGRTMIN + 5, SIGRTMAX};
  for (int sig : must) HOSTILE_CHECK(mask & (1ull << (sig - 1)), "a signal the purger does not block");
  printf("purge_thread [%s]: %s: purger tid %d, SigBlk %llx\n", allocator_name(), who, int(tid),
         (unsigned long long)mask);
}

int run_on() {
  // 1. Below the floor: no thread.
  for (int i = 0; i < 1000; i++) free(malloc(size_t(16 + i * 8)));
  void* small = malloc(4 * MiB);
  free(small);
  sleep_ms(50);
  HOSTILE_CHECK(purger_threads() == 0 && purger_rounds() == 0, "no purger below the budget's floor");
  HOSTILE_CHECK(task_count() == 1, "a small program stays single-threaded");
  spike();
  sleep_ms(300);
  HOSTILE_CHECK(purger_threads() == 0 && purger_rounds() == 0, "no purger in a single-threaded program");
  HOSTILE_CHECK(task_count() == 1, "a single-threaded program stays single-threaded past the floor");

  // 2. Past the floor, in a program that has run a thread.
  std::thread([] {}).join();
  check_spike_goes_back("parent");
  check_purger("parent");
  HOSTILE_CHECK(purger_rounds() > 0, "the purger made rounds");

  // 3. A fork child: one thread, its own purger once it needs one.
  fflush(stdout);
  pid_t pid = fork();
  HOSTILE_CHECK(pid >= 0, "fork");
  if (pid == 0) {
    HOSTILE_CHECK(task_count() == 1, "a fork child starts with one thread");
    HOSTILE_CHECK(purger_threads() == 0, "no purger in a fork child until it needs one");
    check_spike_goes_back("child");
    check_purger("child");
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  HOSTILE_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                "the fork child passed");
  HOSTILE_CHECK(purger_threads() == 1, "the parent keeps its purger");

  // 4. Exit while a round may be running: each child spikes, frees, and exits (exit():
  // destructors and the at-exit paths run beside the purger) after 0..400 ms.
  Rng rng(7);
  const int kChildren = 16;
  pid_t kids[kChildren];
  for (int i = 0; i < kChildren; i++) {
    unsigned delay = unsigned(rng.next() % 400);
    kids[i] = fork();
    HOSTILE_CHECK(kids[i] >= 0, "fork");
    if (kids[i] == 0) {
      spike();
      sleep_ms(delay);
      exit(0);
    }
  }
  uint64_t deadline = now_ms() + 20000;
  for (int i = 0; i < kChildren; i++) {
    while (waitpid(kids[i], &status, WNOHANG) == 0) {
      if (now_ms() > deadline) {
        char state[256];
        describe_process(kids[i], state, sizeof state);
        fprintf(stderr, "purge_thread: child %d hung at exit: %s\n", int(kids[i]), state);
        for (int j = 0; j < kChildren; j++) kill(kids[j], SIGKILL);
        return 1;
      }
      sleep_ms(5);
    }
    HOSTILE_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child exiting beside its purger");
  }
  printf("purge_thread [%s]: on: ok (%d children exited beside their purger)\n", allocator_name(), kChildren);
  return 0;
}

int run_always() {
  check_spike_goes_back("single-threaded");
  check_purger("single-threaded");
  printf("purge_thread [%s]: always: ok\n", allocator_name());
  return 0;
}

int run_off() {
  std::thread([] {}).join();
  spike();
  sleep_ms(600);
  HOSTILE_CHECK(purger_threads() == 0 && purger_rounds() == 0, "no purger with HAKMEM_PURGE_THREAD=0");
  HOSTILE_CHECK(task_count() == 1, "HAKMEM_PURGE_THREAD=0: no thread but the program's");
  printf("purge_thread [%s]: off: ok\n", allocator_name());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  require_hakmem_malloc();
  const char* mode = argc > 1 ? argv[1] : "on";
  if (strcmp(mode, "on") == 0) return run_on();
  if (strcmp(mode, "always") == 0) return run_always();
  if (strcmp(mode, "off") == 0) return run_off();
  fprintf(stderr, "usage: purge_thread [on|always|off]\n");
  return 2;
}
