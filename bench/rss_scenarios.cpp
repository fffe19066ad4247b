// Does freed memory go back to the OS when the program's threads behave in ways
// rss_after_free does not cover? Four scenarios, one per run (first argument):
//
//   A  remote frees: two threads allocate, two *other* threads free it all; all four
//      stay alive and allocate lightly for idle_seconds (default 3 s).
//   B  no calls: one thread allocates and frees everything, then makes no allocator
//      call at all for idle_seconds (default 1.5 s). RSS is read with open/read into a
//      stack buffer before and after the sleep, so measuring does not call malloc.
//   C  exited threads: two threads allocate and exit; two other threads free it all and
//      exit; the main thread then allocates lightly for idle_seconds (default 3 s).
//   D  malloc_trim: as C (light allocation for idle_seconds, default 1 s), then
//      malloc_trim(0); RSS is read right after the call.
//
// Blocks are 16 B .. 16 KiB, log-uniform, every byte touched. "Light allocation" is 16
// small malloc/free pairs every 10 ms, as a mostly idle server would make.
// Reports (kB): baseline_rss_kb (before allocating), rss_after_free_kb (right after the
// last free), final_rss_kb (at the end of the scenario), peak_rss_kb (VmHWM), and for D
// rss_before_trim_kb.
#include <malloc.h>

#include <atomic>
#include <barrier>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include "common/bench_util.h"

namespace {

constexpr const char* kUsage =
    "usage: rss_scenarios A|B|C|D [total_mib] [idle_seconds]\n"
    "  A: 2 threads allocate, 2 other threads free it all, all 4 allocate lightly (default 900 MiB, 3 s)\n"
    "  B: 1 thread allocates, frees all, then no allocator call at all (default 450 MiB, 1.5 s)\n"
    "  C: 2 threads allocate and exit, 2 others free all and exit, main allocates lightly (450 MiB, 3 s)\n"
    "  D: as C (450 MiB, 1 s), then malloc_trim(0)\n"
    "  prints RESULT baseline_rss_kb, rss_after_free_kb, final_rss_kb, peak_rss_kb (and rss_before_trim_kb for D)\n";

using Blocks = std::vector<char*>;

// Allocates about `bytes` in blocks of 16 B .. 16 KiB (log-uniform) and touches them.
void allocate(Blocks& out, size_t bytes, uint64_t seed) {
  bench::Rng rng(seed);
  size_t total = 0;
  while (total < bytes) {
    int bits = 4 + static_cast<int>(rng.below(10));  // 16 B .. 16 KiB
    size_t n = rng.between(size_t(1) << bits, (size_t(2) << bits) - 1);
    if (n > 16384) n = 16384;
    char* p = static_cast<char*>(malloc(n));
    if (p == nullptr) {
      fprintf(stderr, "rss_scenarios: out of memory\n");
      exit(1);
    }
    memset(p, 7, n);
    out.push_back(p);
    total += n;
  }
}

void release(Blocks& blocks) {
  for (char* p : blocks) free(p);
  blocks.clear();
  blocks.shrink_to_fit();
}

struct Figures {
  long baseline = 0, after_free = 0, before_trim = -1, final = 0;
};

Figures scenario_a(size_t total, double idle) {
  Figures f;
  f.baseline = bench::rss_kb();
  Blocks blocks[2];
  blocks[0].reserve(total / 1024);
  blocks[1].reserve(total / 1024);
  std::barrier sync(4);
  auto run = [&](int me) {
    if (me < 2) allocate(blocks[me], total / 2, 1 + me);
    sync.arrive_and_wait();
    if (me >= 2) release(blocks[me - 2]);  // every free is remote
    sync.arrive_and_wait();
    if (me == 0) f.after_free = bench::rss_kb();
    bench::light_allocation(idle, 10 + me);
    sync.arrive_and_wait();
    if (me == 0) f.final = bench::rss_kb();
    sync.arrive_and_wait();
  };
  std::thread t[4] = {std::thread(run, 0), std::thread(run, 1), std::thread(run, 2), std::thread(run, 3)};
  for (auto& th : t) th.join();
  return f;
}

// Sleeps without touching the allocator (nanosleep, restarted after a signal).
void sleep_without_allocating(double seconds) {
  timespec ts{static_cast<time_t>(seconds), static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

Figures scenario_b(size_t total, double idle) {
  Figures f;
  f.baseline = bench::rss_kb();
  Blocks blocks;
  blocks.reserve(total / 1024);
  allocate(blocks, total, 1);
  release(blocks);  // the last allocator call until the end of the scenario
  f.after_free = bench::rss_kb();  // open/read into a stack buffer: no malloc
  sleep_without_allocating(idle);
  f.final = bench::rss_kb();
  return f;
}

// C and D: the allocating threads and the freeing threads are all gone.
Figures scenario_cd(size_t total, double idle, bool trim) {
  Figures f;
  f.baseline = bench::rss_kb();
  Blocks blocks[2];
  blocks[0].reserve(total / 1024);
  blocks[1].reserve(total / 1024);
  {
    std::thread a0([&] { allocate(blocks[0], total / 2, 1); });
    std::thread a1([&] { allocate(blocks[1], total / 2, 2); });
    a0.join();
    a1.join();
  }
  {
    std::thread f0([&] { release(blocks[0]); });
    std::thread f1([&] { release(blocks[1]); });
    f0.join();
    f1.join();
  }
  f.after_free = bench::rss_kb();
  bench::light_allocation(idle, 10);
  if (trim) {
    f.before_trim = bench::rss_kb();
    malloc_trim(0);
  }
  f.final = bench::rss_kb();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args a(argc, argv, kUsage);
  if (argc < 2 || strlen(argv[1]) != 1 || !strchr("ABCDabcd", argv[1][0])) {
    fputs(kUsage, stderr);
    return 2;
  }
  const char which = static_cast<char>(argv[1][0] & ~0x20);  // upper case
  const long default_mib = which == 'A' ? 900 : 450;
  const double default_idle = which == 'A' || which == 'C' ? 3 : which == 'B' ? 1.5 : 1;
  const size_t total = static_cast<size_t>(a.integer(2, default_mib)) << 20;
  const double idle = a.real(3, default_idle);

  Figures f;
  switch (which) {
    case 'A': f = scenario_a(total, idle); break;
    case 'B': f = scenario_b(total, idle); break;
    case 'C': f = scenario_cd(total, idle, false); break;
    default: f = scenario_cd(total, idle, true); break;
  }
  const long peak = bench::peak_rss_kb();
  printf("rss_scenarios %c: %zu MiB, baseline %ld kB, peak %ld kB, right after free %ld kB, ", which, total >> 20,
         f.baseline, peak, f.after_free);
  if (f.before_trim >= 0) printf("before malloc_trim %ld kB, after ", f.before_trim);
  printf("final %ld kB\n", f.final);
  bench::result("baseline_rss_kb", f.baseline);
  bench::result("peak_rss_kb", peak);
  bench::result("rss_after_free_kb", f.after_free);
  if (f.before_trim >= 0) bench::result("rss_before_trim_kb", f.before_trim);
  bench::result("final_rss_kb", f.final);
  return 0;
}
