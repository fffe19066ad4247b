#!/bin/bash
# Golden instruction counts of the malloc and free fast paths (tcmalloc's habit): runs
# fastpath_count under callgrind, counting only inside malloc or free
# (--toggle-collect), at N and 2N iterations; (count(2N) - count(N)) / N is the cost of
# one call with start-up and warm-up cancelled. Fails if a count exceeds budgets.txt.
# usage: run_golden.sh PATH/TO/fastpath_count [budgets.txt]
set -u
prog=$1
budgets=${2:-$(dirname "$0")/budgets.txt}
if ! command -v valgrind >/dev/null; then
  echo "golden: valgrind not installed, skipped"
  exit 77
fi
N=20000

collected() {  # function mode size n
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no --toggle-collect="$1" \
    "$prog" "$2" "$3" "$4" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

per_call() {  # function mode size
  local n=$N
  [ "$2" = remote ] && n=40960  # whole batches of 4096
  local a b
  a=$(collected "$1" "$2" "$3" "$n")
  b=$(collected "$1" "$2" "$3" $((2 * n)))
  if [ -z "$a" ] || [ -z "$b" ]; then
    echo "golden: callgrind gave no count for $1 $2 $3" >&2
    echo "nan"
    return
  fi
  awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }'
}

fail=0
printf "%-20s %10s %8s\n" path instructions budget
while read -r name budget; do
  case "$name" in ''|'#'*) continue ;; esac
  IFS=_ read -r fn mode size <<<"$name"
  got=$(per_call "$fn" "$mode" "$size")
  verdict=ok
  if [ "$got" = nan ] || awk -v g="$got" -v b="$budget" 'BEGIN { exit !(g > b) }'; then
    verdict="OVER BUDGET"
    fail=1
  fi
  printf "%-20s %10s %8s  %s\n" "$name" "$got" "$budget" "$verdict"
done <"$budgets"
if [ $fail -ne 0 ]; then
  echo "golden: a fast path got more expensive; make it cheaper or raise its budget in $budgets (say why)"
  exit 1
fi
echo "golden: every fast path within budget"
