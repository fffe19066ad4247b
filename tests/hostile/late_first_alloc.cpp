// A thread whose first allocator call comes in the last round of its TLS destructors
// (PTHREAD_DESTRUCTOR_ITERATIONS): its key destructor re-arms itself until that round
// and only then allocates or frees. Whatever hakmem sets up for the thread then (a heap,
// a nursery record, a pthread key value) gets no destructor call: glibc runs no round
// after the last. So nothing may be left owned by such a thread once it is gone.
// Three kinds, 1000 threads each (8 at a time):
//   heap:     200 blocks of 256 B, freed (past the nursery quota: the thread's own heap)
//   nursery:  3 blocks of 48 B, freed (a thread with nursery blocks only)
//   freer:    frees 200 blocks a producer thread allocated and left behind at its exit
//             (slabs nobody owns: the free adopts them)
// Pass: after malloc_trim(0), hakmem's live-thread count is back where it started (the
// purger's thread aside) and RSS grew by at most 16 MiB over the 3000 threads.
#include <pthread.h>

#include <climits>
#include <cstdlib>

#include "hostile_common.h"

using namespace hostile;

namespace {

constexpr int kThreads = 1000;
constexpr int kBatch = 8;
constexpr int kBlocks = 200;
constexpr uint64_t kMaxGrowth = 16ull << 20;

enum Kind { kHeap, kNursery, kFreer };
pthread_key_t g_key;
Kind g_kind;
void* g_handed[kBatch][kBlocks];  // per batch slot: the producer's blocks for that freer

struct Slot {
  int index;
};
Slot g_slots[kBatch];

void last_round_work(Slot* slot) {
  switch (g_kind) {
    case kHeap: {
      void* p[kBlocks];
      for (auto& b : p)
        if (!(b = malloc(256))) die("malloc");
      for (void* b : p) free(b);
      break;
    }
    case kNursery: {
      void* p[3];
      for (auto& b : p)
        if (!(b = malloc(48))) die("malloc");
      for (void* b : p) free(b);
      break;
    }
    case kFreer:
      for (void* b : g_handed[slot->index]) free(b);
      break;
  }
}

// The key's value counts the rounds; the destructor re-arms it until the last one.
struct Armed {
  Slot* slot;
  int round;
};
Armed g_armed[kBatch];

void destructor(void* v) {
  Armed* a = static_cast<Armed*>(v);
  if (++a->round < PTHREAD_DESTRUCTOR_ITERATIONS) {
    pthread_setspecific(g_key, a);
    return;
  }
  last_round_work(a->slot);
}

void* body(void* arg) {
  Armed* a = static_cast<Armed*>(arg);
  a->round = 0;
  pthread_setspecific(g_key, a);
  return nullptr;
}

void* producer(void* arg) {
  void** out = static_cast<void**>(arg);
  for (int i = 0; i < kBlocks; i++)
    if (!(out[i] = malloc(256))) die("malloc");
  return nullptr;
}

bool run(Kind kind, const char* name) {
  g_kind = kind;
  malloc_trim(0);
  const uint64_t live0 = threads_live(), rss0 = rss_bytes();
  for (int i = 0; i < kThreads; i += kBatch) {
    pthread_t t[kBatch];
    if (kind == kFreer) {
      for (int j = 0; j < kBatch; j++)
        if (pthread_create(&t[j], nullptr, producer, g_handed[j])) die("pthread_create");
      for (auto& th : t) pthread_join(th, nullptr);
    }
    for (int j = 0; j < kBatch; j++) {
      g_slots[j].index = j;
      g_armed[j].slot = &g_slots[j];
      if (pthread_create(&t[j], nullptr, body, &g_armed[j])) die("pthread_create");
    }
    for (auto& th : t) pthread_join(th, nullptr);
  }
  malloc_trim(0);
  const uint64_t live1 = threads_live(), rss1 = rss_bytes();
  const uint64_t growth = rss1 > rss0 ? rss1 - rss0 : 0;
  // The background purger may have started meanwhile: its thread counts as live.
  bool ok = live1 <= live0 + (purger_rounds() ? 1 : 0) && growth <= kMaxGrowth;
  printf("late_first_alloc (%s), %s: live threads %llu -> %llu, RSS +%.1f MiB: %s\n", allocator_name(), name,
         static_cast<unsigned long long>(live0), static_cast<unsigned long long>(live1), double(growth) / (1 << 20),
         ok ? "ok" : "FAILED");
  return ok;
}

}  // namespace

int main() {
  require_hakmem_malloc();
  if (pthread_key_create(&g_key, destructor) != 0) die("pthread_key_create");
  bool ok = run(kHeap, "own heap");
  ok &= run(kNursery, "nursery blocks only");
  ok &= run(kFreer, "frees only");
  return ok ? 0 : 1;
}
