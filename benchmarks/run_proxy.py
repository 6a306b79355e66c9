"""Scenario ``proxy``: client → gateway → a fast OpenAI-compatible upstream, vs the upstream alone.

What it answers (target 2): how many events/s one aichatflow worker relays from a fast
upstream, its server CPU per event, and the time to first token it adds, beside LiteLLM's proxy
on the same upstream, in the same run.

Processes: ``fake_openai_upstream.py`` (its own process, CPU 1; ``--upstream burst``, the
default: ``/burst/v1``, whole responses as fast as the reader reads, so one upstream read carries
many events; ``--upstream paced``: ``/paced/v1``, one event per upstream write ``--gap-ms`` apart,
one event per read as real models stream, where throughput is bounded by the pacing and the
figure that matters is CPU per event), the gateway under test (CPU 0, one worker), the load
generator and the single-request client (CPU 1). Stacks:

* ``upstream direct``: the client calls the upstream itself (the floor; no gateway);
* ``aichatflow /v1``: ``[providers.up] kind = "openai-compatible"`` with ``base_url`` the
  upstream, OpenAI chunks out (``/v1/chat/completions``, ``stream: true``);
* ``aichatflow /api/chat``: the same provider, aichatflow's native SSE out;
* ``aichatflow /v1/messages`` and ``aichatflow /api/ui/chat``: the same provider, Anthropic's
  named events and the Vercel UI message stream out (the client dialects; ``_wire_formats.py``
  counts each format's text deltas); a route the server does not have (404) is skipped with a
  note. The throughput table sets each endpoint's server CPU per event against
  ``/api/chat``'s in the same repetition;
* ``litellm``: LiteLLM's proxy (its own venv, ``scripts/peers/litellm.sh``), ``openai/<model>``
  with ``api_base`` the upstream; skipped with a note when not installed.

Measures: (1) throughput: N concurrent streams of ``events`` content tokens each (LiteLLM is
~100 times slower, so it gets a smaller load, and aichatflow is also run at LiteLLM's load so that
one ratio compares like with like); events/s, server CPU µs/event (process tree), and every
stream's text checked against what the upstream sent. (2) time to first token, single requests
one at a time, interleaved across stacks: p50/p99, and the time each gateway *adds* over calling
the upstream directly (difference of the p50s, and of the p99s).

Run: ``.venv/bin/python benchmarks/run_proxy.py`` (about 3 minutes with LiteLLM) or ``--quick``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
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
from _single import Target, measure, route_status, summary
from _stacks import PY, aichatflow_server, litellm_server
from _wire_formats import WIRE
from fake_openai_upstream import WORDS

MODEL = "bench-model"
ACF_CONFIG = """host = "127.0.0.1"
port = {port}
log_level = "warning"
default_model = "up/bench-model"

[providers.up]
kind = "openai-compatible"
base_url = "%s"
api_key = "fake-key"
max_retries = 0
"""


def expected(events: int) -> dict[str, Any]:
    return {"text": "".join(WORDS[i % len(WORDS)] for i in range(events)), "deltas": events}


NATIVE = "aichatflow /api/chat"
DIALECTS = (
    ("aichatflow /v1/messages", "/v1/messages", "anthropic"),
    ("aichatflow /api/ui/chat", "/api/ui/chat", "ui"),
)
"""The client dialect rows: (name, path, wire format), beside ``/v1`` and the native endpoint."""


def targets(
    up: Server,
    acf: Server,
    litellm: Server | None,
    key: str,
    events: int,
    mode: str = "burst",
    notes: list[str] | None = None,
) -> list[Target]:
    """Every stack's requests; a dialect whose route ``acf`` lacks is left out (with a note)."""
    openai, model = WIRE["openai"], f"up/{MODEL}"
    out = [
        Target(
            "upstream direct",
            up.port,
            f"/{mode}/v1/chat/completions",
            openai.body(MODEL, events),
            wire="openai",
        ),
        Target(
            "aichatflow /v1",
            acf.port,
            "/v1/chat/completions",
            openai.body(model, events),
            wire="openai",
        ),
        Target(NATIVE, acf.port, "/api/chat", WIRE["native"].body(model, events)),
    ]
    for name, path, wire in DIALECTS:
        if route_status(acf.port, path) == 404:
            if notes is not None:
                notes.append(f"{name}: skipped, POST {path} answers 404 here")
            continue
        out.append(Target(name, acf.port, path, WIRE[wire].body(model, events), wire=wire))
    if litellm is not None:
        out.append(
            Target(
                "litellm",
                litellm.port,
                "/v1/chat/completions",
                openai.body(MODEL, events),
                wire="openai",
                headers=(f"Authorization: Bearer {key}",),
            )
        )
    return out


