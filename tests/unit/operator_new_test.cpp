// The C++ operators of libhakmem.so: linked into this executable, so every operator
// new/delete (and malloc) here is hakmem's.
#include <hakmem/hakmem.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr size_t KiB = 1024;
constexpr size_t MiB = 1024 * KiB;

bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// Keeps the compiler from folding an impossible size into the call site.
size_t opaque(size_t n) {
  asm volatile("" : "+r"(n));
  return n;
}

// Uses a result the test expects never to get, so the call cannot be dropped.
__attribute__((noinline)) void keep(void* p) {
  asm volatile("" : : "r"(p) : "memory");
  if (p) ::operator delete(p);
}
__attribute__((noinline)) void keep_array(char* p) {
  asm volatile("" : : "r"(p) : "memory");
  delete[] p;
}
__attribute__((noinline)) void keep(void* p, std::align_val_t a) {
  asm volatile("" : : "r"(p) : "memory");
  if (p) ::operator delete(p, a);
}

void check(void* p, size_t n, size_t align) {
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(hak_owns(p)) << p << " is not hakmem memory";
  EXPECT_TRUE(aligned(p, align)) << p << " align " << align;
  EXPECT_GE(hak_malloc_usable_size(p), n);
  memset(p, 0x3C, n);
}

const size_t kSizes[] = {1, 8, 24, 100, 1000, 5000, 70 * KiB, 200 * KiB, 3 * MiB};
const size_t kAligns[] = {16, 32, 64, 256, 4096, 64 * KiB, 1 * MiB};

struct alignas(64) CacheLine { char bytes[64]; };
struct alignas(4096) Page { char bytes[100]; };
struct alignas(1024 * 1024) Huge { char bytes[100]; };

}  // namespace

TEST(OperatorNew, MallocIsHakmem) {
  void* p = malloc(10);
  EXPECT_TRUE(hak_owns(p));
  free(p);
  char* s = strdup("hakmem");  // allocated inside libc
  EXPECT_TRUE(hak_owns(s));
  free(s);
}

TEST(OperatorNew, PlainAndArray) {
  for (size_t n : kSizes) {
    void* p = ::operator new(n);
    check(p, n, 16);
    ::operator delete(p);
    p = ::operator new[](n);
    check(p, n, 16);
    ::operator delete[](p);
  }
}

TEST(OperatorNew, Nothrow) {
  for (size_t n : kSizes) {
    void* p = ::operator new(n, std::nothrow);
    check(p, n, 16);
    ::operator delete(p, std::nothrow);
    p = ::operator new[](n, std::nothrow);
    check(p, n, 16);
    ::operator delete[](p, std::nothrow);
  }
}

TEST(OperatorNew, SizedDelete) {
  for (size_t n : kSizes) {
    void* p = ::operator new(n);
    check(p, n, 16);
    ::operator delete(p, n);
    p = ::operator new[](n);
    check(p, n, 16);
    ::operator delete[](p, n);
  }
}

TEST(OperatorNew, Aligned) {
  for (size_t a : kAligns) {
    for (size_t n : {size_t{1}, a, 3 * a + 1}) {
      auto al = std::align_val_t{a};
      void* p = ::operator new(n, al);
      check(p, n, a);
      ::operator delete(p, al);
      p = ::operator new[](n, al);
      check(p, n, a);
      ::operator delete[](p, al);
      p = ::operator new(n, al);
      check(p, n, a);
      ::operator delete(p, n, al);  // sized + aligned
      p = ::operator new[](n, al);
      check(p, n, a);
      ::operator delete[](p, n, al);
      p = ::operator new(n, al, std::nothrow);
      check(p, n, a);
      ::operator delete(p, al, std::nothrow);
      p = ::operator new[](n, al, std::nothrow);
      check(p, n, a);
      ::operator delete[](p, al, std::nothrow);
    }
  }
}

TEST(OperatorNew, NewExpressions) {
  auto* i = new int(7);
  EXPECT_TRUE(hak_owns(i));
  EXPECT_EQ(*i, 7);
  delete i;
  auto* arr = new long[1000]();
  EXPECT_TRUE(hak_owns(arr));
  for (int k = 0; k < 1000; ++k) ASSERT_EQ(arr[k], 0);
  delete[] arr;

  auto* c = new CacheLine;
  EXPECT_TRUE(hak_owns(c));
  EXPECT_TRUE(aligned(c, 64));
  delete c;
  auto* cs = new CacheLine[17];
  EXPECT_TRUE(aligned(cs, 64));
  delete[] cs;
  auto* pg = new Page;
  EXPECT_TRUE(hak_owns(pg));
  EXPECT_TRUE(aligned(pg, 4096));
  delete pg;
  auto* pgs = new Page[3];
  EXPECT_TRUE(aligned(pgs, 4096));
  delete[] pgs;
  auto* huge = new Huge;
  EXPECT_TRUE(hak_owns(huge));
  EXPECT_TRUE(aligned(huge, 1 * MiB));
  delete huge;
  auto* huges = new Huge[3];
  EXPECT_TRUE(hak_owns(huges));
  EXPECT_TRUE(aligned(huges, 1 * MiB));
  delete[] huges;
  auto* nt = new (std::nothrow) Page;
  ASSERT_NE(nt, nullptr);
  EXPECT_TRUE(aligned(nt, 4096));
  delete nt;
}

