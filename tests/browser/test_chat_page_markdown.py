"""Markdown on the chat page: rendered while it streams, highlighted, copyable, and sanitised.

The answers come from the mock provider's ``text`` option, paced so that the page can be looked
at mid-stream. The sanitiser is tested with the page's CSP switched off (``bypass_csp``): the
CSP alone already blocks inline handlers, so with it on a sanitiser bug would go unseen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import PAGE_TIMEOUT_MS
from tests.browser.test_chat_page import assistant, open_chat, wait_status

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]

CODE = 'def greet(name):\n    return f"hello {name}"  # say hello'
ANSWER = f"""Here is a plan:

- first **item**
- second item

| tool | speed |
|------|-------|
| marked | fast |
| DOMPurify | safe |

```python
{CODE}
```

That is all for the code. And a few more words follow here, to keep the stream going for a
while after the code block, so that the page can be looked at while it still streams: one two
three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen.
"""

# Each line is one way model output has tried to run script in a chat page.
PAYLOADS = [
    "<img src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=1</script>",
    "[click me](javascript:window.__pwned=1)",
    '<a href="javascript:window.__pwned=1">raw link</a>',
    "[mixed case](JaVaScRiPt:window.__pwned=1)",
    "[entity](&#106;avascript:window.__pwned=1)",
    "[tab](java\tscript:window.__pwned=1)",
    "<svg onload=window.__pwned=1><circle r=5></circle></svg>",
    '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
    '<a href="data:text/html,<script>alert(1)</script>">data link</a>',
    '<details open ontoggle="window.__pwned=1"><summary>x</summary></details>',
    '<form action="javascript:window.__pwned=1"><button>go</button></form>',
    "[ref link][r]\n\n[r]: javascript:window.__pwned=1",
    '<div style="background:url(javascript:window.__pwned=1)">styled</div>',
]
HOSTILE = "Some text first.\n\n" + "\n\n".join(PAYLOADS) + "\n\nThe end."


def paced(text: str, tps: float) -> dict[str, Any]:
    return {"kind": "mock", "tokens_per_second": tps, "first_token_ms": 0, "text": text}


# Everything the page has rendered of the last answer, as facts the test can compare.
SNAPSHOT = """() => {
    const turn = document.querySelector('#messages article.msg.assistant:last-of-type');
    const answer = turn.querySelector('.answer');
    const code = answer.querySelector('pre > code');
    return {
        state: turn.dataset.state,
        li: [...answer.querySelectorAll('li')].map((n) => n.textContent.trim()),
        td: [...answer.querySelectorAll('table td')].map((n) => n.textContent.trim()),
        code: code ? code.textContent : null,
        codeClass: code ? code.className : null,
        keywords: code ? code.querySelectorAll('.hljs-keyword').length : 0,
        strings: code ? code.querySelectorAll('.hljs-string').length : 0,
        copy: answer.querySelectorAll('pre > button.copy').length,
    };
}"""


# The answer's elements (wrappers of the streaming view left out) beside a fresh render of its
# whole text by the page's own module.
SAME_AS_WHOLE = """async () => {
    const { renderMarkdown } = await import('/static/js/markdown.js');
    const answer = document.querySelector('#messages article.msg.assistant:last-of-type .answer');
    const sig = (root) => [...root.querySelectorAll('*')]
        .filter((n) => !n.matches('.md-done, .md-tail'))
        .map((n) => `${n.tagName}.${n.className}:${n.children.length ? '' : n.textContent}`)
        .join('|');
    const whole = document.createElement('div');
    whole.append(renderMarkdown(window.aichatflow.answers().at(-1)));
    return [sig(answer), sig(whole)];
}"""


def test_markdown_renders_while_it_streams_and_after(start_server: Any, page: Page) -> None:
    csp: list[str] = []
    page.on(
        "console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None
    )
    server = start_server(providers={"md": paced(ANSWER, 25)}, default_model="md/chat")
    open_chat(page, server, "md/chat")
    page.fill("#prompt", "Show me markdown")
    page.press("#prompt", "Enter")

    # Mid-stream: the code block is closed and more text follows, the answer is not done.
    page.wait_for_function(
        """() => {
            const turn = document.querySelector('#messages article.msg.assistant:last-of-type');
            return turn && turn.dataset.state === 'streaming'
                && turn.querySelector('.answer pre > code')
                && turn.querySelector('.answer').textContent.includes('That is all');
        }""",
        timeout=15_000,
    )
    during = page.evaluate(SNAPSHOT)
    assert during["state"] == "streaming"
    assert page.text_content("#status") == "streaming"
    assert not (assistant(page).text_content() or "").endswith("sixteen.")
    assert during["li"] == ["first item", "second item"]
    assert during["td"] == ["marked", "fast", "DOMPurify", "safe"]
    assert during["code"] == CODE + "\n"
    assert "language-python" in during["codeClass"] and "hljs" in during["codeClass"]
    assert during["keywords"] >= 2 and during["strings"] >= 1  # def, return; the f-string
    assert during["copy"] == 1
    assert assistant(page).locator(".answer strong").first.text_content() == "item"

    assert wait_status(page, "done", "error", "stopped", timeout_ms=20_000) == "done"
    after = page.evaluate(SNAPSHOT)
    assert after | {"state": "streaming"} == during
    assert after["state"] == "done"
    text = assistant(page).locator(".answer").text_content() or ""
    assert text.rstrip().endswith("fifteen sixteen.")
    assert page.evaluate("() => window.aichatflow.answers()") == [ANSWER]
    # Rendered block by block, the answer ends exactly as one render of the whole text would be.
    pieces, whole = page.evaluate(SAME_AS_WHOLE)
    assert pieces == whole
    assert "TABLE" in whole and "LI" in whole and "hljs-keyword" in whole
    assert csp == []  # the libraries need nothing the page's CSP forbids
    assert "```" not in text and "|---" not in text and "**" not in text


def test_the_copy_button_copies_the_code(start_server: Any, page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    server = start_server(providers={"md": paced(ANSWER, 0)}, default_model="md/chat")
    open_chat(page, server, "md/chat")
    page.fill("#prompt", "Show me markdown")
    page.press("#prompt", "Enter")
    assert wait_status(page, "done", "error", "stopped") == "done"
    copy = assistant(page).locator("pre > button.copy")
    copy.click()
    page.wait_for_function(
        "() => document.querySelector('pre > button.copy').textContent === 'Copied'"
    )
    assert page.evaluate("() => navigator.clipboard.readText()") == CODE + "\n"


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Page]:
    """A page with the CSP off, so that only the sanitiser stands between the model and script."""
    ctx = browser.new_context(viewport={"width": 960, "height": 720}, bypass_csp=True)
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        ctx.close()
    assert not errors, f"uncaught errors in the page: {errors}"


DANGER = """() => {
    const answer = document.querySelector('#messages article.msg.assistant:last-of-type .answer');
    const bad = [];
    for (const node of answer.querySelectorAll('*')) {
        const tag = node.tagName.toLowerCase();
        if (['script', 'iframe', 'svg', 'img', 'form', 'object', 'embed', 'style'].includes(tag)) {
            bad.push(tag);
        }
        for (const attr of node.attributes) {
            const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
            if (attr.name.startsWith('on') || attr.name === 'style' || attr.name === 'srcdoc'
                || /^(javascript|data|vbscript):/.test(value)) {
                bad.push(`${tag}[${attr.name}=${attr.value}]`);
            }
        }
    }
    return bad;
}"""


@pytest.mark.parametrize("tps", [0, 200], ids=["whole", "streamed"])
def test_model_output_never_runs_script(start_server: Any, open_page: Page, tps: float) -> None:
    page = open_page
    server = start_server(providers={"evil": paced(HOSTILE, tps)}, default_model="evil/chat")
    page.goto(server.url + "/")
    # The CSP really is off here: an inline handler the test adds itself does run.
    page.evaluate(
        """() => { const i = document.createElement('img'); i.setAttribute('onerror',
            'window.__probe = 1'); i.src = 'data:,'; document.body.append(i); }"""
    )
    page.wait_for_function("() => window.__probe === 1")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    page.fill("#prompt", "attack")
    page.press("#prompt", "Enter")
    dangers: list[list[str]] = []
    while page.text_content("#status") == "streaming":
        dangers.append(page.evaluate(DANGER))  # also mid-stream, block by block
        page.wait_for_timeout(30)
    assert wait_status(page, "done", "error", "stopped") == "done"
    page.wait_for_timeout(200)  # any onerror/onload has had its chance
    assert page.evaluate(DANGER) == []
    assert all(d == [] for d in dangers), dangers
    assert page.evaluate("() => window.__pwned") is None

    answer = assistant(page).locator(".answer")
    assert "The end." in (answer.text_content() or "")
    for label in ("click me", "raw link", "mixed case", "entity", "ref link", "data link"):
        link = answer.get_by_text(label, exact=True)
        if link.count():
            link.first.click()
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__pwned") is None
    assert len(page.context.pages) == 1  # no link opened anything
