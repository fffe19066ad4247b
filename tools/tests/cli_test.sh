#!/usr/bin/env bash
# The command line of `hakmem`: version, help, usage errors, and what `hakmem run`
# puts into the environment (checked with an empty stub library, so this test does
# not depend on the allocator).
# Usage: cli_test.sh HAKMEM_BINARY STUB_LIBRARY EXPECTED_VERSION
. "$(dirname "$0")/testlib.sh"
HAKMEM=$1 STUB=$2 VERSION=$3
make_scratch
SCRATCH=$(cd "$SCRATCH" && pwd -P)
out=$SCRATCH/out err=$SCRATCH/err
# The environment the checks start from: nothing of hakmem's set.
clean_env=(env -u LD_PRELOAD -u HAKMEM_LIB -u HAKMEM_STATS -u HAKMEM_GUARD)
show_env='printf "%s|%s|%s\n" "$LD_PRELOAD" "${HAKMEM_STATS-unset}" "${HAKMEM_GUARD-unset}"'

# ---- version and help ----------------------------------------------------------
"$HAKMEM" --version >"$out" 2>"$err"; expect_status 0 $? "--version"
expect_equal "hakmem $VERSION" "$(cat "$out")" "--version prints 'hakmem $VERSION' (HAKMEM_VERSION_STRING)"
"$HAKMEM" -V >"$out"; expect_equal "hakmem $VERSION" "$(cat "$out")" "-V"

"$HAKMEM" --help >"$out" 2>"$err"; expect_status 0 $? "--help"
for word in "Usage: hakmem" "run [--stats[=json:PATH]] [--profile=PATH] [--guard] [--lib PATH] -- PROGRAM" "profile [--alloc]" "report STATS.json"; do
  expect_contains "$out" "$word" "--help mentions '$word'"
done
"$HAKMEM" run --help >"$out"; expect_status 0 $? "run --help"
for word in "--stats=json:PATH" "--guard" "--lib PATH" "HAKMEM_LIB" "127"; do
  expect_contains "$out" "$word" "run --help mentions '$word'"
done
"$HAKMEM" report --help >"$out"; expect_status 0 $? "report --help"
expect_contains "$out" "-o, --output PATH" "report --help mentions -o"
"$HAKMEM" help report >"$out"; expect_contains "$out" "Usage: hakmem report" "help report"

# ---- usage errors: exit 2 and a message -----------------------------------------
"$HAKMEM" >"$out" 2>"$err"; expect_status 2 $? "no command"
expect_contains "$err" "missing command" "no command: message"
"$HAKMEM" frobnicate 2>"$err"; expect_status 2 $? "unknown command"
expect_contains "$err" "unknown command 'frobnicate'" "unknown command: message"
"$HAKMEM" run 2>"$err"; expect_status 2 $? "run without a program"
expect_contains "$err" "missing the program" "run without a program: message"
"$HAKMEM" run -- 2>"$err"; expect_status 2 $? "run -- without a program"
"$HAKMEM" run --bogus -- true 2>"$err"; expect_status 2 $? "run with an unknown option"
expect_contains "$err" "unknown option '--bogus'" "unknown option: message"
"$HAKMEM" run --stats=yes -- true 2>"$err"; expect_status 2 $? "run --stats=yes"
"$HAKMEM" run --stats=json: -- true 2>"$err"; expect_status 2 $? "run --stats=json: (no path)"
"$HAKMEM" run --lib 2>"$err"; expect_status 2 $? "run --lib without a value"

# ---- the environment hakmem run sets --------------------------------------------
"${clean_env[@]}" "$HAKMEM" run --lib "$STUB" -- sh -c "$show_env" >"$out" 2>"$err"
expect_status 0 $? "run --lib STUB"
expect_equal "$STUB|unset|unset" "$(cat "$out")" "LD_PRELOAD is the library; HAKMEM_STATS/GUARD untouched"

"${clean_env[@]}" "$HAKMEM" run --stats --guard --lib "$STUB" -- sh -c "$show_env" >"$out"
expect_equal "$STUB|1|1" "$(cat "$out")" "--stats sets HAKMEM_STATS=1, --guard sets HAKMEM_GUARD=1"

(cd "$SCRATCH" && "${clean_env[@]}" "$HAKMEM" run --stats=json:sub/../stats.json --lib="$STUB" -- sh -c "$show_env") >"$out"
expect_equal "$STUB|json:$SCRATCH/stats.json|unset" "$(cat "$out")" "--stats=json:PATH, made absolute; --lib=PATH"

cp "$STUB" "$SCRATCH/other.so"
"${clean_env[@]}" LD_PRELOAD="$SCRATCH/other.so" "$HAKMEM" run --lib "$STUB" -- sh -c "$show_env" >"$out"
expect_equal "$STUB:$SCRATCH/other.so|unset|unset" "$(cat "$out")" "an existing LD_PRELOAD is kept, after hakmem"

