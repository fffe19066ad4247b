// The heap profiler (src/diag/profile.h). Run with HAKMEM_PROFILE set (CMakeLists):
// the sampler's mean interval, stack capture in a thread, the file format, and, under
// HAKMEM_PROFILE_RATE=1 (every allocation sampled), blocks of the profiler's arena
// through every entry point.
#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/options.h"
#include "diag/profile.h"
#include "hakmem/hakmem.h"
#include "test_util.h"
#include "tiny/chunk_map.h"

using namespace hakmem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t field_sum(const std::string& text, const std::string& key) {
  uint64_t sum = 0;
  std::string k = "\"" + key + "\":";
  for (size_t at = text.find(k); at != std::string::npos; at = text.find(k, at + 1))
    sum += std::strtoull(text.c_str() + at + k.size(), nullptr, 10);
  return sum;
}

__attribute__((noinline)) int capture_here(void** frames, int max) {
  int n = profile_capture_stack(frames, max);
  asm volatile("" ::: "memory");  // no tail call: this frame stays on the stack
  return n;
}

}  // namespace

TEST(Profile, IsOnWithTheEnvironment) {
  ASSERT_TRUE(profile_on()) << "run with HAKMEM_PROFILE set (tests/unit/CMakeLists.txt)";
}

// The intervals are drawn from a fixed seed, so the test is deterministic; the bound is
// also ~10 standard deviations of the mean of 200000 exponential draws (0.22%).
TEST(Profile, MeanIntervalIsTheRate) {
  ProfileThread t{};
  t.rng = 0x9e3779b97f4a7c15ull;
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; i++) {
    double x = double(profile_next_interval(t));
    ASSERT_GE(x, 1.0);
    sum += x;
    sum_sq += x * x;
  }
  double rate = double(g_options.profile_rate), mean = sum / n;
  EXPECT_NEAR(mean, rate, rate * 0.02);
  // Exponential: the standard deviation equals the mean (a fixed interval would be 0).
  EXPECT_NEAR(std::sqrt(sum_sq / n - mean * mean), rate, rate * 0.05);
}

TEST(Profile, CapturesTheStackOfAThread) {
  void* frames[32] = {};
  int n = 0;
  std::thread([&] { n = capture_here(frames, 32); }).join();
  ASSERT_GE(n, 3);
  // One of the frames is inside capture_here, and the walk reached the thread's start.
  auto lo = reinterpret_cast<uintptr_t>(&capture_here);
  bool found = false;
  for (int i = 0; i < n; i++) found |= reinterpret_cast<uintptr_t>(frames[i]) - lo < 256;
  EXPECT_TRUE(found);
  Dl_info info;
  ASSERT_TRUE(dladdr(frames[n - 1], &info));
  EXPECT_TRUE(info.dli_fname && std::strstr(info.dli_fname, "libc.so")) << info.dli_fname;
}

// The sampler's walk (libunwind's answers kept per return address, for all threads)
// gives what libunwind alone gives, through frames of fixed size and through frames
// whose size varies (alloca), on the main thread and on a new one, and once it has
// learned the addresses as on the first walk.
__attribute__((noinline)) void compare_walks(int depth, size_t extra, std::vector<std::string>* errors) {
  if (depth > 0) {
    volatile char* pad = static_cast<char*>(__builtin_alloca(extra));
    pad[0] = 1;
    compare_walks(depth - 1, extra, errors);
    asm volatile("" ::: "memory");
    return;
  }
  void* fast[48] = {};
  void* slow[48] = {};
  int nf = profile_capture_stack(fast, 48);
  int ns = profile_capture_stack_libunwind(slow, 48);
  // The first frames are the two entry points', then this function's at the two calls.
  if (nf != ns) errors->push_back("depth " + std::to_string(nf) + " vs " + std::to_string(ns));
  if (nf < depth + 4) errors->push_back("only " + std::to_string(nf) + " frames");
  for (int i = 2; i < nf && i < ns; i++)
    if (fast[i] != slow[i]) errors->push_back("frame " + std::to_string(i) + " differs");
}

TEST(Profile, WalkAgreesWithLibunwind) {
  auto run = [] {
    hak_free(hak_malloc(64));  // a heap of its own: the sampler's walk, not the fallback
    std::vector<std::string> errors;
    for (int round = 0; round < 3; round++)
      for (int depth : {0, 1, 5, 12})
        for (size_t extra : {16, 100, 3000}) compare_walks(depth, extra, &errors);
    return errors;
  };
  std::vector<std::string> main_errors = run(), thread_errors;
  std::thread([&] { thread_errors = run(); }).join();
  EXPECT_TRUE(main_errors.empty()) << main_errors.size() << " mismatches, first: " << main_errors[0];
  EXPECT_TRUE(thread_errors.empty()) << thread_errors.size() << " mismatches, first: " << thread_errors[0];
}

