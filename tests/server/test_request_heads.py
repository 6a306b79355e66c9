"""What a client may hold before its request starts: head size, header count, head and body time.

A real ``aichatflow serve`` process (uvicorn, and granian where it applies the same limit) and a
raw socket that misbehaves byte by byte. Before ``server/guarded_protocol.py``: 100 headers of
8 KiB were accepted, unfinished headers grew the server by their size, and a head or body that
never completed held its connection forever.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from aichatflow.config import HttpSettings
from aichatflow.server.guarded_protocol import protocol_class
from tests.support.serve_cli import Exchange, exchange, head
from tests.support.serve_process import serve_process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc, signals")

NO_GRANIAN = importlib.util.find_spec("granian") is None
NEEDS_GRANIAN = pytest.mark.skipif(NO_GRANIAN, reason="granian is not installed")
SERVERS = ["uvicorn", pytest.param("granian", marks=NEEDS_GRANIAN)]
QUICK = "[http]\nheader_timeout = 1\nbody_timeout = 1\n"


def _healthy(url: str) -> None:
    assert httpx.get(url + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("server", SERVERS)
def test_a_head_over_max_header_bytes_is_431_and_the_connection_closed(
    tmp_path: Path, server: str
) -> None:
    big = [b"x-h%d: %s" % (i, b"a" * 8192) for i in range(100)]  # 800 KiB of headers
    with serve_process(tmp_path, server=server) as running:
        got = exchange(running.port, head("/healthz", *big) + b"\r\n")
        assert got.status == 431, got.received[:200]
        assert got.closed
        _healthy(running.url)
        output = running.output()
    if server == "uvicorn":  # granian answers 431 by itself, with no body and no log line
        assert orjson.loads(got.body)["error"]["code"] == "headers_too_large"
        assert "431 to 127.0.0.1" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("server", SERVERS)
def test_more_than_100_header_fields_is_431(tmp_path: Path, server: str) -> None:
    with serve_process(tmp_path, server=server) as running:
        fields = [b"x-%d: y" % i for i in range(99)]  # with host: 100, the most allowed
        assert exchange(running.port, head("/healthz", *fields) + b"\r\n", wait=1).status == 200
        got = exchange(running.port, head("/healthz", *fields, b"x-one-more: y") + b"\r\n")
        assert got.status == 431, got.received[:200]
        assert got.closed
        _healthy(running.url)


def test_unfinished_heads_of_several_mib_do_not_grow_the_server(tmp_path: Path) -> None:
    """Each connection is answered 431 and closed once past 64 KiB: the rest is dropped."""
    with serve_process(tmp_path) as running:
        before = running.rss_mib()
        results: list[Exchange] = []

        def flood() -> None:  # 8 MiB of one header that never ends
            endless = head("/healthz") + b"x-big: " + b"a" * (8 * 1024 * 1024)
            results.append(exchange(running.port, endless, wait=20))

        threads = [threading.Thread(target=flood) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        grown = running.rss_mib() - before
        _healthy(running.url)
    assert len(results) == 10
    for got in results:
        assert got.closed, "the server kept a connection whose head passed the limit"
        assert got.status == 431, got.received[:200]
    # Before: the 80 MiB of headers were buffered (10 x 32 MiB took the server +324 MiB).
    assert grown < 24, f"the server grew by {grown:.0f} MiB"


def test_a_head_sent_a_byte_at_a_time_is_408_after_header_timeout(tmp_path: Path) -> None:
    with serve_process(tmp_path, QUICK) as running:
        got = exchange(running.port, head("/healthz"), trickle=b"x-slow: " + b"z" * 100)
        assert got.status == 408, got.received[:200]
        assert orjson.loads(got.body)["error"]["code"] == "request_timeout"
        assert got.closed and 0.8 < got.seconds < 4, got.seconds
        idle = exchange(running.port)  # connects, sends nothing
        assert idle.closed and idle.received == b"" and 0.8 < idle.seconds < 4, idle
        _healthy(running.url)
        assert "408 to 127.0.0.1" in running.output()


def test_a_slow_head_is_closed_by_granian_too(tmp_path: Path) -> None:
    """granian's header read timeout closes the connection, without a 408."""
    pytest.importorskip("granian")
    with serve_process(tmp_path, QUICK, server="granian") as running:
        got = exchange(running.port, head("/healthz"), trickle=b"x-slow: " + b"z" * 100)
        assert got.closed and 0.8 < got.seconds < 4, got
        _healthy(running.url)


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("path", ["/api/chat", "/v1/chat/completions"])
def test_a_body_that_never_completes_is_408(tmp_path: Path, server: str, path: str) -> None:
    declared = head(path, b"content-type: application/json", b"content-length: 100", method="POST")
    with serve_process(tmp_path, QUICK, server=server) as running:
        got = exchange(running.port, declared + b'\r\n{"model": "mock/chat"')
        assert got.status == 408, got.received[:200]
        error = orjson.loads(got.body)["error"]
        assert error["code"] == "request_timeout"
        # Answered after body_timeout; on uvicorn the connection, still waiting for the rest of
        # the body, is closed header_timeout later.
        assert got.closed and 0.8 < got.seconds < 5, got.seconds
        _healthy(running.url)
        output = running.output()
    assert "408: a request body was not received within 1 s" in output
    assert "Traceback" not in output


class _Transport:
    """Just enough of a transport for a protocol to take a connection."""

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 5000) if name in ("peername", "sockname") else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def test_the_guarded_protocol_costs_a_connection_no_more_than_uvicorns() -> None:
    """Its state is one attribute: from 30 attributes on, CPython stops sharing the keys of
    instance dicts, and each connection's dict grew from 288 to 1,584 bytes."""
    config = uvicorn.Config(lambda scope, receive, send: None, log_level="warning")
    config.load()
    sizes = []
    for cls in (HttpToolsProtocol, protocol_class(HttpSettings())):
        state = ServerState()
        connections = [cls(config=config, server_state=state, app_state={}) for _ in range(3)]
        for conn in connections:
            conn.connection_made(_Transport())  # type: ignore[arg-type]
            conn.on_message_begin()
        sizes.append(sys.getsizeof(connections[-1].__dict__))
        for conn in connections:
            conn.connection_lost(None)
    uvicorns, ours = sizes
    assert ours <= uvicorns + 16, sizes
