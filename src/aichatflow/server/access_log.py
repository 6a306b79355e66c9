"""One line per finished request on the logger ``aichatflow.access``, as JSON or as text.

Written from the request's ``RequestRecord`` once the request is over (a stream: once its last
frame went out or its client left), so a line says how the request ended, not only that it
began. The line holds names, numbers and codes only: the route's label, never the raw path or
query (a ticket travels in the query), the key's id, never the key, and no message text (an
upstream's error message can echo what it was sent).

uvicorn's own access log is off under ``serve`` (``server/runner.py``): it prints the query
string and knows nothing of streams.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from ..redaction import redact
from ..request_record import RequestRecord

log = logging.getLogger("aichatflow.access")

FIELDS = (
    "request_id",
    "key_id",
    "client_ip",
    "method",
    "route",
    "status",
    "model",
    "deployment",
    "ttft_ms",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "outcome",
)
"""The fields of a line, in order."""

MODEL_CHARS = 200
"""The longest model name a line shows (a request may name any string)."""


def fields_of(record: RequestRecord) -> dict[str, Any]:
    """The line's fields; times in milliseconds, rounded to 0.1 ms."""
    ttft, duration = record.ttft, record.duration
    return {
        "request_id": record.request_id,
        "key_id": record.key_id,
        "client_ip": record.client_ip,
        "method": record.method,
        "route": record.route,
        "status": record.status,
        "model": _shown_model(record.model),
        "deployment": record.deployment or None,
        "ttft_ms": None if ttft is None else round(ttft * 1000, 1),
        "duration_ms": None if duration is None else round(duration * 1000, 1),
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "outcome": record.outcome or None,
    }


def _shown_model(model: str) -> str | None:
    """The model as asked for, which the client typed: cut to ``MODEL_CHARS`` and with
    anything shaped like a credential redacted (a key pasted into the wrong field)."""
    if not model:
        return None
    return redact(model[:MODEL_CHARS])


def json_line(record: RequestRecord) -> str:
    return orjson.dumps(fields_of(record)).decode()


def text_line(record: RequestRecord) -> str:
    """``key=value`` pairs (logfmt), absent values left out; values never hold spaces (ids,
    labels, codes, numbers), but a value that did would be quoted."""
    parts = []
    for name, value in fields_of(record).items():
        if value is None:
            continue
        text = str(value)
        if not text or any(c in text for c in ' "=\\'):
            text = orjson.dumps(text).decode()
        parts.append(f"{name}={text}")
    return " ".join(parts)


class AccessLog:
    """Writes each finished request's line in the configured form (``log_format``)."""

    def __init__(self, form: str = "text") -> None:
        self.line = json_line if form == "json" else text_line

    def write(self, record: RequestRecord) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("%s", self.line(record))


def configure_access_logging() -> None:
    """What ``serve`` does (a library never configures logging): access lines go to stdout,
    bare, one per line (uvicorn's access log went there too), so a log shipper can read JSON
    lines as they are; everything else keeps going to stderr."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)


__all__ = ["FIELDS", "AccessLog", "configure_access_logging", "fields_of", "json_line", "text_line"]
