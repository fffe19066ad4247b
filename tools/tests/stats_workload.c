/* A small multithreaded program for the `hakmem run --stats` tests: it touches
 * several size classes, the large tier, and frees blocks from a thread that does
 * not own them, so every part of the stats report has something to show. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kBlocks = 4000 };

static void* blocks[kBlocks];
static pthread_barrier_t handed_over;
static pthread_barrier_t freed_remotely;

static size_t size_of(int i) {
  static const size_t sizes[] = {16, 24, 48, 100, 256, 1000, 3000, 9000, 40000, 300000};
  return sizes[i % (int)(sizeof sizes / sizeof sizes[0])];
}

static void* producer(void* arg) {
  (void)arg;
  for (int i = 0; i < kBlocks; ++i) {
    blocks[i] = malloc(size_of(i));
    memset(blocks[i], 0xAB, 16);
  }
  pthread_barrier_wait(&handed_over);   /* main frees our blocks now: remote frees */
  pthread_barrier_wait(&freed_remotely);
  /* Allocate again while alive, so the remote frees come back through refills. */
  void* again[kBlocks];
  for (int i = 0; i < kBlocks; ++i) again[i] = malloc(size_of(i));
  for (int i = 0; i < kBlocks; i += 2) free(again[i]);
  /* The odd ones stay allocated when this thread exits: its slabs keep blocks in use. */
  return NULL;
}

int main(void) {
  pthread_barrier_init(&handed_over, NULL, 2);
  pthread_barrier_init(&freed_remotely, NULL, 2);
  pthread_t t;
  if (pthread_create(&t, NULL, producer, NULL) != 0) return 3;

  void* local[kBlocks];
  for (int i = 0; i < kBlocks; ++i) local[i] = calloc(1, size_of(i * 7 + 3));
  pthread_barrier_wait(&handed_over);
  for (int i = 0; i < kBlocks; ++i) free(blocks[i]);
  pthread_barrier_wait(&freed_remotely);
  pthread_join(t, NULL);
  for (int i = 0; i < kBlocks; i += 3) free(local[i]);

  printf("workload ok pid=%ld\n", (long)getpid());
  return 0;
}
