"""Keys shaped like real ones, messages that carry them at a chosen offset, and the leak check.

Shared by the unit tests of redaction and the end-to-end tests through a server. A message is
``Incorrect API key provided: ....<key> is not valid. ...`` padded with dots, so the key starts
exactly at the offset asked for. The keys are fixed (made once with a seeded generator), so a
failure reproduces.
"""

from __future__ import annotations

from aichatflow.errors import MESSAGE_LIMIT, REDACTED

OPAQUE_KEY = "gwox9yimTcfipZGnzPbDFDyFKm51zfFoWbSrHAE5"
"""A gateway key of no known shape: only its being configured can get it redacted."""
OPENAI_KEY = "sk-proj-6yUhQqg0eyN1ygQdvpSfF5PH5nLZjMeI8cFSmj83"
SHORT_OPENAI_KEY = "sk-LDUL4CsJw24BikWMgISuSw8"
"""26 characters: the length of the key seen leaking 25 of them."""
ANTHROPIC_KEY = "sk-ant-api03-P1FGNmtjwHsGQeZ52G6SIowp6asvorcBqyt1T5Al"
GOOGLE_KEY = "AIzaQzhk7Q2bmXkthaYWyv1kKB5oiAKCAAfLesT"
"""``AIza`` and 35 characters, like a Google API key."""
HEADER_KEY = "C3J27XDCG2LmlZGEONYlgCtjfIZ4SOcM"
"""A credential given in the provider's ``headers`` option rather than as ``api_key``."""
BEARER_TOKEN = "gcfQgWHHxjZ7GFTjMemb6ivyQKhVtwu9"
"""An opaque token: only the ``Bearer`` before it marks it as a secret."""

LEAD = "Incorrect API key provided: "
TAIL = " is not valid. You can find your API key in your account settings."
CUT = MESSAGE_LIMIT


def message_with(secret: str, offset: int, *, lead: str = LEAD) -> str:
    """An upstream message in which ``secret`` starts at character ``offset``."""
    assert offset >= len(lead)
    return lead + "." * (offset - len(lead)) + secret + TAIL


def leaks(secret: str, seen: str | bytes, *, window: int = 8) -> list[str]:
    """Every ``window``-character piece of ``secret`` found in ``seen``, except pieces that
    also occur in the text around it (a 4-character piece of a key can match a word by chance)."""
    text = seen.decode("utf-8", "replace") if isinstance(seen, bytes) else seen
    background = LEAD + TAIL + REDACTED
    pieces = {secret[i : i + window] for i in range(len(secret) - window + 1)}
    return sorted(p for p in pieces if p in text and p not in background)


__all__ = [
    "ANTHROPIC_KEY",
    "BEARER_TOKEN",
    "CUT",
    "GOOGLE_KEY",
    "HEADER_KEY",
    "LEAD",
    "OPAQUE_KEY",
    "OPENAI_KEY",
    "SHORT_OPENAI_KEY",
    "TAIL",
    "leaks",
    "message_with",
]
