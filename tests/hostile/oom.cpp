// Out of memory, with the real malloc (libhakmem.so linked): under RLIMIT_AS, in a
// child process, allocations of growing sizes and then of small blocks run until they
// fail. Every failure must be a NULL with errno ENOMEM (ENOMEM from posix_memalign,
// std::bad_alloc from new), never a crash; a failed realloc leaves its block intact;
// after everything is freed, and again after the limit is raised, allocation works.
#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <new>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr size_t MiB = 1024 * 1024;
constexpr size_t kHeadroom = 256 * MiB;  // address space left to the allocator

size_t address_space_in_use() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) die("cannot read /proc/self/statm");
  unsigned long pages = 0;
  if (fscanf(f, "%lu", &pages) != 1) die("cannot parse /proc/self/statm");
  fclose(f);
  return pages * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Blocks are chained through their first word; the rest is stamped.
struct Chain {
  void* head = nullptr;
  size_t count = 0;
  void push(void* p, size_t n) {
    stamp(p, n);
    *static_cast<void**>(p) = head;
    head = p;
    count++;
  }
  void free_all(size_t n) {
    while (head) {
      void* p = head;
      head = *static_cast<void**>(p);
      stamp_check_after_link(p, n);
      free(p);
    }
    count = 0;
  }
  static void stamp_check_after_link(void* p, size_t n) {
    // The link overwrote the first word: restore what stamp() wrote there, then verify.
    test_common::stamp_as(p, n, p, sizeof(void*));
    verify(p, n);
  }
};

void expect_enomem(void* p, const char* what) {
  if (p) die(what, p);
  if (errno != ENOMEM) {
    fprintf(stderr, "hostile FAILURE: %s: errno %d, want ENOMEM\n", what, errno);
    abort();
  }
}

int child() {
  require_hakmem_malloc();
  rlimit old;
  getrlimit(RLIMIT_AS, &old);
  rlimit lim = old;
  lim.rlim_cur = address_space_in_use() + kHeadroom;
  if (setrlimit(RLIMIT_AS, &lim) != 0) die("setrlimit(RLIMIT_AS)");

  // 1. Growing sizes, all kept, until one fails.
  Chain big[40];
  size_t big_size[40] = {};
  size_t n = 64 * 1024;
  int k = 0;
  for (;; n = n * 3 / 2, k++) {
    if (k >= 40) die("growing allocations never failed under RLIMIT_AS");
    errno = 0;
    void* p = (k & 1) ? hak_malloc(n) : malloc(n);
    if (!p) {
      expect_enomem(p, "growing malloc");
      break;
    }
    big[k].push(p, n);
    big_size[k] = n;
  }
  size_t failed_size = n;

  // 2. Small blocks until none is left.
  Chain small;
  for (;;) {
    errno = 0;
    void* p = malloc(200);
    if (!p) {
      expect_enomem(p, "small malloc");
      break;
    }
    small.push(p, 200);
    if (small.count > (kHeadroom / 200) * 4) die("small allocations never failed under RLIMIT_AS");
  }

  size_t small_count = small.count;

  // 3. Everything else fails cleanly while memory is exhausted.
  errno = 0;
  expect_enomem(calloc(1, 64 * MiB), "calloc");
  errno = 0;
  expect_enomem(hak_calloc(64, MiB), "hak_calloc");
  void* q = nullptr;
  HOSTILE_CHECK(posix_memalign(&q, 4096, 64 * MiB) == ENOMEM, "posix_memalign must return ENOMEM");
  errno = 0;
  expect_enomem(aligned_alloc(1 * MiB, 64 * MiB), "aligned_alloc");
  {
    void* keep = small.head;  // a live block: a failed realloc must leave it alone
    small.head = *static_cast<void**>(keep);
    small.count--;
    Chain::stamp_check_after_link(keep, 200);
    errno = 0;
    expect_enomem(realloc(keep, 64 * MiB), "realloc");
    verify(keep, 200);
    free(keep);
  }
  // ::operator new called as a function: a new-expression could be optimised away.
  bool threw = false;
  try {
    void* v = ::operator new(64 * MiB);
    ::operator delete(v);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  HOSTILE_CHECK(threw, "operator new must throw std::bad_alloc");
  HOSTILE_CHECK(::operator new(64 * MiB, std::nothrow) == nullptr, "nothrow new must return nullptr");

  // 4. Free everything: the same limit now has room again, for small and big blocks.
  small.free_all(200);
  for (int i = 0; i < 40; i++) big[i].free_all(big_size[i]);
  for (int i = 0; i < 1000; i++) {
    void* p = alloc_stamped(200);
    free_verified(p, 200);
  }
  size_t again = failed_size * 2 / 3 / 2;  // half of the last size that succeeded
  void* p = malloc(again);
  if (!p) {
    fprintf(stderr, "hostile FAILURE: after freeing everything, malloc(%zu) fails (errno %d): "
            "freed memory is still charged to the address space\n", again, errno);
    abort();
  }
  stamp(p, again);
  free_verified(p, again);

  // 5. Raise the limit: a request the old limit refused now succeeds.
  if (setrlimit(RLIMIT_AS, &old) != 0) die("setrlimit(RLIMIT_AS) back");
  p = malloc(failed_size);
  if (!p) die("malloc still fails after the limit was raised", nullptr, failed_size);
  stamp(p, failed_size);
  free_verified(p, failed_size);
  void* v = ::operator new(64 * MiB);
  static_cast<char*>(v)[64 * MiB - 1] = 1;
  ::operator delete(v);
  printf("oom: growing sizes failed at %zu bytes (ENOMEM), small blocks after %zu more; recovered after free and after raising the limit\n", failed_size, small_count);
  fflush(stdout);
  return 0;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    alarm(50);
    _exit(child());
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) die("waitpid");
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "hostile FAILURE: the out-of-memory child died of signal %d\n", WTERMSIG(status));
    return 1;
  }
  if (WEXITSTATUS(status) != 0) {
    fprintf(stderr, "hostile FAILURE: the out-of-memory child exited with %d\n", WEXITSTATUS(status));
    return 1;
  }
  printf("oom: PASS\n");
  return 0;
}
