"""Scenario ``workers``: does ``aichatflow serve --workers 2`` deliver twice one worker?

What it answers (target 5: two workers on two cores >= 1.8x one worker): a scenario's
load run against ``aichatflow serve --workers 1`` and ``--workers 2`` in the same repetition,
the ratio ``2w / 1w`` per repetition, and where the CPU went. Scenarios: ``fast`` (100 streams x
2,000 events, mock ``tokens_per_second = 0``, ``burst = 1``: one write per event, the CPU-bound
case) and ``paced`` (5,000 streams at 20 events/s, connects spread over 1 s). A scenario is a
:class:`Scenario`; adding one means declaring it and passing it to :func:`compare_workers`.

The honest problem on a 2-core machine: the load generator needs CPU too, and two workers want
both cores. So the servers are not pinned at start (the benchmarks' server-on-CPU-0 rule would put
both workers on one core), and every worker count runs under three layouts (:data:`LAYOUTS`):

* ``unpinned``: one load generator process; the scheduler places everything;
* ``spread``: two load generator processes, half the streams each, pinned to CPU 0 and CPU 1, so
  no single load generator process's core is the limit; the server unpinned;
* ``own cores``: the server's processes (re-pinned before the run, every thread) and one load
  generator process on the first N CPUs for N workers: one worker and its load share one core,
  two workers and theirs share two. On this kind of VM one worker with the load generator on
  the *other* core pays for waking it there on every write (see the notes the script prints),
  so this is the like-for-like "N cores for everything" ratio.

The load generator is ``loadgen.run_load`` run in processes forked from this script (reused, not
copied): each part only waits at a shared barrier before its load, so the parts start within a
millisecond of each other and the run's wall time is the longest part's.

Figures (median [min-max] over repetitions; the order of the runs rotates by repetition):

* events/s: text deltas of every part over the longest part's wall time (connect to last
  terminator); ``x 1w``: the per-repetition ratio against one worker in the same layout;
* server CPU %: utime+stime of the server's whole process tree (parent and workers,
  ``_common.tree_cpu_seconds``-style, ``/proc``) over wall time, in % of one core (200 % = both
  cores); µs/event: the same per delivered event; worker split: each worker's share of it (the
  kernel hashes connections to workers, so 100 streams split about 50/50, not exactly);
* load generator CPU %: all its processes together (``time.process_time`` over the load, the
  checks excluded), and its busiest process: a process near 100 % of its core limited the run;
* events/write: events over the server's write()/writev() calls (``syscw`` in ``/proc/<pid>/io``):
  1.0 means one write per event held, as the scenario intends;
* cores busy %: ``/proc/stat`` over the run, irq and softirq included (the loopback TCP work).

Every stream is checked (status, complete chunked body, ``done`` last, text equal to the
mock's): a failed check fails the script (exit status 1).

Run: ``.venv/bin/python benchmarks/run_workers.py`` (3 repetitions, about 3 minutes) or
``--quick`` (1 repetition, 100 streams x 500 events, under a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import loadgen
import orjson
from _common import (
    DASH,
    HOST,
    TIMES,
    Server,
    column,
    cpu_seconds,
    fmt_range,
    machine,
    median_text,
    save,
    tree_pids,
    wait_quiet,
)
from _stacks import aichatflow_server

WORKERS = (1, 2)
QUIET_S = 3.0
"""How long to wait for idle cores before a run (other jobs share the machine)."""
_FORK = multiprocessing.get_context("fork")  # this script holds no thread or loop when it forks


@dataclass(frozen=True, slots=True)
class Scenario:
    """One load, described once, run against every worker count and layout.

    A paced scenario would be, e.g., ``Scenario("paced", 2500, 200, (500, 60),
    {"tokens_per_second": 20}, provider="paced", load_options={"interval": 0.05, "ramp_s":
    0.5})``, added to :data:`SCENARIOS`; its lateness p99 then shows in the table.
    """

    name: str
    streams: int
    events: int
    quick: tuple[int, int]
    """(streams, events) with ``--quick``."""
    mock: dict[str, Any]
    """The ``[providers.<provider>]`` mock options (``_stacks.mock_table``)."""
    provider: str = "fast"
    load_options: dict[str, Any] = field(default_factory=dict)
    """More ``loadgen.run_load`` arguments (a paced scenario: ``interval``, ``ramp_s``)."""
    timeout: float = 150.0
    """Seconds for one load (all its streams)."""


FAST = Scenario("fast", 100, 2000, (100, 500), {"tokens_per_second": 0, "burst": 1})
PACED = Scenario(
    "paced",
    5000,
    100,
    (1000, 40),
    {"tokens_per_second": 20},
    provider="paced",
    load_options={"interval": 0.05, "ramp_s": 1.0},
)
"""The paced load at 5,000 streams (20 events/s each, 100 events: 5 s per stream)."""
SCENARIOS = {s.name: s for s in (FAST, PACED)}


ALL_CPUS = tuple(sorted(os.sched_getaffinity(0)))


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the server's processes and the load generator's run, for a number of workers."""

    name: str
    note: str
    parts: int = 1
    """Load generator processes (the streams split between them)."""
    confined: bool = False
    """Everything on the first ``workers`` CPUs: N workers get N cores, load generator included."""

    def server_cpus(self, workers: int) -> frozenset[int]:
        return frozenset(ALL_CPUS[:workers] if self.confined else ALL_CPUS)

    def loadgen_cpus(self, workers: int) -> list[frozenset[int]]:
        if self.confined or self.parts == 1:
            return [self.server_cpus(workers)] * self.parts
        return [frozenset({ALL_CPUS[i % len(ALL_CPUS)]}) for i in range(self.parts)]


