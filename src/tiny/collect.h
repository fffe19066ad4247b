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

// Claims up to `budget` slabs from the global mailboxes and adopt lists of every class:
// empty ones go back to the pool, the rest back to the lists. Refill calls it before
// mapping a new SuperSlab, so memory parked there is reused first.
void collect_orphans(ThreadHeap* h, uint32_t budget);

}  // namespace hakmem
