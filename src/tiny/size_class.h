// Size classes of the SuperSlab tier: 16-byte steps up to 128 B, eight classes per power
// of two up to 4 KiB (four up to 1 KiB made uniform 16 B..1 KiB blocks peak 5.9% above
// glibc, where eight make it 2.1%), then classes that fill a 64 KiB
// slab exactly up to 8 KiB (64 KiB / k blocks for k = 15..8, rounded down to 16 bytes),
// sixteen per power of two up to 16 KiB and eight beyond, up to kMaxSlabBlock. The big
// classes hold most of a program's bytes, so their rounding, and the tail a slab cannot
// fill, are what resident memory pays for: on blocks of 16 B..16 KiB, log-uniform, eight
// per power of two from 1 KiB with every slab tail left over cost 6.4% over the bytes
// asked for; these cost 4.4% (and glibc's peak on bench/rss_scenarios is the bar).
// Every class size is a multiple of 16, so every block is 16-byte aligned.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr uint32_t kNumClasses = 96;
inline constexpr size_t kMaxSlabBlock = 128 * 1024;   // above: the large tier
inline constexpr size_t kMaxSmallBlock = 8 * 1024;    // up to here: 64 KiB slabs
inline constexpr size_t kLookupMax = kMaxSmallBlock;  // table-driven mapping up to here (513 bytes)

extern const uint32_t g_class_size[kNumClasses];
extern const uint8_t g_class_of_small[kLookupMax / 16 + 1] __attribute__((visibility("hidden")));  // index (size+15)/16
// The same mapping scaled by the size of a thread heap's per-class cache (heap.h), so
// the malloc fast path indexes the cache without a shift and an add.
inline constexpr unsigned kClassSlotShift = 5;
extern const uint16_t g_class_slot_of_small[kLookupMax / 16 + 1] __attribute__((visibility("hidden")));

// Class for kLookupMax < size <= kMaxSlabBlock: sixteen classes per power of two up to
// 16 KiB, eight beyond (size_class.cpp builds the table the same way).
inline constexpr uint32_t kFirstMidClass = 56;  // the class of kLookupMax + 1
inline uint32_t size_class_of_mid(size_t size) {
  size_t v = size - 1;
  uint32_t log2 = 63u - uint32_t(__builtin_clzll(v));  // floor(log2(size-1)), >= 13
  if (log2 == 13) return kFirstMidClass + (uint32_t(v >> 9) & 15u);
  return kFirstMidClass + 16u + (log2 - 14u) * 8u + (uint32_t(v >> (log2 - 3)) & 7u);
}

// size must be <= kMaxSlabBlock.
inline uint32_t size_class_of(size_t size) {
  if (__builtin_expect(size <= kLookupMax, 1)) return g_class_of_small[(size + 15) >> 4];
  return size_class_of_mid(size);
}

inline bool class_is_small(uint32_t c) { return g_class_size[c] <= kMaxSmallBlock; }

}  // namespace hakmem
