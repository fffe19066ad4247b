#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building, testing and benchmarking
# hakmem. Runs apt-get only when something is missing and we are root; otherwise it
# says what is missing and carries on (targets that need it skip with a note).
set -euo pipefail

packages=(
  cmake g++ clang make pkg-config git python3 sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  valgrind spin gnuplot-nox libclang-rt-14-dev
  libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev
  chromium time glibc-source
  nlohmann-json3-dev libdw-dev libunwind8
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "bootstrap: not root (or no apt-get); missing packages: ${missing[*]}" >&2
  echo "bootstrap: the build needs cmake and g++; tests and peers that need the rest are skipped" >&2
fi
