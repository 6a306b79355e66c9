"""The stream engine's own CPU per event, with nothing around it.

A source of 200,000 one-event batches and an ASGI ``send`` that returns at once: what is left is
the pump, the native dialect's frame and the writer; three ways: without a request record (a
library user's stream), with one (the server's: the first content's time), and with one that
counts the gaps between content writes (the server with metrics on). Run against two
checkouts to compare:
``PYTHONPATH=<checkout>/src python benchmarks/profile_engine.py <label>`` (pin it with
``taskset -c 1`` on a shared machine; the best of 5 runs is printed).
"""

import asyncio
import sys
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import uvloop

from aichatflow.chat_stream import ChatStream
from aichatflow.dialects.native import NativeDialect
from aichatflow.events import ChatEvent, TextDelta
from aichatflow.request_record import GAP_BUCKETS, RequestRecord
from aichatflow.stream.engine import run_stream
from aichatflow.stream.limits import StreamLimits

N = 200_000
EV = TextDelta(text="hello")


async def batches() -> AsyncIterator[list[ChatEvent]]:
    b: list[ChatEvent] = [EV]
    for _ in range(N):
        yield b


async def main() -> None:
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()
        return {"type": "http.disconnect"}

    n = 0

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal n
        n += 1

    label = sys.argv[1] if len(sys.argv) > 1 else "engine"
    loop = asyncio.get_running_loop()
    for way in ("no record", "record", "record + gaps"):
        best = 1e9
        for _ in range(5):
            d = NativeDialect("abc", "m")
            record = None
            if way != "no record":
                record = RequestRecord("abc", "POST", "/api/chat", "", loop.time())
                if way == "record + gaps":
                    record.gaps = [0] * (len(GAP_BUCKETS) + 1)
            source = ChatStream(batches())
            t = time.perf_counter()
            await run_stream(receive, send, source, d, StreamLimits(), record=record)
            best = min(best, time.perf_counter() - t)
        print(f"{label} ({way}): {best / N * 1e6:.3f} µs per event (best of 5), {n} sends")


if __name__ == "__main__":
    uvloop.run(main())
