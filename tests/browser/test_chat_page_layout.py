"""The chat page's details and looks: tool calls and reasoning, light and dark, a 390 px phone,
the keyboard, and the screenshots in docs/images/.

Screenshots go to a temporary directory; with ``AICHATFLOW_SCREENSHOTS=docs/images`` they
replace the committed ones (``docs/page.md`` says when to do that).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import PAGE_TIMEOUT_MS
from tests.browser.test_chat_page import assistant, open_chat, wait_status
from tests.support import upstream as up
from tests.support.openai_chunks import Chunks, tool_call
from tests.support.server import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(40)]

FAST = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
WIDE = (
    "| " + " | ".join(f"column{i}" for i in range(12)) + " |\n"
    "|" + "---|" * 12 + "\n"
    "| " + " | ".join(f"value{i}" for i in range(12)) + " |\n\n"
    "```\n" + "x = 1  # " + "a very long line of code " * 12 + "\n```\n\n"
    "A paragraph with a verylongwordthatdoesnotbreak" + "x" * 120 + " in it."
)


def test_reasoning_and_tool_calls_are_shown_apart(
    start_server: Any, fake: up.FakeUpstream, page: Page
) -> None:
    c = Chunks()
    fake.queue(
        up.Script(
            [
                up.headers(200),
                up.event(c.role()),
                up.event(c.reasoning("Let me look ")),
                up.sleep(0.4),
                up.event(c.reasoning("up the weather.")),
                up.event(c.tool_calls(tool_call(0, id="call_1", name="get_weather", arguments=""))),
                up.event(c.tool_calls(tool_call(0, arguments='{"city":'))),
                up.event(c.tool_calls(tool_call(0, arguments='"Paris"}'))),
                up.event(c.finish("tool_calls")),
                up.done(),
                up.end_chunked(),
            ]
        )
    )
    server = start_server(providers={"up": fake.openai_provider("m")}, default_model="up/m")
    open_chat(page, server, "up/m")
    page.fill("#prompt", "Weather in Paris?")
    page.press("#prompt", "Enter")
    assert wait_status(page, "done", "error", "stopped") == "done"
    turn = assistant(page)
    summary = turn.locator("details.reasoning > summary").text_content() or ""
    assert summary.startswith("Reasoned for "), summary
    assert turn.locator("details.reasoning").evaluate("d => d.open") is False
    assert turn.locator(".reasoning-text").text_content() == "Let me look up the weather."
    call = turn.locator(".tool-calls .tool-call")
    assert call.count() == 1
    assert call.locator(".tool-name").text_content() == "get_weather"
    assert call.locator(".tool-args").text_content() == '{\n  "city": "Paris"\n}'
    assert turn.locator(".meta .finish").text_content() == "finish: tool-calls"


def background(page: Page) -> str:
    color: str = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    return color


def test_light_dark_and_the_toggle(start_server: Any, browser: Browser) -> None:
    server = start_server(providers={"fast": FAST}, default_model="fast/chat")
    for scheme, other in (("light", "dark"), ("dark", "light")):
        ctx = browser.new_context(color_scheme=scheme)
        ctx.set_default_timeout(PAGE_TIMEOUT_MS)
        page = ctx.new_page()
        page.goto(server.url + "/")
        page.wait_for_function("() => !document.getElementById('send').disabled")
        first = background(page)
        assert page.get_attribute("html", "data-theme") is None  # follows the system
        page.click("#theme")
        assert page.get_attribute("html", "data-theme") == other
        assert background(page) != first
        page.reload()  # the choice is kept
        page.wait_for_function("() => !document.getElementById('send').disabled")
        assert page.get_attribute("html", "data-theme") == other
        page.click("#theme")  # back to the system's
        assert page.get_attribute("html", "data-theme") is None
        assert background(page) == first
        ctx.close()


def test_a_390px_phone(start_server: Any, browser: Browser, tmp_path: Path) -> None:
    server = start_server(
        providers={"fast": {**FAST, "text": WIDE}},
        default_model="fast/chat",
        journal={"backend": "memory"},
        store={"url": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"},
    )
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    page = ctx.new_page()
    open_chat(page, server, "fast/chat")
    assert page.is_hidden("#sidebar")  # collapsed on a phone
    assert page.is_visible("#toggle-sidebar")
    prompt = page.locator("#prompt").bounding_box()
    send = page.locator("#send").bounding_box()
    assert prompt and send
    assert prompt["x"] >= 0 and prompt["x"] + prompt["width"] <= 390
    assert send["x"] + send["width"] <= 390 and send["y"] + send["height"] <= 844
    page.fill("#prompt", "wide things")
    page.press("#prompt", "Enter")
    assert wait_status(page, "done", "error", "stopped") == "done"
    assert assistant(page).locator("table").count() == 1
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth,"
        " document.getElementById('messages').scrollWidth]"
    )
    assert all(w <= 390 for w in widths), widths  # the table and code scroll in their boxes
    page.click("#toggle-sidebar")
    assert page.is_visible("#sidebar")
    page.wait_for_function("() => document.querySelectorAll('#conversations li').length === 1")
    page.click("#conversations .conv-open")  # opening one closes the sidebar again
    page.wait_for_selector("#sidebar", state="hidden")
    ctx.close()


def test_keyboard_shift_enter_is_a_newline(start_server: Any, page: Page) -> None:
    server = start_server(providers={"fast": FAST}, default_model="fast/echo")
    open_chat(page, server, "fast/echo")
    page.focus("#prompt")
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value("#prompt") == "line one\nline two"
    assert page.locator("#messages article").count() == 0
    page.keyboard.press("Enter")
    assert wait_status(page, "done", "error", "stopped") == "done"
    assert page.text_content("#messages article.msg.user .text") == "line one\nline two"


def _conversation(server: RunningServer, page: Page) -> None:
    open_chat(page, server, "demo/chat")
    page.fill("#prompt", "Plan a weekend in Lisbon")
    page.press("#prompt", "Enter")
    assert wait_status(page, "done", "error", "stopped") == "done"
    page.click("#new")
    for model, prompt in (
        ("demo/markdown", "Show me some Markdown"),
        ("demo/reasoner", "Why is the sky blue?"),
    ):
        page.select_option("#model", model)
        page.fill("#prompt", prompt)
        page.press("#prompt", "Enter")
        assert wait_status(page, "done", "error", "stopped") == "done"
    page.wait_for_function("() => document.querySelectorAll('#conversations li').length === 2")
    page.evaluate("() => { document.getElementById('messages').scrollTop = 0; }")


def test_screenshots(start_server: Any, browser: Browser, tmp_path: Path) -> None:
    out = Path(os.environ.get("AICHATFLOW_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    shots = {
        "page-light.png": ({"width": 1280, "height": 1000}, "light"),
        "page-dark.png": ({"width": 1280, "height": 1000}, "dark"),
        "page-phone.png": ({"width": 390, "height": 844}, "light"),
    }
    for name, (viewport, scheme) in shots.items():
        server = start_server(  # a fresh store each: the sidebar shows this run's two chats
            providers={"demo": FAST},
            default_model="demo/chat",
            journal={"backend": "memory"},
            store={"url": f"sqlite+aiosqlite:///{tmp_path / name}.db"},
        )
        ctx = browser.new_context(viewport=viewport, color_scheme=scheme, reduced_motion="reduce")
        ctx.set_default_timeout(PAGE_TIMEOUT_MS)
        page = ctx.new_page()
        _conversation(server, page)
        page.screenshot(path=str(out / name))
        ctx.close()
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
