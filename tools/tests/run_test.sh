#!/usr/bin/env bash
# `hakmem run` with the real allocator: the build-tree library is found, exit codes
# pass through, and the workload runs preloaded (plain and in guard mode).
# Usage: run_test.sh HAKMEM_BINARY LIBHAKMEM WORKLOAD
. "$(dirname "$0")/testlib.sh"
HAKMEM=$1 LIB=$2 WORKLOAD=$3
make_scratch
out=$SCRATCH/out err=$SCRATCH/err
clean_env=(env -u LD_PRELOAD -u HAKMEM_LIB -u HAKMEM_STATS -u HAKMEM_GUARD)

"${clean_env[@]}" "$HAKMEM" run -- /bin/true >"$out" 2>"$err"; expect_status 0 $? "hakmem run -- /bin/true"
"${clean_env[@]}" "$HAKMEM" run -- /bin/false 2>"$err"; expect_status 1 $? "hakmem run -- /bin/false"

"${clean_env[@]}" "$HAKMEM" run -v -- /bin/true 2>"$err"
libdir=$(cd "$(dirname "$LIB")" && pwd -P)
expect_contains "$err" "LD_PRELOAD=$libdir/libhakmem.so " "finds the build tree's libhakmem.so"

# The library really is in the program: its own view of its mappings.
"${clean_env[@]}" "$HAKMEM" run -- cat /proc/self/maps >"$out" 2>"$err"
expect_status 0 $? "hakmem run -- cat /proc/self/maps"
expect_contains "$out" "libhakmem.so" "libhakmem.so is mapped into the program"

"${clean_env[@]}" "$HAKMEM" run -- "$WORKLOAD" >"$out" 2>"$err"
expect_status 0 $? "the multithreaded workload on hakmem"
expect_contains "$out" "workload ok" "workload output"
"${clean_env[@]}" "$HAKMEM" run --guard -- "$WORKLOAD" >"$out" 2>"$err"
expect_status 0 $? "the workload in guard mode"
expect_contains "$out" "workload ok" "guard mode: workload output"
"${clean_env[@]}" "$HAKMEM" run -- sh -c 'sort -r </etc/passwd >/dev/null; exit 7' 2>"$err"
expect_status 7 $? "a shell pipeline on hakmem, exit code kept"

finish
