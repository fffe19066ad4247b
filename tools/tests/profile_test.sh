#!/usr/bin/env bash
# The heap profiler end to end: a program with known sites (profile_sites.c) runs with
# `hakmem run --profile`, and `hakmem profile` must find them: the keeper first by live
# bytes (within 25% of the 100 MiB it keeps), the churner first with --alloc, folded
# stacks summing to the text view's total, the keeper as the leak, and the same through
# threads and across fork (the child's profile holds only what the child allocated).
# A rate of 256 KiB (~400 samples of the keeper) puts 25% beyond 5 standard deviations.
# Usage: profile_test.sh HAKMEM_BINARY SITES_PROGRAM
. "$(dirname "$0")/testlib.sh"
HAKMEM=$1 SITES=$2
make_scratch
export HAKMEM_PROFILE_RATE=262144
truth=$((100 * 1024 * 1024))

# live_bytes_of SITE FILE: the live bytes the --leaks view gives the stack whose frame
# #0 is SITE (exact figures, unlike the rounded text view).
live_bytes_of() {
  awk -v site="$1" '/^Leak of/ { bytes = substr($3, 2) } $1 == "#0" && $2 == site { print bytes; exit }' "$2"
}

# The site of rank 1 in the text view: the word after the share and the block count.
first_site() {
  awk '$1 == "1" { for (i = 2; i <= NF; i++) if ($i ~ /%$/) { print $(i + 2); exit } }' "$1"
}

check_profile() {  # MODE PROFILE
  local mode=$1 prof=$2 top=$SCRATCH/$1.top alloc=$SCRATCH/$1.alloc folded=$SCRATCH/$1.folded leaks=$SCRATCH/$1.leaks
  "$HAKMEM" profile "$prof" >"$top" 2>&1; expect_status 0 $? "$mode: hakmem profile"
  first=$(first_site "$top")
  expect_equal keeper "$first" "$mode: the top live site is the keeper"
  expect_contains "$top" "profile_sites.c:" "$mode: sites have file:line"
  "$HAKMEM" profile --alloc --top 3 "$prof" >"$alloc" 2>&1; expect_status 0 $? "$mode: --alloc"
  first=$(first_site "$alloc")
  expect_equal churner "$first" "$mode: --alloc puts the churner first"
  "$HAKMEM" profile --leaks --top 0 "$prof" >"$leaks" 2>&1; expect_status 0 $? "$mode: --leaks"
  expect_contains "$leaks" "#0 keeper (profile_sites.c:" "$mode: the keeper's blocks are leak candidates"
  est=$(live_bytes_of keeper "$leaks")
  if [ -n "$est" ] && [ $((est * 4)) -ge $((truth * 3)) ] && [ $((est * 4)) -le $((truth * 5)) ]; then
    pass "$mode: keeper estimate $est within 25% of $truth"
  else
    fail "$mode: keeper estimate '$est' not within 25% of $truth"
  fi
  "$HAKMEM" profile --folded "$prof" >"$folded" 2>&1; expect_status 0 $? "$mode: --folded"
  folded_sum=$(awk '{ s += $NF } END { printf "%d", s }' "$folded")
  summary=$(sed -n 's/^SUMMARY: hakmem: ~\([0-9]*\) bytes.*/\1/p' "$leaks")
  expect_equal "$summary" "$folded_sum" "$mode: folded stacks sum to the text view's total"
  if grep -qE '^[^ ]*;[^ ]*keeper [0-9]+$' "$folded"; then pass "$mode: folded lines are outer;...;keeper BYTES"; else fail "$mode: no folded keeper line"; sed 's/^/    | /' "$folded" | head; fi
}

"$HAKMEM" run --profile="$SCRATCH/plain.json" -- "$SITES" plain; expect_status 0 $? "plain run"
check_profile plain "$SCRATCH/plain.json"
"$HAKMEM" run --profile="$SCRATCH/threads.json" -- "$SITES" threads; expect_status 0 $? "threads run"
check_profile threads "$SCRATCH/threads.json"

"$HAKMEM" run --profile="$SCRATCH/fork.json" -- "$SITES" fork >"$SCRATCH/fork.out"; expect_status 0 $? "fork run"
check_profile fork "$SCRATCH/fork.json"
child=$(sed -n 's/^child //p' "$SCRATCH/fork.out")
if [ -s "$SCRATCH/fork.json.$child" ]; then
  pass "the fork child wrote its own profile (fork.json.$child)"
  "$HAKMEM" profile --top 0 "$SCRATCH/fork.json.$child" >"$SCRATCH/child.top" 2>&1
  expect_status 0 $? "hakmem profile of the child's profile"
  expect_contains "$SCRATCH/child.top" "child_site" "the child's profile has the child's site"
  if grep -qE 'keeper|churner' "$SCRATCH/child.top"; then fail "the child's profile holds the parent's sites"; else pass "the child started with an empty profile"; fi
else
  fail "no child profile at fork.json.$child"
fi

# Malformed options: a warning and the default; a profile that is not one: exit 2.
HAKMEM_PROFILE_RATE=abc "$HAKMEM" run --profile="$SCRATCH/w.json" -- "$SITES" plain 2>"$SCRATCH/w.err"
expect_contains "$SCRATCH/w.err" "ignoring malformed HAKMEM_PROFILE_RATE='abc'; using 524288" "malformed rate: warning"
if [ -s "$SCRATCH/w.json" ]; then pass "malformed rate: profile written at the default rate"; else fail "malformed rate: no profile"; fi
echo '{"pid":1}' >"$SCRATCH/bad.json"
"$HAKMEM" profile "$SCRATCH/bad.json" 2>"$SCRATCH/bad.err"; expect_status 2 $? "not a profile"
expect_contains "$SCRATCH/bad.err" "not a hakmem heap profile" "not a profile: message"
"$HAKMEM" profile --top x "$SCRATCH/plain.json" 2>/dev/null; expect_status 2 $? "--top without a number"
finish
