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

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  bool chance(unsigned percent) { return below(100) < percent; }
};

inline uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

inline uint64_t key_of(const void* p, size_t n) {
  return mix(reinterpret_cast<uintptr_t>(p) ^ (static_cast<uint64_t>(n) << 40) ^ n);
}

// Words stamped: all of the first 4 KiB, then one per 256 bytes, and the last word.
// `visit(index, expected)` is called for each stamped word, then for each tail byte.
template <typename Visit>
inline void for_each_stamp(uint64_t key, size_t n, Visit visit) {
  const size_t words = n / 8;
  const size_t dense = words < 512 ? words : 512;
  for (size_t i = 0; i < dense; ++i) visit(i, key + i * 0x9E3779B97F4A7C15ull);
  for (size_t i = dense; i + 1 < words; i += 32) visit(i, key + i * 0x9E3779B97F4A7C15ull);
  if (words > dense) visit(words - 1, key + (words - 1) * 0x9E3779B97F4A7C15ull);
}

// Stamps n bytes at p with the pattern of (owner, n). `owner` is normally p itself;
// after a realloc the contents still carry the pattern of the old address.
inline void stamp_as(void* p, size_t n, const void* owner) {
  uint64_t key = key_of(owner, n);
  auto* w = static_cast<uint64_t*>(p);
  for_each_stamp(key, n, [&](size_t i, uint64_t v) { w[i] = v; });
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = n / 8 * 8; i < n; ++i) b[i] = static_cast<unsigned char>(key >> (i % 8 * 8));
}

// Checks the first `prefix` bytes of p against the pattern of (owner, n).
inline void verify_as(const void* p, size_t n, const void* owner, size_t prefix, const char* ctx) {
  uint64_t key = key_of(owner, n);
  auto* w = static_cast<const uint64_t*>(p);
  for_each_stamp(key, n, [&](size_t i, uint64_t v) {
    if ((i + 1) * 8 <= prefix && w[i] != v) {
      fprintf(stderr, "stress FAILURE (%s): word %zu of block %p size %zu is %#" PRIx64
              ", expected %#" PRIx64 "\n", ctx, i, p, n, w[i], v);
      die("corrupted block", p, n, i);
    }
  });
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = n / 8 * 8; i < n && i < prefix; ++i)
    if (b[i] != static_cast<unsigned char>(key >> (i % 8 * 8))) die(ctx, p, n, i);
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
// never given back shows up as mapped memory that keeps growing.
template <typename Round>
inline void run_rounds(const char* test, int rounds, Round round) {
  uint64_t first = 0;
  for (int r = 0; r < rounds; ++r) {
    round(r);
    uint64_t mapped = bytes_mapped();
    fprintf(stderr, "%s: round %d done, %" PRIu64 " KiB mapped\n", test, r, mapped / KiB);
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
