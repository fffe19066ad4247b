#!/usr/bin/env bash
# Builds fuzz/fuzz_alloc.cpp with clang (libFuzzer + ASan, hakmem core compiled with
# -fsanitize=address,fuzzer-no-link so the fuzzer sees the allocator's branches) in
# build-fuzz/, then runs it on a working copy of fuzz/corpus.
#
#   fuzz/run.sh smoke   about 60 s (CTest, label fuzz)
#   fuzz/run.sh long    10 minutes (make fuzz); FUZZ_SECONDS overrides either
#
# Environment: FUZZ_BUILD (default <repo>/build-fuzz), FUZZ_SECONDS, FUZZ_ARGS (extra
# libFuzzer flags). A crash leaves its input in $FUZZ_BUILD/artifacts/; reproduce with
#   $FUZZ_BUILD/fuzz/fuzz_alloc $FUZZ_BUILD/artifacts/crash-...
# Exit status: 0 pass, 1 the fuzzer found a failure or the build broke, 77 skipped
# (clang++ or libFuzzer, i.e. Debian's libclang-rt-14-dev, missing).
set -u
mode=${1:-smoke}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
case "$mode" in
  smoke) seconds=${FUZZ_SECONDS:-60} ;;
  long) seconds=${FUZZ_SECONDS:-600} ;;
  *) echo "usage: $0 smoke|long"; exit 2 ;;
esac

cxx=$(command -v clang++ || command -v clang++-14 || true)
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "SKIP: clang/clang++ not found (Debian: clang, libclang-rt-14-dev)"
  exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$probe/p.cpp"
if ! "$cxx" -fsanitize=fuzzer,address "$probe/p.cpp" -o "$probe/p" >"$probe/log" 2>&1; then
  echo "SKIP: $cxx cannot link a libFuzzer target (Debian: libclang-rt-14-dev)"
  sed 's/^/    /' "$probe/log" | head -5
  exit 77
fi

echo "fuzz: building in $build"
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
      -DHAKMEM_SANITIZE=address,fuzzer-no-link -DHAKMEM_FUZZ=ON \
      -DHAKMEM_BUILD_TESTS=OFF -DHAKMEM_BUILD_BENCH=OFF -DHAKMEM_BUILD_TOOLS=OFF >"$build.configure.log" 2>&1; then
  echo "FAIL: cmake configure failed (log: $build.configure.log)"; tail -20 "$build.configure.log"; exit 1
fi
rm -f "$build.configure.log"
if ! cmake --build "$build" --target fuzz_alloc -j "$(nproc)" >"$build/fuzz-build.log" 2>&1; then
  echo "FAIL: build failed (log: $build/fuzz-build.log)"; tail -30 "$build/fuzz-build.log"; exit 1
fi
bin=$build/fuzz/fuzz_alloc

mkdir -p "$build/corpus" "$build/artifacts"
log=$build/fuzz-$mode.log
echo "fuzz: running $bin for ${seconds}s (log: $log)"
# The first corpus directory collects new inputs; fuzz/corpus is only read.
# rss_limit: hakmem keeps freed memory cached for a while; 64 MiB live at most by design.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1} \
  "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=3072 -max_len=4096 \
  -print_final_stats=1 -error_exitcode=99 -artifact_prefix="$build/artifacts/" ${FUZZ_ARGS:-} \
  "$build/corpus" "$here/corpus" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
corpus=$(ls "$build/corpus" | wc -l)
if [ $rc -ne 0 ]; then
  echo "FAIL: fuzzer exit status $rc after ${execs:-?} executions"
  grep -m5 -E 'fuzz_alloc:|hakmem:|ERROR: AddressSanitizer|ERROR: libFuzzer|SUMMARY' "$log" | sed 's/^/    /'
  ls -t "$build/artifacts" 2>/dev/null | head -3 | sed "s|^|    reproducer: $bin $build/artifacts/|"
  exit 1
fi
echo "PASS: fuzz_alloc ran ${seconds}s: ${execs:-?} executions, working corpus $corpus inputs"
