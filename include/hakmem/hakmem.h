/* hakmem — a multithreaded memory allocator.
 *
 * Linking libhakmem (or preloading libhakmem.so) replaces malloc/free and the
 * C++ operators. The hak_-prefixed entry points below reach hakmem directly, so a
 * program can use it beside the system allocator (link libhakmem_api instead, which
 * does not override the standard names).
 */
#ifndef HAKMEM_HAKMEM_H
#define HAKMEM_HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1
#define HAKMEM_VERSION_PATCH 0
#define HAKMEM_VERSION_STRING "0.1.0"

/* ---- allocation ------------------------------------------------------------ */
void* hak_malloc(size_t size);
void* hak_calloc(size_t count, size_t size);
void* hak_realloc(void* ptr, size_t size);
void* hak_reallocarray(void* ptr, size_t count, size_t size);
void hak_free(void* ptr);
void hak_free_sized(void* ptr, size_t size);
void hak_free_aligned_sized(void* ptr, size_t alignment, size_t size);
int hak_posix_memalign(void** out, size_t alignment, size_t size);
void* hak_aligned_alloc(size_t alignment, size_t size);
void* hak_memalign(size_t alignment, size_t size);
void* hak_valloc(size_t size);
void* hak_pvalloc(size_t size);
size_t hak_malloc_usable_size(const void* ptr);

/* Nonzero when ptr lies in memory hakmem manages (any tier). */
int hak_owns(const void* ptr);

/* ---- statistics ------------------------------------------------------------ */
#define HAK_STATS_MAX_CLASSES 96

typedef struct hak_class_stats {
  uint32_t block_size;     /* bytes per block of this class */
  uint64_t slabs;          /* slabs currently carrying this class */
  uint64_t blocks_in_use;  /* blocks handed out (including per-thread caches) */
  uint64_t blocks_free;    /* blocks available in those slabs */
  uint64_t bytes_in_use;
  uint64_t bytes_free;
  uint64_t remote_frees;   /* frees pushed from a thread that did not own the slab */
  uint64_t drains;         /* remote queues drained into a local free list */
  uint64_t adopts;         /* slabs taken over from the adopt list (exited threads) */
  uint64_t refill_own_remote; /* refills served by the bound slab's own remote frees */
  uint64_t refill_sticky;     /* ... by another slab the thread already owns */
  uint64_t refill_mailbox;    /* ... by a slab announced through a mailbox */
  uint64_t refill_adopt;      /* ... by a slab of an exited thread */
  uint64_t refill_gate;       /* ... by a free slab of an existing SuperSlab */
  uint64_t refill_fresh;      /* ... by a slab of a newly mapped SuperSlab */
  uint64_t blocks_pending;    /* freed by other threads, waiting in remote queues (counted
                                 in blocks_free, not in blocks_in_use) */
} hak_class_stats;

typedef struct hak_stats {
  uint32_t num_classes;
  hak_class_stats classes[HAK_STATS_MAX_CLASSES];
  uint64_t superslabs;          /* SuperSlabs mapped */
  uint64_t superslabs_peak;
  uint64_t large_blocks;        /* large blocks in use */
  uint64_t large_bytes;         /* bytes of large blocks in use */
  uint64_t large_cached_bytes;  /* bytes kept in the large cache */
  uint64_t bytes_mapped;        /* everything hakmem has mapped from the OS now */
  uint64_t bytes_mapped_peak;
  uint64_t bytes_purged;        /* bytes given back to the OS (madvise or munmap), total */
  uint64_t rss_bytes;           /* process resident set now (from /proc) */
  uint64_t rss_peak_bytes;      /* process peak resident set */
  uint64_t threads_live;        /* threads that allocated from hakmem and have not exited */
  uint64_t threads_exited;
  uint64_t os_maps;
  uint64_t os_unmaps;
  /* The memory policy (README, "Memory back to the OS"): free memory kept resident, by
   * place, and the budget it is held to. */
  uint64_t retained_bytes;             /* total of the four below */
  uint64_t retained_kept_empty_bytes;  /* empty slabs threads keep for reuse */
  uint64_t retained_pool_bytes;        /* pooled slabs whose pages were not given back yet */
  uint64_t retained_large_bytes;       /* cached large blocks */
  uint64_t retention_budget;           /* max(HAKMEM_RETAIN_MB, live slab bytes / 4 + live
                                          large bytes) */
  uint64_t retained_remote_bytes;      /* mid-size blocks freed by other threads, waiting for
                                          the owner of their slab */
  uint64_t live_bytes;                 /* slabs out of the pool plus live large mappings */
  uint64_t purger_rounds;              /* rounds of the background purger (0: not started) */
} hak_stats;

/* Fills *out with a snapshot. Counters of other threads are read without stopping
 * them, so the figures are consistent only to within what those threads do meanwhile. */
void hak_stats_get(hak_stats* out);
/* Prints the report that HAKMEM_STATS=1 prints at exit (fd 2 when fd < 0). */
void hak_stats_print(int fd);
/* Writes the stats as JSON to path; returns 0 or -1 with errno set. */
int hak_stats_write_json(const char* path);

/* ---- heap profile ----------------------------------------------------------- */
/* With HAKMEM_PROFILE=PATH set: writes the sampled heap profile now (to path, or to
 * PATH when path is NULL) and returns 0; -1 with errno set otherwise (ENOENT when
 * profiling is off). Read it with `hakmem profile`. */
int hak_profile_dump(const char* path);

/* Gives back to the OS every free page hakmem holds, now (malloc_trim does the same). */
void hak_collect(void);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_HAKMEM_H */
