// Cross-thread frees: every thread allocates batches and hands each batch to another
// thread, which verifies and frees it. Almost every free is remote, the pattern the
// seed's crash came from (fast cache on and off are both run by CTest).
#include <atomic>
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

struct Mailbox {
  std::mutex m;
  std::vector<std::vector<Block>> batches;
};

void free_mail(Rng& rng, Mailbox& box) {
  std::vector<std::vector<Block>> mine;
  {
    std::lock_guard<std::mutex> g(box.m);
    mine.swap(box.batches);
  }
  for (auto& bs : mine)
    for (auto& b : bs) {
      verify(b.p, b.n);
      if (rng.chance(30)) hak_free_sized(b.p, b.n);
      else hak_free(b.p);
    }
}

void worker(int id, int threads, size_t rounds, std::vector<Mailbox>& boxes,
            std::atomic<int>& finished) {
  Rng rng(static_cast<uint64_t>(id) + 1);
  for (size_t round = 0; round < rounds; ++round) {
    std::vector<Block> batch(16 + rng.below(128));
    for (auto& b : batch) {
      b.n = random_size(rng);
      b.p = checked_new(rng.chance(10) ? hak_calloc(1, b.n) : hak_malloc(b.n), b.n);
    }
    // Hand it to another thread, chosen differently each round; wait (freeing our
    // own mail meanwhile) while that thread is far behind, so memory stays bounded.
    int to = (id + 1 + static_cast<int>(round % static_cast<size_t>(threads - 1))) % threads;
    for (;;) {
      {
        std::lock_guard<std::mutex> g(boxes[to].m);
        if (boxes[to].batches.size() < 8) {
          boxes[to].batches.push_back(std::move(batch));
          break;
        }
      }
      free_mail(rng, boxes[id]);
      std::this_thread::yield();
    }
    // Sometimes let mail pile up a little, so slabs fill and empty at different times.
    if (rng.chance(80)) free_mail(rng, boxes[id]);
  }
  // Keep emptying our box until every thread is done sending, so that what is
  // still in flight stays bounded.
  finished.fetch_add(1);
  while (finished.load() < threads) {
    free_mail(rng, boxes[id]);
    std::this_thread::yield();
  }
}

}  // namespace

int main() {
  const int threads = 4;
  const size_t rounds = scaled(3000, 500);
  run_rounds("cross_thread_free", 3, [&](int) {
    std::vector<Mailbox> boxes(threads);
    std::atomic<int> finished{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < threads; ++i)
      ts.emplace_back(worker, i, threads, rounds, std::ref(boxes), std::ref(finished));
    for (auto& t : ts) t.join();
    // What is left is freed by a thread that allocated none of it.
    std::thread([&] {
      for (auto& box : boxes)
        for (auto& bs : box.batches)
          for (auto& b : bs) {
            verify(b.p, b.n);
            hak_free(b.p);
          }
    }).join();
  });
  puts("cross_thread_free: ok");
  return 0;
}
