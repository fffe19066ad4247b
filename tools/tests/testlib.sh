# Shared helpers for the tools tests (sourced). Each check prints one line; the
# script's exit status is 1 when any check failed.
set -u

TESTS_FAILED=0
TESTS_PASSED=0

pass() { TESTS_PASSED=$((TESTS_PASSED + 1)); echo "ok   - $*"; }
fail() { TESTS_FAILED=$((TESTS_FAILED + 1)); echo "FAIL - $*"; }

# expect_status WANT GOT WHAT
expect_status() {
  if [ "$2" -eq "$1" ]; then pass "$3 (exit $2)"; else fail "$3: exit $2, wanted $1"; fi
}

# expect_contains FILE TEXT WHAT   (fixed string)
expect_contains() {
  if grep -qF -- "$2" "$1"; then
    pass "$3"
  else
    fail "$3: '$2' not in $1:"
    sed 's/^/    | /' "$1" | head -20
  fi
}

# expect_equal WANT GOT WHAT
expect_equal() {
  if [ "$1" = "$2" ]; then pass "$3"; else fail "$3: got '$2', wanted '$1'"; fi
}

# A scratch directory removed at exit.
make_scratch() {
  SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-tools-test.XXXXXX")
  trap 'rm -rf "$SCRATCH"' EXIT
}

finish() {
  echo "$TESTS_PASSED passed, $TESTS_FAILED failed"
  [ "$TESTS_FAILED" -eq 0 ]
  exit $?
}
