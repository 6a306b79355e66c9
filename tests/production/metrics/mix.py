"""A known mix of chat streams against a running server, and what its ``/metrics`` must say.

Each kind of stream is sent several times over separate connections (so the workers of a
``--workers N`` server each take some); the client notes what it saw (statuses, content writes,
usage, error codes), and :func:`check_scrape` compares every series with that.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from aichatflow.config import key_digest
from aichatflow.sse import SSEDecoder
from tests.support.processes import free_port

PROVIDER_CANARY = "sk-CANARY-provider-7d41f0c2a9"
CLIENT_CANARY = "sk-CANARY-client-19b3e6d5c8"
MODEL_CANARY = "sk-CANARY-model-5e2a8c7b31"
"""Typed by a client into the model field: the access log shows what was asked for, but no
metric label may carry it."""
KEY = "acf-metrics-mix-key-4b9e01d2c7f3"
"""The key every request of the mix (and every scrape) is sent with."""
LIMITED_KEY = "acf-metrics-limited-key-8a16f5e3"
"""A key allowed one request a minute (per worker: memory storage): the rest are refused."""
CHAT = "/api/chat"
V1 = "/v1/chat/completions"


def config() -> str:
    """Paced mocks (10 tokens/s: every token is its own write, 100 ms apart) that end well, fail
    before content, fail after two tokens and go silent after one; an upstream that refuses
    connections, with the canary as its key and in its URL."""
    closed = free_port()
    # the direct path, where every outcome is what the client saw (with a journal, a run that
    # outlives its client is counted by how the run ended: docs/journal.md)
    return f"""
[journal]
backend = "off"

[[auth.keys]]
id = "mix"
sha256 = "{key_digest(KEY)}"

[[auth.keys]]
id = "limited"
sha256 = "{key_digest(LIMITED_KEY)}"
rpm = 1

[providers.mock]
kind = "mock"
tokens_per_second = 10
first_token_ms = 0

[providers.down]
kind = "mock"
first_token_ms = 0
error_after = 0
error_code = "upstream_overloaded"

[providers.late]
kind = "mock"
tokens_per_second = 10
first_token_ms = 0
error_after = 2

[providers.stall]
kind = "mock"
first_token_ms = 0
stall_after = 1

[providers.refused]
kind = "openai-compatible"
base_url = "http://127.0.0.1:{closed}/v1?key={PROVIDER_CANARY}"
api_key = "{PROVIDER_CANARY}"
models = ["m"]
max_retries = 0
"""


@dataclass
class Seen:
    """What the client saw, summed over the mix."""

    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    first_content: Counter[str] = field(default_factory=Counter)
    gaps: Counter[str] = field(default_factory=Counter)
    tokens: Counter[tuple[str, str]] = field(default_factory=Counter)
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    reached_upstream: Counter[str] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)


async def _native(
    client: httpx.AsyncClient,
    url: str,
    model: str,
    key: str,
    *,
    close_after_content: bool = False,
) -> tuple[int, list[tuple[int, list[Any]]]]:
    """POST /api/chat; (status, [(content events, events) per body chunk]). Stops reading
    after the first content when asked (the client leaves)."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    headers = {"authorization": f"Bearer {key}"}
    chunks: list[tuple[int, list[Any]]] = []
    decoder = SSEDecoder()
    async with client.stream("POST", url + CHAT, json=body, headers=headers) as response:
        async for chunk in response.aiter_raw():
            events = decoder.feed(chunk)
            content = sum(1 for e in events if e.event == "text")
            chunks.append((content, events))
            if close_after_content and content:
                break
        return response.status_code, chunks


async def _one(client: httpx.AsyncClient, url: str, kind: str, seen: Seen) -> None:
    model = {
        "done": "mock/chat",
        "down": "down/chat",
        "late": "late/chat",
        "closed": "stall/chat",
        "refused": "refused/m",
        "canary": f"refused/{MODEL_CANARY}",
        "unknown": "nosuch/model",
        "limited": "mock/chat",
        "bad key": "mock/chat",
    }[kind]
    key = {"limited": LIMITED_KEY, "bad key": CLIENT_CANARY}.get(kind, KEY)
    status, chunks = await _native(client, url, model, key, close_after_content=kind == "closed")
    label = {"canary": "other", "unknown": "other", "bad key": ""}.get(kind, model)
    deployment = "refused/other" if kind == "canary" else model
    seen.requests[(CHAT, label, str(status))] += 1
    if kind in ("unknown", "bad key"):
        assert status == (404 if kind == "unknown" else 401)
        return
    if kind == "limited" and status == 429:
        seen.rate_limited["key"] += 1
        return
    assert status == 200
    events = [e for _, evs in chunks for e in evs]
    writes = sum(1 for content, _ in chunks if content)
    if writes:
        seen.first_content[label] += 1
        seen.gaps[label] += writes - 1
    seen.reached_upstream[CHAT] += 1
    terminal = [e for e in events if e.event in ("done", "error")]
    if kind == "closed":
        assert not terminal and writes == 1
        seen.outcomes[(CHAT, label, "client_closed")] += 1
        seen.attempts[(deployment, "ok")] += 1
        return
    (end,) = terminal
    data = orjson.loads(end.data)
    if end.event == "done":
        seen.outcomes[(CHAT, label, "done")] += 1
        seen.tokens[(label, "input")] += data["usage"]["input_tokens"]
        seen.tokens[(label, "output")] += data["usage"]["output_tokens"]
        seen.attempts[(deployment, "ok")] += 1
    else:
        seen.outcomes[(CHAT, label, data["code"])] += 1
        seen.attempts[(deployment, "ok" if writes else data["code"])] += 1


