"""``useChat``'s body as a ``ChatRequest``: text, images, dropped reasoning, tool parts as
calls and results split into steps, the chat id as the conversation, and hostile or foreign
bodies answered by a 422 JSON with the location of what is wrong (over a real server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aichatflow.dialects.vercel_request import MAX_PARTS, parse_ui_chat_request
from aichatflow.errors import ValidationFailed
from tests.support.server import RunningServer


def body(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "chat-1", "messages": list(messages), "model": "m/x", **extra}


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"id": "u", "role": "user", "parts": list(parts)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def test_text_messages_and_the_chat_id() -> None:
    chat = parse_ui_chat_request(
        body(
            {"id": "s", "role": "system", "parts": [text("Be brief.")]},
            user(text("Hi"), {"type": "step-start"}),
            trigger="submit-message",
            messageId=None,
            temperature=0.5,
            someFrontEndField={"x": 1},
        )
    )
    assert [m.model_dump(exclude_none=True) for m in chat.messages] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert chat.model == "m/x" and chat.temperature == 0.5
    assert chat.extra == {"conversation_id": "chat-1"}  # nothing else reaches the upstream


def test_images_and_several_text_parts() -> None:
    image = {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,AAAA"}
    chat = parse_ui_chat_request(body(user(text("What is"), image, text("this?"))))
    content = chat.messages[0].model_dump(exclude_none=True)["content"]
    assert content == [
        {"type": "text", "text": "What is"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "this?"},
    ]


def test_assistant_steps_with_tool_results() -> None:
    assistant = {
        "id": "a",
        "role": "assistant",
        "parts": [
            {"type": "step-start"},
            {"type": "reasoning", "text": "need weather"},
            text("Checking."),
            {
                "type": "tool-weather",
                "toolCallId": "c1",
                "state": "output-available",
                "input": {"city": "Paris"},
                "output": {"tempC": 18},
            },
            {
                "type": "dynamic-tool",
                "toolName": "clock",
                "toolCallId": "c2",
                "state": "output-error",
                "input": {},
                "errorText": "no clock",
            },
            {"type": "tool-never", "toolCallId": "c3", "state": "input-available", "input": {}},
            {"type": "step-start"},
            text("It is 18 °C."),
        ],
    }
    chat = parse_ui_chat_request(body(user(text("Weather?")), assistant, user(text("Thanks"))))
    got = [m.model_dump(exclude_none=True) for m in chat.messages]
    assert got == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"tempC":18}'},
        {"role": "tool", "tool_call_id": "c2", "content": "no clock"},
        {"role": "assistant", "content": "It is 18 °C."},
        {"role": "user", "content": "Thanks"},
    ]


HOSTILE_BODIES: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("no id", {"messages": [user(text("x"))], "model": "m/x"}, ("id",)),
    ("id too long", body(user(text("x")), id="x" * 65), ("id",)),
    ("id not a string", body(user(text("x")), id=["a"]), ("id",)),
    ("no messages", body(), ("messages",)),
    ("messages not a list", {**body(), "messages": "hi"}, ("messages",)),
    ("unknown role", body({"id": "x", "role": "tool", "parts": []}), ("messages", 0, "role")),
    ("part not an object", body(user("text")), ("messages", 0, "parts", 0)),
    ("unknown part", body(user({"type": "source-url", "url": "u"})), ("messages", 0, "parts", 0)),
    ("text not a string", body(user({"type": "text", "text": 5})), ("messages", 0, "parts", 0)),
    (
        "a pdf",
        body(user({"type": "file", "mediaType": "application/pdf", "url": "data:,x"})),
        ("messages", 0, "parts", 0, "mediaType"),
    ),
    (
        "tool part without id",
        body({"id": "a", "role": "assistant", "parts": [{"type": "tool-x", "state": "x"}]}),
        ("messages", 0, "parts", 0),
    ),
    ("bad trigger", body(user(text("x")), trigger="delete-everything"), ("trigger",)),
    ("too many parts", body(user(*[text("x")] * (MAX_PARTS + 1))), ("messages", 0, "parts")),
]


@pytest.mark.parametrize(
    ("data", "loc"),
    [(d, loc) for _, d, loc in HOSTILE_BODIES],
    ids=[n for n, _, _ in HOSTILE_BODIES],
)
def test_hostile_bodies_are_422_with_their_location(data: Any, loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_ui_chat_request(data)
    locs = [tuple(d["loc"]) for d in info.value.details]
    assert any(found[: len(loc)] == loc for found in locs), locs


def test_422_is_json_over_http(start_server: Callable[..., RunningServer]) -> None:
    server = start_server(providers={"mock": {"kind": "mock"}})
    for name, data, loc in HOSTILE_BODIES:
        response = httpx.post(server.url + "/api/ui/chat", json=data, timeout=10)
        assert response.status_code == 422, name
        error = response.json()["error"]
        assert error["code"] == "validation_failed", name
        assert any(tuple(d["loc"])[: len(loc)] == loc for d in error["details"]), (name, error)
    not_json = httpx.post(
        server.url + "/api/ui/chat", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "bad_request"
    unknown = httpx.post(server.url + "/api/ui/chat", json=body(user(text("x")), model="no/such"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_model"
