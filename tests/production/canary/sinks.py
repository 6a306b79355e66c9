"""Where a secret could show up, as lists a test walks: every sink is one line here.

``RESPONSE_SINKS`` are the parts of one HTTP answer a client sees; ``SERVER_SINKS`` are read
from the running server once the requests are done. A new sink (as ``GET /metrics`` was, once the
server has it) is one more ``(name, reader)`` entry, and every error path is checked there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.support.serve_process import ServeProcess


@dataclass
class Answer:
    """One answer as the client received it."""

    status_line: str
    headers: str
    body: bytes
    frames: list[str] = field(default_factory=list)
    """Each SSE frame's or the JSON body's payload, decoded (``\\u`` escapes resolved)."""

    @property
    def is_error(self) -> bool:
        """An error status, or a stream that ended in an error frame."""
        text = self.body.decode("utf-8", "replace")
        failed = not self.status_line.split()[1].startswith("2")
        return failed or '"error"' in text or "event: error" in text


def _decoded(payload: bytes) -> str:
    """A JSON payload with its escapes resolved, as a client's parser would see its strings."""
    try:
        value: Any = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.decode("utf-8", "replace")
    return orjson.dumps(value).decode()


def answer_of(response: httpx.Response, body: bytes) -> Answer:
    version = response.http_version
    status = f"{version} {response.status_code} {response.reason_phrase}"
    raw = response.headers.raw
    head = "\n".join(f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in raw)
    frames = []
    if "text/event-stream" in response.headers.get("content-type", ""):
        for frame in body.replace(b"\r\n", b"\n").split(b"\n\n"):
            lines = [line[5:].lstrip() for line in frame.split(b"\n") if line.startswith(b"data:")]
            if lines:
                frames.append(_decoded(b"\n".join(lines)))
    elif body:
        frames.append(_decoded(body))
    return Answer(status, head, body, frames)


RESPONSE_SINKS: list[tuple[str, Callable[[Answer], str]]] = [
    ("status line", lambda a: a.status_line),
    ("response headers", lambda a: a.headers),
    ("response body", lambda a: a.body.decode("utf-8", "replace")),
    ("SSE frames / JSON body, decoded", lambda a: "\n".join(a.frames)),
]


def _server_output(server: ServeProcess) -> str:
    """stdout (the access log) and stderr (everything else logged) of ``serve``."""
    return server.output()


SERVER_SINKS: list[tuple[str, Callable[[ServeProcess], str]]] = [
    ("server stdout+stderr (DEBUG)", _server_output),
    ("GET /metrics", lambda s: httpx.get(s.url + "/metrics", timeout=10).text),
]


__all__ = ["RESPONSE_SINKS", "SERVER_SINKS", "Answer", "answer_of"]
