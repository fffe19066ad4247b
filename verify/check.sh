#!/usr/bin/env bash
# Model-checks verify/slab_protocol.pml with spin.
#
#   verify/check.sh safe     the protocol as the code implements it: every run must end
#                            with 0 errors and a complete search; fork runs check the
#                            child's recovery for every property (and, as a regression,
#                            that without its repair step P1-P3, P7, P8 still hold)
#   verify/check.sh unsafe   seeded bugs spin must find (README lists them), among them the
#                            bugs spin found in the code: -DCLOSED_DROP_NO_RECHECK and
#                            -DCHILD_NO_REPAIR (2026-11-28, fixed since), -DFREE_SLOW_NO_RECHECK
#                            (fixed), -DCHILD_NO_ANNOUNCE and -DTRIM_COLLECT_UNLOCKED (8191592,
#                            fixed in the following commit)
#   verify/check.sh all      both (default; CTest runs safe ~4 min CPU, unsafe ~1.5 min)
#   verify/check.sh deep     all, plus bigger instances (minutes, several GB)
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

# Exhaustive (-DCOLLAPSE: compressed state vectors, nothing lost). Fork runs pass -E to
# pan: the threads that did not survive the fork stay frozen where they stood, which is
# not a valid end state; the collector's assertions check the end instead.
mem=-DMEMLIM=4096
fix=
case "$mode" in safe|unsafe|all|deep) ;; *) echo "usage: $0 [safe|unsafe|all|deep]"; exit 2;; esac
if [ "$mode" = safe ] || [ "$mode" = all ] || [ "$mode" = deep ]; then
  run safe-2slabs-2classes ok "$fix -DNT=2 -DNS=2 -DU=2 -DNCLS=2 -DMAXOPS=2" "$mem -DCOLLAPSE" ""
  run safe-1slab-2classes-3ops ok "$fix -DNT=2 -DNS=1 -DU=2 -DNCLS=2 -DMAXOPS=3" "$mem -DCOLLAPSE" ""
  run safe-3threads ok "$fix -DNT=3 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=1" "$mem -DCOLLAPSE" ""
  run safe-recycled ok "$fix -DNT=2 -DNS=1 -DU=2 -DNCLS=2 -DMAXOPS=2 -DMAXLIVES=2" "$mem -DCOLLAPSE" ""
  run safe-fastcache-latefree ok "$fix -DNT=2 -DNS=1 -DU=2 -DNCLS=2 -DMAXOPS=3 -DFAST -DLATE_FREE" "$mem -DCOLLAPSE" ""
  run safe-fork-norepair-noleakcheck ok "$fix -DFORK -DCHILD_NO_REPAIR -DCHILD_LEAKS_OK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" "-E"
  run safe-fork ok "$fix -DFORK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" "-E"
  # Reclaimers (heap_reclaim_complete), with the full list and the fix of
  # heap_free_local_slow (README, "Bugs found", 3; the code before it is the unsafe run
  # reclaim-free-slow-no-recheck). 4 operations are what it takes for a slab
  # of a thread's partial or full list to sit in its mailbox, complete, when another
  # thread reclaims.
  run safe-reclaim-4ops ok "$fix -DRECLAIM -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=4" "$mem -DCOLLAPSE" ""
  run safe-reclaim-fastcache ok "$fix -DRECLAIM -DFAST -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" "$mem -DCOLLAPSE" ""
  run safe-reclaim-fork ok "$fix -DRECLAIM -DFORK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" "$mem -DCOLLAPSE" "-E"
  # The shared heap (8191592): the nursery, tend, frees of its blocks from any thread,
  # reclaimers visiting it, the fork child leaving it alone (with the announcement of
  # README bug 5); allocations after teardown (LATE_FREE) in deep.
  run safe-shared-2slabs-2classes ok "$fix -DSHARED -DNT=2 -DNS=2 -DU=2 -DNCLS=2 -DMAXOPS=2" "$mem -DCOLLAPSE" ""
  run safe-shared-reclaim-3ops ok "$fix -DSHARED -DRECLAIM -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" "$mem -DCOLLAPSE" ""
  run safe-shared-reclaim-fork ok "$fix -DSHARED -DRECLAIM -DFORK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" "-E"
fi
if [ "$mode" = deep ]; then
  run deep-2slabs-2classes-3ops ok "$fix -DNT=2 -DNS=2 -DU=2 -DNCLS=2 -DMAXOPS=3" "-DMEMLIM=8192 -DCOLLAPSE" ""
  run deep-fork-code-3ops ok "$fix -DFORK -DCHILD_LEAKS_OK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" "$mem -DCOLLAPSE" "-E"
  run deep-fork-fixed-3ops ok "$fix -DFORK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" "$mem -DCOLLAPSE" "-E"
  run deep-fork-fixed-2classes-fast ok "$fix -DFORK -DFAST -DNT=2 -DNS=1 -DU=2 -DNCLS=2 -DMAXOPS=3" "-DMEMLIM=8192 -DCOLLAPSE" "-E"
  run deep-3threads-2ops-bitstate ok "$fix -DNT=3 -DNS=2 -DU=2 -DNCLS=2 -DMAXOPS=2" "-DBITSTATE" "-w32" 600
  run deep-pool-token-drop "assert:P4_remote_free_stranded" "$fix -DPOOL_TOKEN_DROP -DNT=3 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" \
      "$mem -DCOLLAPSE" ""
  run deep-shared-3threads ok "$fix -DSHARED -DNT=3 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=1" "$mem -DCOLLAPSE" ""
  run deep-shared-fork-3ops ok "$fix -DSHARED -DFORK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" "$mem -DCOLLAPSE" "-E"
  run deep-shared-reclaim-fork-3ops ok "$fix -DSHARED -DRECLAIM -DFORK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" "-DMEMLIM=8192 -DCOLLAPSE" "-E"
  run deep-shared-fastcache-latefree ok "$fix -DSHARED -DFAST -DLATE_FREE -DNT=2 -DNS=1 -DU=2 -DNCLS=2 -DMAXOPS=2" "$mem -DCOLLAPSE" ""
  # README bug 5 in a thread's own heap (the child's full list): 4 operations
  run deep-child-no-announce-own "assert:P4_remote_free_stranded" "$fix -DFORK -DRECLAIM -DCHILD_NO_ANNOUNCE -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=4" \
      "$mem -DCOLLAPSE" "-E"
