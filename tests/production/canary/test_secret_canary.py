"""No provider key reaches any sink, whatever fails (the secret canary).

A fresh key ``sk-CANARY-<uuid4>`` is configured the way an operator does (an environment
variable named by ``api_key_env``, or inside a ``base_url``); one ``aichatflow serve`` process
at ``--log-level debug`` has a provider per error path (``error_paths.py``): upstream 401s and
404s that quote what they were sent, refused and unresolvable connections, an untrusted TLS
certificate, timeouts, broken and hostile streams, and a plugin provider whose exceptions carry
the key. Each path is asked through every chat route, and every sink (``sinks.py``: status line,
headers, body, decoded frames; the server's stdout and stderr) is searched for the canary and
for any 12-character run of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.production.canary.canary import excerpt_around, leaked_parts, new_canary
from tests.production.canary.error_paths import (
    KEY_VARIABLE,
    LISTING,
    ErrorPath,
    Upstreams,
    error_paths,
    listing_provider,
    serve_config,
)
from tests.production.canary.exploding_provider import KIND, install_plugin
from tests.production.canary.hostile_upstream import hostile_script
from tests.production.canary.sinks import RESPONSE_SINKS, SERVER_SINKS, Answer, answer_of
from tests.production.canary.tls_upstream import UntrustedTLSServer, untrusted_tls_server
from tests.support.client import user
from tests.support.processes import free_port
from tests.support.serve_process import SOURCE_ROOT, ServeProcess, serve_process
from tests.support.upstream import FakeUpstream, fake_upstream

ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("/v1/chat/completions stream", "/v1/chat/completions", {"stream": True}),
    ("/v1/chat/completions non-stream", "/v1/chat/completions", {"stream": False}),
    ("/api/chat", "/api/chat", {}),
]
REQUEST_TIMEOUT = 30.0
"""Per request; every path fails within a few seconds (the slowest: ``FIRST_TOKEN``)."""


@dataclass
class CanaryRun:
    canary: str
    server: ServeProcess
    fake: FakeUpstream
    tls: UntrustedTLSServer
    paths: list[ErrorPath]
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict)
    """(path name, route label) → what the client got."""
    output_from: dict[str, int] = field(default_factory=dict)
    """Path name → where the server's output stood when the path began (to point at leaks)."""


def _ask(client: httpx.Client, path: str, model: str, extra: dict[str, Any]) -> Answer:
    payload = {"model": model, "messages": user(), **extra}
    with client.stream("POST", path, json=payload) as response:
        return answer_of(response, response.read())


def _wait_access_lines(server: ServeProcess, n: int, timeout: float = 10.0) -> None:
    """Until the server has logged ``n`` finished requests (a stream's line follows its end)."""
    deadline = time.monotonic() + timeout
    while server.output().count(" route=") < n and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryRun]:
    tmp = tmp_path_factory.mktemp("canary")
    canary = new_canary()
    plugins = install_plugin(tmp / "plugins")
    with fake_upstream(hostile_script()) as fake, untrusted_tls_server(tmp) as tls:
        upstreams = Upstreams(fake=fake.url, tls=tls.url, closed_port=free_port())
        paths = error_paths(upstreams, canary)
        config = serve_config(paths, {LISTING: listing_provider(upstreams, canary)})
        env = {KEY_VARIABLE: canary, "PYTHONPATH": str(plugins)}
        with serve_process(tmp, config, log_level="debug", env=env) as server:
            result = CanaryRun(canary, server, fake, tls, paths)
            requests = 0
            with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as client:
                for path in paths:
                    result.output_from[path.name] = len(server.output())
                    for label, route, extra in ROUTES:
                        answer = _ask(client, route, f"{path.name}/m", extra)
                        result.answers[(path.name, label)] = answer
                        requests += 1
                result.output_from[LISTING] = len(server.output())
                listed = client.get("/v1/models")
                result.answers[(LISTING, "GET /v1/models")] = answer_of(listed, listed.content)
                requests += 1
            _wait_access_lines(server, requests)
            yield result


def _leaks(text: str, canary: str, where: str) -> list[str]:
    """At most one line per place: how much of the canary leaked there, and where."""
    parts = leaked_parts(text, canary)
    if not parts:
        return []
    return [f"{where}: {len(parts)} run(s), e.g. ...{excerpt_around(text, parts[0])!r}..."]


