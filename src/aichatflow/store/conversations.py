"""``ConversationStore``: conversations and their messages, per owner, in SQLite or PostgreSQL.

The chat flow calls ``begin_turn`` when a request arrives (the client's new messages are stored
at once, with an ``in_progress`` assistant message naming the run's ``stream_id``) and
``finish_turn`` when the run ends (the answer, its status and usage). The endpoints
(``server/conversations.py``) list, read, rename and delete.

Every read and write is scoped by ``owner``, the caller's key id (``""`` when keys are off): an
id of another owner's conversation gets the same ``ConversationNotFound`` (404) as an id that
does not exist, so the store answers nothing about conversations that are not the caller's.

What is stored: message text, reasoning, tool calls, the model, usage, the outcome and its
error code and message (already redacted for users by the errors that made them). What is never
stored: request headers, client keys, provider keys or URLs; the store is only handed
``Message`` and ``Transcript`` objects, which hold none of them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import RowMapping, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import ConfigError, ConversationNotFound, RequestError, ValidationFailed
from ..events import StreamError
from ..messages import Message
from ..transcript import Transcript
from . import migrate
from .database import Database, describe
from .records import (
    ConversationDetail,
    ConversationSummary,
    Turn,
    history_message,
    message_columns,
    stored_message,
    summary,
    title_from,
    transcript_columns,
)
from .schema import TITLE_LENGTH
from .schema import conversations as conversation_table
from .schema import messages as message_table

FinishStatus = Literal["complete", "stopped", "error"]
PRODUCER_LOST = {"code": "producer_lost", "message": "the server restarted before the answer ended"}
"""The error of an answer whose run died with its process (``abandon_in_progress``)."""
_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
"""What an id the store made looks like; anything else cannot exist and is not looked up."""


def new_id() -> str:
    """16 URL-safe random characters, as stream ids are: unguessable, safe in a path."""
    return secrets.token_urlsafe(12)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def clean(text: str) -> str:
    """``text`` as every database takes it: PostgreSQL refuses NUL characters in text, and
    no database stores a lone surrogate as UTF-8."""
    text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _cleaned(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: clean(v) if isinstance(v, str) else v for k, v in values.items()}


class ConversationStore:
    """The stored conversations of one database (see the module docstring)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @classmethod
    async def open(
        cls, url: str, *, upgrade: bool = True, pool_size: int = 10
    ) -> ConversationStore:
        """The store at ``url``, its schema brought to the newest revision when ``upgrade``
        (``migrate.py``), else checked to be current. A ``ConfigError`` (its URL redacted)
        when the database cannot be reached or its schema is behind."""
        database = Database(url, pool_size=pool_size)
        try:
            if upgrade:
                await migrate.upgrade(database)
            else:
                found, wanted = await migrate.current(database), migrate.head()
                if found != wanted:
                    raise ConfigError(
                        f"store {database.shown_url}: the schema is at {found or 'nothing'}, "
                        f"this version needs {wanted}: run `aichatflow db upgrade`"
                    )
        except ConfigError:
            await database.aclose()
            raise
        except Exception as exc:
            await database.aclose()
            raise ConfigError(
                f"store {database.shown_url}: cannot open: {describe(database.url, exc)}"
            ) from None
        return cls(database)

    async def aclose(self) -> None:
        await self.database.aclose()

    async def begin_turn(
        self,
        owner: str,
        conversation_id: str | None,
        messages: Sequence[Message],
        *,
        model: str,
        stream_id: str,
        replace_from: str | None = None,
        replace_history: bool = False,
        create: bool = False,
    ) -> Turn:
        """Store the client's new ``messages`` and an ``in_progress`` assistant message, in
        a new conversation (titled from the first user message) or in ``conversation_id``
        (``ConversationNotFound`` unless it is ``owner``'s). The ``Turn``'s history is the
        conversation's earlier messages, in order, ready to be sent before the new ones.

        Three ways a turn may rewrite what came before, for clients that regenerate or edit:
        ``replace_from`` names one of the conversation's messages, which is deleted with every
        later one first (``ConversationNotFound`` when it is not one of them); with
        ``replace_history`` the new messages are the whole history, and every stored message
        is deleted first (a client that keeps the conversation itself, as ``useChat`` does);
        ``create`` makes ``conversation_id`` a new conversation when it does not exist yet (an
        id the client chose, already namespaced by owner: ``server/turns.py``). Two requests
        creating one such conversation at once both succeed: the one whose insert loses the
        race runs again and continues the conversation the other made."""
        args = (owner, conversation_id, list(messages), model, stream_id)
        try:
            return await self._begin_turn(*args, replace_from, replace_history, create)
        except IntegrityError:
            if not create:
                raise
            return await self._begin_turn(*args, replace_from, replace_history, create)

    async def _begin_turn(
        self,
        owner: str,
        conversation_id: str | None,
        new: list[Message],
        model: str,
        stream_id: str,
        replace_from: str | None,
        replace_history: bool,
        create: bool,
    ) -> Turn:
        async with self.database.write() as connection:
            now = _now()
            if conversation_id is None or (
                create and not await self._exists(connection, owner, conversation_id)
            ):
                conversation_id = conversation_id or new_id()
                title = clean(title_from(new))
                await connection.execute(
                    conversation_table.insert().values(
                        id=conversation_id, owner=owner, title=title, created_at=now, updated_at=now
                    )
                )
                rows: Sequence[RowMapping] = []
            else:
                await self._lock_owned(connection, owner, conversation_id)
                rows = await self._message_rows(connection, conversation_id)
                await connection.execute(
                    update(conversation_table)
                    .where(conversation_table.c.id == conversation_id)
                    .values(updated_at=now)
                )
                if replace_history or replace_from is not None:
                    rows = await self._cut(connection, conversation_id, rows, replace_from)
            position = rows[-1]["position"] + 1 if rows else 0
            stored = [
                {
                    **_cleaned(message_columns(message)),
                    "id": new_id(),
                    "position": position + i,
                    "model": "",
                    "status": "complete",
                }
                for i, message in enumerate(new)
            ]
            assistant_id = new_id()
            stored.append(
                {
                    "id": assistant_id,
                    "position": position + len(new),
                    "role": "assistant",
                    "content": "",
                    "reasoning": "",
                    "model": clean(model),
                    "status": "in_progress",
                    "stream_id": stream_id,
                }
            )
            defaults = {
                "tool_calls": None,
                "tool_call_id": None,
                "name": None,
                "extra": None,
                "stream_id": None,
                "error": None,
                "usage": None,
            }
            await connection.execute(
                message_table.insert(),
                [
                    {**defaults, **row, "conversation_id": conversation_id, "created_at": now}
                    for row in stored
                ],
            )
        history = [m for m in map(history_message, rows) if m is not None]
        return Turn(conversation_id, history, assistant_id)

    async def finish_turn(
        self,
        assistant_message_id: str,
        status: FinishStatus,
        transcript: Transcript,
        error: StreamError | None = None,
    ) -> None:
        """Complete the assistant message of a turn with its run's ``transcript``: its text
        (partial when ``stopped`` or ``error``), ``status`` and ``error``. A message whose
        conversation was deleted meanwhile is gone, and that is not an error."""
        if status not in ("complete", "stopped", "error"):
            raise ValueError(f"a turn finishes complete, stopped or error, not {status!r}")
        values: dict[str, Any] = {**_cleaned(transcript_columns(transcript)), "status": status}
        if transcript.model:
            values["model"] = clean(transcript.model)
        values["error"] = (
            {"code": error.code, "message": clean(error.message)} if error is not None else None
        )
        async with self.database.write() as connection:
            result = await connection.execute(
                update(message_table)
                .where(message_table.c.id == assistant_message_id)
                .values(**values)
            )
            if result.rowcount:
                owner_of = select(message_table.c.conversation_id).where(
                    message_table.c.id == assistant_message_id
                )
                await connection.execute(
                    update(conversation_table)
                    .where(conversation_table.c.id == owner_of.scalar_subquery())
                    .values(updated_at=_now())
                )

    async def abandon_in_progress(self, owner: str | None = None) -> int:
        """Mark every ``in_progress`` assistant message (of ``owner``'s conversations, or of
        all) as ``error`` ``producer_lost``, keeping what text it has: at start-up with a
        journal that lives in one process's memory, those runs died with the last process.
        Returns how many were marked."""
        statement = (
            update(message_table)
            .where(message_table.c.status == "in_progress")
            .values(status="error", error=PRODUCER_LOST)
        )
        if owner is not None:
            owned = select(conversation_table.c.id).where(conversation_table.c.owner == owner)
            statement = statement.where(message_table.c.conversation_id.in_(owned))
        async with self.database.write() as connection:
            result = await connection.execute(statement)
        return int(result.rowcount or 0)

    async def list_conversations(
        self, owner: str, *, limit: int = 50, before: str | None = None
    ) -> list[ConversationSummary]:
        """``owner``'s conversations, the most recently updated first, at most ``limit``;
        with ``before`` (a conversation id of the previous page), those that come after it.
        ``before`` that is not one of ``owner``'s conversations is a 400."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        table = conversation_table.c
        query = select(conversation_table).where(table.owner == owner)
        async with self.database.read() as connection:
            if before is not None:
                anchor = None
                if _ID.fullmatch(before):
                    anchor = await connection.scalar(
                        select(table.updated_at).where(table.id == before, table.owner == owner)
                    )
                if anchor is None:
                    raise RequestError("before: no conversation by that id")
                query = query.where(
                    or_(
                        table.updated_at < anchor,
                        and_(table.updated_at == anchor, table.id < before),
                    )
                )
            query = query.order_by(table.updated_at.desc(), table.id.desc()).limit(limit)
            rows = (await connection.execute(query)).mappings().all()
        return [summary(row) for row in rows]

    async def get_conversation(self, owner: str, conversation_id: str) -> ConversationDetail:
        """One of ``owner``'s conversations with all its messages, in order."""
        async with self.database.read() as connection:
            row = await self._owned(connection, owner, conversation_id)
            rows = await self._message_rows(connection, conversation_id)
        return ConversationDetail(summary(row), [stored_message(r) for r in rows])

    async def rename(self, owner: str, conversation_id: str, title: Any) -> ConversationSummary:
        """Give one of ``owner``'s conversations a new ``title``: text of 1 to 200 characters
        once stripped (``ValidationFailed``, 422, otherwise)."""
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= TITLE_LENGTH:
            raise ValidationFailed(
                [{"loc": ("title",), "msg": f"a title is text of 1 to {TITLE_LENGTH} characters"}]
            )
        if not _ID.fullmatch(conversation_id):
            raise ConversationNotFound()
        async with self.database.write() as connection:
            result = await connection.execute(
                update(conversation_table)
                .where(
                    conversation_table.c.id == conversation_id, conversation_table.c.owner == owner
                )
                .values(title=clean(title.strip()), updated_at=_now())
            )
            if not result.rowcount:
                raise ConversationNotFound()
            row = await self._owned(connection, owner, conversation_id)
        return summary(row)

    async def delete(self, owner: str, conversation_id: str) -> None:
        """Delete one of ``owner``'s conversations and (by the foreign key's cascade) its
        messages."""
        if not _ID.fullmatch(conversation_id):
            raise ConversationNotFound()
        async with self.database.write() as connection:
            result = await connection.execute(
                conversation_table.delete().where(
                    conversation_table.c.id == conversation_id, conversation_table.c.owner == owner
                )
            )
            if not result.rowcount:
                raise ConversationNotFound()

    async def count_in_progress(self) -> int:
        """Assistant messages still ``in_progress`` (for health checks and tests)."""
        async with self.database.read() as connection:
            found = await connection.scalar(
                select(func.count()).where(message_table.c.status == "in_progress")
            )
        return int(found or 0)

    @staticmethod
    async def _owned(connection: AsyncConnection, owner: str, conversation_id: str) -> RowMapping:
        row = None
        if _ID.fullmatch(conversation_id):
            query = select(conversation_table).where(
                conversation_table.c.id == conversation_id, conversation_table.c.owner == owner
            )
            row = (await connection.execute(query)).mappings().first()
        if row is None:
            raise ConversationNotFound()
        return row

    @staticmethod
    async def _lock_owned(connection: AsyncConnection, owner: str, conversation_id: str) -> None:
        """``ConversationNotFound`` unless the conversation is ``owner``'s; on PostgreSQL its
        row stays locked until the transaction ends, so two turns of one conversation take
        positions one after the other (SQLite's writes are one at a time anyway)."""
        found = None
        if _ID.fullmatch(conversation_id):
            query = (
                select(conversation_table.c.id)
                .where(
                    conversation_table.c.id == conversation_id, conversation_table.c.owner == owner
                )
                .with_for_update()
            )
            found = await connection.scalar(query)
        if found is None:
            raise ConversationNotFound()

    @staticmethod
    async def _exists(connection: AsyncConnection, owner: str, conversation_id: str) -> bool:
        """Whether ``owner`` has this conversation. Another owner's id does not count: ids
        that ``create`` may make are namespaced by owner, so it cannot collide with one."""
        if not _ID.fullmatch(conversation_id):
            raise ConversationNotFound()
        query = select(conversation_table.c.id).where(
            conversation_table.c.id == conversation_id, conversation_table.c.owner == owner
        )
        return await connection.scalar(query) is not None

    @staticmethod
    async def _cut(
        connection: AsyncConnection,
        conversation_id: str,
        rows: Sequence[RowMapping],
        replace_from: str | None,
    ) -> Sequence[RowMapping]:
        """Delete the messages from ``replace_from`` on (every one when it is None); the
        rows that remain."""
        keep = 0
        if replace_from is not None:
            at = next((i for i, row in enumerate(rows) if row["id"] == replace_from), None)
            if at is None:
                raise ConversationNotFound()
            keep = at
        if keep < len(rows):
            await connection.execute(
                message_table.delete().where(
                    message_table.c.conversation_id == conversation_id,
                    message_table.c.position >= rows[keep]["position"],
                )
            )
        return rows[:keep]

    async def live_stream(self, owner: str, conversation_id: str) -> str | None:
        """The ``stream_id`` of the run still writing this conversation's last message (an
        ``in_progress`` answer), else None; None too for an id that is not ``owner``'s."""
        if not _ID.fullmatch(conversation_id):
            return None
        last = (
            select(message_table.c.role, message_table.c.status, message_table.c.stream_id)
            .join(conversation_table, conversation_table.c.id == message_table.c.conversation_id)
            .where(conversation_table.c.id == conversation_id, conversation_table.c.owner == owner)
            .order_by(message_table.c.position.desc())
            .limit(1)
        )
        async with self.database.read() as connection:
            row = (await connection.execute(last)).mappings().first()
        if row is None or row["role"] != "assistant" or row["status"] != "in_progress":
            return None
        stream_id: str | None = row["stream_id"]
        return stream_id

    @staticmethod
    async def _message_rows(
        connection: AsyncConnection, conversation_id: str
    ) -> Sequence[RowMapping]:
        query = (
            select(message_table)
            .where(message_table.c.conversation_id == conversation_id)
            .order_by(message_table.c.position)
        )
        return (await connection.execute(query)).mappings().all()


__all__ = ["PRODUCER_LOST", "ConversationStore", "FinishStatus", "clean", "new_id"]
