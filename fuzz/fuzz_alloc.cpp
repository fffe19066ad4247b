// libFuzzer target: the input is a program of allocator operations, run through the
// hak_* entry points (hakmem_api: no malloc override, so libFuzzer and ASan keep their
// own allocator).
//
// Every live block is stamped with a pattern derived from its slot and a per-block seed
// and checked before it is freed or reallocated, so a block handed out twice, an
// overlap, a free-list link written into user data or a realloc that loses bytes shows
// up as a pattern mismatch (abort: libFuzzer saves the input). A second, persistent
// thread frees blocks the main thread hands to it (remote frees) and allocates blocks
// for the main thread (whose frees are then remote); it can be replaced by a new thread
// (heap exit and recycling, adoption of its slabs).
//
// Byte program: op = next byte; operands follow (missing bytes read as zero).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "hakmem/hakmem.h"

namespace {

constexpr size_t kSlots = 64;
constexpr size_t kMaxLiveBytes = 64u << 20;  // keeps RSS bounded whatever the input
constexpr size_t kFullCheck = 64u << 10;     // above this, stamp and check sampled words

[[noreturn]] void fail(const char* what, const void* p, size_t size, size_t at) {
  fprintf(stderr, "fuzz_alloc: %s: block %p size %zu offset %zu\n", what, p, size, at);
  abort();
}

inline uint64_t word_at(uint64_t seed, size_t i) { return (seed + i) * 0x9e3779b97f4a7c15ull ^ (seed >> 7); }

// Stamps [0, n): every word for small blocks; the first and last 4 KiB and one word per
// 4 KiB page for big ones (still catches overlaps and lost pages, at a bounded cost).
// The positions depend on n only; `limit` restricts the walk to [0, limit), so the
// prefix that realloc keeps is checked at the positions the old block was stamped at.
template <bool kCheck>
void walk(unsigned char* p, size_t n, uint64_t seed, size_t limit) {
  if (limit > n) limit = n;
  auto one = [&](size_t off) {
    if (off >= limit) return;
    uint64_t w = word_at(seed, off / 8);
    size_t len = limit - off < 8 ? limit - off : 8;
    if (kCheck) {
      if (memcmp(p + off, &w, len) != 0) fail("pattern mismatch", p, n, off);
    } else {
      memcpy(p + off, &w, len);
    }
  };
  if (n <= kFullCheck) {
    for (size_t off = 0; off < limit; off += 8) one(off);
    return;
  }
  for (size_t off = 0; off < 4096; off += 8) one(off);
  for (size_t off = 4096; off + 4096 < n; off += 4096) one(off);
  for (size_t off = (n - 4096) & ~size_t(7); off < n; off += 8) one(off);
}

void stamp(void* p, size_t n, uint64_t seed) { walk<false>(static_cast<unsigned char*>(p), n, seed, n); }
// Checks the stamp of a block of n bytes, or only its first `limit` bytes.
void check(const void* p, size_t n, uint64_t seed, size_t limit = SIZE_MAX) {
  walk<true>(static_cast<unsigned char*>(const_cast<void*>(p)), n, seed, limit);
}

void check_zero(const void* p, size_t n) {
  const unsigned char* c = static_cast<const unsigned char*>(p);
  size_t step = n <= kFullCheck ? 1 : 4096;
  for (size_t i = 0; i < n; i += step)
    if (c[i]) fail("calloc block not zeroed", p, n, i);
  if (n && c[n - 1]) fail("calloc block not zeroed", p, n, n - 1);
}

void check_new_block(void* p, size_t size, size_t align) {
  if (!hak_owns(p)) fail("hak_owns() is false for a fresh block", p, size, 0);
  if (align && reinterpret_cast<uintptr_t>(p) % align) fail("misaligned block", p, size, align);
  if (hak_malloc_usable_size(p) < size) fail("usable size below the request", p, size, hak_malloc_usable_size(p));
}

struct Slot {
  void* p = nullptr;
  size_t size = 0;
  uint64_t seed = 0;
};

// ---- the second thread: frees what it is handed, allocates on request ----------------
struct Job {
  enum Kind { kFree, kAlloc, kSync, kQuit } kind;
  void* p;
  size_t size;
  uint64_t seed;
};

class Worker {
 public:
  Worker() { start(); }
  // libFuzzer exits the process without running this when it is done; harmless.
  ~Worker() { stop(); }

