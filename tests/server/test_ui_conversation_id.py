"""``ui_conversation_id``: a client-chosen chat id stored per owner, never shared across keys."""

from __future__ import annotations

import re

from aichatflow.server.turns import ui_conversation_id


def test_one_id_per_owner_and_chat_id() -> None:
    mine = ui_conversation_id("a", "chat-1")
    assert mine == ui_conversation_id("a", "chat-1")
    assert mine != ui_conversation_id("b", "chat-1")
    assert mine != ui_conversation_id("a", "chat-2")
    # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert ui_conversation_id("a", "bc") != ui_conversation_id("ab", "c")
    assert re.fullmatch(r"u[A-Za-z0-9_-]{22}", mine)
