"""Load generator for SSE chat endpoints: N concurrent streams over raw sockets.

Why raw sockets and deferred parsing: the load generator must never be what limits the figure
(docs/benchmarks.md, "Measuring honestly"). While streams run, each socket read costs one
``bytearray`` append, one ``endswith`` (the chunked terminator ``0\\r\\n\\r\\n``) and, until the
first text frame was seen, one bounded search for the format's first-text pattern.
De-chunking, splitting frames on ``\\n\\n``, counting text frames and checking the text happen
after the clock stopped; their CPU is reported apart (``analyse_cpu_s``) and is not part of
``loadgen_cpu_*``. ``--format`` names the response format (native, openai, anthropic, ui):
``_wire_formats.py`` has each one's pattern and parser, so every scenario counts alike.

Paced streams (``--interval-ms``, the ``paced`` and ``slow-client`` scenarios): each socket read
also records ``(perf_counter(), len(raw))`` in two arrays (a subclass of the stream protocol, so
the plain path is untouched); after the clock stopped, every text frame gets the time of the read
that completed it, and each delivered delta k (0-based) of a stream its *lateness*:
``arrival - (t_first + k * interval)``, where ``t_first`` is the arrival of the stream's first
text delta; deltas coalesced into one frame all get that frame's arrival; negative lateness
counts as 0. ``--ramp-s`` spreads the connects over that many seconds (listen backlogs would
drop SYNs of thousands of connects at once).

Checks on every stream: HTTP 200, chunked body, the format's terminator last (native: the last
frame is ``event: done``), and the text of all text frames joined equals what the mock provider
sends for this request (computed in-process with ``aichatflow.providers.mock``). With coalescing
one frame carries several tokens, so the number of *deltas* delivered is the mock's token count
when the text matches, while the number of *frames* (``id:`` lines) and of HTTP chunks (one per
ASGI ``send`` on uvicorn) show how much was coalesced.

Usage (standalone)::

    python benchmarks/loadgen.py --port 8080 --streams 100 --events 2000 --server-pid PID

Prints a human summary, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from typing import Any, cast

import orjson
from _common import HOST, core_busy_pct, core_times, pin_self, raise_nofile, tree_cpu_seconds
from _wire_formats import FORMATS, WIRE

_TERMINATOR = b"\r\n0\r\n\r\n"
_TEXT_MARK = b"event: text"


@dataclass(slots=True)
class Expected:
    """What every stream should carry: the text (joined deltas) and how many deltas it was."""

    text: str
    deltas: int
    parts: list[str] = field(default_factory=list)
    """The deltas themselves, in order (needed for lateness: which frame carried delta k)."""


def expected_from_mock(body: Mapping[str, Any], options: Mapping[str, Any]) -> Expected:
    """Run the mock provider in-process on the same request: the reference for every stream."""
    from aichatflow.events import TextDelta
    from aichatflow.messages import ChatRequest
    from aichatflow.providers.mock import MockProvider

    opts = {"tokens_per_second": 0, "first_token_ms": 0, **options}
    provider = MockProvider("expected", opts)
    request = ChatRequest.model_validate(body)
    request = request.model_copy(update={"model": request.model.partition("/")[2]})

    async def collect() -> list[str]:
        return [e.text async for e in provider.stream(request) if isinstance(e, TextDelta)]

    parts = asyncio.run(collect())
    return Expected(text="".join(parts), deltas=len(parts), parts=parts)


class _Stream(asyncio.Protocol):
    """One HTTP/1.1 request and its streamed response, kept as raw bytes until the end."""

    __slots__ = (
        "done",
        "mark",
        "raw",
        "request",
        "scan_from",
        "t_end",
        "t_first",
        "t_start",
        "transport",
    )

    def __init__(self, request: bytes, done: asyncio.Future[None], mark: re.Pattern[bytes]) -> None:
        self.request = request
        self.mark = mark
        self.done = done
        self.raw = bytearray()
        self.scan_from = 0
        self.t_start = time.perf_counter()
        self.t_first = 0.0
        self.t_end = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        raw = self.raw
        raw += data
        if not self.t_first:
            if self.mark.search(raw, self.scan_from) is not None:
                self.t_first = time.perf_counter()
            else:
                self.scan_from = max(0, len(raw) - 40)
        if raw.endswith(_TERMINATOR):
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if self.done.done():
            return
        self.t_end = time.perf_counter()
        if self.transport is not None:
            self.transport.close()
        self.done.set_result(None)


class _TimedStream(_Stream):
    """A :class:`_Stream` that also records, per socket read, when and how far the bytes got."""

    __slots__ = ("lens", "times")

    def __init__(self, request: bytes, done: asyncio.Future[None], mark: re.Pattern[bytes]) -> None:
        super().__init__(request, done, mark)
        self.times = array("d")
        self.lens = array("q")

    def data_received(self, data: bytes) -> None:
        self.times.append(time.perf_counter())
        _Stream.data_received(self, data)
        self.lens.append(len(self.raw))


@dataclass(slots=True)
class StreamCheck:
    ok: bool
    reason: str
    deltas: int
    frames: int
    text_frames: int
    chunks: int
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    """Per text frame (timed streams only): (arrival time, characters of text so far)."""


def dechunk(body: bytes, spans: list[tuple[int, int]] | None = None) -> tuple[bytes, int, bool]:
    """Decode ``Transfer-Encoding: chunked``; returns (payload, data chunks, saw terminator).

    ``spans``, when given, receives (payload offset, body offset) of each chunk's first byte.
    """
    out: list[bytes] = []
    pos, n, end, size_out = 0, 0, len(body), 0
    while pos < end:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(out), n, False
        size = int(body[pos:eol].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out), n, True
        start = eol + 2
        if spans is not None:
            spans.append((size_out, start))
            size_out += size
        out.append(body[start : start + size])
        n += 1
        pos = start + size + 2
    return b"".join(out), n, False


def check_head(raw: bytes) -> tuple[int, StreamCheck | None]:
    """(end of the response head, a failed check or None): HTTP 200 and a chunked body."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return head_end, StreamCheck(False, "no response headers", 0, 0, 0, 0)
    head = bytes(raw[:head_end]).lower()
    status = head.split(b" ", 2)[1] if head.startswith(b"http/1.1 ") else b"?"
    if status != b"200":
        return head_end, StreamCheck(False, f"HTTP {status.decode()}", 0, 0, 0, 0)
    if b"transfer-encoding: chunked" not in head:
        return head_end, StreamCheck(False, "response is not chunked", 0, 0, 0, 0)
    return head_end, None


