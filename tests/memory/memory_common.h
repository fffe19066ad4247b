// Shared pieces of the memory-return tests (label: memory): RSS read without calling
// the allocator, blocks of random sizes, light allocation, pointer arrays that live
// outside the allocator, and the pass/fail report.
//
// Each test is built twice: linked against libhakmem.so (so malloc/free are hakmem's),
// and with MEMORY_TEST_SYSTEM_MALLOC defined and not linked to hakmem (the same logic
// under glibc, to show the bounds are achievable). Only the hakmem build reads
// hak_stats_get.
#pragma once

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <thread>

#ifndef MEMORY_TEST_SYSTEM_MALLOC
#include <hakmem/hakmem.h>
#endif

namespace memtest {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;

#ifdef MEMORY_TEST_SYSTEM_MALLOC
constexpr const char* kAllocator = "system malloc";
#else
constexpr const char* kAllocator = "hakmem";
#endif

// VmRSS / VmHWM in bytes, read with open/read into a stack buffer: no allocator call.
inline size_t status_bytes(const char* key) {
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  size_t klen = strlen(key);
  for (char* line = buf; line && *line;) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') return strtoul(line + klen + 1, nullptr, 10) * KiB;
    char* nl = strchr(line, '\n');
    line = nl ? nl + 1 : nullptr;
  }
  return 0;
}
// The mode argv[1] names, as its position in `modes`; otherwise a usage line and exit 2.
inline int mode_arg(int argc, char** argv, const char* test, std::initializer_list<const char*> modes) {
  int i = 0;
  for (const char* m : modes) {
    if (argc > 1 && strcmp(argv[1], m) == 0) return i;
    i++;
  }
  fprintf(stderr, "usage: %s", test);
  i = 0;
  for (const char* m : modes) fprintf(stderr, "%c%s", i++ ? '|' : ' ', m);
  fprintf(stderr, "\n");
  exit(2);
}

