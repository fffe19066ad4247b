// hak_malloc / hak_free: every size tier, alignment, uniqueness, failure modes.
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <set>

#include "test_util.h"

using namespace hakmem_test;

TEST(Malloc, ZeroBytesGivesUniqueFreeablePointers) {
  std::set<void*> seen;
  std::vector<void*> blocks;
  for (int i = 0; i < 1000; ++i) {
    void* p = hak_malloc(0);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is_aligned(p, 16)) << p;
    EXPECT_TRUE(hak_owns(p));
    EXPECT_TRUE(seen.insert(p).second) << "malloc(0) returned " << p << " twice";
    blocks.push_back(p);
  }
  for (void* p : blocks) hak_free(p);
}

TEST(Malloc, FreeNullIsANoOp) {
  hak_free(nullptr);
  hak_free_sized(nullptr, 0);
  hak_free_sized(nullptr, 100);
  hak_free_aligned_sized(nullptr, 64, 64);
}

TEST(Malloc, EverySizeUpTo300KiBIsAlignedOwnedAndWritable) {
  for (size_t n : sizes_up_to_300k()) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr) << "size " << n;
    EXPECT_TRUE(is_aligned(p, 16)) << "size " << n << " -> " << p;
    EXPECT_TRUE(hak_owns(p)) << "size " << n;
    size_t usable = hak_malloc_usable_size(p);
    EXPECT_GE(usable, n);
    fill(p, usable, n);
    EXPECT_EQ(first_mismatch(p, usable, n), usable) << "size " << n;
    hak_free(p);
  }
}

// All blocks alive at once: none may overlap, and a pattern written into one must
// survive writes into all the others.
TEST(Malloc, LiveBlocksOfAllSizesAreDisjoint) {
  auto sizes = sizes_up_to_300k();
  std::vector<Span> live;
  for (size_t i = 0; i < sizes.size(); ++i) {
    void* p = hak_malloc(sizes[i]);
    ASSERT_NE(p, nullptr);
    size_t usable = hak_malloc_usable_size(p);
    ASSERT_GE(usable, sizes[i]);
    fill(p, usable, i);
    live.push_back({p, usable});
  }
  expect_disjoint(live);
  for (size_t i = 0; i < live.size(); ++i) {
    EXPECT_EQ(first_mismatch(live[i].p, live[i].n, i), live[i].n) << "block of size " << sizes[i];
    hak_free(const_cast<void*>(live[i].p));
  }
}

TEST(Malloc, ManySmallBlocksSpanManySlabs) {
  constexpr size_t kCount = 200000;
  for (size_t n : {8u, 16u, 48u, 112u, 1000u}) {
    std::vector<void*> blocks(kCount / (n / 8 + 1));
    std::vector<Span> spans;
    for (size_t i = 0; i < blocks.size(); ++i) {
      blocks[i] = hak_malloc(n);
      ASSERT_NE(blocks[i], nullptr);
      *static_cast<size_t*>(blocks[i]) = i ^ n;
      spans.push_back({blocks[i], n});
    }
    expect_disjoint(spans);
    for (size_t i = 0; i < blocks.size(); ++i) {
      ASSERT_EQ(*static_cast<size_t*>(blocks[i]), i ^ n) << "block " << i << " of size " << n;
      hak_free(blocks[i]);
    }
  }
}

TEST(Malloc, FreedMemoryIsReused) {
  // A loop of malloc/free of one size must not keep mapping memory.
  hak_stats before{};
  hak_stats_get(&before);
  for (int i = 0; i < 1000000; ++i) {
    void* p = hak_malloc(64 + (i % 7) * 16);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[0] = 1;
    hak_free(p);
  }
  for (int i = 0; i < 2000; ++i) {
    void* p = hak_malloc(200 * KiB + (i % 5) * 4096);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[100] = 1;
    hak_free(p);
  }
  hak_stats after{};
  hak_stats_get(&after);
  EXPECT_LT(after.bytes_mapped, before.bytes_mapped + 64 * MiB)
      << "malloc/free of the same sizes keeps mapping memory";
}

TEST(Malloc, LargeAndHugeBlocksAreUsable) {
  const size_t page = page_size();
  for (size_t n : {128 * KiB + 1, 129 * KiB, 300 * KiB, 1 * MiB, 1 * MiB + 1, 4 * MiB - 1,
                   16 * MiB, 64 * MiB}) {
    auto* p = static_cast<unsigned char*>(hak_malloc(n));
    ASSERT_NE(p, nullptr) << "size " << n;
    EXPECT_TRUE(is_aligned(p, 16));
    EXPECT_TRUE(hak_owns(p));
    EXPECT_TRUE(hak_owns(p + n - 1));
    size_t usable = hak_malloc_usable_size(p);
    EXPECT_GE(usable, n);
    // Touch every page (first and last byte of the usable range included).
    for (size_t off = 0; off < usable; off += page) p[off] = static_cast<unsigned char>(off / page);
    p[usable - 1] = 0xA5;
    for (size_t off = 0; off < usable; off += page)
      ASSERT_EQ(p[off], static_cast<unsigned char>(off / page)) << "size " << n << " off " << off;
    EXPECT_EQ(p[usable - 1], 0xA5);
    hak_free(p);
  }
}

TEST(Malloc, ImpossibleSizesFailWithENOMEM) {
  const size_t too_big[] = {
      SIZE_MAX,
      SIZE_MAX - 1,
      SIZE_MAX - 15,
      SIZE_MAX - 4095,
      SIZE_MAX - 2 * MiB,
      static_cast<size_t>(PTRDIFF_MAX) + 1,
      static_cast<size_t>(PTRDIFF_MAX),
      size_t{1} << 62,  // beyond any user address space
  };
  for (size_t n : too_big) {
    errno = 0;
    void* p = hak_malloc(n);
    EXPECT_EQ(p, nullptr) << "malloc(" << n << ")";
    EXPECT_EQ(errno, ENOMEM) << "malloc(" << n << ")";
    if (p) hak_free(p);
  }
  // The allocator still works after refusing.
  void* p = hak_malloc(100);
  ASSERT_NE(p, nullptr);
  hak_free(p);
}
