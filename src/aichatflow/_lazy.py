"""Package attributes imported on first use (PEP 562), so importing one module is cheap.

A package ``__init__`` that imported its public names eagerly made every import pay for all of
them: ``import aichatflow.events`` (a module of plain dataclasses) ran ``aichatflow/__init__``,
which loaded the stream engine, Starlette, the dialects, pydantic and aiohttp. A package now
names its public attributes and the module that defines each; the first access imports that
module and keeps the value, so later lookups are plain globals.

Each package writes its names twice, on purpose: once as imports under ``if TYPE_CHECKING:``
(what mypy and editors read) and once in the table given here (what runs).
``tests/test_import_layers.py`` checks that the two agree.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``.

    ``exports`` maps each module, relative to ``package`` (``".engine"``, ``"..chat_stream"``),
    to the names taken from it, the way the ``TYPE_CHECKING`` imports read. Call it from the
    package's own ``__init__``.
    """
    namespace = sys.modules[package].__dict__
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__


__all__ = ["lazy_attributes"]
