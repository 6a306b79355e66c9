"""The chat page with stored conversations and the journal (what ``aichatflow serve`` runs by
default): the sidebar, a reload in the middle of an answer, Stop, Regenerate, Edit and Retry.

The upstream is the fake OpenAI-compatible server (``tests/support/upstream.py``), so each test
knows the exact text the upstream sent and the exact messages it was asked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser.test_chat_page import assistant, open_chat, wait_status
from tests.support.openai_chunks import openai_stream
from tests.support.server import RunningServer
from tests.support.upstream import FakeUpstream, Script, respond, sleep

pytestmark = [pytest.mark.browser, pytest.mark.timeout(40)]


def paced(texts: list[str], pause: float) -> Script:
    """The OpenAI stream of ``texts`` with a pause before each delta."""
    out: list[Any] = []
    for action in openai_stream(texts):
        if getattr(action, "data", b"").find(b'"content"') >= 0:
            out.append(sleep(pause))
        out.append(action)
    return Script(out)


def answer(text: str) -> Script:
    return Script(openai_stream(text.split(" ")[:1] + [" " + w for w in text.split(" ")[1:]]))


@pytest.fixture
def server(start_server: Any, fake: FakeUpstream, tmp_path: Path) -> RunningServer:
    stored: RunningServer = start_server(
        providers={"up": fake.openai_provider("m")},
        default_model="up/m",
        journal={"backend": "memory"},
        store={"url": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"},
    )
    return stored


def asked(fake: FakeUpstream, n: int) -> list[dict[str, Any]]:
    """The messages of the upstream's n-th request (1-based)."""
    request = fake.wait_requests(n)[n - 1]
    messages: list[dict[str, Any]] = json.loads(request.body)["messages"]
    return messages


