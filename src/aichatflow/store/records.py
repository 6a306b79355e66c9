"""What the store hands back: ``Turn``, ``ConversationSummary``, ``ConversationDetail`` and
``StoredMessage``, and the conversions between rows and ``aichatflow.messages.Message``.

Plain frozen dataclasses, so nothing of SQLAlchemy leaks to the callers (the chat flow, the
endpoints), and each has the JSON form the endpoints answer with (``as_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..messages import ContentPart, FunctionCall, Message, ToolCall
from ..transcript import Transcript

DEFAULT_TITLE = "New conversation"
TITLE_FROM_MESSAGE = 80
"""Characters of the first user message's first line that name a new conversation."""


def iso(moment: datetime) -> str:
    """A stored (naive UTC) time as ISO 8601 with ``Z``."""
    return moment.isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class Turn:
    """What ``begin_turn`` made: the conversation (new or continued), the history to prepend
    to the new messages, and the assistant message ``finish_turn`` completes."""

    conversation_id: str
    history: list[Message]
    assistant_message_id: str


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One stored message as the endpoints show it."""

    id: str
    role: str
    content: str
    reasoning: str
    tool_calls: list[dict[str, Any]] | None
    model: str
    status: str
    stream_id: str | None
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "reasoning": self.reasoning,
            "tool_calls": self.tool_calls,
            "model": self.model,
            "status": self.status,
            "stream_id": self.stream_id,
            "error": self.error,
            "usage": self.usage,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    summary: ConversationSummary
    messages: list[StoredMessage]

    def as_json(self) -> dict[str, Any]:
        return {**self.summary.as_json(), "messages": [m.as_json() for m in self.messages]}


def title_from(messages: list[Message]) -> str:
    """The first line of the first user message with text, cut to ``TITLE_FROM_MESSAGE``."""
    for message in messages:
        if message.role == "user":
            for line in message.text().splitlines():
                if line.strip():
                    return line.strip()[:TITLE_FROM_MESSAGE]
    return DEFAULT_TITLE


def message_columns(message: Message) -> dict[str, Any]:
    """The columns a client's ``Message`` is stored as (the text, and what providers want back
    on later turns); the status and the rest are the caller's."""
    extra: dict[str, Any] = {}
    if isinstance(message.content, list):
        extra["content_parts"] = [p.model_dump(exclude_none=True) for p in message.content]
    if message.reasoning_signature:
        extra["reasoning_signature"] = message.reasoning_signature
    if message.reasoning_redacted:
        extra["reasoning_redacted"] = list(message.reasoning_redacted)
    calls = [call.model_dump() for call in message.tool_calls] if message.tool_calls else None
    return {
        "role": message.role,
        "content": message.text(),
        "reasoning": message.reasoning_content or "",
        "tool_calls": calls,
        "tool_call_id": message.tool_call_id,
        "name": message.name,
        "extra": extra or None,
    }


def transcript_columns(transcript: Transcript) -> dict[str, Any]:
    """The columns of an assistant message from the ``Transcript`` of its run."""
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in transcript.tool_calls
    ]
    extra: dict[str, Any] = {}
    if transcript.reasoning_signature:
        extra["reasoning_signature"] = transcript.reasoning_signature
    if transcript.reasoning_redacted:
        extra["reasoning_redacted"] = list(transcript.reasoning_redacted)
    return {
        "content": transcript.text,
        "reasoning": transcript.reasoning,
        "tool_calls": calls or None,
        "extra": extra or None,
        "usage": transcript.usage.as_dict() if transcript.usage is not None else None,
    }


def history_message(row: Mapping[Any, Any]) -> Message | None:
    """A stored row as a ``Message`` to send upstream again; ``None`` for an assistant message
    with nothing in it (one still in progress, or one that failed before any text), which
    providers refuse as an empty turn."""
    extra: Mapping[str, Any] = row["extra"] or {}
    calls = [
        ToolCall(id=c["id"], function=FunctionCall(**c["function"]))
        for c in row["tool_calls"] or ()
    ]
    if row["role"] == "assistant" and not row["content"] and not calls:
        return None
    parts = extra.get("content_parts")
    content: str | list[ContentPart] = (
        [ContentPart.model_validate(p) for p in parts] if parts else row["content"]
    )
    return Message(
        role=row["role"],
        content=content,
        name=row["name"],
        tool_calls=calls or None,
        tool_call_id=row["tool_call_id"],
        reasoning_content=row["reasoning"] or None,
        reasoning_signature=extra.get("reasoning_signature"),
        reasoning_redacted=extra.get("reasoning_redacted"),
    )


def stored_message(row: Mapping[Any, Any]) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        role=row["role"],
        content=row["content"],
        reasoning=row["reasoning"],
        tool_calls=row["tool_calls"],
        model=row["model"],
        status=row["status"],
        stream_id=row["stream_id"],
        error=row["error"],
        usage=row["usage"],
        created_at=row["created_at"],
    )


def summary(row: Mapping[Any, Any]) -> ConversationSummary:
    return ConversationSummary(
        id=row["id"], title=row["title"], created_at=row["created_at"], updated_at=row["updated_at"]
    )


__all__ = [
    "DEFAULT_TITLE",
    "ConversationDetail",
    "ConversationSummary",
    "StoredMessage",
    "Turn",
    "history_message",
    "iso",
    "message_columns",
    "stored_message",
    "summary",
    "title_from",
    "transcript_columns",
]
