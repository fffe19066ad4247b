// fork() from a thread past hakmem's teardown: the forking thread is exiting, and a TLS
// destructor (a pthread key created after hakmem's, so it runs after hakmem's own exit
// hook) forks. In the parent, a holder thread keeps 64 MiB of small blocks in slabs of
// its own heap and a heapless thread keeps a few nursery blocks, both alive and waiting.
// In the child neither exists: their heaps and records must be taken over as for any
// fork, although the forking thread has no heap left to take them over with. The child
// checks that no thread of the parent still counts as live, frees the holder's blocks,
// and after malloc_trim(0) finds the memory gone from its resident set; then it
// allocates on new threads and exits. Three rounds: the forking thread held a heap, only
// nursery blocks, or nothing at all before it exited.
#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr size_t kHeldBytes = 64u << 20;
constexpr size_t kMaxBlocks = kHeldBytes / 64;
constexpr unsigned kChildTimeoutMs = 20000;

struct Block {
  void* p;
  size_t n;
};

Block* g_held = nullptr;  // the holder's blocks (mmap'd by the test's main, not malloc)
size_t g_held_count = 0;
void* g_nursery_blocks[3];

std::mutex g_mu;
std::condition_variable g_cv;
int g_ready = 0;
bool g_release = false;

enum class Forker { kHeap, kHeapless, kNothing };
pthread_key_t g_key;
std::atomic<pid_t> g_child{0};

void wait_for_release() {
  std::unique_lock<std::mutex> lk(g_mu);
  g_ready++;
  g_cv.notify_all();
  g_cv.wait(lk, [] { return g_release; });
}

void holder() {
  Rng rng(7);
  size_t total = 0;
  g_held_count = 0;
  while (total < kHeldBytes && g_held_count < kMaxBlocks) {
    size_t n = 64 + rng.below(4033);
    void* p = malloc(n);
    if (!p) die("malloc failed in the holder");
    stamp(p, n);
    g_held[g_held_count++] = Block{p, n};
    total += n;
  }
  wait_for_release();
}

void heapless() {
  for (auto& p : g_nursery_blocks) {
    p = malloc(32);
    if (!p) die("malloc failed in the heapless thread");
    stamp(p, 32);
  }
  wait_for_release();
}

void child_main() {
  HOSTILE_CHECK(threads_live() <= 1, "the parent's threads still count as live in the child");
  size_t held = 0;
  for (size_t i = 0; i < g_held_count; i++) held += g_held[i].n;
  uint64_t before = rss_bytes();
  for (size_t i = 0; i < g_held_count; i++) {
    verify(g_held[i].p, g_held[i].n);
    free(g_held[i].p);
  }
  for (void* p : g_nursery_blocks) {
    verify(p, 32);
    free(p);
  }
  malloc_trim(0);
  uint64_t after = rss_bytes();
  if (before < after || before - after < held * 3 / 4) {
    fprintf(stderr, "hostile FAILURE: child freed %zu MiB of a dead thread's blocks and trimmed: RSS %llu -> %llu MiB\n",
            held >> 20, static_cast<unsigned long long>(before >> 20), static_cast<unsigned long long>(after >> 20));
    _exit(3);
  }
  // The child's own allocator still works, on new threads too.
  std::thread workers[2];
  for (auto& w : workers)
    w = std::thread([] {
      Rng rng(11);
      std::vector<Block> mine;
      for (int i = 0; i < 20000; i++) {
        size_t n = 1 + rng.below(8192);
        void* p = malloc(n);
        if (!p) die("malloc failed in the child");
        stamp(p, n);
        mine.push_back(Block{p, n});
        if (mine.size() > 256) {
          size_t k = rng.below(mine.size());
          verify(mine[k].p, mine[k].n);
          free(mine[k].p);
          mine[k] = mine.back();
          mine.pop_back();
        }
      }
      for (auto& b : mine) free(b.p);
    });
  for (auto& w : workers) w.join();
  _exit(0);
}

void fork_in_destructor(void*) {
  pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) child_main();
  g_child.store(pid);
}

void forker(Forker kind) {
  if (kind == Forker::kHeap) {
    std::vector<void*> blocks;
    for (int i = 0; i < 4096; i++) blocks.push_back(malloc(48));
    for (void* p : blocks) free(p);
  } else if (kind == Forker::kHeapless) {
    void* volatile p = malloc(24);  // volatile: the pair must not be optimised away
    free(p);
  }
  pthread_setspecific(g_key, reinterpret_cast<void*>(1));
}

bool round(Forker kind, const char* name) {
  g_ready = 0;
  g_release = false;
  g_child.store(0);
  std::thread h(holder), l(heapless);
  {
    std::unique_lock<std::mutex> lk(g_mu);
    g_cv.wait(lk, [] { return g_ready == 2; });
  }
  std::thread f(forker, kind);
  f.join();
  pid_t pid = g_child.load();
  HOSTILE_CHECK(pid > 0, "the destructor did not fork");
  Reaper reaper(name, kChildTimeoutMs);
  reaper.add(pid);
  reaper.drain();
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_release = true;
  }
  g_cv.notify_all();
  h.join();
  l.join();
  for (size_t i = 0; i < g_held_count; i++) free(g_held[i].p);
  for (void* p : g_nursery_blocks) free(p);
  bool ok = reaper.clean();
  printf("fork_from_destructor: forking thread with %s: %s\n", name, ok ? "ok" : "FAILED");
  return ok;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  if (pthread_key_create(&g_key, fork_in_destructor) != 0) die("pthread_key_create");
  g_held = static_cast<Block*>(mmap(nullptr, kMaxBlocks * sizeof(Block), PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (g_held == MAP_FAILED) die("mmap");
  bool ok = round(Forker::kHeap, "a heap");
  ok &= round(Forker::kHeapless, "only nursery blocks");
  ok &= round(Forker::kNothing, "nothing");
  return ok ? 0 : 1;
}
