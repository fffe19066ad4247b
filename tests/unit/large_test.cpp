// White-box tests of the large tier (src/large): blocks are runs of 2 MiB chunks, freed
// runs merge with their free neighbours and are reused warm (no mapping, no purge), the
// retention policy takes resident free bytes back oldest first, a forced purge gives back
// everything. Each test starts from hak_collect(), which unmaps every free run, so the
// placements below are deterministic: a block is carved from the front of a run unless
// another window of it holds more resident pages.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "config/options.h"
#include "large/large.h"
#include "os/os.h"
#include "policy/retention.h"
#include "test_util.h"
#include "tiny/chunk_map.h"

using namespace hakmem;
using hakmem_test::KiB;
using hakmem_test::MiB;

namespace {

constexpr size_t kChunk = kChunkSize;

struct Snapshot {
  hak_stats st{};
  LargeCounters lc{};
  Snapshot() {
    hak_stats_get(&st);
    large_counters(&lc);
  }
};

std::vector<LargeRangeInfo> free_runs() {
  std::vector<LargeRangeInfo> v(1024);
  uint32_t n = large_free_ranges(v.data(), uint32_t(v.size()));
  v.resize(n < v.size() ? n : v.size());
  return v;
}

// The free run that contains p's chunk, or a run of size 0.
LargeRangeInfo run_at(const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p) & ~kChunkMask;
  for (const auto& r : free_runs())
    if (a >= r.start && a < r.start + r.size) return r;
  return LargeRangeInfo{0, 0, 0, 0};
}

char* chunk_of(const void* p) { return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) & ~kChunkMask); }

void* touched(size_t n) {
  void* p = hak_malloc(n);
  if (p) memset(p, 0x5A, n);
  return p;
}

// Stamps a block at every 64 KiB and at its end; check_stamps says whether they are intact.
void stamp(void* p, size_t n, uint64_t seed) {
  auto* c = static_cast<unsigned char*>(p);
  for (size_t off = 0; off + 8 <= n; off += 64 * KiB) {
    uint64_t v = seed * 1000003u + off;
    memcpy(c + off, &v, 8);
  }
  memcpy(c + n - 8, &seed, 8);
}
bool check_stamps(const void* p, size_t n, uint64_t seed) {
  auto* c = static_cast<const unsigned char*>(p);
  for (size_t off = 0; off + 8 <= n; off += 64 * KiB) {
    uint64_t v;
    memcpy(&v, c + off, 8);
    if (v != seed * 1000003u + off && off + 8 <= n - 8) return false;
  }
  uint64_t last;
  memcpy(&last, c + n - 8, 8);
  return last == seed;
}

void sleep_past_clock_tick() { usleep(20 * 1000); }  // CLOCK_MONOTONIC_COARSE: a few ms

bool all_zero(const void* p, size_t n) {
  auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i += 512)
    if (b[i]) return false;
  return b[n - 1] == 0;
}

void* opaque(void* p) {
  asm volatile("" : "+r"(p));
  return p;
}

class LargeTier : public ::testing::Test {
 protected:
  void SetUp() override { hak_collect(); }
  void TearDown() override { hak_collect(); }
};

}  // namespace

TEST_F(LargeTier, ForcedPurgeLeavesNothingCached) {
  EXPECT_EQ(free_runs().size(), 0u);
  EXPECT_EQ(Snapshot().lc.cached_bytes, 0u);
  EXPECT_EQ(retained_bytes(Retained::kLargeCache), 0u);
}

// Free, then allocate the same size: the same chunks come back, with no mapping, no
// unmapping and nothing purged; the block is not fresh (calloc must clear it).
TEST_F(LargeTier, WarmReuseMakesNoMapping) {
  void* p = touched(8 * MiB);
  ASSERT_NE(p, nullptr);
  hak_free(p);
  Snapshot before;
  EXPECT_GE(before.lc.cached_bytes, 8 * MiB);
  EXPECT_EQ(retained_bytes(Retained::kLargeCache), before.lc.cached_bytes);
  bool fresh = true;
  void* q = large_alloc(8 * MiB, 16, &fresh);
  Snapshot after;
  EXPECT_EQ(q, p);
  EXPECT_FALSE(fresh) << "a reused warm block is not zero";
  EXPECT_EQ(after.st.os_maps, before.st.os_maps);
  EXPECT_EQ(after.st.os_unmaps, before.st.os_unmaps);
  EXPECT_EQ(after.lc.purged_bytes, before.lc.purged_bytes);
  EXPECT_EQ(after.lc.cached_bytes + 8 * MiB + 64 * KiB, before.lc.cached_bytes);  // the run's whole extent
  hak_free(q);

  // calloc of a warm block clears it.
  void* c = hak_calloc(1, 8 * MiB);
  ASSERT_EQ(c, p);
  EXPECT_TRUE(all_zero(c, 8 * MiB));
  hak_free(c);
}

