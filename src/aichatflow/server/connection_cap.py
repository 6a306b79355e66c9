"""At most N client connections, so the process never runs out of file descriptors.

Connections that never finish their request head can take every file descriptor; uvloop then accepts
and at once closes every new connection, so even ``/healthz`` fails, and nothing is logged
(docs/performance.md, "Bounds on connections before the app"). A cap below the descriptor limit
keeps descriptors for everything else (upstream connections, files, the listening socket).

What happens at the cap decides whether the server stays reachable. Refusing every newcomer
would let a few hundred idle connections lock everyone out, health checks included. So the
connection that has waited longest for a request head (an idle keep-alive connection or a
slowloris) is closed to make room: connections busy with a request (a stream) are never touched.
When every connection is busy, a few newcomers (:data:`PROBE_SLOTS`) are still read, and served
only if they ask for ``/healthz``: a full server is alive, and a liveness probe that failed
would get it restarted, streams and all. Everyone else gets 503 (``guarded_protocol.py``). The
connection that waited longest is found in O(1): connections waiting for a head sit in an
insertion-ordered dict, oldest first.
"""

from __future__ import annotations

import logging
import resource
from typing import Protocol

from ..throttled_log import ThrottledWarning

log = logging.getLogger("aichatflow.server")

FD_RESERVE = 32
"""Descriptors kept out of the cap for everything that is not a client connection: a server at
rest already holds about 15, and upstream connection pools, static files and DNS take more."""
FDS_PER_CONNECTION = 2
"""A proxied stream holds its client connection and one upstream connection."""
PROBE_SLOTS = 8
"""Connections past the cap read at once, for ``/healthz`` only (taken from ``FD_RESERVE``)."""
ADMITTED, PROBE, REFUSED = "admitted", "probe", "refused"


class Evictable(Protocol):
    def evict(self) -> None: ...


def default_max_connections() -> int:
    """The cap for ``max_connections = 0``: what the descriptor limit leaves, halved."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(1, (soft - FD_RESERVE) // FDS_PER_CONNECTION)


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (``serve`` only); returns the limit.

    Many systems start processes with a soft limit of 1,024 and a hard limit far above it; a
    server holding one descriptor per stream needs the latter, and any process may raise its
    own soft limit up to the hard one (Go's runtime does it for every program).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # e.g. a hard limit above the kernel's nr_open
        return soft
    return hard


class ConnectionCap:
    """The cap of one server, and its connections waiting for a request head, oldest first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.probing: set[Evictable] = set()
        """Connections past the cap, admitted for ``/healthz`` only."""
        self._waiting: dict[Evictable, None] = {}
        self.evictions = ThrottledWarning(
            log, "connection limit: %d more waiting connections closed to make room"
        )
        self.refusals = ThrottledWarning(log, "connection limit: %d more connections refused")

    def waiting(self, conn: Evictable) -> None:
        """``conn`` now waits for a request head (newest: evicted last)."""
        self._waiting.pop(conn, None)
        self._waiting[conn] = None

    def busy(self, conn: Evictable) -> None:
        """``conn`` has a request (or was refused): never evicted."""
        self._waiting.pop(conn, None)

    def forget(self, conn: Evictable) -> None:
        """``conn`` is gone."""
        self._waiting.pop(conn, None)
        self.probing.discard(conn)

    def admit(self, conn: Evictable, open_connections: int) -> str:
        """``ADMITTED`` (making room if needed), ``PROBE`` (``/healthz`` only) or ``REFUSED``,
        for ``conn``, which ``open_connections`` counts."""
        if open_connections - len(self.probing) <= self.limit:
            return ADMITTED
        for victim in self._waiting:
            if victim is not conn:
                break
        else:
            self.refusals.warn(
                "connection limit (%d) reached and every connection is busy: 503 to new "
                "requests but /healthz",
                self.limit,
            )
            if len(self.probing) < PROBE_SLOTS:
                self.probing.add(conn)
                return PROBE
            return REFUSED
        del self._waiting[victim]
        self.evictions.warn(
            "connection limit (%d) reached: closing the connection that waited longest for a "
            "request to make room",
            self.limit,
        )
        victim.evict()
        return ADMITTED


__all__ = [
    "ADMITTED",
    "FDS_PER_CONNECTION",
    "FD_RESERVE",
    "PROBE",
    "PROBE_SLOTS",
    "REFUSED",
    "ConnectionCap",
    "default_max_connections",
    "raise_fd_limit",
]
