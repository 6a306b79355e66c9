"""``pool_size`` and ``keepalive`` of a provider table: defaults, and bad values refused at
start-up with a message naming the provider and the option."""

from __future__ import annotations

from typing import Any

import pytest

from aichatflow.config import Settings
from aichatflow.errors import ConfigError
from aichatflow.providers._http import HttpOptions
from aichatflow.providers._http_provider import HttpProvider
from aichatflow.providers.build import build_registry
from tests.conftest import make_settings

TABLE = {"kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}


def http_options(**options: Any) -> HttpOptions:
    registry = build_registry(make_settings(providers={"up": {**TABLE, **options}}))
    provider = registry.providers["up"]
    assert isinstance(provider, HttpProvider)
    return provider._http.options


def test_defaults_are_what_applied_before_they_were_settings() -> None:
    """aiohttp's ``TCPConnector(limit=1000)`` as it was created, and its own keep-alive."""
    options = http_options()
    assert (options.pool_size, options.keepalive) == (1000, 15.0)


def test_values_are_taken() -> None:
    options = http_options(pool_size=4, keepalive=2.5)
    assert (options.pool_size, options.keepalive) == (4, 2.5)
    assert http_options(keepalive=0).keepalive == 0.0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("pool_size", 0, "pool_size must be a whole number of connections, 1 or more"),
        ("pool_size", -3, "pool_size must be a whole number"),
        ("pool_size", 2.5, "pool_size must be a whole number"),
        ("pool_size", "10", "pool_size must be a whole number"),
        ("pool_size", True, "pool_size must be a whole number"),
        ("keepalive", -1, "keepalive must be 0 .* or more seconds"),
        ("keepalive", "15s", "keepalive must be seconds"),
        ("keepalive", float("inf"), "keepalive must be seconds"),
        ("keepalive", float("nan"), "keepalive must be seconds"),
        ("keepalive", False, "keepalive must be seconds"),
    ],
)
def test_bad_values_fail_at_start_up(option: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=f"provider 'up': {message}"):
        build_registry(make_settings(providers={"up": {**TABLE, option: value}}))


def test_from_a_toml_file(tmp_path: Any) -> None:
    path = tmp_path / "aichatflow.toml"
    path.write_text(
        '[providers.up]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'models = ["m"]\npool_size = 0\n'
    )
    settings = Settings.load(path, env={}, overrides={"auto_detect": False})
    with pytest.raises(ConfigError, match="provider 'up': pool_size"):
        build_registry(settings)
