"""Scenario ``paced``: thousands of streams at 20 events/s each, like users reading an LLM.

What it answers (target 3): at 2,500 and 5,000 concurrent streams, each one event every
50 ms, how many events per second one worker delivers of the ``streams x 20`` offered, at what
server CPU, and how late the events arrive, beside the Go design and raw uvicorn *in the same
run*. Target: at 5,000 streams aichatflow delivers at least Go's events/s with a lower p99
lateness; at 2,500 its p99 lateness is <= 20 ms.

Stacks (one worker pinned to CPU 0, ``GOMAXPROCS=1`` for Go; the load generator on CPU 1):

* ``go``: ``baselines/go/main.go?interval_ms=50``: the provider goroutine sleeps until token i
  is due (t0 + i x 50 ms) and sends it into the unbuffered channel at once when late; the handler
  writes and flushes every token on its own. Skipped with a note when Go is not installed;
* ``uvicorn_raw``: ``baselines/uvicorn_raw.py?interval_ms=50``: the same schedule in the ASGI
  callable, one ``send`` per event;
* ``aichatflow``: ``aichatflow serve`` with a mock provider ``tokens_per_second = 20``,
  ``first_token_ms = 0``, ``burst = 1`` (model ``paced/x``). The mock's pacing is schedule-based
  too, but a late pull gets every due token in one batch, i.e. one frame and one write;
* ``aichatflow (granian)``: the same, ``aichatflow serve --server granian``.

Figures, per stack and size (median [min-max] over the repetitions; repetitions alternate the
order of the stacks):

* delivered events/s: text deltas of streams that passed every check / wall time (first connect
  to last terminator, the connect ramp included), beside the offered ``streams x 20``;
* server CPU %: utime+stime of the server process (``/proc``) over wall time; load generator
  CPU %: its own (it must not be the bottleneck; the report says when it used more CPU
  than the server);
* lateness p50 / p99 / max (ms), over every delivered delta of every passing stream. Per delta,
  arrival time minus schedule, where the schedule of delta k (0-based) is
  ``t_first + k x 50 ms`` and ``t_first`` is the arrival of the stream's first text delta; a
  frame that carries several coalesced deltas gives each of them the frame's arrival time (the
  time of the socket read that completed it); negative lateness counts as 0. So a stream that
  falls behind and catches up in one batch is late by how long its deltas waited;
* TTFE p50 / p99: connect to the first text frame, under the load;
* failed streams: any stream whose text is not exactly the expected text (or cut, or no
  ``done``); the script exits 1 when a stack has any.

Connects are spread over ``streams / 5,000`` s (1 s at 5,000: a burst of SYNs would overflow the
listen backlogs), and the soft ``RLIMIT_NOFILE`` is raised to the hard limit (inherited).

Run: ``.venv/bin/python benchmarks/run_paced.py`` (2,500 and 5,000 streams x 200 events, 3
repetitions, about 6 minutes) or ``--quick`` (500 and 1,000 streams x 60 events, 1 repetition,
under a minute).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import (
    CLIENT_CPU,
    DASH,
    SERVER_CPU,
    TIMES,
    Server,
    column,
    finish,
    fmt_range,
    machine,
    median_text,
    pin_self,
    raise_nofile,
    run_loadgen,
    save,
    scenario_parser,
    wait_quiet,
)
from _stacks import GRANIAN, aichatflow_server, baseline_server

STACKS = ["go", "uvicorn_raw", "aichatflow", "aichatflow" + GRANIAN]
GO = "go"
INTERVAL_MS = 50
RATE = 1000 // INTERVAL_MS
"""Events per second of each stream."""
MODEL = "paced/x"
QUIET_S = 3.0
"""How long to wait for idle cores before a run (shorter than other scenarios: 18 runs)."""


def make_server(name: str, tmp: Path, notes: list[str]) -> Server | None:
    if name.startswith("aichatflow"):
        return aichatflow_server(name, tmp, SERVER_CPU, provider="paced", tokens_per_second=RATE)
    return baseline_server(name, tmp, notes, SERVER_CPU)


def path_of(name: str) -> str:
    return "/api/chat" if name.startswith("aichatflow") else f"/api/chat?interval_ms={INTERVAL_MS}"


def measure(server: Server, name: str, streams: int, events: int) -> dict[str, Any]:
    """One paced load; a load generator that failed counts as every stream failed."""
    ramp = streams / 5000
    limit = events * INTERVAL_MS / 1000 + ramp + 60
    try:
        return run_loadgen(
            server,
            path_of(name),
            *("--streams", streams, "--events", events, "--model", MODEL),
            *("--interval-ms", INTERVAL_MS, "--ramp-s", ramp, "--timeout", limit),
            timeout=limit + 120,
        )
    except Exception as exc:
        return {"streams": streams, "ok_streams": 0, "failures": [f"load generator: {exc}"[:300]]}


def alive(server: Server, name: str, notes: list[str]) -> Server:
    """``server``, or a fresh one when it died (noted with the tail of its log: evidence)."""
    assert server.proc is not None
    code = server.proc.poll()
    if code is None:
        return server
    notes.append(f"{name}: the server exited with status {code}; restarted. Log: {server.tail()}")
    return server.start()


def run_all(args: argparse.Namespace, tmp: Path, notes: list[str]) -> list[dict[str, Any]]:
    servers: dict[str, Server] = {}
    runs: list[dict[str, Any]] = []
    try:
        for name in args.stacks.split(","):
            server = make_server(name, tmp, notes)
            if server is not None:
                servers[name] = server.start()
                measure(servers[name], name, 50, 20)  # warm-up: imports, caches; not recorded
        names = list(servers)
        for size in args.sizes:
            for rep in range(args.reps):
                shift = rep % len(names)
                for name in names[shift:] + names[:shift]:
                    servers[name] = alive(servers[name], name, notes)
                    busy = 0.0 if args.no_quiet_wait else wait_quiet(timeout=QUIET_S)
                    r = measure(servers[name], name, size, args.events)
                    r.update(stack=name, size=size, rep=rep, background_busy_pct=busy)
                    runs.append(r)
                    print(progress(r), file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return runs


def progress(r: dict[str, Any]) -> str:
    if "events_per_s" not in r:
        return f"  {r['stack']:12} {r['size']:>6} streams: FAILED {r['failures']}"
    return (
        f"  {r['stack']:12} {r['size']:>6} streams: {r['events_per_s']:>9,.0f} ev/s, "
        f"server {r['server_cpu_pct']:.0f} %, loadgen {r['loadgen_cpu_pct']:.0f} %, "
        f"lateness p99 {r['lateness_ms_p99'] or 0:,.1f} ms, "
        f"ok {r['ok_streams']}/{r['streams']} (busy before: {r['background_busy_pct']:.0f} %)"
    )


def _vs_go(mine: list[dict[str, Any]], go: dict[int, dict[str, Any]], key: str) -> list[float]:
    """Per repetition: this stack's ``key`` over Go's in the same repetition."""
    pairs = [(r.get(key), go.get(r["rep"], {}).get(key)) for r in mine]
    return [a / b for a, b in pairs if a is not None and b]


KEYS = ("events_per_s", "server_cpu_pct", "loadgen_cpu_pct", "ttfe_ms_p50", "ttfe_ms_p99")
LATENESS = ("lateness_ms_p50", "lateness_ms_p99", "lateness_ms_max")


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (size, stack): per-repetition values, and the ratios against Go's same repetition."""
    rows = []
    for size, name in dict.fromkeys((r["size"], r["stack"]) for r in runs):
        mine = [r for r in runs if r["size"] == size and r["stack"] == name]
        go = {r["rep"]: r for r in runs if r["size"] == size and r["stack"] == GO}
        row: dict[str, Any] = {"stack": name, "streams": size, "offered_events_per_s": size * RATE}
        row.update({key: column(mine, key) for key in KEYS + LATENESS})
        row["server_core_busy_pct"] = [
            r["core_busy_pct"][SERVER_CPU] for r in mine if "wall_s" in r
        ]
        row["events_ratio_vs_go"] = _vs_go(mine, go, "events_per_s")
        row["p99_ratio_vs_go"] = _vs_go(mine, go, "lateness_ms_p99")
        row["failed_streams"] = sum(r["streams"] - r["ok_streams"] for r in mine)
        row["total_streams"] = sum(r["streams"] for r in mine)
        row["failures"] = sorted({f for r in mine for f in r["failures"]})
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"| stack | streams | delivered events/s (offered) | {TIMES} go | server CPU % "
        "| loadgen CPU % | lateness p50 / p99 / max ms | p99 lateness "
        f"{TIMES} go | TTFE p50 / p99 ms | failed streams |",
        "|---" * 10 + "|",
    ]
    for r in rows:
        ratio = fmt_range(r["events_ratio_vs_go"], 2) + TIMES if r["events_ratio_vs_go"] else "—"
        p99_ratio = fmt_range(r["p99_ratio_vs_go"], 2) + TIMES if r["p99_ratio_vs_go"] else "—"
        late = (
            f"{median_text(r['lateness_ms_p50'], 1)} / {fmt_range(r['lateness_ms_p99'], 1)} "
            f"/ {median_text(r['lateness_ms_max'])}"
        )
        lines.append(
            f"| {r['stack']} | {r['streams']:,} | {fmt_range(r['events_per_s'])} "
            f"({r['offered_events_per_s']:,}) | {ratio} | {fmt_range(r['server_cpu_pct'])} "
            f"| {fmt_range(r['loadgen_cpu_pct'])} | {late} | {p99_ratio} "
            f"| {median_text(r['ttfe_ms_p50'], 2)} / {median_text(r['ttfe_ms_p99'], 1)} "
            f"| {r['failed_streams']:,} of {r['total_streams']:,} |"
        )
    return "\n".join(lines)


