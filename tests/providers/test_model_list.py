"""``UpstreamModelList``: the cache behind ``/v1/models`` for upstreams that list their models.

Its contract is timing (one fetch at a time, at most once per TTL, nobody waits twice) and
survival (a failing or hanging upstream never raises, never empties a known list), so these
tests drive it with fetch functions that count, fail or hang on demand. The same class on real
sockets is in ``tests/clients/test_openai_sdk_models.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import pytest

from aichatflow.errors import UpstreamAuth
from aichatflow.providers._model_list import UpstreamModelList


class Upstream:
    """A fetch function that answers ``lists`` in turn (an exception is raised), counting.

    A fetch takes ``delay`` seconds, and hangs while ``held`` is cleared: a caller that returns
    while it hangs did not wait for it, however slow the machine."""

    def __init__(self, *answers: list[str] | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay = delay
        self.calls = 0
        self.held = asyncio.Event()
        self.held.set()

    async def fetch(self) -> Iterable[str]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        await self.held.wait()
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_concurrent_callers_share_one_fetch() -> None:
    up = Upstream(["a", "b", "a"], delay=0.05)
    models = UpstreamModelList("p", up.fetch)
    await asyncio.gather(*(models.refresh() for _ in range(5)))
    assert up.calls == 1
    assert models.ids == ("a", "b")  # deduplicated, upstream order
    await models.refresh()
    assert up.calls == 1  # fresh: not asked again


async def test_a_stale_list_is_served_while_it_refreshes() -> None:
    up = Upstream(["old"], ["new"])
    models = UpstreamModelList("p", up.fetch, ttl=0.05, wait=30.0)
    await models.refresh()
    await asyncio.sleep(0.1)  # now stale
    up.held.clear()
    # Returns while the refresh hangs: it did not wait for it (waiting, it would for 30 s).
    await asyncio.wait_for(models.refresh(), 2.0)
    assert models.ids == ("old",)
    up.held.set()
    await asyncio.sleep(0.4)
    assert models.ids == ("new",)
    assert up.calls == 2


async def test_a_failure_keeps_the_known_list_and_retries_later() -> None:
    up = Upstream(["a"], UpstreamAuth("p: bad key"), ["b"])
    models = UpstreamModelList("p", up.fetch, ttl=0.0, retry_after=1.0)
    await models.refresh()
    assert models.ids == ("a",)
    await models.refresh()  # due at once (ttl 0): the fetch fails in the background
    await asyncio.sleep(0.05)
    assert (up.calls, models.ids) == (2, ("a",))
    await models.refresh()  # within retry_after: not asked
    assert up.calls == 2
    await asyncio.sleep(1.0)
    await models.refresh()
    await asyncio.sleep(0.05)
    assert (up.calls, models.ids) == (3, ("b",))


async def test_a_hanging_fetch_is_waited_for_once_and_bounded() -> None:
    up = Upstream(["late"])
    up.held.clear()  # hangs until released, past the 30 s fetch timeout if need be
    models = UpstreamModelList("p", up.fetch, wait=1.0, fetch_timeout=30.0)
    t0 = time.monotonic()
    await models.refresh()
    assert 0.98 <= time.monotonic() - t0 < 3.0  # its ``wait``, not the fetch (still hanging)
    assert models.ids == ()
    t1 = time.monotonic()
    await models.refresh()  # the first fetch still runs: nobody waits for it again
    assert time.monotonic() - t1 < 0.5  # half the 1 s a second wait would take
    up.held.set()
    await asyncio.sleep(0.1)
    assert models.ids == ("late",)
    assert up.calls == 1


async def test_a_fetch_past_its_timeout_fails() -> None:
    up = Upstream(["never"])
    up.held.clear()
    models = UpstreamModelList("p", up.fetch, wait=30.0, fetch_timeout=0.1)
    t0 = time.monotonic()
    await models.refresh()
    assert time.monotonic() - t0 < 2.0  # its 0.1 s fetch timeout, not the caller's 30 s wait
    assert models.ids == ()


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    up = Upstream(["a"])
    up.held.clear()
    models = UpstreamModelList("p", up.fetch)
    caller = asyncio.create_task(models.refresh())
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    up.held.set()
    await asyncio.sleep(0.3)
    assert models.ids == ("a",)


async def test_close_cancels_a_running_fetch() -> None:
    up = Upstream(["a"], delay=5.0)
    models = UpstreamModelList("p", up.fetch, wait=0.05)
    await models.refresh()
    task = models._task
    assert task is not None and not task.done()
    models.close()
    await asyncio.sleep(0)
    assert task.cancelled() or task.cancelling()
