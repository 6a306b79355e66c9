"""A worker of ``serve --workers 2`` killed while it holds streams: once the supervisor has
replaced it and the other streams closed, ``streams_active`` is back to 0. Its gauge file would
otherwise keep counting streams no process serves (``worker_exited``)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from .mix import KEY, parse
from .test_scrape import scrape, scrape_settled, serve, wait_for_workers

STREAMS = 12


def _active(path: Path) -> float:
    metrics = MultiProcessCollector.merge([str(path)], accumulate=True)
    return sum(s.value for m in metrics for s in m.samples if m.name == "aichatflow_streams_active")


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as children:
            found |= {int(c) for c in children.read().split()}
    return found


async def _hold(client: httpx.AsyncClient, url: str, started: asyncio.Event, n: list[int]) -> None:
    """A stream that gets one token and then waits (the ``stall`` mock), until cancelled."""
    body = {"model": "stall/chat", "messages": [{"role": "user", "content": "hi"}]}
    try:
        headers = {"authorization": f"Bearer {KEY}"}
        async with client.stream("POST", url + "/api/chat", json=body, headers=headers) as response:
            async for chunk in response.aiter_raw():
                if b"event: text" in chunk:
                    n[0] += 1
                    if n[0] == STREAMS:
                        started.set()
            await asyncio.Event().wait()
    except httpx.TransportError:
        return  # its worker was killed


async def test_a_killed_workers_streams_leave_the_gauge(tmp_path: Path) -> None:
    with serve(tmp_path, ["--workers", "2"]) as (url, proc):
        directory = await asyncio.to_thread(wait_for_workers, url, tmp_path, 2)
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=20.0, limits=limits, trust_env=False) as client:
            started, n = asyncio.Event(), [0]
            holders = [asyncio.create_task(_hold(client, url, started, n)) for _ in range(STREAMS)]
            await asyncio.wait_for(started.wait(), 20)
            active = parse(await asyncio.to_thread(scrape, url))
            assert (
                active[("aichatflow_streams_active", frozenset({("route", "/api/chat")}))]
                == STREAMS
            )
            held = {
                int(p.stem.rsplit("_", 1)[1]): _active(p)
                for p in directory.glob("gauge_livesum_*.db")
            }
            victim = max(held, key=lambda pid: held[pid])
            assert held[victim] > 0 and victim in _children(proc.pid)
            os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 20
            while len(_children(proc.pid) - {victim}) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the supervisor starts a replacement
            assert len(_children(proc.pid) - {victim}) == 2
            for holder in holders:
                holder.cancel()
            await asyncio.gather(*holders, return_exceptions=True)
        text = await asyncio.to_thread(scrape_settled, url)
        streams = [v for (name, _), v in parse(text).items() if name == "aichatflow_streams_active"]
        assert not any(streams), text  # no series at all when only the victim had streams
        assert not (directory / f"gauge_livesum_{victim}.db").exists()
