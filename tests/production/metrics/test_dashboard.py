"""The Grafana dashboard and the documented queries name only series the server exposes, so a
renamed series cannot leave them silently empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aichatflow.request_record import GAP_BUCKETS, RequestRecord
from aichatflow.server.metrics.prometheus import PrometheusMetrics

ROOT = Path(__file__).resolve().parents[3]
SERIES = re.compile(r"\baichatflow_[a-z_]+\b")


def _exposed() -> set[str]:
    metrics = PrometheusMetrics()
    record = RequestRecord("r", "POST", "/api/chat", "127.0.0.1", 1.0, model="m", status=200)
    record.outcome, record.first_content, record.ended, record.upstream_sent = "done", 2, 3, 1.5
    record.gaps, record.gap_sum = [1] * (len(GAP_BUCKETS) + 1), 1.0
    record.input_tokens, record.output_tokens, record.attempts = 1, 1, [("m", "ok")]
    metrics.request_finished(record)
    metrics.stream_opened("/api/chat")
    metrics.rate_limited("ip")
    text = metrics.exposition()[0].decode()
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    histograms = {s.rsplit("_", 1)[0] for s in samples if s.endswith("_bucket")}
    return samples | histograms  # a histogram is named by its family in prose


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


@pytest.mark.parametrize(
    "doc", ["deploy/grafana-dashboard.json", "README.md", "docs/production.md"]
)
def test_queries_name_exposed_series(doc: str) -> None:
    text = "\n".join(_dashboard_queries()) if doc.endswith(".json") else (ROOT / doc).read_text()
    named = set(SERIES.findall(text))
    assert named, doc
    assert named <= _exposed(), named - _exposed()
