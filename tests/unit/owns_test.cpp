// hak_owns: true for everything hakmem hands out (and inside it), false for anything else.
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

#include "test_util.h"

using namespace hakmem_test;

namespace {
char g_static_buffer[4096];
const char g_rodata[] = "read-only data";
}  // namespace

TEST(Owns, EveryTierAndInteriorBytes) {
  for (size_t n : {size_t{1}, size_t{16}, size_t{1000}, 9 * KiB, 100 * KiB, 200 * KiB, 5 * MiB}) {
    auto* p = static_cast<char*>(hak_malloc(n));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(hak_owns(p)) << n;
    EXPECT_TRUE(hak_owns(p + n / 2)) << n;
    EXPECT_TRUE(hak_owns(p + n - 1)) << n;
    hak_free(p);
  }
  void* a = nullptr;
  ASSERT_EQ(hak_posix_memalign(&a, 1 * MiB, 3000), 0);
  EXPECT_TRUE(hak_owns(a));
  hak_free(a);
  void* c = hak_calloc(10, 10);
  EXPECT_TRUE(hak_owns(c));
  hak_free(c);
}

TEST(Owns, ForeignMemoryIsNotOwned) {
  int on_stack = 0;
  EXPECT_FALSE(hak_owns(&on_stack));
  EXPECT_FALSE(hak_owns(g_static_buffer));
  EXPECT_FALSE(hak_owns(g_rodata));
  EXPECT_FALSE(hak_owns(reinterpret_cast<void*>(&hak_malloc)));
  EXPECT_FALSE(hak_owns(nullptr));

  void* small = std::malloc(32);        // glibc heap (brk)
  void* big = std::malloc(4 * MiB);     // glibc mmap
  EXPECT_FALSE(hak_owns(small));
  EXPECT_FALSE(hak_owns(big));
  std::free(small);
  std::free(big);

  void* m = mmap(nullptr, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  EXPECT_FALSE(hak_owns(m));
  EXPECT_FALSE(hak_owns(static_cast<char*>(m) + 2 * MiB));
  munmap(m, 4 * MiB);
}

TEST(Owns, OddAddressesDoNotCrash) {
  const uintptr_t odd[] = {1,
                           4096,
                           0x7fffffffe000ull,
                           0x800000000000ull,     // first non-canonical address
                           0xffff800000000000ull, // kernel half
                           1ull << 63,
                           UINTPTR_MAX,
                           UINTPTR_MAX - 15};
  for (uintptr_t a : odd) EXPECT_FALSE(hak_owns(reinterpret_cast<void*>(a))) << std::hex << a;
}