LAYOUTS = (
    Layout("unpinned", "nothing pinned, one load generator process"),
    Layout("spread", "server unpinned, two load generator processes, one per CPU", parts=2),
    Layout(
        "own cores",
        "server and one load generator process on the first N CPUs for N workers (1 worker: "
        "everything on one core; 2 workers: on both), so each row has as many cores as workers",
        confined=True,
    ),
)


def chosen_layouts(args: argparse.Namespace) -> list[Layout]:
    """``--layouts``; with ``--quick`` only ``own cores`` (the like-for-like ratio) by default."""
    names = args.layouts or ("own cores" if args.quick else ",".join(la.name for la in LAYOUTS))
    return [la for la in LAYOUTS if la.name in names.split(",")]


def pin_tree(server: Server, cpus: frozenset[int]) -> None:
    """Every thread of every process of the server onto ``cpus`` (it runs, unpinned, between)."""
    for pid in tree_pids(server.pid):
        with contextlib.suppress(OSError):  # a thread or process that just ended
            for tid in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(tid), cpus)


def start_server(tmp: Path, scenario: Scenario, workers: int) -> Server:
    """``aichatflow serve --workers N``, unpinned, ready when every worker listens."""
    name = f"aichatflow {scenario.name} {workers}w"
    server = aichatflow_server(name, tmp, None, provider=scenario.provider, **scenario.mock)
    server.cmd += ["--workers", str(workers)]  # the flag, as a user passes it
    server.start()
    deadline = time.monotonic() + 30
    while listening(server.port) < workers:
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name}: {listening(server.port)} of {workers} workers listen")
        time.sleep(0.05)
    return server


def listening(port: int) -> int:
    """Listening sockets on ``port`` (with ``SO_REUSEPORT``, one per worker)."""
    count = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            count += int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A"
    return count


