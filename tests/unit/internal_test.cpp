// White-box tests of the SuperSlab tier: the size-class mapping, SuperSlab and slab
// geometry as seen from real allocations, the chunk map, and the remote-free queue.
// They read internal headers (src/), so they change when the internals do.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_util.h"
#include "tiny/chunk_map.h"
#include "tiny/heap.h"
#include "tiny/ownership.h"
#include "tiny/size_class.h"
#include "tiny/superslab.h"

using namespace hakmem;
using hakmem_test::KiB;
using hakmem_test::MiB;

namespace {

bool guard_mode() {
  const char* g = getenv("HAKMEM_GUARD");
  return g && g[0] == '1';
}

// The calling thread's tid, once it has a heap and has left the nursery: from now on
// the blocks it allocates come from slabs it owns (a thread's first blocks of each
// class come from the shared heap; the nursery's own tests are below).
uint32_t owning_tid() {
  void* warm = hak_malloc(16);  // makes sure this thread has a heap
  hak_free(warm);
  for (uint8_t& left : t_heap->nursery_left) left = 0;
  return t_heap->tid;
}

}  // namespace

// ---- size classes ------------------------------------------------------------

TEST(SizeClass, TableIsIncreasingAlignedAndEndsAtTheSlabLimit) {
  EXPECT_EQ(g_class_size[0], 16u);
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    EXPECT_EQ(g_class_size[c] % 16, 0u) << "class " << c;
    if (c) EXPECT_GT(g_class_size[c], g_class_size[c - 1]) << "class " << c;
    EXPECT_EQ(class_is_small(c), g_class_size[c] <= kMaxSmallBlock) << "class " << c;
  }
  EXPECT_EQ(g_class_size[kNumClasses - 1], kMaxSlabBlock);
  EXPECT_LE(kNumClasses, static_cast<uint32_t>(HAK_STATS_MAX_CLASSES));
}

// Every size maps to the smallest class that holds it: covering (block >= size),
// tight (the class below is too small) and therefore monotonic.
TEST(SizeClass, MappingIsCoveringTightAndMonotonic) {
  EXPECT_EQ(size_class_of(0), 0u);
  uint32_t prev = 0;
  for (size_t n = 1; n <= kMaxSlabBlock; ++n) {
    uint32_t c = size_class_of(n);
    ASSERT_LT(c, kNumClasses) << n;
    ASSERT_GE(g_class_size[c], n) << "size " << n << " -> class " << c;
    if (c > 0) ASSERT_LT(g_class_size[c - 1], n) << "size " << n << " -> class " << c << " is not the smallest";
    ASSERT_GE(c, prev) << "not monotonic at " << n;
    prev = c;
  }
}

// Above the table, the arithmetic must agree with the class sizes the table was built
// from: the smallest class that holds the size.
TEST(SizeClass, ArithmeticAboveTheTableIsTheSmallestClassThatHolds) {
  for (size_t n = kLookupMax + 1; n <= kMaxSlabBlock; ++n) {
    uint32_t c = size_class_of_mid(n);
    ASSERT_LT(c, kNumClasses) << n;
    ASSERT_GE(g_class_size[c], n) << n;
    ASSERT_LT(g_class_size[c - 1], n) << n;
  }
}

// Between 4 and 8 KiB the classes fill a 64 KiB slab: what is left over is less than
// 16 bytes per block.
TEST(SizeClass, ClassesFrom4To8KiBFillTheirSlab) {
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    uint32_t size = g_class_size[c];
    if (size <= 4096 || size > kMaxSmallBlock) continue;
    EXPECT_LT(65536 % size, 16 * (65536 / size)) << "class " << c << " size " << size;
  }
}

TEST(SizeClass, WasteAtMostAQuarterAbove128Bytes) {
  for (size_t n = 129; n <= kMaxSlabBlock; ++n) {
    size_t block = g_class_size[size_class_of(n)];
    ASSERT_LE(block - n, n / 4) << n;
  }
}

