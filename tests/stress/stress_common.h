// Shared pieces of the stress tests: block stamping and verification, sizes drawn
// from every tier, iteration scaling for sanitizer builds, and the leak check.
//
// Every block is stamped right after allocation with a pattern derived from its
// address and size, and verified right before it is freed (by whatever thread frees
// it), so a block handed out twice, a free-list link written into live memory, or a
// block that moved without its contents shows up as a mismatch naming the block.
#pragma once

#include <hakmem/hakmem.h>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../common/block_stamp.h"
#include "../common/xorshift.h"

#if defined(__SANITIZE_THREAD__)
#define HAKMEM_STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HAKMEM_STRESS_TSAN 1
#endif
#endif
#ifndef HAKMEM_STRESS_TSAN
#define HAKMEM_STRESS_TSAN 0
#endif

namespace stress {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;

// Iteration count: `normal` in a plain build, `tsan` under ThreadSanitizer, both
// multiplied by HAKMEM_STRESS_SCALE (a factor, default 1) when it is set.
inline size_t scaled(size_t normal, size_t tsan) {
  size_t n = HAKMEM_STRESS_TSAN ? tsan : normal;
  if (const char* s = getenv("HAKMEM_STRESS_SCALE")) {
    double f = atof(s);
    if (f > 0) n = static_cast<size_t>(static_cast<double>(n) * f);
  }
  return n > 0 ? n : 1;
}

[[noreturn]] inline void die(const char* what, const void* p, size_t n, size_t detail = 0) {
  fprintf(stderr, "stress FAILURE: %s: block %p size %zu (detail %zu)\n", what, p, n, detail);
  fflush(stderr);
  abort();
}

#define STRESS_CHECK(cond, msg)                                                   \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "stress FAILURE: %s (%s:%d): %s\n", msg, __FILE__, __LINE__, \
              #cond);                                                             \
      abort();                                                                    \
    }                                                                             \
  } while (0)

// Each suite keeps its own seeds: this one's initial state.
struct Rng : test_common::XorShift64 {
  explicit Rng(uint64_t seed) : XorShift64(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
};

using test_common::stamp_as;

// Checks the first `prefix` bytes of p against the pattern of (owner, n).
inline void verify_as(const void* p, size_t n, const void* owner, size_t prefix, const char* ctx) {
  size_t bad = test_common::first_mismatch(p, n, owner, prefix);
  if (bad == SIZE_MAX) return;
  fprintf(stderr, "stress FAILURE (%s): byte %zu of block %p size %zu differs from its stamp\n", ctx, bad, p, n);
  die("corrupted block", p, n, bad);
}

inline void stamp(void* p, size_t n) { stamp_as(p, n, p); }
inline void verify(const void* p, size_t n, const char* ctx = "verify before free") {
  verify_as(p, n, p, n, ctx);
}

// Checks what every fresh block must satisfy, then stamps it.
inline void* checked_new(void* p, size_t n, size_t align = 16) {
  if (p == nullptr) die("allocation failed", p, n);
  if (reinterpret_cast<uintptr_t>(p) % (align < 16 ? 16 : align) != 0) die("misaligned", p, n, align);
  if (hak_malloc_usable_size(p) < n) die("usable size too small", p, n, hak_malloc_usable_size(p));
  stamp(p, n);
  return p;
}

// Sizes from every tier; `large_percent` of draws are above 128 KiB (up to 1 MiB).
inline size_t random_size(Rng& r, unsigned large_percent = 0) {
  unsigned roll = static_cast<unsigned>(r.below(100));
  if (roll < large_percent) return 128 * KiB + 1 + r.below(896 * KiB);
  if (roll < 60) return 1 + r.below(128);          // tiny
  if (roll < 85) return 129 + r.below(1024 - 128); // small
  if (roll < 97) return 1025 + r.below(16 * KiB);  // mid
  return 16 * KiB + r.below(112 * KiB);            // upper mid, up to 128 KiB
}

inline uint64_t bytes_mapped() {
  hak_stats s{};
  hak_stats_get(&s);
  return s.bytes_mapped;
}

// Runs the same workload several times, each time with fresh threads that are all
// gone (and every block freed) when it returns. Memory must be reused from one round
// to the next: a lost free, a slab orphaned by an exited thread or a large block
// never given back shows up as mapped memory that keeps growing. Measured after
// hak_collect(): what is still mapped then is what hakmem cannot give back (SuperSlabs
// are never unmapped; live large blocks), not the large cache of the moment, which the
// background purger empties and refills at its own pace (with HAKMEM_PURGE_DELAY_MS=0
// the figure swung between 106 and 278 MiB from one round to the next).
template <typename Round>
inline void run_rounds(const char* test, int rounds, Round round) {
  uint64_t first = 0;
  for (int r = 0; r < rounds; ++r) {
    round(r);
    hak_collect();
    uint64_t mapped = bytes_mapped();
    {
      hak_stats st{};
      hak_stats_get(&st);
      fprintf(stderr, "%s: round %d done, %" PRIu64 " KiB mapped (%" PRIu64 " SuperSlabs, large %" PRIu64 " KiB live, %" PRIu64 " KiB cached)\n", test, r, mapped / KiB, st.superslabs, st.large_bytes / KiB, st.large_cached_bytes / KiB);
    }
    if (r == 0) first = mapped;
    if (mapped > first + first / 2 + 32 * MiB) {
      fprintf(stderr,
              "stress FAILURE (%s): mapped memory keeps growing: %" PRIu64 " KiB after round 0, %" PRIu64
              " KiB after round %d\n",
              test, first / KiB, mapped / KiB, r);
      abort();
    }
  }
}

}  // namespace stress
