"""Stored conversations in the chat flow: a native ``POST /api/chat`` is a turn of one.

Before the run, the request's new messages and an ``in_progress`` assistant message are stored
(in the conversation ``conversation_id`` names, or a new one) and the stored history is put in
front of the new messages sent upstream; the conversation's id goes in the ``start`` frame.
When the run ends, however it ends, the assistant message gets its text and status:
``complete``, ``stopped`` (Stop, or the last reader gone under ``on_disconnect = "cancel"``)
or ``error``, with what was written before it. The conversation belongs to the caller's key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ValidationFailed
from ..journal.run import RunEnd
from ..messages import ChatRequest
from ..transcript import Transcript

if TYPE_CHECKING:
    from ..store.conversations import ConversationStore

MAX_ID = 64


class StoredTurns:
    """The run flow's ``Turns`` over a ``ConversationStore``."""

    def __init__(self, store: ConversationStore) -> None:
        self.store = store
        self._answers: dict[str, str] = {}
        """The assistant message each live run of this process completes, by stream id."""

    async def begin(self, owner: str, chat: ChatRequest, stream_id: str) -> tuple[ChatRequest, str]:
        conversation_id = _conversation_id(chat)
        turn = await self.store.begin_turn(
            owner, conversation_id, chat.messages, model=chat.model, stream_id=stream_id
        )
        self._answers[stream_id] = turn.assistant_message_id
        data: dict[str, Any] = chat.model_dump(exclude={"conversation_id"}, exclude_none=True)
        if turn.history:
            history = [m.model_dump(exclude_none=True) for m in turn.history]
            data["messages"] = [*history, *data["messages"]]
        return ChatRequest.model_validate(data), turn.conversation_id

    async def finish(self, stream_id: str, end: RunEnd) -> None:
        message_id = self._answers.pop(stream_id, None)
        if message_id is None:
            return
        transcript = end.transcript or Transcript()
        await self.store.finish_turn(message_id, end.status, transcript, end.error)


def _conversation_id(chat: ChatRequest) -> str | None:
    value = (chat.model_extra or {}).get("conversation_id")
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID:
        raise ValidationFailed(
            [{"loc": ("body", "conversation_id"), "msg": "expected a conversation id (a string)"}]
        )
    return value


__all__ = ["StoredTurns"]
