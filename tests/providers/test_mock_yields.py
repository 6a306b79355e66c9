"""A ``tokens_per_second = 0`` mock answer never takes the event loop for itself.

Its batches are ready at once and a reader that keeps up leaves room in the socket for every
write, so nothing in the stream ever suspended: a 300,000-token answer kept ``/healthz``
waiting 3.8 s (and every other stream and timer of the process). Measured on the real command,
with the reader and the health checks in this process and the server in its own.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.support.serve_process import raw_chat_request, serve_process

FAST = '[providers.fast]\nkind = "mock"\ntokens_per_second = 0\nfirst_token_ms = 0\n'


async def _read_all(port: int, request: bytes) -> int:
    """Read a whole stream as fast as possible; returns its size in bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        size, tail = 0, b""
        while b"event: done" not in tail:
            chunk = await reader.read(1 << 20)
            assert chunk, "the stream ended without its done frame"
            size += len(chunk)
            tail = tail[-16:] + chunk
    finally:
        writer.close()
    return size


async def test_healthz_answers_during_a_long_full_speed_answer(tmp_path: Path) -> None:
    with serve_process(tmp_path, FAST) as server:
        request = raw_chat_request("fast/chat", max_tokens=300_000)
        stream = asyncio.create_task(_read_all(server.port, request))
        waits: list[float] = []
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await asyncio.sleep(0.2)  # the answer is streaming by now
            while not stream.done():
                started = time.monotonic()
                assert (await client.get("/healthz")).status_code == 200
                waits.append(time.monotonic() - started)
                await asyncio.sleep(0.05)
        size = await stream
    # the whole answer came: at least two bytes a token (serve journals by default, and a reader
    # that falls behind gets many tokens in one frame; on the direct path each is a frame)
    assert size > 300_000 * 2
    assert waits, "the answer ended before the first health check"
    # Measured: 5-11 ms each; one wait of 3.5 s (the whole answer) before the mock yielded.
    assert max(waits) < 1.0, f"/healthz waits, s: {[round(w, 3) for w in waits]}"
