// hak_realloc / hak_reallocarray: contents survive growing and shrinking across every
// tier boundary; NULL and zero-size cases behave like glibc; failures keep the block.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "test_util.h"

using namespace hakmem_test;

namespace {

// Reallocates p (holding n pattern bytes of seed) to m bytes and checks the prefix.
void* realloc_checked(void* p, size_t n, size_t m, size_t seed) {
  void* q = hak_realloc(p, m);
  EXPECT_NE(q, nullptr) << "realloc " << n << " -> " << m;
  if (!q) return nullptr;
  EXPECT_TRUE(is_aligned(q, 16));
  EXPECT_TRUE(hak_owns(q));
  EXPECT_GE(hak_malloc_usable_size(q), m);
  size_t keep = n < m ? n : m;
  EXPECT_EQ(first_mismatch(q, keep, seed), keep) << "realloc " << n << " -> " << m;
  fill(q, m, seed);
  return q;
}

}  // namespace

TEST(Realloc, NullPointerActsLikeMalloc) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{100}, 5000 * size_t{1}, 200 * KiB, 3 * MiB}) {
    void* p = hak_realloc(nullptr, n);
    ASSERT_NE(p, nullptr) << n;
    EXPECT_TRUE(is_aligned(p, 16));
    EXPECT_TRUE(hak_owns(p));
    EXPECT_GE(hak_malloc_usable_size(p), n);
    fill(p, n, n);
    hak_free(p);
  }
}

TEST(Realloc, GrowAndShrinkAcrossTiersKeepsContents) {
  const size_t chain[] = {1,        16,        17,        100,           1024,      1025,
                          8192,     8193,      64 * KiB,  128 * KiB,     128 * KiB + 1,
                          300 * KiB, 1 * MiB,  64 * MiB,  200 * KiB,     128 * KiB, 100 * KiB,
                          8 * KiB,  1000,      40,        8,             1,         3 * MiB,
                          24,       512 * KiB, 2};
  void* p = hak_malloc(chain[0]);
  ASSERT_NE(p, nullptr);
  fill(p, chain[0], 7);
  size_t n = chain[0];
  for (size_t m : chain) {
    p = realloc_checked(p, n, m, 7);
    ASSERT_NE(p, nullptr);
    n = m;
  }
  hak_free(p);
}

TEST(Realloc, SmallStepsKeepContents) {
  size_t n = 1;
  void* p = hak_malloc(n);
  ASSERT_NE(p, nullptr);
  fill(p, n, 3);
  for (size_t m = 2; m <= 4096; ++m, n = m - 1) {  // every size: each in-place/moving decision
    p = realloc_checked(p, m - 1, m, 3);
    ASSERT_NE(p, nullptr);
  }
  n = 4096;
  while (n < 2 * MiB) {  // geometric growth through the mid and large tiers
    size_t m = n + n / 9 + 1;
    p = realloc_checked(p, n, m, 3);
    ASSERT_NE(p, nullptr);
    n = m;
  }
  while (n > 16) {  // and back down
    size_t m = n - n / 7 - 1;
    p = realloc_checked(p, n, m, 3);
    ASSERT_NE(p, nullptr);
    n = m;
  }
  hak_free(p);
}

TEST(Realloc, ManyInterleavedBlocksKeepTheirContents) {
  // Reallocating one block must never disturb its neighbours.
  constexpr int kBlocks = 64;
  void* p[kBlocks];
  size_t n[kBlocks];
  for (int i = 0; i < kBlocks; ++i) {
    n[i] = 8 + i * 24;
    p[i] = hak_malloc(n[i]);
    ASSERT_NE(p[i], nullptr);
    fill(p[i], n[i], i);
  }
  uint64_t rng = 42;
  for (int step = 0; step < 20000; ++step) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    int i = static_cast<int>((rng >> 33) % kBlocks);
    size_t m = (rng >> 40) % (step % 50 == 0 ? 400 * KiB : 3000) + 1;
    p[i] = realloc_checked(p[i], n[i], m, i);
    ASSERT_NE(p[i], nullptr);
    n[i] = m;
  }
  for (int i = 0; i < kBlocks; ++i) {
    EXPECT_EQ(first_mismatch(p[i], n[i], i), n[i]);
    hak_free(p[i]);
  }
}

TEST(Realloc, SameSizeKeepsContents) {
  for (size_t n : {size_t{24}, size_t{4000}, 100 * KiB, 1 * MiB}) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    fill(p, n, 11);
    p = realloc_checked(p, n, n, 11);
    ASSERT_NE(p, nullptr);
    hak_free(p);
  }
}

