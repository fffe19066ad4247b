"""What the harness runs: the benchmarks with their arguments (full and quick), the
metrics each one reports and which direction is better, and the allocators."""
import os
import shutil
from dataclasses import dataclass, field

HIGHER = "higher"  # e.g. ops/s
LOWER = "lower"    # e.g. seconds, ns, kB
INFO = "info"      # reported, not compared (e.g. the live data size)


@dataclass
class Metric:
    name: str
    better: str
    unit: str  # "ops/s", "s", "ns", "kB", "Ir"


@dataclass
class Benchmark:
    name: str
    description: str
    argv: list            # full run; "{bench}" is the build's bench directory
    quick_argv: list      # BENCH_QUICK=1
    metrics: list
    timeout: float = 120  # seconds, per run
    source: str = "result"  # "result": RESULT lines; "wall": harness wall time; "gbench": JSON
    env: dict = field(default_factory=dict)
    quick: bool = True    # part of the BENCH_QUICK set


@dataclass
class Allocator:
    name: str
    preload: str  # "" for the system allocator


PEER_DIR = "/usr/lib/x86_64-linux-gnu"
PEERS = [("mimalloc", "libmimalloc.so.2"), ("jemalloc", "libjemalloc.so.2"),
         ("tcmalloc", "libtcmalloc_minimal.so.4")]


def allocators(build_dir, notes):
    """hakmem first (the reference of every ratio), then glibc, then the peers present."""
    result = [Allocator("hakmem", os.path.join(build_dir, "libhakmem.so")), Allocator("glibc", "")]
    for name, lib in PEERS:
        path = os.path.join(PEER_DIR, lib)
        if os.path.exists(path):
            result.append(Allocator(name, path))
        else:
            notes.append(f"{name} skipped: {path} is not installed")
    wanted = os.environ.get("BENCH_ALLOCATORS")
    if wanted:
        names = [w.strip() for w in wanted.split(",") if w.strip()]
        result = [a for a in result if a.name in names]
    return result


def python_binary():
    # The system interpreter, not a version-manager shim that would run (and be
    # preloaded into) a shell script first.
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


