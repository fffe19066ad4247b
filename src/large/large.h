// The large tier: blocks above kMaxSlabBlock, as runs of 2 MiB chunks inside reserved
// regions, with a header at the start of the first chunk. Freed runs merge with their
// free neighbours and are reused warm (touching fresh pages is what makes large blocks
// slow); their resident pages count against the retention budget and go back to the OS
// (madvise) when it is exceeded or after the purge delay. See large.cpp for the design.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tiny/chunk_map.h"

namespace hakmem {

// *fresh is set when the memory comes straight from the OS (already zero).
void* large_alloc(size_t size, size_t align, bool* fresh = nullptr);
// kind is the chunk kind of p's chunk (kChunkLarge*); aborts on a pointer that is not
// the start of a live large block.
void large_free(void* p, ChunkKind kind, const char* caller);
size_t large_usable_size(const void* p, ChunkKind kind, const char* caller);
// Grows or shrinks in place when the mapping allows; false when the caller must move.
bool large_resize_in_place(void* p, ChunkKind kind, size_t new_size);
// Grows a big block by moving its pages to a new mapping (no copy); nullptr when the
// caller must allocate and copy instead.
void* large_grow_by_moving(void* p, ChunkKind kind, size_t new_size);
void large_purge(uint64_t now_ms, bool force);
// Gives back at least `want` bytes of cached blocks, oldest first, if there are that
// many; returns the bytes given back. The retention policy calls it.
uint64_t large_purge_bytes(uint64_t want);

// Diagnostics (tests): copies up to `max` free runs, in address order; returns how many
// there are. dirty == 0 means every page of the run reads as zero.
struct LargeRangeInfo {
  uintptr_t start;
  size_t size, dirty;
  uint64_t stamp_ms;
};
uint32_t large_free_ranges(LargeRangeInfo* out, uint32_t max);

struct LargeCounters {
  uint64_t blocks, bytes, cached_bytes, maps, unmaps, mapped_bytes, purged_bytes;
};
void large_counters(LargeCounters* out);
void large_lock();
void large_unlock();
void large_reset_lock_in_child();

}  // namespace hakmem
