#!/usr/bin/env bash
# g++ (cc1plus, as, ld: all preloaded) compiles a template-heavy program under hakmem:
# the assembly it emits is identical to a normal compile (GCC's output does not depend
# on heap addresses), and the program prints the same.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh" "$1"
CXX=${CXX_FOR_TEST:-g++}
need "$CXX"
assert_preloaded
SRC="$HERE/templates.cpp"
FLAGS=(-std=c++20 -O2 -save-temps=obj)
mkdir -p "$WORK/ref" "$WORK/pre" "$WORK/guard"

"$CXX" "${FLAGS[@]}" "$SRC" -o "$WORK/ref/prog" || fail "reference compile failed"
LD_PRELOAD="$LIB" "$CXX" "${FLAGS[@]}" "$SRC" -o "$WORK/pre/prog" || fail "compile under LD_PRELOAD failed"
cmp -s "$WORK"/ref/*.s "$WORK"/pre/*.s || { diff "$WORK"/ref/*.s "$WORK"/pre/*.s | head >&2; fail "assembly differs under LD_PRELOAD"; }
echo "ok: identical assembly ($(cat "$WORK"/ref/*.s | wc -l) lines)"

"$WORK/ref/prog" >"$WORK/ref.out" || fail "reference program failed"
"$WORK/pre/prog" >"$WORK/pre.out" || fail "program compiled under LD_PRELOAD failed"
[ -s "$WORK/ref.out" ] || fail "program printed nothing"
cmp -s "$WORK/ref.out" "$WORK/pre.out" || { diff "$WORK/ref.out" "$WORK/pre.out" | head >&2; fail "program output differs"; }
echo "ok: the program compiled under LD_PRELOAD prints the same ($(wc -l <"$WORK/ref.out") lines)"

# Guard mode (every integrity check on, fast cache off) must not change the result.
LD_PRELOAD="$LIB" HAKMEM_GUARD=1 HAKMEM_TINY_FAST_CAP=0 "$CXX" "${FLAGS[@]}" -S "$SRC" -o "$WORK/guard/templates.s" ||
  fail "compile under LD_PRELOAD in guard mode failed"
cmp -s "$WORK"/ref/*.s "$WORK/guard/templates.s" || fail "assembly differs under LD_PRELOAD in guard mode"
echo "ok: identical assembly in guard mode"

# The produced program itself also runs under hakmem.
LD_PRELOAD="$LIB" "$WORK/ref/prog" >"$WORK/ref-pre.out" || fail "program failed under LD_PRELOAD"
cmp -s "$WORK/ref.out" "$WORK/ref-pre.out" || fail "program output differs when it runs under LD_PRELOAD"
echo "ok: the program runs the same under LD_PRELOAD"
