"""Turns that rewrite what came before: ``replace_from`` (regenerate, edit), ``replace_history``
with ``create`` (a client that keeps the conversation itself), and ``live_stream``; on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from aichatflow.errors import ConversationNotFound
from aichatflow.messages import Message
from aichatflow.store.conversations import ConversationStore
from aichatflow.transcript import Transcript


def user(text: str) -> Message:
    return Message(role="user", content=text)


async def two_turns(store: ConversationStore) -> tuple[str, list[str]]:
    """A conversation of two finished turns; its message ids in order."""
    first = await store.begin_turn("", None, [user("one")], model="m", stream_id="s1")
    await store.finish_turn(first.assistant_message_id, "complete", Transcript(text="1"))
    cid = first.conversation_id
    second = await store.begin_turn("", cid, [user("two")], model="m", stream_id="s2")
    await store.finish_turn(second.assistant_message_id, "complete", Transcript(text="2"))
    messages = (await store.get_conversation("", cid)).messages
    return cid, [m.id for m in messages]


async def contents(store: ConversationStore, owner: str, cid: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in (await store.get_conversation(owner, cid)).messages]


async def test_replace_from_the_last_question_regenerates_its_answer(
    store: ConversationStore,
) -> None:
    cid, ids = await two_turns(store)
    turn = await store.begin_turn(
        "", cid, [user("two, again")], model="m", stream_id="s3", replace_from=ids[2]
    )
    assert [(m.role, m.content) for m in turn.history] == [("user", "one"), ("assistant", "1")]
    assert await contents(store, "", cid) == [
        ("user", "one"),
        ("assistant", "1"),
        ("user", "two, again"),
        ("assistant", ""),
    ]
    assert await store.live_stream("", cid) == "s3"
    await store.finish_turn(turn.assistant_message_id, "complete", Transcript(text="2'"))
    assert await store.live_stream("", cid) is None


async def test_replace_from_an_id_outside_the_conversation_is_not_found(
    store: ConversationStore,
) -> None:
    cid, _ = await two_turns(store)
    other, other_ids = await two_turns(store)
    for bad in (other_ids[0], "nope", "x" * 40):
        with pytest.raises(ConversationNotFound):
            await store.begin_turn(
                "", cid, [user("z")], model="m", stream_id="s9", replace_from=bad
            )
    assert len(await contents(store, "", cid)) == 4  # nothing was deleted
    assert len(await contents(store, "", other)) == 4


async def test_replace_history_creates_then_replaces(store: ConversationStore) -> None:
    cid = "uClientChosenId12345678"
    turn = await store.begin_turn(
        "k", cid, [user("hi")], model="m", stream_id="s1", replace_history=True, create=True
    )
    assert turn.conversation_id == cid and turn.history == []
    await store.finish_turn(turn.assistant_message_id, "complete", Transcript(text="hello"))
    history = [user("hi"), Message(role="assistant", content="hello"), user("more")]
    again = await store.begin_turn(
        "k", cid, history, model="m", stream_id="s2", replace_history=True, create=True
    )
    assert again.history == []
    assert await contents(store, "k", cid) == [
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "more"),
        ("assistant", ""),
    ]
    assert [c.id for c in await store.list_conversations("k", limit=10)] == [cid]


async def test_live_stream_is_owner_scoped(store: ConversationStore) -> None:
    turn = await store.begin_turn("a", None, [user("x")], model="m", stream_id="live1")
    cid = turn.conversation_id
    assert await store.live_stream("a", cid) == "live1"
    assert await store.live_stream("b", cid) is None
    assert await store.live_stream("a", "unknown") is None
    assert await store.live_stream("a", "not/an id") is None


async def test_two_turns_creating_one_conversation_at_once_both_land(
    store: ConversationStore,
) -> None:
    cid = "uRaceRaceRaceRaceRace12"
    turns = await asyncio.gather(
        *(
            store.begin_turn(
                "k",
                cid,
                [user(f"q{i}")],
                model="m",
                stream_id=f"s{i}",
                replace_history=True,
                create=True,
            )
            for i in range(4)
        )
    )
    assert {t.conversation_id for t in turns} == {cid}
    assert len(await store.list_conversations("k", limit=10)) == 1
