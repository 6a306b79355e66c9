"""The ``aichatflow`` command as a user runs it: a subprocess, real flags, real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.client import stream_chat, user
from tests.support.processes import free_port
from tests.support.upstream import FakeUpstream, Script, respond

FAST = '[providers.fast]\nkind = "mock"\ntokens_per_second = 0\nfirst_token_ms = 0\n'
SLOW = '[providers.slow]\nkind = "mock"\ntokens_per_second = 10\nfirst_token_ms = 0\n'


def _run(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    if config is not None:
        env["AICHATFLOW_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "aichatflow", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_help_explains_the_commands() -> None:
    out = _run("--help").stdout
    for words in ("aichatflow serve", "aichatflow chat", "aichatflow models", "OPENAI_API_KEY"):
        assert words in out
    assert "--port" in _run("serve", "--help").stdout


def test_models_lists_mock_and_configured(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(FAST + '[models]\nquick = "fast/echo"\n')
    lines = _run("models", config=config).stdout.splitlines()
    assert "mock/chat  (default)" in lines
    assert "quick" in lines


def test_models_lists_what_an_upstream_reports(tmp_path: Path, fake: FakeUpstream) -> None:
    """A provider without ``models`` in its table lists its upstream's own ``GET /models``."""
    fake.queue(Script(respond(200, {"object": "list", "data": [{"id": "served-model"}]})))
    config = tmp_path / "c.toml"
    config.write_text(f'[providers.up]\nkind = "openai-compatible"\nbase_url = "{fake.url}/v1"\n')
    result = _run("models", config=config)
    assert result.returncode == 0, result.stderr
    assert "up/served-model" in result.stdout.splitlines()
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/models")]


def test_chat_streams_into_the_terminal(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(FAST)
    result = _run("chat", "say this back", "-m", "fast/echo", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "say this back\n"


REASONER = FAST + 'reasoning_tokens = 3\ntext = "The answer."\n'


def test_chat_puts_reasoning_on_its_own_line_before_the_answer(tmp_path: Path) -> None:
    """The thoughts (stderr) used to run straight into the answer (stdout) on one line."""
    config = tmp_path / "c.toml"
    config.write_text(REASONER)
    result = _run("chat", "hi", "-m", "fast/reasoner", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "thinking: The user wrote\n"
    assert result.stdout == "The answer.\n"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["AICHATFLOW_CONFIG"] = str(config)
    one_terminal = subprocess.run(  # both streams into one pipe, as on a terminal
        [sys.executable, "-m", "aichatflow", "chat", "hi", "-m", "fast/reasoner"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        env=env,
    )
    assert one_terminal.stdout == "thinking: The user wrote\nThe answer.\n"


def test_chat_without_reasoning_writes_nothing_to_stderr(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(REASONER)
    result = _run("chat", "hi", "-m", "fast/chat", config=config)
    assert (result.returncode, result.stdout, result.stderr) == (0, "The answer.\n", "")


def test_chat_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    result = _run("chat", "hi", "-m", "nowhere/x")
    assert result.returncode == 1
    assert "unknown_model" in result.stderr
    assert "Traceback" not in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("port = 'x'")
    result = _run("models", config=bad)
    assert result.returncode != 0 and "invalid configuration" in result.stderr
    assert "Traceback" not in result.stderr


async def test_serve_then_sigterm_says_goodbye_to_live_streams(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(SLOW)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichatflow", "serve", "--port", str(port), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,  # where serve's default store, ./aichatflow.db, goes
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        assert "<title>" in httpx.get(url + "/", timeout=5).text
        import asyncio

        stream = asyncio.create_task(stream_chat(url, {"model": "slow/chat", "messages": user()}))
        await asyncio.sleep(0.6)
        proc.send_signal(signal.SIGTERM)
        got = await asyncio.wait_for(stream, 10)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        with proc:  # closes the pipe, else left to the garbage collector (a ResourceWarning)
            output = proc.stdout.read() if proc.stdout else ""
    assert got.names()[-1] == "error"
    assert got.data("error")[0]["code"] == "server_shutting_down"
    assert len(got.data("text")) >= 2
    assert "Traceback" not in output


@pytest.mark.parametrize(
    "server_args",
    [(), ("--workers", "2"), ("--server", "granian")],
    ids=["uvicorn", "workers", "granian"],
)
def test_serve_on_a_taken_port_says_so_before_anything_else(server_args: tuple[str, ...]) -> None:
    """Uvicorn used to print "chat page on ..." and "startup complete" and only then fail with
    an errno; now every server and worker count checks the port first and says it plainly."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run("serve", "--port", str(port), *server_args)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is already in use (another aichatflow serve?); "
        "pick another with --port\n"
    )
    assert result.stdout == ""


def test_serve_on_an_address_not_of_this_machine_says_why() -> None:
    result = _run("serve", "--host", "192.0.2.1", "--port", str(free_port()))  # TEST-NET-1
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot listen on 192.0.2.1:")
    assert "Cannot assign requested address" in result.stderr
    assert "Traceback" not in result.stderr and "chat page" not in result.stderr
