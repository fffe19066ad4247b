#!/usr/bin/env bash
# The environment interface under LD_PRELOAD: HAKMEM_STATS=1 prints a report whose
# first line starts with "hakmem"; HAKMEM_STATS=json:PATH writes JSON; a malformed
# value prints exactly one warning line naming the variable and the program still
# runs; valid values print nothing.
# Usage: preload_env.sh libhakmem.so probe
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh" "$1"
PROBE=${2:?usage: $0 libhakmem.so probe}
assert_preloaded
expected=$("$PROBE") || fail "probe failed without the preload"

run() {  # run ENV...: probe under the preload with extra env; stdout/stderr to files
  env "$@" LD_PRELOAD="$LIB" "$PROBE" --expect-hakmem >"$WORK/out" 2>"$WORK/err" ||
    { cat "$WORK/err" >&2; fail "probe failed with $*"; }
  [ "$(cat "$WORK/out")" = "$expected" ] || fail "probe printed something else with $*"
}

run HAKMEM_STATS=0
[ ! -s "$WORK/err" ] || { cat "$WORK/err" >&2; fail "hakmem wrote to stderr without being asked"; }

run HAKMEM_STATS=1
[ -s "$WORK/err" ] || fail "HAKMEM_STATS=1 printed no report"
head -n 1 "$WORK/err" | grep -q '^hakmem' || { head -n 3 "$WORK/err" >&2; fail "the report's first line does not start with hakmem"; }
echo "ok: HAKMEM_STATS=1 report ($(wc -l <"$WORK/err") lines)"

run "HAKMEM_STATS=json:$WORK/stats.json"
[ -s "$WORK/stats.json" ] || fail "HAKMEM_STATS=json:PATH wrote no file"
[ "$(head -c 1 "$WORK/stats.json")" = "{" ] || fail "the JSON report does not start with {"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/stats.json" ||
    fail "the JSON report is not valid JSON"
fi
echo "ok: HAKMEM_STATS=json:PATH"

for bad in HAKMEM_TINY_FAST_CAP=abc HAKMEM_TINY_FAST_CAP=70000 HAKMEM_TINY_FAST_CAP=-1 \
           HAKMEM_TINY_FAST_CAP=12x HAKMEM_TINY_SS_ADOPT=yes HAKMEM_GUARD=2 HAKMEM_STATS=maybe \
           HAKMEM_PURGE_DELAY_MS=soon HAKMEM_LARGE_THP=on; do
  var=${bad%%=*}
  run "$bad"
  lines=$(wc -l <"$WORK/err")
  [ "$lines" -eq 1 ] || { cat "$WORK/err" >&2; fail "$bad: expected one warning line, got $lines"; }
  grep -qF "$var" "$WORK/err" || { cat "$WORK/err" >&2; fail "$bad: the warning does not name $var"; }
  echo "ok: $bad -> $(cat "$WORK/err")"
done

# The same with a program that is not ours.
env HAKMEM_TINY_FAST_CAP=abc LD_PRELOAD="$LIB" sort <<<$'b\na' >"$WORK/out" 2>"$WORK/err" || fail "sort failed"
[ "$(cat "$WORK/out")" = $'a\nb' ] || fail "sort printed something else with a malformed variable"
[ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -qF HAKMEM_TINY_FAST_CAP "$WORK/err" ||
  { cat "$WORK/err" >&2; fail "sort: expected one warning line naming HAKMEM_TINY_FAST_CAP"; }

for good in HAKMEM_TINY_FAST_CAP=0 HAKMEM_TINY_FAST_CAP=65535 HAKMEM_TINY_FAST_CAP=16 \
            HAKMEM_TINY_SS_ADOPT=0 HAKMEM_TINY_SS_ADOPT=1 HAKMEM_GUARD=1 HAKMEM_GUARD=0 \
            HAKMEM_DEBUG_RING=1 HAKMEM_VERBOSE=0 HAKMEM_PURGE_DELAY_MS=0 HAKMEM_PURGE_DELAY_MS=1000 \
            HAKMEM_LARGE_THP=0 HAKMEM_LARGE_THP=1; do
  run "$good"
  [ ! -s "$WORK/err" ] || { cat "$WORK/err" >&2; fail "$good: a valid value printed something"; }
done
echo "ok: valid values print nothing"

# HAKMEM_LARGE_THP: an 8 MiB block's mapping is advised for huge pages (VmFlags "hg" in
# /proc/self/smaps) only when asked.
if command -v python3 >/dev/null; then
  thp_flag() {  # VALUE -> "hg" or "no"
    env HAKMEM_LARGE_THP="$1" LD_PRELOAD="$LIB" python3 -c '
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
p = libc.malloc(8 << 20)
ctypes.memset(p, 1, 8 << 20)
inside = False
for line in open("/proc/self/smaps"):
    head = line.split()[0]
    if "-" in head and ":" not in head:
        lo, hi = (int(x, 16) for x in head.split("-"))
        inside = lo <= p < hi
    elif inside and head == "VmFlags:":
        print("hg" if "hg" in line.split()[1:] else "no")
        break
'
  }
  [ "$(thp_flag 1)" = hg ] || fail "HAKMEM_LARGE_THP=1: an 8 MiB block is not advised for huge pages"
  [ "$(thp_flag 0)" = no ] || fail "HAKMEM_LARGE_THP=0: an 8 MiB block is advised for huge pages"
  echo "ok: HAKMEM_LARGE_THP advises big blocks' regions only when set"
fi
