"""Pure Server-Sent Events encoder: one event in, its exact bytes out, no I/O.

It cannot be used to inject frames: ``event`` and ``id`` containing CR, LF or NUL are rejected
(sse-starlette strips them instead, which silently changes ids; a browser ignores an id with NUL,
which would break resume), and ``data`` is split on CR, LF and CRLF into one ``data:`` line per
piece, so a payload can never end an event early or start a new field. Comments are split the
same way, each piece its own ``:`` line, so a comment can never turn into an event.

The hot paths in ``aichatflow.dialects`` build frames from pre-validated constant prefixes and
orjson output (which never contains a raw CR or LF); this module is the general, checked path.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FORBIDDEN_IN_FIELD = re.compile(r"[\r\n\x00]")


def _check_field(name: str, value: str) -> None:
    if _FORBIDDEN_IN_FIELD.search(value):
        raise ValueError(f"SSE {name} must not contain CR, LF or NUL: {value!r}")


def encode_event(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """Encode one event. ``data=None`` writes no data line (the event then only sets fields)."""
    lines: list[str] = []
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ValueError(f"SSE retry must be a non-negative integer: {retry!r}")
        lines.append(f"retry: {retry}")
    if id is not None:
        _check_field("id", id)
        lines.append(f"id: {id}")
    if event is not None:
        _check_field("event", event)
        lines.append(f"event: {event}")
    if data is not None:
        lines.extend("data: " + piece for piece in _LINE_BREAK.split(data))
    if not lines:
        raise ValueError("an SSE event needs at least one field")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """Encode a comment (heartbeats use these); never dispatches an event on the client."""
    return ("".join(": " + piece + "\n" for piece in _LINE_BREAK.split(text)) + "\n").encode(
        "utf-8"
    )


__all__ = ["encode_comment", "encode_event"]
