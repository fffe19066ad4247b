"""Instructions per malloc+free pair under valgrind --tool=callgrind.

callgrind_pair runs N and then 2N pairs; (Ir(2N) - Ir(N)) / N is the cost of one pair
with start-up and first-touch slow paths cancelled out. Instruction counts are
deterministic, so this runs once per allocator rather than BENCH_RUNS times.

ir_per_pair_<size>: one other block of the size stays alive (the fair case: no allocator
retires its page on each free). ir_per_pair_<size>_alone: the pair's block is the only
one of its size, where mimalloc retires and re-initialises its page on every free."""
import os
import re
import shutil
import tempfile

from runner import run_program
from specs import LOWER, Benchmark, Metric

SIZES = (64, 1024)


def benchmark(quick):
    return Benchmark(
        "callgrind_pair", "instructions per malloc+free pair (valgrind callgrind, Ir)",
        [], [], [Metric(f"ir_per_pair_{s}{tag}", LOWER, "Ir") for s in SIZES for tag in ("", "_alone")],
        timeout=300)


def total_instructions(program, pairs, size, keep, preload, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", program, str(pairs), str(size),
                str(keep)]
        status, _, stderr, _, _ = run_program(argv, preload, {}, timeout)
        if status:
            raise RuntimeError(f"{status}: {stderr.strip().splitlines()[-1:] or ''}")
        with open(out) as f:
            match = re.search(r"^(?:summary|totals): (\d+)", f.read(), re.M)
        if not match:
            raise RuntimeError("no instruction total in the callgrind output")
        return int(match.group(1))


def measure(program, allocator, quick, timeout=300):
    """Returns ({metric: Ir per pair}, problem or "")."""
    if not shutil.which("valgrind"):
        return {}, "valgrind is not installed"
    pairs = 20000 if quick else 100000
    metrics = {}
    try:
        for size in SIZES:
            for keep, tag in ((1, ""), (0, "_alone")):
                one = total_instructions(program, pairs, size, keep, allocator.preload, timeout)
                two = total_instructions(program, 2 * pairs, size, keep, allocator.preload, timeout)
                metrics[f"ir_per_pair_{size}{tag}"] = (two - one) / pairs
    except RuntimeError as e:
        return metrics, str(e)
    return metrics, ""
