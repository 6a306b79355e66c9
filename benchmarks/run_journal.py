"""Scenario ``journal``: what the journal costs against the direct path, and what it holds.

Three ``aichatflow serve`` processes, one worker each on CPU 0, the load generator on CPU 1, all
streaming the mock (``[providers.fast]``, ``tokens_per_second = 0``):

* ``direct``: ``[journal] backend = "off"``: the stream engine writes to the client itself;
* ``memory``: ``backend = "memory"``: every native ``POST /api/chat`` is a run consumed by its
  own task into this process's journal, and the response is a reader tailing it;
* ``redis``: ``backend = "redis"`` on a ``redis-server`` this script starts on a free loopback
  port (unpinned, like ``run_production.py``). Skipped with a note when ``redis-server`` is not
  installed or this checkout has no Redis journal (``aichatflow.journal.redis_journal``).

Every stack has ``[dedup] mode = "off"`` (no stream shares another's run), ``[store] url =
"off"`` (the journal alone, without stored conversations) and ``[journal] ttl = 60``
(finished runs expire during the run, so their expiry is part of what is measured and the
memory held stays bounded). One config holds three mock providers: ``fast`` (one token
per batch: one journal entry and one write per event), ``coal`` (``burst = 64``: coalesced, as
the ``fast`` scenario's ``aichatflow b=64``) and ``paced`` (``run_paced.py``'s: 20 tokens/s).

Measured, interleaved across the stacks (repetitions rotate their order), ratios per repetition:

1. ``fast``: ``streams x events`` at full speed, b=1 and coalesced: events/s, ratio to
   ``direct``, server CPU per event (coalesced loads repeat back to back until one measurement
   lasts ``--min-seconds``, as in ``run_fast.py``);
2. ``paced``: ``run_paced.py``'s default load at 2,500 streams (200 events at 20/s, connects
   spread over streams/5,000 s): delivered events/s, lateness p50/p99/max, ratio redis/memory;
3. bytes of journal per stream, 1,000 tokens: memory from the real path in this process
   (``Runs`` into a ``MemoryJournal``: entry bytes, and the Python objects holding them); Redis
   ``MEMORY USAGE`` of a finished run's keys;
4. Redis commands per token (``INFO commandstats`` delta over each load / tokens delivered), and
   ``redis-server`` CPU per token, at b=1, coalesced, paced, and for one stream alone;
5. resume: ``GET /api/chat/{id}/stream`` with ``Last-Event-ID: {id}.500`` of a finished
   1,000-token run, connect to the first replayed text event, p50/p99 (each replay checked:
   exactly the text after that id, ``done`` last).

Targets: memory >= 0.85x direct at b=1 and >= 0.9x coalesced; paced memory p99 <= 25 ms; Redis
delivered >= 0.9x memory with p99 <= 50 ms. Any stream or replay that fails a check: exit 1.

Run: ``.venv/bin/python benchmarks/run_journal.py`` (about 5 minutes) or ``--quick``.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    CLIENT_CPU,
    SERVER_CPU,
    Server,
    finish,
    machine,
    pin_self,
    raise_nofile,
    run_loadgen,
    save,
    scenario_parser,
    wait_quiet,
)
from _journal_probe import (
    RedisServer,
    delta,
    expected_after,
    finished_run,
    memory_journal_bytes,
    resume_first_event,
)
from _journal_report import report, summarise
from _stacks import aichatflow_server, mock_config, mock_table
from run_paced import INTERVAL_MS, RATE

DIRECT, MEMORY, REDIS = "direct", "memory", "redis"
MODES = {"b=1": "fast/x", "coalesced": "coal/x"}
PACED_MODEL = "paced/x"
RESUME_TOKENS, RESUME_AFTER, RESUME_RUNS = 1000, 500, 5
QUIET_S = 3.0
"""How long to wait for idle cores before a run (many runs: keep the whole under 6 minutes)."""


def journal_tables(stack: str, redis_url: str | None) -> str:
    backend = {DIRECT: "off", MEMORY: "memory", REDIS: "redis"}[stack]
    url = f'url = "{redis_url}"\n' if stack == REDIS else ""
    return (
        f'\n[journal]\nbackend = "{backend}"\n{url}ttl = 60\n\n[dedup]\nmode = "off"\n'
        # the journal alone: no conversation store (serve's default SQLite would add a turn's
        # two writes and a transcript to every native request of the journal stacks)
        '\n[store]\nurl = "off"\n'
        + mock_table("coal", burst=64)
        + mock_table("paced", tokens_per_second=RATE)
    )


def redis_journal_missing() -> str:
    """Why the Redis stack cannot run from this checkout ("" when it can)."""
    if importlib.util.find_spec("aichatflow.journal.redis_journal") is None:
        return f"{REDIS}: skipped, this checkout has no Redis journal (journal/redis_journal.py)"
    if importlib.util.find_spec("redis") is None:
        return f"{REDIS}: skipped, the Redis client is missing (pip install 'aichatflow[redis]')"
    return ""


def start(tmp: Path, redis: RedisServer | None) -> dict[str, Server]:
    stacks = [DIRECT, MEMORY] + ([REDIS] if redis is not None else [])
    servers: dict[str, Server] = {}
    try:
        for name in stacks:
            extra = journal_tables(name, redis.url if redis is not None else None)
            config = mock_config(0, extra=extra).replace("port = 0", "port = {port}")
            servers[name] = aichatflow_server(f"journal-{name}", tmp, SERVER_CPU, config).start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


class Loads:
    """Load generator runs against the stacks, with Redis' commands and CPU around each."""

    def __init__(self, servers: dict[str, Server], redis: RedisServer | None, quiet: bool):
        self.servers = servers
        self.redis = redis
        self.quiet = quiet
        self.runs: list[dict[str, Any]] = []

    def order(self, rep: int) -> list[str]:
        names = list(self.servers)
        shift = rep % len(names)
        return names[shift:] + names[:shift]

    def fast(self, name: str, model: str, streams: int, events: int, rounds: int) -> dict[str, Any]:
        args = ("--streams", streams, "--events", events, "--model", model, "--rounds", rounds)
        return self._run(name, (*args, "--timeout", 150), timeout=200)

    def paced(self, name: str, streams: int, events: int) -> dict[str, Any]:
        ramp = streams / 5000
        limit = events * INTERVAL_MS / 1000 + ramp + 60
        args = ("--streams", streams, "--events", events, "--model", PACED_MODEL)
        args += ("--interval-ms", INTERVAL_MS, "--ramp-s", ramp, "--timeout", limit)
        return self._run(name, args, timeout=limit + 120)

    def _run(self, name: str, args: tuple[object, ...], timeout: float) -> dict[str, Any]:
        busy = 0.0 if not self.quiet else wait_quiet(timeout=QUIET_S)
        redis = self.redis if name == REDIS else None
        before = redis.commandstats() if redis else {}
        cpu0 = redis.cpu_seconds() if redis else 0.0
        try:
            result = run_loadgen(self.servers[name], "/api/chat", *args, timeout=timeout)
        except Exception as exc:  # a load generator that failed: every stream failed
            streams = int(str(args[args.index("--streams") + 1]))
            result = {"streams": streams, "ok_streams": 0, "failures": [f"{exc}"[:300]]}
        result.update(stack=name, background_busy_pct=busy)
        if redis is not None and result.get("events"):
            calls = delta(before, redis.commandstats())
            result["redis_commands"] = calls
            result["redis_commands_per_token"] = sum(calls.values()) / result["events"]
            cpu = redis.cpu_seconds() - cpu0
            result["redis_cpu_us_per_token"] = 1e6 * cpu / result["events"]
        return result


