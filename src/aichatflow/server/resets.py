"""Resetting client connections from the server, and the shutdown watcher that does it.

A graceful close first flushes what is buffered for the client. For a client that stopped
reading, that never ends: the socket, its descriptor and its buffers stay pinned. A reset (RST:
``SO_LINGER`` 0, then ``abort``: ``stream/reset.py``'s ``reset_transport``, the one way this
project resets) frees all of it at once. Used for connections closed to make room
(``connection_cap.py``), at the end of a refusal's grace (``guarded_protocol.py``), at a
stream's send timeout (``stream/engine.py``), and at shutdown (below).

At shutdown every live stream is ended with a ``server_shutting_down`` frame
(``runner.Server.shutdown``), then uvicorn waits for every connection to close. A client that
stopped reading has a full socket buffer: its goodbye frame cannot be written, and uvicorn's
graceful close waits to flush what the client never reads. Left alone, such a client holds the
shutdown for uvicorn's whole ``timeout_graceful_shutdown``, and its stream's send timeout, firing
meanwhile, logs "ASGI callable returned without completing response" (docs/performance.md, "A
frozen client is reset, not closed"). :func:`reset_stalled_connections` watches the
connections for the whole shutdown and resets each one whose unsent output has not shrunk for
``stall`` seconds: a reading client drains its buffer, however slowly, and keeps its goodbye
frame; a frozen one is let go (it sees a reset, which clients retry like the goodbye frame).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from ..stream.reset import reset_transport

log = logging.getLogger("aichatflow.server")


async def reset_stalled_connections(
    connections: Collection[Any], stall: float, poll: float = 0.1
) -> None:
    """Until cancelled: reset each connection whose unsent output did not shrink for ``stall``.

    ``connections`` is uvicorn's live set of protocol objects (each has a ``transport``).
    """
    loop = asyncio.get_running_loop()
    since: dict[Any, tuple[int, float]] = {}  # connection -> (pending bytes, stalled since)
    while True:
        now = loop.time()
        reset = 0
        for conn in list(connections):
            transport = getattr(conn, "transport", None)
            pending = transport.get_write_buffer_size() if transport is not None else 0
            if not pending:
                since.pop(conn, None)
                continue
            seen = since.get(conn)
            if seen is None or pending < seen[0]:  # first sight, or the client read some
                since[conn] = (pending, now)
            elif now - seen[1] >= stall:
                del since[conn]
                reset_transport(transport)
                reset += 1
            elif pending > seen[0]:  # more was queued, nothing was read: still stalled
                since[conn] = (pending, seen[1])
        if reset:
            log.warning(
                "shutdown: reset %d connection(s) whose client stopped reading (nothing "
                "sent for %.1f s)",
                reset,
                stall,
            )
        for conn in [c for c in since if c not in connections]:
            del since[conn]
        await asyncio.sleep(poll)


__all__ = ["reset_stalled_connections"]
