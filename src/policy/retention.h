// The one memory policy: how much free memory hakmem keeps resident.
//
// Free memory that stays resident sits in four places: slabs a thread keeps empty for
// reuse, pooled slabs whose pages were not yet purged, cached large blocks, and mid-size
// blocks waiting in the remote queue of a slab whose owner has not drained it yet (an
// idle thread's bound slab). The first three can be purged by anyone; the last cannot
// (only the owner drains), so a remote free of a mid-size block that would go over the
// budget gives the block's inner pages back at once instead of counting it. Each
// place reports its resident free bytes here. Below the budget, age decides when pages
// go back (HAKMEM_PURGE_DELAY_MS), at the next housekeeping round of a busy thread or of
// the background purger (policy/purger.h) when the program is idle; above it, the path
// that noticed (a free that empties a slab, a thread exit, a large free) gives back the
// oldest at once, so a program that goes idle after a spike keeps at most the budget
// without any further call, and with the purger only what its own threads hold.
#pragma once
#include <atomic>
#include <cstdint>

namespace hakmem {

enum class Retained : uint8_t { kKeptEmpty, kPool, kLargeCache, kRemotePending, kCount };

// Resident free bytes entering (+) or leaving (-) a place. Relaxed; cheap.
void retained_add(Retained where, int64_t bytes);
// `order`: seq_cst only where a reader pairs with retained_add's seq_cst add (the purger).
uint64_t retained_bytes(Retained where, std::memory_order order = std::memory_order_relaxed);
uint64_t retained_total(std::memory_order order = std::memory_order_relaxed);
// The counter as it is (it may dip below zero for a moment between two threads' updates).
int64_t retained_raw(Retained where);

// Bytes handed to the program's live data, by tier, for the budget's proportional part.
// Slab tier: bytes of slabs out of the pool; large tier: bytes of live large mappings.
void live_slab_bytes_add(int64_t bytes);
void live_large_bytes_add(int64_t bytes);
uint64_t live_bytes();

// max(HAKMEM_RETAIN_MB, live slab bytes / 4 + live large bytes): what may stay resident
// while free, in all.
uint64_t retention_budget();
// max(HAKMEM_RETAIN_MB, live slab bytes / 4): the part free slab memory (everything but
// the large cache) may take of it.
uint64_t retention_slab_budget();
// For memory only its owner can give back (kept-empty slabs, mid-size blocks waiting
// for their slab's owner): true when `extra` more of it would go over its share, half
// the budget's floor. The share does not follow the live heap, so when the live heap
// shrinks, what was kept under a bigger budget cannot hold the total over the new one;
// retention_enforce keeps the rest (pool, large cache) within what remains.
bool retention_owner_share_exceeded(uint64_t extra = 0);
// Gives back pooled slabs and cached large blocks, oldest first, until free slab memory
// is within its part and the retained total within the budget. Called by whoever pushed
// it over; cheap when within.
void retention_enforce();
// Fork child: a thread that was enforcing does not exist there.
void retention_reset_in_child();

}  // namespace hakmem
