"""``StreamWriter``: one write at a time, the times the watchdog reads, nothing after the end."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aichatflow.stream.writer import StreamWriter

HB = b": hb\n\n"


class GatedSend:
    """An ASGI ``send`` that records bodies and blocks each one until ``gate`` is set."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, message: dict[str, Any]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            if message["type"] == "http.response.body":
                self.bodies.append(message["body"])
        finally:
            self.in_flight -= 1


async def started(send: GatedSend, *, streaming: bool = True) -> StreamWriter:
    writer = StreamWriter(send, HB)
    await writer.start(200, [], streaming=streaming)
    return writer


async def test_a_data_write_waits_for_the_heartbeat_in_flight() -> None:
    send = GatedSend()
    writer = await started(send)
    send.gate.clear()
    writer.heartbeat()
    await asyncio.sleep(0)  # the heartbeat is now blocked in send
    assert writer.sending_since > 0
    data = asyncio.create_task(writer.write(b"data: 1\n\n"))
    await asyncio.sleep(0.01)
    assert send.in_flight == 1  # the data write did not start beside the blocked heartbeat
    send.gate.set()
    await data
    assert send.bodies == [HB, b"data: 1\n\n"]
    assert send.most_in_flight == 1
    assert writer.sending_since == 0.0 and writer.writes == 1  # heartbeats are not counted


async def test_no_heartbeat_starts_while_data_is_being_written() -> None:
    send = GatedSend()
    writer = await started(send)
    send.gate.clear()
    data = asyncio.create_task(writer.write(b"data: 1\n\n"))
    await asyncio.sleep(0)
    writer.heartbeat()
    send.gate.set()
    await data
    await asyncio.sleep(0)
    assert send.bodies == [b"data: 1\n\n"]


async def test_times_the_watchdog_reads() -> None:
    send = GatedSend()
    writer = await started(send)
    before = writer.last_write
    send.gate.clear()
    data = asyncio.create_task(writer.write(b"x"))
    await asyncio.sleep(0.02)
    assert writer.sending_since >= before  # a write in flight says since when
    send.gate.set()
    await data
    assert writer.sending_since == 0.0 and writer.last_write >= before + 0.02


@pytest.mark.parametrize("streaming", [True, False])
async def test_no_heartbeat_after_the_last_chunk_or_in_a_buffered_body(streaming: bool) -> None:
    send = GatedSend()
    writer = await started(send, streaming=streaming)
    if streaming:
        await writer.close(b"event: done\ndata: {}\n\n")
    writer.heartbeat()
    await asyncio.sleep(0)
    assert HB not in send.bodies


async def test_a_failed_heartbeat_marks_the_writer_broken() -> None:
    async def failing(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise OSError("connection reset")

    writer = StreamWriter(failing, HB)
    await writer.start(200, [])
    writer.heartbeat()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert writer.broken and writer.sending_since == 0.0


async def test_abandon_stops_a_heartbeat_blocked_on_a_frozen_client() -> None:
    send = GatedSend()
    writer = await started(send)
    send.gate.clear()
    writer.heartbeat()
    await asyncio.sleep(0)
    assert send.in_flight == 1
    writer.abandon()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert send.in_flight == 0 and writer.sending_since == 0.0
    writer.heartbeat()  # and none starts after
    await asyncio.sleep(0)
    assert send.in_flight == 0
