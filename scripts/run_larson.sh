#!/usr/bin/env bash
# Larson crash reproducer and guard run (the seed's two modes).
#
#   scripts/run_larson.sh MODE SECONDS THREADS        MODE: repro | guard
#
# Runs BUILD/bench/larson with every block stamped and verified, progress once a
# second, and maximal cross-thread pressure: small blocks, and threads that hand their
# array to a successor after a few hundred operations, so most frees are remote and
# land on slabs of exited threads (adoption on).
#   repro: HAKMEM_TINY_SS_ADOPT=1, HAKMEM_TINY_FAST_CAP=0 (unless already set)
#   guard: repro + HAKMEM_GUARD=1 HAKMEM_DEBUG_RING=1
# Environment: BUILD (default build), LIB (library to preload, default
# BUILD/libhakmem.so), LARSON_MIN/LARSON_MAX (block sizes, 8/128), LARSON_CHUNKS
# (blocks per thread, 1000), LARSON_ROUNDS (1: a thread does ROUNDS*CHUNKS
# replacements then exits), LARSON_SEED (default: random, printed).
#
# Prints a summary, and one line "LARSON_SUMMARY key=value ..." for scripts.
# Exit status: 0 only if the run lasted the full duration with no crash, no hang and
# no corrupted block; 1 otherwise; 77 if the program or library is missing.
# stderr is left alone: on a crash the allocator dumps its debug ring there.
set -u

usage() { echo "usage: $0 repro|guard SECONDS THREADS" >&2; exit 2; }
[ $# -eq 3 ] || usage
mode=$1 seconds=$2 threads=$3
case $mode in repro|guard) ;; *) usage ;; esac
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || usage
[[ $threads =~ ^[0-9]+$ && $threads -ge 1 ]] || usage

repo=$(cd "$(dirname "$0")/.." && pwd)
# BUILD relative to the current directory, else to the repository root.
build=${BUILD:-build}
if [ ! -d "$build" ] && [ -d "$repo/$build" ]; then build=$repo/$build; fi
bin=$build/bench/larson
lib=${LIB:-$build/libhakmem.so}
if [ ! -x "$bin" ]; then echo "run_larson: $bin is not built" >&2; exit 77; fi
if [ ! -f "$lib" ]; then echo "run_larson: $lib does not exist" >&2; exit 77; fi

export HAKMEM_TINY_SS_ADOPT=1
export HAKMEM_TINY_FAST_CAP=${HAKMEM_TINY_FAST_CAP:-0}
if [ "$mode" = guard ]; then
  export HAKMEM_GUARD=1 HAKMEM_DEBUG_RING=1
fi
min=${LARSON_MIN:-8} max=${LARSON_MAX:-128}
chunks=${LARSON_CHUNKS:-1000} rounds=${LARSON_ROUNDS:-1}
seed=${LARSON_SEED:-$(( (RANDOM << 15 | RANDOM) + 1 ))}

echo "run_larson: mode=$mode seconds=$seconds threads=$threads lib=$lib"
echo "run_larson: env HAKMEM_TINY_SS_ADOPT=$HAKMEM_TINY_SS_ADOPT HAKMEM_TINY_FAST_CAP=$HAKMEM_TINY_FAST_CAP" \
     "HAKMEM_GUARD=${HAKMEM_GUARD:-0} HAKMEM_DEBUG_RING=${HAKMEM_DEBUG_RING:-0}"
echo "run_larson: larson --stamp --progress $seconds $min $max $chunks $rounds $seed $threads"

ulimit -c 0  # a crash is reported here; no core files in the working tree
log=$(mktemp "${TMPDIR:-/tmp}/run_larson.XXXXXX")
trap 'rm -f "$log"' EXIT
# A deadlocked allocator must fail the run, not hang it.
limit=$(( seconds * 2 + 60 ))
timeout -k 10 "$limit" env LD_PRELOAD="$lib" "$bin" --stamp --progress \
  "$seconds" "$min" "$max" "$chunks" "$rounds" "$seed" "$threads" | tee "$log"
rc=${PIPESTATUS[0]}

final=$(grep '^larson: threads=' "$log" | tail -n 1)
last_progress=$(grep '^larson: progress ' "$log" | tail -n 1)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
if [ -n "$final" ]; then
  events=$(field events "$final")
  elapsed=$(field seconds "$final")
  rate=$(sed -n 's/.*throughput=\([0-9]*\) ops\/s.*/\1/p' <<<"$final")
elif [ -n "$last_progress" ]; then
  events=$(field events "$last_progress")
  elapsed=$(field t "$last_progress"); elapsed=${elapsed%s}
  rate=$(field ops/s "$last_progress")
else
  events=0 elapsed=0 rate=0
fi

if [ "$rc" -eq 3 ]; then  # larson's status for a bad stamp (reported on stderr)
  result="FAIL(corrupted block)"
elif [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ -z "$final" ]; }; then
  result="FAIL(hang: killed after ${limit}s)"
elif [ "$rc" -gt 128 ]; then
  result="FAIL(crash: signal $(( rc - 128 )) $(kill -l $(( rc - 128 )) 2>/dev/null))"
elif [ "$rc" -ne 0 ] || [ -z "$final" ]; then
  result="FAIL(exit status $rc)"
else
  result=PASS
fi

echo "==== larson $mode summary ===="
printf '%-8s %s\n' mode "$mode" seconds "$seconds (ran ${elapsed}s)" threads "$threads" \
  events "$events" ops/s "$rate" result "$result"
echo "LARSON_SUMMARY mode=$mode seconds=$seconds threads=$threads fast_cap=$HAKMEM_TINY_FAST_CAP" \
     "elapsed=$elapsed events=$events ops_per_sec=$rate result=${result%%(*} detail=\"$result\""
[ "$result" = PASS ]
