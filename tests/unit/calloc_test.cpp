// hak_calloc: zeroed memory (fresh and reused, every tier), zero counts, overflow.
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "test_util.h"

using namespace hakmem_test;

TEST(Calloc, FreshMemoryIsZeroedAcrossSizes) {
  auto sizes = sizes_up_to_300k();
  sizes.push_back(1 * MiB + 3);
  sizes.push_back(8 * MiB);
  for (size_t n : sizes) {
    void* p = hak_calloc(1, n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(is_aligned(p, 16));
    EXPECT_TRUE(hak_owns(p));
    EXPECT_GE(hak_malloc_usable_size(p), n);
    ASSERT_TRUE(all_zero(p, n)) << "calloc(1, " << n << ") not zeroed";
    memset(p, 0xCD, n);  // dirty it for whoever gets it next
    hak_free(p);
  }
}

// Memory that was written and freed must come back zeroed from calloc. Many blocks
// per size so that at least some calloc calls are served from the freed ones.
TEST(Calloc, ReusedMemoryIsZeroed) {
  const size_t sizes[] = {8,     16,    24,       100,      512,        1024,      3000,
                          8192,  20000, 64 * KiB, 128 * KiB, 128 * KiB + 16, 300 * KiB, 2 * MiB};
  for (size_t n : sizes) {
    const size_t count = n >= 64 * KiB ? 8 : 256;
    std::vector<void*> blocks(count);
    for (auto& b : blocks) {
      b = hak_malloc(n);
      ASSERT_NE(b, nullptr);
      memset(b, 0xFF, hak_malloc_usable_size(b));
    }
    for (auto b : blocks) hak_free(b);
    for (size_t round = 0; round < 2; ++round) {
      for (auto& b : blocks) {
        b = hak_calloc(n, 1);
        ASSERT_NE(b, nullptr);
        ASSERT_TRUE(all_zero(b, n)) << "calloc reuse of size " << n << " returned dirty memory";
        memset(b, 0xEE, n);
      }
      for (auto b : blocks) hak_free(b);
    }
  }
}

TEST(Calloc, ElementCountTimesSizeIsAllocated) {
  auto* p = static_cast<uint64_t*>(hak_calloc(1000, sizeof(uint64_t)));
  ASSERT_NE(p, nullptr);
  EXPECT_GE(hak_malloc_usable_size(p), 1000 * sizeof(uint64_t));
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p[i], 0u);
  for (int i = 0; i < 1000; ++i) p[i] = i;
  hak_free(p);
}

TEST(Calloc, ZeroCountOrSizeGivesFreeablePointer) {
  void* a = hak_calloc(0, 16);
  void* b = hak_calloc(16, 0);
  void* c = hak_calloc(0, 0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
  hak_free(a);
  hak_free(b);
  hak_free(c);
}

TEST(Calloc, OverflowingProductFailsWithENOMEM) {
  const size_t half = SIZE_MAX / 2 + 1;
  const struct { size_t count, size; } cases[] = {
      {SIZE_MAX, 2},
      {2, SIZE_MAX},
      {half, 2},
      {size_t{1} << 32, size_t{1} << 32},
      {(size_t{1} << 32) + 1, (size_t{1} << 32) - 1},  // wraps to a small number
      {SIZE_MAX, SIZE_MAX},
      {static_cast<size_t>(PTRDIFF_MAX) / 2 + 1, 2},  // no wrap, but over PTRDIFF_MAX
  };
  for (auto c : cases) {
    errno = 0;
    void* p = hak_calloc(c.count, c.size);
    EXPECT_EQ(p, nullptr) << "calloc(" << c.count << ", " << c.size << ")";
    EXPECT_EQ(errno, ENOMEM) << "calloc(" << c.count << ", " << c.size << ")";
    if (p) hak_free(p);
  }
}

// Purged memory that comes back must still be zeroed by calloc: pages given back with
// MADV_FREE keep their old contents until the kernel actually reclaims them.
TEST(Calloc, ZeroedAfterCollect) {
  for (size_t n : {size_t{64}, size_t{3000}, 40 * KiB, 200 * KiB, 4 * MiB}) {
    const size_t count = n >= 64 * KiB ? 4 : 512;
    std::vector<void*> blocks(count);
    for (auto& b : blocks) {
      b = hak_malloc(n);
      ASSERT_NE(b, nullptr);
      memset(b, 0xAB, n);
    }
    for (auto b : blocks) hak_free(b);
    hak_collect();
    for (auto& b : blocks) {
      b = hak_calloc(1, n);
      ASSERT_NE(b, nullptr);
      ASSERT_TRUE(all_zero(b, n)) << "calloc(" << n << ") after hak_collect returned dirty memory";
    }
    for (auto b : blocks) hak_free(b);
  }
}

// A large block that shrank and grew in place leaves old bytes behind its end; a
// later calloc that reuses the mapping must not see them.
TEST(Calloc, ZeroedAfterInPlaceResize) {
  for (int round = 0; round < 4; ++round) {
    auto* p = static_cast<unsigned char*>(hak_malloc(4 * MiB));
    ASSERT_NE(p, nullptr);
    memset(p, 0xCD, 4 * MiB);
    p = static_cast<unsigned char*>(hak_realloc(p, 300 * KiB));
    ASSERT_NE(p, nullptr);
    p = static_cast<unsigned char*>(hak_realloc(p, 4 * MiB));
    ASSERT_NE(p, nullptr);
    memset(p, 0xEF, 4 * MiB);
    p = static_cast<unsigned char*>(hak_realloc(p, 200 * KiB));
    ASSERT_NE(p, nullptr);
    hak_free(p);
    void* q = hak_calloc(4, MiB);
    ASSERT_NE(q, nullptr);
    ASSERT_TRUE(all_zero(q, 4 * MiB)) << "round " << round;
    hak_free(q);
  }
}
