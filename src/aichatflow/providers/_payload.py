"""One upstream payload (an SSE ``data`` field, an NDJSON line) as a JSON object, or a typed error.

Every provider's parser starts the same way; a payload that is not JSON, or is JSON but not an
object, is the upstream's fault (``UpstreamBadResponse``), never a traceback.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import UpstreamBadResponse


def json_object(data: str | bytes, provider: str, what: str) -> dict[str, Any]:
    """``data`` decoded; ``what`` names it in the error ("a frame", "an event", "a line")."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamBadResponse(
            f"{provider}: upstream sent {what} that is not JSON", provider=provider
        ) from None
    if not isinstance(obj, dict):
        raise UpstreamBadResponse(
            f"{provider}: upstream sent {what} that is not a JSON object", provider=provider
        )
    return obj


__all__ = ["json_object"]