def stored(server: RunningServer, conversation_id: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/api/conversations/{conversation_id}", timeout=5)
    assert r.status_code == 200, r.text
    messages: list[dict[str, Any]] = r.json()["messages"]
    return messages


def conversation_id(page: Page) -> str:
    page.wait_for_function("() => location.hash.startsWith('#c=')")
    cid: str = page.evaluate("() => decodeURIComponent(location.hash.slice(3))")
    return cid


def answers(page: Page) -> list[str]:
    texts: list[str] = page.evaluate("() => window.aichatflow.answers()")
    return texts


def sidebar_titles(page: Page) -> list[str]:
    titles: list[str] = page.eval_on_selector_all(
        "#conversations .conv-open", "(bs) => bs.map((b) => b.textContent)"
    )
    return titles


def ask(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def ask_done(page: Page, text: str) -> None:
    """Asks, and waits for the answer to finish well."""
    ask(page, text)
    assert wait_status(page, "done", "error", "stopped") == "done"


def first_turn(
    page: Page, server: RunningServer, fake: FakeUpstream, question: str, *replies: str
) -> str:
    """Queues ``replies`` (one per upstream request), opens the page, asks ``question`` and
    waits for its answer; returns the new conversation's id."""
    fake.queue(*(answer(r) for r in replies))
    open_chat(page, server, "up/m")
    ask_done(page, question)
    return conversation_id(page)


def test_a_reload_mid_answer_continues_it_without_gaps_or_repeats(
    server: RunningServer, fake: FakeUpstream, page: Page
) -> None:
    tokens = [f"word{i} " for i in range(40)]
    full = "".join(tokens)
    fake.queue(paced(tokens, 0.08))  # ~3.2 s
    open_chat(page, server, "up/m")
    ask(page, "Tell me forty words")
    page.wait_for_function("() => window.aichatflow.frames >= 6", timeout=10_000)
    before = answers(page)[0]
    assert before and full.startswith(before) and before != full
    cid = conversation_id(page)

    page.reload()
    page.wait_for_selector("#messages article.msg.user")
    assert page.text_content("#messages article.msg.user .text") == "Tell me forty words"
    assert sidebar_titles(page) == ["Tell me forty words"]
    assert wait_status(page, "done", "error", "stopped", timeout_ms=15_000) == "done"
    assert answers(page) == [full]  # every word once, in order, nothing lost at the reload
    assert (assistant(page).locator(".answer").text_content() or "").rstrip() == full.rstrip()
    assert fake.attempts == 1  # the same upstream run, replayed: nothing asked again
    assert [m["role"] for m in stored(server, cid)] == ["user", "assistant"]
    assert stored(server, cid)[1]["content"] == full


def test_the_sidebar_lists_switches_renames_and_deletes(
    server: RunningServer, fake: FakeUpstream, page: Page
) -> None:
    first = first_turn(page, server, fake, "first question", "First answer.", "Second answer.")
    page.click("#new")
    assert page.locator("#messages article").count() == 0
    ask_done(page, "second question")
    second = conversation_id(page)
    assert first != second

    page.reload()  # the list comes from the server, the open conversation from the URL
    page.wait_for_function("() => document.querySelectorAll('#conversations li').length === 2")
    assert sidebar_titles(page) == ["second question", "first question"]
    page.wait_for_selector("#messages article.msg.assistant")
    assert answers(page) == ["Second answer."]
    assert page.get_attribute("#conversations li.current", "data-id") == second

    page.click(f"#conversations li[data-id='{first}'] .conv-open")  # switch
    page.wait_for_function(
        "() => document.querySelector('#messages article.msg.user .text')?.textContent"
        " === 'first question'"
    )
    assert answers(page) == ["First answer."]
    assert conversation_id(page) == first

    page.click(f"#conversations li[data-id='{first}'] .conv-rename")  # rename, keyboard only
    page.fill("#conversations input.conv-title", "Renamed one")
    page.press("#conversations input.conv-title", "Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#conversations .conv-open')]"
        ".some((b) => b.textContent === 'Renamed one')"
    )
    titles = {
        c["id"]: c["title"] for c in httpx.get(server.url + "/api/conversations").json()["data"]
    }
    assert titles == {first: "Renamed one", second: "second question"}

    delete = page.locator(f"#conversations li[data-id='{second}'] .conv-delete")
    delete.click()  # the first click only asks
    assert delete.text_content() == "Delete?"
    assert httpx.get(f"{server.url}/api/conversations/{second}").status_code == 200
    delete.click()
    page.wait_for_function("() => document.querySelectorAll('#conversations li').length === 1")
    assert httpx.get(f"{server.url}/api/conversations/{second}").status_code == 404
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#conversations li').length === 1")
    assert sidebar_titles(page) == ["Renamed one"]


def test_escape_stops_the_answer_for_the_server_too(
    server: RunningServer, fake: FakeUpstream, page: Page
) -> None:
    tokens = [f"w{i} " for i in range(100)]
    fake.queue(paced(tokens, 0.1))  # ~10 s
    open_chat(page, server, "up/m")
    ask(page, "a long one")
    page.wait_for_function("() => window.aichatflow.frames >= 3", timeout=10_000)
    cid = conversation_id(page)
    page.keyboard.press("Escape")
    assert wait_status(page, "stopped", "done", "error", timeout_ms=5_000) == "stopped"
    partial = answers(page)[0]
    assert partial and "".join(tokens).startswith(partial)
    # The journaled run was stopped (not just this tab's connection): stored as stopped.
    deadline_ok = False
    for _ in range(50):
        message = stored(server, cid)[-1]
        if message["status"] == "stopped":
            deadline_ok = True
            break
        page.wait_for_timeout(100)
    assert deadline_ok, stored(server, cid)
    assert len(message["content"]) < len("".join(tokens))
    assert fake.wait_all_finished(5)


def test_regenerate_replaces_the_last_answer(
    server: RunningServer, fake: FakeUpstream, page: Page
) -> None:
    cid = first_turn(page, server, fake, "question one", "A first answer.", "A better answer.")
    page.click("#messages article.msg.assistant .regenerate")
    page.wait_for_function("() => window.aichatflow.answers()[0] === 'A better answer.'")
    assert wait_status(page, "done", "error", "stopped") == "done"
    assert asked(fake, 2) == [{"role": "user", "content": "question one"}]
    assert answers(page) == ["A better answer."]
    assert page.locator("#messages article.msg.user").count() == 1
    got = [(m["role"], m["content"]) for m in stored(server, cid)]
    assert got == [("user", "question one"), ("assistant", "A better answer.")]


def test_edit_resends_the_last_question(
    server: RunningServer, fake: FakeUpstream, page: Page
) -> None:
    cid = first_turn(page, server, fake, "capital of France?", "Paris.", "Berlin.", "Rome.")
    ask_done(page, "capital of Germny?")
    page.wait_for_selector("#messages article.msg.user:nth-of-type(3) .edit")
    assert page.locator("#messages .edit").count() == 1  # only the last question

    page.click("#messages .edit")
    page.fill("#messages textarea.edit-text", "capital of Italy?")
    page.press("#messages textarea.edit-text", "Enter")
    page.wait_for_function("() => window.aichatflow.answers().at(-1) === 'Rome.'")
    assert wait_status(page, "done", "error", "stopped") == "done"
    assert asked(fake, 3) == [
        {"role": "user", "content": "capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "capital of Italy?"},
    ]
    shown = page.eval_on_selector_all(
        "#messages article.msg.user .text", "(n) => n.map((x) => x.textContent)"
    )
    assert shown == ["capital of France?", "capital of Italy?"]
    assert answers(page) == ["Paris.", "Rome."]
    got = [m["content"] for m in stored(server, cid)]
    assert got == ["capital of France?", "Paris.", "capital of Italy?", "Rome."]


def test_an_error_has_a_retry_button(server: RunningServer, fake: FakeUpstream, page: Page) -> None:
    overloaded = {"error": {"message": "busy", "type": "server_error", "code": "overloaded"}}
    fake.queue(Script([respond(503, overloaded)]), answer("Now it works."))
    open_chat(page, server, "up/m")
    ask(page, "try me")
    assert wait_status(page, "error", "done", "stopped") == "error"
    cid = conversation_id(page)
    alert = assistant(page).locator(".error[role=alert]")
    assert alert.is_visible()
    alert.locator("button.retry").click()
    assert wait_status(page, "done", "error", "stopped") == "done"
    assert answers(page) == ["Now it works."]
    assert page.locator("#messages .error").count() == 0
    assert asked(fake, 2) == [{"role": "user", "content": "try me"}]
    got = [(m["role"], m["content"], m["status"]) for m in stored(server, cid)]
    assert got == [("user", "try me", "complete"), ("assistant", "Now it works.", "complete")]


def test_without_a_store_edit_and_regenerate_resend_the_history(
    start_server: Any, page: Page
) -> None:
    fast = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
    server = start_server(providers={"fast": fast}, default_model="fast/echo")
    open_chat(page, server, "fast/echo")
    page.wait_for_selector("#sidebar .conversations", state="hidden")
    ask_done(page, "one")
    ask_done(page, "two")
    page.click("#messages .edit")
    page.fill("#messages textarea.edit-text", "three")
    with page.expect_request(lambda r: r.url.endswith("/api/chat")) as sent:
        page.press("#messages textarea.edit-text", "Enter")
    assert sent.value.post_data_json["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "one"},
        {"role": "user", "content": "three"},
    ]
    assert wait_status(page, "done", "error", "stopped") == "done"
    page.wait_for_function("() => window.aichatflow.answers().at(-1) === 'three'")
    with page.expect_request(lambda r: r.url.endswith("/api/chat")) as sent:
        page.click("#messages .regenerate")
    assert sent.value.post_data_json["messages"][-1] == {"role": "user", "content": "three"}
    assert len(sent.value.post_data_json["messages"]) == 3
    assert wait_status(page, "done", "error", "stopped") == "done"
    assert answers(page) == ["one", "three"]