def _load_part(
    out: Connection,
    barrier: Barrier,
    cpus: frozenset[int],
    port: int,
    body: bytes,
    streams: int,
    expected: loadgen.Expected,
    scenario: Scenario,
) -> None:
    """A forked load generator process: pin, make the loop, wait for the others, load."""
    os.sched_setaffinity(0, cpus)
    loop = loadgen.new_loop()
    barrier.wait()
    result = loop.run_until_complete(
        loadgen.run_load(
            port=port,
            path="/api/chat",
            body=body,
            streams=streams,
            expected=expected,
            timeout=scenario.timeout,
            **scenario.load_options,
        )
    )
    out.send(asdict(result))
    out.close()


def _sample(server: Server) -> dict[int, tuple[float, int]]:
    """Per process of the server: (CPU seconds, write syscalls so far).

    ``syscw`` in ``/proc/<pid>/io`` counts write()/writev() calls: uvloop writes a socket with
    them, and when a client reads late, several queued sends leave in one call.
    """
    sample = {}
    for pid in tree_pids(server.pid):
        with contextlib.suppress(OSError, StopIteration):  # a process that just ended
            with open(f"/proc/{pid}/io") as f:
                writes = next(int(line.split()[1]) for line in f if line.startswith("syscw:"))
            sample[pid] = (cpu_seconds(pid), writes)
    return sample


def load(
    server: Server, scenario: Scenario, layout: Layout, workers: int, streams: int, events: int
) -> dict[str, Any]:
    """One run: the layout's load generator processes together; their figures combined."""
    pin_tree(server, layout.server_cpus(workers))
    placement = layout.loadgen_cpus(workers)
    body = loadgen.chat_body(events, f"{scenario.provider}/x")
    expected = loadgen.expected_from_mock(orjson.loads(body), scenario.mock)
    shares = [
        streams // len(placement) + (i < streams % len(placement)) for i in range(len(placement))
    ]
    barrier = _FORK.Barrier(len(placement) + 1)
    parts = []
    for cpus, share in zip(placement, shares, strict=True):
        reader, writer = _FORK.Pipe(duplex=False)
        args = (writer, barrier, cpus, server.port, body, share, expected, scenario)
        process = _FORK.Process(target=_load_part, args=args, daemon=True)
        process.start()
        writer.close()
        parts.append((process, reader))
    results: list[dict[str, Any]] = []
    failures: list[str] = []
    try:
        barrier.wait(timeout=60)
        before = _sample(server)
        for process, reader in parts:
            if reader.poll(scenario.timeout + 60):
                results.append(reader.recv())
            else:
                failures.append("load generator: no result")
            process.join(10)
        after = _sample(server)
    finally:
        for process, _ in parts:
            if process.is_alive():
                process.kill()
                process.join()
    return combine(server, results, failures, before, after, streams)


def combine(
    server: Server,
    results: list[dict[str, Any]],
    failures: list[str],
    before: dict[int, tuple[float, int]],
    after: dict[int, tuple[float, int]],
    streams: int,
) -> dict[str, Any]:
    """The parts of one run as one run: summed events over the longest wall time."""
    if not results:
        return {"streams": streams, "ok_streams": 0, "failures": failures}
    longest = max(results, key=lambda r: r["wall_s"])
    wall = longest["wall_s"]
    events = sum(r["events"] for r in results)
    spent = {p: cpu - before.get(p, (0.0, 0))[0] for p, (cpu, _) in after.items()}
    writes = sum(w - before.get(p, (0.0, 0))[1] for p, (_, w) in after.items())
    worker_s = {p: s for p, s in spent.items() if p != server.pid} or spent  # 1 worker: no children
    server_s = sum(spent.values())
    loadgen_s = [r["loadgen_cpu_s"] for r in results]
    run = {
        "streams": sum(r["streams"] for r in results),
        "ok_streams": sum(r["ok_streams"] for r in results),
        "failures": sorted({f for r in results for f in r["failures"]} | set(failures)),
        "wall_s": wall,
        "events": events,
        "events_per_s": events / wall,
        "events_per_write": events / max(writes, 1),
        "server_cpu_pct": 100 * server_s / wall,
        "server_cpu_us_per_event": 1e6 * server_s / max(events, 1),
        "worker_split_pct": sorted(
            (round(100 * s / max(sum(worker_s.values()), 1e-9)) for s in worker_s.values()),
            reverse=True,
        ),
        "loadgen_cpu_pct": 100 * sum(loadgen_s) / wall,
        "loadgen_busiest_pct": max(100 * r["loadgen_cpu_s"] / r["wall_s"] for r in results),
        "core_busy_pct": longest["core_busy_pct"],
        "ttfe_ms_p99": max(r["ttfe_ms_p99"] for r in results),
        "lateness_ms_p99": max(
            (r["lateness_ms_p99"] for r in results if r.get("lateness_ms_p99") is not None),
            default=None,
        ),
        "parts": results,
    }
    return run


