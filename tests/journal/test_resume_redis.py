"""Resume on another instance with the Redis journal (T27's first half), over real sockets: two
servers share one real ``redis-server``; a client starts a stream on A, leaves after its k-th
frame, and resumes on B with the last id it saw. B must replay exactly the rest, once, from the
same upstream attempt, whichever instance it asks."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.journal.test_resume_native import BODY, FULL, first_frames, position, resume, slow_stream
from tests.support.server import RunningServer, serve
from tests.support.upstream import FakeUpstream, Script


@pytest.fixture
def two_instances(fake: FakeUpstream, redis_url: str) -> Iterator[tuple[RunningServer, ...]]:
    settings = make_settings(
        providers={"up": fake.openai_provider("m")},
        journal={"backend": "redis", "url": redis_url, "ttl": 5},
        stream={"heartbeat": 1},
    )
    with serve(create_app(settings)) as a, serve(create_app(settings)) as b:
        yield a, b


@pytest.mark.parametrize("by", ["header", "query"])
@pytest.mark.parametrize("k", [0, 1, 7, 10])
async def test_a_stream_started_on_a_resumes_on_b_exactly_once(
    two_instances: tuple[RunningServer, RunningServer], fake: FakeUpstream, k: int, by: str
) -> None:
    a, b = two_instances
    fake.queue(Script(slow_stream()))
    seen = await first_frames(a.url, k, BODY)
    stream_id = orjson.loads(seen[0].data)["stream_id"]
    status, _, rest = await resume(b.url, stream_id, seen[-1].id, by=by)
    assert status == 200
    rest = [f for f in rest if f.event]
    text = "".join(orjson.loads(f.data)["text"] for f in [*seen, *rest] if f.event == "text")
    assert text == FULL
    assert [f.event for f in rest if f.event in ("done", "error")] == ["done"]
    ids = [position(f.id) for f in [*seen, *rest] if f.id]
    assert ids == sorted(set(ids)), ids
    assert fake.attempts == 1
    status, raw, _ = await resume(a.url, stream_id, rest[-1].id)  # final id, on A this time
    assert (status, raw) == (204, b"")
