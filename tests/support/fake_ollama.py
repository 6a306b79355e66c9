"""A fake Ollama server for tests: ``FakeUpstream`` answering with NDJSON scripts.

No real Ollama server is installable here (docs/testing.md, Ollama), so the fake is the byte-level
``FakeUpstream`` of ``tests.support.upstream`` (it can also cut, stall and reset) with scripts
that speak Ollama's ``/api/chat``: ``application/x-ndjson``, chunked, one object per line, each
written as Go's ``json.Marshal`` writes it (``go_json``). That the fake speaks the real format is
proved in ``tests/providers/test_ollama.py``, which streams the same bytes through the official
``ollama`` Python client.

    lines = OllamaLines("llama3.2")       # fake: a FakeUpstream (the ``fake`` fixture)
    fake.queue(ndjson_stream(ndjson(lines.content("Hi"), lines.done(prompt=5, output=1))))
    fake.queue(model_not_found("nope"))
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tests.support.upstream import Action, Script, headers, raw, respond

NDJSON = "application/x-ndjson"
"""What Ollama's ``streamResponse`` sets; its error bodies are gin's ``application/json``."""

_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def go_json(obj: Any) -> bytes:
    """Compact JSON as Go's ``encoding/json`` writes it: UTF-8, HTML-safe escapes."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for char, escape in _GO_ESCAPES:
        text = text.replace(char, escape)
    return text.encode()


def ndjson(*objs: Any) -> bytes:
    """Objects as NDJSON: each line ends in LF, as Ollama ends every line."""
    return b"".join(go_json(obj) + b"\n" for obj in objs)


class OllamaLines:
    """Builds ``/api/chat`` stream objects for one model, fields in Ollama's struct order."""

    def __init__(self, model: str = "llama3.2") -> None:
        self.model = model
        self._tick = 0

    def _line(self, message: dict[str, Any], **tail: Any) -> dict[str, Any]:
        self._tick += 1
        created = f"2025-06-01T12:00:00.{self._tick:06d}Z"
        body = {"role": "assistant", "content": "", **message}
        return {"model": self.model, "created_at": created, "message": body, **tail}

    def content(self, text: str) -> dict[str, Any]:
        return self._line({"content": text}, done=False)

    def thinking(self, text: str) -> dict[str, Any]:
        return self._line({"thinking": text}, done=False)

    def tool_calls(self, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        """Whole calls, ``(name, arguments object)`` each, as one line."""
        made = [{"function": {"name": n, "arguments": a}} for n, a in calls]
        return self._line({"tool_calls": made}, done=False)

    def done(self, reason: str = "stop", *, prompt: int = 26, output: int = 282) -> dict[str, Any]:
        return self._line(
            {},
            done_reason=reason,
            done=True,
            total_duration=4883583458,
            load_duration=1334875,
            prompt_eval_count=prompt,
            prompt_eval_duration=342546000,
            eval_count=output,
            eval_duration=4535599000,
        )

    @staticmethod
    def error(message: str = "an error was encountered while running the model") -> dict[str, Any]:
        """The in-band error line: no ``done`` field (docs/upstreams.md, Ollama)."""
        return {"error": message}


def ndjson_stream(body: bytes | Iterable[bytes], *tail: Action) -> Script:
    """A 200 NDJSON response: ``body`` (one HTTP chunk per piece), then ``tail`` actions.

    Without ``tail`` the script ends with a FIN and no chunked terminator, like a connection
    the server closed; add ``end_chunked()`` for a clean end.
    """
    pieces = [body] if isinstance(body, bytes) else list(body)
    return Script([headers(200, content_type=NDJSON), *map(raw, pieces), *tail])


def model_not_found(model: str) -> Script:
    """What Ollama answers for an unknown model, before any streaming: 404 and gin's JSON."""
    return Script(respond(404, {"error": f"model '{model}' not found"}))


__all__ = [
    "NDJSON",
    "OllamaLines",
    "go_json",
    "model_not_found",
    "ndjson",
    "ndjson_stream",
]
