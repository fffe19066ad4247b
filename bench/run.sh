#!/usr/bin/env bash
# make bench: every benchmark in bench/ under hakmem, glibc, mimalloc, jemalloc and
# tcmalloc (LD_PRELOAD), BENCH_RUNS times interleaved; tables on stdout, progress on
# stderr, results in bench/results/latest.{csv,md,svg} (+ latest_runs.csv).
#
#   bash bench/run.sh [BUILD_DIR]          (default: build)
#
# Environment:
#   BENCH_RUNS=N          runs per benchmark and allocator (default 5; 1 with BENCH_QUICK)
#   BENCH_QUICK=1         reduced set with short durations (CI smoke test, < ~3 minutes)
#   BENCH_ONLY=a,b        only these benchmarks (name, or prefix before "-": larson, malloc_thread)
#   BENCH_ALLOCATORS=a,b  only these allocators (hakmem, glibc, mimalloc, jemalloc, tcmalloc)
#   BENCH_NO_CALLGRIND=1  skip the valgrind instruction counts
#   BENCH_OUT=DIR         where to write the results (default bench/results)
# Exit status: non-zero if any hakmem run failed (crash, timeout, missing output).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
if [ ! -d "$build/bench" ]; then
  echo "bench/run.sh: $build/bench does not exist; build first (make build)" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "bench/run.sh: python3 is required" >&2; exit 2; }
exec python3 -B "$here/harness/main.py" "$build"
