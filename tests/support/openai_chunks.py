"""``chat.completion.chunk`` builders (docs/upstreams.md) for scripts of the fake upstream.

``Chunks`` makes the objects with the fields real servers repeat per chunk (OpenAI's shape by
default, DeepSeek's via ``Chunks.deepseek()``); ``usage_dict``, ``tool_call`` and
``openai_stream`` build the pieces and a whole well-behaved stream. Split out of
``tests.support.upstream`` because they are about the OpenAI wire payload, not the fake server;
tests import these names from ``tests.support.upstream``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.support.upstream_script import Action, done, end_chunked, event, headers


@dataclass
class Chunks:
    """Builds ``chat.completion.chunk`` objects with the fields real servers repeat per chunk.

    Defaults are OpenAI's (``usage: null`` on every chunk when usage was requested);
    ``Chunks.deepseek()`` gives DeepSeek's shape (no ``usage`` key, reasoning in
    ``reasoning_content``, usage on the finishing chunk).
    """

    id: str = "chatcmpl-7x"
    model: str = "gpt-4o-mini"
    created: int = 1730000000
    system_fingerprint: str = "fp_1"
    usage_null: bool = True

    @classmethod
    def deepseek(cls) -> Chunks:
        return cls(
            id="f802c271-4a3e-4c7a-9d0e-2b1c8e3f5a6d",
            model="deepseek-reasoner",
            created=1759299469,
            system_fingerprint="fp_ffc7281d48_prod0820_fp8_kvcache",
            usage_null=False,
        )

    def chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.system_fingerprint,
            "choices": [choice],
        }
        if self.usage_null:
            out["usage"] = None
        out.update(extra)
        return out

    def role(self) -> dict[str, Any]:
        if not self.usage_null:  # DeepSeek's first chunk
            return self.chunk({"role": "assistant", "content": None, "reasoning_content": ""})
        return self.chunk({"role": "assistant", "content": "", "refusal": None})

    def content(self, text: str) -> dict[str, Any]:
        if not self.usage_null:
            return self.chunk({"content": text, "reasoning_content": None})
        return self.chunk({"content": text})

    def reasoning(self, text: str) -> dict[str, Any]:
        return self.chunk({"content": None, "reasoning_content": text})

    def tool_calls(self, *calls: dict[str, Any], role: bool = False) -> dict[str, Any]:
        delta: dict[str, Any] = {"role": "assistant", "content": None} if role else {}
        delta["tool_calls"] = list(calls)
        return self.chunk(delta)

    def finish(self, reason: str = "stop", usage: dict[str, Any] | None = None) -> dict[str, Any]:
        if not self.usage_null:
            delta: dict[str, Any] = {"content": "", "reasoning_content": None}
            return self.chunk(delta, reason, **({"usage": usage} if usage else {}))
        return self.chunk({}, reason)

    def usage(self, prompt: int, completion: int, *, reasoning: int = 0) -> dict[str, Any]:
        """OpenAI's extra final chunk: ``choices: []`` and the usage filled in."""
        out = self.chunk({})
        out["choices"] = []
        out["usage"] = usage_dict(prompt, completion, reasoning=reasoning)
        return out


def usage_dict(
    prompt: int, completion: int, *, reasoning: int = 0, cached: int = 0, deepseek: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    if deepseek:
        out["prompt_cache_hit_tokens"] = cached
        out["prompt_cache_miss_tokens"] = prompt - cached
    return out


def tool_call(
    index: int | None,
    *,
    id: str | None = None,
    name: str | None = None,
    arguments: str | None = None,
) -> dict[str, Any]:
    """A ``tool_calls`` entry: the first fragment carries id/type/name, later ones arguments."""
    call: dict[str, Any] = {} if index is None else {"index": index}
    function: dict[str, Any] = {}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    call["function"] = function
    return call


def openai_stream(
    texts: Iterable[str],
    *,
    chunks: Chunks | None = None,
    usage: tuple[int, int] | None = (12, 3),
    eol: bytes = b"\n",
) -> list[Action]:
    """A complete, well-behaved OpenAI stream: headers, role, deltas, finish, usage, [DONE]."""
    c = chunks or Chunks()
    out: list[Action] = [headers(200), event(c.role(), eol=eol)]
    out += [event(c.content(t), eol=eol) for t in texts]
    out.append(event(c.finish(), eol=eol))
    if usage is not None:
        out.append(event(c.usage(*usage), eol=eol))
    out += [done(eol=eol), end_chunked()]
    return out