def load(
    target: Target, server: Server, streams: int, events: int, timeout: float
) -> dict[str, Any]:
    body = json.loads(target.body)
    body["max_tokens"] = events  # every format's body has it (useChat's through its body option)
    cmd = [
        PY,
        str(HERE / "loadgen.py"),
        "--port",
        str(target.port),
        "--path",
        target.path,
        "--body",
        json.dumps(body),
        "--streams",
        str(streams),
        "--expected-json",
        json.dumps(expected(events)),
        "--server-pid",
        str(server.pid),
        "--cpu",
        str(CLIENT_CPU),
        "--timeout",
        str(timeout),
        "--format",
        target.wire,
        "--json",
    ]
    for header in target.headers:
        cmd += ["--header", header]
    return run_json(cmd, timeout=timeout + 60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, small loads")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--litellm-streams", type=int, default=20)
    ap.add_argument("--litellm-events", type=int, default=250)
    ap.add_argument("--ttft-requests", type=int, default=200, help="single requests per stack")
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--upstream", choices=["burst", "paced"], default="burst")
    ap.add_argument("--gap-ms", type=float, default=1.0, help="paced upstream: ms between events")
    ap.add_argument("--no-quiet-wait", action="store_true")
    args = ap.parse_args()
    if args.upstream == "paced" and not args.quick:
        args.events = min(args.events, 1000)  # paced streams last events x gap_ms
    if args.quick:
        args.reps, args.streams, args.events = 1, 20, 500
        args.litellm_streams, args.litellm_events, args.ttft_requests = 10, 50, 30
    pin_self(CLIENT_CPU)
    info = machine()
    notes: list[str] = []
    runs: list[dict[str, Any]] = []
    ttft: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="acf-proxy-") as tmp_name:
        tmp = Path(tmp_name)
        servers: list[Server] = []
        try:
            up_port = free_port()
            up = Server(
                "upstream",
                [
                    PY,
                    str(HERE / "fake_openai_upstream.py"),
                    "--port",
                    str(up_port),
                    "--gap-ms",
                    str(args.gap_ms),
                ],
                up_port,
                cpu=CLIENT_CPU,
                log=tmp / "upstream.log",
            )
            servers.append(up.start())
            base = f"http://127.0.0.1:{up_port}/{args.upstream}/v1"
            acf = aichatflow_server("aichatflow", tmp, SERVER_CPU, ACF_CONFIG % base)
            servers.append(acf.start())
            litellm: Server | None = None
            key = ""
            if not args.no_litellm:
                litellm, key, note = litellm_server(tmp, base, MODEL, SERVER_CPU)
                notes.append(note)
                if litellm is not None:
                    print("  starting LiteLLM (about 10 s)...", file=sys.stderr)
                    servers.append(litellm.start(timeout=120))
            tgts = targets(up, acf, litellm, key, 16, args.upstream, notes)
            by_name: dict[str, Server | None] = {t.name: acf for t in tgts}
            by_name.update({"upstream direct": up, "litellm": litellm})
            # Throughput plan: (label, target, streams, events)
            plan: list[tuple[str, Target, int, int]] = []
            for t in tgts:
                if t.name == "litellm":
                    continue
                plan.append((t.name, t, args.streams, args.events))
            if litellm is not None:
                small = (args.litellm_streams, args.litellm_events)
                for t in tgts:
                    if t.name in ("litellm", "aichatflow /v1", "upstream direct"):
                        plan.append((f"{t.name} @small", t, *small))
            for _label, t, streams, _events in plan:  # warm-up, not recorded
                load(t, by_name[t.name], min(streams, 10), 50, 120)  # type: ignore[arg-type]
            for rep in range(args.reps):
                shift = rep % len(plan)
                for label, t, streams, events in plan[shift:] + plan[:shift]:
                    busy = 0.0 if args.no_quiet_wait else wait_quiet()
                    server = by_name[t.name]
                    assert server is not None
                    r = load(t, server, streams, events, 300)
                    r.update(rep=rep, stack=label, streams_n=streams, events_n=events)
                    r["background_busy_pct"] = busy
                    runs.append(r)
                    print(
                        f"  rep {rep} {label:28} {r['events_per_s']:>11,.0f} ev/s "
                        f"server {r['server_cpu_us_per_event'] or 0:.1f} µs/ev "
                        f"ok {r['ok_streams']}/{r['streams']} {r['failures']}",
                        file=sys.stderr,
                    )
            if not args.no_quiet_wait:
                wait_quiet()
            print(f"  time to first token: {args.ttft_requests} requests each", file=sys.stderr)
            ttft = measure(tgts, args.ttft_requests)
        finally:
            for server in reversed(servers):
                server.stop()

    rows = summarise(runs)
    ttft_rows = {name: summary(ms) for name, ms in ttft.items()}
    path = save(
        f"proxy-{args.upstream}",
        {
            "machine": info,
            "args": vars(args),
            "notes": notes,
            "runs": runs,
            "summary": rows,
            "ttft_ms": ttft,
            "ttft": ttft_rows,
        },
    )
    print(report(rows, ttft_rows, args, notes, path))
    sys.exit(1 if any(r["failures"] for r in rows) else 0)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = list(dict.fromkeys(r["stack"] for r in runs))
    by = {(r["stack"], r["rep"]): r["events_per_s"] for r in runs}
    native_cpu = {r["rep"]: r["server_cpu_us_per_event"] for r in runs if r["stack"] == NATIVE}
    rows = []
    for name in names:
        mine = [r for r in runs if r["stack"] == name]
        small = name.endswith("@small")
        ref = "litellm @small" if small else None
        vs_litellm = [
            r["events_per_s"] / by[(ref, r["rep"])] for r in mine if ref and (ref, r["rep"]) in by
        ]
        rows.append(
            {
                "stack": name,
                "load": f"{mine[0]['streams_n']} {TIMES} {mine[0]['events_n']}",
                "events_per_s": [r["events_per_s"] for r in mine],
                "server_cpu_us_per_event": [
                    r["server_cpu_us_per_event"]
                    for r in mine
                    if r["server_cpu_us_per_event"] is not None
                ],
                "server_cpu_pct": [r["server_cpu_pct"] or 0 for r in mine],
                "ttfe_ms_p50_under_load": [r["ttfe_ms_p50"] for r in mine],
                "loadgen_cpu_pct": [r["loadgen_cpu_pct"] for r in mine],
                "ratio_vs_litellm": vs_litellm,
                "cpu_vs_native": [
                    r["server_cpu_us_per_event"] / native_cpu[r["rep"]]
                    for r in mine
                    if not small
                    and "direct" not in name
                    and r["server_cpu_us_per_event"]
                    and native_cpu.get(r["rep"])
                ],
                "ok": f"{sum(r['ok_streams'] for r in mine)}/{sum(r['streams'] for r in mine)}",
                "failures": sorted({f for r in mine for f in r["failures"]}),
            }
        )
    return rows


