// posix_memalign, aligned_alloc, memalign, valloc, pvalloc.
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "test_util.h"

using namespace hakmem_test;

namespace {

std::vector<size_t> sizes_for(size_t a) {
  std::vector<size_t> s = {0, 1, a, 3 * a};
  if (a > 1) s.push_back(a - 1);
  return s;
}

void check_block(void* p, size_t align, size_t n, size_t seed) {
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(is_aligned(p, align)) << p << " align " << align << " size " << n;
  EXPECT_TRUE(is_aligned(p, 16)) << p;
  EXPECT_TRUE(hak_owns(p));
  size_t usable = hak_malloc_usable_size(p);
  EXPECT_GE(usable, n);
  fill(p, usable, seed);
}

}  // namespace

TEST(PosixMemalign, RejectsInvalidAlignmentWithEINVAL) {
  const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 40, 48, 3 * sizeof(void*), 4096 + 8,
                        SIZE_MAX, SIZE_MAX - 7};
  for (size_t a : bad) {
    void* sentinel = reinterpret_cast<void*>(0x1234);
    void* out = sentinel;
    EXPECT_EQ(hak_posix_memalign(&out, a, 64), EINVAL) << "alignment " << a;
    // POSIX: on failure *memptr is left unmodified or set to NULL.
    EXPECT_TRUE(out == sentinel || out == nullptr) << "alignment " << a;
  }
}

TEST(PosixMemalign, ImpossibleRequestFailsWithENOMEM) {
  const struct { size_t align, size; } cases[] = {
      {64, SIZE_MAX},
      {64, SIZE_MAX - 63},
      {4096, static_cast<size_t>(PTRDIFF_MAX) + 1},
      {size_t{1} << 63, 1},
      {1 * MiB, SIZE_MAX - 1 * MiB + 1},
  };
  for (auto c : cases) {
    void* out = reinterpret_cast<void*>(0x1234);
    EXPECT_EQ(hak_posix_memalign(&out, c.align, c.size), ENOMEM)
        << "align " << c.align << " size " << c.size;
  }
}

TEST(PosixMemalign, EveryPowerOfTwoAlignmentFrom8To1MiB) {
  std::vector<Span> live;
  size_t seed = 0;
  for (size_t a = sizeof(void*); a <= 1 * MiB; a *= 2) {
    for (size_t n : sizes_for(a)) {
      void* p = nullptr;
      ASSERT_EQ(hak_posix_memalign(&p, a, n), 0) << "align " << a << " size " << n;
      check_block(p, a, n, ++seed);
      live.push_back({p, hak_malloc_usable_size(p)});
    }
  }
  expect_disjoint(live);
  seed = 0;
  for (auto& s : live) {
    EXPECT_EQ(first_mismatch(s.p, s.n, ++seed), s.n);
    hak_free(const_cast<void*>(s.p));
  }
}

TEST(PosixMemalign, LargeAlignmentsWithHugeSizes) {
  const struct { size_t align, size; } cases[] = {
      {2 * MiB, 5 * MiB}, {1 * MiB, 64 * MiB}, {4 * MiB, 1}, {64 * KiB, 300 * KiB}};
  for (auto c : cases) {
    void* p = nullptr;
    ASSERT_EQ(hak_posix_memalign(&p, c.align, c.size), 0);
    check_block(p, c.align, c.size, c.align);
    hak_free(p);
  }
}

TEST(PosixMemalign, ManySmallAlignedBlocks) {
  std::vector<void*> v;
  for (int i = 0; i < 20000; ++i) {
    size_t a = size_t{8} << (i % 10);  // 8 .. 4096
    size_t n = (i * 37) % 700;
    void* p = nullptr;
    ASSERT_EQ(hak_posix_memalign(&p, a, n), 0);
    ASSERT_TRUE(is_aligned(p, a));
    ASSERT_GE(hak_malloc_usable_size(p), n);
    memset(p, i & 0xff, n);
    v.push_back(p);
  }
  for (size_t i = 0; i < v.size(); ++i) {
    size_t n = (i * 37) % 700;
    for (size_t k = 0; k < n; ++k)
      ASSERT_EQ(static_cast<unsigned char*>(v[i])[k], i & 0xff) << "block " << i;
    hak_free(v[i]);
  }
}

