// realloc and aligned allocation from many threads, with cross-thread frees and
// cross-thread reallocs of those blocks. Threads swap blocks through a shared table,
// so the block a thread reallocates or frees was usually allocated by another thread.
#include <mutex>
#include <thread>
#include <vector>

#include "stress_common.h"

using namespace stress;

namespace {

struct Block {
  void* p = nullptr;
  size_t n = 0;
  size_t align = 16;  // what the block was allocated with (16 after a realloc)
};

constexpr size_t kShared = 256;
std::mutex g_locks[16];
Block g_shared[kShared];

Block aligned_new(Rng& rng) {
  Block b;
  b.align = size_t{8} << rng.below(14);  // 8 .. 64 KiB
  b.n = rng.chance(5) ? 128 * KiB + rng.below(512 * KiB) : rng.below(3 * b.align + 200);
  void* p = nullptr;
  switch (rng.below(3)) {
    case 0:
      if (hak_posix_memalign(&p, b.align, b.n) != 0) die("posix_memalign failed", p, b.n, b.align);
      break;
    case 1:
      p = hak_aligned_alloc(b.align, b.n == 0 ? 1 : b.n);
      break;
    default:
      p = hak_memalign(b.align, b.n);
      break;
  }
  b.p = checked_new(p, b.n, b.align);
  return b;
}

void reallocate(Rng& rng, Block& b) {
  size_t m = rng.chance(50) ? b.n / 2 + rng.below(64) : b.n + 1 + rng.below(b.n + 4096);
  if (rng.chance(3)) m = 128 * KiB + rng.below(256 * KiB);
  if (m == 0) m = 1;  // realloc(p, 0) frees
  void* q = hak_realloc(b.p, m);
  if (!q) die("realloc failed", b.p, m);
  verify_as(q, b.n, b.p, m < b.n ? m : b.n, "contents after realloc");
  b = {checked_new(q, m), m, 16};
}

void release(Rng& rng, Block& b) {
  verify(b.p, b.n);
  if (b.align > 16 && rng.chance(30)) hak_free_aligned_sized(b.p, b.align, b.n);
  else hak_free(b.p);
  b = Block{};
}

void worker(int id, size_t iterations) {
  Rng rng(static_cast<uint64_t>(id) * 31 + 11);
  std::vector<Block> local(64);
  for (size_t it = 0; it < iterations; ++it) {
    Block& b = local[rng.below(local.size())];
    switch (rng.below(4)) {
      case 0:  // replace with a fresh aligned block
        if (b.p) release(rng, b);
        b = aligned_new(rng);
        break;
      case 1:  // grow or shrink (the block may have come from another thread)
        if (b.p) reallocate(rng, b);
        break;
      case 2: {  // swap with the shared table
        size_t slot = rng.below(kShared);
        std::lock_guard<std::mutex> g(g_locks[slot % 16]);
        std::swap(b, g_shared[slot]);
        break;
      }
      default:
        if (b.p) release(rng, b);
        break;
    }
  }
  for (auto& b : local)
    if (b.p) release(rng, b);
}

}  // namespace

int main() {
  const int threads = 4;
  const size_t iterations = scaled(150000, 20000);
  run_rounds("realloc_aligned", 3, [&](int round) {
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i) ts.emplace_back(worker, i + round * threads, iterations);
    for (auto& t : ts) t.join();
    std::thread([] {
      Rng rng(99);
      for (auto& b : g_shared)
        if (b.p) release(rng, b);
    }).join();
  });
  puts("realloc_aligned: ok");
  return 0;
}
