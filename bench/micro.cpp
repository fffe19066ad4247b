// Google Benchmark microbenchmarks: one malloc + free pair of a fixed size per
// iteration (16 B, 64 B, 1 KiB, 64 KiB), the allocator's fast path in isolation.
// Run under each allocator with LD_PRELOAD; bench/run.sh reads --benchmark_format=json.
#include <benchmark/benchmark.h>

#include <cstdlib>

static void BM_malloc_free(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void* p = malloc(size);
    benchmark::DoNotOptimize(p);
    static_cast<char*>(p)[0] = 1;
    free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_malloc_free)->Arg(16)->Arg(64)->Arg(1024)->Arg(64 << 10);

// The same pair through operator new/delete.
static void BM_new_delete(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    char* p = new char[size];
    benchmark::DoNotOptimize(p);
    p[0] = 1;
    delete[] p;
  }
}
BENCHMARK(BM_new_delete)->Arg(64);

BENCHMARK_MAIN();
