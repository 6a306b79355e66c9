"""``aichatflow keys new`` and ``keys hash``, run as a user runs them (a subprocess): the TOML
it prints loads as the config and enables exactly the key it printed, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from aichatflow.config import Settings, key_digest
from aichatflow.server.auth import build_keys
from aichatflow.server.key_table import KEY_PREFIX


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHATFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "aichatflow", "keys", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def printed_key(stderr: str) -> str:
    [key] = [word for word in stderr.split() if word.startswith(KEY_PREFIX)]
    return key


async def test_keys_new_prints_a_key_once_and_toml_that_enables_only_it(tmp_path: Path) -> None:
    result = run(
        "new", "--id", "team-a", "--models", "openai/*", "--models", "fast", "--rpm", "60",
        "--tpm", "1000", "--max-streams", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    key = printed_key(result.stderr)
    assert len(key) >= 40
    assert key not in result.stdout  # only the hash goes into the TOML
    assert result.stderr.count(key) == 1
    table = tomllib.loads(result.stdout)
    assert table == {
        "auth": {
            "keys": [
                {
                    "id": "team-a",
                    "sha256": key_digest(key),
                    "models": ["openai/*", "fast"],
                    "rpm": 60,
                    "tpm": 1000,
                    "max_streams": 2,
                }
            ]
        }
    }
    config = tmp_path / "aichatflow.toml"
    config.write_text(result.stdout)
    keys = build_keys(Settings.load(str(config), env={}))
    assert keys is not None
    headers = [(b"authorization", b"Bearer " + key.encode())]
    caller = await keys.authenticate({"headers": headers, "query_string": b""}, "::1")
    assert caller.key is not None and caller.key.id == "team-a" and caller.key.rpm == 60


def test_two_keys_are_different() -> None:
    first, second = run("new", "--id", "a"), run("new", "--id", "a")
    assert printed_key(first.stderr) != printed_key(second.stderr)
    assert first.stdout != second.stdout


def test_globs_with_quotes_and_backslashes_survive_the_toml() -> None:
    glob = 'we"ird\\model\t*'
    result = run("new", "--id", "odd", "--models", glob)
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["auth"]["keys"][0]["models"] == [glob]


def test_keys_new_refuses_what_the_config_would_refuse() -> None:
    for args in (["--id", "bad id"], ["--id", "x", "--rpm", "0"], []):
        result = run("new", *args)
        assert result.returncode == 2, result
        assert result.stdout == "" and KEY_PREFIX not in result.stderr
        assert "Traceback" not in result.stderr


def test_keys_hash_reads_a_key_on_stdin() -> None:
    result = run("hash", stdin="acf-from-a-secret-store\n")
    assert result.returncode == 0
    assert result.stdout.strip() == key_digest("acf-from-a-secret-store")
    assert "acf-from-a-secret-store" not in result.stdout + result.stderr
    empty = run("hash", stdin="")
    assert empty.returncode == 1 and "no key" in empty.stderr