def test_no_sink_shows_the_provider_key(run: CanaryRun) -> None:
    leaks: list[str] = []
    for (path, route), answer in run.answers.items():
        for sink, read in RESPONSE_SINKS:
            leaks += _leaks(read(answer), run.canary, f"{path} via {route}, {sink}")
    for sink, read in SERVER_SINKS:
        text = read(run.server)
        starts = sorted(run.output_from.items(), key=lambda item: item[1])
        for i, (path, start) in enumerate(starts):
            end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
            leaks += _leaks(text[start:end], run.canary, f"{path} (and after), {sink}")
        leaks += _leaks(text[: starts[0][1]], run.canary, f"start-up, {sink}")
    cells = len(run.answers) * len(RESPONSE_SINKS) + len(run.output_from) * len(SERVER_SINKS)
    assert not leaks, f"{len(leaks)} leak(s) over {cells} path x sink cells:\n" + "\n".join(leaks)


def test_every_path_failed_the_way_it_was_meant_to(run: CanaryRun) -> None:
    """Not a vacuous pass: each path ended in an error, with the key actually in play."""
    for (path, route), answer in run.answers.items():
        if path != LISTING:
            assert answer.is_error, (path, route, answer.status_line, answer.body[:500])
    sent = {r.path.split("/")[1]: r.headers.get("authorization") for r in run.fake.requests}
    for route in ("echo401", "partial401", "stall", "malformed", "sse-error"):
        assert sent.get(route) == f"Bearer {run.canary}", (route, sorted(sent))
    assert any(r.path.startswith("/k/") and r.method == "GET" for r in run.fake.requests)
    assert any(r.path.startswith("/q/") for r in run.fake.requests)
    assert run.tls.handshakes_started >= len(ROUTES) and run.tls.handshakes_completed == 0
    assert not run.fake.errors


def test_a_provider_that_cannot_be_created_stops_serve_with_one_line_without_the_key(
    tmp_path: Path,
) -> None:
    """A plugin factory rejecting its key (``ValueError(f"... {key}")``) was a traceback on
    stderr ending in the key; now it is one ``ConfigError`` line, redacted."""
    canary = new_canary()
    plugins = install_plugin(tmp_path / "plugins")
    config = tmp_path / "serve.toml"
    table = f'kind = "{KIND}"\napi_key_env = "{KEY_VARIABLE}"\nfails = "create"\n'
    config.write_text(f"auto_detect = false\n[providers.broken]\n{table}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHATFLOW")}
    env |= {KEY_VARIABLE: canary, "PYTHONPATH": os.pathsep.join([str(SOURCE_ROOT), str(plugins)])}
    command = [sys.executable, "-m", "aichatflow", "serve", "--config", str(config)]
    command += ["--port", str(free_port()), "--log-level", "debug"]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in output, output
    assert "provider 'broken'" in output and "ValueError" in output, output
    assert not leaked_parts(output, canary), output


def test_an_invalid_client_key_shows_at_most_its_last_4_characters(tmp_path: Path) -> None:
    """A client key that is not configured (here: the canary) is refused with 401; neither the
    answer nor the server's output holds more of it than its last 4 characters."""
    canary = new_canary()
    valid = new_canary("sk-VALID-")
    env = {"AICHATFLOW_API_KEYS": valid}
    config = 'default_model = "m/chat"\n[providers.m]\nkind = "mock"\n'
    with serve_process(tmp_path, config, log_level="debug", env=env) as server:
        answers: list[Answer] = []
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as client:
            for header in ({"authorization": f"Bearer {canary}"}, {"x-api-key": canary}):
                for _label, route, extra in ROUTES:
                    payload = {"model": "m/chat", "messages": user(), **extra}
                    with client.stream("POST", route, json=payload, headers=header) as response:
                        answers.append(answer_of(response, response.read()))
                listed = client.get("/v1/models", headers=header)
                answers.append(answer_of(listed, listed.content))
            ok = client.get("/v1/models", headers={"authorization": f"Bearer {valid}"})
        _wait_access_lines(server, len(answers) + 1)
        output = server.output()
    assert ok.status_code == 200  # keys are on, and a configured key passes
    texts = [read(a) for a in answers for _sink, read in RESPONSE_SINKS] + [output]
    for answer in answers:
        assert answer.status_line.split()[1] == "401", answer
        assert b'"unauthorized"' in answer.body, answer.body
    for text in texts:
        assert not leaked_parts(text, canary), text
        longer_suffixes = [canary[-n:] for n in range(5, len(canary) + 1)]
        assert not [s for s in longer_suffixes if s in text], text
