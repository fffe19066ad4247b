// Telling memcheck about hakmem's blocks, so a user's leak or use-after-free shows
// under valgrind as it would with glibc. Compiled in when the valgrind headers exist;
// under valgrind hakmem runs in guard mode, whose slow paths are where these live,
// so the fast paths carry none of it.
#pragma once
#include <stdlib.h>
#include <string.h>

#include <cstddef>

#if defined(__has_include) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAKMEM_HAVE_VALGRIND 1
#endif

namespace hakmem {

// Memcheck only: other tools (callgrind counting the fast paths) must see them.
// valgrind preloads its tool's helper library, which names the tool.
inline bool running_on_memcheck() {
#ifdef HAKMEM_HAVE_VALGRIND
  if (RUNNING_ON_VALGRIND == 0) return false;
  const char* preload = getenv("LD_PRELOAD");
  return preload && strstr(preload, "vgpreload_memcheck");
#else
  return false;
#endif
}

inline void vg_malloclike(void* p, size_t size, bool zeroed) {
#ifdef HAKMEM_HAVE_VALGRIND
  VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed);
#else
  (void)p, (void)size, (void)zeroed;
#endif
}

inline void vg_freelike(void* p) {
#ifdef HAKMEM_HAVE_VALGRIND
  VALGRIND_FREELIKE_BLOCK(p, 0);
#else
  (void)p;
#endif
}

// hakmem's own access to a free block's link word: open it, then close it again so a
// user's access after free is still reported.
inline void vg_open_link(void* p) {
#ifdef HAKMEM_HAVE_VALGRIND
  VALGRIND_MAKE_MEM_DEFINED(p, sizeof(void*));
#else
  (void)p;
#endif
}
inline void vg_close_link(void* p) {
#ifdef HAKMEM_HAVE_VALGRIND
  VALGRIND_MAKE_MEM_NOACCESS(p, sizeof(void*));
#else
  (void)p;
#endif
}

}  // namespace hakmem
