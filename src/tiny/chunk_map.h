// The process-wide map that says what every 2 MiB chunk of the address space is to
// hakmem. free() reads it first, so a pointer hakmem never handed out is recognised
// instead of being taken for a SuperSlab.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hakmem {

inline constexpr unsigned kChunkShift = 21;
inline constexpr size_t kChunkSize = size_t(1) << kChunkShift;
inline constexpr uintptr_t kChunkMask = kChunkSize - 1;
inline constexpr unsigned kAddressBits = 47;  // user space on x86-64 / AArch64 (4-level)
inline constexpr size_t kChunkCount = size_t(1) << (kAddressBits - kChunkShift);

enum ChunkKind : uint8_t {
  kChunkNone = 0,
  kChunkSuperSlab = 1,       // SuperSlab of 64 KiB slabs: the inline fast path
  kChunkSuperSlabMedium = 6, // SuperSlab of 512 KiB slabs: same protocol, one call deeper
  kChunkSuperSlabGuard = 2,  // SuperSlab in guard mode: every free takes the checked path
  kChunkLarge = 3,           // first chunk of a large block: header at the chunk base
  kChunkLargeAligned = 4,    // chunk of a >= 2 MiB-aligned large block: header one chunk below
  kChunkLargeTail = 5,       // any later chunk of a large block (never a block start)
  kChunkProfiled = 7,        // the heap profiler's arena: sampled blocks (diag/profile.h)
};

// Zero-initialised, so it lives in .bss: untouched parts cost no memory. Hidden, so the
// fast path addresses it directly rather than through the GOT.
extern uint8_t g_chunk_kind[kChunkCount] __attribute__((visibility("hidden")));

inline ChunkKind chunk_kind_of(const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p) >> kChunkShift;
  if (__builtin_expect(a >= kChunkCount, 0)) return kChunkNone;
  // Relaxed: a chunk's kind is set before any pointer into it is handed out, and
  // the hand-over itself (a return value, a queue) orders it for the reader.
  return ChunkKind(__atomic_load_n(&g_chunk_kind[a], __ATOMIC_RELAXED));
}

void chunk_map_set(const void* base, size_t size, ChunkKind first, ChunkKind rest);

}  // namespace hakmem
