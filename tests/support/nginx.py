"""A real, throwaway nginx in front of one or more servers under test, on 127.0.0.1.

What a deployment puts between browsers and aichatflow is most often nginx, whose defaults
buffer responses (``proxy_buffering on``) and close upstream connections that stay quiet for
``proxy_read_timeout``. Both break streams unless the server sends ``X-Accel-Buffering: no`` and
heartbeats; only a real nginx shows that they do. ``nginx_for([port_a, port_b])`` starts one:

* ``daemon off``, a master and one worker, in its own process group; its configuration, pid
  file, temporary files, error log and access log all in a fresh temporary directory (nothing of
  /etc/nginx is read: ``-p``/``-c``/``-e`` point there);
* listening on a free port of 127.0.0.1, proxying round robin to ``127.0.0.1:PORT`` for each
  port given, with nginx's default buffering left on and no ``X-Accel`` setting in the
  configuration: the server's own response header is what must turn buffering off;
* the directives a streaming deployment needs and docs/deployment.md recommends:
  ``proxy_http_version 1.1``, ``proxy_set_header Connection ""`` with upstream keep-alive,
  ``proxy_set_header Host $host`` (nginx would otherwise send the upstream group's name, which
  the server's ``Host`` guard refuses), and a ``proxy_read_timeout`` a test can shorten;
* an access log of one line per request naming the upstream that answered, so a test can see
  the round robin (``Nginx.upstreams()``).

On exit it is stopped with ``SIGQUIT`` (graceful), then ``SIGKILL`` to the whole group, and
waited for, so no nginx process is left. As root, nginx hands its worker to ``nobody``, who
cannot enter the 0700 temporary directory where large buffered responses are spooled (tried:
such a response is cut short, ``open() ... (13: Permission denied)`` in the error log), so the
configuration says ``user root;`` then; any other user runs nginx as itself, no ``user`` line.

Without nginx (``scripts/peers/nginx.sh`` installs it) the tests that need it skip, unless
``AICHATFLOW_REQUIRE_PEERS=1`` (CI), where a silent skip would hide that they never ran.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import free_port, spawn

INSTALLER = "scripts/peers/nginx.sh"
STARTUP_TIMEOUT = 10.0
QUIT_GRACE = 2.0
"""Seconds a graceful ``SIGQUIT`` may take (it waits for open responses) before ``SIGKILL``."""
KILL_WAIT = 5.0

_ACCESS_FORMAT = "'$upstream_addr $status $request_method $request_uri'"

_CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{
    worker_connections 1024;
}}

http {{
    log_format upstreams {access_format};
    access_log {dir}/access.log upstreams;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream aichatflow {{
{servers}
        keepalive 8;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://aichatflow;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_read_timeout {read_timeout};
        }}
    }}
}}
"""


def require_nginx() -> str:
    """The path of ``nginx``; else skip (or fail under ``AICHATFLOW_REQUIRE_PEERS=1``)."""
    exe = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if exe is not None:
        return exe
    why = f"nginx is not installed: run {INSTALLER}"
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping)")
    pytest.skip(why)


@dataclass(frozen=True)
class Nginx:
    """A running nginx: ``url`` is its base URL (``http://127.0.0.1:PORT``, no slash)."""

    url: str
    workdir: Path
    pid: int

    @property
    def error_log(self) -> Path:
        return self.workdir / "error.log"

    def upstreams(self, at_least: int = 0, timeout: float = 5.0) -> list[str]:
        """The upstream (``127.0.0.1:PORT``) that answered each request, in order, from the
        access log. nginx writes a request's line once it has sent the response, which a
        client may have read a moment before: this waits (up to ``timeout`` seconds) until
        there are ``at_least`` lines."""
        path = self.workdir / "access.log"
        deadline = time.monotonic() + timeout
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if len(lines) >= at_least or time.monotonic() > deadline:
                return [line.split(" ", 1)[0] for line in lines]
            time.sleep(0.01)


def nginx_config(
    ports: Sequence[int],
    *,
    listen: int,
    workdir: Path,
    read_timeout: float,
) -> str:
    """The configuration ``nginx_for`` runs (see the module docstring)."""
    if not ports:
        raise ValueError("nginx needs at least one upstream port")
    servers = "\n".join(f"        server 127.0.0.1:{port};" for port in ports)
    return _CONFIG.format(
        user="user root;\n" if os.geteuid() == 0 else "",
        dir=workdir,
        access_format=_ACCESS_FORMAT,
        servers=servers,
        port=listen,
        read_timeout=f"{int(read_timeout * 1000)}ms",
    )


@contextmanager
def nginx_for(
    ports: Sequence[int],
    *,
    read_timeout: float = 60.0,
    workdir: Path | None = None,
) -> Iterator[Nginx]:
    """nginx on a free loopback port, round robin over ``127.0.0.1:port`` for each of
    ``ports``; ``read_timeout`` is its ``proxy_read_timeout`` in seconds (nginx's default 60).
    Yields the running ``Nginx``; stopped, with every process of it gone, on exit."""
    exe = require_nginx()
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="nginx-")))
        listen = free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(
            nginx_config(
                ports,
                listen=listen,
                workdir=workdir,
                read_timeout=read_timeout,
            )
        )
        log_path = workdir / "stdout.log"
        cmd = [exe, "-p", f"{workdir}/", "-c", str(conf), "-e", str(workdir / "error.log")]
        proc = spawn(cmd, cwd=workdir, env=None, log_path=log_path)
        cleanup.callback(stop_nginx, proc)
        _wait_listening(proc, listen, workdir)
        yield Nginx(f"http://127.0.0.1:{listen}", workdir, proc.pid)


def _wait_listening(proc: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            logs = [workdir / "stdout.log", workdir / "error.log"]
            text = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs if p.exists())
            pytest.fail(f"nginx did not start (exit {proc.poll()}):\n{text}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.02)


def stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    """``SIGQUIT`` (finish open requests, then exit), ``SIGKILL`` to the whole process group
    after ``QUIT_GRACE``; returns once the master is reaped and no process of the group is
    left (a worker outliving its master would keep the port and the temporary directory)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGQUIT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(QUIT_GRACE)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(KILL_WAIT)
    deadline = time.monotonic() + KILL_WAIT
    while group_alive(proc.pid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx process group {proc.pid} survived SIGKILL")
        time.sleep(0.01)


def group_alive(pgid: int) -> bool:
    """True while a live process of the group ``pgid`` exists. Read from ``/proc`` rather than
    ``killpg(pgid, 0)``, which also counts zombies: a worker whose master died is re-parented to
    PID 1, and a container's PID 1 does not always reap."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after its ")"
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


__all__ = ["Nginx", "group_alive", "nginx_config", "nginx_for", "require_nginx", "stop_nginx"]
