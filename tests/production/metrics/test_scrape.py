"""``GET /metrics`` of a real ``aichatflow serve`` after a known mix of streams.

One process, ``--workers 2`` and granian with two workers: the scrape, whichever worker
answers it, holds every worker's numbers (``server/metrics/multiprocess.py``), and each series
equals what the client saw (``mix.py``: streams that end well, fail before and after content,
are left by their client, reach no upstream, and requests refused by a key's limit or for a
bad key). Keys are on, so the scrape needs one; no canary reaches it or the server's output.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.processes import free_port, spawn, stop, wait_http_ready
from tests.support.serve_process import SOURCE_ROOT

from .mix import (
    CLIENT_CANARY,
    KEY,
    MODEL_CANARY,
    PROVIDER_CANARY,
    check_scrape,
    config,
    parse,
    run_mix,
)

SERVERS = {
    "one process": ["--workers", "1"],
    "uvicorn, 2 workers": ["--workers", "2"],
    "granian, 2 workers": ["--server", "granian", "--workers", "2"],
}


@contextmanager
def serve(tmp_path: Path, args: list[str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``aichatflow serve`` with the mix's config; its temporary files under ``tmp_path/tmp``
    (so the test can look at the metrics directory the workers share)."""
    port = free_port()
    (tmp_path / "tmp").mkdir()
    config_path = tmp_path / "serve.toml"
    config_path.write_text(f"auto_detect = false\n{config()}")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith(("AICHATFLOW", "PROMETHEUS"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE_ROOT), env.get("PYTHONPATH", "")])
    env["TMPDIR"] = str(tmp_path / "tmp")
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "aichatflow", "serve", "--port", str(port), *args]
    cmd += ["--config", str(config_path), "--log-level", "warning"]
    proc = spawn(cmd, cwd=tmp_path, env=env, log_path=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ready(proc, url + "/healthz", log, name="serve", timeout=30)
        yield url, proc
    finally:
        stop(proc, timeout=30)
    output = log.read_text(errors="replace")
    assert "Traceback" not in output, output[-3000:]
    assert PROVIDER_CANARY not in output and CLIENT_CANARY not in output


def scrape(url: str) -> str:
    """``/metrics`` on a fresh connection (so each scrape may reach another worker)."""
    headers = {"authorization": f"Bearer {KEY}", "connection": "close"}
    response = httpx.get(url + "/metrics", headers=headers, timeout=10.0, trust_env=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def scrape_settled(url: str) -> str:
    """A scrape once every stream has closed on the server side (the client may see the end
    of a response a moment before the server's bookkeeping after it)."""
    import time

    deadline = time.monotonic() + 10.0
    while True:
        text = scrape(url)
        active = [v for (name, _), v in parse(text).items() if name == "aichatflow_streams_active"]
        if not any(active) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def per_process_requests(directory: Path) -> dict[str, float]:
    """Chat requests counted by each process, from its own file in the shared directory."""
    counted = {}
    for path in sorted(directory.glob("counter_*.db")):
        registry = CollectorRegistry()
        metrics = MultiProcessCollector.merge([str(path)], accumulate=True)
        del registry
        counted[path.stem] = sum(
            s.value
            for m in metrics
            for s in m.samples
            if s.name == "aichatflow_requests_total" and s.labels["route"] == "/api/chat"
        )
    return counted


def wait_for_workers(url: str, tmp_path: Path, workers: int) -> Path:
    """The shared metrics directory, once every worker has answered a request (each then has
    a counter file of its own): a worker still starting would leave the others all the work."""
    import time

    deadline = time.monotonic() + 30.0
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while True:
            client.get(url + "/healthz", headers={"connection": "close"})
            shared = list((tmp_path / "tmp").glob("aichatflow-metrics-*"))
            if shared and len(list(shared[0].glob("counter_*.db"))) >= workers:
                return shared[0]
            assert time.monotonic() < deadline, "not every worker answered within 30 s"
            time.sleep(0.02)


@pytest.mark.parametrize("args", SERVERS.values(), ids=SERVERS.keys())
async def test_the_scrape_equals_what_was_sent(tmp_path: Path, args: list[str]) -> None:
    if "granian" in args:
        pytest.importorskip("granian")
    workers = int(args[args.index("--workers") + 1])
    with serve(tmp_path, args) as (url, _):
        if workers > 1:
            await asyncio.to_thread(wait_for_workers, url, tmp_path, workers)
        seen = await run_mix(url)
        anonymous = httpx.get(url + "/metrics", timeout=10.0, trust_env=False)
        assert anonymous.status_code == 401  # keys are on and /metrics is not public
        text = scrape_settled(url)
        check_scrape(parse(text), seen)
        for canary in (PROVIDER_CANARY, CLIENT_CANARY, MODEL_CANARY):
            assert canary not in text
        for _ in range(4):  # whichever worker answers, the same numbers
            check_scrape(parse(scrape(url)), seen)
        shared = list((tmp_path / "tmp").glob("aichatflow-metrics-*"))
        if workers == 1:
            assert shared == []  # one process: in memory, no files
        else:
            (directory,) = shared
            counted = per_process_requests(directory)
            assert len([n for n in counted.values() if n]) == workers, counted
            assert sum(counted.values()) == sum(
                n for (route, _, _), n in seen.requests.items() if route == "/api/chat"
            )
    assert list((tmp_path / "tmp").iterdir()) == []  # serve removed the directory at exit
