"""Per-stream timers and bounds (docs/configuration.md). Tests shrink them, servers set them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamLimits:
    """How long a stream may wait for what. All values are seconds.

    The upstream *connect* and *bytes-idle* timeouts belong to the provider's HTTP client (they
    are about sockets); these are the ones only the stream engine can see.
    """

    first_token: float = 120.0
    """From the request to the first content event (reasoning models think long)."""
    progress: float = 120.0
    """Between content events. Keep-alive comments do not count: a provider that only sends
    keep-alives for this long is stalled, whatever its socket says."""
    max_duration: float = 900.0
    """Hard cap on a whole stream."""
    send_timeout: float = 10.0
    """A single write to the client may block this long (a frozen client) before we drop it."""
    heartbeat: float = 15.0
    """A comment frame is written when nothing else was written for this long (also before the
    first token), so proxies with idle timeouts keep the connection."""
    retry_ms: int = 2000
    """The SSE ``retry:`` hint sent in the first frame."""

    @property
    def tick(self) -> float:
        """How often the loop-level watchdog must look at a stream with these limits."""
        shortest = min(self.first_token, self.progress, self.send_timeout, self.heartbeat)
        return min(0.5, max(0.01, shortest / 10.0))


__all__ = ["StreamLimits"]
