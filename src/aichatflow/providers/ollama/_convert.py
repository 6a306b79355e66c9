"""``ChatRequest`` (OpenAI shape) to the JSON body of Ollama's native ``POST /api/chat``.

Where the two shapes differ (ollama/ollama ``docs/api.md``; the official ``ollama`` client's
``Message`` and ``Options`` models are the test oracle for this module):

* ``content`` is always a string; images go in ``images`` as bare base64 (only ``data:`` URLs
  can be converted: Ollama does not fetch URLs);
* an assistant tool call's ``arguments`` is a JSON *object*, not JSON text, and there is no call
  id: a tool result names its tool in ``tool_name`` instead, found from ``tool_call_id``;
* ``developer`` is not a role Ollama knows: it becomes ``system``;
* sampling parameters live in ``options``, and ``max_tokens`` is called ``num_predict``;
  ``stop`` must be a list (Ollama's Go decoder rejects a bare string);
* an earlier assistant turn's reasoning goes back as ``thinking`` (what Ollama sent us).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import RequestError
from ...messages import ChatRequest, Message

_ROLES = {"developer": "system"}
_BASE64_MARK = ";base64,"


def _images(message: Message) -> list[str]:
    if not isinstance(message.content, list):
        return []
    images: list[str] = []
    for part in message.content:
        if part.type != "image_url":
            continue
        spec = (part.model_extra or {}).get("image_url")
        url = spec.get("url", "") if isinstance(spec, dict) else str(spec or "")
        if not url.startswith("data:") or _BASE64_MARK not in url:
            raise RequestError("Ollama accepts images only as base64 data: URLs")
        images.append(url.split(_BASE64_MARK, 1)[1])
    return images


def _tool_names(messages: Sequence[Message]) -> dict[str, str]:
    """Tool call id → function name, from the assistant turns of the conversation."""
    return {
        call.id: call.function.name for message in messages for call in message.tool_calls or ()
    }


def convert_message(message: Message, tool_names: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {"role": _ROLES.get(message.role, message.role)}
    data["content"] = message.text()
    images = _images(message)
    if images:
        data["images"] = images
    if message.reasoning_content and message.role == "assistant":
        data["thinking"] = message.reasoning_content
    if message.tool_calls:
        data["tool_calls"] = [
            {
                "function": {
                    "name": call.function.name,
                    "arguments": call.arguments_object(),
                }
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        name = message.name or tool_names.get(message.tool_call_id or "")
        if name:
            data["tool_name"] = name
    return data


def _options(request: ChatRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.token_limit is not None:
        options["num_predict"] = request.token_limit
    for name in ("temperature", "top_p", "seed"):
        value = getattr(request, name)
        if value is not None:
            options[name] = value
    if request.stop is not None:
        options["stop"] = [request.stop] if isinstance(request.stop, str) else request.stop
    return options


def request_body(request: ChatRequest, *, think: bool | str | None = None) -> dict[str, Any]:
    """The ``/api/chat`` body; ``think`` None leaves thinking to the model's default."""
    names = _tool_names(request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [convert_message(m, names) for m in request.messages],
        "stream": True,
    }
    if request.tools:  # Ollama takes OpenAI's tool shape as is
        body["tools"] = [t.model_dump(exclude_none=True) for t in request.tools]
    if think is not None:
        body["think"] = think
    options = _options(request)
    if options:
        body["options"] = options
    return body


__all__ = ["convert_message", "request_body"]
