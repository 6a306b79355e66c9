"""The examples in README and examples/ run as written (the keyless ones, on a real server)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.client import stream_chat, user
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


def test_openai_example_builds_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing it creates the provider only; nothing is sent until a request arrives."""
    module = _load("openai_chat", monkeypatch, OPENAI_API_KEY="sk-test-not-used")
    assert module.provider.name == "openai" and module.model == "gpt-4o-mini"


def test_readme_config_blocks_load(tmp_path: Path) -> None:
    """Every TOML block in README is a config that loads and builds its providers."""
    from aichatflow.config import Settings

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
        registry = settings.build_registry(env=keys)
        assert registry.providers
