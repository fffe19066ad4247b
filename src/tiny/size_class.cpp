#include "tiny/size_class.h"

#include <array>

namespace hakmem {

namespace {

constexpr std::array<uint32_t, kNumClasses> make_sizes() {
  std::array<uint32_t, kNumClasses> s{};
  for (uint32_t i = 0; i < 8; i++) s[i] = 16 * (i + 1);
  uint32_t c = 8;
  for (uint32_t log2 = 7; c < kNumClasses; log2++)
    for (uint32_t q = 1; q <= 4 && c < kNumClasses; q++) s[c++] = (1u << log2) + q * (1u << (log2 - 2));
  return s;
}

constexpr std::array<uint32_t, kNumClasses> kSizes = make_sizes();
static_assert(kSizes[kNumClasses - 1] == kMaxSlabBlock, "classes must end at kMaxSlabBlock");

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
  X(0), X(1), X(2), X(3), X(4), X(5), X(6), X(7), X(8), X(9), X(10), X(11), X(12), X(13), X(14), X(15),
  X(16), X(17), X(18), X(19), X(20), X(21), X(22), X(23), X(24), X(25), X(26), X(27), X(28), X(29), X(30), X(31),
  X(32), X(33), X(34), X(35), X(36), X(37), X(38), X(39), X(40), X(41), X(42), X(43), X(44), X(45), X(46), X(47),
#undef X
};

constexpr auto kLookup = make_lookup();
const uint8_t g_class_of_small[kLookupMax / 16 + 1] = {
#define Y(i) kLookup[i]
#define Y8(i) Y(i), Y(i + 1), Y(i + 2), Y(i + 3), Y(i + 4), Y(i + 5), Y(i + 6), Y(i + 7)
#define Y64(i) Y8(i), Y8(i + 8), Y8(i + 16), Y8(i + 24), Y8(i + 32), Y8(i + 40), Y8(i + 48), Y8(i + 56)
  Y64(0), Y64(64), Y64(128), Y64(192), Y64(256), Y64(320), Y64(384), Y64(448), Y(512),
#undef Y64
#undef Y8
#undef Y
};
static_assert(sizeof(g_class_of_small) == kLookupMax / 16 + 1);

}  // namespace hakmem
