// Shared pieces of the hostile tests. They link the overriding libhakmem.so, so plain
// malloc/free is hakmem's (require_hakmem_malloc() makes sure), and stamp every block
// with a pattern derived from its address and size, verified before it is freed.
#pragma once

#include <hakmem/hakmem.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hostile {

[[noreturn]] inline void die(const char* what, const void* p = nullptr, size_t n = 0) {
  fprintf(stderr, "hostile FAILURE: %s (block %p size %zu)\n", what, p, n);
  fflush(stderr);
  abort();
}

#define HOSTILE_CHECK(cond, msg)                                                           \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "hostile FAILURE: %s (%s:%d): %s\n", msg, __FILE__, __LINE__, #cond); \
      fflush(stderr);                                                                      \
      abort();                                                                             \
    }                                                                                      \
  } while (0)

inline void require_hakmem_malloc() {
  void* p = malloc(24);
  if (!hak_owns(p)) die("malloc is not hakmem's: link libhakmem.so (or preload it)", p, 24);
  free(p);
}

inline uint64_t key_of(const void* p, size_t n) {
  uint64_t x = reinterpret_cast<uintptr_t>(p) * 0x9e3779b97f4a7c15ull ^ n;
  return x ^ (x >> 29);
}

// Every byte up to 512, then one per 512 and the last one.
template <typename F>
inline void for_each_mark(size_t n, F f) {
  for (size_t i = 0; i < n && i < 512; ++i) f(i);
  for (size_t i = 512; i < n; i += 512) f(i);
  if (n > 512) f(n - 1);
}

inline unsigned char mark(uint64_t k, size_t i) {
  return static_cast<unsigned char>(k >> (i % 8 * 8)) ^ static_cast<unsigned char>(i * 31);
}

inline void stamp(void* p, size_t n) {
  uint64_t k = key_of(p, n);
  auto* b = static_cast<unsigned char*>(p);
  for_each_mark(n, [&](size_t i) { b[i] = mark(k, i); });
}

inline void verify(const void* p, size_t n) {
  uint64_t k = key_of(p, n);
  auto* b = static_cast<const unsigned char*>(p);
  for_each_mark(n, [&](size_t i) {
    if (b[i] != mark(k, i)) die("stamp mismatch: block corrupted or handed out twice", p, n);
  });
}

inline void* alloc_stamped(size_t n) {
  void* p = malloc(n);
  if (!p) die("malloc returned NULL", nullptr, n);
  stamp(p, n);
  return p;
}

inline void free_verified(void* p, size_t n) {
  verify(p, n);
  free(p);
}

// xorshift: cheap per-thread randomness.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x2545f4914f6cdd1dull | 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  // Mostly small, some mid-size, a few large blocks.
  size_t size() {
    uint64_t r = next();
    switch (r % 16) {
      case 15: return 128 * 1024 + (r >> 8) % (512 * 1024);
      case 13: case 14: return 1024 + (r >> 8) % (64 * 1024);
      default: return 1 + (r >> 8) % 512;
    }
  }
};

// Kills the test if it hangs (a deadlock in the allocator, say) instead of waiting for
// CTest's timeout: the message names the test.
inline void watchdog(unsigned seconds) { alarm(seconds); }

}  // namespace hostile
