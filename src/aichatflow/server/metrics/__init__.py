"""``GET /metrics``: Prometheus series of what the server does (``prometheus.py``).

``build_metrics`` imports ``prometheus_client`` only when metrics are on, and only when the app
is built: under several workers that is in each worker, after ``serve`` named the directory
their values share (``multiprocess.py`` says why the order matters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...config import Settings
from ..production import Metrics

if TYPE_CHECKING:
    from ...providers.registry import Registry


def build_metrics(settings: Settings, *, registry: Registry | None = None) -> Metrics | None:
    """The metrics of an app (``None`` with ``[metrics] enabled = false``). With ``registry``,
    only the models and deployments it knows become label values (``labels.py``)."""
    if not settings.metrics.enabled:
        return None
    from .prometheus import PrometheusMetrics

    known = None
    if registry is not None:
        aliases = settings.models
        chains = [t for targets in aliases.values() for t in _targets(targets)]

        def known_names() -> list[str]:
            return [name for name, _ in registry.model_ids()] + chains

        known = known_names
    return PrometheusMetrics(key_labels=settings.metrics.key_labels, known_names=known)


def _targets(targets: str | list[str]) -> list[str]:
    return [targets] if isinstance(targets, str) else targets


__all__ = ["build_metrics"]
