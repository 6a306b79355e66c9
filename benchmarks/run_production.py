"""Scenario ``production``: what keys, limits and metrics cost, against the same server without.

Three ``aichatflow serve`` processes, one worker each on CPU 0, the load generator on CPU 1,
all streaming the mock at full speed with one event per batch (the ``fast`` scenario's
``aichatflow b=1``):

* ``off``: no key, no limit, ``[metrics] enabled = false`` (the access log stays on: it is
  not optional in production);
* ``on (memory)``: one client key with ``rpm``, ``tpm`` and ``max_streams``, a global
  ``max_streams``, metrics on; limits counted in the process (``memory://``);
* ``on (redis)``: the same with ``storage = "redis://..."``, a ``redis-server`` this script
  starts on a free loopback port (skipped with a note when ``redis-server`` is missing).

Two measurements, interleaved across the stacks so drift on a shared machine hits them alike:

* throughput: ``streams`` concurrent streams of ``events`` deltas, repeated ``reps`` times; the
  ratio of each ``on`` stack to ``off`` is taken per repetition;
* time to first event of single requests on the idle server (a new connection each, 5 ms
  apart so each server has finished the previous request's work): the difference of p50s
  against ``off`` is what the production layer adds before the first token.

Targets: throughput ``on (memory)`` at least 0.95 of ``off``; added TTFE p50 at most 0.2 ms with
memory storage and at most 1 ms with Redis.

Run: ``.venv/bin/python benchmarks/run_production.py`` (about 2 minutes) or ``--quick``.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from _common import (
    CLIENT_CPU,
    SERVER_CPU,
    TIMES,
    Server,
    fmt_range,
    free_port,
    machine,
    pin_self,
    run_loadgen,
    save,
    wait_quiet,
)
from _single import Target, measure, summary
from _stacks import BENCH_BODY, aichatflow_server, mock_config

KEY = "acf-bench-key-0123456789"
OFF, MEMORY, REDIS = "off", "on (memory)", "on (redis)"
PAUSE = 0.005
"""Seconds between single requests: what a server does after a response (the access line,
metrics, a limit given back: up to 0.2 ms here, a Redis round trip more) would otherwise be
timed as the next stack's time to first event, since every server shares one core."""


def production_tables(storage: str) -> str:
    """Keys, limits and metrics all on; limits high enough that the load never meets them."""
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    return (
        f'\n[limits]\nstorage = "{storage}"\nmax_streams = 100000\n'
        f"\n[metrics]\nenabled = true\n"
        f'\n[[auth.keys]]\nid = "bench"\nsha256 = "{digest}"\n'
        f"rpm = 100000000\ntpm = 100000000000\nmax_streams = 100000\n"
    )


@contextmanager
def redis_server(tmp: Path, notes: list[str]) -> Iterator[str | None]:
    """A throwaway ``redis-server`` on a free loopback port; ``None`` when not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        notes.append(f"{REDIS}: skipped, redis-server is not installed (scripts/peers/redis.sh)")
        yield None
        return
    port = free_port()
    cmd = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    cmd += ["no", "--dir", str(tmp)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, check=False
            ).stdout.strip()
            != b"PONG"
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def start(tmp: Path, redis_url: str | None) -> dict[str, Server]:
    stacks = {OFF: "\n[metrics]\nenabled = false\n", MEMORY: production_tables("memory://")}
    if redis_url is not None:
        stacks[REDIS] = production_tables(redis_url)
    servers: dict[str, Server] = {}
    try:
        for name, extra in stacks.items():
            config = mock_config(0, extra=extra).replace("port = 0", "port = {port}")
            servers[name] = aichatflow_server(name, tmp, SERVER_CPU, config).start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def throughput(
    servers: dict[str, Server], reps: int, streams: int, events: int
) -> list[dict[str, Any]]:
    runs = []
    for rep in range(reps):
        order = list(servers.items())
        if rep % 2:
            order.reverse()
        for name, server in order:
            result = run_loadgen(
                server,
                "/api/chat",
                "--streams",
                streams,
                "--events",
                events,
                "--header",
                f"authorization: Bearer {KEY}",
                timeout=180,
            )
            runs.append({"stack": name, "rep": rep, **result})
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, 20 x 500, 100 singles")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=1000, help="single requests per stack")
    ap.add_argument("--no-quiet-wait", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.streams, args.events, args.requests = 1, 20, 500, 100
    pin_self(CLIENT_CPU)
    info, notes = machine(), []
    body = orjson.dumps({**BENCH_BODY, "max_tokens": 16})
    headers = (f"authorization: Bearer {KEY}",)
    with tempfile.TemporaryDirectory(prefix="acf-production-") as tmp_name:
        tmp = Path(tmp_name)
        with redis_server(tmp, notes) as redis_url:
            servers = start(tmp, redis_url)
            try:
                busy = 0.0 if args.no_quiet_wait else wait_quiet()
                runs = throughput(servers, args.reps, args.streams, args.events)
                targets = [
                    Target(name, s.port, "/api/chat", body, headers=headers)
                    for name, s in servers.items()
                ]
                singles = measure(targets, args.requests, warmup=20, pause=PAUSE)
            finally:
                for server in servers.values():
                    server.stop()
    rows = summarise(runs, singles)
    path = save(
        "production",
        {
            "machine": info,
            "args": vars(args),
            "notes": notes,
            "busy": busy,
            "runs": runs,
            "ttfe_ms": singles,
            "summary": rows,
        },
    )
    print(report(rows, args, notes, path))


def summarise(runs: list[dict[str, Any]], singles: dict[str, list[float]]) -> dict[str, Any]:
    off = {r["rep"]: r["events_per_s"] for r in runs if r["stack"] == OFF}
    base = summary(singles[OFF])
    rows: dict[str, Any] = {}
    for name in singles:
        mine = [r for r in runs if r["stack"] == name]
        ttfe = summary(singles[name])
        rows[name] = {
            "events_per_s": [r["events_per_s"] for r in mine],
            "ratio_vs_off": [r["events_per_s"] / off[r["rep"]] for r in mine if off.get(r["rep"])],
            "cpu_us_per_event": [r["server_cpu_us_per_event"] for r in mine],
            "ok": f"{sum(r['ok_streams'] for r in mine)}/{sum(r['streams'] for r in mine)}",
            "ttfe": ttfe,
            "added_ttfe_p50_ms": ttfe["p50"] - base["p50"],
        }
    return rows


def report(rows: dict[str, Any], args: argparse.Namespace, notes: list[str], path: Path) -> str:
    out = [
        f"\n### Scenario production: keys + limits + metrics against none "
        f"({args.streams} streams x {args.events} events, {args.reps} reps; "
        f"{args.requests} single requests for TTFE)\n",
        f"| stack | events/s | {TIMES} off | server CPU µs/event | TTFE p50 / p99 ms "
        "| added TTFE p50 ms | ok streams |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        ratio = fmt_range(r["ratio_vs_off"], 3) + TIMES
        out.append(
            f"| {name} | {fmt_range(r['events_per_s'])} | {ratio} "
            f"| {fmt_range(r['cpu_us_per_event'], 2)} "
            f"| {r['ttfe']['p50']:.3f} / {r['ttfe']['p99']:.3f} "
            f"| {r['added_ttfe_p50_ms']:+.3f} | {r['ok']} |"
        )
    out += [f"\n{n}" for n in notes]
    out.append(f"\nRaw results: {path}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
