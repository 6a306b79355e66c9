"""Scenario ``store``: what one stored conversation turn costs (``[store]``, docs/conversations.md).

A native ``POST /api/chat`` under ``aichatflow serve``'s defaults is a stored turn: before the
run, a write transaction stores the user's message and an ``in_progress`` answer; after it,
another one stores the answer. This measures those two writes alone, in this process, on the
store's real code (SQLAlchemy 2 async): ``turns`` turns, ``concurrency`` at once, each a new
conversation, then the same number continuing conversations (which read the history first).

Reported: turns per second (wall) and CPU per turn (this process, every thread: the event
loop and aiosqlite's or asyncpg's work). SQLite by default (a file in a temporary directory);
``--url postgresql+asyncpg://...`` for a PostgreSQL database (it must exist and be empty or
already migrated).

Run: ``.venv/bin/python benchmarks/run_store.py`` (seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from typing import Any

from aichatflow.messages import Message
from aichatflow.store.conversations import ConversationStore
from aichatflow.transcript import Transcript

ANSWER = Transcript(text="an answer of a few dozen words " * 8)


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str, turns: int, concurrency: int) -> list[dict[str, Any]]:
    store = await ConversationStore.open(url)
    gate = asyncio.Semaphore(concurrency)
    message = [Message(role="user", content="hello there, what is new?")]
    rows: list[dict[str, Any]] = []
    try:
        conversations: list[str] = []
        for kind in ("new", "continued"):

            async def one(i: int, kind: str = kind) -> None:
                async with gate:
                    given = conversations[i] if kind == "continued" else None
                    turn = await store.begin_turn(
                        "", given, message, model="m/x", stream_id=f"{kind[0]}{i:015d}"
                    )
                    if kind == "new":
                        conversations.append(turn.conversation_id)
                    await store.finish_turn(turn.assistant_message_id, "complete", ANSWER)

            started, cpu0 = time.perf_counter(), cpu()
            await asyncio.gather(*(one(i) for i in range(turns)))
            wall, used = time.perf_counter() - started, cpu() - cpu0
            rows.append(
                {
                    "turns": kind,
                    "turns_per_s": turns / wall,
                    "cpu_ms_per_turn": used / turns * 1000,
                }
            )
    finally:
        await store.aclose()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="", help="a database URL (default: SQLite in a temp dir)")
    ap.add_argument("--turns", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{tmp}/store.db"
        rows = asyncio.run(measure(url, args.turns, args.concurrency))
    backend = url.split(":", 1)[0]
    print(f"| backend | turns | turns/s | CPU ms per turn ({args.concurrency} at once) |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {backend} | {row['turns']} | {row['turns_per_s']:,.0f} | "
            f"{row['cpu_ms_per_turn']:.2f} |"
        )


if __name__ == "__main__":
    main()