TEST(Profile, FileFormat) {
  std::vector<void*> kept;
  for (int i = 0; i < 32768; i++) kept.push_back(hak_malloc(1024));
  std::string path = "/tmp/hakmem_profile_test." + std::to_string(getpid()) + ".json";
  ASSERT_EQ(0, hak_profile_dump(path.c_str()));
  std::string text = read_file(path);
  unlink(path.c_str());
  EXPECT_EQ(0u, text.rfind("{\"hakmem_profile\":1,\"hakmem\":\"" HAKMEM_VERSION_STRING "\",", 0));
  EXPECT_NE(std::string::npos, text.find("\"pid\":" + std::to_string(getpid()) + ","));
  EXPECT_NE(std::string::npos, text.find("\"rate\":" + std::to_string(g_options.profile_rate) + ","));
  EXPECT_NE(std::string::npos, text.find("\"at_exit\":false"));
  EXPECT_NE(std::string::npos, text.find("\"frames\":[\"0x"));
  EXPECT_NE(std::string::npos, text.find("\"maps\":[\""));
  EXPECT_NE(std::string::npos, text.find("r-xp"));
  EXPECT_EQ(text.size() - 3, text.rfind("]}\n"));
  // 32 MiB of 1 KiB blocks are live: about 64 samples at the default 512 KiB, so the
  // estimate is near it (or above: the binary's own allocations count too). A quarter
  // of it would take fewer than 16 samples where 64 are expected (Poisson: ~1e-13).
  EXPECT_GE(field_sum(text, "live_bytes"), 8u << 20);
  EXPECT_GE(field_sum(text, "alloc_bytes"), field_sum(text, "live_bytes"));
  for (void* p : kept) hak_free(p);
  for (void*& p : kept) p = nullptr;
}

TEST(Profile, DumpFailsWithoutAPlaceToWrite) {
  EXPECT_EQ(-1, hak_profile_dump("/nonexistent-dir/x.json"));
}

// HAKMEM_PROFILE_RATE=1: every allocation is sampled, so every small one comes from the
// profiler's arena, and every entry point must treat those blocks like any other.
TEST(ProfileEveryBlock, ArenaBlocksBehave) {
  if (g_options.profile_rate != 1) GTEST_SKIP() << "needs HAKMEM_PROFILE_RATE=1";
  // A new thread heap counts its first 128 KiB before its first housekeeping tick, where
  // the sampler's countdown starts.
  for (int i = 0; i < 300; i++) hak_free(hak_malloc(1024));
  // At rate 1 a request of s bytes is sampled with probability 1 - exp(-s): from 16 bytes
  // on that is certain for a test (a 1-byte request would be sampled 63% of the time).
  for (size_t size : {16, 100, 1024, 5000, 65536, 131072}) {
    auto* p = static_cast<unsigned char*>(hak_malloc(size));
    ASSERT_NE(nullptr, p);
    EXPECT_EQ(kChunkProfiled, chunk_kind_of(p)) << size;
    EXPECT_TRUE(hak_owns(p));
    EXPECT_GE(hak_malloc_usable_size(p), size);
    EXPECT_EQ(0u, reinterpret_cast<uintptr_t>(p) % 16);
    std::memset(p, 0xab, size);
    auto* q = static_cast<unsigned char*>(hak_realloc(p, size * 3 + 10));
    ASSERT_NE(nullptr, q);
    for (size_t i = 0; i < size; i++) ASSERT_EQ(0xab, q[i]);
    hak_free(q);
  }
  for (size_t align : {32, 64, 256, 1024, 4096}) {
    void* p = nullptr;
    ASSERT_EQ(0, hak_posix_memalign(&p, align, align));
    EXPECT_EQ(0u, reinterpret_cast<uintptr_t>(p) % align) << align;
    hak_free(p);
  }
  void* big = hak_calloc(1, 3 << 20);  // large: sampled in its header, not moved
  ASSERT_NE(nullptr, big);
  EXPECT_NE(kChunkProfiled, chunk_kind_of(big));
  hak_free(big);
}

