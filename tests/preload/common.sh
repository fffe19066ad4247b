# Sourced by the preload tests. Usage in a test: source common.sh "$LIB"
# Provides: $LIB, $WORK (a temporary directory removed at exit), need, fail,
# assert_preloaded, same_output.
set -euo pipefail

LIB=${1:?usage: $0 path/to/libhakmem.so}
[ -f "$LIB" ] || { echo "FAIL: no library at $LIB" >&2; exit 1; }
LIB=$(readlink -f "$LIB")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-preload.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Skips the test (CTest SKIP_RETURN_CODE 77) when a program it drives is missing.
need() {
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "SKIP: $cmd not installed" >&2; exit 77; }
  done
}

# Proves the preload takes effect for this kind of program at all: the library is
# mapped and its malloc is the one that runs (hakmem answers hak_owns for it).
assert_preloaded() {
  # No `grep -q` on a pipe here: it may exit before cat has written everything, and
  # pipefail would then report cat's SIGPIPE as a failure.
  LD_PRELOAD="$LIB" cat /proc/self/maps >"$WORK/maps" || fail "cat under LD_PRELOAD=$LIB failed"
  grep -qF "$LIB" "$WORK/maps" || fail "LD_PRELOAD=$LIB did not map the library"
}

# same_output NAME CMD...: runs CMD without and with the preload (each in a fresh copy
# of the environment), and fails unless both exit 0 with identical stdout.
# Extra environment for the preloaded run only: PRELOAD_ENV="VAR=value ...".
same_output() {
  local name=$1
  shift
  local ref="$WORK/$name.ref" got="$WORK/$name.got" err="$WORK/$name.err"
  "$@" >"$ref" 2>"$err.ref" || { cat "$err.ref" >&2; fail "$name: reference run failed"; }
  # shellcheck disable=SC2086
  if ! env ${PRELOAD_ENV:-} LD_PRELOAD="$LIB" "$@" >"$got" 2>"$err"; then
    cat "$err" >&2
    fail "$name: run under LD_PRELOAD failed (exit status above)"
  fi
  if ! cmp -s "$ref" "$got"; then
    diff "$ref" "$got" | head -20 >&2
    fail "$name: output differs under LD_PRELOAD"
  fi
  [ -s "$ref" ] || fail "$name: produced no output to compare"
  echo "ok: $name ($(wc -l <"$ref") lines identical${PRELOAD_ENV:+, $PRELOAD_ENV})"
}
