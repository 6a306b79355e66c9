"""The nginx harness itself: it serves while open and leaves no process or port behind."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.support.nginx import group_alive, nginx_for, require_nginx
from tests.support.upstream import FakeUpstream, Script, headers, stall


def _refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except ConnectionRefusedError:
        return True
    return False


def test_nginx_stops_with_every_process_even_with_a_response_open(fake: FakeUpstream) -> None:
    """A stalled response keeps a graceful ``SIGQUIT`` waiting: the harness must still end
    master and worker (``SIGKILL`` after its grace) and free the port."""
    require_nginx()
    opt_out = {"x-accel-buffering": "no"}  # else nginx holds the headers until some body
    fake.queue(Script([headers(200, extra=opt_out), stall(30.0)]))
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        with nginx_for([fake.port], read_timeout=30.0) as proxy:
            response = client.send(client.build_request("GET", proxy.url), stream=True)
            assert response.status_code == 200
            assert group_alive(proxy.pid)
            started = time.monotonic()
        response.close()
    assert not group_alive(proxy.pid)
    assert time.monotonic() - started < 15.0
    assert _refused(proxy.url)


def test_nginx_for_needs_an_upstream() -> None:
    require_nginx()
    with pytest.raises(ValueError, match="at least one upstream"), nginx_for([]):
        pass
