"""What the reverse-proxy tests stream: paced fake-upstream scripts and the servers they run.

The timings are T35's (docs/reliability.md) shrunk to fit CI: nginx's ``proxy_read_timeout`` 3 s
instead of 60 s, heartbeats every 1 s instead of 15 s, an idle stretch of twice the read timeout
instead of 70 s, deltas 0.5 s apart.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.upstream import (
    Action,
    Chunks,
    FakeUpstream,
    Script,
    done,
    end_chunked,
    event,
    headers,
    mark,
    sleep,
)

READ_TIMEOUT = 3.0
"""nginx's ``proxy_read_timeout`` in these tests: shorter than the quiet stretches the tests
stream, so a stream survives them only through heartbeats."""
HEARTBEAT = 1.0
GAP = 0.5
"""Seconds between the fake's deltas."""
IDLE = 2 * READ_TIMEOUT
"""The quiet stretch in the middle of a stream: nothing from the model for this long."""
DELTA_WITHIN = 0.3
"""Seconds from the fake's writing a delta to the client's reading it, through aichatflow and
nginx. Measured on the shared 2-core machine: 1 to 8 ms, once 40 ms. A delta held by buffering
is late by the rest of the stream, seconds here."""

STREAM_TIMERS = {"first_token": 10.0, "progress": 10.0, "heartbeat": HEARTBEAT}
CHAT = {"model": "up/m", "messages": [{"role": "user", "content": "Hi"}]}


def paced_stream(*, ttft: float, deltas: int, idle: float, answer_after: float = 0.0) -> Script:
    """An OpenAI stream that sends its response headers after ``answer_after`` seconds, thinks
    ``ttft`` seconds more, sends ``deltas`` deltas ``GAP`` apart, goes quiet for ``idle``
    seconds, then sends one last delta and ends; each delta's write time is marked ``d0``,
    ``d1``, ... (``deltas + 1`` of them, texts ``<0>``, ``<1>``, ...)."""
    c = Chunks()
    steps: list[Action] = [sleep(answer_after), headers(200), sleep(ttft), event(c.role())]
    for i in range(deltas):
        steps += [mark(f"d{i}"), event(c.content(f"<{i}>")), sleep(GAP)]
    steps += [sleep(max(idle - GAP, 0.0)), mark(f"d{deltas}"), event(c.content(f"<{deltas}>"))]
    steps += [event(c.finish()), done(), end_chunked()]
    return Script(steps)


def paced_text(deltas: int) -> str:
    return "".join(f"<{i}>" for i in range(deltas + 1))


def aichatflow_app(fake: FakeUpstream, **stream: float) -> ASGIApp:
    """aichatflow with the model ``up/m`` served by ``fake``, heartbeats every ``HEARTBEAT``;
    ``stream`` overrides other ``[stream]`` settings."""
    provider = fake.openai_provider("m") | {"read_timeout": 10}
    timers = STREAM_TIMERS | stream
    return create_app(make_settings(providers={"up": provider}, stream=timers))


def without_header(app: ASGIApp, name: bytes) -> ASGIApp:
    """``app`` with the response header ``name`` removed: the negative controls' server."""

    async def stripped(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_without(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message["headers"] if k.lower() != name]
                message = {**message, "headers": kept}
            await send(message)

        await app(scope, receive, send_without)

    return stripped


def with_header(app: ASGIApp, name: bytes, value: bytes) -> ASGIApp:
    """``app`` with the response header ``name: value`` added: tells instances apart."""

    async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (name, value)]}
            await send(message)

        await app(scope, receive, send_with)

    return tagged