def compare_workers(
    scenario: Scenario, args: argparse.Namespace, tmp: Path
) -> list[dict[str, Any]]:
    """``scenario`` against 1 and 2 workers under every layout, ``args.reps`` times; the runs."""
    streams, events = scenario.quick if args.quick else (scenario.streams, scenario.events)
    servers: dict[int, Server] = {}
    runs: list[dict[str, Any]] = []
    try:
        for n in WORKERS:
            servers[n] = start_server(tmp, scenario, n)
            load(servers[n], scenario, LAYOUTS[0], n, 20, 200)  # warm-up, not recorded
        cells = [(n, layout) for layout in chosen_layouts(args) for n in WORKERS]
        for rep in range(args.reps):
            shift = rep % len(cells)
            for n, layout in cells[shift:] + cells[:shift]:
                busy = 0.0 if args.no_quiet_wait else wait_quiet(timeout=QUIET_S)
                run = load(servers[n], scenario, layout, n, streams, events)
                run.update(
                    scenario=scenario.name,
                    workers=n,
                    layout=layout.name,
                    rep=rep,
                    background_busy_pct=busy,
                )
                runs.append(run)
                print(progress(run), file=sys.stderr, flush=True)
    finally:
        for server in servers.values():
            server.stop()
    return runs


def progress(r: dict[str, Any]) -> str:
    head = f"  {r['scenario']} {r['workers']}w {r['layout']:8} rep {r['rep']}"
    if "events_per_s" not in r:
        return f"{head}: FAILED {r['failures']}"
    return (
        f"{head}: {r['events_per_s']:>9,.0f} ev/s, server {r['server_cpu_pct']:.0f} % "
        f"(split {r['worker_split_pct']}), loadgen {r['loadgen_cpu_pct']:.0f} % "
        f"(busiest {r['loadgen_busiest_pct']:.0f} %), cores {r['core_busy_pct']} "
        f"ok {r['ok_streams']}/{r['streams']} (busy before: {r['background_busy_pct']:.0f} %)"
    )


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (scenario, layout, workers): per-repetition values and the ratio against 1 worker."""
    rows = []
    for scenario, layout, n in dict.fromkeys(
        (r["scenario"], r["layout"], r["workers"]) for r in runs
    ):
        mine = [
            r for r in runs if (r["scenario"], r["layout"], r["workers"]) == (scenario, layout, n)
        ]
        one = {
            r["rep"]: r.get("events_per_s")
            for r in runs
            if (r["scenario"], r["layout"], r["workers"]) == (scenario, layout, 1)
        }
        row: dict[str, Any] = {"scenario": scenario, "layout": layout, "workers": n}
        for key in (
            "events_per_s",
            "server_cpu_pct",
            "server_cpu_us_per_event",
            "events_per_write",
            "loadgen_cpu_pct",
            "loadgen_busiest_pct",
            "ttfe_ms_p99",
            "lateness_ms_p99",
            "background_busy_pct",
        ):
            row[key] = column(mine, key)
        row["ratio_vs_1w"] = [
            r["events_per_s"] / one[r["rep"]]
            for r in mine
            if "events_per_s" in r and one.get(r["rep"])
        ]
        row["cores_busy_pct"] = [
            statistics.mean(r["core_busy_pct"]) for r in mine if "core_busy_pct" in r
        ]
        row["worker_split_pct"] = [r["worker_split_pct"] for r in mine if "worker_split_pct" in r]
        row["failed_streams"] = sum(r["streams"] - r["ok_streams"] for r in mine)
        row["total_streams"] = sum(r["streams"] for r in mine)
        row["failures"] = sorted({f for r in mine for f in r["failures"]})
        rows.append(row)
    return rows


def _split(row: dict[str, Any]) -> list[float]:
    """Median share of the workers' CPU, busiest worker first (one list per repetition)."""
    return [statistics.median(s) for s in zip(*row["worker_split_pct"], strict=True)]


