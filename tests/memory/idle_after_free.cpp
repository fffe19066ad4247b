// Idle after free: one thread allocates ~300 MiB, frees it (all, or every other block),
// and then makes no allocator call at all. RSS, read with open/read into a stack buffer,
// is checked right after the last free and 0.5 s later. Nothing runs in between that
// could give memory back (no allocator call, no timer), so whatever is returned must be
// returned by the frees themselves. Modes (first argument):
//   small     blocks of 16 B .. 64 KiB, all freed: RSS <= baseline + 64 MiB;
//   big       blocks of 256 KiB .. 16 MiB (the large tier), all freed: the same bound;
//   big-half  the same blocks, every other one freed: RSS <= baseline + live + budget +
//             16 MiB, where the budget is what hakmem documents (the live large bytes,
//             at least 32 MiB); half of 300 MiB stays live, so this bounds what the
//             large cache keeps in an idle program to the program's own live big blocks.
#include "memory_common.h"

using namespace memtest;

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "small";
  const bool big = strncmp(mode, "big", 3) == 0, half = strcmp(mode, "big-half") == 0;
  if (!big && strcmp(mode, "small") != 0) {
    fprintf(stderr, "usage: idle_after_free [small|big|big-half]\n");
    return 2;
  }
  const size_t kTotal = 300 * MiB, kSlack = 64 * MiB;
  OsArray<void*> blocks(kTotal / 256);
  const size_t baseline = rss();
  allocate_blocks(blocks, kTotal, 7, big ? 18 : 4, big ? 24 : 16);
  const size_t full = rss();
  size_t live = 0;
  if (half) {
    for (size_t i = 1; i < blocks.size; i += 2) live += malloc_usable_size(blocks[i]);
    free_blocks(blocks, 0, 2);  // the last allocator call
  } else {
    free_blocks(blocks);  // the last allocator call
  }
  const size_t after_free = rss();
  sleep_quietly(0.5);
  const size_t later = rss();
  printf("idle_after_free %s [%s]: baseline %.1f MiB, allocated %.1f MiB (RSS %.1f), live %.1f MiB, right after "
         "the frees %.1f MiB, 0.5 s later %.1f MiB\n",
         mode, kAllocator, mib(baseline), mib(kTotal), mib(full), mib(live), mib(after_free), mib(later));
  const size_t bound = half ? live + std::max(live, 32 * MiB) + 16 * MiB : kSlack;
  check_le("RSS - baseline right after the last free", mib(static_cast<long long>(after_free - baseline)), mib(bound));
  check_le("RSS - baseline 0.5 s later (no allocator call)", mib(static_cast<long long>(later - baseline)), mib(bound));
  return finish("idle_after_free");
}