TEST(SizeClass, UsableSizeIsTheClassSize) {
  owning_tid();  // past the nursery, which may round a block up to a whole cache line
  for (size_t n : {size_t{1}, size_t{16}, size_t{17}, size_t{129}, size_t{1000}, 8 * KiB + 1, 100 * KiB}) {
    void* p = hak_malloc(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(hak_malloc_usable_size(p), g_class_size[size_class_of(n)]) << n;
    hak_free(p);
  }
}

// ---- SuperSlab geometry ------------------------------------------------------

TEST(SuperSlab, LayoutConstants) {
  EXPECT_EQ(sizeof(Slab), 128u);
  EXPECT_EQ(offsetof(Slab, owner_tid) % 64, 0u) << "shared fields must start their own cache line";
  EXPECT_GE(offsetof(Slab, owner_tid), 64u);
  EXPECT_EQ(kChunkSize, size_t{2} * MiB);
  EXPECT_EQ(kMaxSlabsPerSuperSlab, kChunkSize >> kSmallSlabShift);
}

TEST(SuperSlab, BlocksLieInTheirSlabOfTheirClass) {
  const uint32_t tid = owning_tid();
  std::vector<void*> keep;
  for (uint32_t c = 0; c < kNumClasses; ++c) {
    // The largest, the second largest and the smallest size of the class.
    const size_t sizes[] = {g_class_size[c], g_class_size[c] - 1, c ? g_class_size[c - 1] + 1 : 1};
    for (size_t n : sizes) {
      void* p = hak_malloc(n);
      ASSERT_NE(p, nullptr);
      keep.push_back(p);
      SuperSlab* ss = superslab_of(p);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(ss) % kChunkSize, 0u);
      ASSERT_EQ(ss->magic, kSuperSlabMagic) << "class " << c;
      const bool small = class_is_small(c);
      EXPECT_EQ(ss->kind, small ? SlabKind::kSmall : SlabKind::kMedium) << "class " << c;
      EXPECT_EQ(ss->slab_shift, small ? kSmallSlabShift : kMediumSlabShift);
      EXPECT_EQ(ss->num_slabs, kChunkSize >> ss->slab_shift);
      EXPECT_GE(ss->header_size, offsetof(SuperSlab, slabs) + ss->num_slabs * sizeof(Slab));
      EXPECT_EQ(ss->header_size % 16, 0u);
      EXPECT_LT(ss->header_size, size_t{1} << ss->slab_shift);

      Slab* s = slab_of(ss, p);
      if (small) EXPECT_EQ(small_slab_of(ss, p), s);
      EXPECT_EQ(s->index, static_cast<uint8_t>(s - ss->slabs));
      EXPECT_EQ(s->class_idx, c);
      EXPECT_EQ(s->block_size, g_class_size[c]);
      EXPECT_EQ(s->owner_tid.load(), tid) << "a block this thread allocated lives in a slab it owns";
      char* data = slab_data(s);
      auto* b = static_cast<char*>(p);
      ASSERT_GE(b, data);
      EXPECT_EQ(static_cast<size_t>(b - data) % s->block_size, 0u) << "block not on a block boundary";
      EXPECT_LT(static_cast<size_t>(b - data), size_t{s->capacity} * s->block_size);
      EXPECT_LE(size_t{s->capacity} * s->block_size, slab_bytes(ss, s->index));
      EXPECT_GT(s->capacity, 0u);
      // Slab 0 may lose one block: its first block starts at a multiple of the block size.
      EXPECT_GE(s->capacity + (s->index == 0 ? 1u : 0u), slab_bytes(ss, s->index) / s->block_size)
          << "slab space wasted";
      const uintptr_t slab_base = reinterpret_cast<uintptr_t>(p) & ~((uintptr_t{1} << ss->slab_shift) - 1);
      EXPECT_EQ((reinterpret_cast<uintptr_t>(p) - slab_base) % s->block_size, 0u)
          << "blocks must start at multiples of the block size from the slab base (free's block-start check)";
    }
  }
  for (void* p : keep) hak_free(p);
}

// ---- chunk map ---------------------------------------------------------------

