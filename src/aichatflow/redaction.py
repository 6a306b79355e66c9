"""Secrets out of error messages: ``redact`` and ``redacted_excerpt``.

An upstream's own error message is shown to users (in a JSON error or a terminal frame) and
written to logs, and upstreams quote what they were sent: a key in a URL, an ``Authorization``
value, the key itself ("Incorrect API key provided: sk-..."). So every such message passes
through ``redacted_excerpt``, which redacts the *whole* text (configured keys, then credential
shapes: ``sk-...`` including Anthropic's ``sk-ant-...``, Google's ``AIza...``, bearer tokens,
keys in URL queries), only then cuts it to ``MESSAGE_LIMIT`` characters, and finally removes
whatever still looks like the start of a secret at the cut. Cutting first would leave the head
of a key that straddles the cut unrecognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MESSAGE_LIMIT = 300
"""Characters of an upstream's own message kept in an error (after redaction, see
``redacted_excerpt``)."""

REDACTED = "[REDACTED]"

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


def _keep_prefix(m: re.Match[str]) -> str:
    return (m.group("bearer") or m.group("query") or "") + REDACTED


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secrets and anything shaped like a credential from ``text``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SECRET_PATTERNS.sub(_keep_prefix, text)


_URL_QUERY_SECRET = re.compile(r"(?i)(?P<name>[?&](?:password|pass|pwd|token)=)[^&#]*")


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


__all__ = ["MESSAGE_LIMIT", "REDACTED", "redact", "redacted_excerpt"]
