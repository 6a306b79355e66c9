"""Stored conversations in the chat flow: a request whose dialect keeps turns is one.

Two kinds of turn (``TurnMode``, the dialect's ``turns``):

- ``"continue"`` (native ``POST /api/chat``): the server holds the history. The request's new
  messages and an ``in_progress`` assistant message are stored (in the conversation
  ``conversation_id`` names, or a new one) and the stored history is put in front of the new
  messages sent upstream. ``replace_from`` (a stored message id) deletes that message and every
  later one first: how a client regenerates an answer or edits its last question.
- ``"replace"`` (the Vercel UI route): the client holds the history (``useChat`` sends all of
  it every time, already cut for a regenerate), so the stored messages are replaced by it. Its
  ``conversation_id`` is the client's chat id, which the client chose: it is stored under
  ``ui_conversation_id(owner, chat_id)``, so two keys' identical ids are two conversations and
  nothing tells a caller whether another key used an id.

The dialect learns the conversation's id and the answer's message id before the run starts.
When the run ends, however it ends, the assistant message gets its text and status:
``complete``, ``stopped`` (Stop, or the last reader gone under ``on_disconnect = "cancel"``)
or ``error``, with what was written before it. The conversation belongs to the caller's key.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..dialects.base import TurnMode
from ..errors import ValidationFailed
from ..journal.run import RunEnd
from ..messages import ChatRequest
from ..transcript import Transcript

if TYPE_CHECKING:
    from ..store.conversations import ConversationStore

MAX_ID = 64
SERVER_FIELDS = frozenset({"conversation_id", "replace_from"})
"""Body fields that are the server's, never sent upstream."""


@dataclass(frozen=True, slots=True)
class TurnStart:
    """A turn begun: the request to send upstream, the conversation, the answer's id."""

    chat: ChatRequest
    conversation_id: str
    message_id: str


def ui_conversation_id(owner: str, chat_id: str) -> str:
    """The stored id of a client-chosen chat id: 23 URL-safe characters, one per (owner, id)."""
    digest = hashlib.sha256(f"{owner}\0{chat_id}".encode()).digest()
    return "u" + base64.urlsafe_b64encode(digest).decode("ascii")[:22]


class StoredTurns:
    """The run flow's ``Turns`` over a ``ConversationStore``."""

    def __init__(self, store: ConversationStore) -> None:
        self.store = store
        self._answers: dict[str, str] = {}
        """The assistant message each live run of this process completes, by stream id."""

    async def begin(
        self, owner: str, chat: ChatRequest, stream_id: str, mode: TurnMode = "continue"
    ) -> TurnStart:
        extra = chat.model_extra or {}
        conversation_id = _id_field(extra, "conversation_id")
        replace_from = _id_field(extra, "replace_from") if mode == "continue" else None
        replace = mode == "replace"
        if replace and conversation_id is not None:
            conversation_id = ui_conversation_id(owner, conversation_id)
        if replace_from is not None and conversation_id is None:
            raise ValidationFailed(
                [{"loc": ("body", "replace_from"), "msg": "replace_from needs a conversation_id"}]
            )
        turn = await self.store.begin_turn(
            owner,
            conversation_id,
            chat.messages,
            model=chat.model,
            stream_id=stream_id,
            replace_from=replace_from,
            replace_history=replace,
            create=replace,
        )
        self._answers[stream_id] = turn.assistant_message_id
        data: dict[str, Any] = chat.model_dump(exclude=set(SERVER_FIELDS), exclude_none=True)
        if turn.history:
            history = [m.model_dump(exclude_none=True) for m in turn.history]
            data["messages"] = [*history, *data["messages"]]
        upstream = ChatRequest.model_validate(data)
        return TurnStart(upstream, turn.conversation_id, turn.assistant_message_id)

    async def finish(self, stream_id: str, end: RunEnd) -> None:
        message_id = self._answers.pop(stream_id, None)
        if message_id is None:
            return
        transcript = end.transcript or Transcript()
        await self.store.finish_turn(message_id, end.status, transcript, end.error)


def _id_field(extra: dict[str, Any], name: str) -> str | None:
    """A body field naming a conversation or message: absent, or a string of 1 to ``MAX_ID``."""
    value = extra.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise ValidationFailed([{"loc": ("body", name), "msg": "expected an id (a string)"}])
    return value


__all__ = ["SERVER_FIELDS", "StoredTurns", "TurnMode", "TurnStart", "ui_conversation_id"]
