"""Scenario ``page``: the chat page's main thread while a long markdown answer streams in.

``aichatflow serve`` (one worker, CPU 0) answers with the mock's ``text``: a 2,000-token markdown
answer (headings, paragraphs, lists, tables, fenced code in several languages). Headless Debian
Chromium (Playwright, ``/usr/bin/chromium``) opens the page, sends one question and records,
from the click to the answer's ``done``:

* long tasks (``PerformanceObserver('longtask')``: main-thread tasks over 50 ms): count, total
  and longest;
* animation frames the browser painted (a ``requestAnimationFrame`` loop) and the frame rate;
* the page's own markdown work (``window.aichatflow.stats``: renders and their total ms; one
  render per animation frame at most, which is the point of the design).

Each pace runs ``--runs`` times (fresh page each) and the table shows the median. The answer the
page ends with is checked against the text the mock sent, character for character.

Run: ``.venv/bin/python benchmarks/run_page.py`` (about a minute) or ``--quick`` (one run of
each pace). Figures: docs/performance.md, "The page".
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SERVER_CPU, machine, save, scenario_parser
from _stacks import aichatflow_server
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
PACES = (200, 1000, 0)  # tokens per second; 0 = as fast as the page reads
WORDS = [
    *("stream", "token", "frame", "render", "parse", "block", "list", "table", "code"),
    *("answer", "model", "server", "journal", "reader", "browser", "markdown"),
    *("sanitise", "highlight", "commit", "paragraph"),
]


def answer(tokens: int = 2000) -> str:
    """A markdown answer of about ``tokens`` mock tokens (the mock splits at words)."""
    parts: list[str] = []
    n = 0
    i = 0
    while n < tokens:
        w = [WORDS[(i + k) % len(WORDS)] for k in range(12)]
        kind = i % 5
        if kind == 0:
            block = f"## Section {i}\n\n" + " ".join(w * 3) + ".\n"
        elif kind == 1:
            block = "\n".join(
                f"- **{a}** {b} {c}" for a, b, c in zip(w, w[1:], w[2:], strict=False)
            )
        elif kind == 2:
            rows = "\n".join(
                f"| {a} | {b} | {c} |" for a, b, c in zip(w, w[3:], w[6:], strict=False)
            )
            block = "| name | kind | note |\n|---|---|---|\n" + rows
        elif kind == 3:
            body = "\n".join(
                f"    total += {a}_{b}(x)  # {c}" for a, b, c in zip(w, w[1:], w[2:], strict=False)
            )
            block = f"```python\ndef f_{i}(x):\n    total = 0\n{body}\n    return total\n```"
        else:
            block = "1. " + " ".join(w) + "\n2. " + " ".join(reversed(w)) + "\n3. `" + w[0] + "`"
        parts.append(block)
        n += len(block.split())
        i += 1
    return "\n\n".join(parts) + "\n"


def config(text: str, tps: int) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return (
        'host = "127.0.0.1"\nport = {port}\nlog_level = "warning"\ndefault_model = "page/x"\n'
        f'\n[providers.page]\nkind = "mock"\ntokens_per_second = {tps}\nfirst_token_ms = 0\n'
        f"text = {json.dumps(text)}\n"
    )


PROBE = """() => {
    window.__long = [];
    window.__frames = 0;
    new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__long.push(e.duration);
    }).observe({type: 'longtask', buffered: false});
    const tick = () => { window.__frames += 1; requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
}"""


def one_run(browser: Browser, url: str, text: str) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(url + "/")
    page.wait_for_function("() => !document.getElementById('send').disabled")
    page.evaluate(PROBE)
    page.evaluate(
        "() => Object.assign(window.aichatflow.stats, {renders: 0, renderMs: 0, renderMaxMs: 0,"
        " finishMs: 0, readMs: 0, readMaxMs: 0})"
    )
    page.fill("#prompt", "a long markdown answer")
    t0 = time.monotonic()
    page.click("#send")
    page.wait_for_function("() => document.getElementById('status').textContent !== 'streaming'")
    seconds = time.monotonic() - t0
    page.wait_for_timeout(500)  # long-task entries arrive after their task: let the last one in
    got = page.evaluate(
        """() => ({status: document.getElementById('status').textContent,
                   long: window.__long, frames: window.__frames,
                   renders: window.aichatflow.stats.renders,
                   renderMs: window.aichatflow.stats.renderMs,
                   finishMs: window.aichatflow.stats.finishMs,
                   renderMaxMs: window.aichatflow.stats.renderMaxMs,
                   readMs: window.aichatflow.stats.readMs,
                   readMaxMs: window.aichatflow.stats.readMaxMs,
                   text: window.aichatflow.answers().at(-1),
                   tables: document.querySelectorAll('.answer table').length,
                   code: document.querySelectorAll('.answer pre > code.hljs').length})"""
    )
    page.close()
    if got["status"] != "done" or got["text"] != text:
        raise SystemExit(f"run_page: the page did not end with the mock's text ({got['status']})")
    long: list[float] = got.pop("long")
    del got["text"]
    return {
        **got,
        "seconds": seconds,
        "long_count": len(long),
        "long_total_ms": sum(long),
        "long_max_ms": max(long, default=0.0),
        "fps": got["frames"] / (seconds + 0.5),
    }


def main() -> None:
    ap = scenario_parser(__doc__, "one run of each pace")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = 1 if args.quick else args.runs
    text = answer()
    tokens = len(text.split())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            for tps in PACES:
                server = aichatflow_server(f"page{tps}", Path(tmp), SERVER_CPU, config(text, tps))
                with server:
                    results = [
                        one_run(browser, f"http://127.0.0.1:{server.port}", text)
                        for _ in range(runs)
                    ]
                row = {k: statistics.median(r[k] for r in results) for k in results[0]}
                rows.append({"tokens_per_second": tps, **row})
        finally:
            browser.close()
    print(f"page: {tokens} words, {len(text):,} chars of markdown; median of {runs} run(s)")
    head = (
        "| pace | seconds | frames (fps) | renders: n, total, max ms | last render ms"
        " | stream reading: total, max ms | long tasks | long total ms | longest ms |"
    )
    print(head + "\n|" + "---|" * 9)
    for r in rows:
        pace = f"{r['tokens_per_second']} tok/s" if r["tokens_per_second"] else "unpaced"
        print(
            f"| {pace} | {r['seconds']:.2f} | {r['frames']:.0f} ({r['fps']:.0f}) "
            f"| {r['renders']:.0f}, {r['renderMs']:.0f}, {r['renderMaxMs']:.0f} "
            f"| {r['finishMs']:.0f} "
            f"| {r['readMs']:.0f}, {r['readMaxMs']:.0f} | {r['long_count']:.0f} "
            f"| {r['long_total_ms']:.0f} | {r['long_max_ms']:.0f} |"
        )
    save("page", {"machine": machine(), "tokens": tokens, "runs": runs, "rows": rows})


if __name__ == "__main__":
    main()
