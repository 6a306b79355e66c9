"""``LocalProvider``: a GGUF model run in this process by llama.cpp, streamed like any upstream.

Threads, and why:

* llama.cpp computes for milliseconds per token without yielding, so every call into it (the
  lazy model load too) runs in one worker thread per provider, never on the event loop: other
  streams and ``/healthz`` keep being served while it generates;
* a llama.cpp context is not thread-safe and holds one conversation's KV cache, so one
  generation runs at a time. The worker is a single-thread executor: its queue is the lock, and
  a second request waits its turn (in arrival order) instead of corrupting the first;
* tokens cross to the event loop through a ``Bridge`` (bounded and batched); when the consumer
  goes away (``aclose``, or the task is cancelled because the client left) the bridge's
  ``stopped`` event makes the worker stop at the next token, so nobody's CPU is spent on an
  answer nobody reads, and the next request in the queue starts at once.

``StreamStart`` is sent when the model is loaded and this request's turn has come.

The same request gives the same answer whatever was asked before (at temperature 0, and at any
temperature with the same ``seed``): the context is reset before every generation, so the whole
prompt is evaluated from position 0 in the same batches every time. llama-cpp-python otherwise
keeps the KV cache of the previous request and evaluates only the tokens after the common
prefix; a repeated request then re-evaluates just its last prompt token, alone, and llama.cpp's
single-token arithmetic differs from its batched arithmetic in the last bits, enough to change
SmolLM2's greedy answer from the first one after load to another. The price is evaluating the
whole prompt each time (``reuse_prefix = true`` trades that repeatability for speed).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

from ...chat_stream import ChatStream
from ...errors import (
    AIChatFlowError,
    ProviderError,
    UnknownModel,
    UpstreamBadRequest,
    UpstreamBadResponse,
)
from ...events import ChatEvent, Finish, StreamStart, TextDelta, Usage
from ...messages import ChatRequest
from ._bridge import Bridge
from ._convert import chunk_text, completion_kwargs, map_finish_reason
from ._model import ChatModel, ModelSpec, load_model, resolve_model_path
from ._options import LocalOptions

log = logging.getLogger("aichatflow.providers.local")


@dataclass(slots=True)
class GenerationStats:
    """What the worker did, for logs and tests. Written by the worker thread only."""

    generations: int = 0
    """Generations finished (normally, stopped, or failed)."""
    tokens: int = 0
    """Tokens generated since start, counted as text chunks come out of llama.cpp (one per
    token; a character split over tokens, or text held back at a stop string, is one chunk)."""
    last_tokens: int = 0
    """Tokens of the generation that finished last."""
    active: bool = False
    """A generation is running now."""
    last_ended_at: float | None = None
    """``time.monotonic()`` when the last generation finished."""


class LocalProvider:
    """Streams chat completions from a local GGUF model (see the module docstring)."""

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        opts = LocalOptions.parse(name, options or {})
        self.name = name
        self.options = opts
        self.spec = ModelSpec(
            path=resolve_model_path(name, opts.model_path),
            n_ctx=opts.n_ctx,
            n_threads=opts.n_threads,
            seed=opts.seed,
        )
        self.stats = GenerationStats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"aichatflow-{name}")
        self._model: ChatModel | None = None  # loaded and used by the worker thread only
        self._live: set[Bridge[ChatEvent]] = set()
        self._closed = False

    @property
    def models(self) -> Sequence[str]:
        return self.options.models

    def stream(self, request: ChatRequest) -> ChatStream:
        return ChatStream(self._batches(request))

    async def aclose(self) -> None:
        """End live streams, wait for the worker to stop, and free the model."""
        if self._closed:
            return
        self._closed = True
        for bridge in list(self._live):
            bridge.stop()
            bridge.finish(self._closed_error())
        await asyncio.to_thread(self._shutdown)

    def _closed_error(self) -> ProviderError:
        return ProviderError(f"{self.name}: the provider was closed", provider=self.name)

    async def _batches(self, request: ChatRequest) -> AsyncIterator[list[ChatEvent]]:
        if request.model not in self.options.models:
            raise UnknownModel(
                f"{self.name}/{request.model}", [f"{self.name}/{m}" for m in self.options.models]
            )
        kwargs = completion_kwargs(
            request,
            provider=self.name,
            default_max_tokens=self.options.max_tokens,
            default_seed=self.options.seed,
        )
        if self._closed:
            raise self._closed_error()
        start = StreamStart(model=f"{self.name}/{request.model}", response_id=uuid.uuid4().hex)
        bridge: Bridge[ChatEvent] = Bridge()
        self._live.add(bridge)
        try:
            self._executor.submit(self._run, bridge, start, kwargs)
            while batch := await bridge.batch():
                yield batch
        finally:
            bridge.stop()  # the worker stops at its next token (a no-op after a normal end)
            self._live.discard(bridge)

    # --- the worker thread ---------------------------------------------------------------------

    def _run(self, bridge: Bridge[ChatEvent], start: StreamStart, kwargs: dict[str, Any]) -> None:
        if bridge.stopped.is_set():  # the client left while this request waited its turn
            bridge.finish()
            return
        stats = self.stats
        stats.active = True
        tokens_before = stats.tokens
        try:
            if self._model is None:
                self._model = load_model(self.spec, self.name)
            if bridge.put(start):
                self._generate(self._model, bridge, kwargs)
        except AIChatFlowError as exc:
            bridge.finish(exc)
        except ValueError as exc:  # llama.cpp's "Requested tokens (n) exceed context window"
            bridge.finish(UpstreamBadRequest(f"{self.name}: {exc}", provider=self.name))
        except Exception:
            log.exception("%s: generation failed", self.name)
            failed = UpstreamBadResponse(f"{self.name}: generation failed", provider=self.name)
            bridge.finish(failed)
        finally:
            bridge.finish()  # no-op when an error was delivered above
            stats.last_tokens = stats.tokens - tokens_before
            stats.generations += 1
            stats.last_ended_at = time.monotonic()
            stats.active = False

    def _generate(
        self, model: ChatModel, bridge: Bridge[ChatEvent], kwargs: dict[str, Any]
    ) -> None:
        """Run one generation into ``bridge``, counting tokens in ``stats`` as they come."""
        if not self.options.reuse_prefix:
            model.reset()  # evaluate the whole prompt from 0 (see the module docstring)
        chunks = cast(Iterator[dict[str, Any]], model.create_chat_completion(**kwargs))
        tokens = 0
        finish_raw: str | None = None
        stats = self.stats
        try:
            for chunk in chunks:  # each step computes one token
                text, reason = chunk_text(chunk)
                if text:
                    tokens += 1
                    stats.tokens += 1
                    if not bridge.put(TextDelta(text)):
                        return  # the consumer left: stop at this token
                if reason is not None:
                    finish_raw = reason
                if bridge.stopped.is_set():
                    return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # end llama.cpp's generator now, not at garbage collection
        usage = Usage(output_tokens=tokens)
        bridge.put(Finish(reason=map_finish_reason(finish_raw), raw_reason=finish_raw, usage=usage))

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        model, self._model = self._model, None
        if model is not None:
            model.close()


__all__ = ["GenerationStats", "LocalProvider"]