// A freed block and the free run after it serve a request bigger than the block.
TEST_F(LargeTier, NeighboursMerge) {
  void* x = touched(24 * MiB);  // 13 chunks, all resident but the last
  ASSERT_NE(x, nullptr);
  hak_free(x);
  void* a = touched(12 * MiB);  // 7 chunks at the front
  void* b = touched(4 * MiB);   // 3 chunks after a
  void* c = touched(5 * MiB);   // 3 chunks after b: a and b have no other neighbour
  ASSERT_EQ(a, x);
  ASSERT_EQ(chunk_of(b), chunk_of(a) + 7 * kChunk);
  ASSERT_EQ(chunk_of(c), chunk_of(b) + 3 * kChunk);
  hak_free(a);
  hak_free(b);
  LargeRangeInfo r = run_at(a);
  EXPECT_EQ(r.start, reinterpret_cast<uintptr_t>(chunk_of(a)));
  EXPECT_EQ(r.size, 10 * kChunk) << "a's and b's runs merged";
  EXPECT_EQ(r.dirty, 10 * kChunk);
  Snapshot before;
  void* q = hak_malloc(15 * MiB);  // more than a's 14 MiB run
  Snapshot after;
  EXPECT_EQ(q, a);
  EXPECT_EQ(after.st.os_maps, before.st.os_maps);
  EXPECT_EQ(after.lc.purged_bytes, before.lc.purged_bytes);
  EXPECT_GE(hak_malloc_usable_size(q), 15 * MiB);
  memset(q, 1, 15 * MiB);
  hak_free(q);
  hak_free(c);
  // Everything merged back into one run.
  r = run_at(x);
  EXPECT_EQ(r.start, reinterpret_cast<uintptr_t>(chunk_of(x)));
  EXPECT_GE(r.size, 13 * kChunk);
}

// A big free run is split: two blocks come out of it one after the other, and the rest
// stays free and resident.
TEST_F(LargeTier, SplitKeepsTheRestWarm) {
  void* x = touched(16 * MiB);
  ASSERT_NE(x, nullptr);
  hak_free(x);
  Snapshot before;
  void* a = hak_malloc(5 * MiB);  // 3 chunks
  void* b = hak_malloc(5 * MiB);
  Snapshot after;
  EXPECT_EQ(a, x);
  EXPECT_EQ(chunk_of(b), chunk_of(a) + 3 * kChunk);
  EXPECT_EQ(after.st.os_maps, before.st.os_maps);
  LargeRangeInfo rest = run_at(chunk_of(b) + 3 * kChunk);
  EXPECT_EQ(rest.start, reinterpret_cast<uintptr_t>(chunk_of(b) + 3 * kChunk));
  EXPECT_GE(rest.dirty, 2 * kChunk) << "the rest of x stays resident for the next block";
  EXPECT_EQ(after.lc.cached_bytes + 12 * MiB, before.lc.cached_bytes);
  hak_free(a);
  hak_free(b);
}

