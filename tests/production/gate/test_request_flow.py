"""The request flow every route goes through: request ids, and one access-log line per request.

Each response, whatever answered it (the page, a route, routing's 404, a chat stream, a chat
error before the stream, a stream that failed midway), carries ``x-request-id``; a valid one
sent by the client (a proxy's id) is kept, anything else replaced; error bodies and error frames
carry the same id. When the request is over, one line on ``aichatflow.access`` says how it
ended, in the form configured, and never holds the path's query (tickets travel there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import httpx_sse
import orjson
import pytest

from aichatflow.server.access_log import FIELDS
from tests.support.client import user
from tests.support.serve_process import serve_process
from tests.support.server import LogCapture, RunningServer

MOCK = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
SLOW = {"kind": "mock", "tokens_per_second": 20, "first_token_ms": 0}


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    providers = {"m": MOCK, "bad": {**MOCK, "error_after": 3, "models": ["fails"]}, "slow": SLOW}
    return start_server(providers=providers, log_format="json")


def access_messages(logs: LogCapture, n: int, timeout: float = 5.0) -> list[str]:
    """The access lines, once there are ``n`` (a stream's line follows its last byte)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [r.getMessage() for r in list(logs.records) if r.name == "aichatflow.access"]
        if len(lines) >= n or time.monotonic() > deadline:
            assert len(lines) >= n, lines
            return lines
        time.sleep(0.02)


def wait_lines(logs: LogCapture, n: int) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in access_messages(logs, n)]


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": user(), **extra}


def test_every_kind_of_response_carries_a_request_id(
    server: RunningServer, server_logs: LogCapture
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answers = [
            client.get("/"),
            client.get("/healthz"),
            client.get("/api/config"),
            client.get("/v1/models"),
            client.get("/nowhere"),
            client.post("/api/chat", json={"messages": "not a list"}),
            client.post("/v1/chat/completions", json=chat("nobody/x")),
            client.post("/api/chat", json=chat("m/chat")),
            client.post("/v1/chat/completions", json=chat("m/chat", stream=True)),
            client.post("/v1/chat/completions", json=chat("m/chat")),
        ]
    ids = [a.headers.get("x-request-id") for a in answers]
    assert all(ids), [(a.request.url.path, a.status_code) for a in answers]
    assert len(set(ids)) == len(ids)  # one id per request
    for answer in answers:
        if answer.status_code >= 400 and not answer.url.path.startswith("/v1"):
            assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]
        # OpenAI's error object has no such field: its SDK reads the header (``request_id``)
    # a line is written when its request is over, which may be after the next one's
    status_by_id = {line["request_id"]: line["status"] for line in wait_lines(server_logs, 10)}
    assert status_by_id == {a.headers["x-request-id"]: a.status_code for a in answers}


def test_a_valid_incoming_request_id_is_kept_everywhere(
    server: RunningServer, server_logs: LogCapture
) -> None:
    given = "trace-7f3a.9/b+c=d:e"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        ok = client.post("/api/chat", json=chat("m/chat"), headers={"x-request-id": given})
        bad = client.post("/api/chat", json={}, headers={"x-request-id": given})
        with client.stream(
            "POST", "/api/chat", json=chat("bad/fails"), headers={"x-request-id": given}
        ) as failed:
            frames = list(httpx_sse.EventSource(failed).iter_sse())
    assert ok.headers["x-request-id"] == bad.headers["x-request-id"] == given
    assert bad.json()["error"]["request_id"] == given
    assert failed.headers["x-request-id"] == given
    error = [f for f in frames if f.event == "error"]
    assert len(error) == 1 and orjson.loads(error[0].data)["request_id"] == given
    assert [line["request_id"] for line in wait_lines(server_logs, 3)] == [given] * 3


@pytest.mark.parametrize(
    "hostile",
    ["x" * 129, "has space", 'quo"te', "semi;colon", "new\\nline", "", "ünï"],
)
def test_an_invalid_incoming_request_id_is_replaced(
    server: RunningServer, server_logs: LogCapture, hostile: str
) -> None:
    raw = hostile.encode("utf-8")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = client.get("/healthz", headers=[(b"x-request-id", raw)])
    got = answer.headers["x-request-id"]
    assert got != hostile and len(got) == 16
    assert wait_lines(server_logs, 1)[0]["request_id"] == got


