#!/usr/bin/env bash
# Loads a `hakmem report` page in headless Chromium and checks that its script drew
# every chart: data-charts-drawn on <body> equals the expected count, and each
# <svg class="chart"> holds drawn bars (rect.bar) and an axis (path). Also saves a
# screenshot of the page.
# Usage: browser_check.sh HAKMEM_BINARY STATS_JSON OUT_DIR EXPECTED_CHARTS [PROGRAM]
# With PROGRAM: runs it (hakmem run --profile), renders STATS_JSON with its heap
# profile, and also checks the flame graph (frames drawn) and the top-sites table.
# Exit 77 (SKIP) when no Chromium can be had: not installed and not root, or the
# install failed.
. "$(dirname "$0")/testlib.sh"
HAKMEM=$1 STATS=$2 OUT=$3 EXPECTED=$4 PROGRAM=${5:-}
SKIP=77
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd -P)

find_chromium() {
  for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

if ! CHROMIUM=$(find_chromium); then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "SKIP: chromium is not installed (Debian: apt-get install chromium) and this is not root"
    exit $SKIP
  fi
  echo "chromium is missing; installing the Debian package (log: $OUT/apt-chromium.log)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y chromium >"$OUT/apt-chromium.log" 2>&1 ||
    { apt-get update >>"$OUT/apt-chromium.log" 2>&1 && apt-get install -y chromium >>"$OUT/apt-chromium.log" 2>&1; }
  if ! CHROMIUM=$(find_chromium); then
    echo "SKIP: installing chromium failed (see $OUT/apt-chromium.log)"
    exit $SKIP
  fi
fi
echo "browser: $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"

make_scratch
page=$OUT/report.html dom=$OUT/report.dom.html shot=$OUT/report.png
profile_args=()
if [ -n "$PROGRAM" ]; then
  "$HAKMEM" run --profile="$SCRATCH/profile.json" -- "$PROGRAM" plain
  expect_status 0 $? "hakmem run --profile $(basename "$PROGRAM")"
  profile_args=(--profile "$SCRATCH/profile.json")
fi
"$HAKMEM" report "$STATS" "${profile_args[@]}" -o "$page" 2>"$SCRATCH/err"
expect_status 0 $? "hakmem report $(basename "$STATS")"

# A profile of its own, so parallel runs and a user's browser do not collide.
browser=(timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage
         --no-first-run --no-default-browser-check --hide-scrollbars
         --user-data-dir="$SCRATCH/profile")
"${browser[@]}" --dump-dom "file://$page" >"$dom" 2>"$SCRATCH/chromium.log"
status=$?
expect_status 0 $status "chromium --dump-dom"
if [ $status -ne 0 ]; then tail -n 20 "$SCRATCH/chromium.log" | sed 's/^/    | /'; fi

drawn=$(grep -oE 'data-charts-drawn="[0-9]+"' "$dom" | grep -oE '[0-9]+')
expect_equal "$EXPECTED" "${drawn:-none}" "body data-charts-drawn"

# One record per </svg>: the chart's id, its rect.bar count and its path count.
summary=$(awk 'BEGIN { RS = "</svg>" }
  {
    start = 0; rest = $0
    while ((i = index(rest, "<svg")) > 0) { start += i; rest = substr(rest, i + 4) }
    if (start == 0) next
    svg = substr($0, start)
    if (svg !~ /class="chart"/) next
    id = svg; sub(/.*<svg[^>]* id="/, "", id); sub(/".*/, "", id)
    bars = gsub(/<rect[^>]*class="bar"/, "", svg)
    paths = gsub(/<path[ >]/, "", svg)
    printf "%s %d %d\n", id, bars, paths
  }' "$dom")
echo "$summary" | sed 's/^/    chart bars paths: /'
count=$(printf '%s\n' "$summary" | grep -c .)
expect_equal "$EXPECTED" "$count" "number of <svg class=\"chart\"> elements in the DOM"
for id in chart-memory chart-occupancy chart-fragmentation chart-remote chart-refill; do
  line=$(printf '%s\n' "$summary" | awk -v id="$id" '$1 == id')
  if [ -z "$line" ]; then fail "$id: not in the DOM"; continue; fi
  set -- $line
  if [ "$2" -gt 0 ] && [ "$3" -gt 0 ]; then pass "$id: $2 bars and $3 paths drawn"; else fail "$id: $2 bars, $3 paths"; fi
done
expect_contains "$dom" '<table id="class-table"><thead>' "the class table was filled"
if [ -n "$PROGRAM" ]; then
  frames=$(grep -oE 'data-flame-frames="[0-9]+"' "$dom" | grep -oE '[0-9]+')
  if [ "${frames:-0}" -gt 3 ]; then pass "flame graph: $frames frames drawn"; else fail "flame graph: '${frames:-none}' frames drawn"; fi
  expect_contains "$dom" '<table id="site-table"><thead>' "the top-sites table was filled"
  expect_contains "$dom" 'keeper (profile_sites.c:' "the top sites name the keeper with file:line"
fi

rm -f "$shot"
"${browser[@]}" --screenshot="$shot" --window-size=1280,${SHOT_HEIGHT:-2000} "file://$page" >"$SCRATCH/shot.log" 2>&1
expect_status 0 $? "chromium --screenshot"
if [ -s "$shot" ] && [ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then
  pass "screenshot: $shot ($(wc -c <"$shot") bytes)"
else
  fail "no PNG screenshot at $shot"
fi

finish
