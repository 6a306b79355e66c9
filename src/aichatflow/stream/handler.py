"""The producer API of the original Go aiChatFlow, in Python form: ``StreamHandler``, ``SSEWriter``.

The Go framework handed a producer an output channel; here a producer is an async function that
writes to an ``Output`` (chat events) or an ``SSEWriter`` (raw SSE frames)::

    async def producer(output: Output) -> None:
        for word in ["Hello", " world"]:
            await output.send(word)

    return StreamHandler(model="demo").stream(producer)

A producer *pushes*, so this face needs what the provider path avoids: one task and one bounded
queue per stream. The consumer drains everything queued into one batch (one write), the bound
makes ``await output.send`` wait when the client is slow, and the producer task is cancelled when
the stream ends for any reason, client disconnect included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from ..chat_stream import ChatStream
from ..dialects.raw import RawSSEDialect
from ..events import ChatEvent, Finish, FinishReason, ReasoningDelta, TextDelta, ToolCallDelta
from ..sse.encode import encode_comment, encode_event
from .limits import StreamLimits
from .response import EventStreamResponse, new_stream_id

T = TypeVar("T")


class _End:
    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Channel(Generic[T]):
    """A bounded queue plus the producer task that fills it."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[T | _End] = asyncio.Queue(maxsize)

    async def put(self, item: T) -> None:
        await self.queue.put(item)

    async def batches(self, producer: Callable[[], Awaitable[None]]) -> AsyncIterator[list[T]]:
        async def run() -> None:
            try:
                await producer()
            except Exception as exc:  # handed to the consumer, raised in the stream's task
                await self.queue.put(_End(exc))
            else:
                await self.queue.put(_End(None))

        task = asyncio.get_running_loop().create_task(run())
        try:
            while True:
                batch = [await self.queue.get()]
                while not self.queue.empty():
                    batch.append(self.queue.get_nowait())
                end = next((i for i, item in enumerate(batch) if isinstance(item, _End)), None)
                if end is None:
                    yield batch  # type: ignore[misc]
                    continue
                marker = batch[end]
                assert isinstance(marker, _End)
                if end:
                    yield batch[:end]  # type: ignore[misc]
                if marker.error is not None:
                    raise marker.error
                return
        finally:
            task.cancel()


class Output:
    """What a chat producer writes to."""

    def __init__(self, channel: _Channel[ChatEvent]) -> None:
        self._channel = channel

    async def send(self, text: str) -> None:
        """Send a piece of the answer."""
        await self._channel.put(TextDelta(text))

    async def reasoning(self, text: str) -> None:
        """Send a piece of reasoning, shown apart from the answer."""
        await self._channel.put(ReasoningDelta(text))

    async def tool_call(
        self, index: int, *, id: str = "", name: str = "", arguments: str = ""
    ) -> None:
        await self._channel.put(ToolCallDelta(index=index, id=id, name=name, arguments=arguments))

    async def event(self, event: ChatEvent) -> None:
        """Send any ``ChatEvent`` (usage, a custom finish...)."""
        await self._channel.put(event)

    async def finish(self, reason: FinishReason = "stop") -> None:
        await self._channel.put(Finish(reason=reason))


class SSEWriter:
    """The original SSE writer's API: arbitrary events, data and comments on an event stream."""

    def __init__(self, channel: _Channel[bytes]) -> None:
        self._channel = channel

    async def write_data(self, data: str, *, id: str | None = None) -> None:
        await self._channel.put(encode_event(data, id=id))

    async def write_event(self, event: str, data: str, *, id: str | None = None) -> None:
        await self._channel.put(encode_event(data, event=event, id=id))

    async def comment(self, text: str) -> None:
        await self._channel.put(encode_comment(text))


class StreamHandler:
    """Runs a producer as a stream, with the engine's heartbeats, timers and disconnect."""

    def __init__(
        self, *, model: str = "", limits: StreamLimits | None = None, buffer: int = 64
    ) -> None:
        self.model = model
        self.limits = limits or StreamLimits()
        self.buffer = buffer

    def events(self, producer: Callable[[Output], Awaitable[None]]) -> ChatStream:
        """The producer's output as a ``ChatStream`` (for any dialect or for iterating)."""
        channel: _Channel[ChatEvent] = _Channel(self.buffer)
        output = Output(channel)
        return ChatStream(channel.batches(lambda: producer(output)))

    def stream(self, producer: Callable[[Output], Awaitable[None]]) -> EventStreamResponse:
        """A native-protocol response streaming what ``producer`` sends."""
        return EventStreamResponse(self.events(producer), model=self.model, limits=self.limits)

    def stream_sse(self, producer: Callable[[SSEWriter], Awaitable[None]]) -> EventStreamResponse:
        """A raw SSE response: the producer writes the frames itself through ``SSEWriter``."""
        channel: _Channel[bytes] = _Channel(self.buffer)
        writer = SSEWriter(channel)
        stream_id = new_stream_id()
        source: Any = ChatStream(channel.batches(lambda: producer(writer)))  # type: ignore[arg-type]
        return EventStreamResponse(
            source,
            dialect=RawSSEDialect(stream_id, retry_ms=self.limits.retry_ms),
            limits=self.limits,
            stream_id=stream_id,
        )


__all__ = ["Output", "SSEWriter", "StreamHandler"]
