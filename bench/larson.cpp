// Larson & Krishnan's server simulation ("Memory Allocation for Long-Running Server
// Applications", ISMM 1998), in the form allocator papers and mimalloc-bench use.
//
// Each of `threads` lineages owns an array of `chunks_per_thread` blocks. The thread
// currently running a lineage repeatedly frees a random slot and puts a new block of
// random size in [min_size, max_size] there. After rounds * chunks_per_thread such
// replacements it creates a successor thread, hands it the array, and exits. The
// successor frees blocks its predecessors allocated, so most frees are remote and land
// on memory of threads that no longer exist: the allocator must adopt or reclaim it.
//
// Checking modes for allocator stress testing (scripts/run_larson.sh):
//   --stamp     every block gets a pattern derived from its address, size and a per-
//               allocation tag (whole block up to 128 B, else the first and last 64 B,
//               which include a header word); it is verified right before the block is
//               freed and for all blocks at the end. A mismatch prints
//               "larson: CORRUPTED block 0x..." and exits with status 3.
//   --progress  once a second: elapsed seconds, events (replacements) so far, ops/s.
// The same switches can be set with LARSON_STAMP=1 / LARSON_PROGRESS=1.
// LARSON_INJECT_CORRUPTION=1 (with --stamp) flips one byte of a live block after 10000
// events: a self-test showing the checker reports a corruption.
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/bench_util.h"

