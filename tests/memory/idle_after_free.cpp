// Idle after free: one thread allocates ~300 MiB (16 B .. 64 KiB), frees it all and then
// makes no allocator call at all. RSS, read with open/read into a stack buffer, must be
// <= baseline + 64 MiB right after the last free and 0.5 s later. Nothing runs in
// between that could give memory back (no allocator call, no timer), so whatever is
// returned must be returned by the frees themselves.
#include "memory_common.h"

using namespace memtest;

int main() {
  const size_t kTotal = 300 * MiB, kSlack = 64 * MiB;
  OsArray<void*> blocks(kTotal / 256);
  const size_t baseline = rss();
  allocate_blocks(blocks, kTotal, 7, 4, 16);
  const size_t full = rss();
  free_blocks(blocks);  // the last allocator call
  const size_t after_free = rss();
  sleep_quietly(0.5);
  const size_t later = rss();
  printf("idle_after_free [%s]: baseline %.1f MiB, allocated %.1f MiB (RSS %.1f), right after the frees %.1f MiB, "
         "0.5 s later %.1f MiB\n",
         kAllocator, mib(baseline), mib(kTotal), mib(full), mib(after_free), mib(later));
  check_le("RSS - baseline right after the last free", mib(static_cast<long long>(after_free - baseline)), mib(kSlack));
  check_le("RSS - baseline 0.5 s later (no allocator call)", mib(static_cast<long long>(later - baseline)), mib(kSlack));
  return finish("idle_after_free");
}
