"""Scenario ``dialects``: the CPU each client dialect's ``render`` spends per event.

What it answers: whether a dialect costs more than the native one per event, with everything
else (sockets, the engine, the server) left out, so the difference is the dialect's alone. Each
dialect gets the same recorded stream: the mock provider's tokens for the benchmark prompt
(``--events`` text deltas of a few characters, as a model streams them), cut into batches of 1
(one token per pull, the ``fast`` scenario's ``b=1``) and of 16 (a lagging client, or an
upstream read that carried many tokens), and a final ``Finish``. A new dialect object renders
the whole stream, as for one response.

Dialects: ``NativeDialect`` (``/api/chat``, the reference), ``OpenAIStreamDialect``
(``/v1/chat/completions``), ``AnthropicStreamDialect`` (``/v1/messages``) and
``UIMessageStreamDialect`` (``/api/ui/chat``; skipped with a note when this tree has no
``aichatflow.dialects.vercel_ui``).

Method: process CPU time (``time.process_time``, so time the scheduler gave another process is
not counted), the collector off while timing (as ``timeit`` does), the dialects interleaved
round by round (the order rotates), and the **minimum** over the rounds: noise only ever adds
time, so the minimum is the figure a busy machine moves least. The ratio is a dialect's minimum
over the native dialect's, same batch size, same process. The median is shown beside it.

``--check`` exits with status 1 when the Anthropic or the UI dialect costs more than
``--limit`` (1.2) times the native dialect at either batch size (the budget of a new dialect,
docs/benchmarks.md); ``--check anthropic`` checks only the ones named. The OpenAI dialect is
reported, not checked.

Run: ``.venv/bin/python benchmarks/run_dialects.py`` (about 1 s of measuring) or ``--quick``
(what ``tests/dialects/test_render_cost.py`` runs with ``--check``); pinned to the load
generator's CPU like every other script here.
"""

from __future__ import annotations

import gc
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import CLIENT_CPU, TIMES, machine, pin_self, save, scenario_parser
from _stacks import mock_tokens

from aichatflow.dialects.anthropic import AnthropicStreamDialect
from aichatflow.dialects.native import NativeDialect
from aichatflow.dialects.openai import OpenAIStreamDialect
from aichatflow.events import ChatEvent, Finish, TextDelta, Usage

Factory = Callable[[str, str], Any]
NATIVE = "native"
CHECKED = "anthropic,ui"
"""The dialects ``--check`` holds to the budget (the two client dialects); ``openai`` is only
reported."""
BATCHES = (1, 16)


def dialects(notes: list[str]) -> dict[str, Factory]:
    """name -> a factory of a fresh stream dialect (stream id, model)."""
    out: dict[str, Factory] = {
        NATIVE: NativeDialect,
        "openai": OpenAIStreamDialect,
        "anthropic": AnthropicStreamDialect,
    }
    try:  # built on another branch: a tree without it measures the others
        ui = importlib.import_module("aichatflow.dialects.vercel_ui")
    except ImportError as exc:
        notes.append(f"ui: skipped, aichatflow.dialects.vercel_ui is not importable ({exc})")
    else:
        out["ui"] = ui.UIMessageStreamDialect
    return out


def stream(events: int, size: int) -> list[list[ChatEvent]]:
    """The recorded stream: ``events`` mock tokens in batches of ``size``, then ``Finish``."""
    tokens = mock_tokens()
    deltas: list[ChatEvent] = [TextDelta(tokens[i % len(tokens)]) for i in range(events)]
    batches = [deltas[i : i + size] for i in range(0, events, size)]
    usage = Usage(input_tokens=1, output_tokens=events)
    return [*batches, [Finish(reason="stop", usage=usage)]]


def once(factory: Factory, batches: list[list[ChatEvent]]) -> tuple[float, int]:
    """(CPU seconds, bytes) of one response rendering the whole stream."""
    d = factory("bench-stream-0001", "fast/x")
    render = d.render
    t0 = time.process_time()
    written = len(d.open())
    for batch in batches:
        written += len(render(batch))
    return time.process_time() - t0, written


def measure(
    factories: dict[str, Factory], events: int, rounds: int
) -> dict[tuple[str, int], list[float]]:
    """µs per event of every (dialect, batch size), one value per round."""
    out: dict[tuple[str, int], list[float]] = {}
    names = list(factories)
    for size in BATCHES:
        batches = stream(events, size)
        for name in names:  # warm-up: first calls, caches
            once(factories[name], batches)
        gc.collect()
        gc.disable()
        try:
            for r in range(rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    cpu, _ = once(factories[name], batches)
                    out.setdefault((name, size), []).append(1e6 * cpu / events)
        finally:
            gc.enable()
    return out


def rows(
    times: dict[tuple[str, int], list[float]], limit: float, checked: list[str]
) -> list[dict[str, Any]]:
    out = []
    for (name, size), values in times.items():
        best, ref = min(values), min(times[(NATIVE, size)])
        ratio = best / ref
        out.append(
            {
                "dialect": name,
                "batch": size,
                "us_per_event_min": best,
                "us_per_event_median": statistics.median(values),
                "ratio_vs_native": ratio,
                "checked": name in checked,
                "over_budget": name in checked and ratio > limit,
            }
        )
    return out


def table(summary: list[dict[str, Any]], limit: float) -> str:
    lines = [
        f"| dialect | events per batch | µs/event (min) | µs/event (median) | {TIMES} native "
        f"| budget ≤ {limit:g}{TIMES} |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary:
        verdict = ("over" if r["over_budget"] else "within") if r["checked"] else "—"
        lines.append(
            f"| {r['dialect']} | {r['batch']} | {r['us_per_event_min']:.3f} "
            f"| {r['us_per_event_median']:.3f} | {r['ratio_vs_native']:.2f}{TIMES} | {verdict} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = scenario_parser(__doc__, "30 rounds of 1,000 events instead of 200 of 2,000")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--limit", type=float, default=1.2, help="--check: the largest ratio allowed")
    ap.add_argument(
        "--check",
        nargs="?",
        const=CHECKED,
        default="",
        help=f"exit 1 when a ratio of these dialects > limit (default: {CHECKED})",
    )
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.events = 30, 1000
    pin_self(CLIENT_CPU)
    info = machine()
    notes: list[str] = []
    factories = dialects(notes)
    t0 = time.monotonic()
    times = measure(factories, args.events, args.rounds)
    summary = rows(times, args.limit, (args.check or CHECKED).split(","))
    path = save("dialects", {"machine": info, "args": vars(args), "summary": summary})
    print(
        f"\n### Scenario dialects: render CPU per event, {args.events:,} mock tokens per stream, "
        f"min (and median) of {args.rounds} interleaved rounds, "
        f"{time.monotonic() - t0:.1f} s\n"
    )
    print(table(summary, args.limit))
    if args.check:
        print(f"\nChecked against the budget: {args.check}")
    for note in notes:
        print(f"\n{note}")
    print(
        f"\nMachine: {info['cpus']} cores ({info['cpu_model']}), Python {info['python']}. "
        f"Raw results: {path}"
    )
    over = [r for r in summary if r["over_budget"]]
    for r in over:
        print(
            f"\nOVER BUDGET: {r['dialect']} at {r['batch']} per batch: "
            f"{r['ratio_vs_native']:.2f}{TIMES} native > {args.limit:g}{TIMES}"
        )
    sys.exit(1 if args.check and over else 0)


if __name__ == "__main__":
    main()
