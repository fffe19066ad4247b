// malloc_trim(0) gives free memory back at once: right after the call, RSS must be
// <= baseline + live + 32 MiB (live: a dense 16 MiB the main thread holds throughout).
//   exited: two threads allocate ~200 MiB (16 B .. 64 KiB) and exit; two other threads
//           free it all and exit; the main thread calls malloc_trim(0).
//   idle:   two threads allocate ~200 MiB, free half of their own blocks and wait
//           without any allocator call; the main thread frees the other half (remote
//           frees into slabs whose owners are alive) and calls malloc_trim(0).
//           hakmem: the slabs other threads' frees made complete are given back by
//           malloc_trim acting for the idle owners (heap_reclaim_complete); what stays
//           is each idle thread's bound slab per class (the one its fast path pops
//           from without a lock), so the bound here is 32 MiB higher (glibc: 5 MiB,
//           mimalloc and tcmalloc keep the whole peak).
//   destructor: as exited, but one thread frees it all, and calls malloc_trim(0), from a
//           TLS destructor that runs after hakmem's own exit hook: a thread with no heap
//           left, which cannot adopt the slabs it frees into (they wait in the global
//           mailboxes) and has none to claim them with in malloc_trim. (glibc keeps
//           38 MiB here: its _system build fails this mode.)
#include <pthread.h>

#include <cstring>

#include "memory_common.h"

using namespace memtest;

OsArray<void*>* g_blocks = nullptr;
size_t g_before = 0, g_after = 0;

// Runs after hakmem's exit hook: its key was created before this one.
void free_all_and_trim(void*) {
  free_blocks(g_blocks[0], 0, 1);
  free_blocks(g_blocks[1], 0, 1);
  g_before = rss();
  malloc_trim(0);
  g_after = rss();
}

int main(int argc, char** argv) {
  const int mode = mode_arg(argc, argv, "malloc_trim", {"exited", "idle", "destructor"});
  const bool idle = mode == 1, destructor = mode == 2;
  const size_t kTotal = 200 * MiB, kLive = 16 * MiB, kSlack = 32 * MiB;
  OsArray<void*> blocks[2] = {OsArray<void*>(kTotal / 2 / 256), OsArray<void*>(kTotal / 2 / 256)};
  std::thread([] { free(malloc(64)); }).join();
  const size_t baseline = rss();
  LiveSet live(kLive);

  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::thread owners[2];
  if (idle) {
    for (int i = 0; i < 2; ++i) {
      owners[i] = std::thread([&, i] {
        allocate_blocks(blocks[i], kTotal / 2, 1 + i, 4, 16);
        free_blocks(blocks[i], 0, 2);  // local frees
        ready.fetch_add(1);
        while (!go.load()) sleep_quietly(0.005);  // alive, idle, no allocator call
      });
    }
    while (ready.load() < 2) sleep_quietly(0.005);
    free_blocks(blocks[0], 1, 2);  // remote frees
    free_blocks(blocks[1], 1, 2);
  } else if (destructor) {
    std::thread a0([&] { allocate_blocks(blocks[0], kTotal / 2, 1, 4, 16); });
    std::thread a1([&] { allocate_blocks(blocks[1], kTotal / 2, 2, 4, 16); });
    a0.join();
    a1.join();
    pthread_key_t key;
    if (pthread_key_create(&key, free_all_and_trim) != 0) return 2;
    g_blocks = blocks;
    std::thread f([&] {
      void* volatile p = malloc(64);  // hakmem's exit hook is armed for this thread
      free(p);
      pthread_setspecific(key, blocks);
    });
    f.join();
  } else {
    std::thread a0([&] { allocate_blocks(blocks[0], kTotal / 2, 1, 4, 16); });
    std::thread a1([&] { allocate_blocks(blocks[1], kTotal / 2, 2, 4, 16); });
    a0.join();
    a1.join();
    std::thread f0([&] { free_blocks(blocks[0], 0, 2), free_blocks(blocks[1], 0, 2); });
    std::thread f1([&] { free_blocks(blocks[0], 1, 2), free_blocks(blocks[1], 1, 2); });
    f0.join();
    f1.join();
  }
  size_t before = g_before, after = g_after;
  if (!destructor) {
    before = rss();
    malloc_trim(0);
    after = rss();
  }
#ifndef MEMORY_TEST_SYSTEM_MALLOC
  {
    static hak_stats s;
    hak_stats_get(&s);
    printf("  [hakmem] after malloc_trim: retained %.1f MiB (kept empty %.1f, pool %.1f, large %.1f, remote %.1f), "
           "pending in remote queues %.1f MiB, blocks in use %.1f MiB\n",
           mib(static_cast<size_t>(s.retained_bytes)), mib(static_cast<size_t>(s.retained_kept_empty_bytes)),
           mib(static_cast<size_t>(s.retained_pool_bytes)), mib(static_cast<size_t>(s.retained_large_bytes)),
           mib(static_cast<size_t>(s.retained_remote_bytes)), mib(static_cast<size_t>(pending_bytes(s))),
           mib(static_cast<size_t>(slab_totals().in_use)));
  }
#endif
  go.store(true);
  for (auto& t : owners)
    if (t.joinable()) t.join();
  printf("malloc_trim %s [%s]: baseline %.1f MiB, live %.1f MiB, peak %.1f MiB, before malloc_trim %.1f MiB, "
         "right after %.1f MiB\n",
         argv[1], kAllocator, mib(baseline), mib(live.bytes), mib(peak_rss()), mib(before), mib(after));
#ifdef MEMORY_TEST_SYSTEM_MALLOC
  const size_t bound = kSlack;
#else
  const size_t bound = idle ? kSlack + 32 * MiB : kSlack;
#endif
  check_le("RSS - baseline - live right after malloc_trim(0)", mib(static_cast<long long>(after - baseline - live.bytes)),
           mib(bound));
  return finish(idle ? "malloc_trim_idle" : destructor ? "malloc_trim_destructor" : "malloc_trim_exited");
}
