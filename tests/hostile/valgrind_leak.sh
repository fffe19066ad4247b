#!/usr/bin/env bash
# valgrind_leak.sh LIBHAKMEM VICTIM
# Runs VICTIM (one leak, one use-after-free) under memcheck with hakmem preloaded and
# checks that memcheck reports both. hakmem tells memcheck about its blocks through
# client requests (VALGRIND_MALLOCLIKE_BLOCK / FREELIKE_BLOCK, src/diag/valgrind.h).
#
# Memcheck normally replaces every exported malloc it finds, hakmem's included, which
# would test valgrind's allocator instead of ours. `--soname-synonyms=somalloc=
# nouserintercepts` (any name of a library that does not exist) limits its replacement
# to the system libraries, so hakmem's malloc stays in place and only its client
# requests inform memcheck. The victim checks with hak_owns() that hakmem served it.
# Exit status: 0 pass, 1 fail, 77 skipped (no valgrind).
set -u
lib=$1
victim=$2
if ! command -v valgrind >/dev/null 2>&1; then
  echo "SKIP: valgrind is not installed (Debian package: valgrind)"
  exit 77
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
LD_PRELOAD="$lib" timeout 120 valgrind --tool=memcheck --leak-check=full \
  --soname-synonyms=somalloc=nouserintercepts "$victim" >"$log" 2>&1
rc=$?
fail=0
expect() {
  if grep -Eq "$1" "$log"; then echo "ok: $2"; else echo "MISSING: $2 (/$1/)"; fail=1; fi
}
expect 'victim: hakmem serves malloc: yes' "hakmem (not valgrind's replacement) served malloc"
expect 'Invalid read of size 1' "use after free reported as an invalid read"
expect "inside a block of size [0-9,]+ free'd" "the invalid read points into a freed block"
expect 'definitely lost: [0-9,]+ bytes in 1 blocks' "the leak reported as definitely lost"
expect 'ERROR SUMMARY: 2 errors' "exactly the two planted errors"
if [ $fail -ne 0 ] || [ $rc -ne 0 ]; then
  echo "valgrind exit status $rc; its output:"
  sed 's/^/    /' "$log"
  exit 1
fi
echo "PASS: memcheck sees hakmem's blocks"
