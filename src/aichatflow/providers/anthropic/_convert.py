"""``ChatRequest`` (OpenAI shape) to the JSON body of Anthropic's ``POST /v1/messages``.

What differs from the OpenAI shape, and why each rule exists:

* system and developer messages leave the list and are joined into the top-level ``system``;
* tool results are ``tool_result`` blocks inside a *user* turn, and consecutive turns of one role
  are merged into one message, so a run of tool results becomes one user message (the tool
  results first, as Anthropic requires, since they follow the assistant turn that asked);
* an assistant turn's reasoning goes back first, as it came: a ``thinking`` block with its
  signature, then each ``redacted_thinking`` block. Anthropic rejects a tool-use turn whose
  thinking is missing or altered. Reasoning without a signature (from another provider) cannot
  be verified by Anthropic, so it is not sent;
* tool-call arguments are JSON text in OpenAI's shape and an object (``input``) in Anthropic's;
* ``tool_choice`` is only sent with tools: Anthropic rejects it on a request without any.
"""

from __future__ import annotations

from typing import Any

from ...errors import RequestError
from ...messages import ChatRequest, ContentPart, Message

Block = dict[str, Any]


def _image(part: ContentPart) -> Block:
    """An OpenAI ``image_url`` part (data URL or http URL) as an Anthropic image block."""
    spec = (part.model_extra or {}).get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise RequestError("anthropic: an image_url part has no url")
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media_type, _, encoding = head.removeprefix("data:").partition(";")
        if encoding != "base64" or not data:
            raise RequestError("anthropic: image data URLs must be base64")
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _content(message: Message) -> list[Block]:
    """The message's text and image parts as blocks (Anthropic rejects empty text blocks)."""
    if message.content is None:
        return []
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[Block] = []
    for part in message.content:
        if part.type == "text":
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif part.type == "image_url":
            blocks.append(_image(part))
        else:
            raise RequestError(f"anthropic: content parts of type {part.type!r} are not supported")
    return blocks


def _assistant(message: Message) -> list[Block]:
    blocks: list[Block] = []
    if message.reasoning_signature:
        blocks.append(
            {
                "type": "thinking",
                "thinking": message.reasoning_content or "",
                "signature": message.reasoning_signature,
            }
        )
    blocks += [{"type": "redacted_thinking", "data": d} for d in message.reasoning_redacted or ()]
    blocks += _content(message)
    for call in message.tool_calls or ():
        name = call.function.name
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id,
                "name": name,
                "input": call.arguments_object(),
            }
        )
    return blocks


def _tool_result(message: Message) -> list[Block]:
    if not message.tool_call_id:
        raise RequestError("anthropic: a tool message needs its tool_call_id")
    block: Block = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    text = message.text()
    if text:
        block["content"] = text
    return [block]


def convert_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, alternating user/assistant messages with block content)."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            if message.text():
                system.append(message.text())
            continue
        if message.role == "assistant":
            role, blocks = "assistant", _assistant(message)
        elif message.role == "tool":
            role, blocks = "user", _tool_result(message)
        else:
            role, blocks = "user", _content(message)
        if not blocks:
            continue  # an empty turn: Anthropic rejects empty content
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if not out:
        raise RequestError("anthropic: the request needs at least one user or assistant message")
    return "\n\n".join(system), out


def convert_tool_choice(choice: Any) -> Block:
    """OpenAI ``tool_choice`` (``auto``/``none``/``required``/a named function) to Anthropic's."""
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str) and name:
            return {"type": "tool", "name": name}
    raise RequestError(f"anthropic: unsupported tool_choice {choice!r}")


def request_body(
    request: ChatRequest, *, max_tokens: int, thinking_budget: int | None = None
) -> dict[str, Any]:
    system, messages = convert_messages(request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.token_limit or max_tokens,  # required by Anthropic
        "messages": messages,
        "stream": True,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [
            {
                "name": t.function.name,
                "description": t.function.description or "",
                "input_schema": t.function.parameters or {"type": "object", "properties": {}},
            }
            for t in request.tools
        ]
        choice = convert_tool_choice(request.tool_choice or "auto")
        if request.extra.get("parallel_tool_calls") is False and choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
        body["tool_choice"] = choice
    if thinking_budget:
        body["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if request.user:
        body["metadata"] = {"user_id": request.user}
    return body


__all__ = ["convert_messages", "convert_tool_choice", "request_body"]