// Sampled blocks freed by other threads than took them, on every stripe at once: the
// sample path takes no shared lock, so the counters and free lists must stay whole
// (and ThreadSanitizer, in that build, sees no race).
TEST(ProfileEveryBlock, ThreadsFreeEachOthersSampledBlocks) {
  if (g_options.profile_rate != 1) GTEST_SKIP() << "needs HAKMEM_PROFILE_RATE=1";
  constexpr int kThreads = 6, kBlocks = 2000;
  std::vector<std::vector<void*>> made(kThreads);
  auto make = [&](int t) {
    for (int i = 0; i < 300; i++) hak_free(hak_malloc(1024));  // past the first tick
    for (int i = 0; i < kBlocks; i++) made[t].push_back(hak_malloc(48 + 16 * (i % 64)));
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) threads.emplace_back(make, t);
  for (auto& th : threads) th.join();
  threads.clear();
  size_t arena = 0;
  for (auto& v : made)
    for (void* p : v) arena += chunk_kind_of(p) == kChunkProfiled;
  EXPECT_GT(arena, size_t(kThreads * kBlocks * 9 / 10));
  std::string path = "/tmp/hakmem_profile_threads." + std::to_string(getpid()) + ".json";
  ASSERT_EQ(0, hak_profile_dump(path.c_str()));
  uint64_t live_before = field_sum(read_file(path), "live_samples");
  for (int t = 0; t < kThreads; t++)  // each thread frees the next one's blocks
    threads.emplace_back([&, t] {
      for (void* p : made[(t + 1) % kThreads]) hak_free(p);
    });
  for (auto& th : threads) th.join();
  ASSERT_EQ(0, hak_profile_dump(path.c_str()));
  uint64_t live_after = field_sum(read_file(path), "live_samples");
  unlink(path.c_str());
  EXPECT_GE(live_before - live_after, arena);
  // The freed slots are reused rather than new ones cut: a second round fits in them.
  for (int t = 0; t < kThreads; t++) made[t].clear();
  for (int t = 0; t < kThreads; t++) threads[t] = std::thread(make, t);
  for (auto& th : threads) th.join();
  for (auto& v : made)
    for (void* p : v) hak_free(p);
}

// The arena gives back the pages of freed slots beyond its budget (8 MiB idle here):
// of 400 freed blocks of 100 KB (112 KiB slots), at most ~73 stay resident.
TEST(ProfileEveryBlock, FreedArenaMemoryGoesBack) {
  if (g_options.profile_rate != 1) GTEST_SKIP() << "needs HAKMEM_PROFILE_RATE=1";
  for (int i = 0; i < 300; i++) hak_free(hak_malloc(1024));
  std::vector<char*> blocks;
  for (int i = 0; i < 400; i++) {
    auto* p = static_cast<char*>(hak_malloc(100000));
    ASSERT_EQ(kChunkProfiled, chunk_kind_of(p));
    std::memset(p, 1, 100000);
    blocks.push_back(p);
  }
  for (char* p : blocks) hak_free(p);
  long page = sysconf(_SC_PAGESIZE);
  int resident = 0;
  for (char* p : blocks) {
    // A page well inside the block: past the first page, before its end.
    auto* at = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(p) + 16 * page) & ~uintptr_t(page - 1));
    unsigned char in = 0;
    ASSERT_EQ(0, mincore(at, size_t(page), &in));
    resident += in & 1;
  }
  EXPECT_LE(resident, 100);
  for (int i = 0; i < 400; i++) blocks[i] = static_cast<char*>(hak_malloc(100000));  // reused, and usable
  for (char* p : blocks) {
    std::memset(p, 2, 100000);
    hak_free(p);
  }
}

// A sampled large block that realloc grows keeps its sample, and the profile's live
// bytes follow its new size: in place (within the chunks it spans) and by moving its
// pages to a bigger mapping.
TEST(ProfileEveryBlock, ResizedLargeBlockFollows) {
  if (g_options.profile_rate != 1) GTEST_SKIP() << "needs HAKMEM_PROFILE_RATE=1";
  std::string path = "/tmp/hakmem_profile_resize." + std::to_string(getpid()) + ".json";
  auto live = [&] {
    EXPECT_EQ(0, hak_profile_dump(path.c_str()));
    uint64_t bytes = field_sum(read_file(path), "live_bytes");
    unlink(path.c_str());
    return bytes;
  };
  void* p = hak_malloc(3u << 20);
  ASSERT_EQ(kChunkLarge, chunk_kind_of(p));
  uint64_t at3 = live();
  void* q = hak_realloc(p, (7u << 19));  // 3.5 MiB: the run spans 4 MiB, so in place
  ASSERT_EQ(p, q);
  uint64_t at35 = live();
  EXPECT_GE(at35, at3 + (400u << 10)) << "grown in place by 512 KiB";
  void* r = hak_realloc(q, 40u << 20);  // moved (its pages remapped), or copied into a new sampled block
  ASSERT_NE(r, nullptr);
  uint64_t at40 = live();
  EXPECT_GE(at40, at35 + (30u << 20)) << "grown to 40 MiB";
  hak_free(r);
  EXPECT_LE(live() + (30u << 20), at40) << "freed";
}

TEST(ProfileEveryBlockDeathTest, DoubleFreeOfAnArenaBlock) {
  if (g_options.profile_rate != 1) GTEST_SKIP() << "needs HAKMEM_PROFILE_RATE=1";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        for (int i = 0; i < 300; i++) hak_free(hak_malloc(1024));
        void* p = hak_malloc(64);
        hak_free(p);
        hak_free(p);
      },
      "double free");
}
