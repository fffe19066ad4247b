#pragma once
#include <cstdint>

namespace hakmem {

struct ThreadHeap;

// Binds a slab with free blocks for class c to h; false when the OS refuses memory.
bool refill(ThreadHeap* h, uint32_t c);
// The allocation slow path of the SuperSlab tier: fast cache, bound slab (checked in
// guard mode), refill. nullptr when out of memory.
void* heap_alloc_slow(ThreadHeap* h, uint32_t c);

}  // namespace hakmem
