// Size classes of the SuperSlab tier: 16-byte steps up to 128 B, four classes per power
// of two up to 1 KiB, then eight per power of two (at most 12.5% internal waste) up to
// kMaxSlabBlock: the big classes hold most of a program's bytes, so their rounding is
// what resident memory pays for. Every class size is a multiple of 16, so every block
// is 16-byte aligned.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr uint32_t kNumClasses = 76;
inline constexpr size_t kMaxSlabBlock = 128 * 1024;   // above: the large tier
inline constexpr size_t kMaxSmallBlock = 8 * 1024;    // up to here: 64 KiB slabs
inline constexpr size_t kLookupMax = kMaxSmallBlock;  // table-driven mapping up to here (513 bytes)

extern const uint32_t g_class_size[kNumClasses];
extern const uint8_t g_class_of_small[kLookupMax / 16 + 1] __attribute__((visibility("hidden")));  // index (size+15)/16
// The same mapping scaled by the size of a thread heap's per-class cache (heap.h), so
// the malloc fast path indexes the cache without a shift and an add.
inline constexpr unsigned kClassSlotShift = 5;
extern const uint16_t g_class_slot_of_small[kLookupMax / 16 + 1] __attribute__((visibility("hidden")));

// Class for 128 < size <= kMaxSlabBlock: the power-of-two range and which quarter
// (below 1 KiB) or eighth of it.
inline uint32_t size_class_of_mid(size_t size) {
  size_t v = size - 1;
  uint32_t log2 = 63u - uint32_t(__builtin_clzll(v));  // floor(log2(size-1)), >= 7
  if (log2 < 10) return 8u + (log2 - 7u) * 4u + (uint32_t(v >> (log2 - 2)) & 3u);
  return 20u + (log2 - 10u) * 8u + (uint32_t(v >> (log2 - 3)) & 7u);
}

// size must be <= kMaxSlabBlock.
inline uint32_t size_class_of(size_t size) {
  if (__builtin_expect(size <= kLookupMax, 1)) return g_class_of_small[(size + 15) >> 4];
  return size_class_of_mid(size);
}

inline bool class_is_small(uint32_t c) { return g_class_size[c] <= kMaxSmallBlock; }

}  // namespace hakmem
