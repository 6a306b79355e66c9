"""What ``run_journal.py`` measures besides load: bytes of journal, Redis, resumes.

* :func:`memory_journal_bytes`: the bytes a finished run keeps in the memory journal, measured
  in this process on the real path (``Runs`` over a ``MemoryJournal``, the mock provider as the
  source), so the figure is the codec's and the engine's batching, not an estimate; nothing is
  added to the product for it;
* :class:`RedisServer`: a throwaway ``redis-server`` on a free loopback port, with what the
  scenario reads from it through ``redis-cli`` (``INFO commandstats``, ``MEMORY USAGE``), so
  the benchmark needs no Redis client of its own;
* :func:`finished_run` and :func:`resume_first_event`: a whole native stream read to its end (its
  ``stream_id``), and the time from ``connect`` to the first replayed ``event: text`` of
  ``GET /api/chat/{id}/stream`` with a ``Last-Event-ID``, on a blocking socket (as ``_single.py``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
from _common import HOST, cpu_seconds, free_port
from loadgen import _TEXT_MARK, _request, check_head, dechunk, expected_from_mock

_TERMINATOR = b"\r\n0\r\n\r\n"
_START = re.compile(rb"event: start\ndata: (\{[^\n]*\})")
FAST = {"tokens_per_second": 0, "first_token_ms": 0}
"""The ``fast`` mock of every stack: as fast as the reader reads."""


def chat_body(tokens: int, model: str = "fast/x") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": tokens}


def memory_journal_bytes(tokens: int, burst: int) -> dict[str, Any]:
    """One ``tokens``-token mock run (``burst`` tokens per batch) into a ``MemoryJournal``:
    entries, the bytes the journal's bounds count (``memory.held_bytes``: an estimate), and
    what the run's entries really hold, measured with ``tracemalloc`` (the events are kept
    as objects, not encoded)."""
    from aichatflow.journal.backend import RunInfo
    from aichatflow.journal.memory import MemoryJournal
    from aichatflow.journal.run import Runs
    from aichatflow.messages import ChatRequest
    from aichatflow.providers.mock import MockProvider
    from aichatflow.stream.limits import StreamLimits

    async def measure() -> dict[str, Any]:
        import tracemalloc

        journal = MemoryJournal()
        runs = Runs(journal, StreamLimits())
        provider = MockProvider("fast", {**FAST, "burst": burst})
        request = ChatRequest.model_validate({**chat_body(tokens), "model": "x"})
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        run = await runs.start(provider.stream(request), RunInfo("bench-journal-000", "", "x"))
        assert run.task is not None
        await run.task
        del run
        resident = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        entries = [e async for batch in journal.read("bench-journal-000", 0) for e in batch]
        return {
            "tokens": tokens,
            "burst": burst,
            "entries": len(entries),
            "events": entries[-1].last,
            "entry_bytes": journal.bytes,
            "entry_bytes_per_token": journal.bytes / tokens,
            "resident_bytes": resident,
            "resident_bytes_per_token": resident / tokens,
        }

    return asyncio.run(measure())


class RedisServer:
    """A ``redis-server`` on a free loopback port, nothing persisted; ``None`` from
    :meth:`start_or_none` when it is not installed (the caller notes why)."""

    def __init__(self, binary: str, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        cmd = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        cmd += ["--appendonly", "no", "--dir", str(tmp)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.cli("ping").strip() != "PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    @classmethod
    def start_or_none(cls, tmp: Path) -> RedisServer | None:
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            return None
        return cls(binary, tmp)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            check=False,
            timeout=30,
        )
        return done.stdout.decode(errors="replace")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def commandstats(self) -> dict[str, int]:
        """Calls per command so far (``INFO commandstats``), the ``info`` calls left out (they
        are this script's own)."""
        calls: dict[str, int] = {}
        for line in self.cli("info", "commandstats").splitlines():
            if not line.startswith("cmdstat_"):
                continue
            name, _, fields = line.partition(":")
            command = name.removeprefix("cmdstat_")
            if command in {"info", "ping"}:
                continue
            stats = dict(kv.split("=", 1) for kv in fields.strip().split(","))
            calls[command] = int(stats["calls"])
        return calls

    def keys_of(self, stream_id: str) -> list[str]:
        """Every key whose name holds ``stream_id`` (the journal's keys of one run)."""
        found = self.cli("--scan", "--pattern", f"*{stream_id}*").split()
        return sorted(set(found))

    def memory_usage(self, keys: list[str]) -> int:
        """Bytes Redis holds for ``keys`` (``MEMORY USAGE ... SAMPLES 0``: every element)."""
        total = 0
        for key in keys:
            answer = self.cli("memory", "usage", key, "samples", "0").strip()
            total += int(answer) if answer.isdigit() else 0
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Commands called between two :meth:`RedisServer.commandstats`, busiest first."""
    calls = {name: n - before.get(name, 0) for name, n in after.items()}
    return dict(sorted(((k, v) for k, v in calls.items() if v), key=lambda kv: -kv[1]))


def _exchange(
    port: int, request: bytes, timeout: float, first_mark: bytes | None
) -> tuple[bytes, float]:
    """Send ``request``, read the whole response; (raw bytes, seconds from connect to the
    first ``first_mark``, 0 when none)."""
    t0 = time.perf_counter()
    first = 0.0
    raw = bytearray()
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        while True:
            data = sock.recv(262144)
            if not data:
                break
            raw += data
            if first_mark is not None and not first and raw.find(first_mark) >= 0:
                first = time.perf_counter() - t0
            if raw.endswith(_TERMINATOR):
                break
    return bytes(raw), first


def finished_run(port: int, tokens: int, *, model: str = "fast/x", timeout: float = 60.0) -> str:
    """Stream one native ``POST /api/chat`` of ``tokens`` tokens to its end; its stream id."""
    body = orjson.dumps(chat_body(tokens, model))
    raw, _ = _exchange(port, _request("/api/chat", port, body), timeout, None)
    head_end, failed = check_head(raw)
    if failed is not None:
        raise RuntimeError(f"the run failed: {failed.reason}: {raw[:300]!r}")
    payload, _, complete = dechunk(raw[head_end + 4 :])
    match = _START.search(payload)
    if not complete or match is None or b"event: done" not in payload:
        raise RuntimeError(f"the run did not finish: {payload[-300:]!r}")
    return str(orjson.loads(match.group(1))["stream_id"])


def resume_request(port: int, stream_id: str, after: int) -> bytes:
    return (
        b"GET /api/chat/%s/stream HTTP/1.1\r\nhost: %s:%d\r\naccept: text/event-stream\r\n"
        b"last-event-id: %s.%d\r\nconnection: close\r\n\r\n"
        % (stream_id.encode(), HOST.encode(), port, stream_id.encode(), after)
    )


def expected_after(tokens: int, after: int) -> str:
    """The text a resume after position ``after`` must replay: positions count the ``start``
    event as 1, so token ``i`` (0-based) is position ``i + 2``."""
    parts = expected_from_mock(chat_body(tokens), FAST).parts
    return "".join(parts[max(0, after - 1) :])


def resume_first_event(port: int, stream_id: str, after: int, expected: str) -> float:
    """Seconds from connect to the first replayed text event of a resume after ``after``;
    raises unless the replay is exactly ``expected`` (no event seen twice, none missing), with
    only ids past ``after`` and ``done`` last."""
    raw, first = _exchange(port, resume_request(port, stream_id, after), 30.0, _TEXT_MARK)
    head_end, failed = check_head(raw)
    if failed is not None:
        raise RuntimeError(f"resume failed: {failed.reason}: {raw[:300]!r}")
    payload, _, complete = dechunk(raw[head_end + 4 :])
    texts: list[str] = []
    last = ""
    for frame in payload.split(b"\n\n"):
        fields = dict(line.split(b": ", 1) for line in frame.split(b"\n") if b": " in line)
        event = fields.get(b"event", b"").decode()
        if not event:
            continue
        last = event
        position = int(fields[b"id"].rpartition(b".")[2])
        if position <= after:
            raise RuntimeError(f"resume after {after} replayed position {position}")
        if event == "text":
            texts.append(orjson.loads(fields[b"data"])["text"])
    if not first or not complete or last != "done" or "".join(texts) != expected:
        raise RuntimeError(f"resume incomplete or wrong (last event {last!r}): {payload[-300:]!r}")
    return first


__all__ = [
    "RedisServer",
    "delta",
    "expected_after",
    "finished_run",
    "memory_journal_bytes",
    "resume_first_event",
]
