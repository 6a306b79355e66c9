"""``begin_turn`` / ``finish_turn`` / ``abandon_in_progress`` on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from aichatflow.errors import ConversationNotFound
from aichatflow.events import StreamError, Usage
from aichatflow.messages import ContentPart, FunctionCall, Message, ToolCall
from aichatflow.store.conversations import PRODUCER_LOST, ConversationStore
from aichatflow.store.schema import messages as message_table
from aichatflow.transcript import AssembledToolCall, Transcript


def user(text: str) -> Message:
    return Message(role="user", content=text)


async def test_a_new_conversation_is_titled_and_holds_the_turn(store: ConversationStore) -> None:
    first = "  \n" + "Why is the sky blue? " * 10 + "\nsecond line"
    turn = await store.begin_turn(
        "",
        None,
        [Message(role="system", content="Be brief."), user(first)],
        model="mock/chat",
        stream_id="stream-1",
    )
    assert turn.history == []
    detail = await store.get_conversation("", turn.conversation_id)
    assert detail.summary.title == ("Why is the sky blue? " * 10).strip()[:80]
    assert [(m.role, m.status) for m in detail.messages] == [
        ("system", "complete"),
        ("user", "complete"),
        ("assistant", "in_progress"),
    ]
    assistant = detail.messages[-1]
    assert (assistant.id, assistant.stream_id, assistant.model, assistant.content) == (
        turn.assistant_message_id,
        "stream-1",
        "mock/chat",
        "",
    )
    assert await store.count_in_progress() == 1


async def test_finish_stores_the_answer_and_the_next_turn_gets_the_history(
    store: ConversationStore,
) -> None:
    turn = await store.begin_turn("", None, [user("one")], model="m/a", stream_id="s1")
    await store.finish_turn(
        turn.assistant_message_id,
        "complete",
        Transcript(
            model="m/answering",
            text="answer one",
            reasoning="thought",
            reasoning_signature="sig",
            tool_calls=(AssembledToolCall(0, "call_1", "lookup", '{"q": 1}'),),
            usage=Usage(input_tokens=3, output_tokens=5),
        ),
    )
    tool_reply = Message(role="tool", content="42", tool_call_id="call_1")
    second = await store.begin_turn(
        "", turn.conversation_id, [tool_reply], model="m/a", stream_id="s2"
    )
    assert second.conversation_id == turn.conversation_id
    assert second.history == [
        user("one"),
        Message(
            role="assistant",
            content="answer one",
            reasoning_content="thought",
            reasoning_signature="sig",
            tool_calls=[
                ToolCall(id="call_1", function=FunctionCall(name="lookup", arguments='{"q": 1}'))
            ],
        ),
    ]
    await store.finish_turn(second.assistant_message_id, "complete", Transcript(text="two"))
    third = await store.begin_turn(
        "", turn.conversation_id, [user("three")], model="m/a", stream_id="s3"
    )
    assert [m.role for m in third.history] == ["user", "assistant", "tool", "assistant"]
    assert third.history[2] == tool_reply
    assert third.history[3].content == "two"
    detail = await store.get_conversation("", turn.conversation_id)
    answered = detail.messages[1]
    assert answered.model == "m/answering"
    assert answered.usage == Usage(input_tokens=3, output_tokens=5).as_dict()
    assert answered.tool_calls == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q": 1}'},
        }
    ]
    assert [m.as_json()["role"] for m in detail.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]


async def test_stopped_and_failed_answers_keep_their_partial_text(
    store: ConversationStore,
) -> None:
    stopped = await store.begin_turn("", None, [user("a")], model="m", stream_id="s1")
    failed = await store.begin_turn("", None, [user("b")], model="m", stream_id="s2")
    await store.finish_turn(stopped.assistant_message_id, "stopped", Transcript(text="half an"))
    error = StreamError(code="upstream_timeout", message="no progress for 120 s")
    await store.finish_turn(failed.assistant_message_id, "error", Transcript(text="par"), error)
    one = (await store.get_conversation("", stopped.conversation_id)).messages[-1]
    two = (await store.get_conversation("", failed.conversation_id)).messages[-1]
    assert (one.status, one.content, one.error) == ("stopped", "half an", None)
    assert (two.status, two.content) == ("error", "par")
    assert two.error == {"code": "upstream_timeout", "message": "no progress for 120 s"}
    assert await store.count_in_progress() == 0
    with pytest.raises(ValueError, match="complete, stopped or error"):
        await store.finish_turn(one.id, "in_progress", Transcript())  # type: ignore[arg-type]


async def test_an_empty_answer_is_left_out_of_the_history(store: ConversationStore) -> None:
    """An in-progress (or failed-before-any-text) assistant message is an empty turn, which
    providers refuse; it stays stored, but is not sent again."""
    turn = await store.begin_turn("", None, [user("a")], model="m", stream_id="s1")
    again = await store.begin_turn("", turn.conversation_id, [user("b")], model="m", stream_id="s2")
    assert again.history == [user("a")]


async def test_multipart_content_and_odd_text_come_back_as_sent(store: ConversationStore) -> None:
    parts = Message(
        role="user",
        content=[
            ContentPart(type="text", text="look: "),
            ContentPart.model_validate({"type": "image_url", "image_url": {"url": "data:x"}}),
        ],
    )
    hostile = user("nul\x00 'quote\"; DROP TABLE aichatflow_messages; -- ünïcødé 🚀")
    turn = await store.begin_turn("", None, [parts, hostile], model="m", stream_id="s1")
    await store.finish_turn(turn.assistant_message_id, "complete", Transcript(text="ok\x00"))
    again = await store.begin_turn("", turn.conversation_id, [], model="m", stream_id="s2")
    assert again.history[0] == parts
    assert (
        again.history[1].content
        == "nul\ufffd 'quote\"; DROP TABLE aichatflow_messages; -- ünïcødé 🚀"
    )
    assert again.history[2].content == "ok\ufffd"
    assert (await store.get_conversation("", turn.conversation_id)).summary.title == "look:"


async def test_another_owners_conversation_cannot_be_continued(store: ConversationStore) -> None:
    turn = await store.begin_turn("team-a", None, [user("mine")], model="m", stream_id="s1")
    with pytest.raises(ConversationNotFound) as foreign:
        await store.begin_turn(
            "team-b", turn.conversation_id, [user("x")], model="m", stream_id="s2"
        )
    with pytest.raises(ConversationNotFound) as unknown:
        await store.begin_turn("team-b", "doesNotExist1234", [user("x")], model="m", stream_id="s3")
    assert foreign.value.to_dict() == unknown.value.to_dict()
    assert foreign.value.http_status == 404
    assert (await store.get_conversation("team-a", turn.conversation_id)).messages[
        -1
    ].stream_id == "s1"
    assert len((await store.get_conversation("team-a", turn.conversation_id)).messages) == 2


async def test_finishing_a_turn_of_a_deleted_conversation_is_a_no_op(
    store: ConversationStore,
) -> None:
    turn = await store.begin_turn("", None, [user("a")], model="m", stream_id="s1")
    await store.delete("", turn.conversation_id)
    await store.finish_turn(turn.assistant_message_id, "complete", Transcript(text="late"))
    async with store.database.read() as connection:
        left = (await connection.execute(select(message_table.c.id))).all()
    assert left == []


async def test_abandon_marks_in_progress_answers_producer_lost(store: ConversationStore) -> None:
    a1 = await store.begin_turn("a", None, [user("1")], model="m", stream_id="s1")
    a2 = await store.begin_turn("a", None, [user("2")], model="m", stream_id="s2")
    b1 = await store.begin_turn("b", None, [user("3")], model="m", stream_id="s3")
    done = await store.begin_turn("a", None, [user("4")], model="m", stream_id="s4")
    await store.finish_turn(done.assistant_message_id, "complete", Transcript(text="fine"))
    assert await store.abandon_in_progress("b") == 1
    assert await store.count_in_progress() == 2
    assert await store.abandon_in_progress() == 2
    assert await store.abandon_in_progress() == 0
    for owner, turn in (("a", a1), ("a", a2), ("b", b1)):
        message = (await store.get_conversation(owner, turn.conversation_id)).messages[-1]
        assert (message.status, message.error, message.content) == ("error", PRODUCER_LOST, "")
    kept = (await store.get_conversation("a", done.conversation_id)).messages[-1]
    assert (kept.status, kept.content) == ("complete", "fine")
