"""Adding a whole request's pre-bucketed observations to a Prometheus histogram at once.

The gaps between a stream's content writes are counted per write into ``GAP_BUCKETS``
(``request_record.py``: one bisect, no lock, no histogram call per write) and reach the
histogram once, when the request ends. ``prometheus_client`` can only ``observe`` one value at a
time, which would be one locked update per write again; this adds the counts directly.

It relies on ``Histogram``'s internals (``_upper_bounds``, ``_buckets``, ``_sum``: each bucket
holds its own count, not a cumulative one, and the exposition accumulates them). That reliance
is kept to this one function, and ``tests/production/metrics/test_bulk_histogram.py`` compares
it with single ``observe()`` calls in single-process and multiprocess mode, so an upgrade of
``prometheus-client`` that changes these internals fails there, not silently in production.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Histogram


def add_bucket_counts(child: Histogram, counts: Sequence[int], total: float) -> None:
    """Add ``counts[i]`` observations to bucket ``i`` of the labelled ``child`` (the last one is
    ``+Inf``) and ``total`` to its sum: what ``sum(counts)`` calls of ``observe`` whose values
    add up to ``total`` would have done. ``counts`` must follow the histogram's own buckets."""
    buckets = child._buckets
    if len(counts) != len(buckets):
        raise ValueError(f"{len(counts)} counts for a histogram of {len(buckets)} buckets")
    observed = False
    for bucket, count in zip(buckets, counts, strict=True):
        if count:
            bucket.inc(count)
            observed = True
    if observed:
        child._sum.inc(total)


__all__ = ["add_bucket_counts"]
