// Memory back to the OS, driven by allocator activity: every thread's slow path calls
// collect_tick now and then; hak_collect / malloc_trim force a full round.
#pragma once
#include <cstdint>

namespace hakmem {

struct ThreadHeap;

// Claims orphaned slabs announced in the global mailboxes (their threads exited, then
// other threads freed into them), gives empty ones back to the pool, and purges free
// slabs and cached large blocks older than HAKMEM_PURGE_DELAY_MS (all, when force).
void collect_tick(ThreadHeap* h, uint64_t now_ms, bool force);

}  // namespace hakmem
