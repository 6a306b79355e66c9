"""Pages of other origins, in a real Chromium, against a server whose provider is a counting
fake upstream: none of them may make the server call it.

Two attacks. A drive-by page on another origin ``POST``s a chat request as ``text/plain`` (a
"simple" request: no CORS preflight, the browser sends it and only hides the answer); it used to
reach the upstream with the operator's key and is now a 415. And DNS rebinding: a page of
``evil.example`` whose name then resolves to ``127.0.0.1`` is same-origin with the server, so
without the ``Host`` check it could read every answer; Chromium's ``--host-resolver-rules``
plays the rebound DNS, and the server refuses ``Host: evil.example`` with a 400.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page, Route
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aichatflow.server import create_app
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS
from tests.conftest import make_settings
from tests.support.server import LogCapture, RunningServer, serve
from tests.support.upstream import FakeUpstream, Script, openai_stream

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]

CHAT = {"model": "up/m", "messages": [{"role": "user", "content": "spend the key"}]}


class Recorder:
    """Outermost ASGI wrapper: every (method, path, status) that reached the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_and_record(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self._lock:
                    self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, send_and_record)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[str, str, int]]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._lock:
            return list(self.seen)


@pytest.fixture
def target(fake: FakeUpstream, server_logs: LogCapture) -> Iterator[tuple[RunningServer, Recorder]]:
    """The server under attack: its default model is the fake upstream."""
    provider = {
        "kind": "openai-compatible",
        "base_url": f"{fake.url}/v1",
        "max_retries": 0,
        "models": ["m"],  # listed here: the upstream is never asked for its list
    }
    settings = make_settings(providers={"up": provider}, default_model="up/m")
    recorder = Recorder(create_app(settings))
    with serve(recorder) as server:
        yield server, recorder
    assert "Traceback" not in server_logs.text()


def _attacker_app(target_url: str) -> Starlette:
    """Another origin (another port): a page that fires every simple request it can."""
    body = orjson.dumps(CHAT).decode()
    script = f"""
      const target = {orjson.dumps(target_url).decode()}, body = {orjson.dumps(body).decode()};
      const simple = (path, type) => fetch(target + path, {{
        method: "POST", mode: "no-cors", headers: {{"Content-Type": type}}, body}})
        .then((r) => r.type, (e) => "failed: " + e);
      window.attack = Promise.all([
        simple("/api/chat", "text/plain"),
        simple("/v1/chat/completions", "text/plain"),
        simple("/api/chat", "application/x-www-form-urlencoded"),
        // application/json is not "simple": the browser must ask first (a preflight) and stop.
        fetch(target + "/v1/chat/completions", {{
          method: "POST", headers: {{"Content-Type": "application/json"}}, body}})
          .then((r) => "read " + r.status, (e) => "blocked"),
        navigator.sendBeacon(target + "/api/chat", body) ? "beacon" : "no beacon",
      ]);
    """

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<!doctype html><title>evil</title><script>{script}</script>")

    return Starlette(routes=[StarletteRoute("/", page)])


