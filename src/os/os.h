// The OS layer: every system call hakmem makes for memory, time and output lives here.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hakmem::os {

inline constexpr size_t kPageSize = 4096;

// Maps `size` bytes of zeroed read-write memory aligned to `align` (a power of two,
// at least a page). Returns nullptr on failure (errno left as mmap set it).
void* map_aligned(size_t size, size_t align);
void unmap(void* p, size_t size);
// Like map_aligned, but first asks for the range at `hint` (e.g. right below a mapping the
// caller already has, so the two are address-adjacent): one system call when the kernel
// grants it and the result is aligned, map_aligned otherwise.
void* map_aligned_at(size_t size, size_t align, void* hint);
// Asks for transparent huge pages on a range (where the kernel's THP mode is "madvise").
void advise_huge(void* p, size_t size);
// Gives the pages back to the OS; the range stays mapped and reads as zero later.
void decommit(void* p, size_t size);
// Grows a mapping in place (no move); false when the next pages are taken.
bool remap_in_place(void* p, size_t old_size, size_t new_size);
// Moves a mapping's pages to dest (a range of new_size bytes the caller mapped), growing
// it; no data is copied. The old range is gone afterwards.
bool remap_to(void* p, size_t old_size, size_t new_size, void* dest);

uint64_t now_ms();          // monotonic, coarse: cheap enough for slow paths
uint64_t rss_bytes();       // VmRSS of this process
uint64_t rss_peak_bytes();  // VmHWM of this process
// The calling thread is the process's only live one (the main thread may have ended
// with pthread_exit: its zombie does not count). Reads /proc; never allocates.
bool only_thread_left();
// The calling thread's kernel thread id, and its process's id.
int32_t thread_id();
int32_t process_id();
// The calling thread is the process's first (its thread id is the process id).
bool is_main_thread();
// No thread of this process has kernel thread id tid any more (it ended). An id the
// kernel gave to a new thread since reads as alive. Only for ids of this process's
// threads (heap.cpp's liveness_tid: not those of a vfork child or other task sharing
// our memory under another process id).
bool thread_gone(int32_t tid);

// Raw write to a file descriptor: async-signal-safe, never allocates.
void write_all(int fd, const char* s, size_t n);
void yield_cpu();

// Sleeps while *word == expected, at most timeout_ms (0: no limit); returns early when
// woken, on a signal, or at once when *word differs. Never allocates.
void wait_on(const uint32_t* word, uint32_t expected, uint32_t timeout_ms);
// Wakes every thread sleeping in wait_on(word).
void wake_all(const uint32_t* word);
// Starts a detached thread named `name` running fn(arg), with every signal blocked (a
// signal meant for the program is never delivered to it) and a small stack. False when
// the system refuses (limits, a sandbox); nothing is left behind then. pthread_create
// allocates, so the caller must hold no allocator lock.
bool start_thread(void* (*fn)(void*), void* arg, const char* name);
[[noreturn]] void abort_process();

}  // namespace hakmem::os
