"""The Gemini provider: the bare-JSON error trap, the end of a terminator-less stream, and the
request it sends. The shared contract runs on its three recorded streams in ``test_contract.py``
(cases in ``cases/gemini.py``).

Fixtures are API bytes (``tests/fixtures/gemini/README.md`` says where each comes from). The
decisive case is ``bare_error.sse``: Gemini's mid-stream error arrives as a pretty-printed JSON
object *without* ``data:``, which a plain SSE decoder silently drops (docs/upstreams.md, Gemini).
Request conversion and the pure mappers are tested in ``test_gemini_convert.py``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from aichatflow.errors import (
    ConfigError,
    EventTooLarge,
    ProviderError,
    UpstreamAuth,
    UpstreamBadResponse,
    UpstreamDisconnected,
    UpstreamOverloaded,
    UpstreamRateLimited,
)
from aichatflow.events import ChatEvent, Finish, ReasoningDelta, TextDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers import create_provider
from aichatflow.providers.gemini import GeminiProvider
from aichatflow.providers.gemini._decode import BARE, GeminiSSEDecoder
from aichatflow.providers.gemini.provider import KEY_ENVS
from aichatflow.transcript import accumulate
from tests.support.server import LogCapture, RunningServer
from tests.support.upstream import (
    Action,
    FakeUpstream,
    Script,
    end_chunked,
    headers,
    raw,
    respond,
    stall,
    wire,
)
from tests.upstream._client import NATIVE, assert_clean, chat
from tests.upstream._client import request_body as chat_body

from .contract import check_grammar, fixture

KEY = "AIzaSyTESTKEY-0123456789abcdefghijkl"
HI = ChatRequest.model_validate(
    {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
)
BARE_503 = fixture("gemini", "bare_error.sse")
ERROR_AT = BARE_503.index(b"{\n")
"""Where the bare error object starts in ``bare_error.sse``."""


def make(url: str, **options: Any) -> GeminiProvider:
    return GeminiProvider("g", {"base_url": url, "api_key": KEY, "max_retries": 0, **options})


def error_body(code: int, status: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": f"{status} says no", "status": status}})


def data(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def chunk(*parts: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate]}


TEXT_STOP = data(chunk({"text": "Hel"})) + data(chunk({"text": "lo"}, finish="STOP"))


async def run(
    provider: GeminiProvider, request: ChatRequest = HI
) -> tuple[list[ChatEvent], Exception | None]:
    """Every event the stream gave, and the error that ended it (None if it finished)."""
    events: list[ChatEvent] = []
    try:
        async for event in provider.stream(request):
            events.append(event)
    except (ProviderError, EventTooLarge) as exc:
        return events, exc
    finally:
        await provider.aclose()
    return events, None


def body_of(*actions: Action | list[Action]) -> Script:
    return Script([headers(200), *actions])


# --- the bare JSON error (no data:) ------------------------------------------------------------


async def test_bare_error_after_thoughts_is_upstream_overloaded(fake: FakeUpstream) -> None:
    """OmniRoute#4177's exact bytes: the two thoughts, then a typed 503, not a clean end."""
    fake.default = body_of(raw(BARE_503), end_chunked())
    events, error = await run(make(fake.url))
    assert isinstance(error, UpstreamOverloaded)
    assert error.message == (
        "g: This model is currently experiencing high demand. Spikes in demand are usually "
        "temporary. Please try again later."
    )
    assert error.retryable
    reasoning = [e.text for e in events if isinstance(e, ReasoningDelta)]
    assert "".join(reasoning).startswith("The user wants me to execute a sequence")
    assert len(reasoning) == 2


async def test_bare_error_split_at_every_byte_of_the_object(fake: FakeUpstream) -> None:
    """Two reads, the second starting anywhere inside the error object (or just after it):
    the text before it arrives whole, then exactly that error."""
    body = TEXT_STOP.replace(b',"finishReason":"STOP"', b"") + BARE_503[ERROR_AT:]
    start = body.index(b"{\n")
    provider = make(fake.url)
    try:
        for cut in range(start, len(body) + 1):
            fake.queue(body_of(raw(body[:cut]), raw(body[cut:]), end_chunked()))
            events, error = await run(provider)
            assert isinstance(error, UpstreamOverloaded), (cut, error)
            assert accumulate(events).text == "Hello", cut
    finally:
        await provider.aclose()
    assert fake.attempts == len(body) + 1 - start


async def test_bare_error_ends_the_stream_without_waiting_for_eof(fake: FakeUpstream) -> None:
    """The object is recognised when its closing brace arrives; an upstream that then keeps
    the socket open must not hold the error back until the read timeout."""
    fake.default = body_of(raw(BARE_503), stall(10))
    started = time.monotonic()
    events, error = await run(make(fake.url, read_timeout=5))
    assert isinstance(error, UpstreamOverloaded)
    assert time.monotonic() - started < 2.0
    assert len([e for e in events if isinstance(e, ReasoningDelta)]) == 2
    rec = fake.requests[0]
    assert rec.wait_peer_closed(2.0) is not None


