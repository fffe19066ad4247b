"""bench/run.sh's engine: every benchmark under every allocator, BENCH_RUNS times,
interleaved (each round runs every benchmark under every allocator once), then the
report. Usage: main.py BUILD_DIR. See bench/README.md for the environment variables."""
import datetime
import os
import platform
import subprocess
import sys

import callgrind
import report
import specs
from runner import RunResult, rss_method, run_benchmark

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_SRC = os.path.dirname(HERE)


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def env_flag(name):
    return os.environ.get(name, "0") not in ("", "0", "no", "false")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_versions():
    names = ["libmimalloc2.0", "libjemalloc2", "libtcmalloc-minimal4", "libc6"]
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\\n"] + names,
                             capture_output=True, text=True).stdout
        return ", ".join(out.split("\n")).strip(", ")
    except OSError:
        return "unknown"


def machine_info():
    mem_kb = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    revision = subprocess.run(["git", "-C", BENCH_SRC, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})",
        "memory": f"{mem_kb // 1024} MiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "packages": package_versions(),
        "hakmem revision": revision,
    }


def selected(benches):
    only = os.environ.get("BENCH_ONLY")
    if not only:
        return benches
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    return [b for b in benches if any(b.name == w or b.name.startswith(w + "-") for w in wanted)]


def main():
    if len(sys.argv) != 2:
        print("usage: main.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    bench_bin = os.path.join(build, "bench")
    quick = env_flag("BENCH_QUICK")
    runs = int(os.environ.get("BENCH_RUNS", "1" if quick else "5"))
    out_dir = os.path.abspath(os.environ.get("BENCH_OUT", os.path.join(BENCH_SRC, "results")))
    notes = []

    allocators = specs.allocators(build, notes)
    hakmem = next((a for a in allocators if a.name == "hakmem"), None)
    if hakmem and not os.path.exists(hakmem.preload):
        log(f"error: {hakmem.preload} does not exist (build the project first)")
        return 2
    benches = [b for b in selected(specs.benchmarks(BENCH_SRC)) if not quick or b.quick]
    runnable = []
    for b in benches:
        program = b.argv[0].replace("{bench}", bench_bin)
        if os.path.exists(program):
            runnable.append(b)
        else:
            notes.append(f"{b.name} skipped: {program} is not built")
    benches = runnable
    for n in notes:
        log(n)
    log(f"{'quick' if quick else 'full'} mode: {len(benches)} benchmarks x {len(allocators)} allocators "
        f"({', '.join(a.name for a in allocators)}) x {runs} runs")

    load_start = os.getloadavg()[0]
    results = {}
    for run in range(1, runs + 1):
        for bench in benches:
            argv = [a.replace("{bench}", bench_bin) for a in (bench.quick_argv if quick else bench.argv)]
            for alloc in allocators:
                log(f"{bench.name} {alloc.name} run {run}/{runs}")
                r = run_benchmark(bench, argv, alloc.preload)
                if not r.ok:
                    log(f"FAILED {bench.name} under {alloc.name} (run {run}): {r.problem}")
                    if r.stderr_tail:
                        print(r.stderr_tail, file=sys.stderr, flush=True)
                results.setdefault(bench.name, {}).setdefault(alloc.name, []).append(r)

    cg_program = os.path.join(bench_bin, "callgrind_pair")
    if not env_flag("BENCH_NO_CALLGRIND") and (not os.environ.get("BENCH_ONLY") or selected(
            [callgrind.benchmark(quick)])) and os.path.exists(cg_program):
        cg = callgrind.benchmark(quick)
        benches.append(cg)
        for alloc in allocators:
            log(f"{cg.name} {alloc.name} (valgrind)")
            metrics, problem = callgrind.measure(cg_program, alloc, quick)
            if problem:
                log(f"FAILED {cg.name} under {alloc.name}: {problem}")
            results.setdefault(cg.name, {})[alloc.name] = [RunResult(ok=not problem, metrics=metrics, problem=problem)]

    rows = report.summarize(benches, allocators, results)
    print("\n".join(report.table_lines(benches, rows)))
    print("\n".join(report.overview_lines(rows, allocators)))

    os.makedirs(out_dir, exist_ok=True)
    settings = {"mode": "quick (BENCH_QUICK=1: smoke test, short runs, not for comparison)" if quick else "full",
                "runs per benchmark and allocator": runs,
                "peak RSS measured with": rss_method(),
                "allocators": ", ".join(f"{a.name} ({a.preload or 'system'})" for a in allocators)}
    report.write_csv(os.path.join(out_dir, "latest.csv"), rows)
    report.write_runs_csv(os.path.join(out_dir, "latest_runs.csv"), benches, results)
    machine = machine_info()
    # Other work on the machine skews every figure; say how busy it was.
    machine["load average (1 min) at start / end"] = f"{load_start:.2f} / {os.getloadavg()[0]:.2f}"
    if max(load_start, os.getloadavg()[0]) > 0.5 * (os.cpu_count() or 1):
        notes.append("the machine was busy with other work during the run; figures are noisy")
    report.write_markdown(os.path.join(out_dir, "latest.md"), benches, rows, allocators, machine,
                          settings, notes)
    title = f"hakmem vs peers ({'quick' if quick else 'full'} run, {runs} run(s), median)"
    problem = report.write_svg(os.path.join(out_dir, "latest.svg"), rows, allocators, title)
    if problem:
        log(problem)
    log(f"wrote {out_dir}/latest.csv, latest_runs.csv, latest.md" + ("" if problem else ", latest.svg"))

    hakmem_failures = [f"{b}: {r.problem}" for b, per in results.items() for r in per.get("hakmem", []) if not r.ok]
    if hakmem_failures:
        log(f"hakmem failed {len(hakmem_failures)} run(s): " + "; ".join(hakmem_failures[:5]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