inline size_t rss() { return status_bytes("VmRSS"); }
inline size_t peak_rss() { return status_bytes("VmHWM"); }
inline double mib(size_t bytes) { return static_cast<double>(bytes) / MiB; }
inline double mib(long long bytes) { return static_cast<double>(bytes) / MiB; }

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Sleeps without any allocator call (nanosleep, resumed after a signal).
inline void sleep_quietly(double seconds) {
  timespec ts{static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

// splitmix64: deterministic sizes and choices from a seed.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  // Log-uniform in [lo, hi] (both powers of two): an octave at random, then a size in it.
  size_t log_size(int lo_bits, int hi_bits) {
    int bits = lo_bits + static_cast<int>(below(static_cast<uint64_t>(hi_bits - lo_bits)));
    size_t lo = size_t(1) << bits;
    return lo + below(lo);  // [2^bits, 2^(bits+1))
  }
};

// A fixed-capacity array that lives in its own mapping, so the test's bookkeeping is
// neither allocated through the allocator under test nor counted as its retention.
// Touched at creation, so its pages are part of the baseline RSS.
template <typename T>
struct OsArray {
  T* data = nullptr;
  size_t capacity = 0;
  size_t size = 0;
  explicit OsArray(size_t n) : capacity(n) {
    void* p = mmap(nullptr, n * sizeof(T), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      abort();
    }
    data = static_cast<T*>(p);
    memset(p, 0, n * sizeof(T));
  }
  ~OsArray() { munmap(data, capacity * sizeof(T)); }
  OsArray(const OsArray&) = delete;
  OsArray& operator=(const OsArray&) = delete;
  void push(T v) {
    if (size == capacity) {
      fprintf(stderr, "OsArray: capacity %zu exceeded\n", capacity);
      abort();
    }
    data[size++] = v;
  }
  T& operator[](size_t i) { return data[i]; }
};

// Allocates about `bytes` in blocks of 2^lo_bits .. 2^hi_bits (log-uniform), writes
// every byte, and records them. Returns the bytes requested.
inline size_t allocate_blocks(OsArray<void*>& out, size_t bytes, uint64_t seed, int lo_bits = 4, int hi_bits = 14) {
  Rng rng(seed);
  size_t total = 0;
  while (total < bytes) {
    size_t n = rng.log_size(lo_bits, hi_bits);
    void* p = malloc(n);
    if (p == nullptr) {
      fprintf(stderr, "out of memory after %zu bytes\n", total);
      abort();
    }
    memset(p, 0x5A, n);
    out.push(p);
    total += n;
  }
  return total;
}

// Frees every `stride`-th block starting at `first`.
inline void free_blocks(OsArray<void*>& blocks, size_t first = 0, size_t stride = 1) {
  for (size_t i = first; i < blocks.size; i += stride) {
    free(blocks[i]);
    blocks[i] = nullptr;
  }
}

// A mostly idle server: 16 small malloc/free pairs every 10 ms.
inline void light_allocation_step(Rng& rng) {
  for (int i = 0; i < 16; ++i) {
    void* p = malloc(16 + rng.below(500));
    static_cast<volatile char*>(p)[0] = 1;
    asm volatile("" : : "g"(p) : "memory");
    free(p);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Live heap the test holds for the whole test: `bytes` of 1 KiB blocks allocated by the
// main thread in one go (dense, so its footprint is its size).
struct LiveSet {
  OsArray<void*> blocks;
  size_t bytes = 0;
  explicit LiveSet(size_t total) : blocks(total / KiB + 1) {
    for (size_t done = 0; done < total; done += KiB) {
      void* p = malloc(KiB);
      memset(p, 0x33, KiB);
      blocks.push(p);
      bytes += KiB;
    }
  }
  ~LiveSet() { free_blocks(blocks); }
};

inline int failures = 0;

// Prints one checked figure: "<what>: <value> MiB <= <bound> MiB: ok|FAIL".
inline bool check_le(const char* what, double value_mib, double bound_mib) {
  bool ok = value_mib <= bound_mib;
  printf("  [%s] %-58s %8.1f MiB <= %8.1f MiB: %s\n", kAllocator, what, value_mib, bound_mib, ok ? "ok" : "FAIL");
  fflush(stdout);
  if (!ok) ++failures;
  return ok;
}

inline int finish(const char* test) {
  if (failures) {
    printf("%s [%s]: FAILED (%d check(s))\n", test, kAllocator, failures);
    return 1;
  }
  printf("%s [%s]: ok\n", test, kAllocator);
  return 0;
}

#ifndef MEMORY_TEST_SYSTEM_MALLOC
// Bytes of blocks handed out and bytes of slabs carrying a class, over all classes.
struct SlabTotals {
  uint64_t in_use = 0, capacity = 0;
};
inline SlabTotals slab_totals() {
  static hak_stats s;  // big; not on the stack
  hak_stats_get(&s);
  SlabTotals t;
  for (uint32_t c = 0; c < s.num_classes; ++c) {
    t.in_use += s.classes[c].bytes_in_use;
    t.capacity += s.classes[c].bytes_in_use + s.classes[c].bytes_free;
  }
  return t;
}

// The retention fields the policy work adds to hak_stats, when this header has them.
template <typename S>
inline bool retention_fields(const S& s, uint64_t* retained, uint64_t* budget) {
  if constexpr (requires { s.retained_bytes; s.retention_budget; }) {
    *retained = s.retained_bytes;
    *budget = s.retention_budget;
    return true;
  } else {
    return false;
  }
}

// Bytes of blocks other threads freed that wait in remote queues (hak_class_stats
// blocks_pending, when this header has it), or 0.
template <typename S>
inline uint64_t pending_bytes(const S& s) {
  uint64_t sum = 0;
  for (uint32_t c = 0; c < s.num_classes; ++c) {
    if constexpr (requires { s.classes[c].blocks_pending; })
      sum += s.classes[c].blocks_pending * s.classes[c].block_size;
  }
  return sum;
}
#endif

}  // namespace memtest