async def test_single_line_bare_error_without_newline_at_eof(fake: FakeUpstream) -> None:
    """A compact object as the last bytes of the body, no line break after it."""
    bare = b'{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}'
    fake.default = body_of(raw(data(chunk({"text": "a"}))), raw(bare), end_chunked())
    events, error = await run(make(fake.url))
    assert isinstance(error, UpstreamRateLimited)
    assert accumulate(events).text == "a"


async def test_bare_error_before_any_content_is_retried(fake: FakeUpstream) -> None:
    """Before the first content a bare 503 is an ordinary retryable failure."""
    fake.queue(body_of(raw(BARE_503[ERROR_AT:]), end_chunked()))
    fake.default = body_of(raw(TEXT_STOP), end_chunked())
    events, error = await run(make(fake.url, max_retries=1))
    assert error is None
    check_grammar(events)
    assert accumulate(events).text == "Hello"
    assert fake.attempts == 2


async def test_data_form_error(fake: FakeUpstream) -> None:
    err = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    fake.default = body_of(raw(data(chunk({"text": "x"})) + data(err)), end_chunked())
    events, error = await run(make(fake.url))
    assert isinstance(error, UpstreamRateLimited)
    assert error.message == "g: Resource exhausted"
    assert accumulate(events).text == "x"


async def test_unparseable_bare_object_is_a_bad_response(fake: FakeUpstream) -> None:
    """A ``{`` block that never becomes JSON before the next event is not silently dropped."""
    broken = b'{\n  "error": nonsense\n}\n\n'
    fake.default = body_of(raw(data(chunk({"text": "a"})) + broken + TEXT_STOP), end_chunked())
    events, error = await run(make(fake.url))
    assert isinstance(error, UpstreamBadResponse)
    assert accumulate(events).text == "a"


async def test_oversized_bare_object_is_refused(fake: FakeUpstream) -> None:
    fake.default = body_of(raw(b"{\n" + b'  "x": 1,\n' * 2000), stall(5))
    _, error = await run(make(fake.url, max_event_bytes=4096))
    assert isinstance(error, EventTooLarge)


def test_decoder_keeps_bare_objects_in_order_at_every_split() -> None:
    """The pure decoder, every two-chunk split of the whole fixture, LF and CRLF."""
    for body in (BARE_503, BARE_503.replace(b"\n", b"\r\n")):
        for cut in range(len(body) + 1):
            decoder = GeminiSSEDecoder(1 << 20)
            events = decoder.feed(body[:cut]) + decoder.feed(body[cut:]) + decoder.close()
            assert [e.event for e in events] == ["message", "message", BARE], cut
            assert orjson.loads(events[2].data)["error"]["status"] == "UNAVAILABLE"


def test_decoder_counts_brackets_outside_strings_only() -> None:
    """Brackets and escaped quotes inside a message do not end the object early."""
    bare = (
        b'{\n  "error": {\n    "message": "odd } and { and \\" } \\\\",\n'
        b'    "details": [{"x": "]"}],\n    "status": "UNAVAILABLE"\n  }\n}\n'
    )
    decoder = GeminiSSEDecoder(1 << 20)
    events = decoder.feed(bare)  # no close(): recognised as soon as its last brace arrives
    assert [e.event for e in events] == [BARE]
    assert orjson.loads(events[0].data)["error"]["message"] == 'odd } and { and " } \\'


def test_decoder_is_linear_on_a_long_open_object() -> None:
    """200k lines that each end in ``}`` while the object stays open: one pass, not a parse
    attempt per line over the growing buffer."""
    body = b'{"a": [{}\n' + b",{}\n" * 200_000 + b"]}\n"
    decoder = GeminiSSEDecoder(8 << 20)
    started = time.monotonic()
    assert decoder.feed(body[:-3]) == []
    events = decoder.feed(body[-3:])
    # One pass: 0.5 s on a quiet 2-core machine. A parse attempt per line would rescan a buffer
    # growing to 800 KB 200k times, some 80 GB: over a minute.
    assert time.monotonic() - started < 10.0
    assert len(orjson.loads(events[0].data)["a"]) == 200_001


def test_decoder_ignores_stray_lines_like_whatwg() -> None:
    decoder = GeminiSSEDecoder(1 << 20)
    events = decoder.feed(b"hello there\nfoo: bar\n: ping\n\ndata: {}\n\n") + decoder.close()
    assert [(e.event, e.data) for e in events] == [("message", "{}")]


# --- the end of a stream without a terminator --------------------------------------------------


@pytest.mark.parametrize("ending", ["chunked-terminator", "connection-close", "fin-mid-framing"])
async def test_eof_after_finish_reason_finishes(fake: FakeUpstream, ending: str) -> None:
    """The body just ends: whether by the chunked terminator, by closing a body that has no
    length, or by a FIN before the chunked terminator, the finishReason made it complete."""
    if ending == "chunked-terminator":
        fake.default = body_of(raw(TEXT_STOP), end_chunked())
    elif ending == "connection-close":
        fake.default = Script([headers(200, chunked=False), wire(TEXT_STOP)])
    else:
        fake.default = body_of(raw(TEXT_STOP))  # the script's end is a bare FIN
    events, error = await run(make(fake.url))
    assert error is None
    check_grammar(events)
    assert isinstance(events[-1], Finish) and events[-1].reason == "stop"
    assert accumulate(events).text == "Hello"


