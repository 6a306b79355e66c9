"""Run every scenario, one after the other, and write one report: markdown, JSON and charts.

Scenarios (each its own script, run as a subprocess so a crash in one cannot leave servers of
another behind; never two at once): ``fast`` (run_fast.py), ``proxy`` (run_proxy.py: burst
upstream), ``proxy-paced`` (run_proxy.py --upstream paced: one event per upstream read), ``ttfe``
(run_ttfe.py), ``memory`` (run_memory.py), ``paced`` (run_paced.py: 2,500 and 5,000 streams at
20 events/s), ``slow-client`` (run_slow_client.py: 99 paced readers beside one that never reads),
``workers`` (run_workers.py: fast and paced on one and two workers), ``dialects``
(run_dialects.py: each stream dialect's render CPU per event against the native one).
``--quick`` is passed to each (a few minutes in all on a 2-core machine); without it the full
runs take about 20 minutes.

Writes to ``benchmarks/results/`` (git-ignored): ``all-<time>.md`` (every scenario's tables),
``all-<time>.json`` (each scenario's raw JSON, inlined) and, when matplotlib is importable,
``all-<time>-<chart>.png`` (throughput per stack, proxy throughput, time to first event,
memory per stream, lateness percentiles of paced streams). matplotlib is not a dependency:
without it the charts are skipped, with a note in the report.

Run: ``.venv/bin/python benchmarks/run_all.py [--quick] [--only fast,proxy,ttfe,...]``
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import HERE, RESULTS, machine

SCENARIOS = {
    "fast": ["run_fast.py", "--reps", "3"],
    "proxy": ["run_proxy.py"],
    "proxy-paced": ["run_proxy.py", "--upstream", "paced"],
    "ttfe": ["run_ttfe.py"],
    "memory": ["run_memory.py"],
    "paced": ["run_paced.py", "--reps", "2"],
    "slow-client": ["run_slow_client.py"],
    "workers": ["run_workers.py"],
    "dialects": ["run_dialects.py"],
}
TIMEOUTS = {"fast": 900, "proxy": 900, "proxy-paced": 900, "ttfe": 300, "memory": 900}
TIMEOUTS |= {"paced": 900, "slow-client": 300, "workers": 600, "dialects": 120}
_RAW = re.compile(r"Raw results: (\S+\.json)")


def run(name: str, quick: bool) -> tuple[str, dict[str, Any] | None, int]:
    """(markdown the scenario printed, its raw JSON, exit status)."""
    script, *extra = SCENARIOS[name]
    # --quick is a smoke run: no waiting for idle cores between runs either.
    cmd = [sys.executable, str(HERE / script), *extra]
    cmd += ["--quick", "--no-quiet-wait"] if quick else []
    print(f"## {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            cmd, stdout=subprocess.PIPE, text=True, timeout=TIMEOUTS[name], check=False
        )
    except subprocess.TimeoutExpired:
        return f"\n{name}: timed out after {TIMEOUTS[name]} s\n", None, 124
    out = done.stdout + f"\n({name}: {time.monotonic() - t0:.0f} s)\n"
    raw = None
    match = _RAW.search(out)
    if match and Path(match.group(1)).exists():
        raw = json.loads(Path(match.group(1)).read_text())
    if done.returncode != 0:
        out += f"\n{name}: exit status {done.returncode}\n"
    return out, raw, done.returncode


def _pairs(plt: Any, stem: Path, name: str, labels: list[str], series: dict[str, list[float]],
           title: str, log: bool = False) -> list[str]:  # fmt: skip
    """Side-by-side bars per label (e.g. p50 beside p99), in ms; the PNG written, if any."""
    if not labels:
        return []
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(labels)), 3.8))
    xs = range(len(labels))
    width = 0.8 / len(series)
    for i, (key, values) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        bars = ax.bar([x + offset for x in xs], values, width, label=key)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
    ax.set_xticks(list(xs), labels, rotation=15)
    if log:
        ax.set_yscale("symlog", linthresh=1.0)  # 0 ms stays drawable
    ax.set_ylabel("ms (log above 1)" if log else "ms")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path = stem.parent / f"{stem.name}-{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [str(path)]


def charts(raw: dict[str, Any], stem: Path) -> list[str]:
    """PNG charts from the raw results; returns notes (files written, or why none)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["Charts skipped: matplotlib is not installed (it is optional)."]
    import statistics

    written: list[str] = []

    def bar(name: str, labels: list[str], values: list[float], title: str, unit: str,
            log: bool = False) -> None:  # fmt: skip
        if not labels:
            return
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(labels) + 1.5))
        ax.barh(labels, values, color="#4c72b0")
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(unit)
        ax.set_title(title)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:,.3g}", va="center", fontsize=8)
        fig.tight_layout()
        path = stem.parent / f"{stem.name}-{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(str(path))

    if fast := raw.get("fast"):
        rows = fast["summary"]
        bar(
            "fast",
            [r["stack"] for r in rows],
            [statistics.median(r["events_per_s"]) for r in rows],
            "fast: events/s, one worker (median)",
            "events/s (log)",
            log=True,
        )
    for key in ("proxy", "proxy-paced"):
        if proxy := raw.get(key):
            rows = proxy["summary"]
            bar(
                key,
                [f"{r['stack']} ({r['load']})" for r in rows],
                [statistics.median(r["events_per_s"]) for r in rows],
                f"{key}: events/s through the gateway (median)",
                "events/s (log)",
                log=True,
            )
    if ttfe := raw.get("ttfe"):
        names = list(ttfe["summary"])
        series = {q: [ttfe["summary"][n][q] for n in names] for q in ("p50", "p99")}
        title = "ttfe: time to first event, single requests"
        written += _pairs(plt, stem, "ttfe", names, series, title)
    if paced := raw.get("paced"):
        rows = [r for r in paced["summary"] if r["lateness_ms_p99"]]
        series = {
            q: [statistics.median(r[f"lateness_ms_{q}"]) for r in rows] for q in ("p50", "p99")
        }
        written += _pairs(
            plt,
            stem,
            "lateness",
            [f"{r['stack']} @ {r['streams']:,}" for r in rows],
            series,
            "paced: lateness percentiles per stack and size (20 events/s per stream, median)",
            log=True,
        )
    if memory := raw.get("memory"):
        runs = memory["runs"]
        top = max((r["streams"] for r in runs), default=0)
        sel = [r for r in runs if r["streams"] == top]
        bar(
            "memory",
            [r["stack"] for r in sel],
            [r["kib_per_stream"] for r in sel],
            f"memory: KiB of RSS per held idle stream at {top:,} streams",
            "KiB per stream",
        )
    return [f"Chart: {p}" for p in written]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every scenario's --quick mode")
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    ap.add_argument("--charts-from", help=argparse.SUPPRESS)  # redraw charts from an all-*.json
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.charts_from:
        src = Path(args.charts_from)
        print("\n".join(charts(json.loads(src.read_text())["raw"], src.with_suffix(""))))
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stem = RESULTS / f"all-{stamp}"
    names = [n for n in args.only.split(",") if n in SCENARIOS]
    parts = [
        f"# aichatflow benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}"
        f"{' (--quick)' if args.quick else ''}"
    ]
    raw: dict[str, Any] = {}
    status = 0
    t0 = time.monotonic()
    for name in names:
        out, data, rc = run(name, args.quick)
        parts.append(out.strip())
        if data is not None:
            raw[name] = data
        status = status or rc
    parts += charts(raw, stem)
    parts.append(f"Total time: {time.monotonic() - t0:.0f} s.")
    report = "\n\n".join(parts) + "\n"
    (stem.with_suffix(".md")).write_text(report)
    (stem.with_suffix(".json")).write_text(
        json.dumps({"machine": machine(), "quick": args.quick, "raw": raw}, indent=1)
    )
    print(report)
    print(f"Written: {stem}.md, {stem}.json")
    sys.exit(status)


if __name__ == "__main__":
    main()
