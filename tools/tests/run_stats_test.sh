#!/usr/bin/env bash
# `hakmem run --stats`: the allocator's report on stderr at exit.
# Usage: run_stats_test.sh HAKMEM_BINARY WORKLOAD
. "$(dirname "$0")/testlib.sh"
HAKMEM=$1 WORKLOAD=$2
make_scratch
out=$SCRATCH/out err=$SCRATCH/err
clean_env=(env -u LD_PRELOAD -u HAKMEM_LIB -u HAKMEM_STATS -u HAKMEM_GUARD)

"${clean_env[@]}" "$HAKMEM" run --stats -- "$WORKLOAD" >"$out" 2>"$err"
expect_status 0 $? "hakmem run --stats -- workload"
expect_contains "$out" "workload ok" "the program's own output is untouched"
if [ -s "$err" ]; then pass "a report on stderr ($(wc -l <"$err") lines)"; else fail "nothing on stderr"; fi
first=$(head -n 1 "$err")
case $first in
  hakmem*) pass "the report's first line starts with 'hakmem': $first" ;;
  *) fail "the report's first line does not start with 'hakmem': '$first'"; sed 's/^/    | /' "$err" | head -20 ;;
esac

"${clean_env[@]}" "$HAKMEM" run -- "$WORKLOAD" >"$out" 2>"$err"
if [ -s "$err" ]; then fail "a report without --stats:"; sed 's/^/    | /' "$err" | head; else pass "no report without --stats"; fi

finish
