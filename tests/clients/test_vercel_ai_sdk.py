"""The Vercel AI SDK (``ai@6`` and ``ai@5`` in Node) as a real client of ``POST /api/ui/chat``.

Why the real SDK: ``useChat`` reads the stream with ``DefaultChatTransport``, which validates
every part against the SDK's schema (an unknown type, a missing or mistyped field fails the whole
stream), and builds the message with ``readUIMessageStream``. If that client rejects a part, or
shows a different message than the model wrote, the endpoint is broken for every such front
end, whatever our own tests of the frames say. The schemas of ai 6.0.x and 5.0.x let unknown
fields through, so the client also reports any field the schema does not name
(``tests/clients/node``), and every reading here must have none. Each test runs once per major
(``sdk_major``, tests/clients/conftest.py): a server with ``[ui] sdk_major = N`` read by ai@N.
``tests/support/node_ai.py`` runs the client; every test talks to a real uvicorn on 127.0.0.1
with the fake OpenAI-compatible upstream behind it (real bytes: reasoning, tool calls, an
upstream that refuses or breaks off, hostile text). Leaving and resuming are in
``test_vercel_ai_sdk_resume.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.responses import Response

from aichatflow.dialects.vercel_ui import SdkMajor
from tests.support.hostile import HOSTILE
from tests.support.node_ai import (
    STEP_PARTS,
    UIServer,
    chunk_types,
    run_ui_client,
    send_ui,
    start_ui,
    text_of,
    ui_scenario,
    with_steps,
)
from tests.support.server import RunningServer, serve
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    end_chunked,
    event,
    headers,
    openai_stream,
    respond,
    tool_call,
)

StartServer = Callable[..., RunningServer]


@pytest.fixture
def server(start_server: StartServer, fake: FakeUpstream, sdk_major: SdkMajor) -> UIServer:
    """The fake upstream as provider ``up``, no journal, no store, ``[ui] sdk_major``."""
    return start_ui(start_server, sdk_major, providers={"up": fake.openai_provider("m")})


def test_text_passes_the_sdk_schema(server: UIServer, fake: FakeUpstream) -> None:
    """ai@6 gets the step parts and ``finishReason``; ai@5 a bare ``finish``."""
    fake.queue(Script(openai_stream(["Hel", "lo ", "there"], usage=(12, 3))))
    reading = send_ui(server)
    assert reading["errors"] == []
    text = ["text-start", "text-delta", "text-end"]
    assert chunk_types(reading) == with_steps(["start", *text, "finish"])
    message = reading["message"]
    assert message["role"] == "assistant"
    assert message["id"] == reading["chunks"][0]["messageId"] and message["id"]
    assert message["parts"] == [
        *STEP_PARTS,
        {"type": "text", "text": "Hello there", "state": "done"},
    ]
    finish = reading["chunks"][-1]
    reason = {"finishReason": "stop"} if server.major >= 6 else {}
    assert finish == {"type": "finish", **reason, "messageMetadata": message["metadata"]}
    assert finish["messageMetadata"]["usage"]["inputTokens"] == 12
    assert fake.requests[-1].json["messages"] == [{"role": "user", "content": "hi"}]


def test_reasoning_then_text(server: UIServer, fake: FakeUpstream) -> None:
    c = Chunks.deepseek()
    thinking = [event(c.reasoning("Think")), event(c.reasoning("ing."))]
    answer = [event(c.content("Answer.")), event(c.finish()), end_chunked()]
    fake.queue(Script([headers(200), event(c.role()), *thinking, *answer]))
    reading = send_ui(server)
    assert reading["errors"] == []
    [block] = [c["id"] for c in reading["chunks"] if c["type"] == "reasoning-start"]
    assert reading["message"]["parts"] == [
        *STEP_PARTS,
        {"type": "reasoning", "id": block, "text": "Thinking.", "state": "done"},
        {"type": "text", "text": "Answer.", "state": "done"},
    ]


def _tool_script(arguments: list[str], reason: str = "tool-calls") -> Script:
    c = Chunks()
    first = tool_call(0, id="call_1", name="weather", arguments=arguments[0])
    calls = [event(c.tool_calls(first, role=True))]
    calls += [event(c.tool_calls(tool_call(0, arguments=a))) for a in arguments[1:]]
    finish = c.finish("tool_calls" if reason == "tool-calls" else reason)
    return Script([headers(200), *calls, event(finish), end_chunked()])


TOOL_TYPES = ["start", "tool-input-start", "tool-input-delta", "tool-input-available", "finish"]


def test_a_tool_call_arrives_with_its_input_parsed(server: UIServer, fake: FakeUpstream) -> None:
    fake.queue(_tool_script(['{"city": "Pa', 'ris", "days"', ": 2}"]))
    reading = send_ui(server)
    assert reading["errors"] == []
    assert chunk_types(reading) == with_steps(TOOL_TYPES)
    [*steps, call] = reading["message"]["parts"]
    assert steps == STEP_PARTS
    assert call["type"] == "tool-weather" and call["toolCallId"] == "call_1"
    assert call["state"] == "input-available"
    assert call["input"] == {"city": "Paris", "days": 2}
    reason = "tool-calls" if server.major >= 6 else None
    assert reading["chunks"][-1].get("finishReason") == reason


@pytest.mark.parametrize("sdk_major", [6], ids=["ai6"])
def test_a_tool_call_with_broken_json_is_an_input_error(
    server: UIServer, fake: FakeUpstream
) -> None:
    fake.queue(_tool_script(['{"city": "Par']))
    reading = send_ui(server)
    assert reading["errors"] == []
    assert "tool-input-error" in chunk_types(reading)
    [call] = [p for p in reading["message"]["parts"] if p["type"] == "tool-weather"]
    assert call["state"] == "output-error" and call["errorText"]
    assert call["rawInput"] == '{"city": "Par'  # the model's text, not lost


@pytest.mark.parametrize("sdk_major", [5], ids=["ai5"])
def test_ai5_gets_broken_json_as_the_raw_input(server: UIServer, fake: FakeUpstream) -> None:
    """ai@5 has no ``tool-input-error`` part in the stream aichatflow writes for it: the call is
    available with the model's text as its input, for the client's tool to refuse."""
    fake.queue(_tool_script(['{"city": "Par']))
    reading = send_ui(server)
    assert reading["errors"] == []
    assert chunk_types(reading) == with_steps(TOOL_TYPES)
    [step, call] = reading["message"]["parts"]
    assert step == {"type": "step-start"}
    assert call["type"] == "tool-weather" and call["state"] == "input-available"
    assert call["input"] == '{"city": "Par'  # the model's text, not lost


def test_an_upstream_error_mid_stream_is_surfaced_and_the_text_kept(
    server: UIServer, fake: FakeUpstream
) -> None:
    c = Chunks()
    partial = [event(c.role()), event(c.content("Partial ")), event(c.content("answer"))]
    fake.queue(Script([headers(200), *partial, end_chunked()]))  # ends with no finish
    reading = send_ui(server)
    [error] = [chunk for chunk in reading["chunks"] if chunk["type"] == "error"]
    assert error["errorText"] and "Traceback" not in error["errorText"]
    assert reading["errors"] == [{"name": "Error", "message": error["errorText"]}]
    assert text_of(reading) == "Partial answer"
    assert "finish" not in chunk_types(reading)


def test_an_upstream_refusal_before_content_is_an_http_error(
    server: UIServer, fake: FakeUpstream
) -> None:
    fake.queue(Script(respond(429, {"error": {"message": "slow down"}}, retry_after="3")))
    result = run_ui_client(ui_scenario(server, "send"))
    thrown = result["send"]["thrown"]
    assert thrown["name"] == "Error"  # sendMessages throws the response text on a status
    assert json.loads(thrown["message"])["error"]["code"] == "upstream_rate_limited"


HISTORY: list[Any] = [
    {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "weather?"}]},
    {
        "id": "a1",
        "role": "assistant",
        "parts": [
            {"type": "step-start"},
            {
                "type": "tool-weather",
                "toolCallId": "call_1",
                "state": "output-available",
                "input": {"city": "Paris"},
                "output": {"tempC": 18},
            },
            {"type": "step-start"},
            {"type": "text", "text": "18 °C.", "state": "done"},
        ],
    },
    {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "and tomorrow?"}]},
]
SENT_HISTORY: list[Any] = [
    {"role": "user", "content": "weather?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"tempC":18}'},
    {"role": "assistant", "content": "18 °C."},
    {"role": "user", "content": "and tomorrow?"},
]


@pytest.mark.parametrize("trigger", ["submit-message", "regenerate-message"])
def test_both_triggers_send_the_chat_the_sdk_holds(
    server: UIServer, fake: FakeUpstream, trigger: str
) -> None:
    """``regenerate()`` cuts the answer to redo off the list and names it in ``messageId``;
    either way the list the SDK sends is the conversation the upstream gets."""
    fake.queue(Script(openai_stream(["Rain."])))
    message_id = "a2" if trigger == "regenerate-message" else None
    reading = send_ui(server, HISTORY, trigger=trigger, messageId=message_id)
    assert reading["errors"] == [] and text_of(reading) == "Rain."
    assert fake.requests[-1].json["messages"] == SENT_HISTORY


def test_hostile_model_output_arrives_intact(server: UIServer, fake: FakeUpstream) -> None:
    fake.queue(Script(openai_stream([HOSTILE[:40], HOSTILE[40:]])))
    reading = send_ui(server)
    assert reading["errors"] == []
    assert text_of(reading) == HOSTILE
    assert chunk_types(reading)[-1] == "finish"


@pytest.mark.parametrize(
    ("bad", "errors", "unknown"),
    [
        (b'{"type":"pong"}', ["AI_TypeValidationError"], []),  # a type the SDK does not know
        (b'{"type":"text-delta","id":"t"}', ["AI_TypeValidationError"], []),  # no delta
        (b'{"type":"text-start","id":"t","note":1}', [], [["text-start", ["note"]]]),
    ],
    ids=["unknown-type", "missing-field", "extra-field"],
)
def test_the_client_is_strict(
    bad: bytes, errors: list[str], unknown: list[Any], sdk_major: SdkMajor
) -> None:
    """The harness itself, for each major: a part outside the SDK's schema is reported, by the
    SDK (a type it does not know, a field it requires) or by ``schema_fields.mjs`` (a field the
    schema does not name, which the loose objects of ai 6.0.x and 5.0.x let through), so the
    other tests' checks say that every part aichatflow sent passed that schema."""
    body = b'data: {"type":"start"}\n\ndata: ' + bad + b"\n\ndata: [DONE]\n\n"

    async def app(scope: Any, receive: Any, send_: Any) -> None:
        if scope["type"] != "http":
            return
        await Response(body, media_type="text/event-stream")(scope, receive, send_)

    with serve(app) as running:
        reading = run_ui_client(ui_scenario(UIServer(running, sdk_major), "send"))["send"]
    assert [e["name"] for e in reading["errors"]] == errors
    assert [[u["type"], u["fields"]] for u in reading["unknownFields"]] == unknown
