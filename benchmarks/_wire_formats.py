"""What each client dialect's stream looks like on the wire, for every scenario that reads one.

The load generator (``loadgen.py``) and the single-request client (``_single.py``) read four
formats: aichatflow's native SSE (``POST /api/chat``), OpenAI chunks (``/v1/chat/completions``),
Anthropic's named events (``/v1/messages``) and the Vercel UI message stream (``/api/ui/chat``).
For each, this module knows the three things they need, so a text delta is counted the same way
in ``fast``, ``proxy`` and ``ttfe``:

* ``first_text``: a pattern found in the raw bytes once the first *text* event arrived (the clock
  of time to first token stops there). It is searched on every socket read until found, so it
  is one compiled pattern, never a parse;
* ``parse``: after the clock stopped, the payload (de-chunked) into its text deltas, the number
  of event frames and whether it ended with the dialect's own terminator;
* ``body``: the request body of the benchmark prompt in the dialect's request shape, so every
  format asks the same model for the same tokens.

Text deltas: native ``event: text`` frames, OpenAI ``choices[].delta.content``, Anthropic
``content_block_delta`` events whose delta is a ``text_delta``, UI ``text-delta`` parts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

FORMATS = ("native", "openai", "anthropic", "ui")


@dataclass(slots=True)
class Parsed:
    """One response's payload, read after the clock stopped."""

    texts: list[str] = field(default_factory=list)
    """The text of every text event, in order."""
    ends: list[int] = field(default_factory=list)
    """Payload offset just after each text event's frame (which read completed it: lateness)."""
    frames: int = 0
    """Event frames: ``id:`` lines on the native stream (what ``EventSource`` dispatches), data
    frames elsewhere."""
    unfinished: str = ""
    """Why the stream did not end as its dialect ends one ("" when it did)."""


Frame = tuple[bytes, bytes, int, int]
"""One SSE frame: (event name, data, ``id:`` lines, payload offset just after it). A comment
(heartbeat) is the event ``b":"``."""


def _frames(payload: bytes) -> tuple[list[Frame], bytes]:
    """Every frame of the payload, and what followed the last one (nothing, when complete)."""
    chunks = payload.split(b"\n\n")
    tail = chunks.pop()
    out = []
    pos = 0
    for frame in chunks:
        pos += len(frame) + 2
        event, data, ids = b"message", b"", 0
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                event = line[7:]
            elif line.startswith(b"data:"):
                data = line[5:].strip()
            elif line.startswith(b"id: "):
                ids += 1
        out.append((b":" if frame.startswith(b":") else event, data, ids, pos))
    return out, tail


def _native(payload: bytes) -> Parsed:
    frames, tail = _frames(payload)
    p = Parsed()
    last = b""
    for event, data, ids, end in frames:
        p.frames += ids
        if event == b"text":
            p.texts.append(orjson.loads(data)["text"])
            p.ends.append(end)
        if event != b":":
            last = event
    if last != b"done":
        p.unfinished = f"last frame is {last.decode(errors='replace')!r}, not 'done'"
    return _tail(p, tail)


def _openai(payload: bytes) -> Parsed:
    frames, tail = _frames(payload.replace(b"\r\n", b"\n"))
    p = Parsed()
    done = False
    for _event, data, _ids, end in frames:
        if not data:
            continue
        p.frames += 1
        if data == b"[DONE]":
            done = True
            continue
        for choice in orjson.loads(data).get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                p.texts.append(content)
                p.ends.append(end)
    p.unfinished = "" if done else "no data: [DONE]"
    return _tail(p, tail)


def _anthropic(payload: bytes) -> Parsed:
    frames, tail = _frames(payload)
    p = Parsed()
    last = b""
    for event, data, _ids, end in frames:
        if not data:
            continue
        p.frames += 1
        last = event
        if event == b"content_block_delta":
            delta = orjson.loads(data)["delta"]
            if delta["type"] == "text_delta":
                p.texts.append(delta["text"])
                p.ends.append(end)
    if last != b"message_stop":
        p.unfinished = f"last event is {last.decode(errors='replace')!r}, not 'message_stop'"
    return _tail(p, tail)


def _ui(payload: bytes) -> Parsed:
    frames, tail = _frames(payload)
    p = Parsed()
    last: Any = None
    for _event, data, _ids, end in frames:
        if not data:
            continue
        p.frames += 1
        if data == b"[DONE]":
            last = "[DONE]"
            continue
        part = orjson.loads(data)
        last = part.get("type")
        if last == "text-delta":
            p.texts.append(part["delta"])
            p.ends.append(end)
    if last != "[DONE]":
        p.unfinished = f"last part is {last!r}, not data: [DONE]"
    return _tail(p, tail)


def _tail(p: Parsed, tail: bytes) -> Parsed:
    if tail.strip() and not p.unfinished:
        p.unfinished = "bytes after the last frame"
    return p


def _messages(prompt: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": prompt}]


def _native_body(model: str, events: int, prompt: str) -> dict[str, Any]:
    return {"model": model, "messages": _messages(prompt), "max_tokens": events}


def _streaming_body(model: str, events: int, prompt: str) -> dict[str, Any]:
    return {**_native_body(model, events, prompt), "stream": True}


def _ui_body(model: str, events: int, prompt: str) -> dict[str, Any]:
    """useChat's body (``DefaultChatTransport``), plus the model and ``max_tokens`` a page adds
    with its ``body`` option so the answer has the benchmark's length."""
    part = {"type": "text", "text": prompt}
    return {
        "id": "bench-chat",
        "messages": [{"id": "m1", "role": "user", "parts": [part]}],
        "trigger": "submit-message",
        "model": model,
        "max_tokens": events,
    }


@dataclass(frozen=True, slots=True)
class WireFormat:
    """One dialect's stream as a client sees it."""

    name: str
    first_text: re.Pattern[bytes]
    parse: Callable[[bytes], Parsed]
    request: Callable[[str, int, str], dict[str, Any]]

    def body(self, model: str, events: int, prompt: str = "hi") -> bytes:
        """The benchmark request (``events`` text deltas of ``model``'s answer to ``prompt``)."""
        return orjson.dumps(self.request(model, events, prompt))


WIRE: dict[str, WireFormat] = {
    "native": WireFormat("native", re.compile(rb"event: text"), _native, _native_body),
    "openai": WireFormat(
        # The role chunk has content null or "": the first *non-empty* content is the token.
        "openai",
        re.compile(rb'"content":\s*"[^"]'),
        _openai,
        _streaming_body,
    ),
    "anthropic": WireFormat(
        "anthropic", re.compile(rb'"type":\s*"text_delta"'), _anthropic, _streaming_body
    ),
    "ui": WireFormat("ui", re.compile(rb'"type":\s*"text-delta"'), _ui, _ui_body),
}


__all__ = ["FORMATS", "WIRE", "Parsed", "WireFormat"]
