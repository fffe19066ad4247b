#!/usr/bin/env bash
# Runs the memory tests' reference builds (same logic, not linked to hakmem) under the
# system malloc (glibc) and, when installed, under jemalloc with immediate purging
# (dirty/muzzy decay 0), to show which bounds an allocator can meet.
#   bash tests/memory/run_reference.sh [BUILD_DIR]
set -u
build=${1:-build}
dir="$build/tests/memory"
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
status=0
for t in "exited_threads" "malloc_trim exited" "malloc_trim idle" "idle_after_free" "retention_stress"; do
  set -- $t
  echo "=== $t: glibc"
  "$dir/hakmem_memory_$1_system" ${2:-} | tail -n 4 || status=1
  if [ -e "$jemalloc" ]; then
    echo "=== $t: jemalloc, decay 0"
    MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0 LD_PRELOAD=$jemalloc "$dir/hakmem_memory_$1_system" ${2:-} | tail -n 4 || status=1
  fi
done
exit $status
