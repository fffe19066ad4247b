// glibc's __libc_* names (__libc_malloc, __libc_free, ...) must be hakmem's too: tools
// and programs call them for "the real malloc" and mix their blocks with free() and
// malloc(). Every block from one family is freed through the other, in both directions
// and across sizes of both tiers; a block glibc served would make hakmem's free abort.
// Run preloaded, linked, and linked statically: each run fails unless hak_owns (found
// with dlsym, or linked) says every block is hakmem's.
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* __libc_valloc(size_t);
void* __libc_pvalloc(size_t);
int hak_owns(const void*) __attribute__((weak));
}

namespace {

int g_failures = 0;
int (*g_owns)(const void*) = nullptr;

void check(bool ok, const char* what, size_t n) {
  if (ok) return;
  fprintf(stderr, "libc_names_test: %s (size %zu)\n", what, n);
  g_failures++;
}

void owned(const void* p, const char* what, size_t n) {
  check(p != nullptr, what, n);
  if (p) check(g_owns(p) != 0, what, n);
}

}  // namespace

int main() {
  g_owns = hak_owns ? hak_owns : reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "hak_owns"));
  if (!g_owns) {
    fprintf(stderr, "libc_names_test: hakmem is not loaded (no hak_owns)\n");
    return 1;
  }
  const long page = sysconf(_SC_PAGESIZE);
  const size_t sizes[] = {1, 16, 100, 1000, 5000, 70000, 300000, 3u << 20};
  for (size_t n : sizes) {
    void* a = __libc_malloc(n);
    owned(a, "__libc_malloc", n);
    memset(a, 0xa5, n);
    free(a);

    void* b = malloc(n);
    memset(b, 0x5a, n);
    __libc_free(b);

    auto* c = static_cast<unsigned char*>(__libc_calloc(n, 1));
    owned(c, "__libc_calloc", n);
    bool zero = true;
    for (size_t i = 0; i < n; i++) zero &= c[i] == 0;
    check(zero, "__libc_calloc is not zeroed", n);
    memset(c, 7, n);
    auto* d = static_cast<unsigned char*>(__libc_realloc(c, 2 * n));
    owned(d, "__libc_realloc", n);
    bool kept = true;
    for (size_t i = 0; i < n; i++) kept &= d[i] == 7;
    check(kept, "__libc_realloc lost the contents", n);
    auto* e = static_cast<unsigned char*>(realloc(d, n / 2 + 1));
    __libc_free(e);

    void* f = __libc_memalign(4096, n);
    owned(f, "__libc_memalign", n);
    check(reinterpret_cast<uintptr_t>(f) % 4096 == 0, "__libc_memalign alignment", n);
    check(malloc_usable_size(f) >= n, "__libc_memalign usable size", n);
    free(f);

    void* g = __libc_valloc(n);
    owned(g, "__libc_valloc", n);
    check(reinterpret_cast<uintptr_t>(g) % page == 0, "__libc_valloc alignment", n);
    __libc_free(g);

    void* h = __libc_pvalloc(n);
    owned(h, "__libc_pvalloc", n);
    check(reinterpret_cast<uintptr_t>(h) % page == 0, "__libc_pvalloc alignment", n);
    check(malloc_usable_size(h) >= (n + page - 1) / page * page, "__libc_pvalloc rounds up to pages", n);
    free(h);
  }
  __libc_free(nullptr);
  if (g_failures) return 1;
  printf("libc_names_test: ok\n");
  return 0;
}
