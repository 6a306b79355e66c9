"""``run_journal.py``'s figures: per-repetition ratios, the tables, and the targets.

Kept apart from the script so the measuring code stays short. Ratios are taken per repetition
(the same repetition of the other stack), then reported as median [min-max], like every scenario.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from _common import DASH, TIMES, column, fmt_range, median_text
from _single import summary as ms_summary

DIRECT, MEMORY, REDIS = "direct", "memory", "redis"
ORDER = ("b=1", "coalesced", "paced")


def _ratios(mine: list[dict[str, Any]], base: dict[int, float]) -> list[float]:
    return [
        r["events_per_s"] / base[r["rep"]]
        for r in mine
        if "events_per_s" in r and base.get(r["rep"])
    ]


def summarise(
    runs: list[dict[str, Any]], sizes: list[dict[str, Any]], resume_ms: dict[str, list[float]]
) -> dict[str, Any]:
    loads = []
    for mode in ORDER:
        of_mode = [r for r in runs if r["mode"] == mode]
        by_stack = {
            name: {
                r["rep"]: r["events_per_s"]
                for r in of_mode
                if r["stack"] == name and "events_per_s" in r
            }
            for name in (DIRECT, MEMORY)
        }
        for name in dict.fromkeys(r["stack"] for r in of_mode):
            mine = [r for r in of_mode if r["stack"] == name]
            loads.append(
                {
                    "mode": mode,
                    "stack": name,
                    "events_per_s": column(mine, "events_per_s"),
                    "ratio_vs_direct": _ratios(mine, by_stack[DIRECT]),
                    "ratio_vs_memory": _ratios(mine, by_stack[MEMORY]),
                    "server_cpu_us_per_event": column(mine, "server_cpu_us_per_event"),
                    "server_cpu_pct": column(mine, "server_cpu_pct"),
                    "lateness_ms_p50": column(mine, "lateness_ms_p50"),
                    "lateness_ms_p99": column(mine, "lateness_ms_p99"),
                    "lateness_ms_max": column(mine, "lateness_ms_max"),
                    "redis_commands_per_token": column(mine, "redis_commands_per_token"),
                    "redis_cpu_us_per_token": column(mine, "redis_cpu_us_per_token"),
                    "offered_events_per_s": mine[0]["streams"] * 20 if mode == "paced" else None,
                    "failed": sum(r["streams"] - r["ok_streams"] for r in mine),
                    "total": sum(r["streams"] for r in mine),
                    "failures": sorted({f for r in mine for f in r["failures"]}),
                }
            )
    resume = {name: ms_summary(ms) for name, ms in resume_ms.items() if ms}
    out = {"loads": loads, "bytes": sizes, "resume": resume}
    out["targets"] = targets(out)
    return out


def _row(summary: dict[str, Any], mode: str, stack: str) -> dict[str, Any] | None:
    return next((r for r in summary["loads"] if r["mode"] == mode and r["stack"] == stack), None)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the journal, its measured median, and whether the median meets it."""
    wanted = [
        (f"memory b=1 ≥ 0.85{TIMES} direct", "b=1", MEMORY, "ratio_vs_direct", 0.85, True),
        (
            f"memory coalesced ≥ 0.9{TIMES} direct",
            "coalesced",
            MEMORY,
            "ratio_vs_direct",
            0.9,
            True,
        ),
        ("paced memory p99 lateness ≤ 25 ms", "paced", MEMORY, "lateness_ms_p99", 25.0, False),
        (
            f"paced redis delivered ≥ 0.9{TIMES} memory",
            "paced",
            REDIS,
            "ratio_vs_memory",
            0.9,
            True,
        ),
        ("paced redis p99 lateness ≤ 50 ms", "paced", REDIS, "lateness_ms_p99", 50.0, False),
    ]
    out = []
    for text, mode, stack, key, bound, at_least in wanted:
        row = _row(summary, mode, stack)
        value = _median(row[key]) if row is not None else None
        met = None if value is None else (value >= bound if at_least else value <= bound)
        out.append({"target": text, "median": value, "met": met})
    return out


def report(summary: dict[str, Any], args: argparse.Namespace) -> str:
    out = [
        f"\n### Scenario journal: direct vs memory vs redis journal (fast {args.streams} "
        f"{TIMES} {args.events}, {args.reps} reps; paced {args.paced_streams:,} {TIMES} "
        f"{args.paced_events} at 20/s, {args.paced_reps} reps; median [min{DASH}max])\n",
        f"| load | stack | events/s | {TIMES} direct | {TIMES} memory | server CPU µs/event "
        "| lateness p50 / p99 / max ms | Redis commands/token | Redis CPU µs/token "
        "| failed streams |",
        "|---" * 10 + "|",
    ]
    for r in summary["loads"]:
        late = "—"
        if r["lateness_ms_p99"]:
            late = (
                f"{median_text(r['lateness_ms_p50'], 1)} / {fmt_range(r['lateness_ms_p99'], 1)}"
                f" / {median_text(r['lateness_ms_max'])}"
            )
        offered = f" ({r['offered_events_per_s']:,})" if r["offered_events_per_s"] else ""
        out.append(
            f"| {r['mode']} | {r['stack']} | {fmt_range(r['events_per_s'])}{offered} "
            f"| {_times(r['ratio_vs_direct'])} | {_times(r['ratio_vs_memory'])} "
            f"| {fmt_range(r['server_cpu_us_per_event'], 2)} | {late} "
            f"| {fmt_range(r['redis_commands_per_token'], 2)} "
            f"| {fmt_range(r['redis_cpu_us_per_token'], 1)} | {r['failed']:,} of {r['total']:,} |"
        )
    out += [
        "\nBytes of journal per finished stream (1,000 tokens):\n",
        "| backend | batches | entries | bytes | bytes/token | held in memory (objects) "
        "| Redis commands/token (one stream) |",
        "|---" * 7 + "|",
    ]
    for b in summary["bytes"]:
        if b["backend"] == MEMORY:
            out.append(
                f"| memory | {b['mode']} | {b['entries']:,} | {b['entry_bytes']:,} "
                f"| {b['entry_bytes_per_token']:.1f} | {b['resident_bytes']:,} "
                f"({b['resident_bytes_per_token']:.1f}/token) | — |"
            )
        else:
            out.append(
                f"| redis | {b['mode']} | {len(b['keys'])} keys | {b['memory_usage_bytes']:,} "
                f"| {b['memory_usage_bytes_per_token']:.1f} | (MEMORY USAGE) "
                f"| {b['commands_per_token_one_stream']:.2f} |"
            )
    out += [
        "\nResume (Last-Event-ID mid-stream of a finished 1,000-token run), connect to the "
        "first replayed text event:\n",
        "| stack | p50 ms | p99 ms | max ms | resumes |",
        "|---|---|---|---|---|",
    ]
    for name, s in summary["resume"].items():
        out.append(f"| {name} | {s['p50']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {s['n']} |")
    out += ["\nTargets (median):\n", "| target | measured | |", "|---|---|---|"]
    for t in summary["targets"]:
        value = "—" if t["median"] is None else f"{t['median']:.3g}"
        verdict = {True: "met", False: "missed", None: "not measured"}[t["met"]]
        out.append(f"| {t['target']} | {value} | {verdict} |")
    return "\n".join(out)


def _times(values: list[float]) -> str:
    return fmt_range(values, 3) + TIMES if values else "—"


__all__ = ["report", "summarise", "targets"]
