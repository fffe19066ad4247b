// The standard C names. Linked or preloaded, these replace glibc's malloc family.
#include <cstddef>

#include "api/alloc_inline.h"
#include "hakmem/hakmem.h"

#define HAK_EXPORT extern "C" __attribute__((visibility("default")))

HAK_EXPORT void* malloc(size_t size) { return hakmem::alloc_fast(size); }
HAK_EXPORT void free(void* p) { hakmem::free_fast(p); }
HAK_EXPORT void cfree(void* p) { hakmem::free_fast(p); }
HAK_EXPORT void free_sized(void* p, size_t) { hakmem::free_fast(p); }
HAK_EXPORT void free_aligned_sized(void* p, size_t, size_t) { hakmem::free_fast(p); }
HAK_EXPORT void* calloc(size_t n, size_t size) { return hak_calloc(n, size); }
HAK_EXPORT void* realloc(void* p, size_t size) { return hak_realloc(p, size); }
HAK_EXPORT void* reallocarray(void* p, size_t n, size_t size) { return hak_reallocarray(p, n, size); }
HAK_EXPORT int posix_memalign(void** out, size_t align, size_t size) { return hak_posix_memalign(out, align, size); }
HAK_EXPORT void* aligned_alloc(size_t align, size_t size) { return hak_aligned_alloc(align, size); }
HAK_EXPORT void* memalign(size_t align, size_t size) { return hak_memalign(align, size); }
HAK_EXPORT void* valloc(size_t size) { return hak_valloc(size); }
HAK_EXPORT void* pvalloc(size_t size) { return hak_pvalloc(size); }
HAK_EXPORT size_t malloc_usable_size(void* p) { return hak_malloc_usable_size(p); }

#ifdef __GLIBC__
// glibc also exports its allocator under __libc_* names. Programs and preloaded tools
// that want "the real malloc" call them (often through dlsym), then hand the block to
// free() or the other way round; served by glibc, such a block is one hakmem's free
// rejects as invalid. Every peer that replaces glibc's malloc (jemalloc, tcmalloc,
// mimalloc) answers these names too. Linked statically they also keep libc.a's malloc
// object out of the link, which would otherwise define malloc a second time.
HAK_EXPORT void* __libc_malloc(size_t size) { return hakmem::alloc_fast(size); }
HAK_EXPORT void __libc_free(void* p) { hakmem::free_fast(p); }
HAK_EXPORT void* __libc_calloc(size_t n, size_t size) { return hak_calloc(n, size); }
HAK_EXPORT void* __libc_realloc(void* p, size_t size) { return hak_realloc(p, size); }
HAK_EXPORT void* __libc_memalign(size_t align, size_t size) { return hak_memalign(align, size); }
HAK_EXPORT void* __libc_valloc(size_t size) { return hak_valloc(size); }
HAK_EXPORT void* __libc_pvalloc(size_t size) { return hak_pvalloc(size); }
#endif