// large_purge_bytes takes the oldest resident runs first, and only as much of a run's
// tail as asked; what it gives back reads as zero and is fresh for calloc.
TEST_F(LargeTier, PurgeBytesOldestFirst) {
  // Three 4 MiB blocks kept apart by live blocks of their class, so their runs cannot merge.
  void* blocks[3];
  void* seps[3];
  for (int i = 0; i < 3; i++) {
    blocks[i] = touched(4 * MiB);
    seps[i] = touched(4 * MiB);
    ASSERT_NE(blocks[i], nullptr);
    ASSERT_NE(seps[i], nullptr);
  }
  for (int i = 0; i < 3; i++) {
    hak_free(blocks[i]);
    sleep_past_clock_tick();
  }
  const size_t each = 4 * MiB + 64 * KiB;  // resident extent of a freed 4 MiB block
  for (int i = 0; i < 3; i++) ASSERT_EQ(run_at(blocks[i]).dirty, each) << i;
  uint64_t cached = Snapshot().lc.cached_bytes;

  EXPECT_EQ(large_purge_bytes(4 * MiB), each);  // the oldest, whole (its tail is not enough)
  EXPECT_EQ(run_at(blocks[0]).dirty, 0u);
  EXPECT_EQ(run_at(blocks[1]).dirty, each);
  EXPECT_EQ(run_at(blocks[2]).dirty, each);
  EXPECT_EQ(Snapshot().lc.cached_bytes, cached - each);
  EXPECT_EQ(retained_bytes(Retained::kLargeCache), cached - each);

  // 5 MiB: all of the second, then the tail of the third (its last chunk and one more).
  EXPECT_EQ(large_purge_bytes(5 * MiB), each + 2 * MiB + 64 * KiB);
  EXPECT_EQ(run_at(blocks[1]).dirty, 0u);
  EXPECT_EQ(run_at(blocks[2]).dirty, 2 * MiB) << "the front chunk of the youngest stays";

  EXPECT_EQ(large_purge_bytes(~uint64_t(0)), 2 * MiB);  // all that is left
  EXPECT_EQ(Snapshot().lc.cached_bytes, 0u);
  bool fresh = false;
  void* z = large_alloc(4 * MiB, 16, &fresh);
  ASSERT_NE(z, nullptr);
  EXPECT_TRUE(fresh) << "a purged run reads as zero";
  EXPECT_TRUE(all_zero(z, 4 * MiB));
  hak_free(z);
  for (void* s : seps) hak_free(s);
}

// Age: a resident run older than the purge delay is given back and stays mapped; once it
// has been clean for kUnmapFactor delays, its address space goes too.
TEST_F(LargeTier, AgePurgeThenUnmap) {
  void* x = touched(6 * MiB);
  ASSERT_NE(x, nullptr);
  hak_free(x);
  uint64_t delay = g_options.purge_delay_ms;
  uint64_t now = os::now_ms();
  Snapshot s0;
  large_purge(now, false);  // too young
  EXPECT_GT(run_at(x).dirty, 0u);
  large_purge(now + delay + 1, false);
  Snapshot s1;
  EXPECT_EQ(run_at(x).dirty, 0u);
  EXPECT_EQ(run_at(x).start, reinterpret_cast<uintptr_t>(chunk_of(x))) << "still mapped, clean";
  EXPECT_EQ(s1.lc.unmaps, s0.lc.unmaps);
  EXPECT_GE(s1.lc.purged_bytes, s0.lc.purged_bytes + 6 * MiB);
  EXPECT_EQ(s1.lc.cached_bytes, 0u);
  large_purge(now + delay + 2 + delay * 4, false);
  Snapshot s2;
  EXPECT_EQ(run_at(x).size, 0u) << "unmapped";
  EXPECT_GT(s2.lc.unmaps, s1.lc.unmaps);
  EXPECT_LT(s2.lc.mapped_bytes, s1.lc.mapped_bytes);
  EXPECT_EQ(chunk_kind_of(x), kChunkNone);
}

TEST_F(LargeTier, ForcedPurgeGivesBackEverything) {
  std::vector<void*> v;
  for (size_t n : {3 * MiB, 7 * MiB, 300 * KiB, 11 * MiB}) v.push_back(touched(n));
  for (void* p : v) hak_free(p);
  Snapshot before;
  EXPECT_GT(before.lc.cached_bytes, 20 * MiB);
  hak_collect();
  Snapshot after;
  EXPECT_EQ(free_runs().size(), 0u);
  EXPECT_EQ(after.lc.cached_bytes, 0u);
  EXPECT_EQ(retained_bytes(Retained::kLargeCache), 0u);
  EXPECT_GE(after.lc.purged_bytes, before.lc.purged_bytes + before.lc.cached_bytes);
  EXPECT_GT(after.lc.unmaps, before.lc.unmaps);
  for (void* p : v) EXPECT_EQ(chunk_kind_of(p), kChunkNone);
}

// The retention budget bounds what stays resident after a free.
TEST_F(LargeTier, FreeEnforcesTheBudget) {
  std::vector<void*> v;
  for (int i = 0; i < 12; i++) v.push_back(touched(6 * MiB));
  for (void* p : v) hak_free(p);
  EXPECT_LE(retained_total(), retention_budget() + 2 * MiB);
  EXPECT_LE(Snapshot().lc.cached_bytes, retention_budget());
}

