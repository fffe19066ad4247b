// Stamping for the preload programs (which use plain malloc/free, not the hak_* API):
// tests/common's pattern, checked before every free, and this suite's random sizes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../common/block_stamp.h"
#include "../common/xorshift.h"

namespace preload_test {

// Checks the pattern that stamp(owner, n) wrote, now found at p (after a realloc).
inline void verify_moved(const void* p, size_t n, const void* owner, const char* who) {
  size_t bad = test_common::first_mismatch(p, n, owner);
  if (bad == SIZE_MAX) return;
  fprintf(stderr, "%s: corrupted block %p size %zu at byte %zu\n", who, p, n, bad);
  abort();
}

inline void stamp(void* p, size_t n) { test_common::stamp_as(p, n, p); }
inline void verify(const void* p, size_t n, const char* who) { verify_moved(p, n, p, who); }

struct Rng : test_common::XorShift64 {
  explicit Rng(uint64_t seed) : XorShift64(seed * 0x9E3779B97F4A7C15ull + 1) {}
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
