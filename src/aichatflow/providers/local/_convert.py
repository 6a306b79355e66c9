"""``ChatRequest`` to ``create_chat_completion`` arguments, and llama.cpp chunks to events.

llama-cpp-python speaks the OpenAI chat shape in-process: the GGUF's own chat template (read
from its metadata) turns the messages into a prompt, and a stream yields
``chat.completion.chunk`` dicts, one per generated token. The first chunk carries only
``{"role": "assistant"}``, the last an empty delta and ``finish_reason`` (``"stop"`` at an
end-of-generation token or a stop string, ``"length"`` at ``max_tokens``). Streamed chunks carry
no usage, so the provider counts the text chunks it hands over as ``output_tokens`` (exact for
ordinary text) and leaves ``input_tokens`` at 0 rather than re-tokenizing the prompt.
"""

from __future__ import annotations

from typing import Any

from ...errors import UpstreamBadRequest
from ...events import FinishReason
from ...messages import ChatRequest, Message

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


def map_finish_reason(raw: str | None) -> FinishReason:
    """llama.cpp's ``finish_reason`` in our closed set (it only ever sends the two above)."""
    if raw is None:
        return "stop"
    return _FINISH.get(raw, "other")


def chat_message(message: Message) -> dict[str, str]:
    """One message as the chat template expects it: a role and plain text.

    ``developer`` is OpenAI's newer name for ``system``, which chat templates know. Tool calls
    and reasoning of earlier turns are dropped: a small local model neither makes nor reads them.
    """
    role = "system" if message.role == "developer" else message.role
    return {"role": role, "content": message.text()}


def completion_kwargs(
    request: ChatRequest, *, provider: str, default_max_tokens: int, default_seed: int
) -> dict[str, Any]:
    """Keyword arguments for ``Llama.create_chat_completion(stream=True, ...)``.

    Sampling parameters the caller left out keep llama.cpp's defaults, except ``seed``: it is
    always sent (the request's, else the provider's ``seed``). Without one, llama-cpp-python
    draws each request's seed from the previous one, so the same request would sample
    differently every time it is asked.
    """
    if request.tools:
        raise UpstreamBadRequest(
            f"{provider}: tools are not supported by the local model", provider=provider
        )
    kwargs: dict[str, Any] = {
        "messages": [chat_message(m) for m in request.messages],
        "stream": True,
        "max_tokens": request.token_limit or default_max_tokens,
        "seed": default_seed if request.seed is None else request.seed,
    }
    for name in ("temperature", "top_p"):
        value = getattr(request, name)
        if value is not None:
            kwargs[name] = value
    if request.stop is not None:
        kwargs["stop"] = [request.stop] if isinstance(request.stop, str) else list(request.stop)
    return kwargs


def chunk_text(chunk: dict[str, Any]) -> tuple[str, str | None]:
    """(text, finish_reason) of one streamed chunk; text is ``""`` for role and final chunks."""
    choices = chunk.get("choices") or ()
    if not choices:
        return "", None
    choice = choices[0]
    delta = choice.get("delta") or {}
    return str(delta.get("content") or ""), choice.get("finish_reason")


__all__ = ["chat_message", "chunk_text", "completion_kwargs", "map_finish_reason"]
