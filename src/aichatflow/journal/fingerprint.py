"""Which requests are identical, for in-flight de-duplication and the cache.

Two requests are identical when the same key (or, without auth, anyone) asks the same model
the same thing: every field of the ``ChatRequest`` but the ones that only shape the response
(``stream``, ``stream_options``) and the caller's own bookkeeping (``user``). Their fingerprint
is the SHA-256 of that, so the index never holds a prompt, only a hash.

Only deterministic requests are shared in the default mode: sharing one sampled answer between
two callers who each asked for a sample would hand both the same "random" text. ``deterministic``
means ``temperature`` 0 was asked for; ``always`` shares whatever is identical.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import orjson

from ..messages import ChatRequest

DedupMode = Literal["off", "deterministic", "always"]
_SHAPE_ONLY = {"stream", "stream_options", "user"}


def fingerprint(owner: str, chat: ChatRequest, mode: DedupMode) -> str | None:
    """The request's fingerprint, or None when ``mode`` does not share it."""
    if mode == "off" or (mode == "deterministic" and chat.temperature != 0):
        return None
    fields = chat.model_dump(mode="json", exclude=_SHAPE_ONLY, exclude_none=True)
    digest = hashlib.sha256(owner.encode() + b"\0")
    digest.update(orjson.dumps(fields, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


__all__ = ["DedupMode", "fingerprint"]
