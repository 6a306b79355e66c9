"""CORS in a real Chromium: a page of an allowlisted origin streams from the server, a page of
any other origin cannot read a byte, and its request never reaches the upstream.

Three servers on loopback, so three origins (another port is another origin): the chat server,
with ``[cors] allow_origins`` naming the first page server only, and two page servers serving
the same tiny page, whose script streams both chat endpoints with ``fetch`` (JSON and a
``x-request-id`` header: not "simple", so the browser sends a preflight first) and reads each
body as it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from playwright.sync_api import Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route as StarletteRoute

from aichatflow.server import create_app
from tests.browser.test_cross_origin import Recorder
from tests.conftest import make_settings
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import (
    Chunks,
    FakeUpstream,
    Script,
    done,
    end_chunked,
    event,
    fake_upstream,
    headers,
    sleep,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

CHAT = {"model": "up/m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
PATHS = ["/api/chat", "/v1/chat/completions"]

SCRIPT = """
  async (target) => {
    const body = BODY;
    const one = async (path) => {
      try {
        const r = await fetch(target + path, {method: "POST", body,
          headers: {"Content-Type": "application/json", "X-Request-Id": "page-" + path.length}});
        const reader = r.body.getReader(), decoder = new TextDecoder();
        let text = "", reads = 0, firstAt = null;
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          reads += 1;
          if (firstAt === null) firstAt = performance.now();
          text += decoder.decode(value, {stream: true});
        }
        return {status: r.status, requestId: r.headers.get("x-request-id"), reads,
                spreadMs: performance.now() - firstAt, text};
      } catch (e) {
        return {failed: String(e)};
      }
    };
    return [await one("/api/chat"), await one("/v1/chat/completions")];
  }
"""


def _page_app() -> Starlette:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>another origin</title><p>page</p>")

    return Starlette(routes=[StarletteRoute("/", page)])


def _slow_stream() -> Script:
    """Two pieces of text 0.3 s apart: a page that streams sees them in separate reads."""
    c = Chunks()
    return Script(
        [
            headers(200),
            event(c.role()),
            event(c.content("Hel")),
            sleep(0.3),
            event(c.content("lo")),
            event(c.finish()),
            done(),
            end_chunked(),
        ]
    )


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream(_slow_stream()) as fake:
        yield fake
    assert not fake.errors, fake.errors


@pytest.fixture
def origins(
    upstream: FakeUpstream, server_logs: LogCapture
) -> Iterator[tuple[RunningServer, RunningServer, RunningServer, Recorder]]:
    """(allowed page server, other page server, chat server, the chat server's recorder)."""
    with serve(_page_app()) as allowed, serve(_page_app()) as other:
        settings = make_settings(
            providers={"up": upstream.openai_provider("m")},
            default_model="up/m",
            cors={"allow_origins": [allowed.url]},
        )
        recorder = Recorder(create_app(settings))
        with serve(recorder) as server:
            yield allowed, other, server, recorder
    assert "Traceback" not in server_logs.text()


def _run(page: Page, origin: RunningServer, server: RunningServer) -> list[dict[str, Any]]:
    page.goto(origin.url + "/")
    script = SCRIPT.replace("BODY", orjson.dumps(orjson.dumps(CHAT).decode()).decode())
    results: list[dict[str, Any]] = page.evaluate(script, server.url)
    return results


def test_an_allowlisted_origin_streams_and_another_cannot(
    origins: tuple[RunningServer, RunningServer, RunningServer, Recorder],
    upstream: FakeUpstream,
    page: Page,
) -> None:
    allowed, other, server, recorder = origins
    assert len({allowed.url, other.url, server.url}) == 3  # three origins

    granted = _run(page, allowed, server)
    for path, result in zip(PATHS, granted, strict=True):
        assert "failed" not in result, (path, result)
        assert result["status"] == 200
        assert "Hel" in result["text"] and "lo" in result["text"], result
        # the request id header is exposed to the page's script, and the page's own id kept
        assert result["requestId"] == f"page-{len(path)}"
        # read while it streamed: more than one read, spread over the upstream's pause
        assert result["reads"] >= 2 and result["spreadMs"] >= 150, result
    assert upstream.attempts == 2

    refused = _run(page, other, server)
    for result in refused:
        assert result == {"failed": "TypeError: Failed to fetch"}, result
    seen = recorder.wait_for(6)
    preflights = [s for s in seen if s[0] == "OPTIONS"]
    assert sorted(preflights) == [
        ("OPTIONS", "/api/chat", 204),
        ("OPTIONS", "/api/chat", 400),
        ("OPTIONS", "/v1/chat/completions", 204),
        ("OPTIONS", "/v1/chat/completions", 400),
    ], seen
    assert [s for s in seen if s[0] == "POST"] == [
        ("POST", "/api/chat", 200),
        ("POST", "/v1/chat/completions", 200),
    ], seen  # the other origin's requests were never sent: its preflight was refused
    assert upstream.attempts == 2