TEST(OperatorNew, StandardContainers) {
  std::vector<std::string> v;
  std::map<int, std::string> m;
  for (int i = 0; i < 20000; ++i) {
    v.push_back(std::string(static_cast<size_t>(i % 97), static_cast<char>('a' + i % 26)));
    m[i * 7919 % 20011] = v.back();
  }
  EXPECT_TRUE(hak_owns(v.data()));
  size_t total = 0;
  for (auto& [k, s] : m) total += s.size() + static_cast<size_t>(k);
  EXPECT_GT(total, 0u);
  auto sp = std::make_shared<std::vector<int>>(100000, 3);
  EXPECT_TRUE(hak_owns(sp->data()));
  auto up = std::make_unique<CacheLine[]>(5);
  EXPECT_TRUE(aligned(up.get(), 64));
}

TEST(OperatorNew, ImpossibleSizeThrowsBadAlloc) {
  EXPECT_THROW(keep(::operator new(opaque(SIZE_MAX))), std::bad_alloc);
  EXPECT_THROW(keep(::operator new[](opaque(SIZE_MAX / 2))), std::bad_alloc);
  EXPECT_THROW(keep(::operator new(opaque(size_t{1} << 62), std::align_val_t{64}), std::align_val_t{64}),
               std::bad_alloc);
  EXPECT_THROW(keep(::operator new[](opaque(SIZE_MAX - 4096), std::align_val_t{4096}), std::align_val_t{4096}),
               std::bad_alloc);
  EXPECT_THROW(
      {
        auto* p = new char[opaque(SIZE_MAX - 1)];
        keep_array(p);
      },
      std::bad_alloc);
}

TEST(OperatorNew, NothrowReturnsNull) {
  EXPECT_EQ(::operator new(opaque(SIZE_MAX), std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](opaque(SIZE_MAX / 2), std::nothrow), nullptr);
  EXPECT_EQ(::operator new(opaque(SIZE_MAX), std::align_val_t{64}, std::nothrow), nullptr);
  EXPECT_EQ(::operator new[](opaque(SIZE_MAX), std::align_val_t{4096}, std::nothrow), nullptr);
  char* p = new (std::nothrow) char[opaque(SIZE_MAX - 1)];
  EXPECT_EQ(p, nullptr);
  keep_array(p);
}

namespace {
int g_handler_calls = 0;
int g_handler_budget = 0;

// Counts its calls; after its budget it uninstalls itself, so the next failure throws.
void counting_handler() {
  ++g_handler_calls;
  if (--g_handler_budget <= 0) std::set_new_handler(nullptr);
}

struct HandlerMarker {};
void throwing_handler() {
  ++g_handler_calls;
  throw HandlerMarker{};
}
void bad_alloc_handler() {
  ++g_handler_calls;
  throw std::bad_alloc{};
}

void install(std::new_handler h, int budget) {
  g_handler_calls = 0;
  g_handler_budget = budget;
  std::set_new_handler(h);
}
}  // namespace

TEST(NewHandler, CalledUntilItUninstallsItself) {
  install(counting_handler, 3);
  EXPECT_THROW(keep(::operator new(opaque(SIZE_MAX))), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 3);

  install(counting_handler, 2);
  EXPECT_THROW(keep(::operator new[](opaque(SIZE_MAX / 2))), std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 2);

  install(counting_handler, 4);
  EXPECT_THROW(keep(::operator new(opaque(SIZE_MAX), std::align_val_t{256}), std::align_val_t{256}),
               std::bad_alloc);
  EXPECT_EQ(g_handler_calls, 4);
  EXPECT_EQ(std::get_new_handler(), nullptr);
}

TEST(NewHandler, NothrowFormsCallItToo) {
  install(counting_handler, 5);
  EXPECT_EQ(::operator new(opaque(SIZE_MAX), std::nothrow), nullptr);
  EXPECT_EQ(g_handler_calls, 5);

  install(counting_handler, 1);
  EXPECT_EQ(::operator new[](opaque(SIZE_MAX), std::align_val_t{64}, std::nothrow), nullptr);
  EXPECT_EQ(g_handler_calls, 1);
}

TEST(NewHandler, ExceptionFromHandlerPropagates) {
  install(throwing_handler, 0);
  EXPECT_THROW(keep(::operator new(opaque(SIZE_MAX))), HandlerMarker);
  EXPECT_EQ(g_handler_calls, 1);
  std::set_new_handler(nullptr);
}

TEST(NewHandler, NothrowSwallowsBadAllocFromHandler) {
  install(bad_alloc_handler, 0);
  EXPECT_EQ(::operator new(opaque(SIZE_MAX), std::nothrow), nullptr);
  EXPECT_EQ(g_handler_calls, 1);
  std::set_new_handler(nullptr);
}

TEST(NewHandler, NotCalledWhenAllocationSucceeds) {
  install(counting_handler, 100);
  for (size_t n : kSizes) {
    void* p = ::operator new(n);
    ::operator delete(p);
  }
  EXPECT_EQ(g_handler_calls, 0);
  std::set_new_handler(nullptr);
}
