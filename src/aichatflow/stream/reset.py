"""Resetting a connection whose client stopped reading: ASGI cannot, so ask the server.

Ending the response of a frozen client (``send_timeout``) makes the server close the connection
*gracefully*, and uvicorn's transports (uvloop and asyncio) first flush what is buffered. A
client that never reads again then pins the socket, its file descriptor and up to the socket's
send buffer of kernel memory (docs/performance.md, "A frozen client is reset, not closed") for
as long as it stays connected. A reset (RST) frees all of it at once, and the client would not
read the rest anyway.

uvicorn's ``send`` is a bound method of its per-request cycle, which holds the transport; that
is the ``send`` the chat endpoints get (``server/chat_endpoint.py``). Behind wrappers that hide
it (a Starlette route's middleware) or on other servers, nothing is reset and the server's own
close applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from starlette.types import Send

_LINGER_ZERO = struct.pack("ii", 1, 0)
"""SO_LINGER on, 0 s: close() sends a RST and drops unsent data, instead of leaving an orphan
socket behind that keeps trying to deliver it."""


def reset_transport(transport: Any) -> None:
    """Close ``transport`` with a RST, dropping whatever was not sent yet.

    Its socket may have no file descriptor any more (uvloop's is -1 once the connection is
    lost, and ``setsockopt`` then raises ``ValueError``): the abort alone is then enough.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()


async def reset_connection(send: Send) -> bool:
    """Reset the transport under ``send`` if it is reachable and open; True when it was reset.

    A transport that is already closing needs no reset: that happens when the client leaves in
    the loop iteration before the watchdog finds its write blocked past the send timeout.
    """
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not callable(getattr(transport, "abort", None)):
        return False
    if transport.is_closing():
        return False
    reset_transport(transport)
    # connection_lost runs on the next loop iteration; once it has, the server knows the
    # client is gone and does not report the unfinished response as an application error.
    await asyncio.sleep(0)
    return True


__all__ = ["reset_connection", "reset_transport"]
