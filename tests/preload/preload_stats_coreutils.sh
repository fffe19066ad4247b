#!/usr/bin/env bash
# HAKMEM_STATS with programs that close stdout and stderr themselves before exiting,
# as every coreutils program does (gnulib's close_stdout runs from atexit, before
# library destructors): the report still reaches the stderr the user gave the program.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh" "$1"
need sort ls
assert_preloaded

env HAKMEM_STATS=1 LD_PRELOAD="$LIB" sort <<<$'b\na' >"$WORK/out" 2>"$WORK/err" || fail "sort failed under the preload"
[ "$(cat "$WORK/out")" = $'a\nb' ] || fail "sort printed something else"
head -n 1 "$WORK/err" | grep -q '^hakmem' ||
  fail "HAKMEM_STATS=1 sort: no report on stderr (sort closes fd 2 at exit, before hakmem's destructor writes)"
echo "ok: report from sort"

env HAKMEM_STATS=1 LD_PRELOAD="$LIB" ls / >/dev/null 2>"$WORK/err" || fail "ls failed under the preload"
head -n 1 "$WORK/err" | grep -q '^hakmem' || fail "HAKMEM_STATS=1 ls: no report on stderr"
echo "ok: report from ls"

env "HAKMEM_STATS=json:$WORK/sort.json" LD_PRELOAD="$LIB" sort </dev/null >/dev/null || fail "sort failed"
[ "$(head -c 1 "$WORK/sort.json" 2>/dev/null)" = "{" ] || fail "HAKMEM_STATS=json:PATH sort wrote no JSON"
echo "ok: JSON report from sort"