// realloc grows in place within the run's last chunk, then into the free run after it.
TEST_F(LargeTier, ReallocGrowsIntoTheFreeNeighbour) {
  void* x = touched(12 * MiB);
  ASSERT_NE(x, nullptr);
  hak_free(x);
  auto* p = static_cast<unsigned char*>(hak_malloc(4 * MiB));  // 3 chunks, at x
  ASSERT_EQ(p, x);
  hakmem_test::fill(p, 4 * MiB, 7);
  Snapshot before;
  EXPECT_EQ(hak_realloc(p, 5 * MiB + 900 * KiB), p) << "within the run";
  EXPECT_EQ(hak_realloc(p, 11 * MiB), p) << "into the free run that follows";
  Snapshot after;
  EXPECT_EQ(after.st.os_maps, before.st.os_maps);
  EXPECT_GE(hak_malloc_usable_size(p), 11 * MiB);
  EXPECT_EQ(hakmem_test::first_mismatch(p, 4 * MiB, 7), 4 * MiB);
  memset(p + 4 * MiB, 1, 7 * MiB);
  EXPECT_EQ(chunk_kind_of(p + 10 * MiB), kChunkLargeTail);
  hak_free(p);
}

// With HAKMEM_LARGE_THP=1, blocks below 4 MiB and blocks of 4 MiB or more come from
// different regions (4 KiB pages and huge pages): a freed block of one class does not
// serve the other.
TEST_F(LargeTier, SmallAndHugeClassesDoNotMix) {
  struct ThpOn {
    bool was = g_options.large_thp;
    ThpOn() { g_options.large_thp = true; }
    ~ThpOn() { g_options.large_thp = was; }
  } thp_on;
  void* big = touched(8 * MiB);
  hak_free(big);
  void* small = hak_malloc(1 * MiB);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(run_at(big).start, reinterpret_cast<uintptr_t>(chunk_of(big))) << "the big run is untouched";
  EXPECT_NE(chunk_of(small), chunk_of(big));
  hak_free(small);
  void* again = hak_malloc(8 * MiB);
  EXPECT_EQ(again, big);
  hak_free(again);
}

// Without it (the default) there is one class of regions: a freed 8 MiB block serves
// a 1 MiB request warm, from the front of its run.
TEST_F(LargeTier, OneClassOfRegionsWithoutHugePages) {
  ASSERT_FALSE(g_options.large_thp);
  void* big = touched(8 * MiB);
  hak_free(big);
  void* small = hak_malloc(1 * MiB);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(chunk_of(small), chunk_of(big));
  hak_free(small);
}

// Blocks aligned to 2 MiB or more keep a mapping of their own.
TEST_F(LargeTier, ChunkAlignedBlocks) {
  for (size_t align : {2 * MiB, 8 * MiB}) {
    void* p = nullptr;
    ASSERT_EQ(hak_posix_memalign(&p, align, 5 * MiB), 0);
    EXPECT_TRUE(hakmem_test::is_aligned(p, align));
    EXPECT_EQ(chunk_kind_of(p), kChunkLargeAligned);
    EXPECT_GE(hak_malloc_usable_size(p), 5 * MiB);
    memset(p, 3, 5 * MiB);
    hak_free(p);
    EXPECT_EQ(chunk_kind_of(p), kChunkNone);
  }
  void* q = nullptr;
  ASSERT_EQ(hak_posix_memalign(&q, 1 * MiB, 3 * MiB), 0);  // below a chunk: a run
  EXPECT_TRUE(hakmem_test::is_aligned(q, 1 * MiB));
  EXPECT_GE(hak_malloc_usable_size(q), 3 * MiB);
  memset(q, 4, 3 * MiB);
  hak_free(q);
}

