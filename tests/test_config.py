"""Settings and the provider registry: file, environment and flag precedence, clear errors for bad
config, providers registered from keys in the environment, model names and aliases resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from aichatflow import Settings
from aichatflow.errors import ConfigError, UnknownModel
from aichatflow.providers.build import build_registry
from aichatflow.providers.local import detect as detect_local
from tests.conftest import make_settings


def test_settings_precedence_file_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text('port = 9000\ndefault_model = "mock/echo"\n[stream]\nheartbeat = 7\n')
    env = {"AICHATFLOW_PORT": "9100", "AICHATFLOW_STREAM_HEARTBEAT": "3"}
    settings = Settings.load(config, env=env, overrides={"port": 9200, "host": None})
    assert settings.port == 9200  # flag beats env beats file
    assert settings.stream.heartbeat == 3.0
    assert settings.default_model == "mock/echo"
    assert settings.host == "127.0.0.1"


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("port = 'eighty'\n")
    with pytest.raises(ConfigError, match="port"):
        Settings.load(bad, env={})
    with pytest.raises(ConfigError, match="not found"):
        Settings.load(tmp_path / "missing.toml", env={})
    # bad provider tables fail when the registry is built: tests/providers/test_build.py


def test_keys_in_the_environment_register_providers() -> None:
    local = {"local"} if detect_local({}) is not None else set()
    settings = make_settings(auto_detect=True)
    registry = build_registry(settings, env={"DEEPSEEK_API_KEY": "sk-test"})
    assert set(registry.providers) == {"mock", "deepseek"} | local
    assert ("deepseek/deepseek-reasoner", "deepseek") in registry.model_ids()
    assert set(build_registry(settings, env={}).providers) == {"mock"} | local
    off = build_registry(make_settings(auto_detect=False), env={"DEEPSEEK_API_KEY": "sk-test"})
    assert set(off.providers) == {"mock"}


def test_registry_resolves_names_and_aliases() -> None:
    registry = build_registry(make_settings(models={"fast": "mock/echo"}), env={})
    provider, bare = registry.resolve("fast")
    assert (provider.name, bare) == ("mock", "echo")
    assert registry.resolve("mock/anything")[1] == "anything"
    for bad in ("echo", "mock/", "other/echo", "/echo"):
        with pytest.raises(UnknownModel):
            registry.resolve(bad)
