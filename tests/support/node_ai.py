"""Run the Vercel AI SDK (``ai@6`` in Node) against a test server: ``tests/clients/node``.

Why a subprocess: the SDK's parser is JavaScript, and it is the judge that matters for
``POST /api/ui/chat`` (its strict schemas reject a part type or a field they do not know). The
script ``ui_client.mjs`` takes a scenario as JSON and prints one JSON result; this module runs
it, bounded in time, and gives the result back with the small readings tests need.

``scripts/peers/node-ai.sh`` installs Node and the pinned ``ai`` (``npm ci``). Without them the
tests skip, unless ``AICHATFLOW_REQUIRE_PEERS=1`` (CI), where a silent skip would hide that they
never ran: then they fail with the fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import RunningServer

CLIENT_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
SCRIPT = CLIENT_DIR / "ui_client.mjs"
INSTALLER = "scripts/peers/node-ai.sh"
TIMEOUT = 60.0
"""Seconds one run of the client may take (a run takes about 0.2 s)."""

Reading = dict[str, Any]
USER: list[Any] = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]
"""A chat of one question, as ``useChat`` holds it."""


def require_node_ai() -> str:
    """The ``node`` executable, once the pinned ``ai`` is installed; else skip (or fail)."""
    node = shutil.which("node")
    installed = (CLIENT_DIR / "node_modules" / "ai" / "package.json").is_file()
    if node is not None and installed:
        return node
    missing = "node" if node is None else "tests/clients/node/node_modules"
    why = f"Vercel AI SDK client not installed ({missing} missing): run {INSTALLER}"
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping peer tests)")
    pytest.skip(why)


def run_ui_client(scenario: dict[str, Any]) -> dict[str, Any]:
    """Run ``ui_client.mjs`` with ``scenario``; its JSON result (see the script's header)."""
    node = require_node_ai()
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(scenario).encode(),
        cwd=CLIENT_DIR,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    stderr = done.stderr.decode(errors="replace")[-4000:]
    assert done.returncode == 0, f"node exited {done.returncode}: {stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def ui_scenario(server: RunningServer, op: str, **more: Any) -> dict[str, Any]:
    """A scenario for ``op`` against ``server``'s ``/api/ui/chat``: chat ``chat-1``, the
    question ``USER``, model ``up/m`` (the fake upstream); ``more`` adds or overrides."""
    return {
        "op": op,
        "api": server.url + "/api/ui/chat",
        "chatId": "chat-1",
        "messages": USER,
        "body": {"model": "up/m"},
        **more,
    }


def send_ui(server: RunningServer, messages: list[Any] | None = None, **more: Any) -> Reading:
    """One ``sendMessages`` of the SDK's transport, read to its end like ``useChat`` does; every
    field of every part it read must be one the SDK's schema names."""
    result = run_ui_client(ui_scenario(server, "send", messages=messages or USER, **more))
    assert "thrown" not in result["send"], result
    reading: Reading = result["send"]
    assert reading["unknownFields"] == []
    return reading


def text_of(reading: Reading) -> str:
    """The text a page would show: the final message's text parts, joined."""
    parts = (reading.get("message") or {}).get("parts", [])
    return "".join(p["text"] for p in parts if p["type"] == "text")


def chunk_types(reading: Reading) -> list[str]:
    """The types of the parts the SDK validated, deltas of one block merged into one entry."""
    out: list[str] = []
    for chunk in reading["chunks"]:
        kind = chunk["type"]
        if not (kind.endswith("-delta") and out and out[-1] == kind):
            out.append(kind)
    return out


__all__ = [
    "CLIENT_DIR",
    "USER",
    "Reading",
    "chunk_types",
    "require_node_ai",
    "run_ui_client",
    "send_ui",
    "text_of",
    "ui_scenario",
]
