"""Scenario ``memory``: server RSS per held idle stream, at 1,000 and 10,000 open streams.

Each stack is started fresh for each size (one worker on CPU 0), warmed up with a few complete
requests, and its resident set (``VmRSS`` of the process tree) read once it is idle. A holder
subprocess (CPU 1) then opens N streams in batches of 500 and waits until every one has received
its response headers and ``start`` frame; the streams stay idle because the first token is
delayed (aichatflow: mock ``first_token_ms`` = 10 minutes; baselines: ``?delay_ms=600000``). RSS
is read again while they are held: KiB per stream = (held - idle) / streams held. The holder is
then killed, which closes every stream.

File descriptors: each side needs one per stream, so the soft ``RLIMIT_NOFILE`` is raised to the
hard limit here (the servers inherit it; Go raises its own) and in the holder; sizes above the
hard limit minus a margin are skipped with a note.

Earlier, at 10,000 streams: Go 29.1 KiB, uvicorn_raw 11.1, FastAPI 30.5, sse-starlette 42.3;
target for aichatflow <= 12 KiB. Run: ``.venv/bin/python benchmarks/run_memory.py``
(about 2 minutes) or ``--quick`` (1,000 streams only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _common import (
    CLIENT_CPU,
    HOST,
    SERVER_CPU,
    Server,
    machine,
    pin_self,
    raise_nofile,
    rss_kib,
    save,
    wait_quiet,
)
from _single import Target, one
from _stacks import BENCH_BODY, GRANIAN, PY, aichatflow_server, baseline_server

HOLD_MS = 600_000
BATCH = 500
START_MARK = b"event: start"


# ---------------------------------------------------------------- the holder (a subprocess)


class _Hold(asyncio.Protocol):
    def __init__(self, request: bytes, ready: asyncio.Future[None]) -> None:
        self.request = request
        self.ready = ready
        self.raw = bytearray()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.ready.done():
            return
        self.raw += data
        if START_MARK in self.raw:
            self.ready.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before start: {bytes(self.raw)!r}"))


async def hold(port: int, path: str, streams: int, timeout: float) -> None:
    from loadgen import _request

    loop = asyncio.get_running_loop()
    request = _request(path, port, orjson.dumps({**BENCH_BODY, "max_tokens": 10}))
    protos: list[_Hold] = []
    errors: list[str] = []
    t0 = time.perf_counter()

    async def open_one() -> None:
        ready: asyncio.Future[None] = loop.create_future()
        proto = _Hold(request, ready)
        try:
            await loop.create_connection(lambda: proto, HOST, port)
            await asyncio.wait_for(ready, timeout)
            protos.append(proto)
        except (OSError, TimeoutError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    for i in range(0, streams, BATCH):
        await asyncio.gather(*(open_one() for _ in range(min(BATCH, streams - i))))
    print(
        json.dumps(
            {
                "held": len(protos),
                "errors": len(errors),
                "error_samples": sorted(set(errors))[:3],
                "open_s": time.perf_counter() - t0,
            }
        ),
        flush=True,
    )
    await loop.run_in_executor(None, sys.stdin.read)  # hold until the parent closes stdin


def holder_main(args: argparse.Namespace) -> None:
    pin_self(CLIENT_CPU)
    raise_nofile()
    try:
        import uvloop

        uvloop.run(hold(args.port, args.path, args.streams, args.timeout))
    except ImportError:
        asyncio.run(hold(args.port, args.path, args.streams, args.timeout))


# ---------------------------------------------------------------- the orchestrator


def start_stack(name: str, tmp: Path, notes: list[str]) -> tuple[Server, str] | None:
    if not name.startswith("aichatflow"):
        server = baseline_server(name, tmp, notes, SERVER_CPU)
        return None if server is None else (server, f"/api/chat?delay_ms={HOLD_MS}")
    server = aichatflow_server(name, tmp, SERVER_CPU, first_token_ms=HOLD_MS)
    return server, "/api/chat"


def start_holder(port: int, path: str, streams: int) -> tuple[subprocess.Popen[bytes], Any]:
    """A holder subprocess with ``streams`` open streams, and what it reported."""
    cmd = [PY, str(Path(__file__).resolve()), "--holder", "--port", str(port)]
    cmd += ["--path", path, "--streams", str(streams), "--timeout", "60"]
    holder = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        if not line:
            raise RuntimeError(f"holder exited {holder.wait(10)}")
        return holder, json.loads(line)
    except BaseException:
        release(holder)
        raise


def release(holder: subprocess.Popen[bytes]) -> None:
    """Close the holder's stdin (it exits, closing its streams); kill it if it lingers."""
    if holder.stdin is not None and not holder.stdin.closed:
        holder.stdin.close()
    try:
        holder.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(holder.pid, 9)
        holder.wait(5)


