// Pointers hakmem never handed out are reported and abort, in every build; guard mode
// (HAKMEM_GUARD=1) also catches double and interior frees.
#include <cstdlib>

#include "test_util.h"

using namespace hakmem_test;

namespace {

char g_static_block[256];

// The "threadsafe" style re-executes the test binary for each death test, so the
// child reads its environment (HAKMEM_GUARD) at start-up like a real program.
class DeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

class GuardDeathTest : public DeathTest {
 protected:
  void SetUp() override {
    DeathTest::SetUp();
    setenv("HAKMEM_GUARD", "1", 1);
  }
  void TearDown() override { unsetenv("HAKMEM_GUARD"); }
};

void* opaque(void* p) {
  asm volatile("" : "+r"(p));  // keep the compiler from reasoning about p
  return p;
}

}  // namespace

TEST_F(DeathTest, FreeOfStackAddress) {
  EXPECT_DEATH(
      {
        char local[64];
        hak_free(opaque(local));
      },
      "hakmem: free\\(\\): invalid pointer");
}

TEST_F(DeathTest, FreeOfStaticAddress) {
  EXPECT_DEATH(hak_free(opaque(g_static_block)), "hakmem: free\\(\\): invalid pointer");
}

TEST_F(DeathTest, FreeOfGlibcSmallPointer) {
  EXPECT_DEATH(
      {
        void* p = std::malloc(48);
        hak_free(p);
      },
      "hakmem: free\\(\\): invalid pointer");
}

TEST_F(DeathTest, FreeOfGlibcMmapPointer) {
  EXPECT_DEATH(
      {
        void* p = std::malloc(8 * MiB);
        hak_free(p);
      },
      "hakmem: free\\(\\): invalid pointer");
}

TEST_F(DeathTest, FreeSizedOfForeignPointer) {
  EXPECT_DEATH(
      {
        void* p = std::malloc(48);
        hak_free_sized(p, 48);
      },
      "hakmem: free");
}

TEST_F(DeathTest, ReallocOfStackAddress) {
  EXPECT_DEATH(
      {
        char local[64];
        void* q = hak_realloc(opaque(local), 128);
        hak_free(q);
      },
      "hakmem: (realloc|malloc_usable_size)");
}

TEST_F(DeathTest, ReallocOfGlibcPointer) {
  EXPECT_DEATH(
      {
        void* p = std::malloc(100);
        void* q = hak_realloc(p, 100000);
        hak_free(q);
      },
      "hakmem: (realloc|malloc_usable_size)");
}

TEST_F(DeathTest, UsableSizeOfForeignPointer) {
  EXPECT_DEATH(
      {
        char local[64];
        size_t n = hak_malloc_usable_size(opaque(local));
        fprintf(stderr, "usable %zu\n", n);
      },
      "hakmem: (realloc|malloc_usable_size)");
  EXPECT_DEATH(
      {
        void* p = std::malloc(100);
        size_t n = hak_malloc_usable_size(p);
        fprintf(stderr, "usable %zu\n", n);
      },
      "hakmem: (realloc|malloc_usable_size)");
}

TEST_F(DeathTest, MessageNamesThePointer) {
  EXPECT_DEATH(hak_free(opaque(g_static_block)), "invalid pointer (0x)?[0-9a-fA-F]+");
}

TEST_F(GuardDeathTest, DoubleFreeOfSmallBlock) {
  EXPECT_DEATH(
      {
        void* p = hak_malloc(40);
        hak_free(p);
        hak_free(opaque(p));
      },
      "hakmem: free\\(\\): (double free|invalid pointer)");
}

TEST_F(GuardDeathTest, DoubleFreeOfLargeBlock) {
  EXPECT_DEATH(
      {
        void* p = hak_malloc(1 * MiB);
        hak_free(p);
        hak_free(opaque(p));
      },
      "hakmem: free\\(\\): (double free|invalid pointer)");
}

TEST_F(GuardDeathTest, InteriorPointerFree) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(256));
        hak_free(opaque(p + 16));
      },
      "hakmem: free\\(\\): (interior pointer|invalid pointer)");
}

TEST_F(GuardDeathTest, InteriorPointerOfLargeBlock) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(1 * MiB));
        hak_free(opaque(p + 4096));
      },
      "hakmem: free\\(\\): (interior pointer|invalid pointer)");
}

// Guard mode must not reject correct programs.
TEST(GuardMode, CorrectProgramRunsCleanly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  setenv("HAKMEM_GUARD", "1", 1);
  EXPECT_EXIT(
      {
        std::vector<void*> v;
        for (int i = 0; i < 100000; ++i) v.push_back(hak_malloc(static_cast<size_t>(i % 3000)));
        for (size_t i = 0; i < v.size(); i += 2) hak_free(v[i]);
        for (size_t i = 1; i < v.size(); i += 2) v[i] = hak_realloc(v[i], 100);
        for (size_t i = 1; i < v.size(); i += 2) hak_free(v[i]);
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  unsetenv("HAKMEM_GUARD");
}
