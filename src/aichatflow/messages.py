"""What a caller asks for: ``ChatRequest`` and its ``Message``s, in the OpenAI chat shape.

The OpenAI chat shape is the lingua franca every SDK and front end already speaks, so the native
``/api/chat`` endpoint and ``/v1/chat/completions`` accept the same body. These are pydantic
models because their job is validation at the edge (a 422 with a precise location); they are
parsed once per request and never touched per token.

Fields we do not model (``presence_penalty``, ``response_format``...) are kept in
``ChatRequest.extra`` and passed through by OpenAI-compatible providers unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .errors import RequestError

MAX_MESSAGES = 1000
"""Upper bound on messages per request: far above any real conversation, far below abuse."""

Role = Literal["system", "developer", "user", "assistant", "tool"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class FunctionCall(_Frozen):
    name: str
    arguments: str = ""
    """JSON text, exactly as the model produced it."""


class ToolCall(_Frozen):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall

    def arguments_object(self) -> dict[str, Any]:
        """The arguments as a JSON object, for APIs that take one rather than JSON text
        (Anthropic, Gemini, Ollama). Empty text is ``{}``; anything else but an object is the
        caller's error (400)."""
        text = self.function.arguments
        where = f"tool call {self.id!r} ({self.function.name})"
        try:
            value = orjson.loads(text) if text.strip() else {}
        except orjson.JSONDecodeError:
            raise RequestError(f"{where}: arguments are not valid JSON") from None
        if not isinstance(value, dict):
            raise RequestError(f"{where}: arguments must be a JSON object")
        return value


class FunctionSpec(_Frozen):
    name: str = Field(min_length=1, max_length=128)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(_Frozen):
    type: Literal["function"] = "function"
    function: FunctionSpec


class ContentPart(BaseModel):
    """One part of a multi-part message. Only ``text`` parts are read by aichatflow itself;
    other parts (``image_url``...) are passed through to providers that understand them."""

    model_config = ConfigDict(frozen=True, extra="allow")
    type: str
    text: str | None = None


class Message(_Frozen):
    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None
    """Reasoning of an earlier assistant turn; DeepSeek requires it back on tool-call turns."""
    reasoning_signature: str | None = None
    """The signature that closed that reasoning (Anthropic, Gemini), sent back unchanged."""
    reasoning_redacted: list[str] | None = None
    """Encrypted reasoning blocks of that turn (Anthropic ``redacted_thinking``)."""

    def text(self) -> str:
        """The message's text, with multi-part content joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class ChatRequest(BaseModel):
    """One chat turn to stream. ``model`` is ``provider/model`` or an alias from the config."""

    model_config = ConfigDict(frozen=True, extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    tools: list[Tool] | None = None
    tool_choice: Any = None
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None

    @property
    def extra(self) -> dict[str, Any]:
        """Parameters not modelled here, passed through to OpenAI-compatible upstreams."""
        return dict(self.model_extra or {})

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""


__all__ = [
    "MAX_MESSAGES",
    "ChatRequest",
    "ContentPart",
    "FunctionCall",
    "FunctionSpec",
    "Message",
    "Role",
    "Tool",
    "ToolCall",
]