TEST(ChunkMap, KindsOfEveryTier) {
  const ChunkKind small_ok[] = {kChunkSuperSlab, kChunkSuperSlabGuard};
  const ChunkKind medium_ok[] = {kChunkSuperSlabMedium, kChunkSuperSlabGuard};
  void* s = hak_malloc(100);
  void* m = hak_malloc(20 * KiB);
  auto* l = static_cast<char*>(hak_malloc(5 * MiB));
  ASSERT_TRUE(s && m && l);
  EXPECT_NE(std::find(std::begin(small_ok), std::end(small_ok), chunk_kind_of(s)), std::end(small_ok));
  EXPECT_NE(std::find(std::begin(medium_ok), std::end(medium_ok), chunk_kind_of(m)), std::end(medium_ok));
  EXPECT_EQ(chunk_kind_of(l), kChunkLarge);
  EXPECT_EQ(chunk_kind_of(l + 5 * MiB - 1), kChunkLargeTail);
  EXPECT_EQ(chunk_kind_of(l + 3 * MiB), kChunkLargeTail);
  void* aligned = nullptr;
  ASSERT_EQ(hak_posix_memalign(&aligned, 4 * MiB, 3 * MiB), 0);
  ChunkKind ak = chunk_kind_of(aligned);
  EXPECT_TRUE(ak == kChunkLarge || ak == kChunkLargeAligned) << int(ak);
  hak_free(aligned);
  hak_free(s);
  hak_free(m);
  hak_free(l);

  int on_stack = 0;
  void* glibc = malloc(100);
  EXPECT_EQ(chunk_kind_of(&on_stack), kChunkNone);
  EXPECT_EQ(chunk_kind_of(glibc), kChunkNone);
  EXPECT_EQ(chunk_kind_of(reinterpret_cast<void*>(uintptr_t{1} << 47)), kChunkNone);
  EXPECT_EQ(chunk_kind_of(reinterpret_cast<void*>(UINTPTR_MAX)), kChunkNone);
  free(glibc);
}

TEST(ChunkMap, SetCoversExactlyTheGivenChunks) {
  // A region of our own, 2 MiB aligned, marked and unmarked again.
  const size_t len = 10 * MiB;
  void* raw = mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(raw, MAP_FAILED);
  auto base = (reinterpret_cast<uintptr_t>(raw) + kChunkSize - 1) & ~kChunkMask;
  auto* region = reinterpret_cast<char*>(base + kChunkSize);  // leave a chunk before it
  ASSERT_EQ(chunk_kind_of(region), kChunkNone);
  chunk_map_set(region, 3 * kChunkSize, kChunkLarge, kChunkLargeTail);
  EXPECT_EQ(chunk_kind_of(region - 1), kChunkNone);
  EXPECT_EQ(chunk_kind_of(region), kChunkLarge);
  EXPECT_EQ(chunk_kind_of(region + kChunkSize - 1), kChunkLarge);
  EXPECT_EQ(chunk_kind_of(region + kChunkSize), kChunkLargeTail);
  EXPECT_EQ(chunk_kind_of(region + 3 * kChunkSize - 1), kChunkLargeTail);
  EXPECT_EQ(chunk_kind_of(region + 3 * kChunkSize), kChunkNone);
  EXPECT_TRUE(hak_owns(region + 100));
  chunk_map_set(region, 3 * kChunkSize, kChunkNone, kChunkNone);
  EXPECT_EQ(chunk_kind_of(region), kChunkNone);
  EXPECT_EQ(chunk_kind_of(region + 2 * kChunkSize), kChunkNone);
  EXPECT_FALSE(hak_owns(region + 100));
  munmap(raw, len);
}

// ---- the remote-free queue ---------------------------------------------------

namespace {

// Runs `body` on a thread that then waits, alive and owning its slabs, until `finish`
// is called; `after` runs on the same thread before it exits.
class ParkedThread {
 public:
  template <typename Body, typename After>
  ParkedThread(Body body, After after)
      : t_([this, body, after] {
          body();
          {
            std::unique_lock<std::mutex> lock(m_);
            parked_ = true;
            cv_.notify_all();
            cv_.wait(lock, [&] { return go_; });
          }
          after();
        }) {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return parked_; });
  }
  void finish() {
    {
      std::lock_guard<std::mutex> g(m_);
      go_ = true;
    }
    cv_.notify_all();
    t_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool parked_ = false, go_ = false;
  std::thread t_;
};

}  // namespace

