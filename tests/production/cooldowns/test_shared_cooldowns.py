"""Fallback cooldowns shared through Redis (``server/redis_cooldowns.py``): real servers on one
real ``redis-server``, a fake upstream deployment that fails, its hit count as the proof.

Every test names its deployments afresh (the session's Redis is shared by all tests, and
cooldowns are keyed by deployment name)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from starlette.applications import Starlette

from aichatflow.providers.fallback import Cooldowns
from aichatflow.server import create_app
from aichatflow.server.redis_cooldowns import PREFIX
from tests.conftest import make_settings
from tests.support.client import stream_chat, user
from tests.support.processes import free_port
from tests.support.redis_server import redis_process
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, Script, openai_stream, respond

BOUND = 5.0
"""Seconds news may take from one instance to another: generous (it takes milliseconds)."""
FAILS = Script(respond(500, {"error": {"message": "boom"}}))
FAST = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
BODY = {"model": "safe", "messages": user("ok")}


class Chain:
    """A fallback chain ``safe`` = [primary (the fake upstream), backup (a mock)], under names
    of its own."""

    def __init__(self, fake: FakeUpstream, *, backup_fails: bool = False) -> None:
        tag = uuid.uuid4().hex[:10]
        self.primary_provider, self.backup_provider = f"p{tag}", f"b{tag}"
        self.primary, self.backup = f"p{tag}/m", f"b{tag}/echo"
        backup = {**FAST, "error_after": 0} if backup_fails else FAST
        self.providers = {
            self.primary_provider: {
                "kind": "openai-compatible",
                "base_url": f"{fake.url}/v1",
                "max_retries": 0,
            },
            self.backup_provider: backup,
        }

    def app(self, storage: str, **fallback: Any) -> Starlette:
        settings = make_settings(
            providers=self.providers,
            models={"safe": [self.primary, self.backup]},
            fallback={"allowed_fails": 0, "cooldown": 60, **fallback},
            limits={"storage": storage},
        )
        return create_app(settings)


def cooldowns(server: RunningServer) -> Cooldowns:
    found: Cooldowns = server.app.state.registry.cooldowns  # type: ignore[attr-defined]
    return found


async def eventually(condition: Callable[[], bool], what: str) -> float:
    """Seconds until ``condition`` held; fails the test past ``BOUND``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < BOUND, f"not within {BOUND}s: {what}"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def servers() -> Iterator[Callable[[Starlette], RunningServer]]:
    with ExitStack() as stack:

        def start(app: Starlette) -> RunningServer:
            running = stack.enter_context(serve(app))
            running.app = app  # type: ignore[attr-defined]
            return running

        yield start