async def _v1_done(client: httpx.AsyncClient, url: str, seen: Seen) -> None:
    """One ``/v1`` stream of a single token: one content write, no gap."""
    body = {
        "model": "mock/chat",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"authorization": f"Bearer {KEY}"}
    response = await client.post(url + V1, json=body, headers=headers)
    assert response.status_code == 200
    data = [
        orjson.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")
    ]
    usage = next(d["usage"] for d in data if d.get("usage"))
    seen.requests[(V1, "mock/chat", "200")] += 1
    seen.outcomes[(V1, "mock/chat", "done")] += 1
    seen.first_content["mock/chat"] += 1
    seen.tokens[("mock/chat", "input")] += usage["prompt_tokens"]
    seen.tokens[("mock/chat", "output")] += usage["completion_tokens"]
    seen.attempts[("mock/chat", "ok")] += 1
    seen.reached_upstream[V1] += 1


MIX = {
    "done": 8,
    "down": 4,
    "late": 4,
    "closed": 4,
    "refused": 2,
    "canary": 2,
    "unknown": 2,
    "limited": 6,
    "bad key": 2,
}


async def run_mix(url: str, v1_streams: int = 4) -> Seen:
    """The whole mix at once, each request on its own connection."""
    seen = Seen()
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection for every request
    async with httpx.AsyncClient(timeout=20.0, limits=limits, trust_env=False) as client:
        jobs = [_one(client, url, kind, seen) for kind, n in MIX.items() for _ in range(n)]
        jobs += [_v1_done(client, url, seen) for _ in range(v1_streams)]
        await asyncio.gather(*jobs)
    return seen


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """A scrape read by prometheus-client's own parser."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _series(samples: Samples, name: str, *labels: str) -> dict[Any, float]:
    """``name``'s non-zero values by ``labels`` (a tuple of values, or the value of a single
    label), summing over any other label."""
    out: Counter[Any] = Counter()
    for (sample, labelset), value in samples.items():
        if sample == name and value:
            found = dict(labelset)
            key = tuple(found[label] for label in labels)
            out[key[0] if len(key) == 1 else key] += value
    return dict(out)


def check_scrape(samples: Samples, seen: Seen) -> None:
    """Every series equals what the client saw (chat routes; other routes are not counted)."""
    requests = _series(samples, "aichatflow_requests_total", "route", "model", "status")
    chat_requests = {k: v for k, v in requests.items() if k[0] in (CHAT, V1)}
    assert chat_requests == dict(seen.requests), (chat_requests, dict(seen.requests))
    outcomes = _series(samples, "aichatflow_stream_outcomes_total", "route", "model", "outcome")
    assert outcomes == dict(seen.outcomes), (outcomes, dict(seen.outcomes))
    ttft = _series(samples, "aichatflow_time_to_first_token_seconds_count", "model")
    assert ttft == dict(seen.first_content), (ttft, dict(seen.first_content))
    gaps = _series(samples, "aichatflow_inter_token_seconds_count", "model")
    assert gaps == {k: v for k, v in seen.gaps.items() if v}, (
        gaps,
        {k: v for k, v in seen.gaps.items() if v},
    )
    tokens = _series(samples, "aichatflow_tokens_total", "model", "kind")
    assert tokens == dict(seen.tokens), (tokens, dict(seen.tokens))
    attempts = _series(samples, "aichatflow_upstream_attempts_total", "deployment", "result")
    assert attempts == dict(seen.attempts), (attempts, dict(seen.attempts))
    overhead = _series(samples, "aichatflow_overhead_seconds_count", "route")
    assert overhead == dict(seen.reached_upstream), (overhead, dict(seen.reached_upstream))
    durations = _series(samples, "aichatflow_stream_duration_seconds_count", "model")
    streams: Counter[str] = Counter()
    for (_, model, _), n in seen.outcomes.items():
        streams[model] += n
    assert durations == dict(streams), (durations, dict(streams))
    limited = _series(samples, "aichatflow_rate_limited_total", "scope")
    assert limited == dict(seen.rate_limited), (limited, dict(seen.rate_limited))
    assert seen.rate_limited["key"] >= 4  # at most one admitted per worker
    assert _series(samples, "aichatflow_streams_active", "route") == {}  # all back to 0


__all__ = [
    "CLIENT_CANARY",
    "KEY",
    "MIX",
    "MODEL_CANARY",
    "PROVIDER_CANARY",
    "Seen",
    "check_scrape",
    "config",
    "parse",
]
