"""Which model and deployment names may become label values.

Every distinct label value is one more series in every scrape, kept until the process restarts,
and a model name is partly the client's: ``mock/<anything>`` resolves (a provider accepts any
model id of its own), so the raw name would let a client create series at will, or put any text
(a key pasted in the wrong field) where every metrics reader sees it. A name becomes a label
only when the server knows it: a model its providers advertise (``/v1/models``), an alias, or a
deployment an alias names. Anything else is ``other`` (a deployment: ``<provider>/other``, the
provider's name being the operator's). Known names are also capped at :data:`MAX_VALUES`, for a
provider whose upstream lists thousands of models.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

MAX_VALUES = 200
"""Distinct model (and deployment) label values per process; then ``other``."""
OTHER = "other"
REFRESH = 1.0
"""Seconds between two reads of the known names, when a name is not among them: an upstream's
model list changes now and then, and a client sending unknown names must not make every
request rebuild the set."""


class KnownNames:
    """The label value of a model or deployment name (see the module docstring).

    ``known`` returns the names the server knows now; ``None`` (a library user's app without a
    registry) knows none, so only the cap bounds the values."""

    def __init__(
        self,
        known: Callable[[], Iterable[str]] | None,
        *,
        limit: int = MAX_VALUES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._known = known
        self._limit = limit
        self._clock = clock
        self._names: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._labels: dict[str, str] = {"": ""}
        """Decided names (the hot path: one dict lookup)."""
        self._kept = 0

    def model(self, name: str) -> str:
        label = self._labels.get(name)
        return label if label is not None else self._decide(name, OTHER)

    def deployment(self, name: str) -> str:
        label = self._labels.get(name)
        if label is not None:
            return label
        provider, slash, _ = name.partition("/")
        return self._decide(name, f"{provider}/{OTHER}" if slash else OTHER)

    def _decide(self, name: str, unknown: str) -> str:
        if self._known is None:
            return self._keep(name, name)
        if name not in self._names and self._clock() - self._read_at >= REFRESH:
            self._names = frozenset(self._known())
            self._read_at = self._clock()
        if name in self._names:
            return self._keep(name, name)
        return unknown  # not remembered: the name may become known later

    def _keep(self, name: str, label: str) -> str:
        if self._kept >= self._limit:
            return OTHER
        self._kept += 1
        self._labels[name] = label
        return label


__all__ = ["MAX_VALUES", "OTHER", "KnownNames"]
