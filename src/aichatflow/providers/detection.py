"""How a provider kind says it is available on this machine without any config table.

With ``auto_detect`` on (``docs/configuration.md``), ``providers/build.py`` asks every kind that
has a detector: built-in kinds name theirs in ``providers/__init__.py``, other packages in the
``aichatflow.detectors`` entry-point group. A detector answers from the environment and from
what is installed, and must be cheap: it runs at every start-up, so it reads variables and
looks for packages (``importlib.util.find_spec``) but never imports a runtime or opens a
connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Detector(Protocol):
    """``env`` → the options of the ``[providers.<kind>]`` table to register, or ``None``.

    The provider is registered under the kind's own name, with these options, unless the
    config has a table of that name (which replaces it).
    """

    def __call__(self, env: Mapping[str, str]) -> Mapping[str, Any] | None: ...


def key_detector(kind: str, variable: str) -> Detector:
    """A kind that is available when its standard key ``variable`` is set and not empty."""

    def detect(env: Mapping[str, str]) -> Mapping[str, Any] | None:
        return {"kind": kind} if env.get(variable) else None

    detect.__doc__ = f"``{kind}``, with its defaults, when ``{variable}`` is set."
    return detect


__all__ = ["Detector", "key_detector"]
