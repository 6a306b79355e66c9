"""The examples in README and examples/ run as written (the keyless ones, on a real server)."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.client import stream_chat, user
from tests.support.processes import free_port, spawn, stop
from tests.support.server import serve

EXAMPLES = Path(__file__).parent.parent / "examples"


def _load(name: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for var in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "AICHATFLOW_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


async def test_simple(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load("simple", monkeypatch)
    with serve(module.app) as server:
        got = await stream_chat(server.url, {}, path="/stream")
    assert got.text().startswith("Hello from aichatflow:")
    assert len(got.data("text")) > 5 and got.names()[-1] == "done"


async def test_fastapi_app(monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load("fastapi_app", monkeypatch)
    body: dict[str, Any] = {"model": "mock/echo", "messages": user("ping pong"), "max_tokens": 4}
    with serve(module.app) as server:
        native = await stream_chat(server.url, body, path="/chat")
        openai = await stream_chat(server.url, body, path="/openai-style")
    assert native.text() == "ping pongping pong"
    assert openai.events[-1].data == "[DONE]"


RUNNABLE = ("simple", "fastapi_app", "openai_chat")
SERVE_PORT = 8080
"""``aichatflow serve``'s default port: an example on it fails while the server runs."""


def _documented(name: str) -> tuple[str, int, int]:
    """(the command line the docstring gives, the port its URL names, the port the code uses)."""
    source = (EXAMPLES / f"{name}.py").read_text()
    command = re.search(rf"^ +(.*\.venv/bin/python examples/{name}\.py)", source, re.MULTILINE)
    url_port = re.search(r"http://127\.0\.0\.1:(\d+)/", source)
    code_port = re.search(r'os\.environ\.get\("PORT", "(\d+)"\)', source)
    assert command and url_port and code_port, f"examples/{name}.py: no venv command or port"
    return command.group(1), int(url_port.group(1)), int(code_port.group(1))


def test_examples_document_the_venv_command_and_a_port_of_their_own() -> None:
    """``python examples/x.py`` failed twice on a fresh machine: the system Python has no
    Starlette, and port 8080 was taken by ``aichatflow serve``. Each docstring now gives the
    venv's interpreter and a port that is its own, the one the code listens on."""
    ports = []
    for name in RUNNABLE:
        _command, url_port, code_port = _documented(name)
        assert url_port == code_port, name
        ports.append(code_port)
    assert SERVE_PORT not in ports
    assert len(set(ports)) == len(ports)


@contextmanager
def _running_example(name: str, tmp_path: Path) -> Iterator[str]:
    """``.venv/bin/python examples/<name>.py`` as a process (this venv's interpreter), on a
    free port through ``PORT``; yields its base URL once it accepts connections."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("AICHATFLOW_CONFIG", None)
    env["PORT"] = str(port)
    log = tmp_path / f"{name}.log"
    repo = EXAMPLES.parent  # the cwd the docstring assumes (and PYTHONPATH=src, if set)
    proc = spawn([sys.executable, f"examples/{name}.py"], cwd=repo, env=env, log_path=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"{name} exited:\n{log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"{name} did not listen:\n{log.read_text()}"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text()


async def test_simple_runs_as_a_script(tmp_path: Path) -> None:
    with _running_example("simple", tmp_path) as url:
        got = await stream_chat(url, {}, path="/stream")
    assert got.text().startswith("Hello from aichatflow:")
    assert got.names()[-1] == "done"


async def test_fastapi_app_runs_as_a_script(tmp_path: Path) -> None:
    body: dict[str, Any] = {"model": "mock/echo", "messages": user("as a script")}
    with _running_example("fastapi_app", tmp_path) as url:
        got = await stream_chat(url, body, path="/chat")
    assert got.text() == "as a script"


def test_openai_example_builds_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing it creates the provider only; nothing is sent until a request arrives."""
    module = _load("openai_chat", monkeypatch, OPENAI_API_KEY="sk-test-not-used")
    assert module.provider.name == "openai" and module.model == "gpt-4o-mini"


def test_readme_config_blocks_load(tmp_path: Path) -> None:
    """Every TOML block in README is a config that loads and builds its providers."""
    from aichatflow.config import Settings
    from aichatflow.providers.build import build_registry

    readme = (EXAMPLES.parent / "README.md").read_text()
    blocks = readme.split("```toml\n")[1:]
    assert len(blocks) >= 2
    keys = {
        name: "test-key"
        for name in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
    }
    for i, block in enumerate(blocks):
        config = tmp_path / f"readme{i}.toml"
        config.write_text(block.split("```", 1)[0])
        settings = Settings.load(config, env={})
        registry = build_registry(settings, env=keys)
        assert registry.providers
