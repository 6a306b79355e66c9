"""Which ``Host`` headers the server answers: the guard against DNS rebinding.

The attack: a page at ``http://evil.example:8080`` whose DNS name the attacker then points at
``127.0.0.1``. The browser keeps treating the page and the server as one origin, so the page's
script may read every answer and spend the operator's provider keys. What gives it away is the
``Host`` header: the browser sends the attacker's name. So a request whose ``Host`` is not a
name this server is known by gets a 400 before anything else runs (before its body is read),
on every route but ``/healthz``.

Accepted, the port ignored and the name case-insensitive:

- any IP address literal (``127.0.0.1``, ``192.168.1.5``, ``[::1]``): rebinding needs a DNS
  name the attacker controls, and a browser sends an address as ``Host`` only when the URL
  holds that address. This keeps a server bound to ``0.0.0.0`` reachable by each of the
  machine's addresses (also through a container's port map, or a Kubernetes probe sending the
  pod's IP) without listing them;
- ``localhost``, which an attacker cannot point anywhere;
- the configured ``host`` when it is a name (``host = "chat.lan"``);
- each entry of ``allowed_hosts``: a name, ``*.example.com`` for its subdomains, or ``*`` for
  any ``Host`` at all (the guard off: only behind a proxy that checks ``Host`` itself).

A request without a ``Host`` header (HTTP/1.0, or HTTP/2, which carries ``:authority``
instead) passes: browsers always send one, so it cannot be a rebinding page. ``/healthz`` is
exempt because it reveals nothing and load balancers' probes send whatever ``Host`` they are
configured with.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Receive, Scope, Send

from ..errors import RequestError
from .errors import send_error

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""Answered by every server: ``localhost`` (an attacker cannot point it anywhere), and the
loopback addresses, listed too so the commonest requests need no address parse."""

WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
"""Bind addresses that mean "every interface": not names a client can send."""

EXEMPT_PATHS = frozenset({"/healthz"})


class HostPolicy:
    """Decides from a request's ``Host`` header whether to answer it (see the module docstring).

    ``allows`` runs on every request: a scan of the headers for ``host``, then a set lookup of
    the raw value among those already accepted (a client sends the same one every time); only a
    new value is parsed. The memo holds accepted values only, and at most ``MEMO_SIZE``, so
    requests with made-up hosts cannot grow it.
    """

    MEMO_SIZE = 64

    def __init__(self, allowed: Iterable[str] = (), *, bind_host: str = "") -> None:
        names = set(LOOPBACK_NAMES)
        bind = bind_host.strip().lower().rstrip(".")
        if bind not in WILDCARD_BINDS:
            names.add(bind)
        self.suffixes: tuple[str, ...] = ()
        self.allow_any = False
        for entry in allowed:
            entry = entry.strip().lower().rstrip(".")
            if entry == "*":
                self.allow_any = True
            elif entry.startswith("*."):
                self.suffixes += (entry[1:],)
            elif entry:
                names.add(entry)
        self.names = frozenset(names)
        self._accepted: set[bytes] = set()

    def allows(self, scope: Scope) -> bool:
        if self.allow_any or scope["path"] in EXEMPT_PATHS:
            return True
        for name, value in scope["headers"]:
            if name == b"host":
                return self.allows_host(value)
        return True  # no Host: not a browser (see the module docstring)

    def allows_host(self, value: bytes) -> bool:
        if value in self._accepted:
            return True
        host = hostname(value)
        if host is None:
            return False
        if not (host in self.names or host.endswith(self.suffixes) or _is_address(host)):
            return False
        if len(self._accepted) < self.MEMO_SIZE:
            self._accepted.add(value)
        return True

    async def reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A JSON 400 for HTTP (in the error shape of the path's dialect); a policy close for a
        WebSocket."""
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        shown = _shown_host(scope)
        error = RequestError(
            f"Host {shown} is not one this server answers to; add it to allowed_hosts"
        )
        await send_error(scope, send, error)


def hostname(value: bytes) -> str | None:
    """The host of a ``Host`` header, lower-cased, without port and trailing dot; an IPv6
    literal keeps its brackets. None when the value is not a host (then it is refused)."""
    try:
        text = value.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    if text.startswith("["):
        end = text.find("]")
        port = text[end + 1 :] if end > 0 else "x"
        if port and not (port[0] == ":" and port[1:].isdigit()):
            return None
        return text[: end + 1]
    name, colon, port = text.rpartition(":")
    if not colon:
        name = text
    elif not port.isdigit() or ":" in name:
        return None  # a bad port, or an IPv6 address without brackets
    name = name.rstrip(".")
    return name or None


def _is_address(host: str) -> bool:
    try:
        if host.startswith("["):
            ipaddress.IPv6Address(host[1:-1])
        else:
            ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _shown_host(scope: Scope) -> str:
    """The refused Host for the error message: quoted, truncated, never raw bytes."""
    for name, value in scope["headers"]:
        if name == b"host":
            return repr(value.decode("latin-1")[:100])
    return "''"


__all__ = ["EXEMPT_PATHS", "LOOPBACK_NAMES", "HostPolicy", "hostname"]
