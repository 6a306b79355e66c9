"""Stored conversations (``[store]``): SQLAlchemy 2 async on SQLite or PostgreSQL, with the
schema kept by migrations (docs/conversations.md).

Names load on first use (``aichatflow/_lazy.py``): importing the package loads no SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .conversations import ConversationStore
    from .records import ConversationDetail, ConversationSummary, StoredMessage, Turn

_EXPORTS = {
    ".conversations": ["ConversationStore"],
    ".records": ["ConversationDetail", "ConversationSummary", "StoredMessage", "Turn"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "ConversationDetail",
    "ConversationStore",
    "ConversationSummary",
    "StoredMessage",
    "Turn",
]
