#!/usr/bin/env bash
# CTest larson_faulty_caught: the seed's bug must be caught, not survived.
# Runs scripts/run_larson.sh repro under BUILD/libhakmem_faulty.so (refill drains a
# slab's remote frees before claiming it) and passes only if that run FAILS and its
# stderr contains "ownership violation" (the drain's assertion fired).
# Environment: BUILD (required: the build tree), FAULTY_SECONDS (10), FAULTY_THREADS (4).
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
lib=$build/libhakmem_faulty.so
if [ ! -f "$lib" ]; then echo "larson_faulty_caught: $lib not built" >&2; exit 77; fi

err=$(mktemp "${TMPDIR:-/tmp}/larson_faulty.XXXXXX")
trap 'rm -f "$err"' EXIT
BUILD=$build LIB=$lib bash "$repo/scripts/run_larson.sh" repro "${FAULTY_SECONDS:-10}" "${FAULTY_THREADS:-4}" 2>"$err"
rc=$?
echo "---- stderr of the faulty run (last 60 lines) ----"
tail -n 60 "$err"
echo "--------------------------------------------------"
if [ "$rc" -eq 77 ]; then exit 77; fi
if [ "$rc" -eq 0 ]; then
  echo "larson_faulty_caught: FAIL: the faulty library ran the full duration undetected"
  exit 1
fi
if ! grep -q 'ownership violation' "$err"; then
  echo "larson_faulty_caught: FAIL: the run failed (status $rc) but not with an ownership violation"
  exit 1
fi
echo "larson_faulty_caught: PASS: the ownership assertion caught the unsafe drain"
