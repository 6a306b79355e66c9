"""The one table of error codes (``aichatflow.error_codes.ERRORS``) and everything derived from it.

Before it there were four tables beside the exception classes (the codes, their statuses, the
retryable ones, the code of each provider error), and the classes' own ``http_status`` and
``retryable``: they disagreed (``request_timeout``, ``headers_too_large`` and ``over_capacity``
were answered but not listed; ``bad_request`` was 400, 413 or 422 depending on who raised it).

Run this file (``python -m tests.errors.test_error_table``) to rewrite the table of
docs/protocol.md from ``ERRORS``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from aichatflow import errors
from aichatflow.error_codes import (
    ERROR_CODES,
    ERRORS,
    HTTP_STATUS_BY_CODE,
    RETRYABLE_CODES,
    status_of,
)
from aichatflow.errors import (
    AIChatFlowError,
    ProviderError,
    error_for_code,
    error_from_status,
    upstream_status_code,
)

PROTOCOL_MD = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
START, END = "<!-- error-codes:start -->\n", "<!-- error-codes:end -->\n"


def _tree(cls: type[AIChatFlowError]) -> list[type[AIChatFlowError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _tree(sub))]


CLASSES = [c for c in _tree(AIChatFlowError) if c.__module__.startswith("aichatflow.")]
PROVIDER_CODES = sorted({c.code for c in CLASSES if issubclass(c, ProviderError)})


def codes_table() -> str:
    """The markdown table of docs/protocol.md, from ``ERRORS``."""
    rows = [
        "| code | HTTP status (before headers) | retryable | meaning |",
        "|---|---|---|---|",
    ]
    for code, kind in ERRORS.items():
        retryable = "yes" if kind.retryable else "no"
        rows.append(f"| `{code}` | {kind.status} | {retryable} | {kind.meaning} |")
    return "\n".join(rows) + "\n"


def _documented() -> str:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)]


def test_the_derived_tables_are_the_table() -> None:
    assert frozenset(ERRORS) == ERROR_CODES
    assert dict(HTTP_STATUS_BY_CODE) == {code: kind.status for code, kind in ERRORS.items()}
    assert {code for code, kind in ERRORS.items() if kind.retryable} == RETRYABLE_CODES
    assert errors.ERROR_CODES is ERROR_CODES  # the old import path still works
    assert errors.HTTP_STATUS_BY_CODE is HTTP_STATUS_BY_CODE
    assert errors.RETRYABLE_CODES is RETRYABLE_CODES
    assert status_of("a_code_of_a_library_user") == 500
    for code, kind in ERRORS.items():
        assert status_of(code) == kind.status
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code), code
        assert 400 <= kind.status < 600 and kind.meaning, code


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_exception_class_takes_status_and_retryable_from_the_table(
    cls: type[AIChatFlowError],
) -> None:
    assert cls.code in ERRORS
    exc = cls.__new__(cls)  # whatever its constructor wants: the attributes are the class's
    assert exc.http_status == ERRORS[cls.code].status
    assert exc.retryable == ERRORS[cls.code].retryable
    assert "http_status" not in cls.__dict__ or cls is AIChatFlowError
    assert "retryable" not in cls.__dict__ or cls is AIChatFlowError


def test_a_class_cannot_bring_a_code_or_a_status_of_its_own() -> None:
    with pytest.raises(TypeError, match=r"not in error_codes\.ERRORS"):
        type("Invented", (AIChatFlowError,), {"code": "invented_code"})
    with pytest.raises(TypeError, match="sets http_status"):
        type("Teapot", (AIChatFlowError,), {"code": "bad_request", "http_status": 418})
    with pytest.raises(TypeError, match="sets retryable"):
        type("Hopeful", (ProviderError,), {"code": "upstream_auth", "retryable": True})
    ok = type("Fine", (AIChatFlowError,), {"code": "body_too_large"})("m")
    assert (ok.http_status, ok.retryable) == (413, False)


@pytest.mark.parametrize("code", PROVIDER_CODES)
def test_every_provider_code_round_trips_through_error_for_code(code: str) -> None:
    exc = error_for_code(code, "m", provider="p")
    assert isinstance(exc, ProviderError)
    assert exc.code == code and exc.provider == "p" and exc.message == "m"
    assert (exc.http_status, exc.retryable) == (ERRORS[code].status, ERRORS[code].retryable)
    owners = [c for c in CLASSES if issubclass(c, ProviderError) and c.code == code]
    assert owners == [type(exc)], "two provider classes share a code: error_for_code is ambiguous"


def test_an_unknown_provider_code_is_a_plain_upstream_error() -> None:
    assert type(error_for_code("nonsense", "m")) is ProviderError


@pytest.mark.parametrize("status", range(400, 600))
def test_an_in_band_status_means_what_the_same_http_status_means(status: int) -> None:
    """``upstream_status_code`` (for a status written inside an in-band error) agrees with
    ``error_from_status`` (for the HTTP status itself) wherever it answers."""
    code = upstream_status_code(status)
    mapped = error_from_status(status, b"", {}, provider="p").code
    if code is not None:
        assert mapped == code
    else:  # the generic answers, which an in-band error refines by its other fields
        assert mapped == ("bad_request" if status < 500 else "upstream_error")
    assert upstream_status_code(None) is None


def test_docs_protocol_lists_exactly_the_table() -> None:
    assert _documented() == codes_table(), (
        "docs/protocol.md's error table differs from error_codes.ERRORS: "
        "run `python -m tests.errors.test_error_table` to rewrite it"
    )


def _rewrite_docs() -> None:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    before, after = text.index(START) + len(START), text.index(END)
    PROTOCOL_MD.write_text(text[:before] + codes_table() + text[after:], encoding="utf-8")


if __name__ == "__main__":
    _rewrite_docs()
    sys.stdout.write(f"rewrote the error table of {PROTOCOL_MD}\n")
