#!/usr/bin/env bash
# `hakmem report` without a browser: malformed input is refused with exit 2 and a
# message that says where; a good file gives one self-contained page.
# Usage: report_test.sh HAKMEM_BINARY TESTS_DIR
. "$(dirname "$0")/testlib.sh"
HAKMEM=$1 TESTS=$2
make_scratch
out=$SCRATCH/out err=$SCRATCH/err
sample=$TESTS/sample_stats.json
charts="chart-memory chart-occupancy chart-fragmentation chart-remote chart-refill"

# ---- malformed input: exit 2, the message names the file and the problem -----------
while IFS=$'\t' read -r file message; do
  case $file in '#'* | '') continue ;; esac
  rm -f "$SCRATCH/m.html"
  "$HAKMEM" report "$TESTS/malformed/$file" -o "$SCRATCH/m.html" >"$out" 2>"$err"
  expect_status 2 $? "malformed $file"
  expect_contains "$err" "$message" "malformed $file: message"
  if [ -e "$SCRATCH/m.html" ]; then fail "malformed $file: an output file was written"; fi
done <"$TESTS/malformed/expected.txt"

# ---- other failures --------------------------------------------------------------
"$HAKMEM" report "$SCRATCH/none.json" -o "$SCRATCH/x.html" 2>"$err"
expect_status 1 $? "a missing input file"
expect_contains "$err" "cannot open $SCRATCH/none.json" "missing input: message"
"$HAKMEM" report "$sample" -o "$SCRATCH/no/such/dir/x.html" 2>"$err"
expect_status 1 $? "an output that cannot be written"
"$HAKMEM" report 2>"$err"; expect_status 2 $? "no input"
"$HAKMEM" report "$sample" "$sample" 2>"$err"; expect_status 2 $? "two inputs"
"$HAKMEM" report --frob "$sample" 2>"$err"; expect_status 2 $? "unknown option"
"$HAKMEM" report "$sample" -o 2>"$err"; expect_status 2 $? "-o without a path"

# ---- a good file ------------------------------------------------------------------
page=$SCRATCH/report.html
"$HAKMEM" report "$sample" -o "$page" >"$out" 2>"$err"
expect_status 0 $? "report of sample_stats.json"
expect_contains "$err" "wrote $page" "says where the page went"
expect_contains "$page" "<!DOCTYPE html>" "an HTML page"
for id in $charts; do
  expect_contains "$page" "<svg class=\"chart\" id=\"$id\"" "has the <svg class=\"chart\" id=\"$id\">"
done
expect_contains "$page" '<script type="application/json" id="hakmem-stats">' "embeds the stats"
expect_contains "$page" '"pid":4242' "embeds the stats' values"
expect_contains "$page" "document.body.dataset.chartsDrawn" "reports how many charts it drew"

# Self-contained: nothing to fetch. The only URL is the SVG namespace name.
urls=$(grep -oE "https?://[^\"' )<>]*" "$page" | sort -u | tr '\n' ' ')
expect_equal "http://www.w3.org/2000/svg " "$urls" "no URL but the SVG namespace"
if grep -qE '<(link|img|iframe|object|embed)\b|<script[^>]* src=|@import|url\(' "$page"; then
  fail "references an external resource"
else
  pass "no external scripts, styles, fonts or images"
fi

"$HAKMEM" report "$sample" -o - >"$out" 2>"$err"; expect_status 0 $? "-o - writes to stdout"
if cmp -s "$out" "$page"; then pass "stdout page equals the file"; else fail "stdout page differs from the file"; fi
"$HAKMEM" report - -o "$SCRATCH/stdin.html" <"$sample" 2>"$err"; expect_status 0 $? "input '-' reads stdin"
expect_contains "$SCRATCH/stdin.html" '"pid":4242' "stdin page has the stats"

cp "$sample" "$SCRATCH/copy.json"
"$HAKMEM" report "$SCRATCH/copy.json" 2>"$err"; expect_status 0 $? "default output name"
[ -s "$SCRATCH/copy.html" ] && pass "STATS.json -> STATS.html" || fail "no $SCRATCH/copy.html"

# ---- hostile strings cannot break out of the page -----------------------------------
sed 's|"hakmem":"0.1.0"|"hakmem":"</script><script>alert(1)</script> \\u003c/script>"|' "$sample" >"$SCRATCH/evil.json"
"$HAKMEM" report "$SCRATCH/evil.json" -o "$SCRATCH/evil.html" 2>"$err"
expect_status 0 $? "report with markup in the version string"
closers=$(grep -o '</script>' "$SCRATCH/evil.html" | wc -l)
expect_equal 2 "$closers" "the markup stays data (only the page's own two </script>)"

finish