def test_a_page_on_another_origin_cannot_reach_the_upstream(
    target: tuple[RunningServer, Recorder], fake: FakeUpstream, page: Page
) -> None:
    server, recorder = target
    with serve(_attacker_app(server.url)) as attacker:
        assert attacker.url != server.url  # another port: another origin
        page.goto(attacker.url + "/")
        results = page.evaluate("() => window.attack")
    assert results == ["opaque", "opaque", "opaque", "blocked", "beacon"]
    seen = recorder.wait_for(5)
    posts = sorted(s for s in seen if s[0] == "POST")
    assert posts == [
        ("POST", "/api/chat", 415),
        ("POST", "/api/chat", 415),
        ("POST", "/api/chat", 415),
        ("POST", "/v1/chat/completions", 415),
    ], seen  # every simple POST arrived, and was refused
    assert ("OPTIONS", "/v1/chat/completions", 405) in seen  # the preflight, not granted
    assert fake.connections == 0

    # Control: the server's own page (same origin, JSON) does reach the upstream.
    fake.queue(Script(openai_stream(["Hello from upstream"])))
    page.goto(server.url + "/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    page.fill("#prompt", "hi")
    page.click("#send")
    page.wait_for_function("() => document.getElementById('status').textContent === 'done'")
    assert "Hello from upstream" in (page.text_content("#messages") or "")
    assert fake.attempts == 1


# --- DNS rebinding ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rebinding_browser(browser: Browser) -> Iterator[Browser]:
    """Chromium whose DNS says ``evil.example`` is ``127.0.0.1``: the rebound state. Launched
    through the module's Playwright (a second sync Playwright cannot run in this thread).

    Chromium's own Private/Local Network Access checks are off: they stop a public page from
    reaching loopback in Chromium only (Firefox and Safari have none), and the server's guard
    must hold without them. With them on, this test sees "Failed to fetch" before the server
    is reached, whatever the server does."""
    args = [
        *CHROMIUM_ARGS,
        "--host-resolver-rules=MAP evil.example 127.0.0.1",
        "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,"
        "PrivateNetworkAccessSendPreflights",
    ]
    chromium = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    try:
        yield chromium
    finally:
        chromium.close()


REBOUND_SCRIPT = """
  async () => {
    const read = (r) => r.text().then((t) => [r.status, t]);
    const models = await fetch("/v1/models").then(read, (e) => ["failed", String(e)]);
    const chat = await fetch("/api/chat", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(BODY)})
      .then(read, (e) => ["failed", String(e)]);
    return {models, chat};
  }
"""


def test_a_rebound_name_cannot_read_answers(
    target: tuple[RunningServer, Recorder], fake: FakeUpstream, rebinding_browser: Browser
) -> None:
    server, recorder = target
    evil = f"http://evil.example:{server.port}"
    context = rebinding_browser.new_context()
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        page = context.new_page()

        # The attacker's page, as served before the rebinding (so never from this server).
        def attacker_page(route: Route) -> None:
            route.fulfill(status=200, content_type="text/html", body="<title>evil</title>")

        page.route(evil + "/attack", attacker_page)
        page.goto(evil + "/attack")
        got: dict[str, Any] = page.evaluate(
            REBOUND_SCRIPT.replace("BODY", orjson.dumps(CHAT).decode())
        )
        # The same-origin reads reached the server and were refused, not read.
        assert got["models"][0] == 400, got
        assert got["chat"][0] == 400, got
        for _, text in got.values():
            error = orjson.loads(text)["error"]
            assert error["code"] == "bad_request" and "allowed_hosts" in error["message"]
        assert "up/m" not in got["models"][1]

        # Loading the page itself through the rebound name: refused as well.
        response = page.goto(evil + "/")
        assert response is not None and response.status == 400

        # Control: the same browser, by address, is served.
        response = page.goto(server.url + "/")
        assert response is not None and response.status == 200
    finally:
        context.close()
    seen = recorder.wait_for(4)
    assert ("GET", "/v1/models", 400) in seen and ("POST", "/api/chat", 400) in seen
    assert fake.connections == 0


# --- the page's own policy ----------------------------------------------------------------------


def test_the_chat_page_works_under_its_csp_and_the_csp_bites(start_server: Any, page: Page) -> None:
    """A whole chat turn with no policy violation; then an injected inline script is refused
    (the policy is really in force, so the first half means something)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    server = start_server(default_model="mock/echo")
    page.goto(server.url + "/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    page.fill("#prompt", "csp check")
    page.click("#send")
    page.wait_for_function("() => document.getElementById('status').textContent === 'done'")
    assert "csp check" in (page.text_content("#messages") or "")
    assert violations == []

    ran = page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__inline = 1";
            document.head.append(s);
            return window.__inline === 1;
        }"""
    )
    assert ran is False
    deadline = time.monotonic() + 5  # the violation report is asynchronous
    while not any("script-src" in v for v in violations) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert any("script-src" in v for v in violations), violations