  void free_later(void* p, size_t size, uint64_t seed) { post({Job::kFree, p, size, seed}); }

  void* alloc_now(size_t size, uint64_t seed) {
    std::unique_lock<std::mutex> g(mu_);
    result_ready_ = false;
    jobs_.push_back({Job::kAlloc, nullptr, size, seed});
    cv_.notify_all();
    done_cv_.wait(g, [&] { return result_ready_; });
    return result_;
  }

  void sync() {
    std::unique_lock<std::mutex> g(mu_);
    result_ready_ = false;
    jobs_.push_back({Job::kSync, nullptr, 0, 0});
    cv_.notify_all();
    done_cv_.wait(g, [&] { return result_ready_; });
  }

  // A new thread takes over: the old one's heap exits with blocks still out.
  void respawn() {
    stop();
    start();
  }

 private:
  void start() { thread_ = std::thread([this] { run(); }); }
  void stop() {
    if (!thread_.joinable()) return;
    post({Job::kQuit, nullptr, 0, 0});
    thread_.join();
  }
  void post(Job j) {
    std::lock_guard<std::mutex> g(mu_);
    jobs_.push_back(j);
    cv_.notify_all();
  }
  void run() {
    for (;;) {
      Job j;
      {
        std::unique_lock<std::mutex> g(mu_);
        cv_.wait(g, [&] { return !jobs_.empty(); });
        j = jobs_.front();
        jobs_.pop_front();
      }
      switch (j.kind) {
        case Job::kFree:
          check(j.p, j.size, j.seed);
          hak_free(j.p);
          break;
        case Job::kAlloc: {
          void* p = hak_malloc(j.size);
          if (p) {
            check_new_block(p, j.size, 16);
            stamp(p, j.size, j.seed);
          }
          std::lock_guard<std::mutex> g(mu_);
          result_ = p;
          result_ready_ = true;
          done_cv_.notify_all();
          break;
        }
        case Job::kSync: {
          std::lock_guard<std::mutex> g(mu_);
          result_ready_ = true;
          done_cv_.notify_all();
          break;
        }
        case Job::kQuit:
          return;
      }
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<Job> jobs_;
  void* result_ = nullptr;
  bool result_ready_ = false;
  std::thread thread_;
};

// ---- the program ----------------------------------------------------------------------
class Program {
 public:
  Program(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  void run(Worker& worker) {
    while (pos_ < size_) step(worker);
    for (size_t i = 0; i < kSlots; i++) release(i);
    worker.sync();  // every handed-over block is freed before the next input
  }

 private:
  uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= uint32_t(u8()) << (8 * i);
    return v;
  }
  // Mostly small sizes, sometimes mid (slab classes up to 128 KiB), rarely large.
  size_t size_arg() {
    uint32_t r = u32();
    switch (r & 7) {
      case 0: return 0;
      case 1: case 2: case 3: return (r >> 3) % 257;
      case 4: case 5: return (r >> 3) % 4097;
      case 6: return (r >> 3) % (132u << 10);
      default: return (r >> 3) % (3u << 20);
    }
  }
  size_t slot_arg() { return u8() % kSlots; }
  uint64_t next_seed() { return ++seeds_ * 0x100000001b3ull + pos_; }
  bool room_for(size_t n) { return live_ + n <= kMaxLiveBytes; }

  void keep(size_t i, void* p, size_t n, uint64_t seed) {
    slots_[i] = {p, n, seed};
    live_ += n;
  }
  // Checks and frees slot i (if it holds a block).
  void release(size_t i) {
    Slot& s = slots_[i];
    if (!s.p) return;
    check(s.p, s.size, s.seed);
    if (s.size & 1) hak_free_sized(s.p, s.size);
    else hak_free(s.p);
    live_ -= s.size;
    s = Slot{};
  }
  void stamp_and_keep(size_t i, void* p, size_t n, size_t align) {
    check_new_block(p, n, align);
    uint64_t seed = next_seed();
    stamp(p, n, seed);
    keep(i, p, n, seed);
  }

  void step(Worker& worker) {
    uint8_t op = u8();
    size_t i = slot_arg();
    switch (op % 12) {
      case 0:
      case 1: {  // malloc
        size_t n = size_arg();
        release(i);
        if (!room_for(n)) return;
        void* p = hak_malloc(n);
        if (!p) fail("malloc returned NULL", nullptr, n, 0);
        stamp_and_keep(i, p, n, 16);
        break;
      }
      case 2:
      case 3:  // free
        release(i);
        break;
      case 4: {  // realloc: the common prefix survives
        size_t n = size_arg();
        Slot& s = slots_[i];
        if (!room_for(n)) return;
        if (n == 0 && s.p) {  // frees, like glibc
          check(s.p, s.size, s.seed);
          live_ -= s.size;
          if (hak_realloc(s.p, 0) != nullptr) fail("realloc(p, 0) returned a block", s.p, 0, 0);
          s = Slot{};
          return;
        }
        void* q = hak_realloc(s.p, n);
        if (!q) fail("realloc returned NULL", s.p, n, 0);
        if (s.p) check(q, s.size, s.seed, n);
        live_ -= s.size;
        s = Slot{};
        stamp_and_keep(i, q, n, 16);
        break;
      }
      case 5: {  // posix_memalign / aligned_alloc / memalign, alignment up to 1 MiB
        uint8_t a = u8();
        size_t align = size_t(1) << (a % 21);
        size_t n = size_arg();
        release(i);
        if (!room_for(n + align)) return;
        void* p = nullptr;
        switch ((a >> 5) % 3) {
          case 0: {
            int rc = hak_posix_memalign(&p, align, n);
            if (align < sizeof(void*)) {
              if (rc != EINVAL) fail("posix_memalign accepted an alignment below sizeof(void*)", p, n, align);
              if (rc == 0) hak_free(p);
              return;
            }
            if (rc != 0) fail("posix_memalign failed", nullptr, n, align);
            break;
          }
          case 1: p = hak_aligned_alloc(align, n); break;
          default: p = hak_memalign(align, n); break;
        }
        if (!p) fail("aligned allocation returned NULL", nullptr, n, align);
        stamp_and_keep(i, p, n, align);
        break;
      }
      case 6: {  // calloc, zeroed
        size_t count = u8() % 65;
        size_t each = count ? size_arg() / count : size_arg();
        size_t n = count * each;
        release(i);
        if (!room_for(n)) return;
        void* p = hak_calloc(count, each);
        if (!p) fail("calloc returned NULL", nullptr, n, 0);
        check_zero(p, n);
        stamp_and_keep(i, p, n, 16);
        break;
      }
      case 7: {  // overflowing requests fail cleanly
        errno = 0;
        void* p = (u8() & 1) ? hak_calloc(SIZE_MAX / 2 + 2, 2) : hak_reallocarray(nullptr, SIZE_MAX / 4, 8);
        if (p || errno != ENOMEM) fail("overflowing request did not fail with ENOMEM", p, 0, 0);
        break;
      }
      case 8: {  // cross-thread free: the worker checks and frees it
        Slot& s = slots_[i];
        if (!s.p) return;
        worker.free_later(s.p, s.size, s.seed);
        live_ -= s.size;
        s = Slot{};
        break;
      }
      case 9: {  // the worker allocates a block for us (our free of it is remote)
        size_t n = size_arg();
        release(i);
        if (!room_for(n)) return;
        uint64_t seed = next_seed();
        void* p = worker.alloc_now(n, seed);
        if (!p) fail("worker malloc returned NULL", nullptr, n, 0);
        check(p, n, seed);
        keep(i, p, n, seed);
        break;
      }
      case 10: {  // reallocarray
        size_t count = u8() % 17 + 1;
        size_t each = size_arg() / count;
        Slot& s = slots_[i];
        size_t n = count * each;
        if (!room_for(n) || n == 0) return;
        void* q = hak_reallocarray(s.p, count, each);
        if (!q) fail("reallocarray returned NULL", s.p, n, 0);
        if (s.p) check(q, s.size, s.seed, n);
        live_ -= s.size;
        s = Slot{};
        stamp_and_keep(i, q, n, 16);
        break;
      }
      default: {  // rare: a new worker thread, or give free memory back to the OS
        uint8_t r = u8();
        if (r % 8 == 0) {
          worker.sync();
          worker.respawn();
        } else if (r % 8 == 1) {
          hak_collect();
        }
        break;
      }
    }
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  uint64_t seeds_ = 0;
  size_t live_ = 0;
  Slot slots_[kSlots];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Worker* worker = new Worker();  // one persistent second thread
  Program(data, size).run(*worker);
  return 0;
}
