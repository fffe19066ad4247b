#!/usr/bin/env bash
# Model-checks verify/slab_protocol.pml with spin.
#
#   verify/check.sh safe     the protocol as the code implements it: every run must end
#                            with 0 errors and a complete search (prints the state counts)
#   verify/check.sh unsafe   the seed's bug (-DUNSAFE_DRAIN): spin must find the ownership
#                            assertion; without that assertion (-DNO_OWNER_ASSERT) it must
#                            find the corruption itself (a lost or doubly handed-out block);
#                            and route()'s former kOwnerPool shortcut (-DPOOL_TOKEN_DROP)
#                            must still show as stranded free blocks (regression check)
#   verify/check.sh all      both (default; what CTest runs, ~1 min)
#   verify/check.sh deep     all, plus bigger instances (~15 min, 4 GB of RAM)
#
# Environment: SPIN_DEFS adds -D flags to every model (e.g. SPIN_DEFS=-DPOOL_TOKEN_DROP),
# PAN_OPT the optimisation flag for pan (default -O0),
# VERIFY_KEEP=1 keeps the work directory (pan, trails) and prints where it is.
# Exit status: 0 pass, 1 fail, 77 skipped (spin or a C compiler missing).
set -u

here=$(cd "$(dirname "$0")" && pwd)
model=$here/slab_protocol.pml
mode=${1:-all}

if ! command -v spin >/dev/null 2>&1; then
  echo "SKIP: spin is not installed (Debian package: spin)"
  exit 77
fi
cc=$(command -v gcc || command -v cc || true)
if [ -z "$cc" ]; then
  echo "SKIP: no C compiler to build spin's verifier"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-verify.XXXXXX")
if [ "${VERIFY_KEEP:-0}" = 1 ]; then
  echo "work directory: $work"
else
  trap 'rm -rf "$work"' EXIT
fi

failures=0

# run NAME EXPECT SPIN_FLAGS PAN_CFLAGS PAN_ARGS [SECONDS]
#   EXPECT: ok | assert:<text the violated assertion must contain> | error
#   SECONDS: stop a (bitstate) search after this long; pan prints what it covered
run() {
  local name=$1 expect=$2 spin_flags=$3 pan_cflags=$4 pan_args=$5 limit=${6:-0}
  local dir=$work/$name
  mkdir -p "$dir"
  cp "$model" "$dir/"
  local t0=$SECONDS
  if ! (cd "$dir" && spin -a $spin_flags ${SPIN_DEFS:-} slab_protocol.pml >spin.log 2>&1); then
    echo "FAIL $name: spin -a failed"; sed 's/^/    /' "$dir/spin.log"; failures=$((failures + 1)); return
  fi
  # -O0: pan.c is large and gcc -O2 takes longer to build it than the search takes.
  if ! (cd "$dir" && "$cc" ${PAN_OPT:--O0} -w -DSAFETY $pan_cflags -o pan pan.c >cc.log 2>&1); then
    echo "FAIL $name: building pan failed"; sed 's/^/    /' "$dir/cc.log"; failures=$((failures + 1)); return
  fi
  if [ "$limit" != 0 ]; then
    (cd "$dir" && timeout -s INT "$limit" ./pan -m1000000 $pan_args >pan.log 2>&1)
  else
    (cd "$dir" && ./pan -m1000000 $pan_args >pan.log 2>&1)
  fi
  local secs=$((SECONDS - t0))
  local log=$dir/pan.log
  local errors states violated
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$log" | tail -1)
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$log" | tail -1)
  violated=$(grep -m1 -E 'assertion violated|end state in claim|claim violated' "$log" | sed 's/^pan:[0-9]*: //')
  # The model writes its assertions as `assert(cond || PROPERTY_NAME)`: show the name.
  local prop
  prop=$(printf '%s' "$violated" | grep -oE '\|\|(hakmem_ownership_violation|P[0-9]_[A-Za-z0-9_]*)\)' | tail -1 | tr -d '|)')
  if [ -n "$prop" ]; then violated="$prop violated"; else violated=${violated:0:240}; fi
  local incomplete=""
  grep -q 'reached -DMEMLIM bound' "$log" && incomplete="memory limit reached"
  grep -q 'max search depth too small' "$log" && incomplete="search depth too small"
  local how="exhaustive"
  case "$pan_cflags" in *BITSTATE*) how="bitstate";; *HC4*) how="hash-compact";; esac
  grep -q 'Interrupted' "$log" && how="$how, stopped after ${limit}s" && incomplete="time limit"
  local info="spin $spin_flags ${SPIN_DEFS:-}; $how; ${states:-?} states; ${secs}s"
  if [ -z "$errors" ]; then
    echo "FAIL $name: pan gave no result ($info)"; tail -20 "$log" | sed 's/^/    /'
    failures=$((failures + 1)); return
  fi
  case "$expect" in
    ok)
      if [ "$errors" != 0 ]; then
        echo "FAIL $name: $violated ($info)"
        # The model prints one line per protocol event when a trail is replayed.
        (cd "$dir" && spin -t $spin_flags ${SPIN_DEFS:-} slab_protocol.pml >trail.txt 2>&1)
        echo "    counterexample (events of the failing run, indented by thread):"
        grep -E '^ +T[0-9]|text of failed assertion' "$dir/trail.txt" | sed 's/^/    /'
        echo "    full trace: cd <dir> && spin -t -p -g $spin_flags ${SPIN_DEFS:-} slab_protocol.pml (VERIFY_KEEP=1 keeps $dir)"
        failures=$((failures + 1))
      elif [ -n "$incomplete" ] && [ "$how" = exhaustive ]; then
        echo "FAIL $name: search incomplete: $incomplete ($info)"; failures=$((failures + 1))
      else
        echo "PASS $name: 0 errors ($info)"
      fi
      ;;
    assert:*)
      local want=${expect#assert:}
      if [ "$errors" = 0 ]; then
        echo "FAIL $name: spin found no violation, expected '$want' ($info)"; failures=$((failures + 1))
      elif [[ "$violated" != *"$want"* ]]; then
        echo "FAIL $name: expected '$want', spin found: $violated ($info)"; failures=$((failures + 1))
      else
        echo "PASS $name: spin found the bug: $violated ($info)"
      fi
      ;;
    error)
      if [ "$errors" = 0 ]; then
        echo "FAIL $name: spin found no violation ($info)"; failures=$((failures + 1))
      else
        echo "PASS $name: spin found the bug: $violated ($info)"
      fi
      ;;
  esac
}

