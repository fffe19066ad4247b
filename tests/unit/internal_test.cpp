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
  ThreadHeap* h = heap_get();  // a thread within its nursery quotas has none yet
  for (uint8_t& left : h->nursery_left) left = 0;
  return h->tid;
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
  // Fewer blocks than one 64 KiB slab holds, even the first of a SuperSlab (after its
  // header: 853 of 48 bytes): the slab stays bound to its owner (a slab that fills up
  // is let go of, and the first free into it would adopt it).
  constexpr size_t kBlocks = 800;
  constexpr size_t kSize = 48;
  std::vector<void*> blocks(kBlocks);
  uint32_t owner_tid = 0;
  std::vector<void*> again;
  size_t reused = 0, carved_ahead = 0;
  ParkedThread owner(
      [&] {
        owner_tid = owning_tid();
        for (auto& p : blocks) p = hak_malloc(kSize);
        // Blocks carved but not handed out yet: the next allocations take these first.
        std::set<Slab*> mine;
        for (void* p : blocks) mine.insert(slab_of(superslab_of(p), p));
        for (Slab* s : mine) carved_ahead += s->carved - s->used.load();
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
  // carved blocks still on its local list, and before carving new ones).
  EXPECT_GE(reused + carved_ahead, kBlocks) << "the owner carved new blocks instead of draining its remote frees";
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

// ---- the nursery -------------------------------------------------------------

// A thread's first blocks of each class come from the shared heap (heap_alloc_slow),
// packed with other threads' first blocks, so that a thread with a few blocks in many
// classes does not pin a slab page per class. Each test runs its allocations on fresh
// threads: a thread's quota is set when its heap is.

namespace {

Slab* slab_holding(void* p) { return slab_of(superslab_of(p), p); }

bool owned_by_a_thread(uint32_t owner) { return owner != kOwnerNone && owner != kOwnerPool; }

// Lets threads take turns: wait_for(i) returns once it is thread i's turn; pass() hands
// the turn on to the next of n.
class Turns {
 public:
  explicit Turns(int n) : n_(n) {}
  void wait_for(int i) {
    std::unique_lock<std::mutex> l(m_);
    cv_.wait(l, [&] { return turn_ % n_ == i; });
  }
  void pass() {
    {
      std::lock_guard<std::mutex> g(m_);
      turn_++;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_;
  int turn_ = 0;
};

}  // namespace

// The first `quota` blocks of a class come from slabs of the shared heap (one owner,
// neither the thread nor nobody, the same for every thread), the next from a slab the
// thread owns. The quota is what nursery_left says after the first block, plus one.
TEST(Nursery, FirstBlocksOfAClassComeFromTheSharedHeapUpToTheQuota) {
  // Small classes (rounded up to whole lines in the nursery or not), mid-size ones with a
  // smaller quota, and one (64 KiB) whose quota is a single block.
  const size_t sizes[] = {16, 64, 100, 1024, 4096, 16 * KiB, 64 * KiB};
  uint32_t shared_tid[2] = {0, 0};
  for (int t = 0; t < 2; ++t) {
    std::thread([&, t] {
      for (size_t n : sizes) {
        const uint32_t c = size_class_of(n);
        std::vector<void*> got;
        got.push_back(hak_malloc(n));
        ASSERT_NE(got[0], nullptr);
        const uint32_t quota = heap_nursery_left(c) + 1u;
        EXPECT_LE(quota, 12u) << n;  // README: at most 12 blocks
        const uint32_t first_owner = slab_holding(got[0])->owner_tid.load();
        EXPECT_TRUE(owned_by_a_thread(first_owner)) << n << ": owner " << first_owner;
        EXPECT_NE(first_owner, t_heap->tid) << n << ": a thread's first block lies in a slab of its own";
        if (shared_tid[t] == 0) shared_tid[t] = first_owner;
        EXPECT_EQ(first_owner, shared_tid[t]) << n << ": nursery blocks of two classes have different owners";
        for (uint32_t i = 1; i < quota; ++i) {
          got.push_back(hak_malloc(n));
          ASSERT_NE(got.back(), nullptr);
          EXPECT_EQ(slab_holding(got.back())->owner_tid.load(), first_owner) << n << ": block " << i << " of " << quota;
        }
        EXPECT_EQ(heap_nursery_left(c), 0u) << n;
        // Past the quota: a slab of its own.
        got.push_back(hak_malloc(n));
        ASSERT_NE(got.back(), nullptr);
        EXPECT_EQ(slab_holding(got.back())->owner_tid.load(), t_heap->tid) << n << ": block past the quota of " << quota;
        for (void* p : got) hak_free(p);
      }
    }).join();
  }
  EXPECT_EQ(shared_tid[0], shared_tid[1]) << "two threads' first blocks are not in the same heap's slabs";
}

// Below 1 KiB a nursery block is a whole number of cache lines, line-aligned: two
// threads that take turns allocating small blocks get blocks side by side in the same
// slab, but never two in one line (false sharing between threads that each write
// their own small block).
TEST(Nursery, SmallNurseryBlocksOfTwoThreadsNeverShareACacheLine) {
  constexpr size_t kLine = 64;
  constexpr int kThreads = 2;
  const size_t sizes[] = {24, 48, 65, 100, 129, 200, 330, 500, 700, 1000};  // not class 0
  std::vector<void*> blocks[kThreads];
  uint32_t quota16[kThreads] = {};
  Turns turns(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      // Each thread's whole quota of 16-byte blocks, one block a turn, then one block of
      // each other size (well within their quotas).
      uint32_t& quota = quota16[t];
      for (uint32_t i = 0; i == 0 || i < quota; ++i) {
        turns.wait_for(t);
        blocks[t].push_back(hak_malloc(16));
        if (i == 0) quota = heap_nursery_left(0) + 1u;  // the same for every thread
        turns.pass();
      }
      EXPECT_GT(quota, 1u);
      for (size_t n : sizes) {
        turns.wait_for(t);
        blocks[t].push_back(hak_malloc(n));
        turns.pass();
      }
    });
  for (auto& th : threads) th.join();

  std::set<uintptr_t> lines[kThreads];
  std::set<uint32_t> owners;
  std::set<Slab*> slabs_16[kThreads];
  for (int t = 0; t < kThreads; ++t) {
    for (size_t i = 0; i < blocks[t].size(); ++i) {
      void* p = blocks[t][i];
      ASSERT_NE(p, nullptr);
      const size_t n = i < quota16[t] ? 16 : sizes[i - quota16[t]];
      const size_t usable = hak_malloc_usable_size(p);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kLine, 0u) << n << "-byte nursery block " << p << " not line-aligned";
      EXPECT_EQ(usable % kLine, 0u) << n << "-byte nursery block: usable size " << usable;
      EXPECT_GE(usable, n);
      EXPECT_LT(usable, g_class_size[size_class_of(n)] + kLine) << n << ": rounded up by a line or more";
      owners.insert(slab_holding(p)->owner_tid.load());
      if (i < quota16[t]) slabs_16[t].insert(slab_holding(p));
      const auto a = reinterpret_cast<uintptr_t>(p);
      for (uintptr_t l = a / kLine; l <= (a + usable - 1) / kLine; ++l) lines[t].insert(l);
    }
  }
  EXPECT_EQ(owners.size(), 1u) << "the blocks are not all the shared heap's";
  // The turns interleaved the two threads' 16-byte blocks in one slab (or two, should
  // the shared heap's slab of the class run out between turns).
  std::vector<Slab*> common;
  std::set_intersection(slabs_16[0].begin(), slabs_16[0].end(), slabs_16[1].begin(), slabs_16[1].end(),
                        std::back_inserter(common));
  EXPECT_FALSE(common.empty()) << "no slab holds 16-byte blocks of both threads";
  std::vector<uintptr_t> both;
  std::set_intersection(lines[0].begin(), lines[0].end(), lines[1].begin(), lines[1].end(), std::back_inserter(both));
  EXPECT_TRUE(both.empty()) << both.size() << " cache line(s) hold blocks of both threads, e.g. "
                            << reinterpret_cast<void*>(both.empty() ? 0 : both[0] * kLine);
  for (auto& list : blocks)
    for (void* p : list) hak_free(p);
}

// Nothing freed into the shared heap is stranded there. Threads take nursery blocks
// in many classes, free half of them and hand the other half to the next thread, which
// frees them, and exit. Nobody allocates from the shared heap afterwards, so nobody
// would drain those frees but its tending: after hak_collect() every slab that held
// one of the blocks is back in the pool with an empty remote queue.
TEST(Nursery, BlocksFreedIntoTheSharedHeapAreNotStranded) {
  constexpr int kThreads = 4;
  const size_t sizes[] = {16, 64, 100, 256, 700, 1024, 3000, 8 * KiB, 16 * KiB, 40 * KiB};
  std::vector<void*> blocks[kThreads];
  std::set<Slab*> slabs[kThreads];
  std::mutex m;
  std::condition_variable cv;
  int allocated = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (size_t n : sizes) {
        const uint32_t c = size_class_of(n);
        do {
          void* p = hak_malloc(n);
          if (p == nullptr) {
            ADD_FAILURE() << "out of memory";
            break;
          }
          const uint32_t owner = slab_holding(p)->owner_tid.load();
          EXPECT_TRUE(owned_by_a_thread(owner) && owner != t_heap->tid) << n << ": not a nursery block, owner " << owner;
          memset(p, 0xA5, n);
          blocks[t].push_back(p);
          slabs[t].insert(slab_holding(p));
        } while (heap_nursery_left(c) > 0);
      }
      std::unique_lock<std::mutex> l(m);
      allocated++;
      cv.notify_all();
      cv.wait(l, [&] { return allocated == kThreads; });
      l.unlock();
      // Every other block of ours, every other one of the next thread's (it frees the rest).
      const auto& next = blocks[(t + 1) % kThreads];
      for (size_t i = 0; i < blocks[t].size(); i += 2) hak_free(blocks[t][i]);
      for (size_t i = 1; i < next.size(); i += 2) hak_free(next[i]);
    });
  for (auto& th : threads) th.join();

  hak_collect();
  std::set<Slab*> all;
  for (auto& s : slabs) all.insert(s.begin(), s.end());
  for (Slab* s : all) {
    EXPECT_EQ(s->owner_tid.load(), kOwnerPool)
        << "class " << s->class_idx << " slab " << s << ": not back in the pool (used " << s->used.load() << ")";
    EXPECT_EQ(s->remote_head.load(), 0u) << "class " << s->class_idx << ": frees left waiting in a remote queue";
  }
}