(cd "$(dirname "$STUB")" && "${clean_env[@]}" "$HAKMEM" run --lib "./$(basename "$STUB")" -- sh -c "$show_env") >"$out"
expect_equal "$STUB|unset|unset" "$(cat "$out")" "a relative --lib becomes absolute"

"${clean_env[@]}" HAKMEM_LIB="$SCRATCH/other.so" "$HAKMEM" run -- sh -c "$show_env" >"$out"
expect_equal "$SCRATCH/other.so|unset|unset" "$(cat "$out")" "HAKMEM_LIB names the library"
"${clean_env[@]}" HAKMEM_LIB="$SCRATCH/other.so" "$HAKMEM" run --lib "$STUB" -- sh -c "$show_env" >"$out"
expect_equal "$STUB|unset|unset" "$(cat "$out")" "--lib wins over HAKMEM_LIB"

# ---- locating the library relative to the executable -----------------------------
for layout in "build/tools:build" "usr/bin:usr/lib" "usr/bin:usr/lib/x86_64-linux-gnu"; do
  bindir=$SCRATCH/layout/${layout%%:*} libdir=$SCRATCH/layout/${layout##*:}
  mkdir -p "$bindir" "$libdir"
  cp "$HAKMEM" "$bindir/hakmem"
  cp "$STUB" "$libdir/libhakmem.so"
  "${clean_env[@]}" "$bindir/hakmem" run -- sh -c "$show_env" >"$out" 2>"$err"
  expect_equal "$libdir/libhakmem.so|unset|unset" "$(cat "$out")" "finds ${layout##*:}/libhakmem.so from ${layout%%:*}/hakmem"
  rm -rf "$SCRATCH/layout"
done

mkdir -p "$SCRATCH/lonely/bin"
cp "$HAKMEM" "$SCRATCH/lonely/bin/hakmem"
"${clean_env[@]}" "$SCRATCH/lonely/bin/hakmem" run -- true >"$out" 2>"$err"
expect_status 125 $? "no library anywhere"
expect_contains "$err" "cannot find libhakmem.so" "no library: message"
expect_contains "$err" "$SCRATCH/lonely/lib/x86_64-linux-gnu/libhakmem.so" "no library: lists where it looked"
"${clean_env[@]}" "$HAKMEM" run --lib "$SCRATCH/missing.so" -- true 2>"$err"
expect_status 125 $? "--lib names a missing file"
expect_contains "$err" "--lib names $SCRATCH/missing.so" "--lib missing: message"
"${clean_env[@]}" HAKMEM_LIB="$SCRATCH/missing.so" "$HAKMEM" run -- true 2>"$err"
expect_status 125 $? "HAKMEM_LIB names a missing file (no silent fallback)"
expect_contains "$err" "HAKMEM_LIB names $SCRATCH/missing.so" "HAKMEM_LIB missing: message"
cp "$STUB" "$SCRATCH/with space.so"
"${clean_env[@]}" "$HAKMEM" run --lib "$SCRATCH/with space.so" -- true 2>"$err"
expect_status 125 $? "a library path with a space cannot go into LD_PRELOAD"

# ---- exit codes and arguments pass through ----------------------------------------
"${clean_env[@]}" "$HAKMEM" run --lib "$STUB" -- sh -c 'exit 42'; expect_status 42 $? "the program's exit code"
"${clean_env[@]}" "$HAKMEM" run --lib "$STUB" sh -c 'exit 3'; expect_status 3 $? "PROGRAM without '--'"
# (in a subshell whose stderr is dropped: bash reports the signal death there)
( "${clean_env[@]}" "$HAKMEM" run --lib "$STUB" -- sh -c 'kill -TERM $$'; exit $? ) 2>/dev/null
expect_status 143 $? "a signal death shows as 128+signal"
"${clean_env[@]}" "$HAKMEM" run --lib "$STUB" -- sh -c 'printf "%s|%s\n" "$1" "$2"' sh "a  b" "--stats" >"$out"
expect_equal "a  b|--stats" "$(cat "$out")" "arguments reach the program unchanged"
"${clean_env[@]}" "$HAKMEM" run --lib "$STUB" -- "$SCRATCH/no-such-program" 2>"$err"
expect_status 127 $? "a program that cannot be executed"
expect_contains "$err" "cannot execute '$SCRATCH/no-such-program'" "exec failure: message"
"${clean_env[@]}" "$HAKMEM" run --lib "$STUB" -- no-such-program-on-path-hakmem 2>"$err"
expect_status 127 $? "a program not on PATH"

finish