def measure_one(name: str, streams: int, tmp: Path, notes: list[str]) -> dict[str, Any] | None:
    got = start_stack(name, tmp, notes)
    if got is None:
        return None
    server, path = got
    holder: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        # Warm-up (imports, first-request caches, the allocator's first arenas): complete
        # requests for the baselines, then 50 held streams for every stack, released.
        body = orjson.dumps({**BENCH_BODY, "max_tokens": 10})
        if not name.startswith("aichatflow"):  # its mock always waits first_token_ms
            for _ in range(20):
                one(Target(name, server.port, "/api/chat", body))
        holder, _ = start_holder(server.port, path, 50)
        release(holder)
        time.sleep(1.0)
        idle = rss_kib(server.pid)
        holder, info = start_holder(server.port, path, streams)
        time.sleep(1.0)  # let the server settle (allocator, pending callbacks)
        held_rss = rss_kib(server.pid)
        held = max(int(info["held"]), 1)
        result = {
            "stack": name,
            "streams": streams,
            "held": info["held"],
            "errors": info["errors"],
            "error_samples": info["error_samples"],
            "open_s": info["open_s"],
            "rss_idle_kib": idle,
            "rss_held_kib": held_rss,
            "kib_per_stream": (held_rss - idle) / held,
        }
        return result
    finally:
        if holder is not None:
            release(holder)
        server.stop()


STACKS = ["go", "uvicorn_raw", "fastapi_sse_starlette", "aichatflow", "aichatflow" + GRANIAN]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000 streams only")
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--stacks", default=",".join(STACKS))
    ap.add_argument("--no-quiet-wait", action="store_true")
    ap.add_argument("--holder", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--path", default="/api/chat", help=argparse.SUPPRESS)
    ap.add_argument("--streams", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=60, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.holder:
        holder_main(args)
        return
    if args.quick:
        args.sizes = "1000"
    pin_self(CLIENT_CPU)
    limit = raise_nofile()
    info = machine()
    notes: list[str] = []
    sizes = [int(s) for s in args.sizes.split(",")]
    for n in [n for n in sizes if n > limit - 200]:
        notes.append(f"{n} streams: skipped, RLIMIT_NOFILE hard limit is {limit}")
    sizes = [n for n in sizes if n <= limit - 200]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="acf-memory-") as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            for name in args.stacks.split(","):
                if not args.no_quiet_wait:
                    wait_quiet()
                r = measure_one(name, n, tmp, notes)
                if r is None:
                    continue
                results.append(r)
                print(
                    f"  {name:22} {n:>6} streams: held {r['held']}, "
                    f"{r['kib_per_stream']:.1f} KiB/stream ({r['errors']} errors)",
                    file=sys.stderr,
                )
    path = save("memory", {"machine": info, "args": vars(args), "notes": notes, "runs": results})
    print(report(results, sizes, notes, path))


def report(results: list[dict[str, Any]], sizes: list[int], notes: list[str], path: Path) -> str:
    head = "| stack | " + " | ".join(f"KiB/stream at {n:,} (held)" for n in sizes) + " |"
    out = [
        "\n### Scenario memory: server RSS per held idle stream (one worker)\n",
        head,
        "|---" * (len(sizes) + 1) + "|",
    ]
    for name in dict.fromkeys(r["stack"] for r in results):
        cells = []
        for n in sizes:
            r = next((x for x in results if x["stack"] == name and x["streams"] == n), None)
            cells.append("—" if r is None else f"{r['kib_per_stream']:.1f} ({r['held']:,})")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += [f"\n{n}" for n in notes]
    out.append(f"\nRaw results: {path}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
