"""Secrets out of error messages: ``redact`` and ``redacted_excerpt``.

An upstream's own error message is shown to users (in a JSON error or a terminal frame) and
written to logs, and upstreams quote what they were sent: a key in a URL, an ``Authorization``
value, the key itself ("Incorrect API key provided: sk-..."). So every such message passes
through ``redacted_excerpt``, which redacts the *whole* text (configured keys, then credential
shapes: ``sk-...`` including Anthropic's ``sk-ant-...``, Google's ``AIza...``, bearer tokens,
keys in URL queries), only then cuts it to ``MESSAGE_LIMIT`` characters, and finally removes
whatever still looks like the start of a secret at the cut. Cutting first would leave the head
of a key that straddles the cut unrecognised.

A configured secret is redacted wherever ``SECRET_RUN`` or more of its characters stand in a
row, not only where it appears whole: upstreams quote keys in part ("API key ...CANARY-4f0e...
is not valid", the key without its ``sk-`` prefix), and a part that long is as good as the key
to whoever reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MESSAGE_LIMIT = 300
"""Characters of an upstream's own message kept in an error (after redaction, see
``redacted_excerpt``)."""

REDACTED = "[REDACTED]"

SECRET_RUN = 12
"""Characters of a configured secret in a row that are redacted wherever they appear."""

_SECRET_PATTERNS = re.compile(
    r"(?i)(?P<bearer>bearer\s+)[^\s\"',]+"  # Authorization values
    r"|\b(?:sk|pk|rk|key|acf)-[A-Za-z0-9_\-]{6,}"  # OpenAI-style keys, Anthropic's sk-ant-...
    r"|\bAIza[0-9A-Za-z_\-]{16,}"  # Google API keys (AIza and 35 more characters)
    r"|(?P<query>[?&](?:key|api_key|api-key|token|access_token|ticket)=)[^&\s\"']+"  # in URLs
)
_SECRET_HEADS = re.compile(
    r"(?i)(?:(?P<bearer>bearer\s+)[^\s\"',]*"
    r"|\b(?:sk|pk|rk|key|acf)-[A-Za-z0-9_\-]*"
    r"|\bAIza[0-9A-Za-z_\-]*"
    r"|(?P<query>[?&](?:key|api_key|api-key|token|access_token|ticket)=)[^&\s\"']*)\Z"
)
"""The start of a credential-shaped token, ending the text: what a cut leaves of a token."""
_MIN_SECRET_HEAD = 4
"""A known secret's first characters ending a text are removed from this many on."""


CREDENTIAL_NAME = re.compile(r"(?i)auth|api[-_]?key|token|secret|cookie|signature")
"""Header (and option) names whose values are credentials: ``Authorization``, Azure's
``api-key``, ``X-Goog-Api-Key``, a gateway's ``X-Auth-Token``."""

_MIN_HEADER_SECRET = 8
"""Shorter header values are flags, not credentials; redacting them would garble messages."""