namespace {

const char kUsage[] =
    "usage: larson [--stamp] [--progress] seconds min_size max_size chunks_per_thread rounds seed threads\n"
    "  defaults: 3 8 1000 5000 100 4141 2 (mimalloc-bench's parameters, shorter run)\n"
    "  A thread does rounds*chunks_per_thread replacements (free a random slot, malloc a\n"
    "  random size into it), then hands its array to a new thread and exits.\n"
    "  One event = one replacement (a free plus a malloc).\n"
    "  --stamp     stamp every block and verify it before free (env LARSON_STAMP=1)\n"
    "  --progress  print elapsed seconds, events and ops/s every second (env LARSON_PROGRESS=1)\n"
    "  output: progress lines, 'RESULT ops_per_sec=N', then\n"
    "          'larson: threads=T seconds=S events=E generations=G throughput=N ops/s'\n"
    "  exit status: 0 ok, 2 usage, 3 corrupted block\n";

struct Config {
  double seconds = 3;
  size_t min_size = 8, max_size = 1000;
  size_t chunks = 5000;
  uint64_t rounds = 100;
  uint64_t seed = 4141;
  int threads = 2;
  bool stamp = false;
  bool progress = false;
  bool inject_corruption = false;
};
Config g_cfg;
std::atomic<bool> g_stop{false};

// One lineage of threads sharing one array. Only the thread currently running the
// lineage touches the array; the handover is ordered by pthread_create.
struct alignas(64) Lineage {
  int index = 0;
  char** blocks = nullptr;
  uint32_t* sizes = nullptr;
  uint32_t* tags = nullptr;  // per-allocation nonce, so a block handed out twice is caught
  bench::Rng rng{0};
  pthread_t predecessor{};
  bool has_predecessor = false;
  pthread_t last{};
  // Written by the running thread with plain load+store (one writer at a time),
  // read by main for progress.
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> generations{0};
  std::atomic<bool> done{false};
};
std::vector<Lineage>* g_lineages;

// ---- stamping ------------------------------------------------------------------

constexpr size_t kWholeStampLimit = 128;
constexpr size_t kEdgeStamp = 64;

uint64_t stamp_key(const void* p, size_t size, uint32_t tag) {
  return bench::mix64(reinterpret_cast<uintptr_t>(p) * 0x9E3779B97F4A7C15ull ^ (uint64_t(size) << 40) ^ tag);
}
inline uint8_t stamp_byte(uint64_t key, size_t i) {
  uint64_t word = key ^ ((i >> 3) * 0xD6E8FEB86659FD93ull);
  return static_cast<uint8_t>(word >> ((i & 7) * 8));
}

void stamp_range(uint8_t* p, size_t from, size_t to, uint64_t key) {
  for (size_t i = from; i < to; ++i) p[i] = stamp_byte(key, i);
}

void stamp_block(void* block, size_t size, uint32_t tag) {
  uint8_t* p = static_cast<uint8_t*>(block);
  uint64_t key = stamp_key(block, size, tag);
  if (size <= kWholeStampLimit) {
    stamp_range(p, 0, size, key);
  } else {
    stamp_range(p, 0, kEdgeStamp, key);
    stamp_range(p, size - kEdgeStamp, size, key);
  }
}

[[noreturn]] void report_corruption(const uint8_t* p, size_t size, size_t bad, uint64_t key, int lineage,
                                    size_t slot) {
  // fprintf may allocate on a heap we now distrust; format into a stack buffer.
  char line[512];
  int n = snprintf(line, sizeof line,
                   "larson: CORRUPTED block %p size=%zu lineage=%d slot=%zu offset=%zu expected=0x%02x found=0x%02x\n",
                   static_cast<const void*>(p), size, lineage, slot, bad, stamp_byte(key, bad), p[bad]);
  if (write(2, line, n) < 0) {}
  n = snprintf(line, sizeof line, "larson: first bytes:");
  for (size_t i = 0; i < size && i < 32; ++i) n += snprintf(line + n, sizeof line - n, " %02x", p[i]);
  line[n++] = '\n';
  if (write(2, line, n) < 0) {}
  _exit(3);
}

void verify_range(const uint8_t* p, size_t from, size_t to, uint64_t key, size_t size, int lineage, size_t slot) {
  for (size_t i = from; i < to; ++i) {
    if (p[i] != stamp_byte(key, i)) report_corruption(p, size, i, key, lineage, slot);
  }
}

void verify_block(const void* block, size_t size, uint32_t tag, int lineage, size_t slot) {
  const uint8_t* p = static_cast<const uint8_t*>(block);
  uint64_t key = stamp_key(block, size, tag);
  if (size <= kWholeStampLimit) {
    verify_range(p, 0, size, key, size, lineage, slot);
  } else {
    verify_range(p, 0, kEdgeStamp, key, size, lineage, slot);
    verify_range(p, size - kEdgeStamp, size, key, size, lineage, slot);
  }
}

// ---- the workload ----------------------------------------------------------------

void fill_slot(Lineage& l, size_t slot) {
  size_t size = l.rng.between(g_cfg.min_size, g_cfg.max_size);
  char* p = static_cast<char*>(malloc(size));
  if (!p) {
    fprintf(stderr, "larson: malloc(%zu) failed\n", size);
    _exit(4);
  }
  l.blocks[slot] = p;
  l.sizes[slot] = static_cast<uint32_t>(size);
  if (g_cfg.stamp) {
    uint32_t tag = static_cast<uint32_t>(l.rng.next());
    l.tags[slot] = tag;
    stamp_block(p, size, tag);
  } else {
    // The original writes two bytes into each new block ("ab").
    volatile char* c = p;
    c[0] = 'a';
    if (size > 1) c[1] = 'b';
  }
}

void empty_slot(Lineage& l, size_t slot) {
  char* p = l.blocks[slot];
  if (g_cfg.stamp && p) verify_block(p, l.sizes[slot], l.tags[slot], l.index, slot);
  free(p);
  l.blocks[slot] = nullptr;
}

void run_generation(Lineage& l) {
  uint64_t todo = g_cfg.rounds * g_cfg.chunks;
  uint64_t events = l.events.load(std::memory_order_relaxed);
  for (uint64_t i = 0; i < todo; ++i) {
    if (g_stop.load(std::memory_order_relaxed)) break;
    size_t slot = l.rng.below(g_cfg.chunks);
    empty_slot(l, slot);
    fill_slot(l, slot);
    l.events.store(++events, std::memory_order_relaxed);
    if (g_cfg.inject_corruption && events == 10000 && l.index == 0) l.blocks[slot][0] ^= 0x20;
  }
}

void* lineage_thread(void* arg);

bool spawn(Lineage& l) {
  pthread_t t;
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (pthread_create(&t, nullptr, lineage_thread, &l) == 0) return true;
    usleep(1000);  // EAGAIN: earlier generations still on their way out
  }
  return false;
}

void* lineage_thread(void* arg) {
  Lineage& l = *static_cast<Lineage*>(arg);
  for (;;) {
    run_generation(l);
    // Join the predecessor only now: it has long exited, and joining earlier would keep
    // its thread-exit work from overlapping with our allocations.
    if (l.has_predecessor) pthread_join(l.predecessor, nullptr);
    l.has_predecessor = false;
    if (g_stop.load(std::memory_order_relaxed)) break;
    l.predecessor = pthread_self();
    l.has_predecessor = true;
    l.generations.fetch_add(1, std::memory_order_relaxed);
    if (spawn(l)) return nullptr;  // the successor owns the lineage from here on
    l.has_predecessor = false;     // could not create a thread: carry on in this one
  }
  l.last = pthread_self();
  l.done.store(true, std::memory_order_release);
  return nullptr;
}

uint64_t total_events() {
  uint64_t sum = 0;
  for (auto& l : *g_lineages) sum += l.events.load(std::memory_order_relaxed);
  return sum;
}
uint64_t total_generations() {
  uint64_t sum = 0;
  for (auto& l : *g_lineages) sum += l.generations.load(std::memory_order_relaxed);
  return sum;
}

