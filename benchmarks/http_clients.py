"""Which HTTP client should read upstream streams? httpx vs aiohttp, measured end to end.

The proxy path's per-event cost is: socket read → HTTP/1.1 de-chunking → SSE decoding →
chunk JSON → ``ChatEvent``. The last two are aichatflow's (``SSEDecoder``, ``ChunkParser``); the
first two belong to the HTTP client, and the proxy target (≤ 15 µs CPU per event) leaves
little room for a slow one. This measures, on one machine in one run:

* ``parse_only``: ``SSEDecoder`` + ``ChunkParser`` fed the same bytes from memory (the floor);
* ``httpx``: ``httpx.AsyncClient.stream`` + ``aiter_raw()`` → decoder + parser;
* ``httpx_64k``: the same with ``aiter_raw(65536)``, as ``providers/_http.py`` once read;
  httpx's ``ByteChunker`` then holds bytes back until 64 KiB have arrived (see ``ttfe``);
* ``aiohttp``: ``ClientSession.post`` + ``content.iter_any()`` → decoder + parser;
* ``adapter``: the real ``OpenAICompatProvider(...).stream(...)`` (whatever ``_http.py`` uses).

Two upstream pacings (``fake_openai_upstream.py`` in a subprocess on CPU 0; every client run is
a fresh subprocess on CPU 1): ``burst`` (the whole response as fast as the client reads: many
events per read) and ``paced`` (one event per upstream write, 1 ms apart: one event per read, how
real models stream). Reported per variant, median [min-max] of the repetitions: events parsed
per second, client CPU µs per event, events per item the client's iterator yields, and time to
the first text delta.

Run: ``.venv/bin/python benchmarks/http_clients.py`` (about 3 minutes) or ``--quick``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from _common import (
    CLIENT_CPU,
    DASH,
    HERE,
    SERVER_CPU,
    TIMES,
    Server,
    fmt_range,
    free_port,
    machine,
    pin_self,
    run_json,
    save,
    wait_quiet,
)

VARIANTS = ["parse_only", "httpx", "httpx_64k", "aiohttp", "adapter"]
MODES = {
    # mode: (streams, events per stream) for full and quick runs
    "burst": ((10, 20_000), (4, 2_000)),
    "paced": ((20, 1_000), (10, 200)),
}
HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}


@dataclass(slots=True)
class StreamStat:
    events: int
    items: int
    ttfe: float
    complete: bool


def request_body(events: int) -> bytes:
    return orjson.dumps(
        {
            "model": "bench-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "max_tokens": events,
        }
    )


class Pipeline:
    """aichatflow's own parsing half: the same in every variant, so only the client differs."""

    __slots__ = ("complete", "decoder", "events", "items", "parser", "t0", "ttfe")

    def __init__(self) -> None:
        from aichatflow.providers.openai_compat._chunks import ChunkParser
        from aichatflow.sse.decode import SSEDecoder

        self.decoder = SSEDecoder()
        self.parser = ChunkParser("bench", ("reasoning_content", "reasoning"))
        self.events = 0
        self.items = 0
        self.complete = False
        self.t0 = time.perf_counter()
        self.ttfe = 0.0

    def feed(self, chunk: bytes) -> None:
        from aichatflow.events import TextDelta

        self.items += 1
        out: list[Any] = []
        feed = self.parser.feed
        for sse in self.decoder.feed(chunk):
            if feed(sse, out):
                self.complete = True
        n = sum(1 for e in out if e.__class__ is TextDelta)
        if n and not self.ttfe:
            self.ttfe = time.perf_counter() - self.t0
        self.events += n

    def stat(self) -> StreamStat:
        return StreamStat(self.events, self.items, self.ttfe, self.complete)


StreamFn = Callable[[int], Awaitable[StreamStat]]
"""One stream of ``n`` content events through a client."""


