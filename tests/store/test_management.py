"""Listing, reading, renaming and deleting conversations, scoped to their owner."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aichatflow.errors import ConversationNotFound, RequestError, ValidationFailed
from aichatflow.messages import Message
from aichatflow.store.conversations import ConversationStore
from aichatflow.store.schema import messages as message_table
from aichatflow.transcript import Transcript

HOSTILE_IDS = [
    "' OR '1'='1",
    "../../etc/passwd",
    "x; DROP TABLE aichatflow_conversations",
    "ünïcødé-🚀",
    "a" * 10_000,
    "",
    "\x00",
]


async def _conversation(store: ConversationStore, owner: str, text: str) -> str:
    turn = await store.begin_turn(
        owner, None, [Message(role="user", content=text)], model="m", stream_id="s"
    )
    await store.finish_turn(turn.assistant_message_id, "complete", Transcript(text="ok"))
    return turn.conversation_id


async def test_listing_is_newest_first_and_pages_by_the_last_id(store: ConversationStore) -> None:
    ids = [await _conversation(store, "me", f"chat {i}") for i in range(7)]
    await _conversation(store, "someone-else", "not mine")
    newest_first = list(reversed(ids))
    seen: list[str] = []
    before = None
    while True:
        page = await store.list_conversations("me", limit=3, before=before)
        if not page:
            break
        seen += [c.id for c in page]
        before = page[-1].id
    assert seen == newest_first
    # a conversation that gets a new turn moves to the top
    await store.begin_turn(
        "me", ids[0], [Message(role="user", content="more")], model="m", stream_id="s"
    )
    assert [c.id for c in await store.list_conversations("me", limit=2)] == [ids[0], ids[6]]
    assert [c.title for c in await store.list_conversations("someone-else")] == ["not mine"]


async def test_a_page_after_an_unknown_or_foreign_id_is_a_bad_request(
    store: ConversationStore,
) -> None:
    theirs = await _conversation(store, "them", "x")
    for before in [theirs, "doesNotExist1234", *HOSTILE_IDS[:5]]:
        with pytest.raises(RequestError) as refused:
            await store.list_conversations("me", before=before)
        assert (refused.value.http_status, refused.value.message) == (
            400,
            "before: no conversation by that id",
        )


async def test_rename_takes_1_to_200_characters(store: ConversationStore) -> None:
    conversation_id = await _conversation(store, "me", "first")
    renamed = await store.rename("me", conversation_id, "  A better name  ")
    assert renamed.title == "A better name"
    assert renamed.updated_at >= renamed.created_at
    assert (await store.rename("me", conversation_id, "é" * 200)).title == "é" * 200
    for bad in ["", "   ", "x" * 201, 5, None, ["x"], {"t": "x"}]:
        with pytest.raises(ValidationFailed) as refused:
            await store.rename("me", conversation_id, bad)
        assert refused.value.http_status == 422
    assert (await store.get_conversation("me", conversation_id)).summary.title == "é" * 200


async def test_delete_removes_the_conversation_and_its_messages(store: ConversationStore) -> None:
    gone = await _conversation(store, "me", "bye")
    kept = await _conversation(store, "me", "stay")
    await store.delete("me", gone)
    with pytest.raises(ConversationNotFound):
        await store.get_conversation("me", gone)
    with pytest.raises(ConversationNotFound):
        await store.delete("me", gone)
    async with store.database.read() as connection:
        by_conversation = dict(
            (
                await connection.execute(
                    select(message_table.c.conversation_id, func.count()).group_by(
                        message_table.c.conversation_id
                    )
                )
            ).all()
        )
    assert by_conversation == {kept: 2}


async def test_another_owners_conversation_is_not_found_exactly_like_an_unknown_one(
    store: ConversationStore,
) -> None:
    theirs = await _conversation(store, "them", "secret plans")
    answers = []
    for conversation_id in [theirs, "doesNotExist1234", *HOSTILE_IDS]:
        for attempt in (
            store.get_conversation("me", conversation_id),
            store.rename("me", conversation_id, "mine now"),
            store.delete("me", conversation_id),
        ):
            with pytest.raises(ConversationNotFound) as refused:
                await attempt
            answers.append(refused.value.to_dict())
    assert all(answer == answers[0] for answer in answers)
    assert answers[0] == {
        "code": "not_found",
        "message": "conversation not found",
        "retryable": False,
    }
    detail = await store.get_conversation("them", theirs)
    assert (detail.summary.title, len(detail.messages)) == ("secret plans", 2)
    assert await store.list_conversations("me") == []
