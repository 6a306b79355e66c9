"""A server that opens and loses streams all day holds steady memory.

``serve`` tunes the garbage collector (``server/runner.py``: ``gc.freeze()``, thresholds
50,000/50/100), so a full collection almost never runs: anything a stream leaves in a reference
cycle stays until one does. A stream whose parts held each other (the engine's run, its
watchdog entry and a writer holding the run back, with uvicorn's request cycle and transport)
would be such a cycle: 2,000 streams reset mid-stream per round would grow the process by
megabytes a round, without end (docs/performance.md, "No reference cycle per stream"). These
tests run the real command and read its ``VmRSS`` between rounds.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
from pathlib import Path

import pytest

from tests.support.serve_process import ServeProcess, raw_chat_request, serve_process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")

PACED = '[providers.paced]\nkind = "mock"\ntokens_per_second = 20\nfirst_token_ms = 0\n'
SHORT = (
    '[providers.short]\nkind = "mock"\ntokens_per_second = 100\nfirst_token_ms = 0\n'
    'text = "a short answer of ten words that ends on its own"\n'
)
JOURNALS = {
    "direct": '[journal]\nbackend = "off"\n',
    # finished runs expire after half a second (swept as new runs start), so what a round
    # leaves behind must go too, through the run task, the journal and its readers; a reset
    # reader cancels its run (with "continue", every round's runs would still be running
    # when the next one is measured)
    "journal": '[journal]\nbackend = "memory"\nttl = 0.5\n[stream]\non_disconnect = "cancel"\n',
}
LINGER_ZERO = struct.pack("ii", 1, 0)


async def _read_until(reader: asyncio.StreamReader, mark: bytes) -> None:
    seen = b""
    while mark not in seen:
        chunk = await reader.read(65536)
        assert chunk, f"the server closed before {mark!r}"
        seen = seen[-len(mark) :] + chunk


async def _open_then_reset(port: int, request: bytes, all_open: asyncio.Barrier) -> None:
    """One stream that gets its first token, waits until every stream of the round is live,
    then goes away with a RST (SO_LINGER 0), as a killed browser tab or a dropped phone does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await _read_until(reader, b"event: text")
        await all_open.wait()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
    finally:  # also when the round fails or times out: no socket left to the garbage collector
        writer.transport.abort()


async def _finish(port: int, request: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await _read_until(reader, b"event: done")
    finally:
        writer.close()


async def _settled_rss(server: ServeProcess) -> float:
    """RSS once the server has ended the round's streams (they end a moment after the RST)."""
    await asyncio.sleep(0.3)
    return server.rss_mib()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("journal", JOURNALS)
async def test_streams_reset_mid_stream_leave_no_memory_behind(
    tmp_path: Path, journal: str
) -> None:
    rounds, streams = 20, 600
    request = raw_chat_request("paced/chat")
    with serve_process(tmp_path, PACED + JOURNALS[journal]) as server:
        rss = [server.rss_mib()]
        for _ in range(rounds):
            all_open = asyncio.Barrier(streams)
            await asyncio.wait_for(
                asyncio.gather(
                    *(_open_then_reset(server.port, request, all_open) for _ in range(streams))
                ),
                30,
            )
            rss.append(await _settled_rss(server))
        output = server.output()
    figures = " ".join(f"{r:.1f}" for r in rss)
    print(f"RSS per round, MiB: {figures}")
    # Measured over the last 10 rounds: +0.1 MiB; +39 MiB (4 MiB a round, no plateau) when
    # every stream was a reference cycle.
    assert rss[-1] - rss[-11] < 4.0, f"RSS per round, MiB: {figures}"
    assert "Traceback" not in output, output[-3000:]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("journal", JOURNALS)
async def test_finished_streams_leave_no_memory_behind(tmp_path: Path, journal: str) -> None:
    """Streams that end normally (about 0.1 s each, 800 at once, as many as a round opens)."""
    rounds, streams = 20, 800
    request = raw_chat_request("short/chat")
    with serve_process(tmp_path, SHORT + JOURNALS[journal]) as server:
        rss = [server.rss_mib()]
        for _ in range(rounds):
            await asyncio.wait_for(
                asyncio.gather(*(_finish(server.port, request) for _ in range(streams))), 30
            )
            rss.append(await _settled_rss(server))
    figures = " ".join(f"{r:.1f}" for r in rss)
    print(f"RSS per round, MiB: {figures}")
    # Measured over the last 10 rounds: +0.2 MiB; +29.5 MiB before.
    assert rss[-1] - rss[-11] < 3.0, f"RSS per round, MiB: {figures}"