def _arrivals(
    ends: list[int],
    texts: list[str],
    spans: list[tuple[int, int]],
    base: int,
    stamps: tuple[array[float], array[int]],
) -> list[tuple[float, int]]:
    """(arrival, cumulative characters) per text frame ending at payload offset ``ends[i]``.

    A frame arrived with the socket read that brought its last byte: payload offset -> body
    offset (through the chunk ``spans``) -> raw offset (``base`` = length of the headers) -> the
    first read whose cumulative length passed it.
    """
    times, lens = stamps
    starts = [s[0] for s in spans]
    out: list[tuple[float, int]] = []
    chars = 0
    for end, text in zip(ends, texts, strict=True):
        last = end - 1
        c = bisect_right(starts, last) - 1
        byte = base + spans[c][1] + last - spans[c][0]
        chars += len(text)
        out.append((times[min(bisect_right(lens, byte), len(times) - 1)], chars))
    return out


def lateness_ms(arrivals: list[tuple[float, int]], cum: list[int], interval: float) -> list[float]:
    """Lateness of each delta of one stream, in ms (see the module docstring).

    ``cum[k]``: characters of deltas 0..k joined; delta k arrived with the first frame whose
    cumulative text reaches ``cum[k]``.
    """
    out: list[float] = []
    f, t_first = 0, arrivals[0][0]
    for k, need in enumerate(cum):
        while arrivals[f][1] < need:
            f += 1
        late = arrivals[f][0] - t_first - k * interval
        out.append(late * 1000 if late > 0 else 0.0)
    return out


def check_stream(
    raw: bytes,
    expected: Expected | None,
    stamps: tuple[array[float], array[int]] | None = None,
    wire: str = "native",
) -> StreamCheck:
    """Everything the live path skipped: status, de-chunking, frames, terminal frame, text
    (``_wire_formats.py`` reads the payload of each format).

    With ``stamps`` (a timed stream's read times and lengths) a passing stream also gets the
    arrival of each text frame.
    """
    head_end, refused = check_head(raw)
    if refused is not None:
        return refused
    spans: list[tuple[int, int]] = []
    payload, chunks, complete = dechunk(bytes(raw[head_end + 4 :]), spans)
    parsed = WIRE[wire].parse(payload)
    texts = parsed.texts
    text = "".join(texts)
    deltas = expected.deltas if expected is not None else len(texts)
    reason = ""
    if not complete:
        reason = "stream cut before the chunked terminator"
    elif parsed.unfinished:
        reason = parsed.unfinished
    elif expected is not None and text != expected.text:
        reason = f"text differs: got {len(text)} chars, expected {len(expected.text)}"
    ok = not reason
    arrivals = _arrivals(parsed.ends, texts, spans, head_end + 4, stamps) if stamps and ok else []
    frames = parsed.frames
    return StreamCheck(ok, reason, deltas if ok else 0, frames, len(texts), chunks, arrivals)


