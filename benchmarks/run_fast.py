"""Scenario ``fast``: full-speed streams from the mock provider, aichatflow beside raw uvicorn.

What it answers: how many text deltas per second one aichatflow worker delivers when the model
is infinitely fast, what each costs in server CPU, and how that compares, *in the same run*, with
the least a Python server can do (``baselines/uvicorn_raw.py``). Earlier figures come
from other runs; only the ratios measured here, pair by pair, are comparable.

Stacks (each its own server subprocess, one uvicorn worker, uvloop + httptools, pinned to CPU 0;
the load generator is a subprocess pinned to CPU 1):

* ``uvicorn_raw``: one ``send`` per event (the baseline of docs/benchmarks.md);
* ``go``: ``baselines/go/main.go``, the original Go design (goroutine → channel → ``Fprintf`` +
  ``Flush`` per event), ``GOMAXPROCS=1``; built only when ``go`` is installed, else skipped with
  a note under the table;
* ``fastapi_sse_starlette``: ``baselines/fastapi_sse_starlette.py``, the naive FastAPI +
  sse-starlette version; skipped with a note when either package is missing;
* ``aichatflow b=1``: ``aichatflow serve`` with ``[providers.fast] kind="mock"
  tokens_per_second=0 first_token_ms=0 burst=1``: one event per batch, so one write per event;
* ``aichatflow b=1 /v1``, ``... /v1/messages``, ``... /api/ui/chat``: the same server (the
  ``aichatflow b=1`` process), the same mock tokens, asked through the other client dialects
  (OpenAI chunks, Anthropic's named events, the Vercel UI message stream); a second table sets
  their events/s and server CPU per event against the native endpoint's, repetition by
  repetition (``_wire_formats.py`` counts each format's text deltas). A route the server does
  not have (404) is skipped with a note;
* ``aichatflow b=1 (granian)``: the same on ``aichatflow serve --server granian`` (one ASGI
  ``send`` per event; granian's Rust side may merge sends into fewer ``write()`` calls when the
  socket is busy: measured with strace, about 2.5 sends per ``writev``);
* ``uvicorn_raw_coalesce``: 64 frames per ``send`` (docs/benchmarks.md's uvicorn_raw_coalesce);
* ``aichatflow b=64``: the same server with ``burst=64``: 64 events per batch, merged into one
  text frame and one write.

Repetitions alternate the order of the stacks; every figure is the median [min-max] of the
repetitions, and "x raw" / "x go" are the medians of the per-repetition ratios against
``uvicorn_raw`` / ``go``.
Before each run the script waits (up to 30 s; 3 s with ``--quick``) for the machine to be quiet
and records how busy it was: other jobs on a shared 2-core machine move absolute figures a lot.

Run: ``.venv/bin/python benchmarks/run_fast.py`` (about 2 minutes) or ``--quick`` (< 1 minute).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    CLIENT_CPU,
    DASH,
    HERE,
    SERVER_CPU,
    TIMES,
    Server,
    fmt_range,
    free_port,
    machine,
    pin_self,
    run_json,
    save,
    wait_quiet,
)
from _single import route_status
from _stacks import (
    BENCH_BODY,
    GRANIAN,
    aichatflow_server,
    fastapi_missing,
    go_binary,
    go_server,
    python_baseline,
)
from _wire_formats import WIRE
from loadgen import expected_from_mock

PY = sys.executable
RAW = "uvicorn_raw"
GO = "go"
FSSE = "fastapi_sse_starlette"
NOTES: list[str] = []
"""Why a stack was skipped (Go not installed, ...): printed under the table."""


@dataclass(frozen=True, slots=True)
class Stack:
    name: str
    server: str
    path: str
    note: str
    wire: str = "native"
    """The response format (``_wire_formats.py``); other than native: a client dialect row."""


NATIVE = "aichatflow b=1"
"""The row the client dialects are compared with (same server process)."""


STACKS = [
    Stack(RAW, "raw", "/api/chat?coalesce=1", "raw ASGI, one send per event"),
    Stack(GO, "go", "/api/chat", "Go design: goroutine, channel, Fprintf + Flush per event"),
    Stack(FSSE, "fsse", "/api/chat", "FastAPI + sse-starlette, json.dumps per event"),
    Stack(NATIVE, "acf1", "/api/chat", "aichatflow serve, mock burst=1"),
    Stack(NATIVE + " /v1", "acf1", "/v1/chat/completions", "OpenAI chunks", "openai"),
    Stack(NATIVE + " /v1/messages", "acf1", "/v1/messages", "Anthropic events", "anthropic"),
    Stack(NATIVE + " /api/ui/chat", "acf1", "/api/ui/chat", "Vercel UI message stream", "ui"),
    Stack(
        "aichatflow b=1" + GRANIAN,
        "acf1g",
        "/api/chat",
        "aichatflow serve --server granian, mock burst=1",
    ),
    Stack("uvicorn_raw_coalesce", "raw", "/api/chat?coalesce=64", "raw ASGI, 64 frames per send"),
    Stack("aichatflow b=64", "acf64", "/api/chat", "aichatflow serve, mock burst=64"),
]


def start_servers(tmp: Path, stacks: list[Stack]) -> dict[str, Server]:
    wanted = {s.server for s in stacks}
    servers: dict[str, Server] = {}
    try:
        if "go" in wanted:
            binary, note = go_binary()
            NOTES.append(note)
            if binary is not None:
                servers["go"] = go_server(tmp, binary, SERVER_CPU).start()
        if "fsse" in wanted:
            if fastapi_missing():
                NOTES.append(f"{FSSE}: skipped, {fastapi_missing()}")
            else:
                server = python_baseline(FSSE, "fastapi_sse_starlette.py", tmp, SERVER_CPU)
                servers["fsse"] = server.start()
        if "raw" in wanted:
            port = free_port()
            cmd = [PY, str(HERE / "baselines" / "uvicorn_raw.py"), "--port", str(port)]
            servers["raw"] = Server("uvicorn_raw", cmd, port, cpu=SERVER_CPU, log=tmp / "raw.log")
            servers["raw"].start()
        for key, burst, name in (
            ("acf1", 1, "aichatflow burst=1"),
            ("acf1g", 1, "aichatflow burst=1" + GRANIAN),
            ("acf64", 64, "aichatflow burst=64"),
        ):
            if key in wanted:
                servers[key] = aichatflow_server(name, tmp, SERVER_CPU, burst=burst).start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def load(
    server: Server, stack: Stack, streams: int, events: int, rounds: int = 1
) -> dict[str, Any]:
    cmd = [
        PY,
        str(HERE / "loadgen.py"),
        "--port",
        str(server.port),
        "--path",
        stack.path,
        "--streams",
        str(streams),
        "--events",
        str(events),
        "--server-pid",
        str(server.pid),
        "--cpu",
        str(CLIENT_CPU),
        "--timeout",
        "150",
        "--rounds",
        str(rounds),
        "--json",
    ]
    if stack.wire != "native":
        body = WIRE[stack.wire].body(str(BENCH_BODY["model"]), events)
        cmd += ["--format", stack.wire, "--body", body.decode()]
        cmd += ["--expected-json", json.dumps(mock_answer(events))]
    return run_json(cmd, timeout=180)


_ANSWERS: dict[int, dict[str, Any]] = {}


def mock_answer(events: int) -> dict[str, Any]:
    """The mock's text for the benchmark prompt with ``max_tokens`` ``events``, asked once: a
    dialect's request is a different body for the same question."""
    if events not in _ANSWERS:
        got = expected_from_mock({**BENCH_BODY, "max_tokens": events}, {})
        _ANSWERS[events] = {"text": got.text, "deltas": got.deltas}
    return _ANSWERS[events]