TEST(AlignedAlloc, PowerOfTwoAlignmentsAnySize) {
  std::vector<Span> live;
  size_t seed = 100;
  for (size_t a = 1; a <= 1 * MiB; a *= 2) {
    auto sizes = sizes_for(a);
    sizes.push_back(a + 1);  // not a multiple of the alignment: fine since C17 (DR 460)
    for (size_t n : sizes) {
      if (n == 0) continue;
      void* p = hak_aligned_alloc(a, n);
      check_block(p, a, n, ++seed);
      live.push_back({p, hak_malloc_usable_size(p)});
    }
  }
  expect_disjoint(live);
  for (auto& s : live) hak_free(const_cast<void*>(s.p));
}

TEST(AlignedAlloc, InvalidAlignmentFailsWithEINVAL) {
  for (size_t a : {size_t{0}, size_t{3}, size_t{24}, size_t{1000}, size_t{4097}, SIZE_MAX}) {
    errno = 0;
    void* p = hak_aligned_alloc(a, 64);
    EXPECT_EQ(p, nullptr) << "aligned_alloc(" << a << ", 64)";
    EXPECT_EQ(errno, EINVAL) << "aligned_alloc(" << a << ", 64)";
    if (p) hak_free(p);
  }
}

TEST(AlignedAlloc, ImpossibleSizeFailsWithENOMEM) {
  errno = 0;
  EXPECT_EQ(hak_aligned_alloc(64, SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hak_aligned_alloc(4096, static_cast<size_t>(PTRDIFF_MAX) + 1), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(AlignedAlloc, FreeAlignedSized) {
  for (size_t a : {size_t{16}, size_t{64}, size_t{4096}, 256 * KiB}) {
    for (size_t n : {a, 3 * a, a + 5, size_t{200} * KiB + a}) {
      void* p = hak_aligned_alloc(a, n);
      check_block(p, a, n, a + n);
      hak_free_aligned_sized(p, a, n);
    }
  }
  void* p = hak_malloc(100);  // still healthy
  ASSERT_NE(p, nullptr);
  hak_free(p);
}

TEST(Memalign, PowerOfTwoAlignments) {
  for (size_t a = 1; a <= 1 * MiB; a *= 2) {
    for (size_t n : sizes_for(a)) {
      void* p = hak_memalign(a, n);
      check_block(p, a, n, a ^ n);
      hak_free(p);
    }
  }
}

// glibc rounds a non-power-of-two alignment up to the next power of two; an
// allocator may instead refuse with EINVAL. A misaligned pointer is never right.
TEST(Memalign, NonPowerOfTwoAlignmentIsRoundedUpOrRefused) {
  const struct { size_t align, rounded; } cases[] = {{24, 32}, {48, 64}, {100, 128}, {3000, 4096}};
  for (auto c : cases) {
    errno = 0;
    void* p = hak_memalign(c.align, 100);
    if (p == nullptr) {
      EXPECT_EQ(errno, EINVAL) << "memalign(" << c.align << ")";
      continue;
    }
    EXPECT_TRUE(is_aligned(p, c.rounded)) << "memalign(" << c.align << ") -> " << p;
    EXPECT_GE(hak_malloc_usable_size(p), 100u);
    hak_free(p);
  }
}

TEST(Valloc, PageAligned) {
  const size_t page = page_size();
  for (size_t n : {size_t{0}, size_t{1}, page - 1, page, page + 1, 100 * KiB, 1 * MiB + 7}) {
    void* p = hak_valloc(n);
    check_block(p, page, n, n);
    hak_free(p);
  }
}

TEST(Pvalloc, PageAlignedAndSizeRoundedToPages) {
  const size_t page = page_size();
  for (size_t n : {size_t{0}, size_t{1}, page - 1, page, page + 1, 3 * page + 5, 1 * MiB + 7}) {
    void* p = hak_pvalloc(n);
    size_t rounded = (n + page - 1) / page * page;
    check_block(p, page, rounded, n + 1);
    EXPECT_GE(hak_malloc_usable_size(p), rounded) << "pvalloc(" << n << ")";
    hak_free(p);
  }
}

TEST(Pvalloc, ImpossibleSizeFailsWithENOMEM) {
  errno = 0;
  EXPECT_EQ(hak_pvalloc(SIZE_MAX - 10), nullptr);  // rounding up to a page must not wrap
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(hak_valloc(SIZE_MAX), nullptr);
  EXPECT_EQ(errno, ENOMEM);
}
