// Stamping for the preload programs (which use plain malloc/free, not the hak_* API):
// a pattern derived from the block's address and size, checked before every free.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace preload_test {

inline uint64_t key_of(const void* p, size_t n) {
  uint64_t x = reinterpret_cast<uintptr_t>(p) ^ (static_cast<uint64_t>(n) << 40) ^ n;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// Every byte of the first 2 KiB, then one byte per 256 (every page gets touched).
template <typename F>
inline void for_each_mark(size_t n, F f) {
  for (size_t i = 0; i < n && i < 2048; ++i) f(i);
  for (size_t i = 2048; i < n; i += 256) f(i);
  if (n > 2048) f(n - 1);
}

inline void stamp(void* p, size_t n) {
  uint64_t k = key_of(p, n);
  auto* b = static_cast<unsigned char*>(p);
  for_each_mark(n, [&](size_t i) { b[i] = static_cast<unsigned char>(k >> (i % 8 * 8)) ^ static_cast<unsigned char>(i); });
}

// Checks the pattern that stamp(owner, n) wrote, now found at p (after a realloc).
inline void verify_moved(const void* p, size_t n, const void* owner, const char* who) {
  uint64_t k = key_of(owner, n);
  auto* b = static_cast<const unsigned char*>(p);
  for_each_mark(n, [&](size_t i) {
    if (b[i] != (static_cast<unsigned char>(k >> (i % 8 * 8)) ^ static_cast<unsigned char>(i))) {
      fprintf(stderr, "%s: corrupted block %p size %zu at byte %zu\n", who, p, n, i);
      abort();
    }
  });
}

inline void verify(const void* p, size_t n, const char* who) { verify_moved(p, n, p, who); }

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  // Mostly small sizes, some mid, a few large (> 128 KiB).
  size_t size() {
    size_t r = below(1000);
    if (r < 650) return 1 + below(256);
    if (r < 930) return 257 + below(8 * 1024);
    if (r < 990) return 8 * 1024 + below(120 * 1024);
    return 128 * 1024 + below(1024 * 1024);
  }
};

}  // namespace preload_test
