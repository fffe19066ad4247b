// The default-mode checks of a freed pointer: is it the start of a block, and is that
// block in use? Both are on the free fast path, so each is a few instructions.
//
// Block start: a slab's blocks start at multiples of the block size from the slab's
// base (slab 0 skips its header by a multiple too), so the offset of p in its slab must
// be divisible by the block size. Divisibility by a constant d costs one multiply
// (Lemire, Kaser, Kurz 2019): for n < 2^32, d divides n iff n * M < M (mod 2^64), with
// M = floor((2^64 - 1) / d) + 1. Each slab keeps its M.
//
// In use: a free block carries a mark in its second word (the first is the list link),
// a per-process secret xor-ed with the block's own address. Allocation clears it. So
// a second free of a block finds the mark however many other frees came in between,
// wherever the first free put it (local list, fast cache, remote queue). A live block
// carries the mark only if the program wrote exactly that value there, which it cannot
// know; a block copied from a free one carries its source's mark, not its own. Every
// block is at least 16 bytes, so the second word is always inside it.
#pragma once
#include <cstdint>

#include "tiny/superslab.h"

namespace hakmem {

extern uintptr_t g_free_mark_secret __attribute__((visibility("hidden")));

inline uint64_t block_start_magic(uint32_t block_size) { return ~uint64_t(0) / block_size + 1; }

template <unsigned kSlabShift>
inline bool is_block_start(const Slab* s, const void* p) {
  uint64_t offset = reinterpret_cast<uintptr_t>(p) & ((uintptr_t(1) << kSlabShift) - 1);
  return offset * s->block_magic < s->block_magic;
}

inline uintptr_t free_mark_of(const void* p) { return g_free_mark_secret ^ reinterpret_cast<uintptr_t>(p); }
inline bool block_is_marked_free(const void* p) { return static_cast<const uintptr_t*>(p)[1] == free_mark_of(p); }
inline void block_mark_free(void* p) { static_cast<uintptr_t*>(p)[1] = free_mark_of(p); }
inline void block_clear_mark(void* p) { static_cast<uintptr_t*>(p)[1] = 0; }

// Report and abort (api/alloc.cpp): what the program did, naming hakmem. They never
// return, but are not declared [[noreturn]]: the fast paths tail-call them, so no
// stack frame is set up for a call that is never taken.
void report_interior_free(const char* caller, const void* p, const Slab* s);
void report_double_free(const char* caller, const void* p);

}  // namespace hakmem
