"""Turns the runs into figures: medians, the stdout tables, latest.csv, latest.md and the
gnuplot chart latest.svg. hakmem is the reference of every ratio."""
import csv
import math
import os
import shutil
import statistics
import subprocess
from dataclasses import dataclass

from specs import HIGHER, INFO, LOWER

REFERENCE = "hakmem"
SAME_BAND = 0.03  # within 3% counts as the same


@dataclass
class Row:
    benchmark: str
    allocator: str
    metric: str
    better: str
    unit: str
    values: list
    peak_rss: list
    runs: int
    problems: list

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    @property
    def peak_rss_kb(self):
        return statistics.median(self.peak_rss) if self.peak_rss else None


def summarize(benches, allocators, results):
    """results[bench][allocator] = list of RunResult. One Row per metric and allocator."""
    rows = []
    for bench in benches:
        for alloc in allocators:
            runs = results.get(bench.name, {}).get(alloc.name, [])
            if not runs:
                continue
            good = [r for r in runs if r.ok]
            problems = [r.problem for r in runs if not r.ok]
            for metric in bench.metrics:
                rows.append(Row(bench.name, alloc.name, metric.name, metric.better, metric.unit,
                                [r.metrics[metric.name] for r in good if metric.name in r.metrics],
                                [r.peak_rss_kb for r in good if r.peak_rss_kb], len(runs), problems))
    return rows


def performance(row, reference):
    """How much better than hakmem (> 1) or worse (< 1) this row is, or None."""
    if row.better == INFO or row.median is None or reference is None or reference.median is None:
        return None
    if row.median <= 0 or reference.median <= 0:
        return None
    ratio = row.median / reference.median
    return ratio if row.better == HIGHER else 1 / ratio


def fmt(value, unit):
    if value is None:
        return "-"
    if unit == "ops/s":
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if value >= scale:
                return f"{value / scale:.2f}{suffix}"
        return f"{value:.0f}"
    if unit == "kB":
        return f"{value / 1024:.1f}Mi"
    if unit == "s":
        return f"{value:.3f}"
    return f"{value:.1f}"


def fmt_rss(kb):
    return "-" if kb is None else f"{kb / 1024:.1f} MiB"


def verdict(row, reference):
    if row.allocator == REFERENCE:
        return "reference"
    perf = performance(row, reference)
    if perf is None:
        return "-"
    if perf > 1 + SAME_BAND:
        return f"{row.allocator} better"
    if perf < 1 - SAME_BAND:
        return "hakmem better"
    return "same (within 3%)"


def grouped(rows):
    """{(benchmark, metric): {allocator: row}} in first-seen order."""
    groups = {}
    for row in rows:
        groups.setdefault((row.benchmark, row.metric), {})[row.allocator] = row
    return groups


def unit_word(row):
    return {"ops/s": "ops/s", "s": "seconds", "ns": "ns", "kB": "RSS", "Ir": "instructions"}[row.unit]