// Frees from several threads at once land on the owner's remote queues: every freed
// block exactly once, none lost, none twice; the owner then reuses them.
TEST(RemoteQueue, ConcurrentPushesAreAllThereExactlyOnce) {
  if (guard_mode()) GTEST_SKIP() << "guard mode encodes the links";
  // Fewer blocks than one 64 KiB slab holds: the slab stays bound to its owner (a
  // slab that fills up is let go of, and the first free into it would adopt it).
  constexpr size_t kBlocks = 1000;
  constexpr size_t kSize = 48;
  std::vector<void*> blocks(kBlocks);
  uint32_t owner_tid = 0;
  std::vector<void*> again;
  size_t reused = 0;
  ParkedThread owner(
      [&] {
        owner_tid = owning_tid();
        for (auto& p : blocks) p = hak_malloc(kSize);
      },
      [&] {
        std::set<void*> freed(blocks.begin(), blocks.end());
        for (size_t i = 0; i < kBlocks; ++i) {
          void* p = hak_malloc(kSize);
          again.push_back(p);
          reused += freed.count(p);
        }
        for (void* p : again) hak_free(p);
      });

  std::set<Slab*> slabs;
  for (void* p : blocks) {
    ASSERT_NE(p, nullptr);
    Slab* s = slab_of(superslab_of(p), p);
    ASSERT_EQ(s->owner_tid.load(), owner_tid);
    slabs.insert(s);
  }
  std::vector<std::thread> freers;
  for (int t = 0; t < 4; ++t)
    freers.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < kBlocks; i += 4) hak_free(blocks[i]);
    });
  for (auto& t : freers) t.join();

  // The owner is parked, so nobody drains: walk every queue.
  std::multiset<void*> queued;
  for (Slab* s : slabs) {
    EXPECT_EQ(s->owner_tid.load(), owner_tid) << "a remote free changed the owner";
    size_t guard = 0;
    uintptr_t word = s->remote_head.load();
    for (void* p = remote_top(word); p; p = *static_cast<void**>(p)) {
      queued.insert(p);
      ASSERT_LT(++guard, 2 * kBlocks) << "cycle in a remote queue";
    }
    EXPECT_EQ(remote_count(word), guard) << "the queue's count and its length disagree";
  }
  EXPECT_EQ(queued.size(), kBlocks) << "remote frees lost or duplicated";
  for (void* p : blocks) EXPECT_EQ(queued.count(p), 1u) << p;

  owner.finish();
  // The owner's next allocations drained the queues and reused the blocks (after the
  // few carved blocks still on its local list, and before carving new ones).
  EXPECT_GE(reused, kBlocks * 8 / 10) << "the owner mapped new memory instead of draining its remote frees";
}

// A thread that exits with blocks still in use gives its slabs up (owner 0); frees
// into them afterwards are remote frees into unowned slabs, and later threads reuse
// the memory.
TEST(RemoteQueue, SlabsOfExitedThreadsAreReleasedAndReused) {
  constexpr size_t kBlocks = 3000;
  constexpr size_t kSize = 80;
  std::vector<void*> blocks(kBlocks);
  std::thread([&] {
    owning_tid();
    for (auto& p : blocks) p = hak_malloc(kSize);
  }).join();
  std::set<Slab*> slabs;
  for (void* p : blocks) slabs.insert(slab_of(superslab_of(p), p));
  for (Slab* s : slabs) {
    uint32_t owner = s->owner_tid.load();
    EXPECT_TRUE(owner == kOwnerNone) << "slab of an exited thread still owned by " << owner;
  }
  std::set<void*> freed(blocks.begin(), blocks.end());
  for (void* p : blocks) hak_free(p);  // frees into unowned slabs: this thread adopts them
  for (Slab* s : slabs) {
    uint32_t owner = s->owner_tid.load();
    EXPECT_TRUE(owner == owning_tid() || owner == kOwnerPool) << "freed-into slab neither adopted nor pooled: " << owner;
    EXPECT_EQ(s->remote_head.load(), 0u) << "frees left waiting in a remote queue";
  }
  size_t reused = 0;
  std::vector<void*> again;
  for (size_t i = 0; i < kBlocks; ++i) {
    again.push_back(hak_malloc(kSize));
    reused += freed.count(again.back());
  }
  for (void* p : again) hak_free(p);
  EXPECT_GE(reused, kBlocks / 2) << "memory freed into an exited thread's slabs is not reused";
}

