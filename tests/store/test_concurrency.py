"""T34 at the store's level: 50 turns at once, 10 of them stopped mid-way, on a SQLite file and
on PostgreSQL: 40 complete + 10 stopped with their partial text, no ``database is locked``,
nothing left ``in_progress``."""

from __future__ import annotations

import asyncio
import random

from aichatflow.messages import Message
from aichatflow.store.conversations import ConversationStore
from aichatflow.transcript import Transcript

TURNS = 50
STOPPED = 10


async def _turn(
    store: ConversationStore, i: int, errors: list[BaseException], continued: str | None = None
) -> None:
    try:
        turn = await store.begin_turn(
            f"key-{i % 3}",
            continued,
            [Message(role="user", content=f"question {i}")],
            model="mock/chat",
            stream_id=f"stream-{i}",
        )
        await asyncio.sleep(random.uniform(0, 0.05))  # the answer streaming
        if i < STOPPED:
            await store.finish_turn(
                turn.assistant_message_id, "stopped", Transcript(text=f"partial {i}")
            )
        else:
            await store.finish_turn(
                turn.assistant_message_id, "complete", Transcript(text=f"answer {i}")
            )
    except BaseException as exc:
        errors.append(exc)


async def _outcome(store: ConversationStore) -> dict[str, list[str]]:
    by_status: dict[str, list[str]] = {}
    for owner in ("key-0", "key-1", "key-2"):
        for summary in await store.list_conversations(owner, limit=TURNS + 1):
            answer = (await store.get_conversation(owner, summary.id)).messages[-1]
            by_status.setdefault(answer.status, []).append(answer.content)
    return by_status


async def test_fifty_concurrent_turns_ten_stopped(store: ConversationStore) -> None:
    """Each of 50 conversations gets a first turn, then (all at once again) a second: the
    second reads the conversation before it writes, the case where a SQLite transaction that
    began deferred cannot wait for the write lock and fails with ``database is locked``."""
    errors: list[BaseException] = []
    await asyncio.gather(*(_turn(store, i, errors) for i in range(TURNS)))
    assert errors == []
    ids = {}
    for owner in ("key-0", "key-1", "key-2"):
        for summary in await store.list_conversations(owner, limit=TURNS + 1):
            ids[summary.title] = summary.id
    await asyncio.gather(*(_turn(store, i, errors, ids[f"question {i}"]) for i in range(TURNS)))
    assert errors == []
    by_status = await _outcome(store)
    assert sorted(by_status) == ["complete", "stopped"]
    assert sorted(by_status["stopped"]) == sorted(f"partial {i}" for i in range(STOPPED))
    assert sorted(by_status["complete"]) == sorted(f"answer {i}" for i in range(STOPPED, TURNS))
    assert await store.count_in_progress() == 0


async def test_two_stores_on_one_database_write_at_once(store_url: str) -> None:
    """Two processes' worth of stores (each with its own write lock, as two ``serve`` workers
    have) on one database: SQLite's ``BEGIN IMMEDIATE`` and ``busy_timeout`` make the second
    wait, never fail with ``database is locked``."""
    stores = [await ConversationStore.open(store_url) for _ in range(2)]
    try:
        errors: list[BaseException] = []
        await asyncio.gather(*(_turn(stores[i % 2], i, errors) for i in range(TURNS)))
        assert errors == []
        ids = {
            s.title: s.id
            for o in ("key-0", "key-1", "key-2")
            for s in await stores[0].list_conversations(o, limit=TURNS + 1)
        }
        await asyncio.gather(
            *(_turn(stores[i % 2], i, errors, ids[f"question {i}"]) for i in range(TURNS))
        )
        assert errors == []
        by_status = await _outcome(stores[0])
        assert (len(by_status["complete"]), len(by_status["stopped"])) == (40, 10)
        assert await stores[1].count_in_progress() == 0
    finally:
        for store in stores:
            await store.aclose()
