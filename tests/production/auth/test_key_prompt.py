"""The chat page against a keyed server, in headless Chromium: it asks for a key, shows the
server's message for a wrong one and asks again, keeps a good one for the tab and streams with
it. Same real server and browser as ``tests/browser`` (docs/testing.md, Chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page

from aichatflow.config import key_digest
from tests.browser.test_chat_page import expected_transcript
from tests.support.server import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]

GOOD = "acf-browser-good-key-0123456789abcdefgh"
WRONG = "acf-browser-wrong-key-0123456789abWXYZ"
FAST = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
KEY_ITEM = "aichatflow.key"


@pytest.fixture
def server(start_server: Any) -> RunningServer:
    keyed: RunningServer = start_server(
        providers={"fast": FAST},
        default_model="fast/chat",
        auth={"keys": [{"id": "browser", "sha256": key_digest(GOOD)}]},
    )
    return keyed


@pytest.fixture
def csp_violations(page: Page) -> list[str]:
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", on_console)
    return seen


def stored_key(page: Page) -> str | None:
    value: str | None = page.evaluate("(item) => sessionStorage.getItem(item)", KEY_ITEM)
    return value


def submit_key(page: Page, key: str) -> None:
    page.fill("#key", key)
    page.click("#key-save")


def test_the_page_asks_for_a_key_refuses_a_wrong_one_and_streams_with_a_good_one(
    server: RunningServer, page: Page, csp_violations: list[str]
) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#key-form", state="visible")
    assert page.is_hidden("#key-error")  # nothing was refused yet: just the question
    assert page.is_disabled("#send")

    submit_key(page, WRONG)
    page.wait_for_selector("#key-error", state="visible")
    assert page.text_content("#key-error") == "invalid API key (ending in 'WXYZ')"
    assert page.is_visible("#key-form") and page.is_disabled("#send")
    assert stored_key(page) is None

    submit_key(page, GOOD)
    page.wait_for_selector("#key-form", state="hidden")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    assert page.input_value("#model") == "fast/chat"
    assert stored_key(page) == GOOD

    prompt = "Tell me about keys"
    with page.expect_request("**/api/chat") as sent:
        page.fill("#prompt", prompt)
        page.press("#prompt", "Enter")
    assert sent.value.headers["authorization"] == f"Bearer {GOOD}"
    page.wait_for_function(
        "() => document.querySelector('#messages article.msg.assistant')?.dataset.state === 'done'"
    )
    expected = expected_transcript(FAST, "chat", prompt)
    assert page.text_content("#messages article.msg.assistant .answer") == expected.text

    page.reload()  # the key stays for the tab: no prompt after a reload
    page.wait_for_function("() => !document.getElementById('send').disabled")
    assert page.is_hidden("#key-form")
    assert not csp_violations


def test_a_stored_key_the_server_refuses_shows_its_message_and_asks_again(
    server: RunningServer, page: Page
) -> None:
    page.add_init_script(f"sessionStorage.setItem({KEY_ITEM!r}, {WRONG!r})")
    page.goto(server.url + "/")
    page.wait_for_selector("#key-error", state="visible")
    assert page.text_content("#key-error") == "invalid API key (ending in 'WXYZ')"
    assert page.is_disabled("#send")
    submit_key(page, GOOD)
    page.wait_for_selector("#key-form", state="hidden")
    page.wait_for_function("() => !document.getElementById('send').disabled")


def test_a_keyless_server_never_shows_the_prompt(start_server: Any, page: Page) -> None:
    server = start_server(providers={"fast": FAST}, default_model="fast/chat")
    page.goto(server.url + "/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    assert page.is_hidden("#key-form")
