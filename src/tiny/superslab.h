// SuperSlab geometry and slab metadata.
//
// A SuperSlab is one 2 MiB chunk, naturally aligned, so free(p) finds it by masking p.
// Its header holds the metadata of its slabs; each slab serves one size class and is
// owned by at most one thread (see ownership.h for the rules).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "tiny/chunk_map.h"
#include "tiny/size_class.h"

namespace hakmem {

inline constexpr unsigned kSmallSlabShift = 16;   // 64 KiB slabs: classes <= 8 KiB
inline constexpr unsigned kMediumSlabShift = 19;  // 512 KiB slabs: classes <= 128 KiB
inline constexpr uint32_t kMaxSlabsPerSuperSlab = kChunkSize >> kSmallSlabShift;  // 32
inline constexpr uint32_t kSuperSlabMagic = 0x48414b53;  // "HAKS"

// owner_tid values that are not threads.
inline constexpr uint32_t kOwnerNone = 0;            // unowned: anyone may claim it
inline constexpr uint32_t kOwnerPool = 0xfffffffeu;  // free slab in its SuperSlab: only the pool hands it out
inline constexpr uint32_t kTidNobody = 0xffffffffu;  // tid of the placeholder heap: owns nothing

enum class SlabKind : uint8_t { kSmall = 0, kMedium = 1 };
inline constexpr int kNumSlabKinds = 2;

// Which owner-local list a slab is on (meaningful only to its owner). Each list but the
// bound slab is capped per class; beyond the cap the owner lets go of the oldest
// (ownership.h, slab_let_go).
enum class SlabPlace : uint8_t { kNone, kBound, kPartial, kFull, kEmpty };

struct alignas(64) Slab {
  // ---- owner-local: touched only by the thread whose tid is in owner_tid ----
  void* freelist;                 // local free list (the fast paths pop and push here)
  std::atomic<uint32_t> used;     // blocks handed out; relaxed, so stats may read it
  uint32_t capacity;              // blocks the slab holds
  uint32_t carved;                // blocks carved from the untouched tail so far
  uint32_t block_size;
  uint16_t class_idx;
  uint8_t index;                  // position in the SuperSlab
  SlabPlace place;
  uint32_t retained_bytes;        // counted as retained while kept empty (owner) or pooled dirty (pool lock)
  Slab* next;                     // owner's partial/full list
  Slab* prev;
  uint64_t block_magic;           // block-start test of free() (block_check.h)
  uint16_t cache_offset;          // byte offset of this class's ClassCache in a ThreadHeap's cls[]

