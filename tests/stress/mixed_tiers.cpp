// Every tier at once, freed across threads: threads replace random entries of a shared
// table (as in Larson), so tiny, mid and large (> 128 KiB) blocks are all freed by
// threads that did not allocate them. Some blocks come from calloc and must be zero.
#include <mutex>
#include <thread>
#include <vector>

#include "stress_common.h"

using namespace stress;

namespace {

struct Block {
  void* p = nullptr;
  size_t n = 0;
};

constexpr size_t kSlots = 4096;
std::mutex g_locks[64];
Block g_table[kSlots];

bool all_zero(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i += (i < 4096 ? 1 : 61))
    if (b[i] != 0) return false;
  return n == 0 || b[n - 1] == 0;
}

Block fresh(Rng& rng) {
  Block b;
  b.n = random_size(rng, 1);
  void* p;
  if (rng.chance(10)) {
    p = hak_calloc(1, b.n);
    if (p && !all_zero(p, b.n)) die("calloc returned dirty memory", p, b.n);
  } else {
    p = hak_malloc(b.n);
  }
  b.p = checked_new(p, b.n);
  return b;
}

void worker(int id, size_t iterations) {
  Rng rng(static_cast<uint64_t>(id) * 1000003 + 17);
  for (size_t it = 0; it < iterations; ++it) {
    Block mine = fresh(rng);
    size_t slot = rng.below(kSlots);
    {
      std::lock_guard<std::mutex> g(g_locks[slot % 64]);
      std::swap(mine, g_table[slot]);
    }
    if (mine.p) {
      verify(mine.p, mine.n);
      if (rng.chance(25)) hak_free_sized(mine.p, mine.n);
      else hak_free(mine.p);
    }
  }
}

}  // namespace

int main() {
  const int threads = 4;
  const size_t iterations = scaled(120000, 15000);
  run_rounds("mixed_tiers", 3, [&](int round) {
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i) ts.emplace_back(worker, i + round * threads, iterations);
    for (auto& t : ts) t.join();
    std::thread([] {
      for (auto& b : g_table) {
        if (!b.p) continue;
        verify(b.p, b.n);
        hak_free(b.p);
        b = Block{};
      }
    }).join();
  });
  puts("mixed_tiers: ok");
  return 0;
}
