"""An Anthropic Messages request body to a ``ChatRequest`` (the OpenAI chat shape).

``POST /v1/messages`` takes the body the ``anthropic`` SDK sends; it is validated here (a 422
``validation_failed`` with pydantic's locations, in Anthropic's error shape) and turned into
the request every provider already takes. What maps to what, and why:

* ``system`` (a string or text blocks) becomes one system message at the front;
* a user turn's ``tool_result`` blocks become ``tool`` messages (the OpenAI shape's tool
  results), placed before the turn's text and images, since they answer the assistant turn
  before; an ``is_error`` result keeps its text (the OpenAI shape has no error flag);
* ``image`` blocks (base64 or url) become ``image_url`` parts (a data URL for base64), which
  the providers that take images convert back; a tool result's images are refused (422);
* an assistant turn's ``thinking`` block (with its signature) and ``redacted_thinking`` blocks
  become ``reasoning_content``/``reasoning_signature``/``reasoning_redacted``, so an Anthropic
  upstream gets them back unchanged; ``tool_use`` blocks become ``tool_calls`` (input as JSON);
* ``tools`` (``input_schema``) become functions, ``tool_choice`` its OpenAI equivalent
  (``any`` is ``required``; ``disable_parallel_tool_use`` is ``parallel_tool_calls: false``);
* ``stop_sequences`` is ``stop``; ``max_tokens`` (required, as Anthropic requires it) is kept.

``thinking`` and ``top_k`` are accepted and validated but not forwarded: whether and how much a
deployment reasons is its own configuration (``thinking_budget`` of an ``anthropic`` provider),
and OpenAI-compatible upstreams reject fields they do not know. Block types aichatflow cannot
carry (``document``, ``search_result``, server tools...) are a 422 naming the type.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import RequestError, ValidationFailed
from ..messages import MAX_MESSAGES, ChatRequest

Block = dict[str, Any]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _TextBlock(_Model):
    type: Literal["text"]
    text: str


class _Message(_Model):
    role: Literal["user", "assistant"]
    content: str | list[Block]


class _Tool(_Model):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    input_schema: dict[str, Any]


class _ToolChoice(_Model):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class MessagesRequest(_Model):
    """The fields of Anthropic's Messages request that aichatflow reads."""

    model: str = Field(min_length=1, max_length=256)
    max_tokens: int = Field(ge=1, le=1_000_000)
    messages: list[_Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    system: str | list[_TextBlock] | None = None
    tools: list[_Tool] | None = None
    tool_choice: _ToolChoice | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop_sequences: list[str] | None = None
    thinking: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


def _unsupported(kind: Any, where: int) -> RequestError:
    return ValidationFailed(
        [
            {
                "loc": ("messages", where, "content"),
                "msg": f"content blocks of type {kind!r} are not supported",
            }
        ]
    )


def _image(block: Block, where: int) -> Block:
    source = block.get("source")
    if isinstance(source, dict):
        if source.get("type") == "base64" and source.get("media_type") and source.get("data"):
            url = f"data:{source['media_type']};base64,{source['data']}"
            return {"type": "image_url", "image_url": {"url": url}}
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return {"type": "image_url", "image_url": {"url": source["url"]}}
    msg = "an image block needs a base64 source (media_type, data) or a url source"
    raise ValidationFailed([{"loc": ("messages", where, "content", "source"), "msg": msg}])


def _text_of(content: Any, where: int) -> str:
    """A tool result's content (a string or text blocks) as text."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise _unsupported(type(content).__name__, where)
    parts = []
    for block in content:
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _unsupported(block.get("type") if isinstance(block, dict) else block, where)
        parts.append(str(block.get("text") or ""))
    return "".join(parts)


def _user(blocks: list[Block], where: int) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    parts: list[Block] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind == "image":
            parts.append(_image(block, where))
        elif kind == "tool_result":
            call_id = block.get("tool_use_id")
            if not isinstance(call_id, str) or not call_id:
                msg = "a tool_result block needs its tool_use_id"
                raise ValidationFailed([{"loc": ("messages", where, "content"), "msg": msg}])
            text = _text_of(block.get("content"), where)
            tools.append({"role": "tool", "tool_call_id": call_id, "content": text})
        else:
            raise _unsupported(kind, where)
    return [*tools, {"role": "user", "content": parts}] if parts else tools


def _assistant(blocks: list[Block], where: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    redacted: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            text.append(str(block.get("text") or ""))
        elif kind == "thinking":
            message["reasoning_content"] = str(block.get("thinking") or "")
            if block.get("signature"):
                message["reasoning_signature"] = str(block["signature"])
        elif kind == "redacted_thinking":
            redacted.append(str(block.get("data") or ""))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function = {"name": str(block.get("name") or ""), "arguments": arguments}
            calls.append(
                {"id": str(block.get("id") or ""), "type": "function", "function": function}
            )
        else:
            raise _unsupported(kind, where)
    message["content"] = "".join(text)
    if calls:
        message["tool_calls"] = calls
    if redacted:
        message["reasoning_redacted"] = redacted
    return message


def _tool_choice(choice: _ToolChoice) -> tuple[Any, dict[str, Any]]:
    extra: dict[str, Any] = {}
    if choice.disable_parallel_tool_use:
        extra["parallel_tool_calls"] = False
    if choice.type == "tool":
        if not choice.name:
            msg = "tool_choice of type 'tool' needs a name"
            raise ValidationFailed([{"loc": ("tool_choice", "name"), "msg": msg}])
        return {"type": "function", "function": {"name": choice.name}}, extra
    return {"auto": "auto", "any": "required", "none": "none"}[choice.type], extra


def to_chat_request(request: MessagesRequest) -> ChatRequest:
    """The ``ChatRequest`` an Anthropic Messages request asks for (``stream`` in its extras)."""
    messages: list[dict[str, Any]] = []
    if request.system:
        system = request.system
        text = system if isinstance(system, str) else "\n\n".join(b.text for b in system)
        messages.append({"role": "system", "content": text})
    for i, message in enumerate(request.messages):
        where = i
        content = message.content
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if message.role == "user":
            messages += _user(blocks, where)
        else:
            messages.append(_assistant(blocks, where))
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "stream": request.stream,
    }
    choice = None if request.tool_choice is None else _tool_choice(request.tool_choice)
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in request.tools
        ]
        if choice is not None:  # without tools, a tool_choice is checked, not sent
            body["tool_choice"] = choice[0]
            body.update(choice[1])
    for name in ("temperature", "top_p"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.stop_sequences:
        body["stop"] = request.stop_sequences
    chat: ChatRequest = validated(ChatRequest, body)
    return chat


def validated(model: type[Any], data: dict[str, Any]) -> Any:
    """``model`` validated from ``data``; a 422 with pydantic's locations when it is not."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_input=False, include_context=False)
        raise ValidationFailed([dict(d) for d in details]) from None


def parse_messages_request(data: dict[str, Any]) -> ChatRequest:
    """422 (with locations) for a body that is not a valid Messages request, else its
    ``ChatRequest``."""
    request: MessagesRequest = validated(MessagesRequest, data)
    return to_chat_request(request)


__all__ = ["MessagesRequest", "parse_messages_request", "to_chat_request", "validated"]