def report(
    rows: list[dict[str, Any]],
    ttft: dict[str, dict[str, float]],
    args: argparse.Namespace,
    notes: list[str],
    path: Path,
) -> str:
    out = [
        f"\n### Scenario proxy ({args.upstream} upstream"
        f"{f', {args.gap_ms:g} ms between events' if args.upstream == 'paced' else ''}): "
        f"throughput, median [min{DASH}max] of {args.reps}\n",
        f"| stack | streams {TIMES} events | events/s | {TIMES} litellm (same load) "
        f"| server CPU µs/event | CPU/event {TIMES} /api/chat "
        "| server CPU % | loadgen CPU % | ok streams |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        vs = fmt_range(r["ratio_vs_litellm"], 1) + TIMES if r["ratio_vs_litellm"] else "—"
        cpu = fmt_range(r["server_cpu_us_per_event"], 1) if "direct" not in r["stack"] else "—"
        cpu_pct = (
            f"{statistics.median(r['server_cpu_pct']):.0f}" if "direct" not in r["stack"] else "—"
        )
        out.append(
            f"| {r['stack']} | {r['load']} | {fmt_range(r['events_per_s'])} | {vs} | {cpu} "
            f"| {fmt_range(r['cpu_vs_native'], 2) + TIMES if r['cpu_vs_native'] else '—'} "
            f"| {cpu_pct} | {statistics.median(r['loadgen_cpu_pct']):.0f} | {r['ok']} |"
        )
    if ttft:
        direct = ttft.get("upstream direct")
        out += [
            f"\n### Scenario proxy ({args.upstream} upstream): time to first token, "
            f"{args.ttft_requests} single requests per stack (interleaved, new connection each)\n",
            "| stack | TTFT p50 ms | TTFT p99 ms | added p50 ms | added p99 ms |",
            "|---|---|---|---|---|",
        ]
        for name, s in ttft.items():
            add50 = (
                f"{s['p50'] - direct['p50']:+.2f}" if direct and name != "upstream direct" else "—"
            )
            add99 = (
                f"{s['p99'] - direct['p99']:+.2f}" if direct and name != "upstream direct" else "—"
            )
            out.append(f"| {name} | {s['p50']:.2f} | {s['p99']:.2f} | {add50} | {add99} |")
    out.append(
        "\nServer CPU is the gateway's process tree (utime+stime); the upstream and the load "
        f"generator share CPU {CLIENT_CPU}, the gateway has CPU {SERVER_CPU}. "
        "'@small' rows run LiteLLM's smaller load, so the ratio compares like with like."
    )
    out += [f"\n{n}" for n in notes]
    out.append(f"\nRaw results: {path}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