async def subscribers(url: str, want: int) -> None:
    """Wait until ``want`` followers listen on the channel of ``url``'s Redis."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        started = time.monotonic()
        while True:
            [(_, count)] = await client.pubsub_numsub(PREFIX + "news")
            if count == want:
                return
            assert time.monotonic() - started < BOUND, f"{count} followers, not {want}"
            await asyncio.sleep(0.01)
    finally:
        await client.aclose()


async def test_a_failure_on_one_instance_spares_the_others(
    fake: FakeUpstream, redis_url: str, servers: Callable[[Starlette], RunningServer]
) -> None:
    fake.default = FAILS
    chain = Chain(fake)
    a, b = servers(chain.app(redis_url)), servers(chain.app(redis_url))
    got = await stream_chat(a.url, BODY)
    assert got.text() == "ok" and got.data("model")[0] == {"deployment": chain.backup}
    assert fake.attempts == 1
    await eventually(lambda: not cooldowns(b).available(chain.primary), "B learns of it")
    for _ in range(3):
        got = await stream_chat(b.url, BODY)
        assert got.text() == "ok" and got.names()[-1] == "done"
    assert fake.attempts == 1  # B never paid an attempt of its own
    # An instance started during the outage reads the cooldowns in force at start.
    c = servers(chain.app(redis_url))
    await eventually(lambda: not cooldowns(c).available(chain.primary), "C reads it at start")
    assert (await stream_chat(c.url, BODY)).text() == "ok"
    assert fake.attempts == 1


async def test_failures_count_towards_allowed_fails_across_instances(
    fake: FakeUpstream, redis_url: str, servers: Callable[[Starlette], RunningServer]
) -> None:
    """One failure is allowed in all, not one per instance: A's and B's single failures
    together put the deployment in cooldown, on A too."""
    fake.default = FAILS
    chain = Chain(fake)
    a, b = servers(chain.app(redis_url, allowed_fails=1)), servers(chain.app(redis_url))
    assert (await stream_chat(a.url, BODY)).text() == "ok"
    assert cooldowns(a).available(chain.primary)  # one failure is allowed
    assert (await stream_chat(b.url, BODY)).text() == "ok"
    assert fake.attempts == 2
    await eventually(lambda: not cooldowns(a).available(chain.primary), "A learns of it")
    assert (await stream_chat(a.url, BODY)).text() == "ok"
    assert fake.attempts == 2


async def test_a_success_anywhere_lifts_the_cooldown_everywhere(
    fake: FakeUpstream, redis_url: str, servers: Callable[[Starlette], RunningServer]
) -> None:
    """Both deployments fail on A, so both cool down everywhere; B then tries the one whose
    cooldown ends first (as every instance would), it answers, and A uses it again at once,
    long before its 60 s cooldown would have ended."""
    fake.queue(FAILS)
    fake.default = Script(openai_stream(["back", " again"]))
    chain = Chain(fake, backup_fails=True)
    a, b = servers(chain.app(redis_url)), servers(chain.app(redis_url))
    got = await stream_chat(a.url, BODY)
    assert got.names()[-1] == "error" and fake.attempts == 1
    await eventually(
        lambda: (
            not cooldowns(b).available(chain.primary) and not cooldowns(b).available(chain.backup)
        ),
        "B learns of both",
    )
    assert not cooldowns(a).available(chain.primary)
    got = await stream_chat(b.url, BODY)
    assert got.text() == "back again" and fake.attempts == 2
    await eventually(lambda: cooldowns(a).available(chain.primary), "A hears it answered")
    assert not cooldowns(a).available(chain.backup)  # only the one that answered
    got = await stream_chat(a.url, BODY)
    assert got.text() == "back again" and fake.attempts == 3


async def test_without_redis_requests_are_served_with_one_warning(
    fake: FakeUpstream, server_logs: LogCapture, servers: Callable[[Starlette], RunningServer]
) -> None:
    """Nothing listens at the URL: every request is served, at once, each instance keeps its
    own cooldowns, and the logs say so once, without the password."""
    fake.default = FAILS
    chain = Chain(fake)
    a = servers(chain.app(f"redis://:sekrit-pw@127.0.0.1:{free_port()}/0"))
    for _ in range(4):
        started = time.monotonic()
        got = await stream_chat(a.url, BODY)
        assert got.text() == "ok" and got.names()[-1] == "done"
        assert time.monotonic() - started < 1.5  # never waits for Redis (its timeout is 2 s)
    assert fake.attempts == 1  # the local cooldown still spares the deployment
    warnings = [r for r in server_logs.records if r.name == "aichatflow.cooldowns"]
    assert [r.levelname for r in warnings] == ["WARNING"], server_logs.text()
    assert "unreachable" in warnings[0].getMessage()
    assert "sekrit-pw" not in server_logs.text()
    assert "Traceback" not in server_logs.text()


async def test_redis_lost_then_back(
    fake: FakeUpstream,
    server_logs: LogCapture,
    servers: Callable[[Starlette], RunningServer],
    tmp_path: Any,
) -> None:
    """Redis dies under two running instances: requests go on (one warning); it comes back
    on the same port: sharing resumes by itself."""
    fake.default = FAILS
    chain = Chain(fake)
    (tmp_path / "first").mkdir()
    with redis_process(tmp_path / "first") as url:
        a, b = servers(chain.app(url)), servers(chain.app(url))
        await subscribers(url, 2)
    for _ in range(2):
        assert (await stream_chat(a.url, BODY)).text() == "ok"
    assert fake.attempts == 1
    await asyncio.sleep(0.3)
    warnings = [r for r in server_logs.records if r.name == "aichatflow.cooldowns"]
    assert {r.levelname for r in warnings} == {"WARNING"}
    assert len(warnings) <= 2, server_logs.text()  # one per instance, throttled after
    assert cooldowns(b).available(chain.primary)  # B could not learn of it
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    restarted = tmp_path / "second"
    restarted.mkdir()
    with redis_process(restarted, port=port) as again:
        assert again == url
        await eventually(
            lambda: sum("reachable again" in r.getMessage() for r in server_logs.records) == 2,
            "both followers say they are back",
        )
        await subscribers(url, 2)
        cooldowns(a).clear(chain.primary)  # A forgets, and fails once more: now it is shared
        assert (await stream_chat(a.url, BODY)).text() == "ok"
        assert fake.attempts == 2
        await eventually(lambda: not cooldowns(b).available(chain.primary), "B learns again")


async def test_shutdown_leaves_no_task(fake: FakeUpstream, redis_url: str) -> None:
    chain = Chain(fake)
    app = chain.app(redis_url)
    registry = app.state.registry

    def ours() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if t.get_name().startswith("aichatflow-cool")]

    assert registry.cooldowns.sharing is None
    async with app.router.lifespan_context(app):
        assert len(ours()) == 2
        assert registry.cooldowns.sharing is not None
        await asyncio.sleep(0.2)  # connected and subscribed
    assert ours() == []
    assert registry.cooldowns.sharing is None


async def test_nothing_is_shared_without_a_chain_or_with_memory_storage(
    fake: FakeUpstream, redis_url: str
) -> None:
    chain = Chain(fake)
    for app in (
        chain.app("memory://"),
        chain.app(redis_url, cooldown=0),
        create_app(make_settings(providers=chain.providers, limits={"storage": redis_url})),
    ):
        async with app.router.lifespan_context(app):
            assert app.state.registry.cooldowns.sharing is None
            assert not [t for t in asyncio.all_tasks() if "cooldowns" in t.get_name()]


async def test_a_frozen_redis_is_noticed_and_left(server_logs: LogCapture, tmp_path: Any) -> None:
    """A Redis that stops answering without closing anything (frozen, cut off: no FIN ever
    comes) is noticed by the follower's pings, and followed again once it answers."""
    import redis.asyncio

    from aichatflow.server.redis_cooldowns import RedisCooldowns

    ping = 0.2
    with redis_process(tmp_path) as url:
        admin = redis.asyncio.Redis.from_url(url)
        pid = int((await admin.info("server"))["process_id"])
        await admin.aclose()
        shared = RedisCooldowns(Cooldowns(), url, ping_every=ping, retry=0.1)
        shared.start()
        try:
            await subscribers(url, 1)
            os.kill(pid, signal.SIGSTOP)
            try:
                took = await eventually(
                    lambda: any(r.name == "aichatflow.cooldowns" for r in server_logs.records),
                    "the silence is noticed",
                )
                assert took >= 2 * ping  # pings went unanswered first
                assert "unreachable" in server_logs.records[-1].getMessage()
            finally:
                os.kill(pid, signal.SIGCONT)
            await eventually(
                lambda: any("reachable again" in r.getMessage() for r in server_logs.records),
                "it follows again",
            )
            await subscribers(url, 1)
        finally:
            await shared.aclose()
