// malloc_usable_size and the sized frees.
#include <algorithm>
#include <cstring>

#include "test_util.h"

using namespace hakmem_test;

TEST(UsableSize, NullIsZero) { EXPECT_EQ(hak_malloc_usable_size(nullptr), 0u); }

// The whole usable size belongs to the caller: filling it in many neighbouring
// blocks at once must not disturb any of them.
TEST(UsableSize, WholeUsableSizeIsWritableWithoutTouchingNeighbours) {
  for (size_t n : sizes_up_to_300k()) {
    if (n > 4096 && n % 3 != 0 && n < 100 * KiB) continue;  // keep it quick in the mid range
    const int count = n <= 4096 ? 32 : 4;
    std::vector<Span> live;
    for (int i = 0; i < count; ++i) {
      void* p = hak_malloc(n);
      ASSERT_NE(p, nullptr);
      size_t usable = hak_malloc_usable_size(p);
      ASSERT_GE(usable, n);
      fill(p, usable, n * 64 + i);
      live.push_back({p, usable});
    }
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(first_mismatch(live[i].p, live[i].n, n * 64 + i), live[i].n)
          << "size " << n << ": usable size " << live[i].n << " overlaps a neighbour";
    }
    expect_disjoint(live);
    for (auto& s : live) hak_free(const_cast<void*>(s.p));
  }
}

TEST(UsableSize, StableForTheLifetimeOfTheBlock) {
  for (size_t n : {size_t{1}, size_t{777}, 50 * KiB, 2 * MiB}) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    size_t u = hak_malloc_usable_size(p);
    void* others[16];
    for (auto& o : others) o = hak_malloc(n);
    EXPECT_EQ(hak_malloc_usable_size(p), u);
    for (auto o : others) hak_free(o);
    EXPECT_EQ(hak_malloc_usable_size(p), u);
    hak_free(p);
  }
}

TEST(UsableSize, NotWastefulForSmallSizes) {
  // Not a correctness rule, but a usable size far above the request means the size
  // classes are broken: at most 50% (or 64 bytes) slack below 128 KiB. (A thread's first
  // blocks of a class below 1 KiB come from the nursery, rounded up to a whole number
  // of cache lines: up to 63 bytes more than the class.)
  for (size_t n : sizes_up_to_300k()) {
    if (n > 128 * KiB) break;
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    EXPECT_LE(hak_malloc_usable_size(p), n + std::max(n / 2, size_t{64})) << "size " << n;
    hak_free(p);
  }
}

TEST(FreeSized, ExactSizesAcrossTiers) {
  std::vector<std::pair<void*, size_t>> blocks;
  for (size_t n : sizes_up_to_300k()) {
    void* p = (n % 3 == 0) ? hak_calloc(n / 3, 3) : hak_malloc(n);
    ASSERT_NE(p, nullptr);
    fill(p, n, n);
    blocks.emplace_back(p, n);
  }
  for (size_t n : {1 * MiB, 9 * MiB + 1}) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    blocks.emplace_back(p, n);
  }
  for (auto [p, n] : blocks) hak_free_sized(p, n);
  // The heap is still consistent: the same sizes again, all disjoint.
  std::vector<Span> live;
  for (size_t n : sizes_up_to_300k()) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    fill(p, n, n + 1);
    live.push_back({p, n});
  }
  expect_disjoint(live);
  for (auto& s : live) {
    EXPECT_EQ(first_mismatch(s.p, s.n, s.n + 1), s.n);
    hak_free_sized(const_cast<void*>(s.p), s.n);
  }
}

TEST(FreeSized, ReallocatedBlockWithItsNewSize) {
  void* p = hak_malloc(10);
  ASSERT_NE(p, nullptr);
  p = hak_realloc(p, 5000);
  ASSERT_NE(p, nullptr);
  hak_free_sized(p, 5000);
}

TEST(FreeAlignedSized, PosixMemalignAndMemalignBlocks) {
  for (size_t a : {size_t{32}, size_t{512}, size_t{8192}, 2 * MiB}) {
    void* p = nullptr;
    ASSERT_EQ(hak_posix_memalign(&p, a, 3 * a), 0);
    fill(p, 3 * a, a);
    hak_free_aligned_sized(p, a, 3 * a);
    p = hak_memalign(a, a);
    ASSERT_NE(p, nullptr);
    hak_free_aligned_sized(p, a, a);
  }
}
