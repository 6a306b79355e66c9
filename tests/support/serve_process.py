"""``aichatflow serve`` in a subprocess, exactly as production runs it (``tune_gc`` included).

For what only a whole server process shows: its resident memory over many streams, its log
output (tracebacks go to stderr, not to a logger a test could hook), and whether its event loop
stays responsive. The subprocess imports the same ``aichatflow`` this test process imported
(its source directory goes first on ``PYTHONPATH``), whatever the working directory.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

import aichatflow
from tests.support.processes import free_port, spawn, stop, wait_http_ready

SOURCE_ROOT = Path(aichatflow.__file__).resolve().parents[1]


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_mib(self) -> float:
        """The server's resident set size (``VmRSS``), MiB."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def raw_chat_request(model: str, path: str = "/api/chat", **fields: Any) -> bytes:
    """A whole HTTP/1.1 chat request, for clients on raw sockets (which can stop reading, or
    leave with a reset, as no HTTP client library lets a test do)."""
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **fields})
    head = f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without keys or settings, plus ``extra`` (whose
    ``PYTHONPATH``, if any, goes after the source directory and before the inherited one)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env = {k: v for k, v in env.items() if not k.startswith("AICHATFLOW")}
    extra = dict(extra or {})
    paths = [str(SOURCE_ROOT), extra.pop("PYTHONPATH", ""), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return {**env, **extra}


def _fd_limit(soft: int, hard: int) -> Callable[[], None]:
    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return lower


@contextmanager
def serve_process(
    tmp_path: Path,
    config: str = "",
    *,
    server: str = "uvicorn",
    nofile: tuple[int, int] | None = None,
    log_level: str = "warning",
    env: Mapping[str, str] | None = None,
) -> Iterator[ServeProcess]:
    """Run ``aichatflow serve --server SERVER`` with ``config`` (TOML text; providers are not
    auto-detected) until the block ends; ``nofile``: the server's (soft, hard)
    ``RLIMIT_NOFILE``; ``env``: variables to add (an operator's key variables, a
    ``PYTHONPATH`` with plugins)."""
    port = free_port()
    config_path = tmp_path / "serve.toml"
    config_path.write_text(f"auto_detect = false\n{config}")
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "aichatflow", "serve", "--server", server, "--port", str(port)]
    cmd += ["--config", str(config_path), "--log-level", log_level]
    limit = _fd_limit(*nofile) if nofile else None
    proc = spawn(cmd, cwd=tmp_path, env=_env(env), log_path=log, preexec_fn=limit)
    try:
        wait_http_ready(proc, f"http://127.0.0.1:{port}/healthz", log, name=server, timeout=30)
        yield ServeProcess(proc, port, log)
    finally:
        stop(proc, timeout=30)


__all__ = ["ServeProcess", "raw_chat_request", "serve_process"]
