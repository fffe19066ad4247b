"""Runs one benchmark program once under one allocator and collects its figures.

Peak RSS is the kernel's maximum resident set size of the benchmark process, measured
by GNU time (`/usr/bin/time -f %M`, Debian package `time`). Without it the harness falls
back to its own child's rusage (os.wait4), which cannot go below the harness's own RSS
(a child's maxrss starts from the process it was forked from), so small figures are
then floored at ~20 MiB; the report says which method was used."""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

RESULT_LINE = re.compile(r"^RESULT (\w+)=(\S+)$", re.M)


@dataclass
class RunResult:
    ok: bool
    metrics: dict = field(default_factory=dict)
    wall: float = 0.0
    peak_rss_kb: int = 0
    problem: str = ""       # why the run failed
    stderr_tail: str = ""


def environment(preload, extra):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    env.update(extra)
    return env


def describe_status(status, timed_out, timeout):
    if timed_out:
        return f"timed out after {timeout:.0f} s"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    code = os.WEXITSTATUS(status)
    return "" if code == 0 else f"exit status {code}"


GNU_TIME = "/usr/bin/time"


def rss_method():
    return "GNU time %M" if os.path.exists(GNU_TIME) else "wait4 ru_maxrss (floored at the harness's RSS)"


def run_program(argv, preload, extra_env, timeout):
    """Returns (status description or "", stdout, stderr, wall seconds, peak RSS kB)."""
    env = environment(preload, extra_env)
    use_time = os.path.exists(GNU_TIME)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss_file:
        if use_time:
            # time itself runs without the preload; env puts it back for the benchmark.
            preload_arg = [f"LD_PRELOAD={preload}"] if preload else ["-u", "LD_PRELOAD"]
            argv = [GNU_TIME, "-f", "%M", "-o", rss_file.name, "env"] + preload_arg + list(argv)
            env.pop("LD_PRELOAD", None)
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        described = describe_status(status, timed_out.is_set(), timeout)
        rss = usage.ru_maxrss
        if use_time:
            report = rss_file.read().strip().splitlines()
            signaled = [l for l in report if l.startswith("Command terminated by signal")]
            if signaled and not timed_out.is_set():
                sig = int(signaled[0].split()[-1])
                described = f"killed by signal {sig} ({signal.Signals(sig).name})"
            rss = int(report[-1]) if report and report[-1].isdigit() else 0
    return described, stdout, stderr, wall, rss


def parse_gbench(stdout):
    metrics = {}
    data = json.loads(stdout)
    for entry in data.get("benchmarks", []):
        name = entry["name"]  # e.g. BM_malloc_free/16
        scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[entry.get("time_unit", "ns")]
        base, _, arg = name.partition("/")
        metrics["ns_" + base[len("BM_"):] + "_" + arg] = entry["cpu_time"] * scale
    return metrics


def run_benchmark(bench, argv, preload):
    status, stdout, stderr, wall, rss = run_program(argv, preload, bench.env, bench.timeout)
    result = RunResult(ok=False, wall=wall, peak_rss_kb=rss,
                       stderr_tail="\n".join(stderr.strip().splitlines()[-15:]))
    if status:
        result.problem = status
        return result
    try:
        if bench.source == "wall":
            metrics = {"seconds": wall}
        elif bench.source == "gbench":
            metrics = parse_gbench(stdout)
        else:
            metrics = {k: float(v) for k, v in RESULT_LINE.findall(stdout)}
    except (ValueError, KeyError) as e:
        result.problem = f"unreadable output ({e})"
        return result
    missing = [m.name for m in bench.metrics if m.name not in metrics]
    if missing:
        result.problem = "no value for " + ", ".join(missing)
        return result
    result.ok = True
    result.metrics = metrics
    return result