def loadgen_notes(rows: list[dict[str, Any]]) -> list[str]:
    """The load generator must not be the bottleneck; say where it used more CPU."""
    heavy = [
        f"{r['stack']} at {r['streams']:,} ({median_text(r['loadgen_cpu_pct'])} % vs server "
        f"{median_text(r['server_cpu_pct'])} %)"
        for r in rows
        if r["loadgen_cpu_pct"]
        and r["server_cpu_pct"]
        and statistics.median(r["loadgen_cpu_pct"]) >= statistics.median(r["server_cpu_pct"])
    ]
    if not heavy:
        return ["The load generator used less CPU than the server in every row."]
    return [
        "The load generator used at least as much CPU as the server in: "
        + "; ".join(heavy)
        + ". Below ~90 % of its core it still kept up (its lateness is part of the figure)."
    ]


def main() -> None:
    ap = scenario_parser(__doc__, "500 and 1,000 streams x 60 events, once")
    ap.add_argument("--sizes", default="2500,5000", help="concurrent streams, comma-separated")
    ap.add_argument("--events", type=int, default=200, help="events per stream (10 s at 20/s)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--stacks", default=",".join(STACKS))
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.events, args.reps = "500,1000", 60, 1
    args.sizes = [int(s) for s in str(args.sizes).split(",")]
    pin_self(CLIENT_CPU)
    limit = raise_nofile()
    notes: list[str] = []
    if max(args.sizes) > limit - 200:
        sys.exit(f"RLIMIT_NOFILE hard limit {limit} is too low for {max(args.sizes)} streams")
    info = machine()
    print(
        f"# paced: {args.sizes} streams {TIMES} {args.events} events at {RATE}/s, "
        f"{args.reps} repetition(s), server on CPU {SERVER_CPU}, load generator on CPU "
        f"{CLIENT_CPU}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="acf-paced-") as tmp_name:
        runs = run_all(args, Path(tmp_name), notes)
    rows = summarise(runs)
    payload = {"machine": info, "args": vars(args), "notes": notes, "runs": runs, "summary": rows}
    path = save("paced", payload)
    print(
        f"\n### Scenario paced: streams at {RATE} events/s each ({args.events} events), one "
        f"worker, median [min{DASH}max] of {args.reps}\n"
    )
    print(table(rows))
    failed = [
        f"{r['stack']} at {r['streams']:,}: {r['failed_streams']} failed: {r['failures'][:3]}"
        for r in rows
        if r["failed_streams"]
    ]
    finish(info, path, [*loadgen_notes(rows), *notes], failed)


if __name__ == "__main__":
    main()
