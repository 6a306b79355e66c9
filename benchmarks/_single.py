"""Single requests, one at a time, for time to first event (``ttfe`` and ``proxy`` scenarios).

A blocking socket per request (a fresh connection each time, ``connection: close``): connect,
send, read until the first text event is seen (the format's ``first_text`` pattern in
``_wire_formats.py``: ``event: text`` on the native endpoint, a non-empty ``"content"`` delta on
OpenAI streams...), then read to the end of the response. The clock
starts before ``connect``; nothing else runs in the client while it waits.
"""

from __future__ import annotations

import socket
import statistics
import time
from dataclasses import dataclass

from _common import HOST
from _wire_formats import WIRE
from loadgen import _request

_TERMINATOR = b"\r\n0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Target:
    """Where one stack's single requests go."""

    name: str
    port: int
    path: str
    body: bytes
    wire: str = "native"
    """The response format (a key of ``_wire_formats.WIRE``)."""
    headers: tuple[str, ...] = ()


def one(target: Target, timeout: float = 30.0) -> float:
    """Seconds from connect to the first text event; raises when the response has none."""
    request = _request(target.path, target.port, target.body, list(target.headers))
    mark = WIRE[target.wire].first_text
    t0 = time.perf_counter()
    with socket.create_connection((HOST, target.port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        raw = bytearray()
        first = 0.0
        while True:
            data = sock.recv(262144)
            if not data:
                break
            raw += data
            if not first and mark.search(raw) is not None:
                first = time.perf_counter()
            if raw.endswith(_TERMINATOR):
                break
    if not first:
        head = bytes(raw[:200]).decode(errors="replace")
        raise RuntimeError(f"{target.name}: no text event in the response: {head!r}")
    return first - t0


def route_status(port: int, path: str, timeout: float = 10.0) -> int:
    """The HTTP status of ``POST path`` with an empty JSON object: 404 when the server has no
    such route (a tree without that dialect), a 4xx validation error when it has."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(_request(path, port, b"{}"))
        head = bytearray()
        while b"\r\n" not in head:
            data = sock.recv(4096)
            if not data:
                break
            head += data
    parts = bytes(head).split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    targets: list[Target], n: int, warmup: int = 5, pause: float = 0.0
) -> dict[str, list[float]]:
    """``n`` single requests per target, interleaved (A, B, C, A, B, C...), in milliseconds.

    ``pause`` (seconds) between requests lets the server that answered the last one finish
    what it does after a response (an access-log line, metrics, giving a limit back) before the
    next request starts: with every server on one core, that work would otherwise land in the
    next stack's time to first event, and which stack pays for whose depends on the order.
    """
    for target in targets:
        for _ in range(warmup):
            one(target)
    out: dict[str, list[float]] = {t.name: [] for t in targets}
    for _ in range(n):
        for target in targets:
            out[target.name].append(1000 * one(target))
            if pause:
                time.sleep(pause)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(ms),
        "p99": pct(ms, 0.99),
        "max": max(ms),
        "n": len(ms),
    }


__all__ = ["Target", "measure", "one", "pct", "route_status", "summary"]