def table(rows: list[dict[str, Any]]) -> str:
    paced = any(r["lateness_ms_p99"] for r in rows)
    lines = [
        f"| scenario | layout | workers | events/s | {TIMES} 1w | server CPU % "
        "| server µs/event | events/write | worker CPU split % "
        "| loadgen CPU % (busiest process) | cores busy % "
        + ("| lateness p99 ms " if paced else "")
        + "| failed streams |",
        "|---" * (13 if paced else 12) + "|",
    ]
    for r in rows:
        ratio = fmt_range(r["ratio_vs_1w"], 2) + TIMES if r["workers"] > 1 else "1"
        split = "/".join(f"{x:.0f}" for x in _split(r))
        lines.append(
            f"| {r['scenario']} | {r['layout']} | {r['workers']} | {fmt_range(r['events_per_s'])} "
            f"| {ratio} | {fmt_range(r['server_cpu_pct'])} "
            f"| {fmt_range(r['server_cpu_us_per_event'], 2)} "
            f"| {median_text(r['events_per_write'], 1)} "
            f"| {split or '—'} | {fmt_range(r['loadgen_cpu_pct'])} "
            f"({median_text(r['loadgen_busiest_pct'])}) | {fmt_range(r['cores_busy_pct'])} "
            + (f"| {fmt_range(r['lateness_ms_p99'], 1)} " if paced else "")
            + f"| {r['failed_streams']} of {r['total_streams']} |"
        )
    return "\n".join(lines)


