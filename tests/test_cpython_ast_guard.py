"""``tests.support.cpython_ast_guard`` keeps gh-106905 out of the suite.

A child interpreter plays the failure as it happened in the suite: garbage whose finalizer
fails (an asyncio ``StreamWriter``'s ``ResourceWarning`` in the suite, a ``KeyError`` here) is
collected while ``ast.parse`` builds its tree, and the unraisable hook formats the traceback as
pytest's does, which parses again. Without the guard, an affected CPython raises ``SystemError:
AST constructor recursion depth mismatch``; with it, never, and the finalizers still run (after
the parse).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cpython_ast_guard import AFFECTED

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import ast, gc, sys, traceback
sys.path.insert(0, sys.argv[1])
formatted = []
def hook(unraisable):  # what pytest's unraisable hook does: format (3.11: carets = ast.parse)
    exc = unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback
    formatted.append("".join(traceback.format_exception(*exc)))
sys.unraisablehook = hook
if sys.argv[2] == "guarded":
    from tests.support.cpython_ast_guard import install
    install()

class Garbage:
    def __init__(self):
        self.me = self  # a cycle: only a collection frees it
    def __del__(self):
        {}["missing"] + 1  # a line with carets to compute

source = "\\n".join(f"def f{i}(a, b):\\n    return [a + b * {i} for _ in a]" for i in range(300))
errors = 0
for _ in range(10):
    for _ in range(10):
        Garbage()
    try:
        ast.parse(source)
    except SystemError:
        errors += 1
gc.collect()
print(errors, len(formatted))
"""


def _play(tmp_path: Path, mode: str) -> tuple[int, int]:
    """``(parses that failed, finalizer failures formatted)`` of 10 parses in a child."""
    script = tmp_path / "child.py"  # a file: a traceback's carets need the source line
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), str(REPO), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    errors, formatted = map(int, done.stdout.split())
    return errors, formatted


@pytest.mark.skipif(not AFFECTED, reason="this CPython has the fix of gh-106905")
def test_unguarded_an_affected_cpython_fails_the_parse(tmp_path: Path) -> None:
    """The control: the child does reproduce the bug, so the guarded run below means something."""
    errors, formatted = _play(tmp_path, "unguarded")
    assert errors > 0, "gh-106905 did not reproduce: the guarded test proves nothing"
    assert formatted > 0


def test_guarded_no_parse_fails_and_the_garbage_is_still_collected(tmp_path: Path) -> None:
    errors, formatted = _play(tmp_path, "guarded")
    assert errors == 0
    assert formatted == 10 * 10  # every finalizer ran, just not inside a parse
