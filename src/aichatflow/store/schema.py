"""The tables of stored conversations, as SQLAlchemy Core ``Table`` objects.

Core rather than the ORM: the store runs a handful of known statements per turn, and plain
tables keep each of them one visible ``insert``/``update``/``select`` with no session, identity
map or lazy loading between the chat flow and the database.

The migrations (``migrations/versions/``) create exactly these tables; a test compares the two,
so a column added here without a migration fails before a user's database does.

What is stored is the conversation itself: message text, reasoning, tool calls, the model that
answered, usage and the outcome. Never a request header, a client key or a provider key: the
store is handed ``Message`` objects and ``Transcript`` results, which carry none.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

ID_LENGTH = 32
"""Room for the ids the store makes (16 characters) and a little more."""
TITLE_LENGTH = 200
"""The longest title a conversation may have (``rename`` refuses longer ones)."""
OWNER_LENGTH = 64
"""A key id is at most 64 characters (``config.KEY_ID_PATTERN``)."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""Named constraints, so a later migration can drop or alter them by name on every backend."""

conversations = Table(
    "aichatflow_conversations",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("owner", String(OWNER_LENGTH), nullable=False),
    Column("title", String(TITLE_LENGTH), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    Index(None, "owner", "updated_at", "id"),
)
"""One row per conversation. ``owner`` is the caller's key id, ``""`` when keys are off; every
read and write is scoped by it. Times are naive UTC (one meaning on SQLite and PostgreSQL)."""

messages = Table(
    "aichatflow_messages",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column(
        "conversation_id",
        String(ID_LENGTH),
        ForeignKey(conversations.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("reasoning", Text, nullable=False),
    Column("tool_calls", JSON, nullable=True),
    Column("tool_call_id", String(256), nullable=True),
    Column("name", String(256), nullable=True),
    Column("extra", JSON, nullable=True),
    Column("model", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("stream_id", String(ID_LENGTH), nullable=True),
    Column("error", JSON, nullable=True),
    Column("usage", JSON, nullable=True),
    Column("created_at", DateTime(), nullable=False),
    UniqueConstraint("conversation_id", "position"),
    Index(None, "stream_id"),
    Index(None, "status"),
)
"""One row per message, in ``position`` order within its conversation. ``tool_calls`` is the
OpenAI shape (``[{"id", "type": "function", "function": {"name", "arguments"}}]``); ``extra``
keeps what only some providers need back on later turns (multi-part content, a reasoning
signature, redacted reasoning blocks). ``status`` is ``complete``, ``stopped``, ``error`` or
``in_progress``; ``stream_id`` names the run that wrote an assistant message; ``error`` is
``{"code", "message"}``; ``usage`` the token counts."""

STATUSES = ("complete", "stopped", "error", "in_progress")

__all__ = ["ID_LENGTH", "OWNER_LENGTH", "STATUSES", "TITLE_LENGTH", "conversations", "messages"]