fi
if [ "$mode" = unsafe ] || [ "$mode" = all ] || [ "$mode" = deep ]; then
  run unsafe-drain "assert:hakmem_ownership_violation" "$fix -DUNSAFE_DRAIN -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" \
      "$mem -DCOLLAPSE" ""
  run unsafe-drain-no-assert "assert:P3_block" "$fix -DUNSAFE_DRAIN -DNO_OWNER_ASSERT -DNT=2 -DNS=2 -DU=2 -DNCLS=1 -DMAXOPS=3" \
      "$mem -DCOLLAPSE" ""
  run letgo-no-recheck "assert:P4_remote_free_stranded" "$fix -DLETGO_NO_RECHECK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" \
      "$mem -DCOLLAPSE" ""
  run no-class-check "assert:P8_wrong_class" "$fix -DNO_CLASS_CHECK -DNT=2 -DNS=2 -DU=2 -DNCLS=2 -DMAXOPS=2" \
      "$mem -DCOLLAPSE" ""
  run carve-list-before-count "assert:P3_block_twice" "$fix -DFORK -DCARVE_LIST_BEFORE_COUNT -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" \
      "$mem -DCOLLAPSE" "-E"
  run child-keeps-hint "assert:P7_hint_without_owner" "$fix -DFORK -DCHILD_KEEPS_HINT -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" \
      "$mem -DCOLLAPSE" "-E"
  run child-trusts-lists "assert:P6_slab_lost" "$fix -DFORK -DCHILD_TRUSTS_LISTS -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" \
      "$mem -DCOLLAPSE" "-E"
  run reclaim-no-lock "assert:P5_token_lost" "$fix -DRECLAIM -DRECLAIM_NO_LOCK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" \
      "$mem -DCOLLAPSE" ""
  run reclaim-bound "assert:P9_reclaim_vs_fast_path" "$fix -DRECLAIM -DRECLAIM_BOUND -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=3" \
      "$mem -DCOLLAPSE" ""
  run reclaim-incomplete "assert:P9_reclaim_vs_fast_path" "$fix -DRECLAIM -DRECLAIM_INCOMPLETE -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=4" \
      "$mem -DCOLLAPSE" ""
  # The two bugs spin found in the code (README, "Bugs found"), kept as seeded bugs.
  run closed-drop-no-recheck "assert:P4_remote_free_stranded" "-DCLOSED_DROP_NO_RECHECK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" ""
  # The code as of 523ef91: heap_free_local_slow settles a slab a reclaimer gave back
  # between the unlocked push and the slow lock (README, "Bugs found", 3).
  run reclaim-free-slow-no-recheck "assert:P2_not_owner" "-DRECLAIM -DFREE_SLOW_NO_RECHECK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=4" "$mem -DCOLLAPSE" ""
  run child-no-repair error "$fix -DFORK -DCHILD_NO_REPAIR -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" "-E"
  # The shared heap's seeded bugs: no g_shared_lock (two threads in its slow scope: the
  # scope takes kSlowOwner for a nested one); its bind setting bound_hint while tend looks
  # only at its mailbox (a free into the bound slab is never announced).
  run shared-no-lock "assert:P2_not_owner" "$fix -DSHARED -DSHARED_NO_LOCK -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" ""
  run shared-bind-hint "assert:P4_remote_free_stranded" "$fix -DSHARED -DSHARED_BIND_HINT -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" ""
  # The code as of 8191592, fixed in the following commit (README, "Bugs found", 5 and 6):
  # the fork child leaves a dead pusher's remote free into a shared-heap slab unannounced;
  # malloc_trim collects orphans for its heap outside the heap's slow scope while a
  # reclaimer may act as its owner.
  run child-no-announce "assert:P4_remote_free_stranded" "-DSHARED -DFORK -DCHILD_NO_ANNOUNCE -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=2" "$mem -DCOLLAPSE" "-E"
  run trim-collect-unlocked "assert:hakmem_ownership_violation" "-DRECLAIM -DTRIM_COLLECT_UNLOCKED -DNT=2 -DNS=1 -DU=2 -DNCLS=1 -DMAXOPS=4" "$mem -DCOLLAPSE" ""
fi

if [ "$failures" != 0 ]; then
  echo "verify: $failures check(s) failed"
  exit 1
fi
echo "verify: all checks passed"
