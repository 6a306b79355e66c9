"""Keep the garbage collector out of ``ast.parse`` on CPython 3.11.0-3.11.7 (gh-106905).

On these versions the conversion of a parsed tree into ``ast`` objects keeps its recursion
depth in state shared by the whole interpreter. When that conversion allocates, a collection may
run finalizers; one written in Python that warns or raises (the ``ResourceWarning`` of an
asyncio transport or ``StreamWriter`` left open, say) reaches ``sys.unraisablehook``, and
pytest's hook formats its traceback, whose carets ``ast.parse`` the finalizer's line again. The
nested parse overwrites the outer one's depth, and the outer parse fails with ``SystemError: AST
constructor recursion depth mismatch (before=63, after=79)`` inside an unrelated test. The outer
parse is pytest's assertion rewriting of a module a server thread imports lazily (anyio's
``_core._fileio`` under a Starlette static-file response: anyio is a pytest plugin package, so
all its modules are rewritten, at every import when ``PYTHONDONTWRITEBYTECODE`` keeps the result
from being cached), or a traceback being formatted. Closing what the tests open removes the
known sources of such finalizers; this guard makes the suite immune to those still to come.

With collections off while ``ast.parse`` runs, no Python code can run inside it: no finalizer,
and no switch to another thread's parse either (the interpreter lock changes hands only while
Python code runs). The garbage waits for the next collection after the parse. Where the bug is
fixed (3.11.8, 3.12.2: each conversion got its own depth counter) ``install`` does nothing.
"""

from __future__ import annotations

import ast
import gc
import sys
import threading
from collections.abc import Callable
from typing import Any

_VERSION = sys.version_info[:3]
AFFECTED = sys.implementation.name == "cpython" and (
    (3, 11) <= _VERSION < (3, 11, 8) or (3, 12) <= _VERSION < (3, 12, 2)
)
"""CPython versions with gh-106905 (the fix, GH-113035, shipped in 3.11.8 and 3.12.2)."""

_lock = threading.RLock()
_parsing = 0
_collector_was_enabled = False


def _without_collections(parse: Callable[..., Any]) -> Callable[..., Any]:
    def parse_without_collections(*args: Any, **kwargs: Any) -> Any:
        global _parsing, _collector_was_enabled
        with _lock:
            if _parsing == 0:
                _collector_was_enabled = gc.isenabled()
                gc.disable()
            _parsing += 1
        try:
            return parse(*args, **kwargs)
        finally:
            with _lock:
                _parsing -= 1
                if _parsing == 0 and _collector_was_enabled:
                    gc.enable()

    parse_without_collections.__wrapped__ = parse  # type: ignore[attr-defined]
    parse_without_collections.__doc__ = parse.__doc__
    return parse_without_collections


def install() -> bool:
    """Wrap ``ast.parse`` (once) on affected versions; True when the guard is in place."""
    if not AFFECTED:
        return False
    if not hasattr(ast.parse, "__wrapped__"):
        ast.parse = _without_collections(ast.parse)
    return True


__all__ = ["AFFECTED", "install"]
