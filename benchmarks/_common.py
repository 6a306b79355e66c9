"""Process plumbing shared by the benchmark scripts: pinning, start/stop, CPU accounting.

Kept apart from the scripts so every scenario starts, pins and kills its subprocesses the same
way (docs/benchmarks.md: server on core 0, load generator on core 1, all on 127.0.0.1, and nothing
left running after a benchmark, whatever made it stop).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
HOST = "127.0.0.1"
SERVER_CPU = 0
CLIENT_CPU = 1
_TICKS = os.sysconf("SC_CLK_TCK")
TIMES = "\u00d7"  # the multiplication sign of "100 streams x 2,000 events" in reports
DASH = "\u2013"  # the en dash of "median [min-max]" in reports


def cpu_count() -> int:
    return os.cpu_count() or 1


def pinned(cmd: Sequence[str], cpu: int | None) -> list[str]:
    """``cmd`` prefixed with ``taskset`` so the process and every thread it starts stay on ``cpu``.

    ``os.sched_setaffinity(pid)`` after the start would pin only the main thread; ``taskset``
    execs the command, so the pid we hold is the server's own pid.
    """
    if cpu is None or cpu >= cpu_count() or shutil.which("taskset") is None:
        return list(cmd)
    return ["taskset", "-c", str(cpu), *cmd]


def pin_self(cpu: int | None) -> None:
    """Pin the calling process (call it before starting threads or an event loop)."""
    if cpu is not None and cpu < cpu_count() and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def raise_nofile() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (children inherit it); returns it.

    Thousands of streams need one descriptor each, on each side.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    """A port the kernel just handed out; a tiny race with other programs is acceptable here."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all threads) from ``/proc/<pid>/stat``, in seconds.

    Resolution is one clock tick (10 ms at 100 Hz), so runs must last well over a second for
    the per-event figure to be meaningful; the scenarios are sized for that.
    """
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of ``pid`` and its live descendants."""
    total = 0.0
    for p in tree_pids(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(p)
    return total


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (LiteLLM's CLI runs the server in a child process)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        ppid = int(raw[raw.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def vmrss_kib(pid: int) -> int:
    """Resident set size of one process, KiB (``VmRSS`` in /proc/<pid>/status); 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` and its descendants, KiB (``VmRSS`` in /proc/<pid>/status)."""
    return sum(vmrss_kib(p) for p in tree_pids(pid))


def core_times() -> list[tuple[float, float]]:
    """Per core (busy, total) jiffies from ``/proc/stat``; busy includes irq and softirq.

    A process's utime+stime misses the loopback TCP work the kernel does in softirq context, so
    whether the server's core is saturated is read here, not from the process.
    """
    out: list[tuple[float, float]] = []
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = [float(x) for x in line.split()[1:9]]
                idle = v[3] + v[4]  # idle + iowait
                total = sum(v)
                out.append((total - idle, total))
    return out


def core_busy_pct(
    before: list[tuple[float, float]], after: list[tuple[float, float]]
) -> list[float]:
    """Busy percentage of each core between two ``core_times()`` samples."""
    return [
        round(100 * (b1 - b0) / max(t1 - t0, 1e-9), 1)
        for (b0, t0), (b1, t1) in zip(before, after, strict=False)
    ]


def wait_quiet(max_busy: float = 15.0, timeout: float = 30.0, window: float = 0.5) -> float:
    """Wait until no core is busier than ``max_busy`` % (other jobs on a shared machine).

    Returns the busiest core's share in the last window, which the scenarios record beside
    each run: a figure taken while something else used the cores is a figure to distrust.
    """
    deadline = time.monotonic() + timeout
    while True:
        before = core_times()
        time.sleep(window)
        busiest = max(core_busy_pct(before, core_times()), default=0.0)
        if busiest <= max_busy or time.monotonic() > deadline:
            return busiest


class Server:
    """A subprocess that listens on ``port``; killed (whole process group) by ``stop``."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        port: int,
        *,
        cpu: int | None = SERVER_CPU,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        clean_env: dict[str, str] | None = None,
    ) -> None:
        """``env`` is added to this process's environment; ``clean_env`` replaces it."""
        self.name = name
        self.clean_env = clean_env
        self.port = port
        self.cmd = pinned(cmd, cpu)
        self.env = env
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> Server:
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.clean_env
            if self.clean_env is not None
            else {**os.environ, **(self.env or {})},
            start_new_session=True,  # its own process group: stop() can kill all of it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout}s")

    def tail(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def scenario_parser(doc: str | None, quick: str) -> argparse.ArgumentParser:
    """A scenario's command line with the options every one has: ``--quick`` (``quick`` says
    what it shrinks to) and ``--no-quiet-wait``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--no-quiet-wait", action="store_true", help="do not wait for idle cores")
    return ap


def run_json(cmd: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a measuring subprocess that prints one JSON object as its last stdout line."""
    done = subprocess.run(
        cmd, capture_output=True, timeout=timeout, check=False, start_new_session=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{cmd[0]}... exited {done.returncode}:\n{done.stderr.decode(errors='replace')[-3000:]}"
        )
    lines = done.stdout.decode().strip().splitlines()
    return dict(json.loads(lines[-1]))


def run_loadgen(server: Server, path: str, *args: object, timeout: float) -> dict[str, Any]:
    """``loadgen.py`` against ``server`` (its CPU reported), pinned to the client CPU; its JSON.

    ``args`` are more loadgen options (``"--streams", 100, ...``), turned into strings here.
    """
    cmd = [sys.executable, str(HERE / "loadgen.py"), "--port", str(server.port), "--path", path]
    cmd += ["--server-pid", str(server.pid), "--cpu", str(CLIENT_CPU), "--json"]
    return run_json([*cmd, *map(str, args)], timeout)


def med(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max) of the repetitions."""
    return statistics.median(values), min(values), max(values)


def column(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    """``key`` of every row that has it (runs that failed have no figures)."""
    return [float(r[key]) for r in rows if r.get(key) is not None]


def median_text(values: Sequence[float], digits: int = 0) -> str:
    """The median with thousands separators, or a dash when there is nothing to show."""
    return f"{statistics.median(values):,.{digits}f}" if values else "\u2014"


def fmt_range(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """``median [min-max]`` with thousands separators: how every figure is reported."""
    if not values:
        return "—"
    m, lo, hi = med(values)
    if len(values) == 1:
        return f"{m:,.{digits}f}{unit}"
    return f"{m:,.{digits}f}{unit} [{lo:,.{digits}f}{DASH}{hi:,.{digits}f}]"


def machine() -> dict[str, Any]:
    """What the numbers were measured on; absolute figures only mean something next to this."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for mod in ("uvicorn", "uvloop", "httptools", "httpx", "aiohttp", "orjson", "starlette"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = "missing"
    return {
        "cpus": cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "versions": versions,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def finish(info: dict[str, Any], path: Path, notes: Sequence[str], failed: Sequence[str]) -> None:
    """Print a scenario's last lines (notes, machine, where the raw JSON went, failures) and
    exit: status 1 when anything in ``failed``."""
    for note in notes:
        print(f"\n{note}")
    print(
        f"\nMachine: {info['cpus']} cores ({info['cpu_model']}), kernel {info['kernel']}, "
        f"Python {info['python']}, uvicorn {info['versions']['uvicorn']}. Raw results: {path}"
    )
    for line in failed:
        print(f"\nFAILED: {line}")
    sys.exit(1 if failed else 0)


def save(kind: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=1))
    return path
