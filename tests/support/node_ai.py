"""Run the Vercel AI SDK (``ai@6`` or ``ai@5`` in Node) against a test server.

Why a subprocess: the SDK's parser is JavaScript, and it is the judge that matters for
``POST /api/ui/chat`` (its schemas reject a part type they do not know, or a required field
missing). The script ``tests/clients/node/ui_client.mjs`` takes a scenario as JSON and prints one
JSON result; this module runs it, bounded in time, and gives the result back with the small
readings tests need.

Why two majors: ``[ui] sdk_major`` changes which parts the server writes, and each setting is
only proven by the SDK it is for. The one script runs either installed package
(``AICHATFLOW_AI_SDK_DIR``): ``ai@6`` in ``tests/clients/node``, ``ai@5`` in
``tests/clients/node-ai5``. A ``UIServer`` ties a test server to the major it was started with,
so every reading of it is made by that major's SDK.

``scripts/peers/node-ai.sh`` installs Node and the pinned packages (``npm ci``). Without them the
tests skip, unless ``AICHATFLOW_REQUIRE_PEERS=1`` (CI), where a silent skip would hide that they
never ran: then they fail with the fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aichatflow.dialects.vercel_ui import SdkMajor
from tests.support.server import RunningServer

CLIENT_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
SCRIPT = CLIENT_DIR / "ui_client.mjs"
SDK_DIRS: dict[SdkMajor, Path] = {6: CLIENT_DIR, 5: CLIENT_DIR.with_name("node-ai5")}
"""The package directory whose ``node_modules/ai`` each major's tests run."""
SDK_MAJORS: tuple[SdkMajor, ...] = (6, 5)
INSTALLER = "scripts/peers/node-ai.sh"
TIMEOUT = 60.0
"""Seconds one run of the client may take (a run takes about 0.2 s)."""

Reading = dict[str, Any]
USER: list[Any] = [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]
"""A chat of one question, as ``useChat`` holds it."""


@dataclass(frozen=True)
class UIServer:
    """A test server whose ``[ui] sdk_major`` is ``major``: the ``ai`` major that reads it."""

    running: RunningServer
    major: SdkMajor

    @property
    def url(self) -> str:
        return self.running.url


def start_ui(start_server: Callable[..., RunningServer], major: SdkMajor, **data: Any) -> UIServer:
    """``start_server(**data)`` with ``[ui] sdk_major = major``, for that major's client."""
    return UIServer(start_server(ui={"sdk_major": major}, **data), major)


def require_node_ai(major: SdkMajor = 6) -> str:
    """The ``node`` executable, once the pinned ``ai@major`` is installed; else skip (or fail)."""
    node = shutil.which("node")
    installed = (SDK_DIRS[major] / "node_modules" / "ai" / "package.json").is_file()
    if node is not None and installed:
        return node
    where = SDK_DIRS[major].relative_to(CLIENT_DIR.parents[2])
    missing = "node" if node is None else f"{where}/node_modules"
    why = f"Vercel AI SDK client not installed ({missing} missing): run {INSTALLER}"
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping peer tests)")
    pytest.skip(why)


def run_ui_client(scenario: dict[str, Any]) -> dict[str, Any]:
    """Run ``ui_client.mjs`` with ``scenario``, by the SDK of its ``sdkMajor`` (default 6); its
    JSON result (see the script's header)."""
    major: SdkMajor = scenario.get("sdkMajor", 6)
    node = require_node_ai(major)
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(scenario).encode(),
        cwd=CLIENT_DIR,
        env={**os.environ, "AICHATFLOW_AI_SDK_DIR": str(SDK_DIRS[major])},
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    stderr = done.stderr.decode(errors="replace")[-4000:]
    assert done.returncode == 0, f"node exited {done.returncode}: {stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def ui_scenario(server: UIServer, op: str, **more: Any) -> dict[str, Any]:
    """A scenario for ``op`` against ``server``'s ``/api/ui/chat``, read by its major's SDK: chat
    ``chat-1``, the question ``USER``, model ``up/m`` (the fake upstream); ``more`` adds or
    overrides."""
    return {
        "op": op,
        "sdkMajor": server.major,
        "api": server.url + "/api/ui/chat",
        "chatId": "chat-1",
        "messages": USER,
        "body": {"model": "up/m"},
        **more,
    }


def send_ui(server: UIServer, messages: list[Any] | None = None, **more: Any) -> Reading:
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


def with_steps(types: list[str]) -> list[str]:
    """``types`` as the server sends them (either major): ``start-step`` after ``start`` and
    ``finish-step`` before ``finish`` (one step per answer)."""
    out = [t for kind in types for t in (["finish-step", kind] if kind == "finish" else [kind])]
    return [t for kind in out for t in ([kind, "start-step"] if kind == "start" else [kind])]


STEP_PARTS = [{"type": "step-start"}]
"""The ``step-start`` part an answer's message begins with (the SDK's record of ``start-step``)."""


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
    "SDK_DIRS",
    "SDK_MAJORS",
    "STEP_PARTS",
    "USER",
    "Reading",
    "UIServer",
    "chunk_types",
    "require_node_ai",
    "run_ui_client",
    "send_ui",
    "start_ui",
    "text_of",
    "ui_scenario",
    "with_steps",
]