// A thread that takes only nursery blocks has no heap (its quotas live in a record of
// a few bytes), yet counts as a live thread and, when it exits, as an exited one. Its
// first allocation past a quota creates its heap, which continues the quotas where the
// record left them rather than granting them afresh.
TEST(Nursery, ThreadWithinItsQuotasHasNoHeapUntilItTakesAQuotaWhole) {
  hak_stats before{};
  hak_stats_get(&before);
  std::mutex m;
  std::condition_variable cv;
  int step = 0;  // 1: the thread allocated heapless; 2: checked; 3: past a quota; 4: checked
  auto wait_for = [&](int want) {
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return step == want; });
  };
  auto advance = [&] {
    std::lock_guard<std::mutex> l(m);
    step++;
    cv.notify_all();
  };
  const uint32_t c16 = size_class_of(16), c300 = size_class_of(300);
  std::thread t([&] {
    std::vector<void*> got;
    for (size_t n : {size_t{16}, size_t{300}, size_t{5000}, 20 * KiB}) got.push_back(hak_malloc(n));
    EXPECT_TRUE(heap_is_heapless()) << "a thread within its nursery quotas got a heap";
    const ThreadHeap* heap = t_heap;  // a copy: gtest binds its operands to references
    EXPECT_EQ(heap, &g_heap_placeholder);
    const uint8_t left300 = heap_nursery_left(c300);
    EXPECT_GT(heap_nursery_left(c16), 0u);
    advance();
    wait_for(2);
    for (uint8_t left = heap_nursery_left(c16); left > 0; left = heap_nursery_left(c16)) got.push_back(hak_malloc(16));
    EXPECT_TRUE(heap_is_heapless());
    got.push_back(hak_malloc(16));  // past the quota of 16-byte blocks: a slab of its own
    EXPECT_FALSE(heap_is_heapless());
    heap = t_heap;
    ASSERT_NE(heap, &g_heap_placeholder);
    EXPECT_EQ(slab_holding(got.back())->owner_tid.load(), t_heap->tid);
    EXPECT_EQ(heap_nursery_left(c300), left300) << "the heap granted the quotas afresh";
    advance();
    wait_for(4);
    for (void* p : got) hak_free(p);
  });
  wait_for(1);
  hak_stats during{};
  hak_stats_get(&during);
  EXPECT_GE(during.threads_live, before.threads_live + 1) << "a heapless thread is not counted live";
  advance();
  wait_for(3);
  hak_stats converted{};
  hak_stats_get(&converted);
  EXPECT_EQ(converted.threads_live, during.threads_live) << "the thread was counted twice when it got its heap";
  advance();
  t.join();
  // A thread that exits without ever needing a heap.
  std::thread([] {
    void* p = hak_malloc(100);
    EXPECT_TRUE(heap_is_heapless());
    hak_free(p);
  }).join();
  hak_stats after{};
  hak_stats_get(&after);
  EXPECT_EQ(after.threads_exited, before.threads_exited + 2);
  EXPECT_EQ(after.threads_live, before.threads_live);
}

