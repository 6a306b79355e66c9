"""``aichatflow serve`` with several workers: with ``memory://`` storage each worker keeps its own
limits and tickets, so ``serve`` says so once at start; with Redis the workers share them, and a
ticket minted on one worker is honoured by whichever worker a new connection lands on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import pytest

from aichatflow.config import key_digest
from aichatflow.server.limits.build import PER_WORKER_WARNING, per_worker_warning
from tests.conftest import make_settings
from tests.support.serve_process import serve_process

pytestmark = pytest.mark.timeout(90)

RAW = "acf-per-worker-key-0123456789abcdefghijkl"
KEY = f'[[auth.keys]]\nid = "ops"\nsha256 = "{key_digest(RAW)}"\n'
MOCK = '[providers.fast]\nkind = "mock"\ntokens_per_second = 0\nfirst_token_ms = 0\n'


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({"workers": 2, "auth": {"keys": [{"id": "a", "sha256": "0" * 64}]}}, True),
        ({"workers": 2, "limits": {"max_streams": 10}}, True),
        ({"workers": 2, "limits": {"ip_rpm": 60}}, True),
        ({"workers": 2}, False),  # nothing limited, no keys: nothing to share
        ({"workers": 1, "auth": {"keys": [{"id": "a", "sha256": "0" * 64}]}}, False),
        (
            {
                "workers": 2,
                "auth": {"keys": [{"id": "a", "sha256": "0" * 64, "rpm": 5}]},
                "limits": {"storage": "redis://127.0.0.1:6379/0"},
            },
            False,
        ),
    ],
)
def test_the_warning_is_due_only_when_workers_would_keep_their_own_state(
    settings: dict[str, object], warned: bool
) -> None:
    expected = PER_WORKER_WARNING if warned else None
    assert per_worker_warning(make_settings(port=8080, **settings)) == expected


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_serve_with_workers_and_memory_storage_warns_once(tmp_path: Path, server: str) -> None:
    if server == "granian" and importlib.util.find_spec("granian") is None:
        pytest.skip("granian is not installed")
    config = f"workers = 2\n{MOCK}{KEY}"
    with serve_process(tmp_path, config, server=server) as running:
        ok = httpx.get(running.url + "/api/config", headers={"x-api-key": RAW}, timeout=15)
        assert ok.status_code == 200
        output = running.output()
    assert output.count(PER_WORKER_WARNING) == 1, output
    assert "aichatflow.limits" in output
    assert output.index(PER_WORKER_WARNING) < output.index("chat page on")
    assert "Traceback" not in output


def test_serve_with_workers_and_redis_shares_tickets_and_does_not_warn(
    tmp_path: Path, redis_url: str
) -> None:
    config = f'workers = 2\n{MOCK}{KEY}[limits]\nstorage = "{redis_url}"\n'
    with serve_process(tmp_path, config) as running:
        auth = {"x-api-key": RAW}
        # A fresh connection per request: the kernel spreads them over both workers
        # (SO_REUSEPORT), as a browser's reconnects would be.
        for _ in range(20):
            minted = httpx.post(running.url + "/api/tickets", headers=auth, timeout=15)
            assert minted.status_code == 200, minted.text
            ticket = minted.json()["ticket"]
            used = httpx.get(running.url + "/api/config", params={"ticket": ticket}, timeout=15)
            assert used.status_code == 200, used.text
            again = httpx.get(running.url + "/api/config", params={"ticket": ticket}, timeout=15)
            assert again.status_code == 401
        output = running.output()
    assert PER_WORKER_WARNING not in output
    assert "Traceback" not in output
