"""Scenario ``churn``: does ``aichatflow serve`` hold steady memory while streams come and go?

``serve`` tunes the garbage collector (``server/runner.py``, ``tune_gc``): a collection of
everything almost never runs, so anything a stream leaves in a reference cycle accumulates.
This runs rounds of streams against one server and prints its ``VmRSS`` after each round:

* ``reset``: ``--streams`` streams opened at once (mock at 20 tokens/s), each read until its
  first text frame, then all dropped with a RST (``SO_LINGER`` 0), as killed tabs do;
* ``finish``: ``--streams`` whole answers (mock at full speed, 64 tokens per batch), read to
  their ``done`` frame, ``--concurrency`` at a time.

A server that frees everything levels off after a round or two; one that leaks grows every
round. Run: ``.venv/bin/python benchmarks/run_churn.py --mode reset --streams 2000 --rounds 10``
(about half a minute) or ``--mode finish --streams 3000 --rounds 10`` (30,000 streams).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import tempfile
import time
from pathlib import Path

import orjson
from _common import CLIENT_CPU, HOST, SERVER_CPU, pin_self, raise_nofile, rss_kib
from _stacks import aichatflow_server

LINGER_ZERO = struct.pack("ii", 1, 0)


def _request(model: str) -> bytes:
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    head = "POST /api/chat HTTP/1.1\r\nhost: b\r\ncontent-type: application/json\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


async def _read_until(reader: asyncio.StreamReader, mark: bytes) -> None:
    seen = b""
    while mark not in seen:
        chunk = await reader.read(65536)
        if not chunk:
            raise RuntimeError(f"the server closed before {mark!r}")
        seen = seen[-len(mark) :] + chunk


async def _reset_one(port: int, request: bytes, all_open: asyncio.Barrier) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(request)
    await _read_until(reader, b"event: text")
    await all_open.wait()
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ZERO)
    writer.transport.abort()


async def _finish_one(port: int, request: bytes, limit: asyncio.Semaphore) -> None:
    async with limit:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request)
        await _read_until(reader, b"event: done")
        writer.close()


async def _rounds(args: argparse.Namespace, port: int, pid: int) -> list[float]:
    request = _request("fast/x")
    rss = [rss_kib(pid) / 1024]
    print(f"start: {rss[0]:.1f} MiB", flush=True)
    started = time.monotonic()
    for k in range(args.rounds):
        if args.mode == "reset":
            barrier = asyncio.Barrier(args.streams)
            await asyncio.gather(*(_reset_one(port, request, barrier) for _ in range(args.streams)))
        else:
            limit = asyncio.Semaphore(args.concurrency)
            await asyncio.gather(*(_finish_one(port, request, limit) for _ in range(args.streams)))
        await asyncio.sleep(0.5)  # the server ends the round's streams
        rss.append(rss_kib(pid) / 1024)
        elapsed = time.monotonic() - started
        print(f"round {k + 1}: {rss[-1]:.1f} MiB ({elapsed:.0f} s)", flush=True)
    return rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mode", choices=["reset", "finish"], default="reset")
    ap.add_argument("--streams", type=int, default=2000, help="streams per round")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=500, help="finish: streams at a time")
    args = ap.parse_args()
    raise_nofile()
    mock = {"tokens_per_second": 20} if args.mode == "reset" else {"burst": 64}
    with tempfile.TemporaryDirectory() as tmp:
        server = aichatflow_server("aichatflow", Path(tmp), SERVER_CPU, **mock)
        with server:
            pin_self(CLIENT_CPU)
            rss = asyncio.run(_rounds(args, server.port, server.pid))
    half = len(rss) // 2
    print(
        f"{args.mode}, {args.rounds} rounds x {args.streams} streams: {rss[0]:.1f} -> "
        f"{rss[-1]:.1f} MiB; over the last {len(rss) - 1 - half} rounds "
        f"{rss[-1] - rss[half]:+.1f} MiB"
    )


if __name__ == "__main__":
    main()
