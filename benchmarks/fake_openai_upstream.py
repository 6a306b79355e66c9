"""A fast fake OpenAI-compatible upstream: ``POST .../chat/completions`` streaming chunks.

Raw asyncio (uvloop when installed), no framework, so that the upstream is never what a
client-side measurement measures. Each request streams, as OpenAI does, a role chunk,
``max_tokens`` content chunks, a ``finish_reason`` chunk, a usage chunk and ``data: [DONE]``;
every SSE event is one HTTP chunk (``Transfer-Encoding: chunked``), the way uvicorn-based servers
(vLLM, LiteLLM) and OpenAI send them. The path prefix picks the pacing:

* ``/burst/v1/chat/completions``: the whole response is pre-built and written in 64 KiB writes
  as fast as the client reads: many events per client read (a fast model, or a lagging reader);
* ``/paced/v1/chat/completions``: one event per write with ``--gap-ms`` between writes, so each
  client read normally carries one event (a real model streaming tokens).

Keep-alive is supported (clients pool connections). Run:
``python benchmarks/fake_openai_upstream.py --port 9000 --gap-ms 1``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import orjson

WORDS = [" The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", "."]
_PREFIX = (
    b'{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1730000000,'
    b'"model":"bench-model","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":'
)
_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
WRITE_SIZE = 65536


def sse_events(n: int) -> list[bytes]:
    """The SSE events (``data: ...\\n\\n``) of one response with ``n`` content tokens."""

    def chunk(delta: bytes, finish: bytes = b"null") -> bytes:
        return b'data: %s%s,"logprobs":null,"finish_reason":%s}],"usage":null}\n\n' % (
            _PREFIX,
            delta,
            finish,
        )

    events = [chunk(b'{"role":"assistant","content":"","refusal":null}')]
    for i in range(n):
        events.append(chunk(b'{"content":%s}' % orjson.dumps(WORDS[i % len(WORDS)])))
    events.append(chunk(b"{}", b'"length"'))
    usage = {
        "prompt_tokens": 1,
        "completion_tokens": n,
        "total_tokens": n + 1,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    events.append(
        b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1730000000,'
        b'"model":"bench-model","choices":[],"usage":%s}\n\n' % orjson.dumps(usage)
    )
    events.append(b"data: [DONE]\n\n")
    return events


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream:
    def __init__(self, gap: float) -> None:
        self.gap = gap
        self._burst: dict[int, bytes] = {}
        self._paced: dict[int, list[bytes]] = {}

    def burst_body(self, n: int) -> bytes:
        body = self._burst.get(n)
        if body is None:
            body = b"".join(http_chunk(e) for e in sse_events(n)) + b"0\r\n\r\n"
            self._burst[n] = body
        return body

    def paced_chunks(self, n: int) -> list[bytes]:
        chunks = self._paced.get(n)
        if chunks is None:
            chunks = [http_chunk(e) for e in sse_events(n)]
            self._paced[n] = chunks
        return chunks

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = orjson.loads(await reader.readexactly(length)) if length else {}
        n = int(body.get("max_tokens") or body.get("max_completion_tokens") or 1000)
        writer.write(_HEAD)
        if path.startswith("/paced/"):
            for chunk in self.paced_chunks(n):
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(self.gap)
            writer.write(b"0\r\n\r\n")
        else:
            data = memoryview(self.burst_body(n))
            for i in range(0, len(data), WRITE_SIZE):
                writer.write(data[i : i + WRITE_SIZE])
                await writer.drain()
        await writer.drain()
        return True


async def serve(port: int, gap: float) -> None:
    upstream = Upstream(gap)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--gap-ms", type=float, default=1.0, help="pause between paced events")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args.port, args.gap_ms / 1000.0))
    except ImportError:
        asyncio.run(serve(args.port, args.gap_ms / 1000.0))


if __name__ == "__main__":
    main()