@dataclass(slots=True)
class LoadResult:
    """One load run. ``events`` are text deltas (tokens), not frames."""

    streams: int
    ok_streams: int
    failures: list[str]
    wall_s: float
    events: int
    frames: int
    text_frames: int
    chunks: int
    events_per_s: float
    frames_per_s: float
    deltas_per_frame: float
    events_per_send: float
    ttfe_ms_p50: float
    ttfe_ms_p99: float
    ttfe_ms_max: float
    loadgen_cpu_s: float
    loadgen_cpu_pct: float
    loadgen_cpu_us_per_event: float
    server_cpu_s: float | None
    server_cpu_pct: float | None
    server_cpu_us_per_event: float | None
    analyse_cpu_s: float
    core_busy_pct: list[float]
    """Each core's busy share over the run (with irq/softirq): is the server's core saturated?"""
    extra: dict[str, Any] = field(default_factory=dict)
    lateness_ms_p50: float | None = None
    lateness_ms_p99: float | None = None
    lateness_ms_max: float | None = None
    """Paced runs only (``interval``): see the module docstring."""


def _request(path: str, port: int, body: bytes, headers: list[str] | None = None) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers or ()).encode()
    return (
        b"POST %s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n"
        b"accept: text/event-stream\r\ncontent-length: %d\r\nconnection: close\r\n%s\r\n%s"
        % (path.encode(), HOST.encode(), port, len(body), extra, body)
    )


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def run_load(
    *,
    port: int,
    path: str,
    body: bytes,
    streams: int,
    expected: Expected | None,
    server_pid: int | None = None,
    timeout: float = 120.0,
    rounds: int = 1,
    wire: str = "native",
    headers: list[str] | None = None,
    interval: float | None = None,
    ramp_s: float = 0.0,
) -> LoadResult:
    """Open ``streams`` connections at once, wait for every response to end, then check them.

    With ``rounds`` > 1 that is repeated back to back and the figures cover all rounds.
    ``wire`` names the response format (``_wire_formats.py``). ``interval`` (seconds between a
    stream's events) times every read and reports lateness; ``ramp_s`` spreads the connects of
    a round over that many seconds.
    """
    loop = asyncio.get_running_loop()
    request = _request(path, port, body, headers)
    timed = interval is not None
    mark = WIRE[wire].first_text
    stream_class = _TimedStream if timed else _Stream
    protos: list[_Stream] = []

    async def one() -> None:
        done: asyncio.Future[None] = loop.create_future()
        proto = stream_class(request, done, mark)
        protos.append(proto)
        try:
            await loop.create_connection(lambda: proto, HOST, port)
        except OSError as exc:
            proto.raw += f"connect failed: {exc}".encode()
            proto._finish()
        await done

    server0 = tree_cpu_seconds(server_pid) if server_pid else None
    cores0 = core_times()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + timeout
    for _ in range(rounds):  # rounds run back to back: short runs would fall below CPU ticks
        tasks = await _open(loop, one, streams, ramp_s)
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), max(deadline - time.perf_counter(), 0))
        except TimeoutError:
            for p in protos:
                p._finish()
            break
    t1 = max((p.t_end for p in protos), default=time.perf_counter())
    cpu1 = time.process_time()
    cores1 = core_times()
    server1 = tree_cpu_seconds(server_pid) if server_pid else None

    a0 = time.process_time()
    checks = _checks(protos, expected, wire, timed)
    late = _lateness(checks, expected, interval) if timed and interval else []
    analyse = time.process_time() - a0

    wall = max(t1 - t0, 1e-9)
    events = sum(c.deltas for c in checks)
    frames = sum(c.frames for c in checks)
    text_frames = sum(c.text_frames for c in checks)
    chunks = sum(c.chunks for c in checks)
    ttfe = sorted((p.t_first - p.t_start) * 1000 for p in protos if p.t_first)
    lg_cpu = cpu1 - cpu0
    srv_cpu = None if server0 is None or server1 is None else server1 - server0
    per_event = max(events, 1)
    failures = sorted({c.reason for c in checks if not c.ok})
    return LoadResult(
        streams=len(protos),
        ok_streams=sum(c.ok for c in checks),
        failures=failures[:5],
        wall_s=wall,
        events=events,
        frames=frames,
        text_frames=text_frames,
        chunks=chunks,
        events_per_s=events / wall,
        frames_per_s=frames / wall,
        deltas_per_frame=events / max(text_frames, 1),
        events_per_send=events / max(chunks, 1),
        ttfe_ms_p50=statistics.median(ttfe) if ttfe else 0.0,
        ttfe_ms_p99=_pct(ttfe, 0.99),
        ttfe_ms_max=ttfe[-1] if ttfe else 0.0,
        loadgen_cpu_s=lg_cpu,
        loadgen_cpu_pct=100 * lg_cpu / wall,
        loadgen_cpu_us_per_event=1e6 * lg_cpu / per_event,
        server_cpu_s=srv_cpu,
        server_cpu_pct=None if srv_cpu is None else 100 * srv_cpu / wall,
        server_cpu_us_per_event=None if srv_cpu is None else 1e6 * srv_cpu / per_event,
        analyse_cpu_s=analyse,
        core_busy_pct=core_busy_pct(cores0, cores1),
        lateness_ms_p50=statistics.median(late) if late else None,
        lateness_ms_p99=_pct(late, 0.99) if late else None,
        lateness_ms_max=late[-1] if late else None,
    )


