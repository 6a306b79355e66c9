"""Scenario ``ttfe``: time to first event of single requests on an idle server, p50/p99.

One request at a time (a new connection each, ``connection: close``), interleaved across the
stacks so that drift on a shared machine hits them alike; the clock runs from ``connect`` to the
first ``event: text`` frame. Every stack streams the mock's tokens with no first-token delay
(``max_tokens`` 16), one worker on CPU 0, the client on CPU 1:

* ``go`` (skipped with a note when Go is not installed), ``uvicorn_raw``,
  ``fastapi_sse_starlette`` (skipped when not installed), ``aichatflow`` (mock, burst 1),
  ``aichatflow (granian)``.

Earlier idle-server figures: Go 0.34 / 0.79 ms, uvicorn_raw 0.57 / 0.75 ms, sse-starlette
0.74 / 1.19 ms. Run: ``.venv/bin/python benchmarks/run_ttfe.py`` (< 1 minute) or ``--quick``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import orjson
from _common import CLIENT_CPU, SERVER_CPU, TIMES, Server, machine, pin_self, save, wait_quiet
from _single import Target, measure, summary
from _stacks import (
    BENCH_BODY,
    GRANIAN,
    aichatflow_server,
    fastapi_missing,
    go_binary,
    go_server,
    python_baseline,
)


def start_all(tmp: Path, notes: list[str]) -> list[tuple[Server, str]]:
    """(server, path) per stack; skipped stacks leave a note."""
    started: list[tuple[Server, str]] = []
    try:
        binary, note = go_binary()
        notes.append(note)
        if binary is not None:
            started.append((go_server(tmp, binary, SERVER_CPU).start(), "/api/chat"))
        started.append(
            (python_baseline("uvicorn_raw", "uvicorn_raw.py", tmp, SERVER_CPU).start(), "/api/chat")
        )
        if fastapi_missing():
            notes.append(f"fastapi_sse_starlette: skipped, {fastapi_missing()}")
        else:
            server = python_baseline(
                "fastapi_sse_starlette", "fastapi_sse_starlette.py", tmp, SERVER_CPU
            )
            started.append((server.start(), "/api/chat"))
        for name in ("aichatflow", "aichatflow" + GRANIAN):
            started.append((aichatflow_server(name, tmp, SERVER_CPU).start(), "/api/chat"))
    except BaseException:
        for server, _ in started:
            server.stop()
        raise
    return started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 requests per stack")
    ap.add_argument("--requests", type=int, default=1000, help="single requests per stack")
    ap.add_argument("--events", type=int, default=16, help="max_tokens of each request")
    ap.add_argument("--no-quiet-wait", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.requests = 100
    pin_self(CLIENT_CPU)
    info = machine()
    notes: list[str] = []
    body = orjson.dumps({**BENCH_BODY, "max_tokens": args.events})
    with tempfile.TemporaryDirectory(prefix="acf-ttfe-") as tmp_name:
        started = start_all(Path(tmp_name), notes)
        try:
            targets = [Target(s.name, s.port, path, body) for s, path in started]
            busy = 0.0 if args.no_quiet_wait else wait_quiet()
            ms = measure(targets, args.requests, warmup=20)
        finally:
            for server, _ in started:
                server.stop()
    rows = {name: summary(v) for name, v in ms.items()}
    path = save(
        "ttfe",
        {
            "machine": info,
            "args": vars(args),
            "notes": notes,
            "background_busy_pct": busy,
            "ms": ms,
            "summary": rows,
        },
    )
    print(report(rows, args, notes, path))


def report(
    rows: dict[str, dict[str, Any]], args: argparse.Namespace, notes: list[str], path: Path
) -> str:
    go = rows.get("go")
    out = [
        f"\n### Scenario ttfe: {args.requests} single requests per stack on an idle server "
        f"(max_tokens {args.events}, interleaved, new connection each)\n",
        f"| stack | TTFE p50 ms | TTFE p99 ms | max ms | p50 {TIMES} go |",
        "|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        ratio = f"{s['p50'] / go['p50']:.2f}{TIMES}" if go else "—"
        out.append(f"| {name} | {s['p50']:.3f} | {s['p99']:.3f} | {s['max']:.2f} | {ratio} |")
    out += [f"\n{n}" for n in notes]
    out.append(f"\nRaw results: {path}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
