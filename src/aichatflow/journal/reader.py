"""A reader: one response tailing a run's journal from a position.

The stream engine (``stream/engine.py``) takes any source of batches, so a reader is that
source: the entries after a position, decoded, with the events the client already saw cut
from the first one. What the engine does for a provider it then does for a reader: one write
per batch, heartbeats, the send timeout, the client leaving (which ends this reader only).

The reader has no upstream to wait for; the run's producer owns the upstream timers. A lost
producer or an expired journal become the reader's terminal ``error`` event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from ..events import ChatEvent, StreamError
from ..stream.limits import StreamLimits
from .backend import Journal, ProducerLost, ResumeExpired
from .codec import decode_batch

NEVER = 10.0**9
"""A timer that never fires (seconds)."""

RESUME_EXPIRED = StreamError(
    code="resume_expired",
    message="this stream is no longer kept; send the request again",
    retryable=False,
)
PRODUCER_LOST = StreamError(
    code="producer_lost",
    message="the server generating this answer stopped; send the request again",
    retryable=True,
)


def reader_limits(limits: StreamLimits) -> StreamLimits:
    """A reader's timers: the client-facing ones (heartbeat, send timeout) as configured, no
    upstream timers (the producer's fire into the journal), and a duration cap that outlasts
    the producer's."""
    return dataclasses.replace(
        limits, first_token=NEVER, progress=NEVER, max_duration=limits.max_duration * 2 + 60
    )


async def tail(journal: Journal, stream_id: str, after: int) -> AsyncIterator[list[ChatEvent]]:
    """The batches of events after position ``after``, replayed then live, to the terminal:
    one batch per read of the journal, however many entries it returned (one write for all
    of them, as the direct path writes one per upstream read)."""
    try:
        async for entries in journal.read(stream_id, after):
            if len(entries) == 1:
                entry = entries[0]
                batch = entry.events or decode_batch(entry.data)
            else:
                batch = []
                for entry in entries:
                    batch += entry.events or decode_batch(entry.data)
                entry = entries[0]
            if entry.first <= after:  # the client saw the start of the first entry
                batch = batch[after - entry.first + 1 :]
                if not batch:
                    continue
            after = entries[-1].last
            yield batch
    except ResumeExpired:
        yield [RESUME_EXPIRED]
    except ProducerLost:
        yield [PRODUCER_LOST]


__all__ = ["NEVER", "PRODUCER_LOST", "RESUME_EXPIRED", "reader_limits", "tail"]