async def _open(
    loop: asyncio.AbstractEventLoop,
    one: Callable[[], Coroutine[Any, Any, None]],
    streams: int,
    ramp_s: float,
) -> list[asyncio.Task[None]]:
    """Start ``streams`` connections: at once, or evenly over ``ramp_s`` seconds."""
    if ramp_s <= 0:
        return [loop.create_task(one()) for _ in range(streams)]
    tasks = []
    t0 = time.perf_counter()
    for i in range(streams):
        wait = t0 + ramp_s * i / streams - time.perf_counter()
        if wait > 0.002:  # sleep only when ahead by more than the loop's timer resolution
            await asyncio.sleep(wait)
        tasks.append(loop.create_task(one()))
    return tasks


def _checks(
    protos: list[_Stream], expected: Expected | None, wire: str, timed: bool
) -> list[StreamCheck]:
    if not timed:
        return [check_stream(bytes(p.raw), expected, None, wire) for p in protos]
    stamped = cast(list[_TimedStream], protos)
    return [check_stream(bytes(p.raw), expected, (p.times, p.lens), wire) for p in stamped]


def _lateness(checks: list[StreamCheck], expected: Expected | None, interval: float) -> list[float]:
    """Every delivered delta's lateness in ms, sorted (passing streams only)."""
    if expected is None or not expected.parts:
        return []  # no per-delta reference (--expected-json without parts)
    cum = list(accumulate(len(p) for p in expected.parts))
    late: list[float] = []
    for c in checks:
        if c.ok and c.arrivals:
            late += lateness_ms(c.arrivals, cum, interval)
    late.sort()
    return late


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the load generator should be at least as fast as the server)."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def chat_body(events: int, model: str = "fast/x") -> bytes:
    return orjson.dumps(
        {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": events}
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/api/chat")
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000, help="max_tokens of each request")
    ap.add_argument("--model", default="fast/x")
    ap.add_argument("--mock-options", default="{}", help="JSON: the mock's options (text...)")
    ap.add_argument("--no-check-text", action="store_true", help="count text frames only")
    ap.add_argument("--server-pid", type=int, default=None, help="to report the server's CPU")
    ap.add_argument("--cpu", type=int, default=None, help="pin the load generator to this CPU")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--rounds", type=int, default=1, help="repeat the N streams back to back")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--format", choices=FORMATS, default="native", help="response format (_wire_formats.py)"
    )
    ap.add_argument("--header", action="append", default=[], help="extra 'name: value' header")
    ap.add_argument("--body", default=None, help="request body (JSON) instead of the chat body")
    ap.add_argument(
        "--expected-json", default=None, help='{"text": ..., "deltas": N}: the reference text'
    )
    ap.add_argument(
        "--interval-ms", type=float, default=None, help="paced streams: time reads, report lateness"
    )
    ap.add_argument("--ramp-s", type=float, default=0.0, help="spread the connects over N s")
    args = ap.parse_args(argv)

    pin_self(args.cpu)
    raise_nofile()  # one descriptor per stream
    body = args.body.encode() if args.body else chat_body(args.events, args.model)
    expected = None
    if args.expected_json:
        expected = Expected(**json.loads(args.expected_json))
    elif not args.no_check_text:
        expected = expected_from_mock(orjson.loads(body), json.loads(args.mock_options))
    loop = new_loop()
    try:
        result = loop.run_until_complete(
            run_load(
                port=args.port,
                path=args.path,
                body=body,
                streams=args.streams,
                expected=expected,
                server_pid=args.server_pid,
                timeout=args.timeout,
                rounds=args.rounds,
                wire=args.format,
                headers=args.header,
                interval=None if args.interval_ms is None else args.interval_ms / 1000,
                ramp_s=args.ramp_s,
            )
        )
    finally:
        loop.close()
    result.extra["loop"] = type(loop).__module__
    result.extra["rounds"] = args.rounds
    if args.json:
        print(json.dumps(asdict(result)))
        return
    for key, value in asdict(result).items():
        print(f"{key:26} {value:,.3f}" if isinstance(value, float) else f"{key:26} {value}")


if __name__ == "__main__":
    main()