# Exhaustive (-DCOLLAPSE: compressed state vectors, nothing lost) where the search ends
# within about half a minute on one core. `deep` adds the three-thread run with a recycled
# heap (58 M states, ~3 min, 3.5 GB) and ten minutes of bitstate search (partial) of
# three threads doing two operations each.
mem=-DMEMLIM=4096
case "$mode" in safe|unsafe|all|deep) ;; *) echo "usage: $0 [safe|unsafe|all|deep]"; exit 2;; esac
if [ "$mode" = safe ] || [ "$mode" = all ] || [ "$mode" = deep ]; then
  run safe-2threads ok "-DNT=2 -DNS=2 -DBPS=2 -DMAXOPS=3" "$mem -DCOLLAPSE" ""
  run safe-1slab-3blocks ok "-DNT=2 -DNS=1 -DBPS=3 -DMAXOPS=4" "$mem -DCOLLAPSE" ""
  run safe-3threads ok "-DNT=3 -DNS=2 -DBPS=2 -DMAXOPS=1" "$mem -DCOLLAPSE" ""
  run safe-2threads-recycled ok "-DNT=2 -DNS=2 -DBPS=2 -DMAXOPS=2 -DMAXLIVES=2" "$mem -DCOLLAPSE" ""
fi
if [ "$mode" = deep ]; then
  run deep-3threads-recycled ok "-DNT=3 -DNS=2 -DBPS=2 -DMAXOPS=1 -DMAXLIVES=2" "-DMEMLIM=8192 -DCOLLAPSE" ""
  run deep-3threads-2ops-bitstate ok "-DNT=3 -DNS=2 -DBPS=2 -DMAXOPS=2" "-DBITSTATE" "-w32" 600
fi
if [ "$mode" = unsafe ] || [ "$mode" = all ] || [ "$mode" = deep ]; then
  run unsafe-drain "assert:hakmem_ownership_violation" "-DUNSAFE_DRAIN -DNT=2 -DNS=2 -DBPS=2 -DMAXOPS=3" \
      "$mem -DCOLLAPSE" ""
  run pool-token-drop "assert:P6_free_blocks_stranded" "-DPOOL_TOKEN_DROP -DNT=3 -DNS=2 -DBPS=2 -DMAXOPS=1" \
      "$mem -DCOLLAPSE" ""
  run unsafe-drain-no-assert error "-DUNSAFE_DRAIN -DNO_OWNER_ASSERT -DNT=2 -DNS=2 -DBPS=2 -DMAXOPS=3" \
      "$mem -DCOLLAPSE" ""
fi

if [ "$failures" != 0 ]; then
  echo "verify: $failures check(s) failed"
  exit 1
fi
echo "verify: all checks passed"