void sleep_seconds(double s) {
  if (s <= 0) return;
  timespec ts{static_cast<time_t>(s), static_cast<long>((s - static_cast<time_t>(s)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {}
}

Config parse(int argc, char** argv) {
  Config c;
  std::vector<char*> pos{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--stamp") == 0) c.stamp = true;
    else if (strcmp(argv[i], "--progress") == 0) c.progress = true;
    else if (argv[i][0] == '-' && argv[i][1] == '-' && strcmp(argv[i], "--help") != 0) {
      fprintf(stderr, "larson: unknown option %s\n%s", argv[i], kUsage);
      exit(2);
    } else pos.push_back(argv[i]);
  }
  if (const char* e = getenv("LARSON_STAMP"); e && *e && strcmp(e, "0") != 0) c.stamp = true;
  if (const char* e = getenv("LARSON_PROGRESS"); e && *e && strcmp(e, "0") != 0) c.progress = true;
  if (const char* e = getenv("LARSON_INJECT_CORRUPTION"); e && *e && strcmp(e, "0") != 0) c.inject_corruption = true;
  bench::Args a(static_cast<int>(pos.size()), pos.data(), kUsage);
  c.seconds = a.real(1, c.seconds);
  c.min_size = a.integer(2, c.min_size);
  c.max_size = a.integer(3, c.max_size);
  c.chunks = a.integer(4, c.chunks);
  c.rounds = a.integer(5, c.rounds);
  c.seed = a.integer(6, c.seed);
  c.threads = a.integer(7, c.threads);
  if (c.min_size < 1 || c.max_size < c.min_size || c.max_size > UINT32_MAX || c.chunks < 1 || c.rounds < 1 ||
      c.threads < 1 || c.seconds <= 0) {
    fprintf(stderr, "larson: bad arguments\n%s", kUsage);
    exit(2);
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  g_cfg = parse(argc, argv);
  printf("larson: seconds=%g sizes=%zu..%zu chunks=%zu rounds=%" PRIu64 " seed=%" PRIu64
         " threads=%d stamp=%d\n",
         g_cfg.seconds, g_cfg.min_size, g_cfg.max_size, g_cfg.chunks, g_cfg.rounds, g_cfg.seed, g_cfg.threads,
         g_cfg.stamp ? 1 : 0);
  fflush(stdout);

  std::vector<Lineage> lineages(g_cfg.threads);
  g_lineages = &lineages;
  bench::Rng seeder(g_cfg.seed);
  // As in the original, the main thread allocates every initial block, so even the
  // first generation's frees are remote.
  for (int i = 0; i < g_cfg.threads; ++i) {
    Lineage& l = lineages[i];
    l.index = i;
    l.rng = bench::Rng(seeder.next());
    l.blocks = static_cast<char**>(calloc(g_cfg.chunks, sizeof(char*)));
    l.sizes = static_cast<uint32_t*>(calloc(g_cfg.chunks, sizeof(uint32_t)));
    l.tags = static_cast<uint32_t*>(calloc(g_cfg.chunks, sizeof(uint32_t)));
    for (size_t s = 0; s < g_cfg.chunks; ++s) fill_slot(l, s);
  }

  double start = bench::now_seconds();
  for (auto& l : lineages) {
    if (!spawn(l)) {
      fprintf(stderr, "larson: cannot create threads\n");
      return 4;
    }
  }
  double next_report = start + 1.0, end = start + g_cfg.seconds;
  for (;;) {
    double now = bench::now_seconds();
    if (now >= end) break;
    if (g_cfg.progress && now >= next_report) {
      uint64_t ev = total_events();
      printf("larson: progress t=%.1fs events=%" PRIu64 " ops/s=%.0f generations=%" PRIu64 "\n", now - start, ev,
             ev / (now - start), total_generations());
      fflush(stdout);
      next_report += 1.0;
    }
    sleep_seconds(std::min(0.05, end - now));
  }
  g_stop.store(true, std::memory_order_relaxed);
  double elapsed = bench::now_seconds() - start;
  uint64_t events = total_events();

  for (auto& l : lineages) {
    while (!l.done.load(std::memory_order_acquire)) sleep_seconds(0.001);
    pthread_join(l.last, nullptr);
  }
  // Verify and free what is left, so a corruption near the end is still caught.
  for (auto& l : lineages) {
    for (size_t s = 0; s < g_cfg.chunks; ++s) empty_slot(l, s);
    free(l.blocks);
    free(l.sizes);
    free(l.tags);
  }

  double rate = events / elapsed;
  bench::result("ops_per_sec", rate);
  printf("larson: threads=%d seconds=%.2f events=%" PRIu64 " generations=%" PRIu64 " throughput=%.0f ops/s\n",
         g_cfg.threads, elapsed, events, total_generations(), rate);
  return 0;
}
