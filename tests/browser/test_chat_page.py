"""The chat page (``GET /``) in a real headless Chromium against a real server on 127.0.0.1.

What a person sees is checked against what the mock provider produces for the same request,
computed in-process, so a token lost, duplicated or reordered anywhere between provider, engine,
SSE framing, fetch() and the page's own parser shows up as a text mismatch.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page

from aichatflow.messages import ChatRequest
from aichatflow.providers.mock import MockProvider, tokenize
from aichatflow.transcript import Transcript, accumulate
from tests.support.server import LogCapture, RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(20)]

SCREENSHOT = Path("/tmp/aichatflow-page.png")
SCREENSHOT_STREAMING = Path("/tmp/aichatflow-page-streaming.png")
_FAULTS = ("error_after", "error_code", "disconnect_after", "stall_after")


# --- helpers -----------------------------------------------------------------------------------


def expected_transcript(options: dict[str, Any], model: str, prompt: str) -> Transcript:
    """What ``MockProvider(options)`` answers to a one-turn chat, with pacing and faults off."""
    opts = {k: v for k, v in options.items() if k != "kind" and k not in _FAULTS}
    opts |= {"tokens_per_second": 0, "first_token_ms": 0}
    provider = MockProvider("expected", opts)
    request = ChatRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": prompt}]}
    )

    async def collect() -> list[Any]:
        return [event async for event in provider.stream(request)]

    # In a thread of its own: Playwright's sync API keeps its loop marked running in this one.
    with ThreadPoolExecutor(1) as pool:
        return accumulate(pool.submit(asyncio.run, collect()).result(timeout=10))


def open_chat(page: Page, server: RunningServer, model: str) -> None:
    """Load the page and wait until Send is enabled (models and config are in)."""
    page.goto(server.url + "/")
    page.wait_for_function(
        "() => !document.getElementById('send').disabled"
        " && document.getElementById('model').options.length > 0"
    )
    assert page.text_content("#status") == "idle"
    assert page.input_value("#model") == model
    assert page.is_disabled("#stop")
    # Every status the page goes through from now on, in order (consecutive repeats dropped).
    page.evaluate(
        """() => {
            const status = document.getElementById('status');
            window.__statuses = [];
            new MutationObserver(() => {
                const s = status.textContent, seen = window.__statuses;
                if (seen[seen.length - 1] !== s) seen.push(s);
            }).observe(status, {childList: true, characterData: true, subtree: true});
        }"""
    )


def statuses(page: Page) -> list[str]:
    result: list[str] = page.evaluate("() => window.__statuses")
    return result


def wait_status(page: Page, *states: str, timeout_ms: int = 10_000) -> str:
    page.wait_for_function(
        "(states) => states.includes(document.getElementById('status').textContent)",
        arg=list(states),
        timeout=timeout_ms,
    )
    return page.text_content("#status") or ""


def frames(page: Page) -> int:
    n: int = page.evaluate("() => window.aichatflow.frames")
    return n


def assert_first_token(turn: Locator, *, at_least_ms: float) -> None:
    """The quiet "first token N ms" of a finished answer, no earlier than the upstream's delay."""
    text = turn.locator(".meta .ttft").text_content() or ""
    match = re.fullmatch(r"first token (\d+) ms|first token (\d+\.\d) s", text)
    assert match, text
    ms = float(match[1]) if match[1] else float(match[2]) * 1000
    assert at_least_ms <= ms < 10_000, text


def reasoning_ms(summary: str) -> float:
    """Milliseconds of a "Reasoned for 850 ms" / "Reasoned for 1.2 s" summary."""
    number, unit = summary.removeprefix("Reasoned for ").split()
    return float(number) * (1000 if unit == "s" else 1)


def assistant(page: Page) -> Locator:
    return page.locator("#messages article.msg.assistant").last


def answer_text(page: Page) -> str:
    return assistant(page).locator(".answer").text_content() or ""


# --- tests -------------------------------------------------------------------------------------


