"""The Prometheus series of ``GET /metrics``: names, labels and buckets, in one place.

Every label's values are bounded: ``route`` is a route template or ``other``, ``model`` and
``deployment`` are names the server knows (``labels.py``), ``status`` an HTTP status,
``outcome`` and ``result`` error codes or a few fixed words, ``scope`` ``key``/``ip``/``server``,
``kind`` ``input``/``output``, and ``key`` (only with ``[metrics] key_labels``) a configured
key's id. None of them is ever taken from a header, a body or a secret.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ...request_record import GAP_BUCKETS

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0)
"""Time to first token: a cached or local answer in tens of ms to a reasoning model's minute."""
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0)
"""A whole stream, up to ``[stream] max_duration``'s default."""
OVERHEAD_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
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
)
"""aichatflow's own time before the upstream request: tenths of a millisecond when all is well;
the higher buckets show a loaded event loop or a slow limits store."""


class Series:
    """The metric families, registered on ``registry`` (``None``: registered nowhere, as in
    multiprocess mode, where every process writes its own file and a scrape reads them all)."""

    def __init__(self, registry: CollectorRegistry | None, *, key_labels: bool) -> None:
        key = ("key",) if key_labels else ()
        self.key_labels = key_labels
        self.streams_active = Gauge(
            "aichatflow_streams_active",
            "Streams being answered now.",
            ["route"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.requests = Counter(
            "aichatflow_requests",
            "Finished requests, by route, model and HTTP status.",
            ["route", "model", "status", *key],
            registry=registry,
        )
        self.outcomes = Counter(
            "aichatflow_stream_outcomes",
            "Finished streams by how they ended: done, an error code, client_closed, "
            "send_timeout or shutdown.",
            ["route", "model", "outcome"],
            registry=registry,
        )
        self.ttft = Histogram(
            "aichatflow_time_to_first_token_seconds",
            "From a request's arrival to its first content write.",
            ["model"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.inter_token = Histogram(
            "aichatflow_inter_token_seconds",
            "Gaps between a stream's content writes.",
            ["model"],
            registry=registry,
            buckets=GAP_BUCKETS,
        )
        self.duration = Histogram(
            "aichatflow_stream_duration_seconds",
            "From a stream's arrival to its end.",
            ["model"],
            registry=registry,
            buckets=DURATION_BUCKETS,
        )
        self.tokens = Counter(
            "aichatflow_tokens",
            "Tokens the upstreams reported using, by model and kind (input or output).",
            ["model", "kind", *key],
            registry=registry,
        )
        self.attempts = Counter(
            "aichatflow_upstream_attempts",
            "Upstream requests by deployment and result: ok, or the error code it failed with.",
            ["deployment", "result"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "aichatflow_rate_limited",
            "Requests refused by a limit: key, ip or server.",
            ["scope"],
            registry=registry,
        )
        self.shared = Counter(
            "aichatflow_shared_streams",
            "Requests answered from another request's run: joined (an identical live one, "
            "de-duplication) or cache_hit (a finished one, the cache).",
            ["kind"],
            registry=registry,
        )
        self.overhead = Histogram(
            "aichatflow_overhead_seconds",
            "From a request's arrival to its first upstream request being sent: the time "
            "aichatflow itself adds.",
            ["route"],
            registry=registry,
            buckets=OVERHEAD_BUCKETS,
        )


__all__ = ["DURATION_BUCKETS", "LATENCY_BUCKETS", "OVERHEAD_BUCKETS", "Series"]
