"""A chat stream's life inside the production layer: admitted, streamed, recorded, released.

``admit`` runs once the request is valid and its response built (so an invalid request costs
no slot): the limits let it in or refuse it (429/503 with their headers, the built stream
closed unstarted), and the response learns the request's id and headers. ``stream_admitted``
runs the stream and, however it ends (done, an error, the client gone, a send timeout, the
server cancelling the task), gives the limits back what they reserved and fills the record the
access log and the metrics are written from.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import Receive, Scope, Send

from ..chat_stream import aclose_quietly
from ..config import Settings
from ..errors import OverCapacity, Refused
from ..messages import ChatRequest
from ..request_record import GAP_BUCKETS, RequestRecord
from ..stream.engine import StreamOutcome
from ..stream.response import EventStreamResponse
from .gate import Exchange, Parts, client_ip_of, request_id_of
from .production import Admission, Caller

log = logging.getLogger("aichatflow.server")

_OUTCOMES = {"client_gone": "client_closed", "send_timeout": "send_timeout"}


def reserved_tokens(chat: ChatRequest, settings: Settings, body_size: int) -> int:
    """Tokens to reserve against a key's ``tpm``: the answer's limit (or ``reserve_tokens``)
    plus the prompt, estimated at four bytes of request per token."""
    return (chat.token_limit or settings.limits.reserve_tokens) + body_size // 4


async def admit(
    parts: Parts,
    settings: Settings,
    exchange: Exchange,
    chat: ChatRequest,
    response: EventStreamResponse,
    body_size: int = 0,
) -> Admission | None:
    """Let the built ``response`` through the limits (or raise their refusal), and give it the
    request's id, headers and record."""
    admission: Admission | None = None
    headers = list(exchange.headers)
    if parts.limiter is not None:
        try:
            admission = await parts.limiter.admit(
                exchange.caller, tokens=reserved_tokens(chat, settings, body_size)
            )
        except Refused as exc:
            await aclose_quietly(response.source)
            if parts.metrics is not None:
                scope = "server" if isinstance(exc, OverCapacity) else "key"
                if scope == "key" and exchange.caller.key is None:
                    scope = "ip"
                parts.metrics.rate_limited(scope)
            raise
        headers += admission.headers
    record = exchange.record
    if not exchange.id_given:  # one id for the request and its stream
        record.request_id = response.stream_id
    dialect = response.dialect
    dialect.request_id = record.request_id
    dialect.extra_headers = headers
    if parts.metrics is not None and parts.metrics.wants_gaps():
        record.gaps = [0] * (len(GAP_BUCKETS) + 1)
    response.record = record
    return admission


async def stream_admitted(
    scope: Scope,
    receive: Receive,
    send: Send,
    parts: Parts,
    response: EventStreamResponse,
    admission: Admission | None,
    record: RequestRecord,
    *,
    charge: bool = True,
) -> None:
    """Run the stream; then, whatever happened, release and record it. ``charge`` False: the
    tokens were spent by another request's run (a shared or cached answer), so none are
    charged to this one's key."""
    metrics = parts.metrics
    if metrics is not None:
        metrics.stream_opened(record.route)
    try:
        await response(scope, receive, send)
    finally:
        if metrics is not None:
            metrics.stream_closed(record.route)
        record_outcome(record, response)
        if admission is not None:
            await admission.release(record.tokens_used if charge else None)


def record_outcome(record: RequestRecord, response: EventStreamResponse) -> None:
    """Fill ``record`` from how ``response`` ended."""
    outcome: StreamOutcome | None = response.outcome
    dialect = response.dialect
    record.deployment = dialect.answered_by or record.deployment
    usage = dialect.usage
    if usage is not None:
        record.input_tokens, record.output_tokens = usage.input_tokens, usage.output_tokens
    if outcome is None:  # the task was cancelled (server force-quit) before the engine returned
        record.outcome = "shutdown"
        return
    record.status = outcome.http_status
    if outcome.status == "error":
        record.outcome = "shutdown" if outcome.code == "server_shutting_down" else outcome.code
    else:
        record.outcome = _OUTCOMES.get(outcome.status, outcome.status)


def bare_exchange(scope: Scope) -> Exchange:
    """The exchange of a chat endpoint reached without the gate (an app that mounts a
    ``ChatEndpoint`` itself): a fresh request id, nobody's key, nothing else."""
    client_ip = client_ip_of(scope)
    record = RequestRecord(
        request_id=request_id_of(scope),
        method=scope["method"],
        route=scope["path"],
        client_ip=client_ip,
        arrived=asyncio.get_running_loop().time(),
    )
    return Exchange(record, Caller(None, client_ip))


__all__ = ["admit", "bare_exchange", "record_outcome", "reserved_tokens", "stream_admitted"]
