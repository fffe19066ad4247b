// Block stamping shared by the stress, preload and hostile tests: a pattern derived from
// a block's address and size, written right after allocation and checked right before
// the free (by whatever thread frees it), so a block handed out twice, a list link
// written into live memory, or a block that moved without its contents shows up.
// Each suite reports a mismatch in its own words (first_mismatch returns where).
#pragma once
#include <cstddef>
#include <cstdint>

namespace test_common {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

inline uint64_t stamp_key(const void* owner, size_t n) {
  return mix64(reinterpret_cast<uintptr_t>(owner) ^ (static_cast<uint64_t>(n) << 40) ^ n);
}

inline uint64_t stamp_word(uint64_t key, size_t i) { return key + i * 0x9E3779B97F4A7C15ull; }
inline unsigned char stamp_byte(uint64_t key, size_t i) { return static_cast<unsigned char>(key >> (i % 8 * 8)); }

// Words stamped: all of the first 4 KiB, then one per 256 bytes (every page), and the
// last word; then the tail bytes past the last whole word.
template <typename Word, typename Byte>
inline void for_each_stamp(size_t n, Word word, Byte byte) {
  const size_t words = n / 8;
  const size_t dense = words < 512 ? words : 512;
  for (size_t i = 0; i < dense; ++i) word(i);
  for (size_t i = dense; i + 1 < words; i += 32) word(i);
  if (words > dense) word(words - 1);
  for (size_t i = words * 8; i < n; ++i) byte(i);
}

// Stamps the n bytes at p with the pattern of (owner, n), only below `limit` bytes.
// `owner` is normally p itself; after a realloc the contents keep the old address's.
inline void stamp_as(void* p, size_t n, const void* owner, size_t limit = SIZE_MAX) {
  const uint64_t key = stamp_key(owner, n);
  auto* w = static_cast<uint64_t*>(p);
  auto* b = static_cast<unsigned char*>(p);
  for_each_stamp(
      n, [&](size_t i) { if ((i + 1) * 8 <= limit) w[i] = stamp_word(key, i); },
      [&](size_t i) { if (i < limit) b[i] = stamp_byte(key, i); });
}

// The first byte offset below `prefix` where p differs from the pattern of (owner, n),
// or SIZE_MAX if none does.
inline size_t first_mismatch(const void* p, size_t n, const void* owner, size_t prefix = SIZE_MAX) {
  const uint64_t key = stamp_key(owner, n);
  auto* w = static_cast<const uint64_t*>(p);
  auto* b = static_cast<const unsigned char*>(p);
  size_t bad = SIZE_MAX;
  for_each_stamp(
      n,
      [&](size_t i) {
        if (bad == SIZE_MAX && (i + 1) * 8 <= prefix && w[i] != stamp_word(key, i)) bad = i * 8;
      },
      [&](size_t i) {
        if (bad == SIZE_MAX && i < prefix && b[i] != stamp_byte(key, i)) bad = i;
      });
  return bad;
}

}  // namespace test_common
