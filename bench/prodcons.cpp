// Producer/consumer in the style of xmalloc-test: producers allocate batches of blocks
// and pass them through a bounded queue to consumers, which free them. Every block is
// freed by a thread other than the one that allocated it (the batch arrays too), so
// this measures remote frees and how fast freed memory flows back to the producers.
#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common/bench_util.h"

namespace {

struct Batch {
  size_t count;
  void* blocks[1];  // really `count` entries; allocated with malloc
};

class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : ring_(capacity) {}
  void push(Batch* b) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return size_ < ring_.size(); });
    ring_[(head_ + size_++) % ring_.size()] = b;
    not_empty_.notify_one();
  }
  // Returns nullptr once closed and empty.
  Batch* pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return size_ > 0 || closed_; });
    if (size_ == 0) return nullptr;
    Batch* b = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
    not_full_.notify_one();
    return b;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::vector<Batch*> ring_;
  size_t head_ = 0, size_ = 0;
  bool closed_ = false;
};

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_freed{0};

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv,
                "usage: prodcons [producers=2] [consumers=2] [seconds=3] [batch=256] [min=16] [max=128]\n"
                "  prints RESULT ops_per_sec=N (blocks allocated by a producer and freed by a consumer, per second)\n");
  const int producers = a.integer(1, 2), consumers = a.integer(2, 2);
  const double seconds = a.real(3, 3);
  const size_t batch = a.integer(4, 256), min = a.integer(5, 16), max = a.integer(6, 128);

  BoundedQueue queue(64);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      bench::Rng rng(1000 + p);
      while (!g_stop.load(std::memory_order_relaxed)) {
        Batch* b = static_cast<Batch*>(malloc(sizeof(Batch) + (batch - 1) * sizeof(void*)));
        b->count = batch;
        for (size_t i = 0; i < batch; ++i) {
          char* blk = static_cast<char*>(malloc(rng.between(min, max)));
          blk[0] = 1;
          b->blocks[i] = blk;
        }
        queue.push(b);
      }
    });
  }
  std::vector<std::thread> eaters;
  for (int c = 0; c < consumers; ++c) {
    eaters.emplace_back([&] {
      uint64_t freed = 0;
      while (Batch* b = queue.pop()) {
        for (size_t i = 0; i < b->count; ++i) free(b->blocks[i]);
        freed += b->count;
        free(b);
      }
      g_freed.fetch_add(freed);
    });
  }

  double start = bench::now_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  g_stop.store(true);
  for (auto& t : threads) t.join();
  queue.close();
  for (auto& t : eaters) t.join();
  double elapsed = bench::now_seconds() - start;  // includes draining the queue: all counted blocks were freed
  bench::result("ops_per_sec", g_freed.load() / elapsed);
  return 0;
}