// A slab can be owned by a thread and at the same time have a stale entry on the
// global mailbox of its class. One way there: S sits on the adopt list (unowned,
// listed); thread T pops it and clears `listed`; a remote free into S wins the token,
// reads owner 0 and routes S to the global mailbox; then T's claim succeeds. S is now
// T's bound slab and on the global mailbox. Whoever pops that entry must not treat
// S as unowned -- above all not T itself, for which slab_acquire trivially succeeds.
// This test builds that state directly and lets hak_collect() (collect_orphans) pop it.
TEST(Ownership, StaleMailboxEntryOfTheCallersOwnSlabIsNotReleased) {
  const uint32_t self = owning_tid();
  void* p = hak_malloc(64);
  ASSERT_NE(p, nullptr);
  Slab* s = slab_of(superslab_of(p), p);
  ASSERT_EQ(s->owner_tid.load(), self);
  ASSERT_FALSE(s->listed.exchange(true)) << "slab unexpectedly listed already";
  orphan_push(OrphanList::kMailbox, s->class_idx, s);

  hak_collect();
  EXPECT_EQ(s->owner_tid.load(), self) << "hak_collect released a slab its caller still allocates from";

  // What follows from a wrong release: another thread adopts the slab, and both
  // threads hand out the same blocks.
  constexpr size_t kBlocks = 2000;
  std::vector<void*> here, there;
  std::thread([&] {
    for (size_t i = 0; i < kBlocks; ++i) there.push_back(hak_malloc(64));
  }).join();
  for (size_t i = 0; i < kBlocks; ++i) here.push_back(hak_malloc(64));
  std::set<void*> all(here.begin(), here.end());
  size_t duplicates = 0;
  for (void* q : there) duplicates += !all.insert(q).second;
  EXPECT_EQ(duplicates, 0u) << "blocks handed out to two threads at once";
  for (void* q : here) hak_free(q);
  if (duplicates == 0)
    for (void* q : there) hak_free(q);
  hak_free(p);
}

// ---- fork child ------------------------------------------------------------

// A fork child takes over the slabs of threads that do not exist there, and those
// threads may have been anywhere in an owner-local update. In guard mode a pop sets the
// block's bit in the slab's bitmap before it counts the block in `used`: a thread caught
// between the two leaves `used` one short. The child then gave the slab back to the pool
// with that bit set (at `used` 0), and the slab's next owner aborted with "block handed
// out twice" when it popped that index (preload.fork_guard, about 3% of runs). Here a
// parked thread holds that state (its block popped and marked, `used` one short), the
// main thread forks, and the child checks that the slab is not pooled with the bit set
// and allocates the class through the pool. Guard mode only (internal.fork_child.guard).
TEST(ForkChild, TornGuardPopDoesNotPoolItsSlab) {
  if (!guard_mode()) GTEST_SKIP() << "needs HAKMEM_GUARD=1";
  constexpr size_t kSize = 3072;  // a class nothing else in this process allocates
  std::mutex m;
  std::condition_variable cv;
  bool torn = false, resume = false;
  void* p = nullptr;
  std::thread t([&] {
    p = hak_malloc(kSize);
    Slab* s = slab_of(superslab_of(p), p);
    s->used.fetch_sub(1);  // as if fork() came before the pop's `used` increment
    std::unique_lock<std::mutex> l(m);
    torn = true;
    cv.notify_all();
    cv.wait(l, [&] { return resume; });
    l.unlock();
    hak_free(p);
  });
  {
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return torn; });
  }
  Slab* s = slab_of(superslab_of(p), p);
  const size_t idx = size_t(static_cast<char*>(p) - slab_data(s)) / s->block_size;
  ASSERT_EQ(s->used.load(), 0u) << "the block is not the only one of its slab: the test needs a fresh slab";
  ASSERT_TRUE(guard_bitmap(s)[idx / 64] & (uint64_t(1) << (idx % 64)));
  pid_t pid = fork();
  if (pid == 0) {
    // The parked thread does not exist here: its slabs were taken over.
    if (s->owner_tid.load() == kOwnerPool && (guard_bitmap(s)[idx / 64] & (uint64_t(1) << (idx % 64)))) _exit(2);
    // Allocate the class through every pooled slab (a pop of a set bit aborts).
    std::vector<void*> got;
    for (size_t i = 0; i < (4u << 20) / kSize; i++) {
      void* q = hak_malloc(kSize);
      if (!q) _exit(3);
      got.push_back(q);
    }
    for (void* q : got) hak_free(q);
    _exit(0);
  }
  ASSERT_GT(pid, 0);
  s->used.fetch_add(1);  // the parent's copy is whole again before its thread frees p
  {
    std::lock_guard<std::mutex> l(m);
    resume = true;
  }
  cv.notify_all();
  t.join();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << "the child pooled the slab with the block's bit set";
  EXPECT_FALSE(WIFSIGNALED(status)) << "the child died of signal " << WTERMSIG(status)
                                    << " (block handed out twice: a pooled slab kept a bit set)";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
}
