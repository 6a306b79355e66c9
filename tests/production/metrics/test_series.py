"""``PrometheusMetrics`` from records to a scrape, read back by prometheus-client's own parser.

One record per request is the whole input (the engine and the providers fill it, the gate hands
it over when the request ends); these check what each field becomes, and that label values stay
bounded and free of anything a client typed.
"""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aichatflow.config import MetricsSettings, Settings
from aichatflow.providers.build import build_registry
from aichatflow.request_record import GAP_BUCKETS, RequestRecord
from aichatflow.server.metrics import build_metrics
from aichatflow.server.metrics.labels import MAX_VALUES, KnownNames
from aichatflow.server.metrics.prometheus import PrometheusMetrics

CANARY = "sk-CANARY-4f1d2c0e9b8a"


def _record(**fields: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "request_id": "r",
        "method": "POST",
        "route": "/api/chat",
        "client_ip": "127.0.0.1",
        "arrived": 100.0,
    }
    return RequestRecord(**{**base, **fields})


def _samples(metrics: PrometheusMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text, _ = metrics.exposition()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _done_stream(model: str = "mock/chat", **fields: Any) -> RequestRecord:
    gaps = [0] * (len(GAP_BUCKETS) + 1)
    gaps[3] = 4  # four gaps of 10 ms or less
    base: dict[str, Any] = {
        "model": model,
        "status": 200,
        "outcome": "done",
        "upstream_sent": 100.0004,
        "first_content": 100.25,
        "ended": 101.0,
        "input_tokens": 12,
        "output_tokens": 5,
        "attempts": [(model, "ok")],
        "gaps": gaps,
        "gap_sum": 0.036,
    }
    return _record(**{**base, **fields})


def test_a_record_becomes_each_series_once() -> None:
    metrics = PrometheusMetrics()
    metrics.stream_opened("/api/chat")
    metrics.request_finished(_done_stream())
    metrics.stream_closed("/api/chat")
    metrics.rate_limited("key")
    s = _samples(metrics)
    model = {"model": "mock/chat"}
    assert _value(s, "aichatflow_requests_total", route="/api/chat", status="200", **model) == 1
    assert _value(s, "aichatflow_stream_outcomes_total", route="/api/chat", outcome="done", **model)
    assert _value(s, "aichatflow_time_to_first_token_seconds_count", **model) == 1
    assert _value(s, "aichatflow_time_to_first_token_seconds_sum", **model) == pytest.approx(0.25)
    assert _value(s, "aichatflow_inter_token_seconds_count", **model) == 4
    assert _value(s, "aichatflow_inter_token_seconds_bucket", le="0.005", **model) == 0
    assert _value(s, "aichatflow_inter_token_seconds_bucket", le="0.01", **model) == 4
    assert _value(s, "aichatflow_inter_token_seconds_sum", **model) == pytest.approx(0.036)
    assert _value(s, "aichatflow_stream_duration_seconds_sum", **model) == pytest.approx(1.0)
    assert _value(s, "aichatflow_tokens_total", kind="input", **model) == 12
    assert _value(s, "aichatflow_tokens_total", kind="output", **model) == 5
    assert _value(s, "aichatflow_upstream_attempts_total", deployment="mock/chat", result="ok")
    assert _value(s, "aichatflow_overhead_seconds_count", route="/api/chat") == 1
    assert _value(s, "aichatflow_overhead_seconds_bucket", route="/api/chat", le="0.0005") == 1
    assert _value(s, "aichatflow_overhead_seconds_bucket", route="/api/chat", le="0.00025") == 0
    assert _value(s, "aichatflow_streams_active", route="/api/chat") == 0
    assert _value(s, "aichatflow_rate_limited_total", scope="key") == 1


def test_a_request_that_never_streamed_counts_only_as_a_request() -> None:
    metrics = PrometheusMetrics()
    metrics.request_finished(_record(route="/v1/models", method="GET", status=401))
    s = _samples(metrics)
    assert _value(s, "aichatflow_requests_total", route="/v1/models", model="", status="401") == 1
    names = {name for name, _ in s if not name.endswith("_created")}
    assert names == {"aichatflow_requests_total"}  # no zero histograms, outcomes or tokens


def test_key_labels_only_when_asked() -> None:
    off, on = PrometheusMetrics(), PrometheusMetrics(key_labels=True)
    for metrics in (off, on):
        metrics.request_finished(_done_stream(key_id="team-a"))
        metrics.request_finished(_done_stream(key_id=None))
    assert not any(dict(labels).get("key") for _, labels in _samples(off))
    s = _samples(on)
    common = {"route": "/api/chat", "model": "mock/chat", "status": "200"}
    assert _value(s, "aichatflow_requests_total", key="team-a", **common) == 1
    assert _value(s, "aichatflow_requests_total", key="", **common) == 1
    assert _value(s, "aichatflow_tokens_total", model="mock/chat", kind="output", key="") == 5


def test_only_names_the_server_knows_become_labels() -> None:
    settings = Settings(auto_detect=False, models={"safe": ["mock/chat", "mock/echo"]})
    registry = build_registry(settings)
    metrics = build_metrics(settings, registry=registry)
    assert isinstance(metrics, PrometheusMetrics)
    for model in ("mock/chat", "safe", f"mock/{CANARY}"):
        metrics.request_finished(_done_stream(model, attempts=[(model, "ok")]))
    text, _ = metrics.exposition()
    assert CANARY not in text.decode()
    s = _samples(metrics)
    for model in ("mock/chat", "safe", "other"):
        assert _value(s, "aichatflow_time_to_first_token_seconds_count", model=model) == 1
    attempts = "aichatflow_upstream_attempts_total"
    assert _value(s, attempts, deployment=f"mock/{CANARY}", result="ok") == 0
    assert _value(s, attempts, deployment="mock/other", result="ok") == 1


def test_label_values_are_capped() -> None:
    names = KnownNames(None)
    labels = {names.model(f"m{i}") for i in range(MAX_VALUES + 50)}
    assert len(labels) == MAX_VALUES + 1 and "other" in labels
    assert names.model("m0") == "m0" and names.model("new") == "other"


def test_a_name_the_server_learns_later_becomes_a_label() -> None:
    now, known = [0.0], ["a"]
    names = KnownNames(lambda: known, clock=lambda: now[0])
    assert names.model("b") == "other"
    known.append("b")
    assert names.model("b") == "other"  # the known names are read at most once a second
    now[0] += 1.5
    assert names.model("b") == "b"


def test_off_means_no_metrics() -> None:
    assert build_metrics(Settings(metrics=MetricsSettings(enabled=False))) is None


def test_an_unknown_rate_limit_scope_is_other() -> None:
    metrics = PrometheusMetrics()
    metrics.rate_limited(CANARY)
    assert _value(_samples(metrics), "aichatflow_rate_limited_total", scope="other") == 1


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    metrics = PrometheusMetrics()
    metrics.request_finished(_done_stream())
    text, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    om_text, om_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert om_type.startswith("application/openmetrics-text")
    assert om_text.endswith(b"# EOF\n") and not text.endswith(b"# EOF\n")
