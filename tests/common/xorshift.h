// The tests' random numbers: Marsaglia's xorshift64, cheap enough for per-thread use.
// Each suite derives the initial state from its own seeds (its Rng's constructor), so
// its sequences stay what they were.
#pragma once
#include <cstddef>
#include <cstdint>

namespace test_common {

struct XorShift64 {
  uint64_t s;
  explicit XorShift64(uint64_t state) : s(state) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
};

}  // namespace test_common