def test_answer_streams_token_by_token_and_matches_the_provider(
    start_server: Any, page: Page
) -> None:
    options = {"kind": "mock", "tokens_per_second": 40, "first_token_ms": 100}
    server = start_server(providers={"paced": options}, default_model="paced/chat")
    prompt = "How does streaming work?"
    expected = expected_transcript(options, "chat", prompt)
    assert len(tokenize(expected.text)) > 50  # ~2 s at 40 tokens/s

    open_chat(page, server, "paced/chat")
    page.fill("#prompt", prompt)
    page.press("#prompt", "Enter")

    # Sample the answer while it streams: it must grow over several samples, never shrink.
    lengths: list[int] = []
    controls_while_streaming: list[tuple[bool, bool]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status, length, stop_enabled, send_enabled = page.evaluate(
            """() => [
                document.getElementById('status').textContent,
                (document.querySelector('#messages article.msg.assistant:last-of-type .answer')
                    || {textContent: ''}).textContent.length,
                !document.getElementById('stop').disabled,
                !document.getElementById('send').disabled,
            ]"""
        )
        if status != "streaming":
            break
        lengths.append(length)
        controls_while_streaming.append((stop_enabled, send_enabled))
        page.wait_for_timeout(100)

    assert wait_status(page, "done", "error", "stopped") == "done"
    assert statuses(page) == ["streaming", "done"]
    assert lengths == sorted(lengths), f"the answer shrank while streaming: {lengths}"
    growing = sorted({n for n in lengths if n > 0})
    assert len(growing) >= 3, f"answer did not grow over several frames: {lengths}"
    assert all(c == (True, False) for c in controls_while_streaming), "Stop on, Send off"
    assert frames(page) > 5

    user = page.locator("#messages article.msg.user")
    assert user.count() == 1
    assert user.locator(".text").text_content() == prompt
    turn = assistant(page)
    assert turn.get_attribute("data-state") == "done"
    assert answer_text(page) == expected.text
    assert turn.locator("details.reasoning").is_hidden()  # no reasoning from a chat model
    assert turn.locator(".error").count() == 0
    usage = expected.usage
    assert usage is not None
    assert turn.locator(".meta .finish").text_content() == "finish: stop"
    assert turn.locator(".meta .usage").text_content() == (
        f"in {usage.input_tokens} · out {usage.output_tokens} tokens"
    )
    # Time to first token, quietly: the mock waits 100 ms before its first token.
    assert_first_token(turn, at_least_ms=100)
    assert page.is_disabled("#stop")
    assert page.is_enabled("#send")
    assert page.input_value("#prompt") == ""


def test_reasoning_streams_into_its_own_box(start_server: Any, page: Page) -> None:
    options = {"kind": "mock", "tokens_per_second": 60, "first_token_ms": 50, "reasoning": True}
    server = start_server(providers={"thinker": options}, default_model="thinker/chat")
    prompt = "Think first, then answer."
    expected = expected_transcript(options, "chat", prompt)
    assert expected.reasoning
    assert expected.text

    open_chat(page, server, "thinker/chat")
    page.fill("#prompt", prompt)
    page.click("#send")

    turn = assistant(page)
    details = turn.locator("details.reasoning")
    # While the model reasons, the box is shown open and the answer is still empty.
    page.wait_for_function(
        """() => {
            const turn = document.querySelector('#messages article.msg.assistant:last-of-type');
            const d = turn && turn.querySelector('details.reasoning');
            return d && !d.hidden && d.open
                && d.querySelector('.reasoning-text').textContent.length > 0
                && turn.querySelector('.answer').textContent === '';
        }""",
        timeout=5_000,
    )
    assert turn.locator(".reasoning-text").is_visible()

    assert wait_status(page, "done", "error", "stopped") == "done"
    assert details.is_visible()
    # Folded apart, with how long the reasoning took (~50 tokens at 60/s: most of a second).
    summary = details.locator("summary").text_content() or ""
    assert re.fullmatch(r"Reasoned for (\d+ ms|\d+\.\d s)", summary), summary
    assert reasoning_ms(summary) >= 300
    assert details.locator(".reasoning-text").text_content() == expected.reasoning
    assert answer_text(page) == expected.text
    # Neither box leaks into the other.
    assert "I should explain" in expected.reasoning
    assert "I should explain" not in answer_text(page)
    assert "You asked" not in (details.locator(".reasoning-text").text_content() or "")
    # Collapsed once the answer started; the reader can open it again.
    assert details.evaluate("d => d.open") is False
    assert details.locator(".reasoning-text").is_hidden()
    details.locator("summary").click()
    assert details.locator(".reasoning-text").is_visible()

    usage = expected.usage
    assert usage is not None and usage.reasoning_tokens
    assert turn.locator(".meta .usage").text_content() == (
        f"in {usage.input_tokens} · out {usage.output_tokens} tokens"
        f" · reasoning {usage.reasoning_tokens}"
    )


def test_stop_freezes_the_answer_and_ends_the_server_stream(
    start_server: Any, server_logs: LogCapture, page: Page
) -> None:
    long_text = " ".join(f"word{i}" for i in range(400))  # ~27 s at 15 tokens/s
    options = {"kind": "mock", "tokens_per_second": 15, "first_token_ms": 100, "text": long_text}
    server = start_server(providers={"slow": options}, default_model="slow/chat")

    open_chat(page, server, "slow/chat")
    page.fill("#prompt", "Tell me a long story.")
    page.click("#send")
    page.wait_for_function("() => window.aichatflow.frames >= 3", timeout=5_000)
    assert page.text_content("#status") == "streaming"
    assert page.is_enabled("#stop")
    page.screenshot(path=str(SCREENSHOT_STREAMING))
    assert not _client_gone(server_logs)

    page.click("#stop")
    assert wait_status(page, "stopped", "done", "error", timeout_ms=2_000) == "stopped"
    assert statuses(page) == ["streaming", "stopped"]

    first = answer_text(page)
    frames_at_stop = frames(page)
    page.wait_for_timeout(500)
    assert answer_text(page) == first, "the answer kept growing after Stop"
    assert frames(page) == frames_at_stop
    assert first and long_text.startswith(first)
    assert len(first) < len(long_text)

    turn = assistant(page)
    assert turn.get_attribute("data-state") == "stopped"
    assert turn.locator(".meta .stopped").text_content() == "(stopped)"
    assert turn.locator(".meta .finish").count() == 0
    assert turn.locator(".error").count() == 0
    assert page.is_disabled("#stop")
    assert page.is_enabled("#send")

    # The server saw the client leave and closed the provider's stream.
    deadline = time.monotonic() + 2
    while not _client_gone(server_logs) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = _client_gone(server_logs)
    assert gone, f"no 'client gone' within 2 s of Stop; server log:\n{server_logs.text()}"
    assert gone[0].levelname == "INFO"


def _client_gone(logs: LogCapture) -> list[Any]:
    return [
        r
        for r in list(logs.records)
        if r.name == "aichatflow.stream" and "client gone" in r.getMessage()
    ]


def test_upstream_error_mid_stream_keeps_the_partial_answer(start_server: Any, page: Page) -> None:
    options = {
        "kind": "mock",
        "tokens_per_second": 40,
        "first_token_ms": 50,
        "error_after": 5,
        "error_code": "upstream_overloaded",
    }
    server = start_server(providers={"flaky": options}, default_model="flaky/chat")
    prompt = "Will this fail?"
    expected = expected_transcript(options, "chat", prompt)
    first_five = "".join(tokenize(expected.text)[:5])

    open_chat(page, server, "flaky/chat")
    page.fill("#prompt", prompt)
    page.click("#send")
    assert wait_status(page, "error", "done", "stopped") == "error"
    assert statuses(page) == ["streaming", "error"]

    turn = assistant(page)
    assert turn.get_attribute("data-state") == "error"
    alert = turn.locator(".error[role=alert]")
    assert alert.count() == 1
    assert alert.is_visible()
    assert (alert.text_content() or "").startswith("upstream_overloaded: ")
    assert answer_text(page) == first_five  # the 5 tokens shown stay, nothing after them
    assert "upstream_overloaded" not in answer_text(page)
    assert page.is_enabled("#send")
    assert page.is_disabled("#stop")


def test_unknown_model_is_shown_as_a_404_error(start_server: Any, page: Page) -> None:
    options = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
    server = start_server(providers={"fast": options}, default_model="fast/chat")

    open_chat(page, server, "fast/chat")
    page.evaluate(
        """() => {
            const select = document.getElementById('model');
            select.append(new Option('ghost/nothing', 'ghost/nothing'));
            select.value = 'ghost/nothing';
        }"""
    )
    page.fill("#prompt", "Anyone there?")
    with page.expect_response(lambda r: r.url.endswith("/api/chat")) as info:
        page.click("#send")
    assert info.value.status == 404
    assert wait_status(page, "error", "done", "stopped") == "error"

    turn = assistant(page)
    assert turn.get_attribute("data-state") == "error"
    alert = turn.locator(".error[role=alert]")
    assert (alert.text_content() or "").startswith("unknown_model: ")
    assert answer_text(page) == ""

    # The failed question was dropped from the history, so the next turn is a clean one-turn chat.
    page.select_option("#model", "fast/chat")
    prompt = "And now?"
    page.fill("#prompt", prompt)
    with page.expect_request(lambda r: r.url.endswith("/api/chat")) as sent:
        page.click("#send")
    assert sent.value.post_data_json == {
        "model": "fast/chat",
        "messages": [{"role": "user", "content": prompt}],
    }
    assert wait_status(page, "done", "error", "stopped") == "done"
    assert answer_text(page) == expected_transcript(options, "chat", prompt).text


def test_the_picker_offers_markdown_and_it_renders(start_server: Any, page: Page) -> None:
    """``mock/markdown`` is in the picker of a default server, and its answer is rendered."""
    options = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
    server = start_server(providers={"mock": options})

    open_chat(page, server, "mock/chat")
    offered = page.eval_on_selector_all("#model option", "(os) => os.map((o) => o.value)")
    assert "mock/markdown" in offered
    page.select_option("#model", "mock/markdown")
    page.fill("#prompt", "Show me some Markdown")
    page.click("#send")
    assert wait_status(page, "done", "error", "stopped") == "done"
    expected = expected_transcript(options, "markdown", "Show me some Markdown").text
    assert expected.startswith("## Markdown from the mock")
    answer = assistant(page).locator(".answer")
    assert answer.locator("h2").first.text_content() == "Markdown from the mock"
    assert answer.locator("strong").first.text_content() == "Markdown"
    assert answer.locator("ol > li").count() == 3
    assert answer.locator("table td").count() > 0
    assert answer.locator("pre > code").count() > 0
    assert "##" not in (answer.text_content() or "")


def test_screenshot_of_a_finished_conversation(start_server: Any, page: Page) -> None:
    options = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
    server = start_server(providers={"demo": options}, default_model="demo/chat")

    open_chat(page, server, "demo/chat")
    for model, prompt in (("demo/reasoner", "Why is the sky blue?"), ("demo/chat", "Thanks!")):
        page.select_option("#model", model)
        page.fill("#prompt", prompt)
        page.click("#send")
        assert wait_status(page, "done", "error", "stopped") == "done"
        page.wait_for_function("() => !document.getElementById('send').disabled")
    page.locator("details.reasoning:not([hidden]) > summary").first.click()

    assert page.locator("article.msg.user").count() == 2
    assert page.locator("article.msg.assistant[data-state=done]").count() == 2
    # The page is one viewport tall (the conversation scrolls inside it): make it tall enough
    # to show the whole conversation.
    page.set_viewport_size({"width": 960, "height": 1100})
    page.evaluate("() => { const m = document.getElementById('messages'); m.scrollTop = 0; }")
    SCREENSHOT.unlink(missing_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_fallback_answer_names_the_deployment(start_server: Any, page: Page) -> None:
    """An alias whose first deployment is down: the page shows the answer and who gave it."""
    fast = {"kind": "mock", "tokens_per_second": 200, "first_token_ms": 0}
    server = start_server(
        providers={"down": {**fast, "error_after": 0}, "up": fast},
        models={"safe": ["down/chat", "up/echo"]},
        default_model="safe",
    )
    open_chat(page, server, "safe")
    page.fill("#prompt", "who answers?")
    page.click("#send")
    assert wait_status(page, "error", "done", "stopped") == "done"
    assert answer_text(page) == "who answers?"
    meta = assistant(page).locator(".meta").text_content() or ""
    assert meta.endswith("· via up/echo")
