// fork() from a multithreaded program whose threads allocate and free continuously.
// Each child frees blocks it inherited (allocated by parent threads that do not exist
// in the child), allocates and frees a lot on several threads with cross-thread frees,
// forks a grandchild, and exits normally. The parent checks every exit status.
// Run preloaded (LD_PRELOAD=libhakmem.so) and linked with libhakmem.
//   --expect-hakmem: fail unless malloc here is hakmem's (hak_owns found and true).
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "block_stamp.h"

using namespace preload_test;

namespace {

struct Block {
  void* p;
  size_t n;
  bool cxx;  // from new[], so delete[] it
};

std::atomic<bool> g_stop{false};
std::mutex g_shared_mutex;
std::vector<Block> g_shared;  // blocks the parent's threads publish for the children

Block make(Rng& rng) {
  size_t n = rng.size();
  bool cxx = rng.below(4) == 0;
  void* p = cxx ? static_cast<void*>(new char[n]) : malloc(n);
  if (!p) abort();
  stamp(p, n);
  return {p, n, cxx};
}

void release(const Block& b, const char* who) {
  verify(b.p, b.n, who);
  if (b.cxx) delete[] static_cast<char*>(b.p);
  else free(b.p);
}

void parent_churn(int id) {
  Rng rng(static_cast<uint64_t>(id) + 100);
  std::vector<Block> ring(128, Block{nullptr, 0, false});
  size_t i = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    Block& slot = ring[i++ % ring.size()];
    if (slot.p) release(slot, "parent thread");
    slot = make(rng);
    if (rng.below(64) == 0) {
      std::lock_guard<std::mutex> g(g_shared_mutex);
      if (g_shared.size() < 4096) g_shared.push_back(make(rng));
    }
  }
  for (auto& b : ring)
    if (b.p) release(b, "parent thread");
}

// Child: two threads allocate, hand blocks to each other, and free what they get.
int child_main(int child, std::vector<Block> inherited, bool nested) {
  alarm(30);  // a deadlocked child dies, and the parent sees it
  Rng rng(static_cast<uint64_t>(child) * 7 + 1);
  for (size_t k = 0; k < inherited.size(); k += 2) release(inherited[k], "child, inherited");

  std::mutex m;
  std::vector<Block> box[2];
  auto work = [&](int me) {
    Rng r(static_cast<uint64_t>(child) * 131 + static_cast<uint64_t>(me));
    for (int round = 0; round < 300; ++round) {
      std::vector<Block> batch;
      for (int k = 0; k < 64; ++k) batch.push_back(make(r));
      std::vector<Block> mine;
      {
        std::lock_guard<std::mutex> g(m);
        for (auto& b : batch) box[1 - me].push_back(b);
        mine.swap(box[me]);
      }
      for (auto& b : mine) release(b, "child thread");
    }
  };
  std::thread a(work, 0), b(work, 1);
  a.join();
  b.join();
  for (auto& bx : box)
    for (auto& blk : bx) release(blk, "child main");
  for (size_t k = 1; k < inherited.size(); k += 2) release(inherited[k], "child, inherited");

  if (nested) {  // a grandchild, forked from a child that has threads of its own run
    pid_t g = fork();
    if (g == 0) {
      for (int k = 0; k < 10000; ++k) release(make(rng), "grandchild");
      exit(0);
    }
    int status = 0;
    if (g < 0 || waitpid(g, &status, 0) != g || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "child %d: grandchild failed (status %#x)\n", child, status);
      return 1;
    }
  }
  std::string s;
  for (int k = 0; k < 1000; ++k) s += std::to_string(k);  // C++ allocations after all that
  return s.size() == 2890 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  alarm(90);
  if (argc > 1 && strcmp(argv[1], "--expect-hakmem") == 0) {
    auto owns = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "hak_owns"));
    void* p = malloc(100);
    if (!owns || !owns(p)) {
      fprintf(stderr, "fork_test: malloc is not hakmem's (hak_owns %s)\n", owns ? "says no" : "not found");
      return 1;
    }
    free(p);
  }

  std::vector<std::thread> churn;
  for (int i = 0; i < 3; ++i) churn.emplace_back(parent_churn, i);
  Rng rng(7);
  std::vector<pid_t> children;
  for (int c = 0; c < 8; ++c) {
    usleep(20000);  // let the parent's threads get going between forks
    std::vector<Block> inherited;
    pid_t pid;
    {
      // Hold the lock across fork() so the child's copy of the list is consistent.
      std::lock_guard<std::mutex> g(g_shared_mutex);
      size_t take = g_shared.size() / 2;
      inherited.assign(g_shared.end() - static_cast<long>(take), g_shared.end());
      g_shared.resize(g_shared.size() - take);
      for (int k = 0; k < 200; ++k) inherited.push_back(make(rng));
      pid = fork();
    }
    if (pid < 0) {
      perror("fork");
      return 1;
    }
    if (pid == 0) exit(child_main(c, std::move(inherited), c % 3 == 0));
    // In the parent, the inherited blocks are the parent's to free too.
    for (auto& b : inherited) release(b, "parent main");
    children.push_back(pid);
  }

  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
      perror("waitpid");
      return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "fork_test: child %d %s %d\n", pid,
              WIFSIGNALED(status) ? "killed by signal" : "exited with status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      ++failed;
    }
  }
  g_stop = true;
  for (auto& t : churn) t.join();
  for (auto& b : g_shared) release(b, "parent main");
  if (failed) return 1;
  puts("fork_test: ok");
  return 0;
}
