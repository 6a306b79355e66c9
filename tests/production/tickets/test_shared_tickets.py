"""Tickets shared by instances through Redis, on real servers (uvicorn on 127.0.0.1): what a
browser's ``EventSource`` does when its reconnect lands on another worker or instance.

A ticket minted on instance A opens a stream on instance B, once; ten requests with one ticket
sent at once to both instances let exactly one in; a ticket stands for its key as configured on
the instance that redeems it (disabled or unknown there: 401); and with the Redis stopped,
minting and redeeming answer 503 JSON, fail closed, with the URL's password nowhere, while
requests with a key in a header go on.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from aichatflow.config import key_digest
from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.redis_server import redis_process
from tests.support.server import LogCapture, RunningServer, serve

pytestmark = pytest.mark.timeout(60)

PROVIDERS = {"fast": {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}}
CHAT = {"model": "fast/chat", "messages": [{"role": "user", "content": "hello"}]}


def new_key() -> tuple[str, str]:
    """A raw key and an id of its own (tests share the session's Redis and its namespace)."""
    return "acf-" + uuid.uuid4().hex + uuid.uuid4().hex, "k-" + uuid.uuid4().hex[:12]


def start(stack: ExitStack, storage: str, *keys: dict[str, Any]) -> RunningServer:
    settings = make_settings(
        providers=PROVIDERS,
        default_model="fast/chat",
        auth={"keys": list(keys)},
        limits={"storage": storage},
    )
    return stack.enter_context(serve(create_app(settings)))


def key_entry(raw: str, key_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": key_id, "sha256": key_digest(raw), **fields}


def mint(server: RunningServer, raw: str) -> str:
    response = httpx.post(
        server.url + "/api/tickets", headers={"authorization": f"Bearer {raw}"}, timeout=15
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    ticket: str = response.json()["ticket"]
    return ticket


@pytest.fixture
def two_instances(redis_url: str) -> Iterator[tuple[str, list[RunningServer]]]:
    raw, key_id = new_key()
    with ExitStack() as stack:
        yield raw, [start(stack, redis_url, key_entry(raw, key_id)) for _ in range(2)]


def test_a_ticket_minted_on_one_instance_opens_a_stream_on_another_once(
    two_instances: tuple[str, list[RunningServer]],
) -> None:
    raw, (a, b) = two_instances
    ticket = mint(a, raw)
    with httpx.Client(timeout=15) as http:
        stream = http.post(b.url + "/api/chat", json=CHAT, params={"ticket": ticket})
        assert stream.status_code == 200, stream.text
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "event: done" in stream.text
        for server in (b, a):
            again = http.post(server.url + "/api/chat", json=CHAT, params={"ticket": ticket})
            assert again.status_code == 401 and "already used" in again.json()["error"]["message"]
        # and the other way round, on another route
        back = mint(b, raw)
        assert http.get(a.url + "/api/config", params={"ticket": back}).status_code == 200
        assert http.get(b.url + "/api/config", params={"ticket": back}).status_code == 401


async def test_one_ticket_sent_ten_times_at_once_to_two_instances_lets_one_in(
    two_instances: tuple[str, list[RunningServer]],
) -> None:
    raw, servers = two_instances
    async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=20)) as http:
        for _ in range(5):
            ticket = mint(servers[0], raw)
            responses = await asyncio.gather(
                *(
                    http.get(servers[i % 2].url + "/api/config", params={"ticket": ticket})
                    for i in range(10)
                )
            )
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200] + [401] * 9, statuses


def test_a_ticket_stands_for_its_key_as_the_redeeming_instance_configures_it(
    redis_url: str,
) -> None:
    """No runtime reload exists: a key is disabled by a new configuration, which a rolling
    deploy brings to some instances first. A ticket minted where the key was still enabled is
    refused where it is disabled, or unknown."""
    raw, key_id = new_key()
    with ExitStack() as stack:
        enabled = start(stack, redis_url, key_entry(raw, key_id))
        disabled = start(stack, redis_url, key_entry(raw, key_id, disabled=True))
        other_raw, other_id = new_key()
        unaware = start(stack, redis_url, key_entry(other_raw, other_id))
        limited = start(stack, redis_url, key_entry(raw, key_id, models=["other/*"]))
        with httpx.Client(timeout=15) as http:
            for refusing in (disabled, unaware):
                ticket = mint(enabled, raw)
                refused = http.get(refusing.url + "/api/config", params={"ticket": ticket})
                assert refused.status_code == 401
                assert refused.json()["error"]["code"] == "unauthorized"
                assert ticket not in refused.text
            # redeemed on a peer where the key may not use the model: the peer's globs apply
            ticket = mint(enabled, raw)
            forbidden = http.post(limited.url + "/api/chat", json=CHAT, params={"ticket": ticket})
            assert forbidden.status_code == 403
            assert f"'{key_id}'" in forbidden.json()["error"]["message"]


def test_redis_stopped_tickets_fail_closed_with_503_and_no_password(
    tmp_path: Path, server_logs: LogCapture
) -> None:
    password = "tickets-redis-secret-" + uuid.uuid4().hex[:8]
    raw, key_id = new_key()
    with ExitStack() as stack:
        with redis_process(tmp_path, password=password) as url:
            assert password in url
            server = start(stack, url, key_entry(raw, key_id))
            minted = mint(server, raw)
        # the Redis is stopped now
        auth = {"authorization": f"Bearer {raw}"}
        with httpx.Client(base_url=server.url, timeout=15) as http:
            responses = [
                http.post("/api/tickets", headers=auth),
                http.get("/api/config", params={"ticket": minted}),
                http.post("/api/chat", json=CHAT, params={"ticket": minted}),
                http.post("/v1/chat/completions", json=CHAT, params={"ticket": minted}),
            ]
            for response in responses:
                assert response.status_code == 503, response.text
                assert response.headers["content-type"].startswith("application/json")
                assert response.headers["retry-after"] == "1"
                assert response.json()["error"]["code"] == "over_capacity"
                assert password not in response.text and password not in str(response.headers)
            # a key in a header needs no Redis: those requests go on
            assert http.get("/api/config", headers=auth).status_code == 200
            chat = http.post("/api/chat", json=CHAT, headers=auth)
            assert chat.status_code == 200 and "event: done" in chat.text
    logged = server_logs.text()
    assert "tickets: Redis at redis://:[REDACTED]@127.0.0.1" in logged
    assert password not in logged and minted not in logged
    assert "Traceback" not in logged
