"""The Gemini provider's pure parts: ``ChatRequest`` → request body, the finish-reason and error
mappers, and the response parser on single chunks (no network)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from aichatflow.errors import (
    ProviderError,
    RequestError,
    UpstreamAuth,
    UpstreamBadRequest,
    UpstreamBadResponse,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from aichatflow.events import ChatEvent, ReasoningDelta, TextDelta, ToolCallDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers.gemini._convert import request_body
from aichatflow.providers.gemini._events import ResponseParser, gemini_error, map_finish_reason
from aichatflow.sse import ServerSentEvent


def body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    request = ChatRequest.model_validate({"model": "m", "messages": messages, **extra})
    return request_body(request, include_thoughts=False)


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --- request conversion ------------------------------------------------------------------------


def test_system_and_developer_become_the_system_instruction() -> None:
    out = body(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "hi"},
        ]
    )
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use French."}]}
    assert out["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_tool_round_trip_names_responses_and_sends_the_signature_back() -> None:
    """Two parallel calls answered by two tool messages: the responses are named from the
    calls (OpenAI tool messages carry only the id), merged into one user turn, and the turn's
    thought signature rides on the first functionCall part."""
    out = body(
        [
            {"role": "user", "content": "Weather in Paris and Lyon?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "two cities, two calls",
                "reasoning_signature": "SIG==",
                "tool_calls": [
                    tool_call("call_0", "get_weather", '{"city": "Paris"}'),
                    tool_call("call_1", "get_time", '{"city": "Lyon"}'),
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "14:00"},
            {"role": "tool", "tool_call_id": "call_0", "content": '{"temp": 21}'},
        ]
    )
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Lyon?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "SIG==",
                },
                {"functionCall": {"name": "get_time", "args": {"city": "Lyon"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_time", "response": {"content": "14:00"}}},
                {
                    "functionResponse": {
                        "name": "get_weather",
                        "response": {"content": '{"temp": 21}'},
                    }
                },
            ],
        },
    ]


def test_signature_of_a_turn_without_calls_goes_on_its_last_part() -> None:
    out = body(
        [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello!", "reasoning_signature": "S"},
            {"role": "user", "content": "again"},
        ]
    )
    assert out["contents"][1] == {
        "role": "model",
        "parts": [{"text": "Hello!", "thoughtSignature": "S"}],
    }


def test_generation_config_tools_and_tool_choice() -> None:
    request = ChatRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 100,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "seed": 7,
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "description": "Weather by city",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        }
    )
    out = request_body(request, include_thoughts=True)
    assert out["generationConfig"] == {
        "maxOutputTokens": 100,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
        "seed": 7,
        "thinkingConfig": {"includeThoughts": True},
    }
    assert out["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather by city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ]
        }
    ]
    assert out["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body([{"role": "user", "content": "x"}], tool_choice="required")["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY"}
    }


def test_image_data_url_becomes_inline_data() -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    out = body(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ]
    )
    assert out["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
    ]


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([{"role": "tool", "tool_call_id": "nope", "content": "x"}], "answers no tool call"),
        (
            [{"role": "assistant", "tool_calls": [tool_call("c", "f", "{not json")]}],
            "not valid JSON",
        ),
        ([{"role": "assistant", "tool_calls": [tool_call("c", "f", "[1]")]}], "JSON object"),
        (
            [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                }
            ],
            "data: URLs",
        ),
        ([{"role": "user", "content": [{"type": "input_audio"}]}], "not supported"),
    ],
)
def test_requests_gemini_cannot_take_are_refused(
    messages: list[dict[str, Any]], match: str
) -> None:
    with pytest.raises(RequestError, match=match):
        body(messages)


# --- mappers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "called", "unified"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool-calls"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content-filter"),
        ("RECITATION", False, "content-filter"),
        ("BLOCKLIST", False, "content-filter"),
        ("PROHIBITED_CONTENT", False, "content-filter"),
        ("SPII", False, "content-filter"),
        ("MALFORMED_FUNCTION_CALL", False, "error"),
        ("LANGUAGE", False, "other"),
        ("OTHER", False, "other"),
        ("SOMETHING_NEW", False, "other"),
    ],
)
def test_map_finish_reason(raw: str, called: bool, unified: str) -> None:
    assert map_finish_reason(raw, called_tools=called) == unified


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"code": 503, "status": "UNAVAILABLE"}, UpstreamOverloaded),
        ({"code": 503}, UpstreamOverloaded),
        ({"code": 429, "status": "RESOURCE_EXHAUSTED"}, UpstreamRateLimited),
        ({"code": 403, "status": "PERMISSION_DENIED"}, UpstreamAuth),
        ({"code": 401, "status": "UNAUTHENTICATED"}, UpstreamAuth),
        ({"code": 400, "status": "INVALID_ARGUMENT"}, UpstreamBadRequest),
        ({"code": 400}, UpstreamBadRequest),
        ({"code": 504, "status": "DEADLINE_EXCEEDED"}, UpstreamTimeout),
        ({"code": 500, "status": "INTERNAL"}, ProviderError),
        ({"code": "429", "type": None}, UpstreamRateLimited),  # LiteLLM's relayed shape
        ({"code": "500", "type": None}, ProviderError),
    ],
)
def test_gemini_error_by_status_then_code(error: dict[str, Any], cls: type[ProviderError]) -> None:
    exc = gemini_error({"error": {"message": "m key=SECRET123", **error}}, "g", ("SECRET123",))
    assert type(exc) is cls
    assert exc.message == "g: m key=[REDACTED]" and exc.provider == "g"


# --- the parser on single responses ------------------------------------------------------------


def parse(*responses: dict[str, Any]) -> tuple[list[ChatEvent], ResponseParser]:
    parser = ResponseParser("g")
    out: list[ChatEvent] = []
    for response in responses:
        parser.feed(ServerSentEvent(orjson.dumps(response).decode()), out)
    return out, parser


def test_signature_order_and_empty_parts() -> None:
    """A thought part's signature closes it; on another part it comes before the content;
    an empty text part adds nothing but its signature."""
    parts = [
        {"text": "plan", "thought": True, "thoughtSignature": "A"},
        {"text": "", "thoughtSignature": "B"},
        {"functionCall": {"name": "f", "args": {}, "id": "fc-9"}, "thoughtSignature": "C"},
        {"executableCode": {"code": "print(1)"}},
    ]
    out, parser = parse({"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]})
    assert out == [
        ReasoningDelta("plan", signature="A"),
        ReasoningDelta("", signature="B"),
        ReasoningDelta("", signature="C"),
        ToolCallDelta(index=0, id="fc-9", name="f", arguments="{}"),
    ]
    assert parser.finish().reason == "tool-calls"


def test_only_the_first_candidate_counts() -> None:
    other = {"index": 1, "content": {"parts": [{"text": "B"}]}}
    first = {"index": 0, "content": {"parts": [{"text": "A"}]}}
    out, _ = parse({"candidates": [other, first]})
    assert out == [TextDelta("A")]


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[1, 2]",
        '{"candidates": ["x"]}',
        '{"candidates": [{"content": {"parts": [{"functionCall": "f"}]}}]}',
        '{"usageMetadata": {"promptTokenCount": "many"}}',
    ],
)
def test_a_frame_that_is_not_an_object_is_a_bad_response(data: str) -> None:
    with pytest.raises(UpstreamBadResponse):
        ResponseParser("g").feed(ServerSentEvent(data), [])