def bottleneck_notes(rows: list[dict[str, Any]]) -> list[str]:
    """Say plainly what limited each row: a load generator process, the shared cores, or not."""
    notes = []
    for r in rows:
        if not r["events_per_s"]:
            continue
        where = f"{r['scenario']} {r['workers']}w {r['layout']}"
        busiest = statistics.median(r["loadgen_busiest_pct"])
        loadgen = statistics.median(r["loadgen_cpu_pct"])
        server = statistics.median(r["server_cpu_pct"])
        cores = statistics.median(r["cores_busy_pct"])
        if busiest >= 90:
            notes.append(
                f"{where}: LOAD GENERATOR BOUND: one load generator process used {busiest:.0f} % "
                "of its core; the server could have delivered more."
            )
        elif cores >= 90 and r["workers"] > 1:
            notes.append(
                f"{where}: both cores saturated ({cores:.0f} % busy): the workers got "
                f"{server:.0f} % of {100 * len(ALL_CPUS)} %, the load generator {loadgen:.0f} %, "
                "the rest went to the kernel's loopback TCP work (softirq, in no process's figure) "
                "and any other job. The shared cores are the limit here, not the workers."
            )
        elif loadgen >= server:
            notes.append(
                f"{where}: the load generator used as much CPU as the server ({loadgen:.0f} % vs "
                f"{server:.0f} %): treat the figure as a lower bound."
            )
    busy = [b for r in rows for b in r["background_busy_pct"]]
    if busy and max(busy) > 15:
        notes.append(
            f"Other jobs used the machine: before some runs the busiest core was {max(busy):.0f} % "
            f"busy (median {statistics.median(busy):.0f} %) after waiting up to {QUIET_S:.0f} s; "
            "those figures are noisy (each run's value is in the JSON)."
        )
    uneven = [
        f"{r['scenario']} {r['layout']} {'/'.join(f'{x:.0f}' for x in split)}"
        for r in rows
        if r["workers"] > 1 and r["worker_split_pct"]
        for split in [_split(r)]
        if split[0] >= 55
    ]
    if uneven:
        notes.append(
            "The kernel hashes connections to workers, so the streams did not split evenly ("
            + "; ".join(uneven)
            + " % of the workers' CPU): the busier worker ends last while the other idles, "
            "which costs a fixed-size load like this one throughput."
        )
    by = {(r["scenario"], r["layout"], r["workers"]): r for r in rows}
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        alone, apart = by.get((scenario, "own cores", 1)), by.get((scenario, "unpinned", 1))
        if not (
            alone
            and apart
            and alone["server_cpu_us_per_event"]
            and apart["server_cpu_us_per_event"]
        ):
            continue
        a = statistics.median(alone["server_cpu_us_per_event"])
        b = statistics.median(apart["server_cpu_us_per_event"])
        if a < 0.8 * b:
            notes.append(
                f"{scenario}: one worker costs {b:.2f} µs/event when the load generator may run on "
                f"the other core, {a:.2f} µs/event when both share one core. Waking a reader that "
                "sleeps on another core costs the writer an inter-processor interrupt (dear in a "
                "VM); two busy workers rarely find a core asleep. So the unpinned and spread "
                "ratios include that saving, and 'own cores' (1 core for everything vs 2) is the "
                "like-for-like ratio."
            )
    return notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, the scenario's quick size")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    ap.add_argument("--layouts", default="", help="comma-separated; --quick: own cores")
    ap.add_argument("--no-quiet-wait", action="store_true", help="do not wait for idle cores")
    args = ap.parse_args()
    if args.quick:
        args.reps = 1
    chosen = [SCENARIOS[name] for name in args.scenarios.split(",")]
    info = machine()
    print(
        f"# workers: {[s.name for s in chosen]}, 1 vs 2 workers, {args.reps} repetition(s), "
        f"{info['cpus']} CPUs ({info['cpu_model']}), layouts "
        f"{[la.name for la in chosen_layouts(args)]}",
        file=sys.stderr,
    )
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="acf-workers-") as tmp_name:
        for scenario in chosen:
            runs += compare_workers(scenario, args, Path(tmp_name))
    rows = summarise(runs)
    path = save("workers", {"machine": info, "args": vars(args), "runs": runs, "summary": rows})
    sizes = ", ".join(
        f"{s.name}: {(s.quick if args.quick else (s.streams, s.events))[0]} streams {TIMES} "
        f"{(s.quick if args.quick else (s.streams, s.events))[1]:,} events"
        for s in chosen
    )
    print(
        f"\n### Scenario workers ({sizes}): one vs two `aichatflow serve` workers, "
        f"median [min{DASH}max] of {args.reps}\n"
    )
    print(table(rows))
    layouts = chosen_layouts(args)
    print("\nLayouts: " + "; ".join(f"`{la.name}`: {la.note}" for la in layouts) + ".")
    for note in bottleneck_notes(rows):
        print(f"\n{note}")
    print(
        f"\nMachine: {info['cpus']} cores ({info['cpu_model']}), kernel {info['kernel']}, "
        f"Python {info['python']}, uvicorn {info['versions']['uvicorn']}, on {HOST}. "
        f"Raw results: {path}"
    )
    failed = [r for r in rows if r["failed_streams"] or r["failures"]]
    for r in failed:
        print(f"\nFAILED: {r['scenario']} {r['workers']}w {r['layout']}: {r['failures'][:3]}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
