#!/usr/bin/env bash
# `make test`: every test of the project, in one place.
#   1. the main build's CTest suite (unit, stress, preload, larson, hostile, verify, fuzz, tools)
#   2. ThreadSanitizer and UndefinedBehaviorSanitizer builds of the unit and stress tests
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
JOBS=$(nproc)
start=$(date +%s)
failed=()

step() { echo; echo "=== $* ==="; }

step "CTest suite ($BUILD)"
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" --timeout 300 || failed+=("ctest")

for san in thread undefined; do
  dir="build-$san"
  step "sanitizer build: $san ($dir)"
  if cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHAKMEM_SANITIZE="$san" \
       -DHAKMEM_BUILD_BENCH=OFF -DHAKMEM_BUILD_TOOLS=OFF >/dev/null &&
     cmake --build "$dir" -j "$JOBS" >/dev/null; then
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" \
      ctest --test-dir "$dir" -L 'unit|stress' --output-on-failure -j "$JOBS" --timeout 300 || failed+=("$san")
  else
    failed+=("$san-build")
  fi
done

echo
echo "make test: $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -ne 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all test steps passed"