def run_fast(loads: Loads, args: argparse.Namespace) -> list[dict[str, Any]]:
    rounds = {}
    for mode, model in MODES.items():
        rounds[mode] = 1
        if not args.quick:  # calibration on the direct path, the fastest (see run_fast.py)
            probe = loads.fast(DIRECT, model, args.streams, args.events, 1)
            wanted = math.ceil(args.min_seconds / max(float(probe.get("wall_s", 1.0)), 1e-3))
            rounds[mode] = max(1, min(50, wanted))
    runs = []
    for rep in range(args.reps):
        for mode, model in MODES.items():
            for name in loads.order(rep):
                r = loads.fast(name, model, args.streams, args.events, rounds[mode])
                r.update(scenario="fast", mode=mode, rep=rep, rounds=rounds[mode])
                runs.append(r)
                progress(r)
    return runs


def run_paced(loads: Loads, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for rep in range(args.paced_reps):
        for name in loads.order(rep):
            r = loads.paced(name, args.paced_streams, args.paced_events)
            r.update(scenario="paced", mode="paced", rep=rep)
            runs.append(r)
            progress(r)
    return runs


def progress(r: dict[str, Any]) -> None:
    if "events_per_s" not in r:
        line = f"FAILED {r['failures']}"
    else:
        late = r.get("lateness_ms_p99")
        line = (
            f"{r['events_per_s']:>10,.0f} ev/s, server {r['server_cpu_us_per_event'] or 0:.2f} "
            f"µs/ev{'' if late is None else f', p99 {late:.1f} ms'}"
            f"{_redis_progress(r)}, ok {r['ok_streams']}/{r['streams']}"
        )
    print(
        f"  {r['scenario']:5} {r['mode']:9} rep {r['rep']} {r['stack']:6} {line}", file=sys.stderr
    )


def _redis_progress(r: dict[str, Any]) -> str:
    per = r.get("redis_commands_per_token")
    return "" if per is None else f", redis {per:.2f} cmd/token"


def journal_bytes(
    servers: dict[str, Server], redis: RedisServer | None, tokens: int
) -> list[dict[str, Any]]:
    """Bytes one finished ``tokens``-token run holds, b=1 and coalesced, per backend."""
    rows = []
    for mode, burst in (("b=1", 1), ("coalesced", 64)):
        rows.append({"backend": MEMORY, "mode": mode, **memory_journal_bytes(tokens, burst)})
        if redis is None:
            continue
        port = servers[REDIS].port
        before = redis.commandstats()
        stream_id = finished_run(port, tokens, model=MODES[mode])
        time.sleep(0.2)  # let the run's end hook finish its writes
        calls = delta(before, redis.commandstats())
        keys = redis.keys_of(stream_id)
        used = redis.memory_usage(keys)
        rows.append(
            {
                "backend": REDIS,
                "mode": mode,
                "tokens": tokens,
                "keys": keys,
                "memory_usage_bytes": used,
                "memory_usage_bytes_per_token": used / tokens,
                "commands_one_stream": calls,
                "commands_per_token_one_stream": sum(calls.values()) / tokens,
            }
        )
    return rows


def resumes(
    servers: dict[str, Server], n: int, pause: float = 0.005
) -> tuple[dict[str, list[float]], list[str]]:
    """``n`` resumes per journal stack, interleaved, over ``RESUME_RUNS`` finished runs each;
    milliseconds to the first replayed event, and the failures."""
    stacks = [name for name in (MEMORY, REDIS) if name in servers]
    ids = {
        name: [finished_run(servers[name].port, RESUME_TOKENS) for _ in range(RESUME_RUNS)]
        for name in stacks
    }
    expected = expected_after(RESUME_TOKENS, RESUME_AFTER)
    out: dict[str, list[float]] = {name: [] for name in stacks}
    failures: list[str] = []
    for i in range(n + 5):  # the first 5 of each: warm-up, not recorded
        for name in stacks:
            stream_id = ids[name][i % RESUME_RUNS]
            try:
                seconds = resume_first_event(servers[name].port, stream_id, RESUME_AFTER, expected)
            except Exception as exc:
                failures.append(f"{name} resume: {exc}"[:300])
                continue
            if i >= 5:
                out[name].append(1000 * seconds)
            time.sleep(pause)
    return out, failures


def main() -> None:
    ap = scenario_parser(__doc__, "1 repetition, 20 x 500 fast, 500 x 60 paced, 30 resumes")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of the fast loads")
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--min-seconds", type=float, default=1.5)
    ap.add_argument("--paced-reps", type=int, default=3)
    ap.add_argument("--paced-streams", type=int, default=2500)
    ap.add_argument("--paced-events", type=int, default=200)
    ap.add_argument("--resumes", type=int, default=200, help="resumes per journal stack")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.streams, args.events = 1, 20, 500
        args.paced_reps, args.paced_streams, args.paced_events, args.resumes = 1, 500, 60, 30
    pin_self(CLIENT_CPU)
    if args.paced_streams > raise_nofile() - 200:
        sys.exit(f"RLIMIT_NOFILE is too low for {args.paced_streams} streams")
    info, notes = machine(), []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="acf-journal-") as tmp_name:
        tmp = Path(tmp_name)
        missing = redis_journal_missing()
        redis = None if missing else RedisServer.start_or_none(tmp)
        if missing:
            notes.append(missing)
        elif redis is None:
            notes.append(
                f"{REDIS}: skipped, redis-server is not installed (scripts/peers/redis.sh)"
            )
        try:
            servers = start(tmp, redis)
            try:
                loads = Loads(servers, redis, quiet=not args.no_quiet_wait)
                for name in servers:  # warm-up: imports, caches; not recorded
                    loads.fast(name, MODES["b=1"], 20, 200, 1)
                    loads.paced(name, 50, 20)
                fast = run_fast(loads, args)
                paced = run_paced(loads, args)
                sizes = journal_bytes(servers, redis, RESUME_TOKENS)
                resume_ms, resume_failures = resumes(servers, args.resumes)
            finally:
                for server in servers.values():
                    server.stop()
        finally:
            if redis is not None:
                redis.stop()
    summary = summarise(fast + paced, sizes, resume_ms)
    payload = {
        "machine": info,
        "args": vars(args),
        "notes": notes,
        "seconds": time.monotonic() - t0,
        "runs": fast + paced,
        "bytes": sizes,
        "resume_ms": resume_ms,
        "resume_failures": resume_failures,
        "summary": summary,
    }
    path = save("journal", payload)
    print(report(summary, args))
    failed = [
        f"{row['stack']} {row['mode']}: {row['failed']} of {row['total']} streams failed: "
        f"{row['failures'][:3]}"
        for row in summary["loads"]
        if row["failed"]
    ] + resume_failures[:5]
    notes.append(f"Whole run: {payload['seconds']:.0f} s.")
    finish(info, path, notes, failed)


if __name__ == "__main__":
    main()
