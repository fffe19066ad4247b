// Waves of short-lived threads that live off the nursery: a thread's first blocks of
// each class come from the shared heap, which all threads take turns on under its
// lock, and every free of such a block is a remote free into the shared heap's slabs.
// Each wave starts 16 threads together; each allocates a few blocks in many classes
// (most within its nursery quota, some classes past it), stamps them, hands half of
// them to a thread of the next wave, frees the rest and the half the previous wave
// handed it, and exits. The main thread checks, while a wave holds its blocks, that no
// two live blocks overlap, and calls hak_collect between waves and during some (it
// tends the shared heap while remote frees pour into it). At the end, after a final
// hak_collect, no block may be counted in use beyond what was before the storm.
#include <algorithm>
#include <barrier>
#include <thread>
#include <vector>

#include "stress_common.h"

using namespace stress;

namespace {

constexpr int kThreads = 16;

struct Block {
  void* p;
  size_t n;
  uint64_t id;  // the stamp's key: two live blocks never share one, even at one address
};

std::atomic<uint64_t> g_next_id{1};
std::atomic<uint64_t> g_allocated{0}, g_freed{0};

const void* key_of(const Block& b) { return reinterpret_cast<const void*>(b.id); }

Block new_block(size_t n) {
  void* p = hak_malloc(n);
  if (p == nullptr) die("allocation failed", p, n);
  if (reinterpret_cast<uintptr_t>(p) % 16 != 0) die("misaligned", p, n);
  if (hak_malloc_usable_size(p) < n) die("usable size too small", p, n, hak_malloc_usable_size(p));
  Block b{p, n, g_next_id.fetch_add(1, std::memory_order_relaxed)};
  stamp_as(p, n, key_of(b));
  g_allocated.fetch_add(1, std::memory_order_relaxed);
  return b;
}

void free_block(const Block& b, const char* ctx) {
  verify_as(b.p, b.n, key_of(b), b.n, ctx);
  hak_free(b.p);
  g_freed.fetch_add(1, std::memory_order_relaxed);
}

// Up to 64 KiB, log-uniform: small classes (rounded up to whole cache lines in the
// nursery), mid-size ones (a nursery quota of a few blocks, or one).
size_t storm_size(Rng& r) {
  unsigned bits = 4 + static_cast<unsigned>(r.below(12));  // 16 B .. 64 KiB
  size_t lo = size_t{1} << bits;
  return lo - 8 + r.below(lo);  // a few bytes below the power of two too
}

// The blocks of one thread of a wave: `mine` while it runs, `handed` for the next wave.
struct Slot {
  std::vector<Block> mine, handed;
};

void storm_thread(Rng rng, Slot& slot, std::vector<Block>& inherited, std::barrier<>& go, std::barrier<>& allocated,
                  std::barrier<>& checked) {
  go.arrive_and_wait();  // all 16 at the shared heap's lock at once
  // A few blocks in each of many sizes; a few sizes get 20, past any class's quota.
  const int sizes = 20 + static_cast<int>(rng.below(20));
  for (int i = 0; i < sizes; ++i) {
    const size_t n = storm_size(rng);
    const size_t count = rng.chance(10) ? 20 : 1 + rng.below(4);
    for (size_t k = 0; k < count; ++k) slot.mine.push_back(new_block(n));
  }
  // Half of them, every other one, to the next wave.
  for (size_t i = 1; i < slot.mine.size(); i += 2) slot.handed.push_back(slot.mine[i]);
  allocated.arrive_and_wait();  // the main thread checks the live blocks
  checked.arrive_and_wait();
  for (const Block& b : inherited) free_block(b, "verify a block of the previous wave");
  inherited.clear();
  for (size_t i = 0; i < slot.mine.size(); i += 2) free_block(slot.mine[i], "verify before free");
  slot.mine.clear();
}

// Every live block: the previous wave's handed half (not freed yet) and every block of
// the wave's threads. None may overlap another.
void check_disjoint(const std::vector<Block>* inherited, const Slot* slots) {
  std::vector<Block> live;
  for (int t = 0; t < kThreads; ++t) {
    live.insert(live.end(), inherited[t].begin(), inherited[t].end());
    live.insert(live.end(), slots[t].mine.begin(), slots[t].mine.end());
  }
  std::sort(live.begin(), live.end(), [](const Block& a, const Block& b) { return a.p < b.p; });
  for (size_t i = 1; i < live.size(); ++i) {
    const auto end_prev = reinterpret_cast<uintptr_t>(live[i - 1].p) + live[i - 1].n;
    if (end_prev > reinterpret_cast<uintptr_t>(live[i].p)) die("live blocks overlap (handed out twice)", live[i].p, live[i].n);
  }
}

uint64_t blocks_in_use(const hak_stats& s) {
  uint64_t n = s.large_blocks;
  for (uint32_t c = 0; c < s.num_classes; ++c) n += s.classes[c].blocks_in_use;
  return n;
}

uint64_t remote_frees(const hak_stats& s) {
  uint64_t n = 0;
  for (uint32_t c = 0; c < s.num_classes; ++c) n += s.classes[c].remote_frees;
  return n;
}

uint64_t blocks_pending(const hak_stats& s) {
  uint64_t n = 0;
  for (uint32_t c = 0; c < s.num_classes; ++c) n += s.classes[c].blocks_pending;
  return n;
}

}  // namespace

