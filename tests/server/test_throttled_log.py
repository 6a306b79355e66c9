"""Refusal warnings: the first logged at once, a flood summed up (``throttled_log.py``)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aichatflow.throttled_log import ThrottledWarning

LOG = logging.getLogger("aichatflow.test.throttled")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG.name]


async def test_a_flood_is_one_line_then_one_summary_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOG.name)
    warning = ThrottledWarning(LOG, "refused %d more", interval=0.2)
    for i in range(50):
        warning.warn("refused client %d", i)
    assert _lines(caplog) == ["refused client 0"]
    await asyncio.sleep(0.3)
    assert _lines(caplog) == ["refused client 0", "refused 49 more in the last 0.2 s"]
    for i in range(3):  # the flood goes on: still summed up, not logged one by one
        warning.warn("refused client %d", 50 + i)
    await asyncio.sleep(0.3)
    assert _lines(caplog)[2:] == ["refused 3 more in the last 0.2 s"]
    await asyncio.sleep(0.3)  # quiet: nothing more is logged, and the next one is logged at once
    warning.warn("refused client %d", 99)
    assert _lines(caplog)[3:] == ["refused client 99"]
    assert warning.total == 54


def test_a_count_held_when_its_event_loop_ended_is_reported_by_the_next_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOG.name)
    warning = ThrottledWarning(LOG, "refused %d more", interval=0.2)

    async def burst(n: int) -> None:
        for i in range(n):
            warning.warn("refused client %d", i)

    asyncio.run(burst(4))  # the loop ends before the summary is due

    async def later() -> None:
        await asyncio.sleep(0.3)
        await burst(1)

    asyncio.run(later())
    assert _lines(caplog) == [
        "refused client 0",
        "refused 3 more in the last 0.2 s",
        "refused client 0",
    ]
