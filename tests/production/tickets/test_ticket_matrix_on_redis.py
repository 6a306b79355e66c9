"""The ticket cells of the auth matrix (RELIABILITY T28, ``tests/production/auth``) against two
Redis-backed instances, with every ticket minted on one and presented to the other: an expired
or used ticket is a 401 JSON error on every route, never a stream, and the upstream is reached
only by the requests a valid ticket opened; a valid ticket opens every route once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.production.auth.test_auth_matrix import (
    KEYS,
    ROUTES,
    TICKET_TTL,
    assert_refused,
    call,
    mint,
)
from tests.support.openai_chunks import openai_stream
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, Script

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def instances(redis_url: str, fake: FakeUpstream) -> Iterator[list[RunningServer]]:
    fake.default = Script(openai_stream(["Hel", "lo"]))
    settings = make_settings(
        providers={"up": fake.openai_provider("m1", "m2")},
        default_model="up/m1",
        auth={"keys": KEYS, "ticket_ttl": TICKET_TTL},
        limits={"storage": redis_url},
    )
    with ExitStack() as stack:
        yield [stack.enter_context(serve(create_app(settings))) for _ in range(2)]


def test_ticket_cells_across_two_redis_backed_instances(
    instances: list[RunningServer], fake: FakeUpstream, server_logs: LogCapture
) -> None:
    a, b = instances
    routes = [r for r in ROUTES if r.path != "/api/tickets"]  # only a key mints
    with (
        httpx.Client(base_url=a.url, timeout=15) as on_a,
        httpx.Client(base_url=b.url, timeout=15) as on_b,
    ):
        expired = [mint(on_a) for _ in routes]
        used = [mint(on_a) for _ in routes]
        for ticket in used:
            assert on_b.get("/api/config", params={"ticket": ticket}).status_code == 200
        time.sleep(TICKET_TTL + 0.3)
        for index, route in enumerate(routes):
            for name, ticket in (("expired", expired[index]), ("used", used[index])):
                response = call(on_b, route, params={"ticket": ticket})
                assert_refused(response, 401, ticket, cell=f"{route} {name} ticket on B")
        assert fake.attempts == 0, [r.path for r in fake.requests]
        chats = 0
        for route in routes:
            ticket = mint(on_a)
            response = call(on_b, route, params={"ticket": ticket})
            assert response.status_code == 200, (route, response.text)
            chats += route.chat
            for client in (on_a, on_b):
                reuse = call(client, route, params={"ticket": ticket})
                assert_refused(reuse, 401, ticket, cell=f"{route} reused")
    assert fake.attempts == chats == 3
    logged = server_logs.text()
    assert not [t for t in expired + used if t in logged or t[:12] in logged]
