"""The servers every scenario compares: how each stack is built, configured and started.

* ``uvicorn_raw`` / ``fastapi_sse_starlette``: Python baselines in ``baselines/`` (this venv);
* ``go``: ``baselines/go/main.go``, built here with ``go build`` only when ``go`` is installed
  (Debian ``golang-go``; stdlib only, and ``GOPROXY=off`` so nothing is ever downloaded).
  Without ``go`` the stack is skipped and :func:`go_binary` says why;
* ``aichatflow``: ``aichatflow serve --config <tmp toml>`` with a mock (or openai-compatible)
  provider;
* ``litellm``: LiteLLM's proxy from its own venv (``scripts/peers/litellm.sh``), started the way
  ``tests/peers/conftest.py`` does (config file, random master key, scrubbed environment).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import HERE, RESULTS, Server, free_port

PY = sys.executable
REPO = HERE.parent
GO_SRC = HERE / "baselines" / "go"
BENCH_BODY = {"model": "fast/x", "messages": [{"role": "user", "content": "hi"}]}
"""The request every native-endpoint scenario sends (plus ``max_tokens``)."""


def aichatflow_cmd(config: Path) -> list[str]:
    """``aichatflow serve --config`` in this interpreter (see run_fast.py for why not ``-m``)."""
    code = "import sys; from aichatflow.cli import main; sys.argv[0] = 'aichatflow'; main()"
    return [PY, "-c", code, "serve", "--config", str(config)]


def mock_tokens() -> list[str]:
    """The mock provider's distinct answer tokens for :data:`BENCH_BODY`, in order."""
    import asyncio

    from aichatflow.events import TextDelta
    from aichatflow.messages import ChatRequest
    from aichatflow.providers.mock import MockProvider

    provider = MockProvider("go", {"tokens_per_second": 0, "first_token_ms": 0})
    request = ChatRequest.model_validate(BENCH_BODY).model_copy(update={"model": "x"})

    async def collect() -> list[str]:
        return [e.text async for e in provider.stream(request) if isinstance(e, TextDelta)]

    return asyncio.run(collect())


