// A vfork() child that calls malloc (outside POSIX, but real programs do it, printf in
// the child among them) runs on its parent thread's TLS, so whatever hakmem sets up for
// "the thread" there (a nursery record, a heap) lives on in the parent thread. Its
// kernel id must not be the child's: once the child is gone, the check for threads that
// ended without hakmem's exit hook would take the parent thread for gone and release
// its record or tear down its heap under it.
// The vforking thread allocated nothing before (so the child creates its record or
// heap), then keeps allocating and idles while the main thread calls malloc_trim (which
// checks every record and heap); then it exits. Both kinds: the child takes a few small
// blocks (a record), or many (a heap). Pass: no crash, the parent thread's blocks intact,
// and hakmem's live-thread count back where it started. With the child's id kept, the
// record kind ends one thread short (1 -> 0: the record released twice); the heap kind
// is torn down under its thread without changing the count, so there it is a smoke test.
#include <pthread.h>
#include <sys/wait.h>

#include <atomic>

#include "hostile_common.h"

using namespace hostile;

namespace {

int g_child_blocks = 0;
std::atomic<int> g_stage{0};

__attribute__((noinline)) void child_allocates() {
  for (int i = 0; i < g_child_blocks; i++) {
    void* volatile p = malloc(48);
    free(p);
  }
}

void* vforker(void*) {
  pid_t pid = vfork();
  if (pid < 0) die("vfork");
  if (pid == 0) {
    child_allocates();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  void* blocks[64];
  for (int i = 0; i < 64; i++) {
    blocks[i] = malloc(16 + 16 * size_t(i % 8));
    if (!blocks[i]) die("malloc");
    stamp(blocks[i], 16 + 16 * size_t(i % 8));
  }
  g_stage.store(1);
  while (g_stage.load() != 2) usleep(1000);  // idle while main trims
  for (int i = 0; i < 64; i++) {
    verify(blocks[i], 16 + 16 * size_t(i % 8));
    free(blocks[i]);
  }
  return nullptr;
}

bool run(int child_blocks, const char* name) {
  g_child_blocks = child_blocks;
  g_stage.store(0);
  malloc_trim(0);
  const uint64_t live0 = threads_live();
  pthread_t t;
  if (pthread_create(&t, nullptr, vforker, nullptr)) die("pthread_create");
  while (g_stage.load() != 1) usleep(1000);
  usleep(300000);  // idle past the reclaimers' idleness threshold
  malloc_trim(0);  // asks about every record and heap
  malloc_trim(0);
  g_stage.store(2);
  pthread_join(t, nullptr);
  malloc_trim(0);
  const uint64_t live1 = threads_live();
  bool ok = live1 >= live0 && live1 <= live0 + (purger_rounds() ? 1 : 0);
  printf("vfork_malloc (%s), child %s: live threads %llu -> %llu: %s\n", allocator_name(), name,
         static_cast<unsigned long long>(live0), static_cast<unsigned long long>(live1), ok ? "ok" : "FAILED");
  return ok;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  // Each in a subject process of its own: a count one off in the first must not hide
  // the second.
  int failed = run_subject("vfork_malloc record", 30000, [] { return run(3, "takes nursery blocks") ? 0 : 1; });
  failed += run_subject("vfork_malloc heap", 30000, [] { return run(400, "gets a heap") ? 0 : 1; });
  return failed ? 1 : 0;
}
