"""File descriptors: the connection cap keeps ``/healthz`` answering (``server/connection_cap.py``).

Before: at ``ulimit -n 256``, 250 connections that never finished their head took every
descriptor, ``/healthz`` failed with a reset and nothing was logged.
"""

from __future__ import annotations

import resource
import socket
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from aichatflow.config import Settings
from aichatflow.errors import ConfigError
from aichatflow.server.connection_cap import (
    FD_RESERVE,
    FDS_PER_CONNECTION,
    default_max_connections,
)
from tests.support.client import user
from tests.support.serve_cli import head
from tests.support.serve_process import serve_process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="rlimits, /proc")


def _healthz_within(url: str, seconds: float) -> float:
    started = time.monotonic()
    response = httpx.get(url + "/healthz", timeout=seconds)
    assert response.status_code == 200
    return time.monotonic() - started


def test_slow_connections_at_the_fd_limit_leave_room_for_healthz(tmp_path: Path) -> None:
    slow: list[socket.socket] = []
    with serve_process(tmp_path, nofile=(256, 256)) as running:
        try:
            for _ in range(250):  # each sends the start of a head, then nothing more
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
                sock.sendall(head("/") + b"x-slow: ")
                slow.append(sock)
            time.sleep(0.5)
            assert _healthz_within(running.url, 10) < 5
            assert running.open_fds() < 256 - FD_RESERVE // 2
        finally:
            for sock in slow:
                sock.close()
        assert _healthz_within(running.url, 10) < 5
        output = running.output()
    cap = (256 - FD_RESERVE) // FDS_PER_CONNECTION
    assert f"connection limit ({cap}) reached: closing the connection that waited longest" in output
    assert "Traceback" not in output


def test_when_every_connection_is_busy_requests_get_503_but_healthz_answers(
    tmp_path: Path,
) -> None:
    config = (
        "[http]\nmax_connections = 3\n"
        '[providers.slow]\nkind = "mock"\ntokens_per_second = 5\nfirst_token_ms = 0\n'
    )
    body = orjson.dumps({"model": "slow/chat", "messages": user()})
    busy: list[socket.socket] = []
    with serve_process(tmp_path, config) as running:
        try:
            for _ in range(3):  # three live streams: nothing to make room from
                sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
                post = head("/api/chat", b"content-type: application/json", method="POST")
                sock.sendall(post + b"content-length: %d\r\n\r\n%s" % (len(body), body))
                busy.append(sock)
            time.sleep(0.5)
            headers = {"content-type": "application/json"}
            refused = httpx.post(running.url + "/api/chat", content=body, headers=headers)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == "over_capacity"
            assert refused.json()["error"]["retryable"] is True
            for _ in range(3):  # a liveness probe still passes: the server is full, not dead
                _healthz_within(running.url, 5)
            for sock in busy:  # and the streams were not disturbed
                sock.settimeout(5)
                assert sock.recv(100).startswith(b"HTTP/1.1 200")
        finally:
            for sock in busy:
                sock.close()
        output = running.output()
    assert "connection limit (3) reached and every connection is busy" in output


def test_serve_raises_the_soft_fd_limit_to_the_hard_one(tmp_path: Path) -> None:
    with serve_process(tmp_path, nofile=(256, 1024)) as running:
        with open(f"/proc/{running.proc.pid}/limits") as f:
            line = next(x for x in f if x.startswith("Max open files"))
        assert line.split()[3:5] == ["1024", "1024"], line


def test_http_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[http]\nheader_timeout = 7\nmax_headers = 50\n")
    env = {"AICHATFLOW_HTTP_HEADER_TIMEOUT": "3", "AICHATFLOW_HTTP_MAX_CONNECTIONS": "9"}
    http = Settings.load(config, env=env).http
    assert (http.header_timeout, http.max_headers, http.max_connections) == (3.0, 50, 9)
    assert (http.max_header_bytes, http.body_timeout) == (64 * 1024, 30.0)
    with pytest.raises(ConfigError, match="max_header_bytes"):
        Settings.load(env={"AICHATFLOW_HTTP_MAX_HEADER_BYTES": "100"})


def test_the_default_cap_is_what_the_fd_limit_leaves_halved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 4096))
    assert default_max_connections() == (256 - FD_RESERVE) // FDS_PER_CONNECTION == 112
    monkeypatch.setattr(resource, "getrlimit", lambda _: (resource.RLIM_INFINITY,) * 2)
    assert default_max_connections() >= 1 << 20
