// Producers allocate, consumers verify and free, through a bounded lock-protected queue.
// Some consumers reallocate a block before freeing it.
#include <condition_variable>
#include <deque>
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

class Queue {
 public:
  explicit Queue(size_t capacity) : capacity_(capacity) {}

  void push(std::vector<Block>& batch) {
    std::unique_lock<std::mutex> lock(m_);
    not_full_.wait(lock, [&] { return q_.size() < capacity_; });
    for (auto& b : batch) q_.push_back(b);
    batch.clear();
    not_empty_.notify_all();
  }

  // Takes up to max blocks; returns false once the queue is closed and empty.
  bool pop(std::vector<Block>& out, size_t max) {
    std::unique_lock<std::mutex> lock(m_);
    not_empty_.wait(lock, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    for (size_t i = 0; i < max && !q_.empty(); ++i) {
      out.push_back(q_.front());
      q_.pop_front();
    }
    not_full_.notify_all();
    return true;
  }

  void close() {
    std::lock_guard<std::mutex> g(m_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Block> q_;
  size_t capacity_;
  bool closed_ = false;
};

void producer(int id, size_t count, Queue& q) {
  Rng rng(static_cast<uint64_t>(id) * 7 + 3);
  std::vector<Block> batch;
  for (size_t i = 0; i < count; ++i) {
    Block b;
    b.n = random_size(rng, 1);
    b.p = checked_new(hak_malloc(b.n), b.n);
    batch.push_back(b);
    if (batch.size() >= 1 + rng.below(128)) q.push(batch);
  }
  if (!batch.empty()) q.push(batch);
}

void consumer(int id, Queue& q) {
  Rng rng(static_cast<uint64_t>(id) * 13 + 5);
  std::vector<Block> got;
  while (q.pop(got, 1 + rng.below(64))) {
    for (auto& b : got) {
      verify(b.p, b.n);
      if (rng.chance(15)) {  // realloc a block another thread allocated
        size_t m = random_size(rng);
        void* moved = hak_realloc(b.p, m);
        if (!moved) die("realloc failed", b.p, m);
        verify_as(moved, b.n, b.p, m < b.n ? m : b.n, "contents after cross-thread realloc");
        checked_new(moved, m);
        b = {moved, m};
        verify(b.p, b.n);
      }
      hak_free(b.p);
    }
    got.clear();
  }
}

}  // namespace

int main() {
  const int producers = 3, consumers = 3;
  const size_t per_producer = scaled(150000, 20000);
  run_rounds("producer_consumer", 3, [&](int) {
    Queue q(4096);
    std::vector<std::thread> ps, cs;
    for (int i = 0; i < consumers; ++i) cs.emplace_back(consumer, i, std::ref(q));
    for (int i = 0; i < producers; ++i) ps.emplace_back(producer, i, per_producer, std::ref(q));
    for (auto& t : ps) t.join();
    q.close();
    for (auto& t : cs) t.join();
  });
  puts("producer_consumer: ok");
  return 0;
}
