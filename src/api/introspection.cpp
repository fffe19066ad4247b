// glibc's introspection calls that programs use: malloc_trim, malloc_stats, mallinfo2.
#include <malloc.h>

#include "diag/stats.h"
#include "hakmem/hakmem.h"

#define HAK_EXPORT extern "C" __attribute__((visibility("default")))

// Gives every free page back to the OS now; returns 1 as glibc does when it released memory.
HAK_EXPORT int malloc_trim(size_t) noexcept {
  hak_collect();
  return 1;
}

HAK_EXPORT void malloc_stats() noexcept { hak_stats_print(2); }

HAK_EXPORT struct mallinfo2 mallinfo2() noexcept {
  hakmem::StatsTotals t = hakmem::stats_totals();
  struct mallinfo2 mi = {};
  mi.arena = t.mapped;
  mi.hblkhd = t.large;
  mi.uordblks = t.in_use;
  mi.fordblks = t.free;
  mi.keepcost = 0;
  return mi;
}

HAK_EXPORT struct mallinfo mallinfo() noexcept {
  struct mallinfo2 m = mallinfo2();
  struct mallinfo mi = {};
  mi.arena = int(m.arena);
  mi.hblkhd = int(m.hblkhd);
  mi.uordblks = int(m.uordblks);
  mi.fordblks = int(m.fordblks);
  return mi;
}