async def make_client(
    variant: str, base: str, streams: int
) -> tuple[StreamFn, Callable[[], Awaitable[None]], str]:
    """(one stream, close, what the client really is) for a variant."""
    url = base + "/chat/completions"
    if variant in ("httpx", "httpx_64k"):
        import httpx

        size = 65536 if variant == "httpx_64k" else None
        client = httpx.AsyncClient(
            timeout=60.0,
            limits=httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams),
            trust_env=False,
        )

        async def one_httpx(n: int) -> StreamStat:
            p = Pipeline()
            body = request_body(n)
            async with client.stream("POST", url, content=body, headers=HEADERS) as r:
                async for chunk in r.aiter_raw(size):
                    p.feed(chunk)
            return p.stat()

        return one_httpx, client.aclose, f"httpx {httpx.__version__}"
    if variant == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=streams + 10),
            timeout=aiohttp.ClientTimeout(total=120),
            trust_env=False,
        )

        async def one_aiohttp(n: int) -> StreamStat:
            p = Pipeline()
            body = request_body(n)
            async with session.post(url, data=body, headers=HEADERS) as r:
                async for chunk in r.content.iter_any():
                    p.feed(chunk)
            return p.stat()

        return one_aiohttp, session.close, f"aiohttp {aiohttp.__version__}"
    if variant == "adapter":
        from aichatflow.events import Finish, TextDelta
        from aichatflow.messages import ChatRequest
        from aichatflow.providers.openai_compat import GENERIC, OpenAICompatProvider

        provider = OpenAICompatProvider("bench", GENERIC, {"base_url": base, "max_retries": 0})
        import aichatflow.providers._http as http_module

        kind = next(m for m in ("aiohttp", "httpx") if hasattr(http_module, m))

        async def one_adapter(n: int) -> StreamStat:
            request = ChatRequest.model_validate(orjson.loads(request_body(n)))
            t0 = time.perf_counter()
            events = items = 0
            ttfe = 0.0
            complete = False
            async for batch in provider.stream(request).batches():
                items += 1
                k = 0
                for e in batch:
                    cls = e.__class__
                    if cls is TextDelta:
                        k += 1
                    elif cls is Finish:
                        complete = True
                if k and not ttfe:
                    ttfe = time.perf_counter() - t0
                events += k
            return StreamStat(events, items, ttfe, complete)

        return one_adapter, provider.aclose, f"OpenAICompatProvider over {kind}"
    raise ValueError(variant)


def upstream_bytes(mode: str, events: int) -> list[bytes]:
    """What a client hands the parser for one response: 64 KiB reads, or one event per read."""
    from fake_openai_upstream import WRITE_SIZE, sse_events

    parts = sse_events(events)
    if mode == "paced":
        return parts
    blob = b"".join(parts)
    return [blob[i : i + WRITE_SIZE] for i in range(0, len(blob), WRITE_SIZE)]


async def client_run(args: argparse.Namespace) -> dict[str, Any]:
    """One measurement, inside the client subprocess: warm up, then ``streams`` at once."""
    base = f"http://127.0.0.1:{args.port}/{args.mode}/v1"
    if args.variant == "parse_only":
        reads = upstream_bytes(args.mode, args.events)
        for chunk in upstream_bytes(args.mode, 10):  # warm-up: imports and first calls
            Pipeline().feed(chunk)
        cpu0, t0 = time.process_time(), time.perf_counter()
        stats = []
        for _ in range(args.streams):
            p = Pipeline()
            for chunk in reads:
                p.feed(chunk)
            stats.append(p.stat())
        wall, cpu, what = time.perf_counter() - t0, time.process_time() - cpu0, "no I/O"
    else:
        one, close, what = await make_client(args.variant, base, args.streams)
        try:
            # Warm-up: imports, and one pooled connection per stream, with short responses.
            await asyncio.gather(*(one(10) for _ in range(args.streams)))
            cpu0, t0 = time.process_time(), time.perf_counter()
            stats = await asyncio.wait_for(
                asyncio.gather(*(one(args.events) for _ in range(args.streams))), args.timeout
            )
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        finally:
            await close()
    events = sum(s.events for s in stats)
    items = sum(s.items for s in stats)
    ttfe = sorted(s.ttfe * 1000 for s in stats if s.ttfe)
    return {
        "variant": args.variant,
        "mode": args.mode,
        "client": what,
        "streams": args.streams,
        "events": events,
        "expected_events": args.streams * args.events,
        "complete": sum(s.complete for s in stats),
        "wall_s": wall,
        "cpu_s": cpu,
        "events_per_s": events / max(wall, 1e-9),
        "cpu_us_per_event": 1e6 * cpu / max(events, 1),
        "cpu_pct": 100 * cpu / max(wall, 1e-9),
        "events_per_item": events / max(items, 1),
        "ttfe_ms_p50": statistics.median(ttfe) if ttfe else 0.0,
        "ttfe_ms_max": ttfe[-1] if ttfe else 0.0,
    }


