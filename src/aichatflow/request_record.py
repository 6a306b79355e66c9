"""What one request did, gathered while it runs, read once when it ends.

Every sink of the production layer (the access log, ``/metrics``, a key's token budget) wants
the same facts about a finished request: who asked, for which model, which deployment answered,
how long the first token took, how it ended, how many tokens it used. ``RequestRecord`` is where
those facts collect, so each part of the server writes what it knows (the auth layer the key, the
engine the times, the providers the upstream attempts) and no part reads another's internals.

Providers sit below the server and never see it; they reach the record of the request they are
serving through ``current_record`` (a ``ContextVar``: a stream runs in its request's own task),
and only at request granularity (a dispatch, an attempt's result), never per event.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

Outcome = str
"""``done``, an error code, ``client_closed``, ``send_timeout`` or ``shutdown``; empty while
running, and for requests that are not streams (the status says how they went)."""


@dataclass(slots=True)
class RequestRecord:
    """The facts of one request (times are the event loop's clock, in seconds)."""

    request_id: str
    method: str
    route: str
    """The route's path template (``/api/chat``, ``/v1/models/{model_id}``), or ``other``:
    a label with a bounded number of values, unlike the raw path."""
    client_ip: str
    arrived: float
    key_id: str | None = None
    model: str = ""
    deployment: str = ""
    status: int = 0
    outcome: Outcome = ""
    upstream_sent: float | None = None
    """When the first upstream request was sent: ``upstream_sent - arrived`` is the time
    aichatflow itself added before the upstream could start (its overhead)."""
    first_content: float | None = None
    ended: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    attempts: list[tuple[str, str]] = field(default_factory=list)
    """``(deployment, result)`` per upstream attempt: ``ok`` or the error code it failed with."""
    gaps: list[int] | None = None
    """Counts of gaps between content writes per bucket of ``GAP_BUCKETS`` (plus one for
    larger gaps), when the server measures them; counted per write, observed once at the end."""
    gap_sum: float = 0.0

    @property
    def tokens_used(self) -> int | None:
        """Input plus output tokens, once a usage was reported (what the limits settle)."""
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    @property
    def ttft(self) -> float | None:
        """Seconds from the request's arrival to its first content write."""
        return None if self.first_content is None else self.first_content - self.arrived

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.arrived


GAP_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the inter-token histogram: from a fast local model's bursts to a
reasoning model's pauses."""

current_record: ContextVar[RequestRecord | None] = ContextVar("aichatflow_request", default=None)
"""The record of the request the running task serves; ``None`` outside a server request."""


def note_dispatch(now: float) -> None:
    """An upstream request is being sent (the first one sets ``upstream_sent``)."""
    record = current_record.get()
    if record is not None and record.upstream_sent is None:
        record.upstream_sent = now


def note_attempt(deployment: str, result: str) -> None:
    """One upstream attempt of ``deployment`` ended: ``ok`` (it delivered) or an error code."""
    record = current_record.get()
    if record is not None:
        record.attempts.append((deployment, result))


__all__ = [
    "GAP_BUCKETS",
    "Outcome",
    "RequestRecord",
    "current_record",
    "note_attempt",
    "note_dispatch",
]
