#include "tiny/size_class.h"

#include <array>

namespace hakmem {

namespace {

constexpr std::array<uint32_t, kNumClasses> make_sizes() {
  std::array<uint32_t, kNumClasses> s{};
  for (uint32_t i = 0; i < 8; i++) s[i] = 16 * (i + 1);
  uint32_t c = 8;
  for (uint32_t log2 = 7; log2 < 12; log2++)
    for (uint32_t e = 1; e <= 8; e++) s[c++] = (1u << log2) + e * (1u << (log2 - 3));
  // k blocks fill a 64 KiB slab but for less than 16 bytes each.
  for (uint32_t k = 15; k >= 8; k--) s[c++] = (65536u / k) & ~15u;
  for (uint32_t e = 1; e <= 16; e++) s[c++] = 8192u + e * 512u;
  for (uint32_t log2 = 14; c < kNumClasses; log2++)
    for (uint32_t e = 1; e <= 8 && c < kNumClasses; e++) s[c++] = (1u << log2) + e * (1u << (log2 - 3));
  return s;
}

constexpr std::array<uint32_t, kNumClasses> kSizes = make_sizes();
static_assert(kSizes[kNumClasses - 1] == kMaxSlabBlock, "classes must end at kMaxSlabBlock");
static_assert(kSizes[kFirstMidClass - 1] == kLookupMax && kSizes[kFirstMidClass] > kLookupMax);

constexpr std::array<uint8_t, kLookupMax / 16 + 1> make_lookup() {
  std::array<uint8_t, kLookupMax / 16 + 1> t{};
  for (uint32_t i = 0; i < t.size(); i++) {
    uint32_t size = i * 16;
    uint32_t c = 0;
    while (kSizes[c] < size) c++;
    t[i] = uint8_t(c);
  }
  return t;
}

}  // namespace

const uint32_t g_class_size[kNumClasses] = {
#define X(i) kSizes[i]
#define X4(i) X(i), X(i + 1), X(i + 2), X(i + 3)
  X4(0), X4(4), X4(8), X4(12), X4(16), X4(20), X4(24), X4(28), X4(32), X4(36),
  X4(40), X4(44), X4(48), X4(52), X4(56), X4(60), X4(64), X4(68), X4(72), X4(76), X4(80),
  X4(84), X4(88), X4(92),
#undef X4
#undef X
};
static_assert(kNumClasses == 96);

constexpr auto kLookup = make_lookup();
// Both tables list the same 513 entries; ENTRY says what each holds.
#define Y(i) ENTRY(kLookup[i])
#define Y8(i) Y(i), Y(i + 1), Y(i + 2), Y(i + 3), Y(i + 4), Y(i + 5), Y(i + 6), Y(i + 7)
#define Y64(i) Y8(i), Y8(i + 8), Y8(i + 16), Y8(i + 24), Y8(i + 32), Y8(i + 40), Y8(i + 48), Y8(i + 56)
#define ALL_ENTRIES Y64(0), Y64(64), Y64(128), Y64(192), Y64(256), Y64(320), Y64(384), Y64(448), Y(512)
#define ENTRY(c) c
const uint8_t g_class_of_small[kLookupMax / 16 + 1] = {ALL_ENTRIES};
#undef ENTRY
#define ENTRY(c) uint16_t((c) << kClassSlotShift)
const uint16_t g_class_slot_of_small[kLookupMax / 16 + 1] = {ALL_ENTRIES};
#undef ENTRY
#undef ALL_ENTRIES
#undef Y64
#undef Y8
#undef Y
static_assert(sizeof(g_class_of_small) == kLookupMax / 16 + 1);

}  // namespace hakmem
