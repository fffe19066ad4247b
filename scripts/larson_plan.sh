#!/usr/bin/env bash
# The seed's full Larson plan: repro and guard, fast cache off (HAKMEM_TINY_FAST_CAP=0)
# and on (=64), each PLAN_SECONDS (30) with PLAN_THREADS (4). Prints a table of the
# four results and exits non-zero if any run failed. BUILD/LIB as for run_larson.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
seconds=${PLAN_SECONDS:-30}
threads=${PLAN_THREADS:-4}

rows=()
failed=0
for cap in 0 64; do
  for mode in repro guard; do
    echo "==== larson plan: $mode, ${seconds}s, $threads threads, HAKMEM_TINY_FAST_CAP=$cap ===="
    out=$(set -o pipefail; HAKMEM_TINY_FAST_CAP=$cap bash "$here/run_larson.sh" "$mode" "$seconds" "$threads" | tee /dev/stderr)
    rc=$?
    line=$(grep '^LARSON_SUMMARY ' <<<"$out" | tail -n 1)
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
    detail=$(sed -n 's/.* detail="\(.*\)"$/\1/p' <<<"$line")
    [ -n "$detail" ] || detail="FAIL(no summary, status $rc)"
    [ "$rc" -eq 0 ] || failed=1
    rows+=("$(printf '%-6s %8s %10s %14s %14s  %s' "$mode" "$cap" "$(get elapsed)" "$(get events)" "$(get ops_per_sec)" "$detail")")
  done
done

echo
echo "==== larson plan: ${seconds}s x $threads threads ===="
printf '%-6s %8s %10s %14s %14s  %s\n' mode fast_cap elapsed_s events ops/s result
printf '%s\n' "${rows[@]}"
exit $failed
