"""``mock``: a keyless, deterministic provider that streams like a real model.

It is the default provider (the chat page works with no API key), the load source of the
benchmarks, and a fault injector for tests. Same request, same output, every time.

Pacing: tokens are scheduled at ``tokens_per_second`` after ``first_token_ms``; each pull hands
over *every token already due* as one batch, the way one upstream read carries whatever arrived.
A reader that keeps up gets one token per frame; a reader that lags gets what piled up in one
write. ``tokens_per_second = 0`` streams as fast as the reader reads, ``burst`` tokens per batch,
letting the event loop run at least every ``MAX_HOLD`` seconds.

Models (``mock/<name>``): ``chat`` (a paced answer about the mock itself), ``reasoner``
(scripted reasoning, then that answer), ``echo`` (repeats the last user message) and
``markdown`` (an answer in Markdown: a heading, emphasis, lists, a table and a fenced code
block, to try a page's rendering with no key). ``max_tokens`` streams exactly that many text
deltas, cycling through the answer.

Options (``[providers.<name>]`` with ``kind = "mock"``; every one optional):

* ``tokens_per_second`` (40; 0 = as fast as the reader reads), ``first_token_ms`` (300),
  ``burst`` (1: tokens per batch when unpaced);
* ``text``: the answer every model of this provider gives, instead of its own (e.g. some
  Markdown of yours, or a fixed string for a test);
* ``models``: the names it answers to (default ``["chat", "reasoner", "echo", "markdown"]``);
  a name ending in "echo" echoes, one ending in "markdown" answers in Markdown;
* ``reasoning``: true, false, or ``"auto"`` (only models whose name contains "reason" or
  "think"); ``reasoning_tokens``: how many reasoning deltas (default: the scripted text once);
* faults, counted in content tokens: ``error_after`` (+ ``error_code``, default
  ``upstream_overloaded``), ``disconnect_after``, ``stall_after``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..chat_stream import ChatStream
from ..errors import ConfigError, ProviderError, UpstreamDisconnected, error_for_code
from ..events import ChatEvent, Finish, FinishReason, ReasoningDelta, StreamStart, TextDelta, Usage
from ..messages import ChatRequest
from ..request_record import note_attempt, note_dispatch
from ._retry import CANCELLED

TIMER_SLACK = 0.002
"""Seconds early a token still counts as due. uvloop's timers have millisecond resolution and
fire up to a millisecond early; without slack a woken stream finds its token not yet due and
sleeps again for the remainder, many sleeps per token instead of one (docs/performance.md,
"The mock's timer slack")."""

MAX_HOLD = 0.002
"""With ``tokens_per_second = 0``, the longest a stream runs without letting the event loop
run, in seconds. A real upstream read suspends; this mock's batches are ready at once, and when
the client's socket takes every write too, nothing suspends: a long answer would hold the loop
until it ended, and every other stream, timer and ``/healthz`` with it. Yielding on every batch
instead makes the streams take turns a few events at a time rather than until their socket is
full, which costs far more CPU per event at one event per batch; a clock read per batch and one
yield per turn cost nothing measurable. The price: with N streams at full speed, the loop comes
round every N x 2 ms. The figures: docs/performance.md, "A full-speed mock lets the event loop
run"."""

_TOKEN = re.compile(r"\s*\S+|\s+")

_ANSWER = (
    "You asked: \u201c{prompt}\u201d. This answer comes from aichatflow's built-in mock model, "
    "which needs no API key. It streams word by word at a steady pace, the way a real model "
    "does, so you can watch tokens arrive, press Stop to cancel the generation mid-sentence, "
    "and see how the reasoning panel, the answer and the usage line fit together. Set "
    "OPENAI_API_KEY or DEEPSEEK_API_KEY, or point a provider at any OpenAI-compatible server, "
    "to talk to a real model."
)
MARKDOWN_ANSWER = """\
## Markdown from the mock

This answer is **Markdown**, streamed token by token like any other: *emphasis*, `inline code`
and a [link](https://example.com/).

Steps:

1. Pick `mock/markdown` in the model list.
2. Send any message.
3. Watch the table and the code arrive.

- no API key
- no network
  - a nested item

| provider | key needed | reasoning |
|----------|:----------:|-----------|
| mock     | no         | scripted  |
| openai   | yes        | o-series  |

```python
async def producer(output):
    for word in ["Hello", ", ", "world"]:
        await output.send(word)
```

> A quote, to end with.
"""
"""What ``mock/markdown`` answers: every common Markdown construct, so a renderer can be tried
with no key. Streamed exactly, whitespace and line breaks included."""