int main() {
  const size_t waves = scaled(400, 40);
  static hak_stats before, after;  // big: not on the stack
  hak_collect();
  hak_stats_get(&before);

  std::vector<Block> inherited[kThreads];  // handed by the previous wave, freed by this one
  Slot slots[kThreads];
  uint64_t seed = 1;
  for (size_t w = 0; w < waves; ++w) {
    std::barrier<> go(kThreads), ready(kThreads + 1), checked(kThreads + 1);
    std::vector<std::thread> wave;
    for (int t = 0; t < kThreads; ++t)
      wave.emplace_back(storm_thread, Rng(seed++), std::ref(slots[t]), std::ref(inherited[(t + 3 + w) % kThreads]),
                        std::ref(go), std::ref(ready), std::ref(checked));
    ready.arrive_and_wait();
    check_disjoint(inherited, slots);
    checked.arrive_and_wait();
    if (w % 4 == 2) hak_collect();  // while the wave frees into the shared heap
    for (auto& th : wave) th.join();
    for (int t = 0; t < kThreads; ++t) {
      STRESS_CHECK(inherited[t].empty() && slots[t].mine.empty(), "a thread left blocks unfreed");
      inherited[t].swap(slots[t].handed);
    }
    if (w % 3 == 1) hak_collect();
  }
  // The last wave's handed half: freed by one more thread, which exits (flushing its
  // caches, which count as in use).
  std::thread([&] {
    for (auto& list : inherited) {
      for (const Block& b : list) free_block(b, "verify the last wave's blocks");
      list.clear();
    }
  }).join();
  hak_collect();
  hak_stats_get(&after);

  const uint64_t allocated = g_allocated.load(), freed = g_freed.load();
  fprintf(stderr, "nursery_storm: %zu waves of %d threads, %" PRIu64 " blocks allocated and %" PRIu64
          " freed; blocks in use %" PRIu64 " before, %" PRIu64 " after; in remote queues %" PRIu64 " before, %" PRIu64
          " after; %" PRIu64 " remote frees; superslabs peak %" PRIu64 "\n",
          waves, kThreads, allocated, freed, blocks_in_use(before), blocks_in_use(after), blocks_pending(before),
          blocks_pending(after), remote_frees(after) - remote_frees(before), after.superslabs_peak);
  STRESS_CHECK(allocated == freed, "every block allocated was freed");
  // Every block the storm took was freed, and every thread that took one has exited
  // (flushing its caches): nothing it allocated may still count as in use.
  STRESS_CHECK(blocks_in_use(after) <= blocks_in_use(before), "blocks still counted in use after the storm");
  // Nobody allocates from the shared heap after the storm: what was freed into it is
  // drained only by its tending (hak_collect). Without it ~2300 blocks stay queued.
  STRESS_CHECK(blocks_pending(after) == 0, "freed blocks left waiting in remote queues after hak_collect");
  // That the storm went through the nursery: its blocks' frees are all remote frees
  // (~79% of the frees here; ~30% with every block in a slab its thread owns).
  STRESS_CHECK((remote_frees(after) - remote_frees(before)) * 10 >= freed * 6, "most frees are remote frees");
  puts("nursery_storm: ok");
  return 0;
}
