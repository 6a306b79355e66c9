"""The secret canary: a provider key no sink may show, whole or in part.

A leak is rarely the whole key: a message cut to a length, a URL printed without its scheme, a
key quoted without its ``sk-`` prefix. So a text leaks the canary when it holds *any* run of
``WINDOW`` or more of its characters; every such run contains a ``WINDOW``-long one, so checking
those is enough.
"""

from __future__ import annotations

import uuid

WINDOW = 12
"""Characters of the canary in a row that count as a leak."""


def new_canary(prefix: str = "sk-CANARY-") -> str:
    """A fresh key shaped like a real one (``sk-``), unique to one test run."""
    return f"{prefix}{uuid.uuid4()}"


def canary_parts(canary: str) -> list[str]:
    """Every ``WINDOW``-character run of ``canary``."""
    return [canary[i : i + WINDOW] for i in range(len(canary) - WINDOW + 1)]


def leaked_parts(text: str, canary: str) -> list[str]:
    """The runs of ``canary`` that ``text`` holds (none: no leak)."""
    return [part for part in canary_parts(canary) if part in text]


def excerpt_around(text: str, part: str, width: int = 160) -> str:
    """Where ``part`` occurs in ``text``, for a failure message that shows the leak."""
    at = text.find(part)
    return text[max(0, at - width) : at + len(part) + width]


__all__ = ["WINDOW", "canary_parts", "excerpt_around", "leaked_parts", "new_canary"]
