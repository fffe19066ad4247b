// A program that is not linked with hakmem loads libhakmem.so late with dlopen(),
// after its threads exist, and calls hak_malloc/hak_free through dlsym from those
// threads and from new ones. hakmem must not need static TLS space the loader cannot
// give a library opened late ("cannot allocate memory in static TLS block"), nor
// take over this process's malloc (it was opened RTLD_LOCAL).
// Usage: dlopen_test path/to/libhakmem.so
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "block_stamp.h"

using namespace preload_test;

namespace {

using malloc_fn = void* (*)(size_t);
using free_fn = void (*)(void*);
using owns_fn = int (*)(const void*);
using usable_fn = size_t (*)(const void*);
using realloc_fn = void* (*)(void*, size_t);

malloc_fn hak_malloc;
free_fn hak_free;
owns_fn hak_owns;
usable_fn hak_usable;
realloc_fn hak_realloc;

struct Block {
  void* p;
  size_t n;
};

std::mutex g_mutex;
std::condition_variable g_cv;
bool g_loaded = false;
std::vector<Block> g_exchange;
std::atomic<int> g_failures{0};

[[noreturn]] void fail(const char* what, const char* detail = "") {
  fprintf(stderr, "dlopen_test: %s%s\n", what, detail);
  fflush(stderr);
  _exit(1);  // threads are still waiting: no normal return
}

bool mapped(const char* needle) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

void work(int id) {
  Rng rng(static_cast<uint64_t>(id) + 1);
  std::vector<Block> mine;
  for (int round = 0; round < 400; ++round) {
    for (int k = 0; k < 32; ++k) {
      size_t n = rng.size();
      void* p = hak_malloc(n);
      if (!p || !hak_owns(p) || hak_usable(p) < n) {
        fprintf(stderr, "dlopen_test: bad block %p of %zu\n", p, n);
        ++g_failures;
        return;
      }
      stamp(p, n);
      if (k % 8 == 0) {  // grow it through realloc; the contents move with it
        void* q = hak_realloc(p, n + 100);
        if (!q) abort();
        verify_moved(q, n, p, "dlopen_test (after realloc)");
        p = q;
        n += 100;
        stamp(p, n);
      }
      mine.push_back({p, n});
    }
    // Swap half of our blocks with the other threads: cross-thread frees.
    std::vector<Block> theirs;
    {
      std::lock_guard<std::mutex> g(g_mutex);
      theirs.swap(g_exchange);
      g_exchange.assign(mine.begin() + static_cast<long>(mine.size() / 2), mine.end());
    }
    mine.resize(mine.size() / 2);
    for (auto& b : theirs) {
      verify(b.p, b.n, "dlopen_test (freed by another thread)");
      hak_free(b.p);
    }
    for (auto& b : mine) {
      verify(b.p, b.n, "dlopen_test (freed by its own thread)");
      hak_free(b.p);
    }
    mine.clear();
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s libhakmem.so\n", argv[0]);
    return 2;
  }
  if (mapped("libhakmem")) {
    fprintf(stderr, "dlopen_test: libhakmem is already loaded; this test needs a program without it\n");
    return 2;
  }
  // Threads that exist before the library is loaded: their static TLS is already laid out.
  std::vector<std::thread> early;
  for (int i = 0; i < 3; ++i)
    early.emplace_back([i] {
      std::unique_lock<std::mutex> lock(g_mutex);
      g_cv.wait(lock, [] { return g_loaded; });
      lock.unlock();
      work(i);
    });

  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) fail("dlopen failed: ", dlerror());
  hak_malloc = reinterpret_cast<malloc_fn>(dlsym(lib, "hak_malloc"));
  hak_free = reinterpret_cast<free_fn>(dlsym(lib, "hak_free"));
  hak_owns = reinterpret_cast<owns_fn>(dlsym(lib, "hak_owns"));
  hak_usable = reinterpret_cast<usable_fn>(dlsym(lib, "hak_malloc_usable_size"));
  hak_realloc = reinterpret_cast<realloc_fn>(dlsym(lib, "hak_realloc"));
  if (!hak_malloc || !hak_free || !hak_owns || !hak_usable || !hak_realloc)
    fail("missing hak_* symbols: ", dlerror());
  // This process's malloc is still glibc's: hakmem does not claim its blocks.
  void* theirs = malloc(64);
  if (hak_owns(theirs)) fail("hak_owns claims a block from the program's own malloc");
  free(theirs);

  {
    std::lock_guard<std::mutex> g(g_mutex);
    g_loaded = true;
  }
  g_cv.notify_all();
  std::vector<std::thread> late;
  for (int i = 3; i < 6; ++i) late.emplace_back(work, i);
  work(6);  // and the main thread
  for (auto& t : early) t.join();
  for (auto& t : late) t.join();
  for (auto& b : g_exchange) {
    verify(b.p, b.n, "dlopen_test (left over)");
    hak_free(b.p);
  }
  dlclose(lib);
  if (g_failures) return 1;
  puts("dlopen_test: ok");
  return 0;
}
