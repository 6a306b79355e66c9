"""A configured secret is redacted wherever 12 or more of its characters stand in a row.

The defect: only a whole configured key was replaced, so an upstream that quoted the key in
part (``API key ...CANARY-4f0e... is not valid``: the key without its ``sk-`` prefix) put 40
of its characters into the error frame, the ``/v1`` error body and the server's log.
"""

from __future__ import annotations

import pytest

from aichatflow.errors import error_from_status
from aichatflow.redaction import (
    REDACTED,
    SECRET_RUN,
    KnownSecrets,
    redact,
    redacted_excerpt,
    without_secrets,
)
from tests.production.canary.canary import WINDOW, leaked_parts

KEY = "opaque7Q2m9Xw4Lk8Rt5Vb1Nc6Hy3Jd0"
"""A configured key of no known shape: only knowing it can find it."""


@pytest.mark.parametrize(
    "quoted",
    [KEY[3:], KEY[:-4], KEY[5 : 5 + SECRET_RUN], KEY[10:], f"{KEY[:14]}...{KEY[-14:]}"],
    ids=["no-prefix", "no-tail", "shortest-run", "second-half", "both-ends"],
)
def test_a_quoted_part_of_a_configured_key_is_redacted(quoted: str) -> None:
    text = f"Incorrect API key provided: {quoted}. See the docs."
    for clean in (redact(text, [KEY]), redacted_excerpt(text, [KEY]), without_secrets(text, [KEY])):
        assert not leaked_parts(clean, KEY), clean
        assert REDACTED in clean and clean.endswith(". See the docs.")


def test_status_errors_drop_a_part_of_the_key() -> None:
    body = b'{"error": {"message": "key ...' + KEY[2:].encode() + b' revoked"}}'
    error = error_from_status(401, body, {}, provider="p", secrets=[KEY])
    assert not leaked_parts(error.message, KEY) and "revoked" in error.message


def test_shorter_runs_are_left_readable() -> None:
    """An upstream's own mask (the last 4 characters) and anything under ``SECRET_RUN``
    characters stay: they identify a key without giving it away."""
    short = KEY[: SECRET_RUN - 1]
    text = f"key ending in ...{KEY[-4:]}; prefix {short}"
    assert redact(text, [KEY]) == text
    assert WINDOW == SECRET_RUN  # the canary test counts leaks with the same bound


def test_every_run_goes_and_the_text_between_them_stays() -> None:
    text = f"a {KEY[:16]} b {KEY[8:28]} c {KEY}{KEY[:13]} d"
    # a run right after the whole key is one stretch of key characters: one marker
    assert without_secrets(text, [KEY]) == f"a {REDACTED} b {REDACTED} c {REDACTED} d"


def test_short_secrets_are_only_redacted_whole() -> None:
    secret = "pw-1234567"  # under SECRET_RUN: its parts are too short to mean anything
    assert without_secrets(f"x {secret} y pw-12345", [secret]) == f"x {REDACTED} y pw-12345"


@pytest.mark.parametrize(
    "text",
    [
        "request_id=abc route=/v1/chat/completions status=200 outcome=complete",
        f"quoted {KEY[7:20]} here",
        f"whole {KEY} and short pw-1234567 and {KEY[-12:]}",
        "",
    ],
)
def test_known_secrets_removes_what_without_secrets_removes(text: str) -> None:
    """The log path's fast check (anchors in one compiled pattern) misses no run."""
    secrets = [KEY, "pw-1234567"]
    assert KnownSecrets(secrets).remove(text) == without_secrets(text, secrets)


def test_every_run_has_an_anchor() -> None:
    """Each of the key's ``SECRET_RUN``-long runs, alone in a text, is found and removed."""
    known = KnownSecrets([KEY])
    for start in range(len(KEY) - SECRET_RUN + 1):
        run = KEY[start : start + SECRET_RUN]
        assert known.remove(f"<{run}>") == f"<{REDACTED}>", run
