#!/usr/bin/env bash
# `hakmem run --stats=json:PATH` writes the stats that `hakmem report` renders.
# Usage: run_stats_json_test.sh HAKMEM_BINARY WORKLOAD
. "$(dirname "$0")/testlib.sh"
HAKMEM=$1 WORKLOAD=$2
make_scratch
SCRATCH=$(cd "$SCRATCH" && pwd -P)
out=$SCRATCH/out err=$SCRATCH/err
clean_env=(env -u LD_PRELOAD -u HAKMEM_LIB -u HAKMEM_STATS -u HAKMEM_GUARD)
json=$SCRATCH/x.json

"${clean_env[@]}" "$HAKMEM" run --stats=json:"$json" -- "$WORKLOAD" >"$out" 2>"$err"
expect_status 0 $? "hakmem run --stats=json:PATH -- workload"
if [ -s "$json" ]; then pass "the JSON file was written"; else fail "no JSON at $json"; sed 's/^/    | /' "$err" | head; fi
pid=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' "$out")
json_pid=$(grep -oE '"pid" *: *[0-9]+' "$json" | grep -oE '[0-9]+$')
expect_equal "$pid" "$json_pid" "the JSON is the workload's (pid $pid)"

"$HAKMEM" report "$json" -o "$SCRATCH/x.html" 2>"$err"
expect_status 0 $? "hakmem report renders the allocator's JSON"
sed 's/^/    | /' "$err" | grep -v 'wrote' | head -5
for id in chart-memory chart-occupancy chart-fragmentation chart-remote chart-refill; do
  expect_contains "$SCRATCH/x.html" "id=\"$id\"" "report has $id"
done
expect_contains "$SCRATCH/x.html" "\"pid\":$pid," "report carries the workload's stats"

# A relative PATH is where the user stood, even when the program changes directory.
(cd "$SCRATCH" && "${clean_env[@]}" "$HAKMEM" run --stats=json:rel.json -- sh -c 'cd / && exec "$0"' "$WORKLOAD" >"$out" 2>"$err")
expect_status 0 $? "--stats=json:rel.json with a program that changes directory"
if [ -s "$SCRATCH/rel.json" ]; then pass "rel.json written beside the caller"; else fail "no $SCRATCH/rel.json"; fi
"$HAKMEM" report "$SCRATCH/rel.json" -o "$SCRATCH/rel.html" 2>"$err"
expect_status 0 $? "that file renders too"

finish
