/* Known allocation sites for the heap profiler's tests (tools/tests/profile_test.sh):
 *   keeper  keeps ~100 MiB in 1 KiB blocks to the end (never freed: the leak)
 *   churner allocates and frees 400 MiB in 1 KiB blocks
 *   little  keeps 64 KiB
 * Mode "plain" runs them on the main thread; "threads" runs each on its own thread;
 * "fork" runs them, then forks a child that allocates at child_site only and exits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEEP_BLOCKS (100 * 1024)
static void* volatile sink;
static void* kept[KEEP_BLOCKS];
static void* kept_little[64];
static void* kept_child[1024];

__attribute__((noinline)) void* keeper(void* arg) {
  for (int i = 0; i < KEEP_BLOCKS; i++) kept[i] = malloc(1024);
  return arg;
}

__attribute__((noinline)) void* churner(void* arg) {
  for (int i = 0; i < 400 * 1024; i++) {
    sink = malloc(1024);
    free(sink);
  }
  return arg;
}

__attribute__((noinline)) void* little(void* arg) {
  for (int i = 0; i < 64; i++) kept_little[i] = malloc(1024);
  return arg;
}

__attribute__((noinline)) void child_site(void) {
  for (int i = 0; i < 1024; i++) kept_child[i] = malloc(8192);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "plain";
  void* (*sites[])(void*) = {keeper, churner, little};
  if (strcmp(mode, "threads") == 0) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, sites[i], NULL);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  } else {
    for (int i = 0; i < 3; i++) sites[i](NULL);
  }
  if (strcmp(mode, "fork") == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      child_site();
      exit(0); /* exit, not _exit: the child writes its profile too */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child %d\n", (int)pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  return 0;
}
