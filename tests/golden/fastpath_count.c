/* The program the golden instruction-count test runs under callgrind (run_golden.sh).
 * Each case calls malloc and free in a loop shaped so that the allocator's fast paths
 * are what runs: one other block of the size stays alive (no allocator retires its
 * page on each free), and the remote case frees, on a second thread, blocks the first
 * thread allocated. run_golden.sh counts the instructions inside malloc and inside
 * free (callgrind --toggle-collect) at two iteration counts and divides the difference,
 * so start-up and warm-up cancel out. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void* volatile g_sink;

__attribute__((noinline)) static void local_pairs(size_t size, long n) {
  void* keep = malloc(size);
  g_sink = keep;
  for (long i = 0; i < n; i++) {
    void* p = malloc(size);
    g_sink = p;
    free(p);
  }
  free(keep);
}

struct remote_job {
  void** blocks;
  long n;
};

static void* free_all(void* arg) {
  struct remote_job* job = arg;
  for (long i = 0; i < job->n; i++) free(job->blocks[i]);
  return NULL;
}

/* The blocks come from a batch the main thread allocated; a second thread frees them
 * all (remote frees), in batches so the slabs stay owned by a live thread. */
__attribute__((noinline)) static void remote_frees(size_t size, long n) {
  enum { kBatch = 4096 };
  static void* blocks[kBatch];
  void* keep = malloc(size);
  g_sink = keep;
  for (long done = 0; done < n; done += kBatch) {
    long m = n - done < kBatch ? n - done : kBatch;
    for (long i = 0; i < m; i++) blocks[i] = malloc(size);
    struct remote_job job = {blocks, m};
    pthread_t t;
    pthread_create(&t, NULL, free_all, &job);
    pthread_join(t, NULL);
  }
  free(keep);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fastpath_count local|remote SIZE N\n");
    return 2;
  }
  size_t size = strtoul(argv[2], NULL, 10);
  long n = atol(argv[3]);
  if (strcmp(argv[1], "local") == 0) local_pairs(size, n);
  else remote_frees(size, n);
  return 0;
}