  // ---- shared: written by other threads; on its own cache line so remote frees
  // do not invalidate the owner's local line ----
  alignas(64) std::atomic<uint32_t> owner_tid;
  std::atomic<bool> listed;       // token: the slab is in (or on its way into) a mailbox
  std::atomic<bool> bound_hint;   // bound to its owner, who drains it unasked: pushers need not announce
  std::atomic<bool> adopt_listed; // on the adopt list of its class (a hint, independent of `listed`)
  std::atomic<uintptr_t> remote_head;  // MPSC stack of blocks freed by other threads, with its length (remote_*)
  Slab* list_next;                // link in a mailbox; written by the token holder
  Slab* adopt_next;               // link in the adopt list; under that list's lock
  std::atomic<uint32_t> last_owner;  // who let go of it last (a hint: that thread re-adopts on free)
  uint64_t freed_at_ms;           // when the slab went back to the pool (pool lock)
};
static_assert(sizeof(Slab) == 128);

// `place` is written by its owner (or a reclaimer acting as the owner, under the heap's
// slow lock) and read without the lock by the owner's free fast path: relaxed atomics,
// a plain byte store and load.
static_assert(sizeof(SlabPlace) == 1);
inline void set_place(Slab* s, SlabPlace p) {
  __atomic_store_n(reinterpret_cast<uint8_t*>(&s->place), uint8_t(p), __ATOMIC_RELAXED);
}
inline SlabPlace place_of(const Slab* s) {
  return SlabPlace(__atomic_load_n(reinterpret_cast<const uint8_t*>(&s->place), __ATOMIC_RELAXED));
}

// A remote queue is one word: the top block in the low 48 bits (user-space addresses
// on x86-64 and 48-bit AArch64) and the number of blocks in the top 16 (a slab holds at
// most 4096). One CAS pushes a block and counts it, so the thread whose free completes
// a slab nobody owns knows it, and stats read the count without walking the queue.
inline constexpr unsigned kRemoteCountShift = 48;
inline void* remote_top(uintptr_t w) {
  return reinterpret_cast<void*>(w & ((uintptr_t(1) << kRemoteCountShift) - 1));
}
inline uint32_t remote_count(uintptr_t w) { return uint32_t(w >> kRemoteCountShift); }
inline uintptr_t remote_word(void* top, uint32_t count) {
  return reinterpret_cast<uintptr_t>(top) | (uintptr_t(count) << kRemoteCountShift);
}

struct SuperSlab {
  uint32_t magic;
  SlabKind kind;
  uint8_t slab_shift;
  uint8_t num_slabs;
  uint32_t header_size;           // slab 0's blocks start here
  // Pool state, under the pool lock of this kind.
  uint32_t free_mask;             // slabs in the pool (no class, owner kOwnerPool)
  uint32_t dirty_mask;            // pooled slabs whose pages may still be resident
  uint64_t empty_since_ms;        // when free_mask became full
  SuperSlab* pool_next;           // list of SuperSlabs with pooled slabs
  SuperSlab* pool_prev;
  SuperSlab* all_next;            // every SuperSlab of this kind (stats, fork)
  SuperSlab* all_prev;
  uint64_t* guard_bits;           // guard mode: per-slab bitmaps of handed-out blocks
  alignas(64) Slab slabs[kMaxSlabsPerSuperSlab];
};

inline SuperSlab* superslab_of(const void* p) {
  return reinterpret_cast<SuperSlab*>(reinterpret_cast<uintptr_t>(p) & ~kChunkMask);
}
inline SuperSlab* superslab_of(const Slab* s) { return superslab_of(static_cast<const void*>(s)); }

inline Slab* slab_of(SuperSlab* ss, const void* p) {
  return &ss->slabs[(reinterpret_cast<uintptr_t>(p) & kChunkMask) >> ss->slab_shift];
}

// The fast path's version for kChunkSuperSlab chunks, whose slab size is known.
inline Slab* small_slab_of(SuperSlab* ss, const void* p) {
  // (p >> 16) % 32 slabs of 128 bytes each, folded into one shift and mask.
  static_assert(sizeof(Slab) == 128 && kMaxSlabsPerSuperSlab == 32);
  uintptr_t offset = (reinterpret_cast<uintptr_t>(p) >> (kSmallSlabShift - 7)) & (uintptr_t(31) << 7);
  return reinterpret_cast<Slab*>(reinterpret_cast<char*>(ss->slabs) + offset);
}

inline char* slab_data(SuperSlab* ss, uint32_t idx) {
  char* start = reinterpret_cast<char*>(ss) + (size_t(idx) << ss->slab_shift);
  return idx == 0 ? reinterpret_cast<char*>(ss) + ss->header_size : start;
}
// Slab 0's first block starts after the header at a multiple of the block size, so in
// every slab a block starts at a multiple of it (block_check.h).
inline size_t slab_first_offset(const SuperSlab* ss, uint32_t idx, uint32_t block_size) {
  return idx == 0 ? (ss->header_size + block_size - 1) / block_size * block_size : 0;
}
inline char* slab_data(Slab* s) {
  SuperSlab* ss = superslab_of(s);
  return reinterpret_cast<char*>(ss) + (size_t(s->index) << ss->slab_shift) +
         slab_first_offset(ss, s->index, s->block_size);
}
// Blocks of block_size that slab idx holds.
inline uint32_t slab_capacity(SuperSlab* ss, uint32_t idx, uint32_t block_size) {
  return uint32_t(((size_t(1) << ss->slab_shift) - slab_first_offset(ss, idx, block_size)) / block_size);
}
inline size_t slab_bytes(SuperSlab* ss, uint32_t idx) {
  return (size_t(1) << ss->slab_shift) - (idx == 0 ? ss->header_size : 0);
}

inline SlabKind slab_kind_for_class(uint32_t c) {
  return class_is_small(c) ? SlabKind::kSmall : SlabKind::kMedium;
}

// Pages of a slab that may be resident: what its owner carved so far.
uint32_t slab_resident_bytes(const Slab* s);

// Guard mode: one bit per block, set while the block is handed out.
uint64_t* guard_bitmap(Slab* s);

// ---- the pool of free slabs ("mmap gate"): under one lock per kind, slow path only ----
enum class SlabOrigin { kGate, kFresh };
// Takes a free slab for class c out of the pool; it is still owned by kOwnerPool and
// the caller claims it with slab_acquire. Looks in existing SuperSlabs first (the mmap
// gate), then (if may_map) maps a new one.
// nullptr when the OS refuses memory.
Slab* pool_take_slab(uint32_t c, SlabOrigin* origin, bool may_map);
// The owner gives back a slab with no block in use and an empty remote queue.
void pool_return_slab(Slab* s);
// Returns pages of slabs and SuperSlabs that have been free longer than the purge
// delay (all of them when force) to the OS. Cheap when nothing is due.
void pool_purge(uint64_t now_ms, bool force);
// Gives back the pages of at least `want` bytes of pooled slabs (whole empty
// SuperSlabs first) if there are that many; returns the bytes given back.
uint64_t pool_purge_bytes(uint64_t want);

struct PoolCounters {
  uint64_t superslabs, superslabs_peak, bytes_mapped, bytes_mapped_peak, bytes_purged, os_maps, os_unmaps;
};
void pool_counters(PoolCounters* out);
// Visits every SuperSlab under the pool locks (stats, fork child).
void pool_for_each_superslab(void (*fn)(SuperSlab*, void*), void* arg);
// The same without the locks, for a fork child (one thread): fn may return slabs to
// the pool, which never changes the list of all SuperSlabs being walked.
void pool_for_each_superslab_in_child(void (*fn)(SuperSlab*, void*), void* arg);
// Fork child: a thread that died between marking a slab kOwnerPool and putting it in
// its SuperSlab's free mask (or between taking it out and claiming it) left a slab
// nobody can reach: back into the pool with it.
void pool_repair_in_child();
void pool_lock_all();
void pool_unlock_all();
void pool_reset_locks_in_child();

}  // namespace hakmem
