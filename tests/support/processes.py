"""Real peer servers in subprocesses: a free port, start, wait until ready, stop for sure.

Shared by the LiteLLM and llama.cpp peer tests so each only says *what* it runs. Every wait is
bounded, a process that dies early fails the test with the tail of its log, and ``stop`` reaches
the whole process group (SIGTERM, then SIGKILL) and never leaves a zombie.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(
    cmd: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None,
    log_path: Path,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, stdout and stderr to ``log_path``;
    ``preexec_fn`` runs in the child before ``cmd`` (e.g. to lower a resource limit)."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown reaches any child
            preexec_fn=preexec_fn,
        )


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-4000:] if log_path.exists() else ""


def wait_http_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    log_path: Path,
    *,
    name: str,
    timeout: float,
    interval: float = 0.05,
) -> None:
    """Poll ``url`` until it answers 200; fail with the log if the process dies or times out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{_tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if http.get(url).status_code == 200:
                    return
            time.sleep(interval)
    pytest.fail(f"{name} not ready within {timeout:.0f} s:\n{_tail(log_path)}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM to the process group, SIGKILL if it lingers; never leaves a zombie."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


__all__ = ["free_port", "spawn", "stop", "wait_http_ready"]