_REASONING = (
    "The user wrote \u201c{prompt}\u201d. I should explain what is happening: this is a mock "
    "model, so the reasoning is scripted. Still, it streams apart from the answer, the same "
    "way DeepSeek's reasoning_content does, so the page can show it in its own box."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MockOptions:
    tokens_per_second: float = 40.0
    first_token_ms: float = 300.0
    burst: int = 1
    reasoning: bool | str = "auto"
    reasoning_tokens: int = 0
    text: str | None = None
    models: tuple[str, ...] = ("chat", "reasoner", "echo", "markdown")
    error_after: int | None = None
    error_code: str = "upstream_overloaded"
    disconnect_after: int | None = None
    stall_after: int | None = None

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> MockOptions:
        known = set(cls.__dataclass_fields__)
        unknown = set(options) - known - {"kind"}
        if unknown:
            raise ConfigError(f"unknown mock option(s): {', '.join(sorted(unknown))}")
        values = {k: v for k, v in options.items() if k in known}
        if "models" in values:
            values["models"] = tuple(values["models"])
        opts = cls(**values)
        if opts.tokens_per_second < 0 or opts.first_token_ms < 0 or opts.burst < 1:
            raise ConfigError("mock: tokens_per_second and first_token_ms >= 0, burst >= 1")
        return opts


def tokenize(text: str) -> list[str]:
    """Split into word-like tokens that keep their leading space, as BPE tokens do."""
    return _TOKEN.findall(text)


@functools.lru_cache(maxsize=1024)
def _deltas(text: str, *, reasoning: bool) -> tuple[ChatEvent, ...]:
    """``text`` as frozen delta events, shared by every stream that says it, so a request does
    not tokenize its answer and build its events again (docs/performance.md, "The mock shares
    its answers' events")."""
    kind = ReasoningDelta if reasoning else TextDelta
    return tuple(kind(t) for t in tokenize(text) or [" "])


@functools.lru_cache(maxsize=1024)
def _token_count(text: str) -> int:
    return len(tokenize(text))


class MockProvider:
    """A provider that needs nothing: see the module docstring for its knobs."""

    def __init__(self, name: str = "mock", options: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.options = MockOptions.parse(options or {})

    @property
    def models(self) -> Sequence[str]:
        return self.options.models

    def stream(self, request: ChatRequest) -> ChatStream:
        return ChatStream(self._batches(request))

    async def aclose(self) -> None:
        return None

    def _wants_reasoning(self, model: str) -> bool:
        flag = self.options.reasoning
        if isinstance(flag, bool):
            return flag
        return "reason" in model or "think" in model

    def _plan(self, request: ChatRequest) -> _Plan:
        prompt = " ".join(request.last_user_text().split())
        short = prompt if len(prompt) <= 160 else prompt[:157] + "..."
        if self.options.text is not None:
            answer = self.options.text
        elif request.model.endswith("echo"):
            answer = prompt or "(empty)"
        elif request.model.endswith("markdown"):
            answer = MARKDOWN_ANSWER
        else:
            answer = _ANSWER.format(prompt=short)
        text = _deltas(answer, reasoning=False)
        thoughts: tuple[ChatEvent, ...] = ()
        reasoning = 0
        if self._wants_reasoning(request.model):
            thoughts = _deltas(_REASONING.format(prompt=short), reasoning=True)
            reasoning = self.options.reasoning_tokens or len(thoughts)
        limit = request.token_limit
        return _Plan(thoughts, reasoning, text, len(text) if limit is None else limit)

    async def _batches(self, request: ChatRequest) -> AsyncIterator[list[ChatEvent]]:
        """The stream, noted on the request's record as one upstream attempt, as an HTTP
        provider's are (``_retry.py``): sent now, ``ok`` once it delivered or ended, else the
        code of its fault. Nothing is added per batch: ``i`` already counts the tokens handed
        over."""
        deployment = f"{self.name}/{request.model}"
        note_dispatch(asyncio.get_running_loop().time())
        result = CANCELLED
        i = 0
        try:
            opts = self.options
            digest = hashlib.sha1(request.model_dump_json().encode()).hexdigest()[:12]
            yield [StreamStart(model=deployment, response_id=f"mock-{digest}")]
            if opts.first_token_ms:
                await asyncio.sleep(opts.first_token_ms / 1000.0)
            # Built only now: a stream waiting for its first token holds no answer in memory, as a
            # real upstream connection would not.
            plan = self._plan(request)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            rate = opts.tokens_per_second
            i, n = 0, plan.total
            fault_at = self._fault_at
            yielded = t0
            while i < n:
                if i >= fault_at:
                    await self._fault(i)
                stop = min(n, fault_at) if fault_at > i else n
                if rate:
                    now = loop.time()
                    due = int((now - t0 + TIMER_SLACK) * rate) + 1
                    if due <= i:
                        await asyncio.sleep(t0 + i / rate - now)
                        continue
                    j = min(stop, due)
                else:
                    if loop.time() - yielded > MAX_HOLD:
                        await asyncio.sleep(0)
                        yielded = loop.time()
                    j = min(stop, i + opts.burst)
                events = plan.events(i, j)
                i = j
                yield events
            if n >= fault_at:
                await self._fault(n)
            prompt_tokens = sum(_token_count(m.text()) for m in request.messages)
            usage = Usage(
                input_tokens=prompt_tokens,
                output_tokens=plan.total,
                reasoning_tokens=plan.reasoning,
            )
            reason: FinishReason = "length" if request.token_limit is not None else "stop"
            yield [Finish(reason=reason, raw_reason=reason, usage=usage)]
            result = "ok"
        except ProviderError as error:
            result = "ok" if i else error.code
            raise
        finally:
            note_attempt(deployment, "ok" if result is CANCELLED and i else result)

    @property
    def _fault_at(self) -> int:
        """The token index where the first configured fault fires (faults end the stream)."""
        opts = self.options
        points = [opts.error_after, opts.disconnect_after, opts.stall_after]
        return min((p for p in points if p is not None), default=1 << 62)

    async def _fault(self, emitted: int) -> None:
        """Fire the configured fault once ``emitted`` content tokens have been handed over."""
        opts = self.options
        if opts.error_after is not None and emitted >= opts.error_after:
            raise error_for_code(
                opts.error_code, f"{self.name}: injected failure", provider=self.name
            )
        if opts.disconnect_after is not None and emitted >= opts.disconnect_after:
            raise UpstreamDisconnected(f"{self.name}: injected disconnect", provider=self.name)
        if opts.stall_after is not None and emitted >= opts.stall_after:
            await asyncio.Event().wait()  # silent forever, like a hung upstream


class _Plan:
    """The stream's events, made on demand: ``reasoning`` thoughts, then ``text`` answer tokens,
    each cycling through its distinct tokens. Events are frozen, so one instance per distinct
    token is shared by every repetition (a 2,000-token stream holds ~100 objects, not 2,000)."""

    __slots__ = ("_text", "_thoughts", "reasoning", "total")

    def __init__(
        self,
        thoughts: tuple[ChatEvent, ...],
        reasoning: int,
        text: tuple[ChatEvent, ...],
        count: int,
    ) -> None:
        self._thoughts = thoughts
        self._text = text
        self.reasoning = reasoning
        self.total = reasoning + count

    def events(self, i: int, j: int) -> list[ChatEvent]:
        r, thoughts, text = self.reasoning, self._thoughts, self._text
        if i >= r and j - i == 1:  # the common case: one answer token
            return [text[(i - r) % len(text)]]
        return [
            thoughts[k % len(thoughts)] if k < r else text[(k - r) % len(text)] for k in range(i, j)
        ]


def create(name: str, options: Mapping[str, Any]) -> MockProvider:
    return MockProvider(name, options)


__all__ = ["MARKDOWN_ANSWER", "MockOptions", "MockProvider", "create", "tokenize"]
