#!/usr/bin/env bash
# glibc's own malloc tests as hakmem's conformance suite for a drop-in malloc.
#
#   run_glibc_tests.sh LIBHAKMEM WORKDIR
#
# Builds glibc's malloc/tst-*.c (from Debian's glibc-source, the sources of the
# installed glibc) with glibc's test driver (support/), against the installed glibc,
# then runs each under LD_PRELOAD=LIBHAKMEM twice: plain and with HAKMEM_GUARD=1.
# skip.txt lists the glibc-specific tests, each with its reason. Fails if any other
# test fails or times out (glibc's driver kills a test after its timeout).
# Exit 77 (skipped) when glibc-source is not installed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib=$1
work=$2
tarball=$(ls /usr/src/glibc/glibc-*.tar.xz 2>/dev/null | head -1)
if [ -z "$tarball" ]; then
  echo "SKIP: glibc-source is not installed (apt-get install glibc-source; scripts/bootstrap.sh does it as root)"
  exit 77
fi
ver=$(basename "$tarball" .tar.xz)
mkdir -p "$work"
cd "$work"
start=$SECONDS

# 1. Sources: only the parts the tests need, unpacked once.
if [ ! -f src/.unpacked ] || [ "$(cat src/.unpacked)" != "$ver" ]; then
  rm -rf src "$ver" && mkdir -p src
  tar xf "$tarball" "$ver/malloc" "$ver/support" "$ver/include" "$ver/test-skeleton.c" || exit 1
  mv "$ver"/* src/ && rmdir "$ver"
  echo "$ver" > src/.unpacked
fi
mkdir -p inc obj bin
ln -sfn "$work/src/support" inc/support
# glibc's internal include/ only after the system headers: support/ needs a few of its
# headers (xstdio.h lives in support/, intprops.h and scratch_buffer.h in include/).
cflags=(-O1 -w -include "$here/config.h" "-DGLIBC_TESTS_DIR=\"$work\"" -I inc -I src/support -idirafter src/include)

# 2. The test driver library (support/): what builds outside glibc's tree.
if [ ! -f libsupport.a ]; then
  for f in src/support/*.c; do
    b=$(basename "$f" .c)
    case $b in test-driver|tst-*|*-test*|*container*|links-dso-program*) continue ;; esac
    gcc "${cflags[@]}" -c "$f" -o "obj/$b.o" 2>/dev/null &
    while [ "$(jobs -r | wc -l)" -ge "$(nproc)" ]; do wait -n; done
  done
  wait
  ar rcs libsupport.a obj/*.o || exit 1
fi

# 3. The tests.
declare -A skip
while read -r name reason; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  skip[$name]=$reason
done < "$here/skip.txt"
tests=()
for f in src/malloc/tst-*.c; do
  t=$(basename "$f" .c)
  [ -n "${skip[$t]+x}" ] && continue
  tests+=("$t")
  [ -x "bin/$t" ] && continue
  gcc "${cflags[@]}" "$f" -o "bin/$t" libsupport.a -lpthread -ldl 2>"bin/$t.build.log" &
  while [ "$(jobs -r | wc -l)" -ge "$(nproc)" ]; do wait -n; done
done
wait
echo "glibc $ver malloc tests: ${#tests[@]} to run, ${#skip[@]} skipped (skip.txt); built in $((SECONDS - start)) s"

failed=()
printf '%-32s %-6s %-6s\n' test plain guard
for t in "${tests[@]}"; do
  row=()
  for mode in plain guard; do
    if [ ! -x "bin/$t" ]; then
      row+=(nobuild); failed+=("$t (does not build: bin/$t.build.log)"); continue
    fi
    guard=0; [ $mode = guard ] && guard=1
    (cd bin && HAKMEM_GUARD=$guard LD_PRELOAD="$lib" "./$t" >"$t.$mode.log" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then
      row+=("$([ $rc -eq 0 ] && echo ok || echo skip)")
    else
      row+=("FAIL"); failed+=("$t ($mode, exit $rc): $(tail -3 "bin/$t.$mode.log" | tr '\n' ' ' | cut -c1-200)")
    fi
  done
  printf '%-32s %-6s %-6s\n' "$t" "${row[@]}"
done
echo "glibc malloc tests: $((SECONDS - start)) s"
if [ ${#failed[@]} -ne 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all glibc malloc tests passed under hakmem (plain and guard)"
