// Default mode (no HAKMEM_GUARD) keeps glibc's two checks: a double free and a free of
// a pointer inside a block are reported, naming hakmem and the pointer, then abort.
// Each case is tried on every path a freed block can take: the fast cache, the slab's
// local list, the remote queue of another thread's slab, a slab gone back to the pool.
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "test_util.h"

using namespace hakmem_test;

namespace {

class FreeCheckDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    unsetenv("HAKMEM_GUARD");
  }
};

void* opaque(void* p) {
  asm volatile("" : "+r"(p));
  return p;
}

constexpr const char* kDouble = "hakmem: free\\(\\): double free of (0x)?[0-9a-fA-F]+";
constexpr const char* kInterior = "hakmem: free\\(\\): interior pointer (0x)?[0-9a-fA-F]+";

// Frees `victim` twice with `between` other blocks of the same size freed in between,
// enough to overflow the fast cache so the victim is on the slab's own list.
void double_free_with_frees_between(size_t size, int between) {
  void* victim = hak_malloc(size);
  std::vector<void*> others;
  for (int i = 0; i < between; i++) others.push_back(hak_malloc(size));
  hak_free(victim);
  for (void* p : others) hak_free(p);
  hak_free(opaque(victim));
}

}  // namespace

TEST_F(FreeCheckDeathTest, ImmediateDoubleFreeOfSmallBlock) {
  EXPECT_DEATH(
      {
        void* keep = hak_malloc(64);
        void* p = hak_malloc(64);
        hak_free(p);
        hak_free(opaque(p));
        hak_free(keep);
      },
      kDouble);
}

TEST_F(FreeCheckDeathTest, DoubleFreeWithOtherFreesBetween) {
  EXPECT_DEATH(double_free_with_frees_between(48, 3), kDouble);
  EXPECT_DEATH(double_free_with_frees_between(48, 500), kDouble);  // past the fast cache
  EXPECT_DEATH(double_free_with_frees_between(1024, 200), kDouble);
  EXPECT_DEATH(double_free_with_frees_between(8192, 20), kDouble);
}

TEST_F(FreeCheckDeathTest, DoubleFreeOfMidSizeBlock) {
  EXPECT_DEATH(double_free_with_frees_between(20000, 0), kDouble);
  EXPECT_DEATH(double_free_with_frees_between(100000, 8), kDouble);
}

TEST_F(FreeCheckDeathTest, DoubleFreeByAnotherThread) {
  // The first free is remote (the block waits in the owner's slab queue), the second
  // too, from a third thread.
  EXPECT_DEATH(
      {
        void* keep = hak_malloc(96);
        void* p = hak_malloc(96);
        std::thread([p] { hak_free(p); }).join();
        std::thread([p] { hak_free(opaque(p)); }).join();
        hak_free(keep);
      },
      kDouble);
}

TEST_F(FreeCheckDeathTest, OwnerFreesWhatAnotherThreadFreed) {
  // Remote free first; then the owner frees it again on its local path.
  EXPECT_DEATH(
      {
        void* keep = hak_malloc(200);
        void* p = hak_malloc(200);
        std::thread([p] { hak_free(p); }).join();
        hak_free(opaque(p));
        hak_free(keep);
      },
      kDouble);
}

TEST_F(FreeCheckDeathTest, DoubleFreeAfterTheOwnerExited) {
  // The owner's exit flushes its caches and lets go of its slabs (the slab may be back
  // in the pool): the second free is still reported.
  EXPECT_DEATH(
      {
        void* p = nullptr;
        std::thread([&p] {
          p = hak_malloc(3000);
          hak_free(p);
        }).join();
        hak_free(opaque(p));
      },
      kDouble);
}

TEST_F(FreeCheckDeathTest, DoubleDeleteThroughSizedFree) {
  EXPECT_DEATH(
      {
        void* p = hak_malloc(32);
        hak_free_sized(p, 32);
        hak_free_sized(opaque(p), 32);
      },
      kDouble);
}

TEST_F(FreeCheckDeathTest, InteriorPointerOfSmallBlock) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(256));
        hak_free(opaque(p + 16));
      },
      kInterior);
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(48));
        hak_free(opaque(p + 8));
      },
      kInterior);
}

TEST_F(FreeCheckDeathTest, InteriorPointerOfMidSizeBlock) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(40000));
        hak_free(opaque(p + 4096));
      },
      kInterior);
}

TEST_F(FreeCheckDeathTest, InteriorPointerFromAnotherThread) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(512));
        std::thread([p] { hak_free(opaque(p + 32)); }).join();
      },
      kInterior);
}

TEST_F(FreeCheckDeathTest, LargeBlockDoubleAndInteriorFree) {
  EXPECT_DEATH(
      {
        void* p = hak_malloc(3 * MiB);
        hak_free(p);
        hak_free(opaque(p));
      },
      "hakmem: free\\(\\): double free");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(1 * MiB));
        hak_free(opaque(p + 64));
      },
      "hakmem: free\\(\\): invalid pointer");
}

TEST_F(FreeCheckDeathTest, ReallocAndUsableSizeCheckToo) {
  EXPECT_DEATH(
      {
        void* p = hak_malloc(100);
        hak_free(p);
        (void)hak_realloc(opaque(p), 200);
      },
      "hakmem: realloc\\(\\): double free");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(100));
        (void)hak_realloc(opaque(p + 16), 200);
      },
      "hakmem: realloc\\(\\): interior pointer");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(100));
        (void)hak_malloc_usable_size(opaque(p + 16));
      },
      "hakmem: malloc_usable_size\\(\\): interior pointer");
}

// No false alarm: a block whose bytes were copied from a freed block (its mark
// included), blocks filled with every byte pattern, and blocks reused after a free.
TEST(FreeCheck, CorrectProgramsAreNotReported) {
  void* src = hak_malloc(64);
  hak_free(src);  // the freed block now carries its mark
  void* dst = hak_malloc(64);
  std::memcpy(dst, src, 64);  // reading a freed block: what a buggy-but-lucky program does
  hak_free(dst);
  for (size_t size : {16, 24, 64, 1024, 8192, 20000, 131072}) {
    std::vector<void*> blocks;
    for (int i = 0; i < 300; i++) {
      void* p = hak_malloc(size);
      std::memset(p, i & 0xff, size);
      blocks.push_back(p);
    }
    for (void* p : blocks) hak_free(p);
    for (int i = 0; i < 300; i++) hak_free(hak_malloc(size));  // freed blocks handed out again
  }
  void* a = hak_calloc(4, 16);
  void* b = hak_aligned_alloc(256, 256);
  void* c = hak_realloc(hak_malloc(10), 500);
  hak_free(a);
  hak_free(b);
  hak_free(c);
}