// fork() while other threads are heapless: the child has only the forking thread (which
// may itself be heapless: it gets its heap there), and the records of the threads that
// did not survive are released, not counted live forever.
TEST(Nursery, ForkChildReleasesTheRecordsOfHeaplessThreads) {
  constexpr int kParked = 4;
  std::mutex m;
  std::condition_variable cv;
  int ready = 0;
  bool go = false;
  std::vector<std::thread> parked;
  for (int i = 0; i < kParked; ++i)
    parked.emplace_back([&] {
      void* p = hak_malloc(48);
      const bool heapless = heap_is_heapless();
      std::unique_lock<std::mutex> l(m);
      EXPECT_TRUE(heapless);
      ready++;
      cv.notify_all();
      cv.wait(l, [&] { return go; });
      l.unlock();
      hak_free(p);
    });
  {
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return ready == kParked; });
  }
  int status = -1;
  std::thread forker([&] {
    void* p = hak_malloc(64);  // heapless too, up to the fork
    pid_t pid = fork();
    if (pid == 0) {
      hak_stats s{};
      hak_stats_get(&s);
      if (s.threads_live != 1) _exit(10 + int(s.threads_live < 10 ? s.threads_live : 9));
      std::vector<void*> got;
      for (int i = 0; i < 1000; i++) got.push_back(hak_malloc(16 + i % 500));
      for (void* q : got) hak_free(q);
      hak_free(p);
      _exit(0);
    }
    waitpid(pid, &status, 0);
    hak_free(p);
  });
  forker.join();
  {
    std::lock_guard<std::mutex> l(m);
    go = true;
  }
  cv.notify_all();
  for (auto& t : parked) t.join();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "child status " << status << " (exit 1x: x threads counted live in the child)";
}
