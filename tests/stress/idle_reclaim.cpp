// Reclaimers against owners: owner threads allocate in bursts, hand most blocks to
// freeing threads (remote frees that complete the owners' slabs), free the rest
// themselves, and pause between bursts; a trimming thread calls hak_collect() all the
// time, which reclaims the complete slabs of every other heap, idle or not, acting as
// their owner under the heap's slow lock (heap_reclaim_complete). Every block is
// stamped and verified, so a slab given back while its owner still used it (a block
// handed out twice, a list link written into a live block) shows up as a mismatch.
#include <mutex>
#include <thread>
#include <vector>

#include "stress_common.h"

using namespace stress;

namespace {

struct Block {
  void* p;
  size_t n;
};

struct Handoff {
  std::mutex m;
  std::vector<Block> blocks;
  bool done = false;
};

void owner(Handoff& out, uint64_t seed, int bursts) {
  Rng r(seed);
  std::vector<Block> mine;
  for (int b = 0; b < bursts; ++b) {
    std::vector<Block> theirs;
    const int n = 200 + static_cast<int>(r.below(400));
    for (int i = 0; i < n; ++i) {
      size_t size = random_size(r);
      void* p = checked_new(hak_malloc(size), size);
      (r.below(4) == 0 ? mine : theirs).push_back({p, size});
    }
    {
      std::lock_guard<std::mutex> g(out.m);
      out.blocks.insert(out.blocks.end(), theirs.begin(), theirs.end());
    }
    // Free part of our own blocks now, the rest after the pause: local frees into
    // slabs that other threads' frees are completing.
    size_t keep = mine.size() / 2;
    while (mine.size() > keep) {
      verify(mine.back().p, mine.back().n);
      hak_free(mine.back().p);
      mine.pop_back();
    }
    if (r.below(3) == 0) std::this_thread::sleep_for(std::chrono::microseconds(200 + r.below(3000)));
  }
  for (Block& b : mine) {
    verify(b.p, b.n);
    hak_free(b.p);
  }
}

void freer(Handoff& in) {
  for (;;) {
    std::vector<Block> batch;
    bool done;
    {
      std::lock_guard<std::mutex> g(in.m);
      batch.swap(in.blocks);
      done = in.done;
    }
    for (Block& b : batch) {
      verify(b.p, b.n);
      hak_free(b.p);
    }
    if (batch.empty()) {
      if (done) return;
      std::this_thread::yield();
    }
  }
}

}  // namespace

int main() {
  const int bursts = static_cast<int>(scaled(300, 40));
  run_rounds("idle_reclaim", 3, [&](int round) {
    Handoff handoff;
    std::atomic<bool> stop{false};
    std::thread trimmer([&] {
      while (!stop.load()) {
        hak_collect();
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
    std::thread freers[2] = {std::thread(freer, std::ref(handoff)), std::thread(freer, std::ref(handoff))};
    std::vector<std::thread> owners;
    for (int i = 0; i < 4; ++i) owners.emplace_back(owner, std::ref(handoff), 1000 * round + i + 1, bursts);
    for (auto& t : owners) t.join();
    {
      std::lock_guard<std::mutex> g(handoff.m);
      handoff.done = true;
    }
    for (auto& t : freers) t.join();
    stop.store(true);
    trimmer.join();
  });
  fprintf(stderr, "idle_reclaim: ok\n");
  return 0;
}
