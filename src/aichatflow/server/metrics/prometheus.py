"""``Metrics`` on ``prometheus-client``: every request observed once, when it ends.

Nothing here runs per event. The engine counts a stream's content-write gaps into the record's
buckets as it writes (``request_record.py``), and ``request_finished`` turns the whole record
into counter increments and histogram observations at once: about a dozen updates per request,
whatever its length.

One process keeps its series in its own registry, in memory. Under ``serve --workers N`` (and
granian's workers) every process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
(``multiprocess.py`` sets it up before the workers start), and a scrape, whichever worker
answers it, reads all of them: the numbers are the sum over the workers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

from ...request_record import RequestRecord
from .bulk_histogram import add_bucket_counts
from .labels import KnownNames
from .multiprocess import ENV
from .series import Series

RATE_LIMIT_SCOPES = frozenset({"key", "ip", "server"})

M = TypeVar("M", bound=MetricWrapperBase)


class _Children(Generic[M]):
    """A metric's labelled children by label values: one dict lookup instead of ``labels()``,
    which validates and locks on every call and was half of ``request_finished``'s time. As
    bounded as the label values are (``series.py``)."""

    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], M] = {}

    def __call__(self, *label_values: str) -> M:
        child = self._cache.get(label_values)
        if child is None:
            child = self._cache[label_values] = self._metric.labels(*label_values)
        return child


class PrometheusMetrics:
    """The ``Metrics`` part (``server/production.py``)."""

    def __init__(
        self,
        *,
        key_labels: bool = False,
        known_names: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self.multiprocess = ENV in os.environ
        if self.multiprocess and not values.ValueClass._multiprocess:
            raise RuntimeError(
                f"{ENV} is set but prometheus_client was imported before it was: "
                "this process's values would never reach a scrape"
            )
        self._registry = None if self.multiprocess else CollectorRegistry()
        self.series = s = Series(self._registry, key_labels=key_labels)
        self._key_labels = key_labels
        self._names = KnownNames(known_names)
        self._streams = _Children(s.streams_active)
        self._requests = _Children(s.requests)
        self._outcomes = _Children(s.outcomes)
        self._ttft = _Children(s.ttft)
        self._inter_token = _Children(s.inter_token)
        self._duration = _Children(s.duration)
        self._tokens = _Children(s.tokens)
        self._attempts = _Children(s.attempts)
        self._rate_limited = _Children(s.rate_limited)
        self._overhead = _Children(s.overhead)
        self._shared = _Children(s.shared)

    def stream_opened(self, route: str) -> None:
        self._streams(route).inc()

    def stream_closed(self, route: str) -> None:
        self._streams(route).dec()

    def rate_limited(self, scope: str) -> None:
        self._rate_limited(scope if scope in RATE_LIMIT_SCOPES else "other").inc()

    def shared(self, kind: str) -> None:
        self._shared(kind).inc()

    def wants_gaps(self) -> bool:
        return True

    def request_finished(self, record: RequestRecord) -> None:
        route = record.route
        model = self._names.model(record.model)
        key = (record.key_id or "",) if self._key_labels else ()
        self._requests(route, model, str(record.status), *key).inc()
        if record.outcome:
            self._outcomes(route, model, record.outcome).inc()
        if record.first_content is not None:
            self._ttft(model).observe(record.first_content - record.arrived)
        if record.gaps is not None:
            add_bucket_counts(self._inter_token(model), record.gaps, record.gap_sum)
        if record.outcome and record.ended is not None:  # a stream (others have no outcome)
            self._duration(model).observe(record.ended - record.arrived)
        if record.input_tokens:
            self._tokens(model, "input", *key).inc(record.input_tokens)
        if record.output_tokens:
            self._tokens(model, "output", *key).inc(record.output_tokens)
        for deployment, result in record.attempts:
            self._attempts(self._names.deployment(deployment), result).inc()
        if record.upstream_sent is not None:
            self._overhead(route).observe(record.upstream_sent - record.arrived)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The text of a scrape and its content type (OpenMetrics when ``accept`` asks)."""
        encoder, content_type = choose_encoder(accept)
        if self._registry is not None:
            return encoder(self._registry), content_type
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # reads all files
        return encoder(registry), content_type

    async def endpoint(self, request: Request) -> Response:
        accept = request.headers.get("accept", "")
        if self.multiprocess:  # file reads: off the event loop that streams
            body, content_type = await asyncio.to_thread(self.exposition, accept)
        else:
            body, content_type = self.exposition(accept)
        return Response(body, headers={"content-type": content_type})


__all__ = ["PrometheusMetrics"]