def test_a_stream_without_an_incoming_id_is_named_by_its_stream_id(
    server: RunningServer,
) -> None:
    with (
        httpx.Client(base_url=server.url, timeout=10) as client,
        client.stream("POST", "/api/chat", json=chat("m/chat")) as response,
    ):
        first = next(httpx_sse.EventSource(response).iter_sse())
    assert first.event == "start"
    assert orjson.loads(first.data)["stream_id"] == response.headers["x-request-id"]


def test_access_lines_say_how_each_stream_ended(
    server: RunningServer, server_logs: LogCapture
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answers = [
            client.post("/api/chat", json=chat("m/chat", max_tokens=5)),
            client.post("/api/chat", json=chat("bad/fails")),
        ]
        with client.stream("POST", "/api/chat", json=chat("slow/chat")) as response:
            for line in response.iter_lines():
                if line.startswith("event: text"):
                    break  # leave mid-stream
        answers += [response, client.post("/api/chat", json=chat("m/chat", max_tokens=0))]
    by_id = {line["request_id"]: line for line in wait_lines(server_logs, 4)}
    done, failed, left, invalid = (by_id[a.headers["x-request-id"]] for a in answers)
    assert set(done) == set(FIELDS)
    assert done["outcome"] == "done" and done["status"] == 200
    assert done["model"] == "m/chat" and done["deployment"] == "m/chat"
    assert done["output_tokens"] == 5 and done["input_tokens"] is not None
    assert done["ttft_ms"] is not None and done["duration_ms"] >= done["ttft_ms"]
    assert done["route"] == "/api/chat" and done["method"] == "POST"
    assert done["client_ip"] == "127.0.0.1" and done["key_id"] is None
    assert failed["outcome"] == "upstream_overloaded" and failed["status"] == 200
    assert left["outcome"] == "client_closed"
    assert invalid["status"] == 422 and invalid["outcome"] is None


def test_route_labels_stay_bounded_and_no_query_reaches_the_log(
    server: RunningServer, server_logs: LogCapture
) -> None:
    secret = "tk-SECRET-4c1d"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get(f"/healthz?ticket={secret}")
        client.get(f"/no/such/{secret}")
        client.get("/v1/models/m/chat")
        client.get("/static/app.js")
    lines = wait_lines(server_logs, 4)
    assert [line["route"] for line in lines] == [
        "/healthz",
        "other",
        "/v1/models/{model_id}",
        "/static",
    ]
    assert secret not in server_logs.text()


def test_text_access_lines_are_logfmt(
    start_server: Callable[..., RunningServer], server_logs: LogCapture
) -> None:
    running = start_server(providers={"m": MOCK})
    httpx.post(running.url + "/api/chat", json=chat("m/chat", max_tokens=2), timeout=10)
    line = access_messages(server_logs, 1)[0]
    pairs = dict(part.split("=", 1) for part in line.split(" "))
    assert pairs["route"] == "/api/chat" and pairs["outcome"] == "done"
    assert pairs["output_tokens"] == "2" and "key_id" not in pairs  # absent values left out


def test_serve_writes_json_access_lines_to_stdout(tmp_path: Path) -> None:
    """Under ``serve`` the lines go to stdout, bare (no level or logger name before the JSON),
    one per request, also for a request routing refused."""
    with serve_process(tmp_path, 'log_format = "json"\n') as server:
        httpx.post(server.url + "/api/chat", json=chat("mock/echo"), timeout=10)
        httpx.get(server.url + "/nowhere", timeout=10)
        deadline = time.monotonic() + 5
        while server.output().count('"route"') < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [orjson.loads(x) for x in server.output().splitlines() if x.startswith("{")]
    assert [(x["route"], x["status"]) for x in lines] == [
        ("/healthz", 200),  # serve_process's readiness probe
        ("/api/chat", 200),
        ("other", 404),
    ]
    assert lines[1]["outcome"] == "done" and lines[1]["model"] == "mock/echo"


def test_a_key_pasted_as_the_model_is_not_logged(
    server: RunningServer, server_logs: LogCapture
) -> None:
    """The model name is the client's text: a key typed into the wrong field (an unknown
    model, 404) is logged redacted, and a long name (the request allows 256 characters) is
    cut to 200."""
    pasted = "sk-proj-Zx81CANARYq0b7Lm2NvR4tYw9kD3fHs6"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/api/chat", json=chat(pasted)).status_code == 404
        assert client.post("/api/chat", json=chat("m/" + "x" * 254)).status_code == 200
    by_model_length = sorted(wait_lines(server_logs, 2), key=lambda line: len(line["model"]))
    pasted_line, long_line = by_model_length
    assert "CANARY" not in str(pasted_line) and "[REDACTED]" in pasted_line["model"]
    assert len(long_line["model"]) == 200
