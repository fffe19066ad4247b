// Helpers shared by the unit tests: byte patterns that tell blocks apart, alignment
// checks, and an overlap check over a set of live blocks.
#pragma once

#include <gtest/gtest.h>
#include <hakmem/hakmem.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hakmem_test {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;

inline size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

inline bool is_aligned(const void* p, size_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// A byte pattern that depends on the offset and a seed, so that two blocks with
// different seeds, or one block shifted by a few bytes, never compare equal.
inline unsigned char pattern_byte(size_t seed, size_t i) {
  return static_cast<unsigned char>((seed * 131u) ^ (i * 7u) ^ (i >> 8) ^ (i >> 16));
}

inline void fill(void* p, size_t n, size_t seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = pattern_byte(seed, i);
}

// Index of the first byte that differs from the pattern, or n when all match.
inline size_t first_mismatch(const void* p, size_t n, size_t seed) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != pattern_byte(seed, i)) return i;
  return n;
}

inline bool all_zero(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

struct Span {
  const void* p;
  size_t n;
};

// Fails the test when two of the given live blocks share a byte.
inline void expect_disjoint(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.p < b.p; });
  for (size_t i = 1; i < spans.size(); ++i) {
    auto end_prev = reinterpret_cast<uintptr_t>(spans[i - 1].p) + spans[i - 1].n;
    EXPECT_LE(end_prev, reinterpret_cast<uintptr_t>(spans[i].p))
        << "blocks overlap: " << spans[i - 1].p << "+" << spans[i - 1].n << " and " << spans[i].p;
  }
}

// Sizes that cross every size-class boundary a segregated-fit allocator is likely to
// have, from 1 byte to 300 KiB: every size up to 1 KiB, then each power of two and
// its neighbours, then a stride through the mid sizes.
inline std::vector<size_t> sizes_up_to_300k() {
  std::vector<size_t> s;
  for (size_t n = 1; n <= 1024; ++n) s.push_back(n);
  for (size_t p = 2048; p <= 512 * KiB; p *= 2)
    for (long d : {-17L, -1L, 0L, 1L, 15L, 16L})
      if (p + d <= 300 * KiB) s.push_back(p + d);
  for (size_t n = 1024 + 8; n <= 300 * KiB; n += n / 7 + 8) s.push_back(n);
  s.push_back(300 * KiB);
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

}  // namespace hakmem_test
