"""Settings never print a key or a password: not in ``repr``/``str``, not in a config error.

The defects: ``repr(Settings)`` showed a provider table's ``api_key`` and ``Authorization``
header and the password of ``[limits] storage = "redis://:pw@host"``; a config error quoted
the value it rejected (pydantic's ``input_value=...``, and the storage check's own message),
so a mistyped storage URL, a misspelt ``storage`` key or a raw key pasted as ``sha256`` put the
secret on the terminal and in whatever collects it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aichatflow.cli import main
from aichatflow.config import Settings
from aichatflow.errors import ConfigError
from tests.production.canary.canary import leaked_parts, new_canary

KEY = new_canary()
PASSWORD = new_canary("redis-pw-")


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_repr_and_str_show_neither_keys_nor_the_storage_password(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        f"""
[providers.up]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
api_key = "{KEY}"
headers = {{ Authorization = "Bearer {KEY}", X-Team = "blue" }}

[limits]
storage = "redis://:{PASSWORD}@cache:6379/0"
""",
    )
    settings = Settings.load(path, env={})
    for shown in (repr(settings), str(settings), repr(settings.limits), str(settings.limits)):
        assert not leaked_parts(shown, KEY) and not leaked_parts(shown, PASSWORD), shown
    assert "redis://:[REDACTED]@cache:6379/0" in repr(settings.limits)
    assert "'X-Team': 'blue'" in repr(settings)  # what is not a credential stays readable
    # only the printed form changes: the values are there for the code that uses them
    assert settings.providers["up"]["api_key"] == KEY
    assert settings.limits.storage == f"redis://:{PASSWORD}@cache:6379/0"


BAD_CONFIGS = {
    "storage scheme typo": (f'[limits]\nstorage = "redis+tls://:{PASSWORD}@h"\n', "limits.storage"),
    "storage key typo": (f'[limits]\nstorag = "redis://:{PASSWORD}@h"\n', "limits.storag"),
    "raw key as sha256": (f'[[auth.keys]]\nid = "a"\nsha256 = "{KEY}"\n', "auth.keys.0.sha256"),
    "key as a table": (f'[providers]\nup = "{KEY}"\n', "providers.up"),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_config_errors_name_the_place_not_the_value(tmp_path: Path, name: str) -> None:
    text, where = BAD_CONFIGS[name]
    with pytest.raises(ConfigError) as caught:
        Settings.load(_config(tmp_path, text), env={})
    message = str(caught.value)
    assert where in message, message
    assert not leaked_parts(message, KEY) and not leaked_parts(message, PASSWORD), message


def test_the_cli_prints_a_bad_config_without_its_secret(tmp_path: Path) -> None:
    path = _config(tmp_path, BAD_CONFIGS["storage scheme typo"][0])
    result = CliRunner().invoke(main, ["models", "--config", str(path)])
    assert result.exit_code != 0 and "invalid configuration" in result.output
    assert not leaked_parts(result.output, PASSWORD), result.output
