#include "os/os.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>

namespace hakmem::os {

void* map_aligned(size_t size, size_t align) {
  // Over-map by `align` and trim both ends so the result is aligned; the kernel has
  // no "aligned mmap" and this costs only address space.
  size_t span = size + (align > kPageSize ? align : 0);
  if (span < size) { errno = ENOMEM; return nullptr; }
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) { errno = ENOMEM; return nullptr; }
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + align - 1) & ~(uintptr_t(align) - 1);
  if (aligned > start) munmap(raw, aligned - start);
  uintptr_t end = aligned + size;
  uintptr_t raw_end = start + span;
  if (raw_end > end) munmap(reinterpret_cast<void*>(end), raw_end - end);
  return reinterpret_cast<void*>(aligned);
}

void unmap(void* p, size_t size) { munmap(p, size); }

void* map_aligned_at(size_t size, size_t align, void* hint) {
  if (hint) {
    void* p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      if ((reinterpret_cast<uintptr_t>(p) & (align - 1)) == 0) return p;
      munmap(p, size);
    }
  }
  return map_aligned(size, align);
}

void advise_huge(void* p, size_t size) { madvise(p, size, MADV_HUGEPAGE); }

void decommit(void* p, size_t size) { madvise(p, size, MADV_DONTNEED); }

bool remap_in_place(void* p, size_t old_size, size_t new_size) {
  void* r = mremap(p, old_size, new_size, 0);
  return r != MAP_FAILED;
}

bool remap_to(void* p, size_t old_size, size_t new_size, void* dest) {
  return mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dest) != MAP_FAILED;
}

uint64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

// Reads "Key:   1234 kB" from /proc/self/status without allocating.
static uint64_t status_kb(const char* key) {
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  size_t klen = 0;
  while (key[klen]) klen++;
  for (char* line = buf; *line;) {
    bool match = true;
    for (size_t i = 0; i < klen; i++)
      if (line[i] != key[i]) { match = false; break; }
    if (match) {
      uint64_t v = 0;
      for (char* c = line + klen; *c && *c != '\n'; c++)
        if (*c >= '0' && *c <= '9') v = v * 10 + uint64_t(*c - '0');
      return v;
    }
    while (*line && *line != '\n') line++;
    if (*line) line++;
  }
  return 0;
}

// The state letter and thread count of /proc/<path>/stat, read without allocating.
static bool read_stat(const char* path, char* state, uint64_t* threads) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  char* p = buf + n;  // the command name may hold anything: fields start after its last ')'
  while (p > buf && *p != ')') p--;
  if (*p != ')' || p[1] != ' ') return false;
  *state = p[2];
  // Field 20 (num_threads) is the 18th after the state (field 3).
  p += 2;
  for (int field = 3; field < 20 && *p; p++)
    if (*p == ' ') field++;
  uint64_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + uint64_t(*p - '0');
  *threads = v;
  return true;
}

bool only_thread_left() {
  char state;
  uint64_t threads;
  if (!read_stat("/proc/self/stat", &state, &threads)) return false;
  if (threads == 1) return true;
  if (threads != 2) return false;
  // After pthread_exit in main the leader stays, a zombie, until the whole process
  // ends, and still counts.
  char path[64] = "/proc/self/task/";
  size_t len = 16;
  char digits[16];
  int nd = 0;
  for (uint64_t pid = uint64_t(getpid()); pid; pid /= 10) digits[nd++] = char('0' + pid % 10);
  while (nd) path[len++] = digits[--nd];
  const char tail[] = "/stat";
  for (size_t i = 0; i < sizeof(tail); i++) path[len++] = tail[i];
  uint64_t unused;
  return read_stat(path, &state, &unused) && state == 'Z';
}

int32_t thread_id() { return int32_t(syscall(SYS_gettid)); }
int32_t process_id() { return int32_t(getpid()); }
bool is_main_thread() { return getpid() == thread_id(); }
// tgkill on our own process, which sandboxes that filter kill() by target still allow.
// Any error but ESRCH (a filter's EPERM) reads as alive, and so does a thread that took
// the id since: either only delays a release.
bool thread_gone(int32_t tid) { return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH; }

uint64_t rss_bytes() { return status_kb("VmRSS:") * 1024; }
uint64_t rss_peak_bytes() { return status_kb("VmHWM:") * 1024; }

void write_all(int fd, const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s += w;
    n -= size_t(w);
  }
}

void yield_cpu() { sched_yield(); }

void wait_on(const uint32_t* word, uint32_t expected, uint32_t timeout_ms) {
  struct timespec ts = {time_t(timeout_ms / 1000), long(timeout_ms % 1000) * 1000000L};
  // Private futex: the word is never shared with another process.
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout_ms ? &ts : nullptr, nullptr, 0);
}

void wake_all(const uint32_t* word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0); }

bool start_thread(void* (*fn)(void*), void* arg, const char* name) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // The new thread inherits the mask in force at pthread_create.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pthread_t t;
  int rc = pthread_create(&t, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) return false;
  pthread_setname_np(t, name);
  return true;
}

void abort_process() {
  // abort() would run our SIGABRT handler (which dumps the debug ring) and then
  // the default action, which is what a user's core dump expects.
  abort();
}

}  // namespace hakmem::os
