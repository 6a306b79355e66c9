"""The fake upstream closes every connection it accepted when it stops.

A socket the fake leaves open outlives its event loop; the garbage collector closes it later,
inside whatever test runs then, with a ``ResourceWarning`` through ``sys.unraisablehook``. On
CPython 3.11.7 that hook, reached while the interrupted code is inside ``ast.parse`` (pytest's
assertion rewriting of a lazily imported module, a traceback's caret), fails an unrelated test
with ``SystemError: AST constructor recursion depth mismatch`` (gh-106905). So a stop must close
each connection whatever its handler was doing, here seen from the client's side of the socket:
bytes sent to a closed socket are answered with a reset.
"""

from __future__ import annotations

import socket
import time

from tests.support.upstream import Script, fake_upstream, respond

REQUEST = b"GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"


def _read_to_eof(sock: socket.socket) -> bytes:
    received = bytearray()
    while chunk := sock.recv(65536):
        received += chunk
    return bytes(received)


def _reset_by_peer(sock: socket.socket, within: float = 3.0) -> bool:
    """Send bytes after the peer's FIN: a peer that closed its socket answers with RST, and a
    later send fails (the read keeps reporting the FIN); a peer still holding its socket open
    takes the bytes silently."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"x")
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(0.02)
    return False


def test_stop_closes_a_connection_whose_handler_waits_for_the_peer() -> None:
    """The script is over and its handler waits (``linger``) for the client to close, which
    it never does; the stop cancels that wait and must still close the socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        with fake_upstream(Script(respond(200, {"data": []}), linger=30)) as fake:
            sock.connect(("127.0.0.1", fake.port))
            sock.sendall(REQUEST)
            assert _read_to_eof(sock).startswith(b"HTTP/1.1 200 OK")  # the script's FIN
            assert not fake.requests[0].finished.is_set()  # still lingering
        assert fake.requests[0].finished.is_set()
        assert _reset_by_peer(sock), "the fake's end of the connection is still open"


def test_stop_closes_a_connection_that_never_sent_a_request() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        with fake_upstream() as fake:
            sock.connect(("127.0.0.1", fake.port))
            deadline = time.monotonic() + 5
            while fake.connections == 0 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert fake.connections == 1
        assert sock.recv(1) == b""  # the fake's FIN
        assert _reset_by_peer(sock)
