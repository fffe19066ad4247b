#!/usr/bin/env bash
# What the heap profiler costs at its default rate: Larson (2 threads, 3 s) and
# random_mixed (5M operations) with libhakmem.so preloaded, without and with
# HAKMEM_PROFILE, interleaved; prints the median ops/s of each and the ratio.
# Usage: bench/profile_overhead.sh [BUILD] [RUNS]
set -euo pipefail
BUILD=${1:-build} RUNS=${2:-5}
LIB=$(cd "$BUILD" && pwd)/libhakmem.so
prof=$(mktemp -d)
trap 'rm -rf "$prof"' EXIT
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run() {  # NAME PROFILE(0/1) COMMAND...
  local name=$1 on=$2; shift 2
  if [ "$on" = 1 ]; then env LD_PRELOAD="$LIB" HAKMEM_PROFILE="$prof/$name.json" "$@"
  else env LD_PRELOAD="$LIB" "$@"; fi | sed -n 's/^RESULT ops_per_sec=//p'
}
for bench in larson random_mixed; do
  case $bench in
    larson) cmd=("$BUILD/bench/larson" 3 8 1000 5000 100 4141 2) ;;
    random_mixed) cmd=("$BUILD/bench/random_mixed" 5000000) ;;
  esac
  off=() on=()
  for ((i = 0; i < RUNS; i++)); do
    off+=("$(run "$bench" 0 "${cmd[@]}")")
    on+=("$(run "$bench" 1 "${cmd[@]}")")
  done
  m_off=$(printf '%s\n' "${off[@]}" | median) m_on=$(printf '%s\n' "${on[@]}" | median)
  awk -v b="$bench" -v a="$m_off" -v p="$m_on" -v n="$RUNS" 'BEGIN {
    printf "%-13s off %12.0f ops/s   profile %12.0f ops/s   profiled/off %.3f  (median of %d)\n", b, a, p, p / a, n }'
done
