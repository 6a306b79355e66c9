"""``useChat``'s request body to a ``ChatRequest`` (the OpenAI chat shape).

``DefaultChatTransport`` posts ``{id, messages, trigger, messageId, ...body}``: the chat's id,
every message of the chat as UI messages (``{id, role, parts}``), and why it asks
(``submit-message``, or ``regenerate-message`` with the answer to redo already cut off). The
client holds the history, so the whole list is the conversation (``turns = "replace"``) and
``id`` is its ``conversation_id`` (stored per key: ``server/turns.py``). What maps to what:

* ``text`` parts are the message's text (one part: a string; several: text parts, in order);
* ``file`` parts with an ``image/*`` media type are ``image_url`` parts (the providers that take
  images convert them); any other file is a 422 naming its media type;
* ``reasoning`` parts are dropped: the UI stream carries no signature, and providers that
  want reasoning back want it signed; ``step-start`` parts only mark steps;
* an assistant message's tool parts (``tool-<name>``, ``dynamic-tool``) with a result become
  the call in ``tool_calls`` (input as JSON text) and a ``tool`` message with the output (or
  the ``errorText``); a call the client has no result for (still streaming, awaiting approval,
  denied) is left out, since an upstream refuses a call without its result. Text after tool
  results starts the next assistant message, as the model wrote it (a new step);
* the body's ``model`` (the server's default when absent), ``temperature``, ``top_p`` and
  ``max_tokens`` are kept; other body fields (``trigger``, ``messageId``, a front end's own)
  are not sent upstream.

Anything else (another part type, a malformed message) is a 422 ``validation_failed`` with the
location of what is wrong.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ValidationFailed
from ..messages import MAX_MESSAGES, ChatRequest
from .anthropic_request import validated

MAX_PARTS = 1000
"""Parts per UI message: far above what a chat writes (a part per step, text or tool call)."""
MAX_CHAT_ID = 64
"""Longest chat id (``useChat`` makes 16 characters): the stored conversation's key."""

Part = dict[str, Any]
Loc = tuple[str | int, ...]
_RESULT_STATES = frozenset({"output-available", "output-error"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UIMessage(_Model):
    id: str = Field(default="", max_length=256)
    role: Literal["system", "user", "assistant"]
    parts: list[Part] = Field(max_length=MAX_PARTS)


class UIChatRequest(_Model):
    """The fields of ``useChat``'s body that aichatflow reads."""

    id: str = Field(min_length=1, max_length=MAX_CHAT_ID)
    messages: list[UIMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    trigger: Literal["submit-message", "regenerate-message"] = "submit-message"
    messageId: str | None = Field(default=None, max_length=256)  # the wire's name
    model: str = Field(min_length=1, max_length=256)
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


def _invalid(loc: Loc, msg: str) -> ValidationFailed:
    return ValidationFailed([{"loc": loc, "msg": msg}])


def _text(part: Part, loc: Loc) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        raise _invalid((*loc, "text"), "a text part needs its text (a string)")
    return text


def _image(part: Part, loc: Loc) -> Part:
    media = part.get("mediaType")
    url = part.get("url")
    if not isinstance(media, str) or not isinstance(url, str) or not url:
        raise _invalid(loc, "a file part needs its mediaType and url (strings)")
    if not media.lower().startswith("image/"):
        raise _invalid((*loc, "mediaType"), f"files of type {media[:100]!r} are not supported")
    return {"type": "image_url", "image_url": {"url": url}}


def _content(parts: list[Part], loc: Loc) -> str | list[Part]:
    """A user or system message's parts as OpenAI content."""
    content: list[Part] = []
    for i, part in enumerate(parts):
        kind = part.get("type")
        if kind == "text":
            content.append({"type": "text", "text": _text(part, (*loc, i))})
        elif kind == "file":
            content.append(_image(part, (*loc, i)))
        elif kind not in ("step-start", "reasoning"):
            raise _unsupported(kind, (*loc, i))
    if len(content) == 1 and content[0]["type"] == "text":
        return str(content[0]["text"])
    return content


def _unsupported(kind: Any, loc: Loc) -> ValidationFailed:
    shown = kind[:100] if isinstance(kind, str) else type(kind).__name__
    return _invalid((*loc, "type"), f"parts of type {shown!r} are not supported")


class _Assistant:
    """Folds an assistant message's parts into steps: text and calls, then the results."""

    def __init__(self) -> None:
        self.messages: list[Part] = []
        self.text: list[str] = []
        self.calls: list[Part] = []
        self.results: list[Part] = []

    def step(self) -> None:
        if self.text or self.calls:
            message: Part = {"role": "assistant", "content": "".join(self.text)}
            if self.calls:
                message["tool_calls"] = self.calls
            self.messages += [message, *self.results]
        self.text, self.calls, self.results = [], [], []

    def add(self, part: Part, loc: Loc) -> None:
        kind = part.get("type")
        if kind == "text":
            if self.calls:
                self.step()  # text after tool results: the model's next step
            self.text.append(_text(part, loc))
        elif kind == "dynamic-tool" or (isinstance(kind, str) and kind.startswith("tool-")):
            self.tool(part, loc)
        elif kind == "step-start":
            if self.calls:
                self.step()
        elif kind != "reasoning":
            raise _unsupported(kind, loc)

    def tool(self, part: Part, loc: Loc) -> None:
        kind = str(part["type"])
        name = part.get("toolName") if kind == "dynamic-tool" else kind[len("tool-") :]
        call_id = part.get("toolCallId")
        if not isinstance(name, str) or not name or not isinstance(call_id, str) or not call_id:
            raise _invalid(loc, "a tool part needs its toolCallId and tool name")
        state = part.get("state")
        if state not in _RESULT_STATES:
            return  # no result: not sent (module docstring)
        arguments = orjson.dumps(part.get("input", {})).decode()
        function = {"name": name, "arguments": arguments}
        self.calls.append({"id": call_id, "type": "function", "function": function})
        if state == "output-available":
            output = part.get("output")
            text = output if isinstance(output, str) else orjson.dumps(output).decode()
        else:
            text = str(part.get("errorText") or "")
        self.results.append({"role": "tool", "tool_call_id": call_id, "content": text})


def to_chat_request(request: UIChatRequest) -> ChatRequest:
    """The ``ChatRequest`` a ``useChat`` body asks for."""
    messages: list[Part] = []
    for i, message in enumerate(request.messages):
        loc: Loc = ("messages", i, "parts")
        if message.role == "assistant":
            assistant = _Assistant()
            for j, part in enumerate(message.parts):
                assistant.add(part, (*loc, j))
            assistant.step()
            messages += assistant.messages
        else:
            messages.append({"role": message.role, "content": _content(message.parts, loc)})
    if not messages:
        raise _invalid(("messages",), "no message has anything to send")
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "conversation_id": request.id,
    }
    for name in ("temperature", "top_p", "max_tokens"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    chat: ChatRequest = validated(ChatRequest, body)
    return chat


def parse_ui_chat_request(data: dict[str, Any]) -> ChatRequest:
    """422 (with locations) for a body that is not ``useChat``'s, else its ``ChatRequest``."""
    request: UIChatRequest = validated(UIChatRequest, data)
    return to_chat_request(request)


__all__ = ["MAX_CHAT_ID", "MAX_PARTS", "UIChatRequest", "parse_ui_chat_request", "to_chat_request"]