def client_main(args: argparse.Namespace) -> None:
    pin_self(args.cpu)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    try:
        result = loop.run_until_complete(client_run(args))
    finally:
        loop.close()
    print(json.dumps(result))


def table(runs: list[dict[str, Any]], mode: str, variants: list[str]) -> str:
    first = next((r for r in runs if r["mode"] == mode), None)
    size = "?"
    if first:
        per_stream = first["expected_events"] // first["streams"]
        size = f"{first['streams']} streams {TIMES} {per_stream:,}"
    lines = [
        f"\n#### {mode}: {size} events\n",
        "| variant | client | events/s | CPU µs/event | CPU % | events per item | "
        "TTFE p50 / max ms | complete |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in variants:
        mine = [r for r in runs if r["variant"] == v and r["mode"] == mode]
        if not mine:
            continue
        ok = all(r["events"] == r["expected_events"] for r in mine)
        lines.append(
            f"| {v} | {mine[0]['client']} | {fmt_range([r['events_per_s'] for r in mine])} "
            f"| {fmt_range([r['cpu_us_per_event'] for r in mine], 2)} "
            f"| {statistics.median(r['cpu_pct'] for r in mine):.0f} "
            f"| {statistics.median(r['events_per_item'] for r in mine):.1f} "
            f"| {statistics.median(r['ttfe_ms_p50'] for r in mine):,.1f} / "
            f"{statistics.median(r['ttfe_ms_max'] for r in mine):,.1f} "
            f"| {sum(r['complete'] for r in mine)}/{sum(r['streams'] for r in mine)}"
            f"{'' if ok else ' (event count wrong!)'} |"
        )
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> None:
    pin_self(CLIENT_CPU)
    variants = [v for v in args.variants.split(",") if v in VARIANTS]
    modes = [m for m in args.modes.split(",") if m in MODES]
    reps = 1 if args.quick else args.reps
    info = machine()
    port = free_port()
    runs: list[dict[str, Any]] = []
    cmd = [sys.executable, str(HERE / "fake_openai_upstream.py"), "--port", str(port)]
    cmd += ["--gap-ms", str(args.gap_ms)]
    with Server("fake upstream", cmd, port, cpu=SERVER_CPU):
        for rep in range(reps):
            for mode in modes:
                streams, events = MODES[mode][1 if args.quick else 0]
                shift = rep % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    busy = wait_quiet()
                    client = [sys.executable, __file__, "--client", variant, "--mode", mode]
                    client += ["--port", str(port), "--streams", str(streams)]
                    client += ["--events", str(events), "--cpu", str(CLIENT_CPU)]
                    result = run_json(client, timeout=300)
                    result.update(rep=rep, background_busy_pct=busy)
                    runs.append(result)
                    print(
                        f"  rep {rep} {mode:5} {variant:10} {result['events_per_s']:>11,.0f} ev/s "
                        f"{result['cpu_us_per_event']:6.2f} µs/ev "
                        f"{result['events_per_item']:7.1f} ev/item (before: {busy:.0f} %)",
                        file=sys.stderr,
                    )
    path = save("http_clients", {"machine": info, "args": vars(args), "runs": runs})
    print(f"\n### HTTP clients for upstream reads: median [min{DASH}max] of {reps}")
    for mode in modes:
        print(table(runs, mode, variants))
    print(
        f"\nMachine: {info['cpus']} cores ({info['cpu_model']}), Python {info['python']}, "
        f"httpx {info['versions']['httpx']}, aiohttp {info['versions']['aiohttp']}; "
        f"upstream on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}. Raw results: {path}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, small streams")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--gap-ms", type=float, default=1.0, help="paced: pause between events")
    # the client subprocess
    ap.add_argument("--client", dest="variant", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="burst", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--streams", type=int, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--events", type=int, default=1000, help=argparse.SUPPRESS)
    ap.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=240.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        client_main(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