// glibc: realloc(p, 0) frees p and returns NULL.
TEST(Realloc, ZeroSizeFreesAndReturnsNull) {
  for (size_t n : {size_t{1}, size_t{100}, 4 * KiB, 300 * KiB}) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(hak_realloc(p, 0), nullptr) << "realloc(p of " << n << ", 0)";
  }
  // If realloc(p, 0) leaked p, this would map ~800 MiB.
  hak_stats before{};
  hak_stats_get(&before);
  for (int i = 0; i < 200000; ++i) {
    void* p = hak_malloc(4000);
    ASSERT_NE(p, nullptr);
    static_cast<char*>(p)[0] = 1;
    void* q = hak_realloc(p, 0);
    ASSERT_EQ(q, nullptr);
  }
  hak_stats after{};
  hak_stats_get(&after);
  EXPECT_LT(after.bytes_mapped, before.bytes_mapped + 64 * MiB) << "realloc(p, 0) leaks p";
}

TEST(Realloc, NullAndZeroActsLikeMallocZero) {
  void* p = hak_realloc(nullptr, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(hak_owns(p));
  hak_free(p);
}

TEST(Realloc, FailureKeepsTheOriginalBlock) {
  for (size_t n : {size_t{100}, 50 * KiB, 500 * KiB}) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    fill(p, n, 5);
    for (size_t m : {SIZE_MAX, SIZE_MAX - 4095, static_cast<size_t>(PTRDIFF_MAX) + 1}) {
      errno = 0;
      EXPECT_EQ(hak_realloc(p, m), nullptr) << "realloc to " << m;
      EXPECT_EQ(errno, ENOMEM);
      ASSERT_EQ(first_mismatch(p, n, 5), n) << "failed realloc damaged the block";
    }
    hak_free(p);
  }
}

TEST(Realloc, AlignedBlocksKeepContents) {
  for (size_t align : {size_t{64}, size_t{4096}, 64 * KiB, 1 * MiB}) {
    void* p = nullptr;
    ASSERT_EQ(hak_posix_memalign(&p, align, 1000), 0);
    fill(p, 1000, align);
    p = realloc_checked(p, 1000, 100, align);
    ASSERT_NE(p, nullptr);
    p = realloc_checked(p, 100, 400 * KiB, align);
    ASSERT_NE(p, nullptr);
    hak_free(p);
  }
}

TEST(ReallocArray, GrowsLikeRealloc) {
  auto* p = static_cast<uint32_t*>(hak_reallocarray(nullptr, 10, sizeof(uint32_t)));
  ASSERT_NE(p, nullptr);
  for (uint32_t i = 0; i < 10; ++i) p[i] = i * 3;
  p = static_cast<uint32_t*>(hak_reallocarray(p, 100000, sizeof(uint32_t)));
  ASSERT_NE(p, nullptr);
  EXPECT_GE(hak_malloc_usable_size(p), 100000 * sizeof(uint32_t));
  for (uint32_t i = 0; i < 10; ++i) ASSERT_EQ(p[i], i * 3);
  for (uint32_t i = 0; i < 100000; ++i) p[i] = i;
  p = static_cast<uint32_t*>(hak_reallocarray(p, 5, sizeof(uint32_t)));
  ASSERT_NE(p, nullptr);
  for (uint32_t i = 0; i < 5; ++i) ASSERT_EQ(p[i], i);
  hak_free(p);
}

TEST(ReallocArray, OverflowFailsWithENOMEMAndKeepsTheBlock) {
  void* p = hak_malloc(64);
  ASSERT_NE(p, nullptr);
  fill(p, 64, 9);
  const struct { size_t count, size; } cases[] = {
      {SIZE_MAX, 2}, {2, SIZE_MAX}, {size_t{1} << 33, size_t{1} << 31}, {SIZE_MAX / 3 + 1, 3}};
  for (auto c : cases) {
    errno = 0;
    EXPECT_EQ(hak_reallocarray(p, c.count, c.size), nullptr) << c.count << " x " << c.size;
    EXPECT_EQ(errno, ENOMEM);
    errno = 0;
    EXPECT_EQ(hak_reallocarray(nullptr, c.count, c.size), nullptr) << c.count << " x " << c.size;
    EXPECT_EQ(errno, ENOMEM);
  }
  EXPECT_EQ(first_mismatch(p, 64, 9), 64u);
  hak_free(p);
}

TEST(ReallocArray, ZeroProductFreesLikeRealloc) {
  void* p = hak_malloc(64);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(hak_reallocarray(p, 0, 8), nullptr);
}

// Large blocks resized in place: what was there stays, the block stays usable in full.
TEST(Realloc, LargeInPlaceShrinkThenGrowKeepsThePrefix) {
  void* p = hak_malloc(8 * MiB);
  ASSERT_NE(p, nullptr);
  fill(p, 8 * MiB, 21);
  for (size_t m : {6 * MiB, 1 * MiB, 129 * KiB, 3 * MiB, 8 * MiB + 5, 16 * MiB}) {
    size_t keep = std::min(m, size_t{129} * KiB);
    void* q = hak_realloc(p, m);
    ASSERT_NE(q, nullptr) << m;
    ASSERT_EQ(first_mismatch(q, keep, 21), keep) << "realloc to " << m;
    ASSERT_GE(hak_malloc_usable_size(q), m);
    fill(q, m, 21);
    p = q;
  }
  hak_free(p);
}
