"""A real LiteLLM proxy as aichatflow's upstream, started once per test session.

Why LiteLLM: it is a widely deployed OpenAI-compatible server that nobody on this team wrote,
with a ``mock_response`` mode that streams real ``chat.completion.chunk`` bytes and returns real
error statuses without any network or model (docs/testing.md, LiteLLM). It lives in its own venv
(``scripts/peers/litellm.sh``) because its pins clash with ours.

When that venv is missing the peer tests skip, unless ``AICHATFLOW_REQUIRE_PEERS=1`` (set in
CI), where a silent skip would hide that the tests never ran: then they fail with the fix.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port, spawn, stop, wait_http_ready

REPO = Path(__file__).resolve().parents[2]
INSTALLER = "scripts/peers/litellm.sh"
STARTUP_TIMEOUT = 90.0
"""Seconds to wait for ``/health/liveliness`` (about 5 s on a 2-core machine)."""
STOP_TIMEOUT = 15.0

MOCK_TEXT = "Hello from the LiteLLM mock upstream, streamed in pieces."
"""What the ``mock-gpt`` model answers, whatever it is asked."""

# The config known to work, plus ``num_retries: 0``: LiteLLM's router otherwise retries the
# mock 429 twice itself (measured: 5.2 s per request, log "LiteLLM Retried: 2 times"), which
# would stack a second retry layer under aichatflow's own and slow every 429 test by 5 s.
CONFIG_YAML = f"""\
model_list:
  - model_name: mock-gpt            # fixed text, streamed in 3-char chunks
    litellm_params:
      model: openai/mock-gpt
      api_key: fake-key
      mock_response: "{MOCK_TEXT}"
  - model_name: mock-429            # every call -> HTTP 429 (throttling_error)
    litellm_params:
      model: openai/mock-429
      api_key: fake-key
      mock_response: "litellm.RateLimitError"
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  telemetry: false
router_settings:
  disable_cooldowns: true           # else one failure puts the model in cooldown
  num_retries: 0
"""

_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")
"""Only these reach the proxy: a stray DATABASE_URL, REDIS_* or LITELLM_* from the developer's
shell would change how LiteLLM starts (a DATABASE_URL makes it try to run Prisma)."""


@dataclass(frozen=True)
class LiteLLMProxy:
    """A running LiteLLM proxy on 127.0.0.1."""

    port: int
    master_key: str
    startup_seconds: float
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


_started: list[LiteLLMProxy] = []


def litellm_venv() -> Path:
    return Path(os.environ.get("LITELLM_VENV") or REPO / ".venv-litellm")


def _require_litellm() -> Path:
    exe = litellm_venv() / "bin" / "litellm"
    if exe.is_file() and os.access(exe, os.X_OK):
        return exe
    why = f"LiteLLM proxy not installed at {exe}: run {INSTALLER}"
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping peer tests)")
    pytest.skip(f"run {INSTALLER}")


@contextmanager
def litellm_process(config_yaml: str, workdir: Path) -> Iterator[LiteLLMProxy]:
    """A LiteLLM proxy on 127.0.0.1 with ``config_yaml``, stopped (process group) on exit."""
    exe = _require_litellm()
    config = workdir / "litellm.yaml"
    config.write_text(config_yaml)
    log_path = workdir / "litellm.log"
    # A well-known key such as sk-1234 makes the proxy refuse to start (UnsafeMasterKeyError).
    master_key = "sk-" + secrets.token_hex(32)
    env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # else it fetches a cost map from the internet
        LITELLM_MASTER_KEY=master_key,
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    port = free_port()
    cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    t0 = time.monotonic()
    proc = spawn(cmd, cwd=workdir, env=env, log_path=log_path)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ready(
            proc,
            url + "/health/liveliness",
            log_path,
            name="LiteLLM",
            timeout=STARTUP_TIMEOUT,
            interval=0.1,
        )
        yield LiteLLMProxy(port, master_key, time.monotonic() - t0, log_path)
    finally:
        stop(proc, STOP_TIMEOUT)


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    """Start LiteLLM once for the session; it is always stopped at teardown."""
    with litellm_process(CONFIG_YAML, tmp_path_factory.mktemp("litellm")) as proxy:
        _started.append(proxy)
        yield proxy


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report the proxy's start-up time: it dominates the peer tests' run time."""
    for proxy in _started:
        terminalreporter.write_line(
            f"LiteLLM proxy on 127.0.0.1:{proxy.port} ready after {proxy.startup_seconds:.1f} s"
        )