def table_lines(benches, rows, markdown=False):
    lines = []
    descriptions = {b.name: b.description for b in benches}
    for (bench, metric), by_alloc in grouped(rows).items():
        any_row = next(iter(by_alloc.values()))
        direction = {HIGHER: "higher is better", LOWER: "lower is better", INFO: "information only"}[any_row.better]
        reference = by_alloc.get(REFERENCE)
        head = f"{bench}: {descriptions.get(bench, '')} -- {metric} ({unit_word(any_row)}, {direction}; " \
               f"ratio = allocator / hakmem)"
        header = ["allocator", "median", "min", "max", "peak RSS", "ratio", "verdict"]
        body = []
        for alloc, row in by_alloc.items():
            ratio = "-"
            if reference and reference.median and row.median is not None:
                ratio = f"{row.median / reference.median:.2f}"
            cells = [alloc, fmt(row.median, row.unit), fmt(min(row.values) if row.values else None, row.unit),
                     fmt(max(row.values) if row.values else None, row.unit), fmt_rss(row.peak_rss_kb), ratio,
                     verdict(row, reference)]
            if row.problems:
                cells[-1] = f"FAILED {len(row.problems)}/{row.runs}: {row.problems[0]}"
            body.append(cells)
        if markdown:
            lines.append(f"### {head}\n")
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines.extend("| " + " | ".join(c) + " |" for c in body)
        else:
            lines.append("== " + head)
            widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
            for r in [header] + body:
                lines.append("  " + "  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                                              for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        lines.append("")
    return lines


def overview_lines(rows, allocators, markdown=False):
    """One line per compared metric: each allocator's performance relative to hakmem
    (> 1.00 means that allocator beat hakmem), and their geometric means."""
    names = [a.name for a in allocators]
    header = ["benchmark:metric"] + names
    body, logs = [], {n: [] for n in names}
    for (bench, metric), by_alloc in grouped(rows).items():
        reference = by_alloc.get(REFERENCE)
        if next(iter(by_alloc.values())).better == INFO:
            continue
        cells = [f"{bench}:{metric}"]
        for n in names:
            row = by_alloc.get(n)
            perf = performance(row, reference) if row else None
            cells.append("-" if perf is None else f"{perf:.2f}")
            if perf:
                logs[n].append(math.log(perf))
        body.append(cells)
    body.append(["geometric mean"] + [f"{math.exp(sum(v) / len(v)):.2f}" if v else "-" for n, v in logs.items()])
    title = "Overview: performance relative to hakmem (hakmem = 1.00; above 1 = that allocator did better)"
    if markdown:
        lines = [f"### {title}\n", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines.extend("| " + " | ".join(c) + " |" for c in body)
    else:
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        lines = ["== " + title]
        lines.extend("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [header] + body)
    return lines + [""]


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["benchmark", "allocator", "metric", "median", "min", "max", "peak_rss_kb"])
        for row in rows:
            num = lambda v: "" if v is None else f"{v:.6g}"
            w.writerow([row.benchmark, row.allocator, row.metric, num(row.median),
                        num(min(row.values) if row.values else None), num(max(row.values) if row.values else None),
                        "" if row.peak_rss_kb is None else f"{row.peak_rss_kb:.0f}"])


def write_runs_csv(path, benches, results):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["benchmark", "allocator", "run", "ok", "metric", "value", "peak_rss_kb", "wall_s", "problem"])
        for bench in benches:
            for alloc, runs in results.get(bench.name, {}).items():
                for i, r in enumerate(runs, 1):
                    for m in bench.metrics:
                        w.writerow([bench.name, alloc, i, int(r.ok), m.name, r.metrics.get(m.name, ""),
                                    r.peak_rss_kb, f"{r.wall:.3f}", r.problem])


def write_markdown(path, benches, rows, allocators, machine, settings, notes):
    lines = ["# hakmem benchmark results", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    lines += ["", "Each figure is the median of the runs (min and max beside it); peak RSS is the median "
              "of the runs' maximum resident set size (kernel rusage of the benchmark process). "
              "ratio = allocator's median / hakmem's median; whether higher or lower is better is "
              "stated per metric. The chart `latest.svg` shows every allocator's performance relative "
              "to hakmem, oriented so that a bar above 1 means that allocator did better than hakmem.", ""]
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    lines += overview_lines(rows, allocators, markdown=True)
    lines += ["## Per benchmark", ""] + table_lines(benches, rows, markdown=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_svg(path, rows, allocators, title):
    """Clustered bars of log2(performance relative to hakmem), one cluster per metric."""
    if not shutil.which("gnuplot"):
        return "gnuplot is not installed; no chart"
    peers = [a.name for a in allocators if a.name != REFERENCE]
    data = []
    for (bench, metric), by_alloc in grouped(rows).items():
        reference = by_alloc.get(REFERENCE)
        if next(iter(by_alloc.values())).better == INFO or not peers:
            continue
        label = bench if sum(1 for (b, _) in grouped(rows) if b == bench) == 1 else f"{bench}:{metric}"
        cells = []
        for n in peers:
            perf = performance(by_alloc[n], reference) if n in by_alloc else None
            cells.append("?" if not perf else f"{max(-4.0, min(4.0, math.log2(perf))):.4f}")
        data.append(f'"{label}" ' + " ".join(cells))
    if not data or all(set(line.split()[1:]) <= {"?"} for line in data):
        return "nothing to chart (no hakmem figure to compare with); no chart written"
    data_path = path + ".dat"
    with open(data_path, "w") as f:
        f.write("\n".join(data) + "\n")
    width = max(900, 60 + 34 * len(data) * max(1, len(peers)) // 2)
    plots = ", ".join(f"'{data_path}' using {i + 2}{':xtic(1)' if i == 0 else ''} title '{n}'"
                      for i, n in enumerate(peers))
    script = f"""
set terminal svg size {width},620 dynamic noenhanced font "sans,11" background rgb "white"
set output '{path}'
set title "{title}"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set xtics rotate by 45 right scale 0 font ",10" nomirror
set ytics ("1/16" -4, "1/8" -3, "1/4" -2, "1/2" -1, "1 (= hakmem)" 0, "2" 1, "4" 2, "8" 3, "16" 4)
set yrange [-4.3:4.3]
set ylabel "performance relative to hakmem (above 1 = better than hakmem; log scale, clamped)"
set grid ytics
set xzeroaxis linetype -1 linewidth 1.5
set key top right
set bmargin 12
plot {plots}
"""
    result = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    os.remove(data_path)
    if result.returncode != 0:
        return "gnuplot failed: " + result.stderr.strip()[-300:]
    return ""
