/* A program with one leak and one use-after-free, for valgrind_leak.sh: memcheck must
 * report both while hakmem (preloaded) serves the allocations. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static void leak_one(void) {
  char* lost = malloc(100); /* its only pointer dies with this frame: definitely lost */
  memset(lost, 1, 100);
  __asm__ volatile("" : : "r"(lost) : "memory");
}

int main(void) {
  leak_one();
  char* p = malloc(64);
  strcpy(p, "hello");
  /* Proof that the block is hakmem's, not valgrind's replacement malloc. */
  int (*owns)(const void*) = (int (*)(const void*))dlsym(RTLD_DEFAULT, "hak_owns");
  printf("victim: hakmem serves malloc: %s\n", owns && owns(p) ? "yes" : "no");
  free(p);
  volatile char c = p[3]; /* use after free: memcheck reports an invalid read */
  (void)c;
  return 0;
}
