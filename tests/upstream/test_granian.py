"""``aichatflow serve --server granian``: the guarantees that must not depend on the server.

A real ``aichatflow serve --server granian`` process proxies the fake upstream. Checked: both
dialects stream the upstream's text; a client that leaves closes the upstream connection within
the same budget as on uvicorn (docs/reliability.md, T14); SIGTERM ends a live stream with the
retryable ``server_shutting_down`` frame and the process exits 0 (granian alone would wait for
the stream to end: ``server/granian_runner.py``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import free_port, spawn, stop, wait_http_ready
from tests.support.upstream import FakeUpstream

from ._client import after_content, chat
from .test_disconnect import BUDGET, cancel_latency, endless

pytest.importorskip("granian")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork + signals")


@pytest.fixture
def granian_server(tmp_path: Path, fake: FakeUpstream) -> Iterator[tuple[Any, str]]:
    """(process, base url) of ``serve --server granian`` whose model ``up/m`` is the fake."""
    port = free_port()
    config = tmp_path / "granian.toml"
    config.write_text(
        f'host = "127.0.0.1"\nport = {port}\ndefault_model = "up/m"\nauto_detect = false\n'
        f'log_level = "info"\n\n[providers.up]\nkind = "openai-compatible"\n'
        f'base_url = "{fake.url}/v1"\nmax_retries = 0\n'
        # serve journals by default; a client leaving must still stop the upstream when asked
        '\n[stream]\non_disconnect = "cancel"\n'
    )
    env = {k: v for k, v in os.environ.items() if "AICHATFLOW" not in k}
    cmd = [
        sys.executable,
        "-m",
        "aichatflow",
        "serve",
        "--server",
        "granian",
        "--config",
        str(config),
    ]
    log = tmp_path / "serve.log"
    proc = spawn(cmd, cwd=tmp_path, env=env, log_path=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(proc, url + "/healthz", log, name="granian", timeout=30)
        yield proc, url
    finally:
        stop(proc, timeout=30)


async def test_streams_the_upstream_text(
    fake: FakeUpstream, granian_server: tuple[Any, str], path: str
) -> None:
    fake.default = endless(0.001, count=50)
    _, url = granian_server
    result = await chat(url, path)
    assert result.status == 200
    assert result.text == "tok " * 50
    assert len(result.terminals) == 1


async def test_client_leaving_closes_the_upstream(
    fake: FakeUpstream, granian_server: tuple[Any, str], path: str
) -> None:
    fake.default = endless(0.05)
    _, url = granian_server
    result = await chat(url, path, stop_when=after_content(3))
    assert result.text.startswith("tok tok tok")
    latency = cancel_latency(fake, result)
    assert latency <= BUDGET, f"upstream closed {latency * 1000:.0f} ms after the client left"


async def test_sigterm_ends_live_streams_with_a_goodbye_frame(
    fake: FakeUpstream, granian_server: tuple[Any, str]
) -> None:
    fake.default = endless(0.05)
    proc, url = granian_server
    reading = asyncio.create_task(chat(url, "/api/chat"))
    while not fake.requests:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # a few deltas delivered
    proc.send_signal(signal.SIGTERM)
    result = await asyncio.wait_for(reading, 15)
    assert result.text.startswith("tok ")
    assert [f.event for f in result.terminals] == ["error"]
    assert result.error is not None
    assert result.error["code"] == "server_shutting_down"
    assert result.error["retryable"] is True
    for _ in range(300):  # the process exits by itself, cleanly
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.05)
    assert proc.returncode == 0


def test_a_dead_worker_stops_the_server_without_a_traceback(tmp_path: Path) -> None:
    """A worker killed from outside: granian (which ``serve`` runs without respawning) shuts
    the whole server down. ``serve``'s drain signal used to be sent to the dead worker's pid
    too, and the ``ProcessLookupError`` ended the parent with a traceback; it now exits
    cleanly, with its other worker stopped."""
    port = free_port()
    config = tmp_path / "granian.toml"
    config.write_text(f'port = {port}\nworkers = 2\nserver = "granian"\nauto_detect = false\n')
    env = {k: v for k, v in os.environ.items() if "AICHATFLOW" not in k}
    cmd = [sys.executable, "-m", "aichatflow", "serve", "--config", str(config)]
    log = tmp_path / "serve.log"
    proc = spawn(cmd, cwd=tmp_path, env=env, log_path=log)
    try:
        wait_http_ready(proc, f"http://127.0.0.1:{port}/healthz", log, name="granian", timeout=30)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        workers = [int(pid) for pid in children]
        assert len(workers) == 2, log.read_text()
        os.kill(workers[0], signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop(proc, timeout=30)
    output = log.read_text()
    assert "Traceback" not in output and "ProcessLookupError" not in output, output
    assert not Path(f"/proc/{workers[1]}").exists() or _is_zombie(workers[1]), output


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True
