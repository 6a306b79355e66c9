"""The production layer's per-request flow, run by ``ChatApp`` in front of every route.

Once per request, in this order (``production.py`` describes each part):

1. a request id (a valid incoming ``x-request-id`` is kept, so a proxy's id follows the request
   through) and a ``RequestRecord``, made current for the request's task;
2. CORS: a preflight is answered here and goes no further; an allowed origin's headers are
   remembered for whatever answers the request;
3. keys: a route that wants one gets the caller's key checked, or a 401, before its body is read;
4. the route. A chat endpoint then does the rest itself (``chat_endpoint.py``): the key's
   models (403), the limits (429/503), the stream, the release of what the limits reserved;
5. whatever happened: one access-log line and the metrics, from the record.

Every other route's response passes through a ``send`` wrapper that adds ``x-request-id`` and
the CORS headers and notes the status; the chat streams get those headers from their dialect
instead, so no wrapper sits on their per-event path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Message, Receive, Scope, Send

from ..dialects.error_shape import Headers
from ..errors import AIChatFlowError
from ..request_record import RequestRecord, current_record
from ..stream.response import new_stream_id
from .errors import send_error
from .production import AccessLog, Caller, Cors, Keys, Limiter, Metrics

_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
"""An incoming ``x-request-id`` worth keeping: short, and nothing that could split a log line
or a header (a proxy's UUID, a trace id). Anything else is replaced by a fresh id."""

EXCHANGE = "aichatflow.exchange"
"""The scope key under which a request's ``Exchange`` travels to the chat endpoints."""


@dataclass(slots=True)
class Exchange:
    """What the gate learnt about a request, for the route that answers it."""

    record: RequestRecord
    caller: Caller
    headers: Headers = field(default_factory=list)
    """Headers every response to this request carries besides ``x-request-id`` (CORS)."""
    id_given: bool = False
    """The request id came with the request; otherwise a stream may adopt its own id as the
    request's, so one id names both (``chat_run.admit``)."""
    detached: bool = False
    """The record is finished by a journal's run, not when the response ends: a run may go on
    after its client left (``server/run_flow.py``), and its tokens belong in the same line."""


@dataclass(slots=True)
class Parts:
    """The production layer's parts; ``None`` for a part that is off."""

    keys: Keys | None = None
    limiter: Limiter | None = None
    metrics: Metrics | None = None
    cors: Cors | None = None
    access_log: AccessLog | None = None


def incoming_request_id(scope: Scope) -> str | None:
    """The incoming ``x-request-id`` when it is a valid one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _VALID_REQUEST_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return None


def request_id_of(scope: Scope) -> str:
    """The incoming ``x-request-id`` when it is a valid one, else a fresh id."""
    return incoming_request_id(scope) or new_stream_id()


def client_ip_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class RouteLabels:
    """Path → the route's label for logs and metrics: its template (``/v1/models/{model_id}``),
    the mount's prefix for static files, ``other`` for a path no route serves. A raw path would
    let every client mint new label values."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.exact: dict[str, str] = {}
        self.prefixes: list[tuple[str, str]] = []
        for route in routes:
            if isinstance(route, Route):
                template = re.sub(r":\w+}", "}", route.path)  # "{id:path}" → "{id}"
                if "{" in template:
                    self.prefixes.append((template[: template.index("{")], template))
                else:
                    self.exact[template] = template
            elif isinstance(route, Mount):
                self.prefixes.append((route.path + "/", route.path))

    def __call__(self, path: str) -> str:
        label = self.exact.get(path)
        if label is not None:
            return label
        for prefix, label in self.prefixes:
            if path.startswith(prefix) and len(path) > len(prefix):
                return label
        return "other"


Inner = Callable[[Scope, Receive, Send], Awaitable[None]]


class Gate:
    """Runs one request through the production layer (see the module docstring)."""

    def __init__(self, parts: Parts, labels: RouteLabels) -> None:
        self.parts = parts
        self.labels = labels

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, inner: Inner, *, wrap: bool = True
    ) -> None:
        """Run ``inner`` (the route) for the request; ``wrap=False`` for a chat endpoint, whose
        dialect adds the headers itself (and whose status the endpoint records)."""
        parts = self.parts
        loop = asyncio.get_running_loop()
        path = scope["path"]
        client_ip = client_ip_of(scope)
        given = incoming_request_id(scope)
        record = RequestRecord(
            request_id=given or new_stream_id(),
            method=scope["method"],
            route=self.labels(path),
            client_ip=client_ip,
            arrived=loop.time(),
        )
        token = current_record.set(record)
        exchange = Exchange(record, Caller(None, client_ip), id_given=given is not None)
        scope[EXCHANGE] = exchange
        try:
            if parts.cors is not None:
                preflight = parts.cors.preflight(scope)
                if preflight is not None:
                    await self._answer_preflight(record, send, *preflight)
                    return
                exchange.headers = parts.cors.headers(scope)
            if parts.keys is not None and parts.keys.requires_key(scope["method"], path):
                try:
                    exchange.caller = await parts.keys.authenticate(scope, client_ip)
                except AIChatFlowError as exc:
                    await send_error(scope, send, exc, exchange.headers)
                    return
                record.key_id = exchange.caller.key_id
            await inner(scope, receive, self._wrap(send, exchange) if wrap else send)
        finally:
            if not exchange.detached:
                if record.ended is None:
                    record.ended = loop.time()
                self.finished(record)
            current_record.reset(token)

    @staticmethod
    async def _answer_preflight(
        record: RequestRecord, send: Send, status: int, headers: Headers
    ) -> None:
        record.status = status
        request_id = (b"x-request-id", record.request_id.encode("ascii"))
        headers = [*headers, request_id, (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _wrap(self, send: Send, exchange: Exchange) -> Send:
        """``send`` adding ``x-request-id`` and the exchange's headers to a response start,
        and noting its status; a chat stream's start already has them (its dialect's)."""
        record = exchange.record

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if b"x-request-id" not in names:
                    headers.append((b"x-request-id", record.request_id.encode("ascii")))
                # a route's own header wins, but Vary lists add up (a second field is legal)
                headers += [h for h in exchange.headers if h[0] == b"vary" or h[0] not in names]
                message = {**message, "headers": headers}
                record.status = message["status"]
            await send(message)

        return send_with_headers

    def finished(self, record: RequestRecord) -> None:
        """Write the request's access log line and metrics (once it is over)."""
        parts = self.parts
        if parts.access_log is not None:
            parts.access_log.write(record)
        if parts.metrics is not None:
            parts.metrics.request_finished(record)


__all__ = [
    "EXCHANGE",
    "Exchange",
    "Gate",
    "Parts",
    "RouteLabels",
    "client_ip_of",
    "incoming_request_id",
    "request_id_of",
]