def go_binary() -> tuple[Path | None, str]:
    """(path of the built Go baseline, note); the path is None when Go is not installed.

    Rebuilt only when ``main.go`` is newer than the binary. The build cache and the binary live
    under ``benchmarks/results/`` (git-ignored).
    """
    go = shutil.which("go")
    if go is None:
        return None, "go: skipped, Go is not installed (Debian: apt-get install golang-go)"
    out = RESULTS / "go-baseline" / "acf-go-baseline"
    src = GO_SRC / "main.go"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GOPROXY": "off",  # stdlib only: never download anything
            "GOFLAGS": "",
            "CGO_ENABLED": "0",
            "GOCACHE": str(RESULTS / "go-baseline" / "cache"),
        }
        done = subprocess.run(
            [go, "build", "-o", str(out), "."],
            cwd=GO_SRC,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            return None, f"go: skipped, go build failed: {done.stderr.decode()[-500:]}"
    version = subprocess.run([go, "version"], capture_output=True, check=False, timeout=30)
    return out, version.stdout.decode().strip()


def go_server(tmp: Path, binary: Path, cpu: int | None) -> Server:
    tokens = tmp / "go-tokens.json"
    tokens.write_text(json.dumps(mock_tokens()))
    port = free_port()
    cmd = [str(binary), "--port", str(port), "--tokens", str(tokens)]
    # GOMAXPROCS=1: one worker on one core, like every other stack here.
    return Server("go", cmd, port, cpu=cpu, env={"GOMAXPROCS": "1"}, log=tmp / "go.log")


def python_baseline(name: str, script: str, tmp: Path, cpu: int | None) -> Server:
    port = free_port()
    cmd = [PY, str(HERE / "baselines" / script), "--port", str(port)]
    return Server(name, cmd, port, cpu=cpu, log=tmp / f"{name}.log")


def mock_table(
    provider: str = "fast",
    *,
    tokens_per_second: float = 0,
    first_token_ms: float = 0,
    burst: int = 1,
) -> str:
    """A ``[providers.<provider>]`` table of a mock provider (``tokens_per_second`` 0: as fast
    as the client reads)."""
    return (
        f'\n[providers.{provider}]\nkind = "mock"\ntokens_per_second = {tokens_per_second}\n'
        f"first_token_ms = {first_token_ms}\nburst = {burst}\n"
    )


DIRECT_PATH = '\n[journal]\nbackend = "off"\n\n[store]\nurl = "off"\n'
"""The direct path: no journal and no conversation store. ``serve`` has both by default; the
scenarios measure the streaming path itself (``run_journal.py`` measures what the journal
adds, ``run_store.py`` what a stored turn costs), unless ``extra`` names its own."""


def mock_config(port: int, *, provider: str = "fast", extra: str = "", **mock: Any) -> str:
    """A whole config: one mock provider (``mock`` as in :func:`mock_table`), its model
    ``<provider>/x`` the default, then ``extra`` (more tables, e.g. ``[stream]``)."""
    return (
        f'host = "127.0.0.1"\nport = {port}\nlog_level = "warning"\n'
        f'default_model = "{provider}/x"\n{mock_table(provider, **mock)}{extra}'
    )


UNCAPPED = "\n[http]\nmax_connections = 1000000\n"
"""The benchmarks hold up to 10,000 streams that need no upstream socket; ``serve``'s default
connection cap (half the file-descriptor limit, for proxied streams) would refuse some of them."""

GRANIAN = " (granian)"
"""Suffix of a stack name that runs ``aichatflow serve --server granian``."""


def aichatflow_server(
    name: str, tmp: Path, cpu: int | None, config_for_port: str | None = None, **mock: Any
) -> Server:
    """aichatflow with ``config_for_port`` (a TOML with ``{port}``) or a mock provider, on the
    direct path unless the config has a ``[journal]`` table (``DIRECT_PATH``); on
    granian when ``name`` ends with :data:`GRANIAN` (its worker is a child process: CPU and
    RSS are read over the process tree)."""
    port = free_port()
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    config = tmp / f"{stem}.toml"
    if config_for_port is None:
        text = mock_config(port, **mock)
    else:
        text = config_for_port.replace("{port}", str(port))
    if "[http]" not in text:
        text += UNCAPPED
    if "[journal]" not in text:
        text += DIRECT_PATH
    config.write_text(text)
    cmd = aichatflow_cmd(config) + (["--server", "granian"] if name.endswith(GRANIAN) else [])
    return Server(name, cmd, port, cpu=cpu, log=config.with_suffix(".log"))


def baseline_server(name: str, tmp: Path, notes: list[str], cpu: int | None) -> Server | None:
    """A baseline stack, not started: ``go``, ``uvicorn_raw`` or ``fastapi_sse_starlette``.

    None when it cannot run here (Go not installed, FastAPI missing); the reason is appended to
    ``notes`` once.
    """
    note = ""
    server = None
    if name == "go":
        binary, note = go_binary()
        if binary is not None:
            server = go_server(tmp, binary, cpu)
    elif name == "uvicorn_raw":
        server = python_baseline(name, "uvicorn_raw.py", tmp, cpu)
    elif name == "fastapi_sse_starlette":
        note = f"{name}: skipped, {fastapi_missing()}" if fastapi_missing() else ""
        if not note:
            server = python_baseline(name, "fastapi_sse_starlette.py", tmp, cpu)
    else:
        raise ValueError(f"unknown baseline {name!r}")
    if note and note not in notes:
        notes.append(note)
    return server


def litellm_venv() -> Path:
    return Path(os.environ.get("LITELLM_VENV") or REPO / ".venv-litellm")


LITELLM_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")


def litellm_server(
    tmp: Path, upstream_base: str, model: str, cpu: int | None
) -> tuple[Server | None, str, str]:
    """(server or None, master key, note). LiteLLM proxying ``upstream_base`` as ``model``."""
    exe = litellm_venv() / "bin" / "litellm"
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        return None, "", f"litellm: skipped, not installed at {exe} (run scripts/peers/litellm.sh)"
    config = tmp / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {upstream_base}\n"
        "      api_key: fake-key\n"
        "general_settings:\n"
        "  master_key: os.environ/LITELLM_MASTER_KEY\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "router_settings:\n"
        "  num_retries: 0\n"
    )
    key = "sk-" + secrets.token_hex(32)
    env = {k: os.environ[k] for k in LITELLM_PASSED_ENV if k in os.environ}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_MASTER_KEY=key,
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    port = free_port()
    cmd = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    server = Server("litellm", cmd, port, cpu=cpu, log=tmp / "litellm.log", clean_env=env)
    version = subprocess.run(
        [
            str(litellm_venv() / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return server, key, f"litellm {version.stdout.decode().strip()}"


def fastapi_missing() -> str:
    """Why the FastAPI + sse-starlette baseline cannot run here ("" when it can)."""
    import importlib.util

    missing = [m for m in ("fastapi", "sse_starlette") if importlib.util.find_spec(m) is None]
    return (
        f"not installed: {', '.join(missing)} (pip install fastapi sse-starlette)"
        if missing
        else ""
    )
