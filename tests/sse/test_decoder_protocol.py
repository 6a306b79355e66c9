"""``aichatflow.sse`` as a package of its own: one ``Decoder`` shape, its own exceptions, and
nothing imported from outside it.

The decoders' rules have their own vector files (``test_decode_vectors.py``, ``test_ndjson.py``);
this file pins what they share: ``feed`` then ``close`` give the same items however the bytes
are cut, ``close`` says what the end of the input means to each format, and the errors belong to
the package (a program using it alone never sees aichatflow's application errors).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aichatflow.sse
from aichatflow.errors import AIChatFlowError
from aichatflow.sse import (
    Decoder,
    LineSplitter,
    LineTooLarge,
    NDJSONDecoder,
    SSEDecodeError,
    SSEDecoder,
    SSEError,
    SSEEventTooLarge,
    SSETruncated,
)

SSE_DIR = Path(aichatflow.sse.__file__).parent
SRC = SSE_DIR.parent.parent

MIXED = b"data: a\r\n\r\ndata: b\rdata: c\n\n: note\r\rdata: \xe2\x80\xa8\n\n"
"""CRLF, lone CR and LF endings, a comment and U+2028 (data, not a line break)."""
LINES = b'{"a": 1}\r\n\n{"b": "\xe2\x80\xa8"}\n'


def whole(raw: bytes) -> list[bytes]:
    return [raw]


def bytewise(raw: bytes) -> list[bytes]:
    return [raw[i : i + 1] for i in range(len(raw))]


def feed_all(decoder: Decoder[Any], pieces: list[bytes]) -> list[Any]:
    """What a reader of a body does: every read, then the end."""
    items = [item for piece in pieces for item in decoder.feed(piece)]
    return items + decoder.close()


DECODERS: dict[str, tuple[Callable[[], Decoder[Any]], bytes, list[Any]]] = {
    "sse": (
        SSEDecoder,
        MIXED,
        [("message", "a"), ("message", "b\nc"), ("message", "\u2028")],
    ),
    "ndjson": (NDJSONDecoder, LINES, [b'{"a": 1}', b'{"b": "\xe2\x80\xa8"}']),
}


def _plain(item: Any) -> Any:
    return (item.event, item.data) if hasattr(item, "event") else item


@pytest.mark.parametrize("name", list(DECODERS))
def test_every_decoder_is_a_decoder_whose_items_do_not_depend_on_the_cutting(name: str) -> None:
    make, raw, expected = DECODERS[name]
    assert isinstance(make(), Decoder)
    for split in (whole, bytewise, lambda r: [r[:7], b"", r[7:]]):
        assert [_plain(i) for i in feed_all(make(), split(raw))] == expected


def test_sse_close_drops_an_event_without_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: a\n\ndata: b\n")] == ["a"]
    assert decoder.close() == []  # WHATWG: the half event is never dispatched


def test_ndjson_close_raises_on_a_tail_without_its_lf() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == [b'{"a": 1}']
    with pytest.raises(SSETruncated) as info:
        decoder.close()
    assert (info.value.item, info.value.pending) == ("a line", 4)


def test_line_splitter_cuts_at_cr_lf_and_crlf_only_at_every_split() -> None:
    expected = [b"data: a", b"", b"data: b", b"data: c", b"", b": note", b"", b"data: \xe2\x80\xa8"]
    tail = b"data: half"
    for cut in range(len(MIXED) + 1):
        splitter = LineSplitter()
        lines = splitter.split(MIXED[:cut]) + splitter.split(MIXED[cut:]) + splitter.split(tail)
        assert lines == [*expected, b""], cut
        assert bytes(splitter.rest) == tail, cut


def test_a_cr_ending_one_read_and_an_lf_starting_the_next_are_one_break() -> None:
    splitter = LineSplitter()
    assert splitter.split(b"a\r") == [b"a"]
    assert splitter.split(b"") == []  # an empty read does not forget the CR
    assert splitter.split(b"\nb\n") == [b"b"]


# --- the package's own exceptions ---------------------------------------------------------------


@pytest.mark.parametrize("error", [SSEEventTooLarge, LineTooLarge, SSETruncated])
def test_errors_are_the_packages_own(error: type[SSEError]) -> None:
    assert issubclass(error, SSEDecodeError) and issubclass(SSEDecodeError, SSEError)
    assert not issubclass(error, AIChatFlowError)  # no HTTP status, no application code


def test_the_size_bound_raises_the_packages_error_with_the_items_before_it() -> None:
    for decoder, raw in (
        (SSEDecoder(16), b"data: ok\n\ndata: " + b"x" * 20 + b"\n\n"),
        (NDJSONDecoder(16), b'{"ok": 1}\n' + b"x" * 20 + b"\n"),
    ):
        with pytest.raises(SSEEventTooLarge) as info:
            decoder.feed(raw)
        assert info.value.limit == 16 and len(info.value.partial) == 1


# --- importable alone ---------------------------------------------------------------------------


def _imports(path: Path) -> list[tuple[int, str]]:
    """(relative level, module) of every import in ``path``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_sse_modules_import_only_each_other_and_the_standard_library() -> None:
    modules = sorted(SSE_DIR.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "decode.py", "ndjson.py", "protocol.py"}
    for path in modules:
        for level, module in _imports(path):
            where = f"{path.name}: {'.' * level}{module}"
            if level:
                assert level == 1, where  # ``.x``, never ``..errors``
            else:
                top = module.partition(".")[0]
                assert top == "__future__" or top in sys.stdlib_module_names, where


def test_importing_sse_loads_nothing_of_aichatflow_or_a_third_party() -> None:
    """In a fresh interpreter whose ``aichatflow`` package is a bare stand-in (the real
    ``aichatflow/__init__`` re-exports the whole library), importing every ``sse`` module
    loads no other ``aichatflow`` module and no third-party package."""
    code = (
        "import sys, types\n"
        "package = types.ModuleType('aichatflow')\n"
        f"package.__path__ = [{str(SRC / 'aichatflow')!r}]\n"
        "sys.modules['aichatflow'] = package\n"
        "before = set(sys.modules)\n"
        "import aichatflow.sse, aichatflow.sse.decode, aichatflow.sse.ndjson\n"
        "import aichatflow.sse.encode, aichatflow.sse.protocol\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout.split()
    ours = [m for m in loaded if m.startswith("aichatflow")]
    assert ours and all(m.startswith("aichatflow.sse") for m in ours), ours
    others = {m.partition(".")[0] for m in loaded if not m.startswith("aichatflow")}
    assert others <= set(sys.stdlib_module_names), others - set(sys.stdlib_module_names)