@pytest.mark.parametrize("ending", ["chunked-terminator", "fin-mid-framing"])
async def test_eof_without_finish_reason_is_disconnected(fake: FakeUpstream, ending: str) -> None:
    unfinished = data(chunk({"text": "Hel"}))
    fake.default = body_of(raw(unfinished), *([end_chunked()] if ending[0] == "c" else []))
    events, error = await run(make(fake.url))
    assert isinstance(error, UpstreamDisconnected)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel"]


async def test_blocked_prompt_finishes_with_content_filter(fake: FakeUpstream) -> None:
    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {}}
    fake.default = body_of(raw(data(blocked)), end_chunked())
    events, error = await run(make(fake.url))
    assert error is None
    assert events[-1] == Finish(reason="content-filter", raw_reason="PROHIBITED_CONTENT")


# --- the request -------------------------------------------------------------------------------


async def test_request_path_key_header_and_body(fake: FakeUpstream) -> None:
    fake.default = body_of(raw(TEXT_STOP), end_chunked())
    events, error = await run(make(fake.url + "/"))
    assert error is None and accumulate(events).text == "Hello"
    rec = fake.requests[0]
    assert rec.method == "POST"
    assert rec.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert rec.headers["x-goog-api-key"] == KEY
    assert KEY not in rec.path and "key=" not in rec.path  # never in a URL
    assert "authorization" not in rec.headers
    assert rec.json == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True}},
    }


async def test_key_from_environment(fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google-env")
    fake.default = body_of(raw(TEXT_STOP), end_chunked())
    await run(GeminiProvider("g", {"base_url": fake.url, "max_retries": 0}))
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini-env")  # preferred when both are set
    await run(GeminiProvider("g", {"base_url": fake.url, "max_retries": 0}))
    monkeypatch.setenv("MY_KEY", "from-my-env")
    await run(GeminiProvider("g", {"base_url": fake.url, "api_key_env": "MY_KEY"}))
    keys = [r.headers.get("x-goog-api-key") for r in fake.requests]
    assert keys == ["from-google-env", "from-gemini-env", "from-my-env"]


async def test_no_key_sends_no_key_header(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)
    fake.default = body_of(raw(TEXT_STOP), end_chunked())
    await run(GeminiProvider("g", {"base_url": fake.url, "include_thoughts": False}))
    rec = fake.requests[0]
    assert "x-goog-api-key" not in rec.headers
    assert "generationConfig" not in rec.json


async def test_bad_key_400_is_an_auth_error_and_redacted(fake: FakeUpstream) -> None:
    """Gemini answers an invalid key with 400 INVALID_ARGUMENT; only ``details`` says why."""
    body = {
        "error": {
            "code": 400,
            "message": f"API key not valid: {KEY}. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ],
        }
    }
    fake.default = Script(respond(400, body))
    _, error = await run(make(fake.url))
    assert isinstance(error, UpstreamAuth) and error.status_code == 400
    assert KEY not in error.message and "API key not valid" in error.message


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        GeminiProvider("g", {"api_key": "k", "temperature": 1})
    with pytest.raises(ConfigError, match="include_thoughts"):
        GeminiProvider("g", {"api_key": "k", "include_thoughts": "no"})
    provider = create_provider("vertex", {"kind": "gemini", "api_key": "k", "models": ["x"]})
    assert isinstance(provider, GeminiProvider) and list(provider.models) == ["x"]
    assert provider.url("models/gemini-2.5-pro").startswith(
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:"
    )


# --- through a real aichatflow server ----------------------------------------------------------


async def test_native_endpoint_bare_error_is_one_error_frame(
    fake: FakeUpstream, start_server: Any, server_logs: LogCapture
) -> None:
    """Browser protocol: the text frames, then exactly one ``error`` frame (overloaded,
    retryable), the response ends, and the upstream connection is closed."""
    texts = data(chunk({"text": "Hel"})) + data(chunk({"text": "lo"}))
    fake.default = body_of(raw(texts), raw(BARE_503[ERROR_AT:]), stall(5))
    server: RunningServer = start_server(
        providers={"g": {"kind": "gemini", "base_url": fake.url, "api_key": KEY, "max_retries": 2}}
    )
    result = await chat(server.url, NATIVE, body=chat_body(NATIVE, model="g/gemini-2.5-flash"))
    assert result.status == 200
    assert result.text == "Hello"
    assert [f.event for f in result.frames if f.event not in ("text",)] == ["start", "error"]
    assert result.error is not None
    assert result.error["code"] == "upstream_overloaded" and result.error["retryable"] is True
    assert "high demand" in result.error["message"]
    assert fake.attempts == 1  # content was sent: never retried
    assert_clean(result, fake, server_logs)
