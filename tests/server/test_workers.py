"""``aichatflow serve --workers 2`` as a user runs it: real processes, real sockets, signals.

Which worker served what is read from ``/proc`` (the parent's children, and the TCP sockets
each child holds on the port), so the server exposes nothing new for the tests.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aichatflow.config import Settings
from aichatflow.server.workers import RESTARTS
from tests.support.client import Received, stream_chat, user
from tests.support.processes import free_port, spawn, stop, wait_http_ready
from tests.support.serve_process import ServeProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork + /proc")

ENV = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and "AICHATFLOW" not in k}
"""The keyless mock default: no keys, no config file, no AICHATFLOW_* from the caller."""
_LISTEN, _ESTABLISHED = "0A", "01"


def _serve_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "aichatflow", "serve", *args]


@contextmanager
def serving(tmp_path: Path, workers: int = 2) -> Iterator[ServeProcess]:
    port = free_port()
    log = tmp_path / "serve.log"
    cmd = _serve_cmd("--workers", str(workers), "--port", str(port))
    proc = spawn(cmd, cwd=tmp_path, env=ENV, log_path=log)
    try:
        wait_http_ready(proc, f"http://127.0.0.1:{port}/healthz", log, name="serve", timeout=30)
        running = ServeProcess(proc, port, log)
        _wait_for(lambda: len(_listening(running)) == workers, "every worker listening")
        yield running
    finally:
        stop(proc, timeout=30)


def _wait_for(condition: object, what: str, timeout: float = 20.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue  # not a process, or it just ended
        if int(raw[raw.rindex(b")") + 2 :].split()[1]) == pid:
            found.append(int(entry))
    return found


def _sockets(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass  # the process just ended
    return inodes


def _tcp_on_port(port: int, state: str) -> set[str]:
    """Inodes of the sockets whose local port is ``port`` in ``state`` (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                    inodes.add(fields[9])
    return inodes


def _holding(server: ServeProcess, state: str) -> dict[int, int]:
    """Children of the parent → how many of their sockets on the port are in ``state``."""
    on_port = _tcp_on_port(server.port, state)
    counts = {pid: len(_sockets(pid) & on_port) for pid in _children(server.proc.pid)}
    return {pid: n for pid, n in counts.items() if n}


def _listening(server: ServeProcess) -> list[int]:
    """Workers that listen on the port and said they serve (so a kill now is a crash)."""
    output = server.output()
    return sorted(p for p in _holding(server, _LISTEN) if f"worker {p} serving on" in output)


def _assert_all_exited(server: ServeProcess, pids: list[int], code: int = 0) -> None:
    assert server.proc.wait(timeout=40) == code, server.output()
    for pid in pids:  # the parent reaped them, so they are gone from /proc
        _wait_for(lambda p=pid: not os.path.exists(f"/proc/{p}"), f"worker {pid} gone", 5)
    assert "Traceback" not in server.output()


async def test_two_workers_share_the_port_serve_and_stop_cleanly(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        workers = _listening(server)
        assert len(workers) == 2 and server.proc.pid not in workers  # the parent does not serve
        prompts = [f"stream {i}" + " word" * 40 for i in range(40)]
        tasks = [
            asyncio.create_task(
                stream_chat(server.url, {"model": "mock/echo", "messages": user(p)}, timeout=60)
            )
            for p in prompts
        ]
        served: set[int] = set()
        while not all(t.done() for t in tasks):  # which workers hold live connections
            served |= set(_holding(server, _ESTABLISHED))
            await asyncio.sleep(0.05)
        results = [await t for t in tasks]
        for prompt, got in zip(prompts, results, strict=True):
            assert got.status == 200
            assert got.names()[-1] == "done", got.raw[-300:]
            assert got.text() == prompt
        assert served == set(workers), f"connections seen on {served} of {workers}"

        # SIGTERM to the parent alone: it forwards it, and each worker drains its live streams.
        live = [
            asyncio.create_task(
                stream_chat(server.url, {"model": "mock/chat", "messages": user()}, timeout=60)
            )
            for _ in range(6)
        ]
        deadline = time.monotonic() + 20
        while sum(_holding(server, _ESTABLISHED).values()) < len(live):
            assert time.monotonic() < deadline, "the live streams did not connect"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # past the mock's first token (300 ms): text is flowing
        server.proc.send_signal(signal.SIGTERM)
        ended: list[Received] = await asyncio.wait_for(asyncio.gather(*live), 40)
        _assert_all_exited(server, workers)
    for got in ended:
        assert got.names()[-1] == "error", got.raw[-300:]
        assert got.data("error")[0]["code"] == "server_shutting_down"
        assert got.data("text")


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        first = _listening(server)
        os.kill(first[0], signal.SIGKILL)
        _wait_for(
            lambda: len(_listening(server)) == 2 and first[0] not in _listening(server),
            "a new worker listening",
        )
        assert "died (killed by SIGKILL); restarted as" in server.output()
        workers = _listening(server)
        got = asyncio.run(stream_chat(server.url, {"model": "mock/echo", "messages": user("ok")}))
        assert got.text() == "ok"
        server.proc.send_signal(signal.SIGTERM)
        _assert_all_exited(server, workers)


def _serve_fails(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    log = tmp_path / "fail.log"
    proc = spawn(_serve_cmd(*args), cwd=tmp_path, env={**ENV, **(env or {})}, log_path=log)
    try:
        assert proc.wait(timeout=30) != 0
    finally:
        stop(proc)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output
    return output


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--workers", "-1"), {}), ((), {"AICHATFLOW_WORKERS": "-3"})],
)
def test_negative_workers_is_a_clear_error(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    output = _serve_fails(tmp_path, "--port", str(free_port()), *args, env=env)
    assert "workers must be 1 or more, or 0/auto for one per CPU" in output


def test_several_workers_on_port_0_is_a_clear_error(tmp_path: Path) -> None:
    output = _serve_fails(tmp_path, "--workers", "2", "--port", "0")
    assert "port 0 (any free port) cannot be shared by several workers" in output


def test_a_taken_port_fails_once_before_any_worker_starts(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        output = _serve_fails(tmp_path, "--workers", "2", "--port", str(server.port))
        assert f"error: port {server.port} on 127.0.0.1 is already in use" in output
        assert "started" not in output


@pytest.mark.parametrize("value", ["auto", "0", 0])
def test_auto_and_0_mean_one_worker_per_cpu(value: object) -> None:
    assert Settings.load(env={}, overrides={"workers": value}).workers == (os.cpu_count() or 1)


def test_a_worker_that_cannot_start_stops_everything(tmp_path: Path) -> None:
    env = {"AICHATFLOW_DEFAULT_MODEL": "nowhere/x"}
    output = _serve_fails(tmp_path, "--workers", "2", "--port", str(free_port()), env=env)
    assert "cannot start" in output and "nowhere" in output
    assert "could not start (exit status 1); stopping" in output


def test_workers_dying_in_a_loop_stop_the_server(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        for _ in range(RESTARTS + 1):
            _wait_for(lambda: len(_listening(server)) == 2, "two workers listening")
            os.kill(min(_listening(server)), signal.SIGKILL)
        assert server.proc.wait(timeout=40) == 1
    assert f"after {RESTARTS} restarts within" in server.output()
