"""``aichatflow keys new`` then ``aichatflow serve`` with its TOML, as an operator does it, in
subprocesses: the printed key opens the API, tickets work once, and neither the key nor any
ticket reaches the server's output (its access log included), at DEBUG."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from aichatflow.server.key_table import KEY_PREFIX
from tests.support.processes import free_port, spawn, stop, wait_http_ready

pytestmark = pytest.mark.timeout(60)

MOCK = '[providers.fast]\nkind = "mock"\ntokens_per_second = 0\nfirst_token_ms = 0\n'
CHAT = {"model": "fast/chat", "messages": [{"role": "user", "content": "hello"}]}


def test_a_key_from_keys_new_opens_a_served_api_and_no_secret_reaches_the_log(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHATFLOW_")}
    env = {k: v for k, v in env.items() if not k.endswith("_API_KEY")}
    made = subprocess.run(
        [sys.executable, "-m", "aichatflow", "keys", "new", "--id", "ops", "--models", "fast/*"],
        capture_output=True, text=True, timeout=30, env=env, check=True,
    )  # fmt: skip
    [key] = re.findall(re.escape(KEY_PREFIX) + r"\S+", made.stderr)
    config = tmp_path / "aichatflow.toml"
    config.write_text('default_model = "fast/chat"\n' + MOCK + made.stdout)
    port = free_port()
    log_path = tmp_path / "serve.log"
    proc = spawn(
        [sys.executable, "-m", "aichatflow", "serve", "--port", str(port), "--config", str(config),
         "--log-level", "debug"],
        cwd=tmp_path, env=env, log_path=log_path,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    tickets: list[str] = []
    try:
        wait_http_ready(proc, url + "/healthz", log_path, name="aichatflow serve", timeout=30)
        with httpx.Client(base_url=url, timeout=15) as http:
            assert http.get("/v1/models").status_code == 401
            auth = {"authorization": f"Bearer {key}"}
            assert http.get("/v1/models", headers=auth).status_code == 200
            chat = http.post("/api/chat", json=CHAT, headers={"x-api-key": key})
            assert chat.status_code == 200 and "event: done" in chat.text
            refused = http.post("/api/chat", json={**CHAT, "model": "mock/chat"}, headers=auth)
            assert refused.status_code == 403
            for _ in range(3):
                minted = http.post("/api/tickets", headers=auth)
                assert minted.status_code == 200, minted.text
                tickets.append(minted.json()["ticket"])
            first = http.post("/api/chat", json=CHAT, params={"ticket": tickets[0]})
            assert first.status_code == 200 and "event: done" in first.text
            again = http.post("/api/chat", json=CHAT, params={"ticket": tickets[0]})
            assert again.status_code == 401
            assert http.get("/api/config", params={"ticket": tickets[1]}).status_code == 200
            assert http.get("/nowhere", params={"ticket": tickets[2]}).status_code == 404
    finally:
        stop(proc)
    output = log_path.read_text(errors="replace")
    assert "route=/api/chat" in output and "key_id=ops" in output  # the access log is there
    assert key not in output and key[len(KEY_PREFIX) :][:12] not in output
    assert not [t for t in tickets if t in output or t[:12] in output]
    assert not re.search(r"ticket=(?!\[REDACTED\])", output)