def missing_routes(servers: dict[str, Server], stacks: list[Stack]) -> list[Stack]:
    """The dialect rows whose route this server does not have (404 to a probe): skipped with
    a note, so a tree without one dialect still runs the rest."""
    gone = []
    for stack in stacks:
        if stack.wire != "native" and stack.server in servers:
            status = route_status(servers[stack.server].port, stack.path)
            if status == 404:
                gone.append(stack)
                NOTES.append(f"{stack.name}: skipped, POST {stack.path} answers 404 here")
    return gone


def summarise(runs: list[dict[str, Any]], stacks: list[Stack]) -> list[dict[str, Any]]:
    """Per stack: the lists of per-repetition values, and the pairwise ratio against raw."""
    raw_by_rep = {r["rep"]: r["events_per_s"] for r in runs if r["stack"] == RAW}
    go_by_rep = {r["rep"]: r["events_per_s"] for r in runs if r["stack"] == GO}
    rows = []
    for stack in stacks:
        mine = [r for r in runs if r["stack"] == stack.name]
        if not mine:
            continue

        def col(key: str, rs: list[dict[str, Any]] = mine) -> list[float]:
            return [float(r[key]) for r in rs if r.get(key) is not None]

        ratios = [
            r["events_per_s"] / raw_by_rep[r["rep"]] for r in mine if raw_by_rep.get(r["rep"])
        ]
        go_ratios = [
            r["events_per_s"] / go_by_rep[r["rep"]] for r in mine if go_by_rep.get(r["rep"])
        ]
        rows.append(
            {
                "stack": stack.name,
                "note": stack.note,
                "events_per_s": col("events_per_s"),
                "ratio_vs_raw": ratios,
                "ratio_vs_go": go_ratios,
                "server_cpu_us_per_event": col("server_cpu_us_per_event"),
                "server_cpu_pct": col("server_cpu_pct"),
                "deltas_per_frame": col("deltas_per_frame"),
                "events_per_send": col("events_per_send"),
                "frames_per_s": col("frames_per_s"),
                "ttfe_ms_p50": col("ttfe_ms_p50"),
                "ttfe_ms_p99": col("ttfe_ms_p99"),
                "loadgen_cpu_us_per_event": col("loadgen_cpu_us_per_event"),
                "loadgen_cpu_pct": col("loadgen_cpu_pct"),
                "server_core_busy_pct": [float(r["core_busy_pct"][SERVER_CPU]) for r in mine],
                "background_busy_pct": col("background_busy_pct"),
                "rounds": [r.get("rounds", 1) for r in mine],
                "ok": f"{sum(r['ok_streams'] for r in mine)}/{sum(r['streams'] for r in mine)}",
                "failures": sorted({f for r in mine for f in r["failures"]}),
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"| stack | events/s | {TIMES} uvicorn_raw | {TIMES} go | server CPU µs/event "
        "| server CPU % | deltas/frame | events/send | frames/s | TTFE p50 / p99 ms (under load) "
        "| loadgen CPU µs/event (% core) | ok streams |\n" + "|---" * 12 + "|"
    )
    lines = [head]
    for r in rows:
        p50, p99 = statistics.median(r["ttfe_ms_p50"]), statistics.median(r["ttfe_ms_p99"])
        ttfe = f"{p50:,.0f} / {p99:,.0f}"
        lg = (
            f"{statistics.median(r['loadgen_cpu_us_per_event']):.2f} "
            f"({statistics.median(r['loadgen_cpu_pct']):.0f} %)"
        )
        lines.append(
            f"| {r['stack']} | {fmt_range(r['events_per_s'])} "
            f"| {fmt_range(r['ratio_vs_raw'], 2)}{TIMES} "
            f"| {fmt_range(r['ratio_vs_go'], 2) + TIMES if r['ratio_vs_go'] else '—'} "
            f"| {fmt_range(r['server_cpu_us_per_event'], 2)} "
            f"| {statistics.median(r['server_cpu_pct']):.0f} "
            f"| {statistics.median(r['deltas_per_frame']):.1f} "
            f"| {statistics.median(r['events_per_send']):.1f} "
            f"| {fmt_range(r['frames_per_s'])} | {ttfe} | {lg} | {r['ok']} |"
        )
    return "\n".join(lines)


def dialect_table(runs: list[dict[str, Any]], stacks: list[Stack]) -> str:
    """events/s and server CPU per event of each endpoint of the ``b=1`` server, and their
    ratios to the native endpoint measured in the same repetition ("" without dialect rows)."""
    names = [NATIVE] + [s.name for s in stacks if s.wire != "native"]
    ref = {r["rep"]: r for r in runs if r["stack"] == NATIVE}
    if len(names) < 2 or not ref:
        return ""
    lines = [
        f"| endpoint | events/s | {TIMES} native events/s | server CPU µs/event "
        f"| {TIMES} native CPU/event | TTFE p50 ms (under load) | server core busy % | ok |",
        "|---" * 8 + "|",
    ]
    for name in names:
        mine = [r for r in runs if r["stack"] == name and r["rep"] in ref]
        if not mine:
            continue
        speed = [r["events_per_s"] / ref[r["rep"]]["events_per_s"] for r in mine]
        cpu = [
            r["server_cpu_us_per_event"] / ref[r["rep"]]["server_cpu_us_per_event"]
            for r in mine
            if r["server_cpu_us_per_event"] and ref[r["rep"]]["server_cpu_us_per_event"]
        ]
        ok = f"{sum(r['ok_streams'] for r in mine)}/{sum(r['streams'] for r in mine)}"
        lines.append(
            f"| {name} | {fmt_range([r['events_per_s'] for r in mine])} "
            f"| {fmt_range(speed, 2)}{TIMES} "
            f"| {fmt_range([r['server_cpu_us_per_event'] or 0 for r in mine], 2)} "
            f"| {fmt_range(cpu, 2)}{TIMES} "
            f"| {statistics.median(r['ttfe_ms_p50'] for r in mine):,.0f} "
            f"| {statistics.median(r['core_busy_pct'][SERVER_CPU] for r in mine):.0f} | {ok} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, 20 streams x 500 events")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument(
        "--stacks",
        default=",".join(s.name for s in STACKS),
        help="comma-separated subset of: " + ", ".join(s.name for s in STACKS),
    )
    ap.add_argument("--no-quiet-wait", action="store_true", help="do not wait for idle cores")
    ap.add_argument(
        "--min-seconds",
        type=float,
        default=1.5,
        help="repeat a stack's load back to back until one measurement lasts about this long",
    )
    args = ap.parse_args()
    if args.quick:
        args.reps, args.streams, args.events = 1, 20, 500
    chosen = set(args.stacks.split(","))
    stacks = [s for s in STACKS if s.name in chosen]
    if not stacks:
        ap.error("no known stack selected")
    pin_self(CLIENT_CPU)  # the orchestrator mostly sleeps, but never on the server's core

    info = machine()
    print(
        f"# fast: {args.streams} streams {TIMES} {args.events} events, {args.reps} repetition(s), "
        f"{info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, "
        f"server on CPU {SERVER_CPU}, load generator on CPU {CLIENT_CPU}",
        file=sys.stderr,
    )
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="acf-bench-") as tmp_name:
        tmp = Path(tmp_name)
        servers = start_servers(tmp, stacks)
        stacks = [s for s in stacks if s.server in servers]  # skipped ones (no Go...) drop out
        gone = missing_routes(servers, stacks)
        stacks = [s for s in stacks if s not in gone]
        try:
            rounds: dict[str, int] = {}
            for stack in stacks:  # warm-up: imports, caches, first connections; not recorded
                load(servers[stack.server], stack, min(args.streams, 20), min(args.events, 200))
                # Calibration: coalesced runs end in ~0.1 s, far too close to the 10 ms CPU
                # tick; such stacks repeat the load back to back until a run lasts ~min_seconds.
                rounds[stack.name] = 1
                if not args.quick:
                    probe = load(servers[stack.server], stack, args.streams, args.events)
                    wanted = math.ceil(args.min_seconds / max(probe["wall_s"], 1e-3))
                    rounds[stack.name] = max(1, min(50, wanted))
            for rep in range(args.reps):
                shift = rep % len(stacks)
                for stack in stacks[shift:] + stacks[:shift]:
                    # --quick (the CI smoke) waits at most 3 s: it must end within a minute
                    # with every stack, and its figures are not kept anyway.
                    quiet = 3.0 if args.quick else 30.0
                    busy = 0.0 if args.no_quiet_wait else wait_quiet(timeout=quiet)
                    n = rounds[stack.name]
                    result = load(servers[stack.server], stack, args.streams, args.events, n)
                    result.update(rep=rep, stack=stack.name, background_busy_pct=busy, rounds=n)
                    runs.append(result)
                    print(
                        f"  rep {rep} {stack.name:30} {result['events_per_s']:>12,.0f} ev/s "
                        f"server {result['server_cpu_us_per_event'] or 0:.2f} µs/ev "
                        f"ok {result['ok_streams']}/{result['streams']} "
                        f"cores {result['core_busy_pct']} (before: {busy:.0f} %)",
                        file=sys.stderr,
                    )
        finally:
            for server in servers.values():
                server.stop()

    rows = summarise(runs, stacks)
    path = save("fast", {"machine": info, "args": vars(args), "runs": runs, "summary": rows})
    print(
        f"\n### Scenario fast: {args.streams} concurrent streams {TIMES} {args.events} events, "
        f"median [min{DASH}max] of {args.reps}\n"
    )
    print(table(rows))
    dialects = dialect_table(runs, stacks)
    if dialects:
        print(
            f"\n### Client dialects in scenario fast: the same server and tokens, per endpoint; "
            f"{TIMES} native = per-repetition ratio to `{NATIVE}` (`/api/chat`)\n"
        )
        print(dialects)
    repeated = [f"{r['stack']} {r['rounds'][0]}" for r in rows if max(r["rounds"]) > 1]
    if repeated:
        print(
            "\nShort stacks repeat the whole load back to back within one measurement (so it "
            "lasts over a second, far above the 10 ms CPU tick); rounds: " + ", ".join(repeated)
        )
    print(
        f"\nMachine: {info['cpus']} cores ({info['cpu_model']}), kernel {info['kernel']}, "
        f"Python {info['python']}, uvicorn {info['versions']['uvicorn']}, "
        f"uvloop {info['versions']['uvloop']}. Raw results: {path}"
    )
    for note in NOTES:
        print(f"\n{note}")
    bad = [r for r in rows if r["failures"]]
    for r in bad:
        print(f"\nFAILED checks in {r['stack']}: {r['failures']}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
