/* A C program with hakmem preloaded: libhakmem.so must not bring libstdc++ in (every C
 * program would pay for it in resident memory), and a C++ plug-in it loads later with
 * RTLD_LOCAL must still get the standard's operator new failure behaviour: bad_alloc,
 * the new_handler loop, nothrow forms returning NULL. Usage: host path/to/plugin.so */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int libstdcxx_mapped(void) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  int found = 0;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strstr(line, "libstdc++")) found = 1;
  fclose(f);
  return found;
}

int main(int argc, char** argv) {
  int failures = 0;
  if (argc < 2) return 2;
  if (!dlsym(RTLD_DEFAULT, "hak_owns")) {
    fprintf(stderr, "cxx_plugin_host: hakmem is not preloaded\n");
    return 1;
  }
  if (libstdcxx_mapped()) {
    fprintf(stderr, "cxx_plugin_host: libstdc++ is loaded in a C program (a dependency of libhakmem.so?)\n");
    failures++;
  }
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "cxx_plugin_host: %s\n", dlerror());
    return 1;
  }
  int (*throws)(void) = (int (*)(void))dlsym(h, "plugin_new_throws");
  int (*calls)(void) = (int (*)(void))dlsym(h, "plugin_handler_calls");
  int (*nothrow)(void) = (int (*)(void))dlsym(h, "plugin_nothrow_returns_null");
  if (!throws || !calls || !nothrow) return 1;
  if (throws() != 1) fprintf(stderr, "cxx_plugin_host: new did not throw std::bad_alloc\n"), failures++;
  int n = calls();
  if (n != 3) fprintf(stderr, "cxx_plugin_host: new_handler called %d times, expected 3\n", n), failures++;
  if (nothrow() != 1) fprintf(stderr, "cxx_plugin_host: a nothrow new did not return NULL\n"), failures++;
  if (failures) return 1;
  printf("cxx_plugin_host: ok\n");
  return 0;
}
