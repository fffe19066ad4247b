// The sampled heap profiler (HAKMEM_PROFILE=PATH): which call stacks hold the memory.
//
// Sampling is by bytes, as in jemalloc and tcmalloc: each thread counts requested bytes
// down from a random interval (exponential, mean HAKMEM_PROFILE_RATE), and the
// allocation that crosses zero is sampled, so an allocation of s bytes is sampled with
// probability 1 - exp(-s/rate) and each sample stands for s / that probability bytes.
// The small tier's countdown is the housekeeping countdown the fast path already keeps
// (ThreadHeap::tick_bytes): with the profiler on, heap_alloc_tick arms it with
// min(bytes to housekeeping, bytes to the next sample), so the fast path pays nothing.
//
// A sampled slab block is given back and replaced by a block of the profiler's own arena
// (chunk kind kChunkProfiled), with a header that names its sample; free, realloc and
// malloc_usable_size find it through their switch on the chunk kind, so no free path
// looks for samples. A sampled large block keeps its place and carries its sample in its
// header. Everything here is a slow path; a sample and its free take no lock other
// threads contend for (see profile.cpp), and the locks there are leaves in fork.cpp's order.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hakmem {

// Per-thread sampler state, kept in the ThreadHeap (owner-only, like tick_bytes).
struct ProfileThread {
  int64_t until_sample;        // bytes until the next sample
  int64_t until_housekeeping;  // bytes until the next housekeeping round
  int64_t armed;               // the value tick_bytes was last armed with
  uint64_t rng;
  uint64_t stack_hi;  // the top of the thread's stack as libunwind found it (0: not yet)
  bool started;  // false: nothing drawn yet (a new or recycled heap)
  bool busy;     // inside the sampler: allocations the unwinder makes are not sampled
  uint8_t stripe;  // which of the profiler's per-thread-group counters and free lists
};

extern bool g_profile_on;  // set once at start-up; read only on slow paths
inline bool profile_on() { return __builtin_expect(g_profile_on, 0); }

// Start-up, once the allocator works (loads the unwinder, which may allocate).
void profile_init();
// heap_alloc_tick with the profiler on: counts the bytes since the countdown was armed,
// samples *block if the sample point was crossed (replacing it), re-arms *tick_bytes.
// Returns true when a housekeeping round is due.
bool profile_alloc_tick(ProfileThread& t, int64_t* tick_bytes, void** block);
// A large block of `usable` bytes was handed out: the sample record to keep in its
// header, or nullptr when it is not sampled.
void* profile_large_alloc(size_t usable);
void profile_large_free(void* sample);
// A sampled large block now has `usable` bytes (resized in place or moved by realloc):
// the profile's live bytes follow. The large tier calls it where a resize succeeds
// (large_resize_in_place, large_grow_by_moving).
void profile_large_resized(void* sample, size_t usable);
// The profiler's arena (kChunkProfiled).
void profile_free(void* p, const char* caller);
size_t profile_usable_size(const void* p, const char* caller);
// Writes the profile to HAKMEM_PROFILE's path (at exit).
void profile_at_exit();
// Fork: the profiler's lock (a leaf); the child starts with an empty profile.
void profile_lock();
void profile_unlock();
void profile_reset_in_child();

// Tests (tests/unit/profile_test.cpp).
uint64_t profile_next_interval(ProfileThread& t);
// The calling thread's stack as the sampler takes it (from the caller of this), and as
// libunwind alone takes it.
int profile_capture_stack(void** frames, int max);
int profile_capture_stack_libunwind(void** frames, int max);

}  // namespace hakmem