def header_secrets(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The values of configured headers that carry a credential (an Azure ``api-key``, a
    gateway's ``Authorization: Bearer ...``): secrets as much as ``api_key`` is, and the token
    after an auth scheme on its own too, since an upstream may echo just that."""
    found: list[str] = []
    for name, value in headers.items():
        if CREDENTIAL_NAME.search(name):
            token = value.strip().rpartition(" ")[2]
            found += [v for v in (value.strip(), token) if len(v) >= _MIN_HEADER_SECRET]
    return tuple(dict.fromkeys(found))


def _keep_prefix(m: re.Match[str]) -> str:
    return (m.group("bearer") or m.group("query") or "") + REDACTED


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secrets (``without_secrets``) and anything shaped like a credential from
    ``text``."""
    return _SECRET_PATTERNS.sub(_keep_prefix, without_secrets(text, secrets))


def without_secrets(text: str, secrets: Iterable[str]) -> str:
    """Remove the given secrets from ``text``: each whole, and any ``SECRET_RUN`` characters
    of one in a row; credential *shapes* are left alone (``redact`` removes those too)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) < SECRET_RUN:
            text = text.replace(secret, REDACTED)
        elif _may_hold_a_run_of(text, secret):
            text = _without_runs_of(text, secret)  # the whole secret is one run
    return text


_ANCHOR = SECRET_RUN // 2


def _may_hold_a_run_of(text: str, secret: str) -> bool:
    """Whether ``text`` holds one of ``secret``'s anchors: its ``_ANCHOR``-long pieces at
    multiples of ``_ANCHOR``. Any ``SECRET_RUN`` characters of the secret in a row contain one,
    so a text without any holds no run, and a log line (``server/log_redaction.py``) is
    cleared with a few searches instead of one per window."""
    return any(anchor in text for anchor in _anchors(secret))


def _anchors(secret: str) -> list[str]:
    return [secret[i : i + _ANCHOR] for i in range(0, len(secret) - _ANCHOR + 1, _ANCHOR)]


class KnownSecrets:
    """``without_secrets`` for one fixed set of secrets, for text that almost never holds
    any (log lines): one compiled search for every secret's anchors (and the short secrets
    whole) says no in well under a microsecond for a typical line, where the search per
    anchor and per secret costs ten times that."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(dict.fromkeys(s for s in secrets if s))
        pieces = {p for s in self.secrets for p in (_anchors(s) if len(s) >= SECRET_RUN else [s])}
        ordered = sorted(pieces, key=len, reverse=True)
        self._hint = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def remove(self, text: str) -> str:
        if self._hint is None or self._hint.search(text) is None:
            return text
        return without_secrets(text, self.secrets)


def _without_runs_of(text: str, secret: str) -> str:
    """``text`` with every stretch it shares with ``secret`` of ``SECRET_RUN`` or more
    characters replaced by ``REDACTED`` (overlapping stretches by one).

    Every such stretch contains one of the secret's ``SECRET_RUN``-long windows; each window's
    occurrences are found and grown, left and right, to the whole stretch the text shares with
    the secret at that alignment. The cost is one search of ``text`` per window (a 50-character
    key: 39), paid only where secrets are redacted: error messages and log lines.
    """
    spans: list[tuple[int, int]] = []
    for start in range(len(secret) - SECRET_RUN + 1):
        window = secret[start : start + SECRET_RUN]
        at = text.find(window)
        while at != -1:
            shift = at - start  # text[shift + i] == secret[i] inside the window
            low, high = start, start + SECRET_RUN
            while low > 0 and shift + low > 0 and text[shift + low - 1] == secret[low - 1]:
                low -= 1
            while (
                high < len(secret)
                and shift + high < len(text)
                and text[shift + high] == secret[high]
            ):
                high += 1
            spans.append((shift + low, shift + high))
            at = text.find(window, at + 1)
    if not spans:
        return text
    merged: list[list[int]] = []
    for left, right in sorted(spans):
        if merged and left <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], right)
        else:
            merged.append([left, right])
    out, done = [], 0
    for left, right in merged:
        out += [text[done:left], REDACTED]
        done = right
    out.append(text[done:])
    return "".join(out)


_URL_QUERY_SECRET = re.compile(
    r"(?i)(?P<name>[?&](?:password|passwd|pass|pwd|key|api_key|api-key|token|access_token|secret)=)"
    r"[^&#\s]*"
)


def redact_url(url: str) -> str:
    """``url`` with the password of its user part and of its query (``redis://u:pw@host``,
    ``unix:///run/redis.sock?password=pw``) replaced by ``[REDACTED]``: a storage URL is
    printed (settings, logs), its password never.

    The password runs to the *last* ``@``: one written unencoded may hold ``@``, ``/`` or
    ``?`` itself, and cutting it at the first would print its tail.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if sep and at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        url = f"{scheme}://{user}:{REDACTED}@{host}"
    return _URL_QUERY_SECRET.sub(lambda m: m.group("name") + REDACTED, url)


def redacted_excerpt(text: str, secrets: Iterable[str] = (), limit: int = MESSAGE_LIMIT) -> str:
    """``text`` redacted, then cut to ``limit`` characters (plus at most one ``[REDACTED]``
    marker): the one way an upstream's message is shortened.

    The order is the point: cutting first would split a secret at the cut and leave its head
    (25 characters of a 26-character key) where neither the known-secret match nor the
    credential patterns recognise it any more. After the cut, whatever still looks like the
    *beginning* of a secret at the end (a known secret's first characters, ``sk-...``,
    ``AIza...``, ``Bearer ...`` cut short, by the upstream itself or by us) is removed too, and
    a cut that would split a ``[REDACTED]`` marker is moved before it.
    """
    secrets = tuple(s for s in secrets if s)
    text = redact(text, secrets)
    if len(text) > limit:
        width = len(REDACTED)
        marker = text.find(REDACTED, max(0, limit - width + 1), limit + width - 1)
        text = text[: marker if marker != -1 else limit]
    return _without_secret_head(text, secrets)


def _without_secret_head(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        for size in range(len(secret) - 1, _MIN_SECRET_HEAD - 1, -1):
            if text.endswith(secret[:size]):
                text = text[: len(text) - size] + REDACTED
                break
    return _SECRET_HEADS.sub(_keep_prefix, text, count=1)


__all__ = [
    "CREDENTIAL_NAME",
    "MESSAGE_LIMIT",
    "REDACTED",
    "SECRET_RUN",
    "KnownSecrets",
    "header_secrets",
    "redact",
    "redacted_excerpt",
    "without_secrets",
]
