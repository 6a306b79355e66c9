"""Conversations and their messages.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "aichatflow_conversations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_aichatflow_conversations"),
    )
    op.create_index(
        "ix_aichatflow_conversations_owner_updated_at_id",
        "aichatflow_conversations",
        ["owner", "updated_at", "id"],
    )
    op.create_table(
        "aichatflow_messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("tool_calls", sa.JSON(), nullable=True),
        sa.Column("tool_call_id", sa.String(256), nullable=True),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stream_id", sa.String(32), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("usage", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["aichatflow_conversations.id"],
            name="fk_aichatflow_messages_conversation_id_aichatflow_conversations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_aichatflow_messages"),
        sa.UniqueConstraint(
            "conversation_id", "position", name="uq_aichatflow_messages_conversation_id_position"
        ),
    )
    op.create_index("ix_aichatflow_messages_stream_id", "aichatflow_messages", ["stream_id"])
    op.create_index("ix_aichatflow_messages_status", "aichatflow_messages", ["status"])


def downgrade() -> None:
    op.drop_table("aichatflow_messages")
    op.drop_table("aichatflow_conversations")
