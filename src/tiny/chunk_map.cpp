#include "tiny/chunk_map.h"

namespace hakmem {

alignas(4096) uint8_t g_chunk_kind[kChunkCount];

void chunk_map_set(const void* base, size_t size, ChunkKind first, ChunkKind rest) {
  uintptr_t a = reinterpret_cast<uintptr_t>(base) >> kChunkShift;
  uintptr_t n = (size + kChunkSize - 1) >> kChunkShift;
  for (uintptr_t i = 0; i < n && a + i < kChunkCount; i++)
    __atomic_store_n(&g_chunk_kind[a + i], uint8_t(i == 0 ? first : rest), __ATOMIC_RELAXED);
}

}  // namespace hakmem
