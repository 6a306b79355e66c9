"""``add_bucket_counts`` against ``Histogram.observe``: the same exposition, sample for sample.

The helper writes to ``prometheus_client``'s histogram internals; these tests are what an
upgrade that changes them fails. Both value kinds are covered: the in-memory one (one process)
and the file-backed one of multiprocess mode (``serve --workers N``), read back the way a scrape
reads it (``MultiProcessCollector``).
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Sample

from aichatflow.request_record import GAP_BUCKETS
from aichatflow.server.metrics.bulk_histogram import add_bucket_counts

NAME = "gaps_seconds"


def _gaps(seed: int, n: int) -> list[float]:
    """Gaps that hit every bucket, their exact upper bounds (``le`` is inclusive), zero and
    the overflow bucket."""
    rng = random.Random(seed)
    gaps = [*GAP_BUCKETS, 0.0, 11.0, 1e-9]
    gaps += [rng.choice([rng.uniform(0, 0.01), rng.uniform(0, 12.0)]) for _ in range(n)]
    return gaps


def _bucketed(gaps: list[float]) -> tuple[list[int], float]:
    """What the engine writes into a ``RequestRecord``: one count per bucket, plus overflow."""
    counts = [0] * (len(GAP_BUCKETS) + 1)
    for gap in gaps:
        counts[bisect_left(GAP_BUCKETS, gap)] += 1
    return counts, sum(gaps)


def _samples(registry: CollectorRegistry) -> list[Sample]:
    found = [s for family in registry.collect() for s in family.samples]
    return sorted(
        (s for s in found if not s.name.endswith("_created")),
        key=lambda s: (s.name, sorted(s.labels.items())),
    )


def _assert_same(bulk: list[Sample], single: list[Sample]) -> None:
    assert [(s.name, s.labels) for s in bulk] == [(s.name, s.labels) for s in single]
    for b, s in zip(bulk, single, strict=True):
        assert b.value == pytest.approx(s.value, rel=1e-12, abs=1e-12), b.name


def _fill_bulk(histogram: Histogram, gaps_by_model: dict[str, list[float]]) -> None:
    for model, gaps in gaps_by_model.items():
        add_bucket_counts(histogram.labels(model), *_bucketed(gaps))


def _fill_single(histogram: Histogram, gaps_by_model: dict[str, list[float]]) -> None:
    for model, gaps in gaps_by_model.items():
        child = histogram.labels(model)  # a model without gaps: a zero series, as in bulk
        for gap in gaps:
            child.observe(gap)


GAPS_BY_MODEL = {"mock/chat": _gaps(1, 300), "upstream/m": _gaps(2, 50), "quiet": []}


def test_single_process_bulk_equals_single_observations() -> None:
    registries = CollectorRegistry(), CollectorRegistry()
    bulk, single = (
        Histogram(NAME, "gaps", ["model"], registry=r, buckets=GAP_BUCKETS) for r in registries
    )
    for fill, histogram in ((_fill_bulk, bulk), (_fill_single, single)):
        fill(histogram, GAPS_BY_MODEL)
        fill(histogram, {"mock/chat": _gaps(3, 20)})  # a second request adds to the first
    after = _samples(registries[0])
    _assert_same(after, _samples(registries[1]))
    count = next(s for s in after if s.name == f"{NAME}_count" and s.labels["model"] == "mock/chat")
    assert count.value == len(GAPS_BY_MODEL["mock/chat"]) + len(_gaps(3, 20))


@contextmanager
def _multiprocess_histogram(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Histogram]:
    """A histogram whose values live in files in ``directory``, as in a worker of
    ``serve --workers N`` (prometheus_client picks the file-backed value class when
    ``PROMETHEUS_MULTIPROC_DIR`` is set at import; here it is swapped in, as its own tests do)."""
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    value_class = values.MultiProcessValue()
    monkeypatch.setattr(values, "ValueClass", value_class)
    try:
        yield Histogram(NAME, "gaps", ["model"], registry=None, buckets=GAP_BUCKETS)
    finally:
        value_class.close_all_files()  # type: ignore[attr-defined]


def _scrape(directory: Path) -> list[Sample]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return _samples(registry)


def test_multiprocess_bulk_equals_single_observations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for fill, name in ((_fill_bulk, "bulk"), (_fill_single, "single")):
        with _multiprocess_histogram(tmp_path / name, monkeypatch) as histogram:
            fill(histogram, GAPS_BY_MODEL)
            fill(histogram, {"upstream/m": _gaps(4, 10)})
    assert list((tmp_path / "bulk").glob("histogram_*.db"))  # the values went to files
    bulk_samples = _scrape(tmp_path / "bulk")
    assert any(s.name == f"{NAME}_bucket" and s.value > 0 for s in bulk_samples)
    _assert_same(bulk_samples, _scrape(tmp_path / "single"))


def test_counts_that_do_not_fit_the_buckets_are_refused() -> None:
    histogram = Histogram(NAME, "gaps", ["model"], registry=None, buckets=GAP_BUCKETS)
    with pytest.raises(ValueError, match="buckets"):
        add_bucket_counts(histogram.labels("m"), [1] * len(GAP_BUCKETS), 0.5)


def test_no_gaps_leaves_the_histogram_untouched() -> None:
    registry = CollectorRegistry()
    histogram = Histogram(NAME, "gaps", ["model"], registry=registry, buckets=GAP_BUCKETS)
    add_bucket_counts(histogram.labels("m"), [0] * (len(GAP_BUCKETS) + 1), 0.0)
    assert all(s.value == 0 for s in _samples(registry))