def benchmarks(source_dir):
    cores = os.cpu_count() or 2
    max_threads = max(cores, 4)
    ops = [Metric("ops_per_sec", HIGHER, "ops/s")]
    secs = [Metric("seconds", LOWER, "s")]
    b = []

    for t in range(1, max_threads + 1):
        b.append(Benchmark(
            f"larson-{t}t", f"Larson server simulation, {t} thread(s), sizes 8..1000 B",
            ["{bench}/larson", "3", "8", "1000", "5000", "100", "4141", str(t)],
            ["{bench}/larson", "1", "8", "1000", "5000", "100", "4141", str(t)],
            ops, quick=(t == 1 or t == max_threads)))
    b.append(Benchmark(
        "random_mixed", "1 thread, random sizes 16..1040 B over 8192 slots",
        ["{bench}/random_mixed", "30000000"], ["{bench}/random_mixed", "5000000"], ops))
    b.append(Benchmark(
        "prodcons", "xmalloc-test style: 2 producers -> queue -> 2 consumers (all frees remote)",
        ["{bench}/prodcons", "2", "2", "3"], ["{bench}/prodcons", "2", "2", "0.7"], ops))
    b.append(Benchmark(
        "churn", "mstress style: 4 threads x 300 generations pass memory on and exit",
        ["{bench}/churn", "4", "300", "5000"], ["{bench}/churn", "4", "60", "5000"], secs))
    b.append(Benchmark(
        "cache_thrash", f"Hoard active false sharing, {cores} threads, 8 B objects",
        ["{bench}/cache_thrash", str(cores), "1000", "8", "200000"],
        ["{bench}/cache_thrash", str(cores), "1000", "8", "40000"], secs))
    b.append(Benchmark(
        "cache_scratch", f"Hoard passive false sharing, {cores} threads, 8 B objects",
        ["{bench}/cache_scratch", str(cores), "1000", "8", "200000"],
        ["{bench}/cache_scratch", str(cores), "1000", "8", "40000"], secs))
    b.append(Benchmark(
        "malloc_simple", "glibc bench-malloc-simple style: batches of 100 of one size, ns per malloc+free",
        ["{bench}/malloc_simple", "0.5"], ["{bench}/malloc_simple", "0.1"],
        [Metric(f"ns_per_pair_{s}", LOWER, "ns") for s in (16, 128, 1024, 4096)]))
    for t in sorted({1, cores}):
        b.append(Benchmark(
            f"malloc_thread-{t}t", f"glibc bench-malloc-thread style, {t} thread(s), 4 B..32 KiB inverse-square",
            ["{bench}/malloc_thread", str(t), "3"], ["{bench}/malloc_thread", str(t), "0.5"], ops))
    b.append(Benchmark(
        "realloc_heavy", "growing 512 strings/vectors by realloc up to 256 KiB",
        ["{bench}/realloc_heavy", "5000000"], ["{bench}/realloc_heavy", "1000000"], ops))
    b.append(Benchmark(
        "large", "64 KiB..8 MiB blocks: malloc, memset, free (4 live)",
        ["{bench}/large", "6000"], ["{bench}/large", "1000"], ops))
    b.append(Benchmark(
        "frag_rss", "300k mixed blocks, free 90% randomly, allocate 75k of other sizes",
        ["{bench}/frag_rss", "300000"], ["{bench}/frag_rss", "100000"],
        [Metric("final_rss_kb", LOWER, "kB"), Metric("peak_rss_kb", LOWER, "kB"),
         Metric("live_kb", INFO, "kB"), Metric("seconds", LOWER, "s")]))
    b.append(Benchmark(
        "rss_after_free", "2 threads allocate ~900 MiB (16 B..64 KiB), free all (half remotely), idle 3 s",
        ["{bench}/rss_after_free", "900", "3"], ["{bench}/rss_after_free", "300", "1"],
        [Metric("rss_after_idle_kb", LOWER, "kB"), Metric("rss_after_free_kb", LOWER, "kB"),
         Metric("peak_rss_kb", LOWER, "kB")], timeout=240))
    # The retention scenarios of bench/rss_scenarios.cpp (see bench/README.md), one
    # benchmark each; BENCH_ONLY=rss_scenario runs all four.
    # Compared: the RSS at the end and the peak; the intermediate readings are shown only.
    rss = [Metric("final_rss_kb", LOWER, "kB"), Metric("peak_rss_kb", LOWER, "kB"),
           Metric("rss_after_free_kb", INFO, "kB"), Metric("baseline_rss_kb", INFO, "kB")]
    for letter, suffix, description, full, quick in (
            ("A", "remote_frees", "2 threads allocate ~900 MiB (16 B..16 KiB), 2 other threads free it all, "
             "all 4 allocate lightly for 3 s", ["900", "3"], ["150", "0.5"]),
            ("B", "no_calls", "1 thread allocates ~450 MiB, frees it all, then makes no allocator call for 1.5 s",
             ["450", "1.5"], ["100", "0.5"]),
            ("C", "exited_threads", "2 threads allocate ~450 MiB and exit, 2 others free it all and exit, "
             "main thread allocates lightly for 3 s", ["450", "3"], ["100", "0.5"]),
            ("D", "malloc_trim", "as C (light allocation for 1 s), then malloc_trim(0)",
             ["450", "1"], ["100", "0.3"])):
        metrics = rss if letter != "D" else rss + [Metric("rss_before_trim_kb", INFO, "kB")]
        b.append(Benchmark(
            f"rss_scenario-{letter.lower()}_{suffix}", f"{letter}: {description}",
            ["{bench}/rss_scenarios", letter] + full, ["{bench}/rss_scenarios", letter] + quick,
            metrics, timeout=120))
    b.append(Benchmark(
        "thread_footprint", "32 threads each keep 3 blocks in each of 40 sizes (16 B..16 KiB): RSS per thread",
        ["{bench}/thread_footprint", "32"], ["{bench}/thread_footprint", "8"],
        [Metric("kb_per_thread", LOWER, "kB"), Metric("kb_after_exit", INFO, "kB")]))
    b.append(Benchmark(
        "big_churn", "20 live buffers of 5..25 MiB, each replaced by a zero-filled new char[n]() (malloc-large)",
        ["{bench}/big_churn", "1200"], ["{bench}/big_churn", "200"],
        [Metric("seconds", LOWER, "s"), Metric("peak_rss_kb", LOWER, "kB")], timeout=120))
    b.append(Benchmark(
        "py_dict", "python3 dict/str-heavy script (PYTHONMALLOC=malloc), wall time",
        [python_binary(), os.path.join(source_dir, "workloads", "py_dict.py"), "1.0"],
        [python_binary(), os.path.join(source_dir, "workloads", "py_dict.py"), "0.2"],
        secs, source="wall", env={"PYTHONMALLOC": "malloc"}))
    b.append(Benchmark(
        "micro", "Google Benchmark: one malloc+free pair (cpu time)",
        ["{bench}/micro", "--benchmark_format=json", "--benchmark_min_time=0.3"],
        ["{bench}/micro", "--benchmark_format=json", "--benchmark_min_time=0.05"],
        [Metric(f"ns_malloc_free_{s}", LOWER, "ns") for s in (16, 64, 1024, 65536)]
        + [Metric("ns_new_delete_64", LOWER, "ns")], source="gbench"))
    return b
