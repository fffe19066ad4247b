#!/usr/bin/env bash
# python3 with threads gives the same output with hakmem preloaded: once with pymalloc
# (small objects in Python's own arenas) and once with PYTHONMALLOC=malloc, where every
# object goes through malloc/realloc/free, and once more in guard mode.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/common.sh" "$1"
PY=${PYTHON:-python3}
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3  # the distribution's, not a shim script
need "$PY"
assert_preloaded
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1

same_output python-pymalloc "$PY" "$HERE/python_threads.py"
PYTHONMALLOC=malloc same_output python-malloc "$PY" "$HERE/python_threads.py"
PYTHONMALLOC=malloc PRELOAD_ENV="HAKMEM_GUARD=1 HAKMEM_TINY_FAST_CAP=0" \
  same_output python-malloc-guard "$PY" "$HERE/python_threads.py"

# The interpreter really allocates through hakmem: hak_owns() says so for a buffer
# that ctypes gets from malloc.
owned=$(LD_PRELOAD="$LIB" "$PY" -c '
import ctypes
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.hak_owns.argtypes = [ctypes.c_void_p]
p = libc.malloc(1000)
print(libc.hak_owns(p))
libc.free(ctypes.c_void_p(p))
')
[ "$owned" = 1 ] || fail "malloc in a preloaded python3 is not hakmem's (hak_owns says $owned)"
echo "ok: python3 mallocs through hakmem"