// Threads allocate, stamp, hand over and free blocks of many sizes while another thread
// purges: every block keeps its contents until it is freed, wherever it is freed.
TEST_F(LargeTier, ThreadsShareTheRuns) {
  constexpr int kThreads = 4, kRounds = 300;
  struct Box {
    std::atomic<void*> p{nullptr};
  };
  Box boxes[kThreads];
  std::atomic<bool> stop{false}, failed{false};
  std::thread purger([&] {
    while (!stop.load()) {
      large_purge_bytes(3 * MiB);
      large_purge(os::now_ms() + 1000000, false);
      usleep(500);
    }
  });
  // A block's first 16 bytes hold its size and seed, so whoever frees it can check it.
  auto check = [&](void* p) {
    uint64_t hdr[2];
    memcpy(hdr, p, 16);
    if (!check_stamps(static_cast<char*>(p) + 16, size_t(hdr[0]) - 16, hdr[1])) failed = true;
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; t++) {
    workers.emplace_back([&, t] {
      uint64_t rng = 88172645463325252ull + uint64_t(t);
      for (int i = 0; i < kRounds; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t n = 200 * KiB + rng % (9 * MiB);
        uint64_t seed = uint64_t(t) * 100000 + uint64_t(i);
        auto* p = static_cast<unsigned char*>(hak_malloc(n));
        if (!p) {
          failed = true;
          return;
        }
        uint64_t hdr[2] = {n, seed};
        memcpy(p, hdr, 16);
        stamp(p + 16, n - 16, seed);
        void* old = boxes[(t + i) % kThreads].p.exchange(p);  // often another thread's block
        if (old) {
          check(old);
          hak_free(old);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  purger.join();
  for (auto& b : boxes)
    if (void* p = b.p.exchange(nullptr)) {
      check(p);
      hak_free(p);
    }
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(Snapshot().lc.blocks, 0u);
}

// The contents of live blocks survive the others' churn (no two blocks share chunks).
TEST_F(LargeTier, LiveBlocksNeverOverlap) {
  struct Live {
    unsigned char* p;
    size_t n;
    uint64_t seed;
  };
  std::vector<Live> live;
  uint64_t rng = 12345;
  for (int i = 0; i < 2000; i++) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    if (live.size() > 16 || (!live.empty() && rng % 3 == 0)) {
      size_t k = (rng >> 8) % live.size();
      ASSERT_TRUE(check_stamps(live[k].p, live[k].n, live[k].seed)) << i;
      hak_free(live[k].p);
      live.erase(live.begin() + long(k));
    } else {
      size_t n = 130 * KiB + (rng >> 16) % (7 * MiB);
      auto* p = static_cast<unsigned char*>(hak_malloc(n));
      ASSERT_NE(p, nullptr);
      stamp(p, n, uint64_t(i));
      live.push_back({p, n, uint64_t(i)});
    }
  }
  for (auto& l : live) {
    ASSERT_TRUE(check_stamps(l.p, l.n, l.seed));
    hak_free(l.p);
  }
}

// Frees of large blocks that are not live are caught, also once their runs merged with
// neighbours or were handed out again.
class LargeDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(LargeDeathTest, DoubleFreeAfterMerge) {
  EXPECT_DEATH(
      {
        void* a = hak_malloc(3 * MiB);
        void* b = hak_malloc(3 * MiB);
        hak_free(b);
        hak_free(a);  // a's run merges with b's
        hak_free(opaque(b));
      },
      "hakmem: free\\(\\): (double free|invalid pointer)");
}

TEST_F(LargeDeathTest, FreeOfAnOldPointerInsideALiveBlock) {
  EXPECT_DEATH(
      {
        hak_free(hak_malloc(12 * MiB));  // one free run of 7 chunks
        void* a = hak_malloc(4 * MiB);   // its first 3 chunks
        void* b = hak_malloc(4 * MiB);   // the next 3
        hak_free(a);
        hak_free(b);
        void* big = hak_malloc(10 * MiB);  // 6 chunks from the front: b's start is inside
        fprintf(stderr, "%p\n", big);
        hak_free(opaque(b));
      },
      "hakmem: free\\(\\): (double free|invalid pointer)");
}

TEST_F(LargeDeathTest, InteriorPointer) {
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(6 * MiB));
        hak_free(opaque(p + 4 * MiB));
      },
      "hakmem: free\\(\\): (interior pointer|invalid pointer)");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(hak_malloc(6 * MiB));
        hak_free(opaque(p + 64));
      },
      "hakmem: free\\(\\): (interior pointer|invalid pointer)");
}

TEST_F(LargeDeathTest, UsableSizeOfAFreedBlock) {
  EXPECT_DEATH(
      {
        void* p = hak_malloc(3 * MiB);
        hak_free(p);
        fprintf(stderr, "%zu\n", hak_malloc_usable_size(opaque(p)));
      },
      "hakmem: malloc_usable_size\\(\\): (double free|invalid pointer)");
}
