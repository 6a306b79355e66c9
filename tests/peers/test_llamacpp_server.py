"""aichatflow's ``llamacpp`` provider against a real ``llama_cpp.server`` running SmolLM2-135M.

Why: LiteLLM's mock streams fixed text; this is a real model behind a real OpenAI-compatible
server (a stand-in for vLLM or DeepSeek) whose bytes nobody on this team
wrote. Its first chunk is ``"delta": {"role": "assistant"}`` with no content, every chunk has
``logprobs: null``, and one chunk carries one token. At temperature 0 its text is deterministic,
so what llama.cpp sends directly, what aichatflow's ``/api/chat`` sends and what the openai SDK
reads through aichatflow's ``/v1`` must be the very same text.

The server runs from this venv (``scripts/peers/llamacpp.sh`` installs it); when it is missing
these tests skip, unless ``AICHATFLOW_REQUIRE_PEERS=1``, where they fail with that hint.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from aichatflow.events import TextDelta
from aichatflow.messages import ChatRequest
from aichatflow.providers.local import LocalProvider, default_model_path, runtime_available
from tests.support.processes import free_port, spawn, stop, wait_http_ready
from tests.support.server import RunningServer
from tests.upstream._client import NATIVE, chat

pytestmark = pytest.mark.peer

StartServer = Callable[..., RunningServer]
STARTUP_TIMEOUT = 60.0
"""Seconds to wait for ``GET /v1/models`` (0.6 to 1.5 s measured on 2 cores)."""
STOP_TIMEOUT = 10.0
PROMPT = "Name three colors."
MESSAGES = [{"role": "user", "content": PROMPT}]
SAMPLING: dict[str, Any] = {"temperature": 0, "max_tokens": 20}
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")


@dataclass(frozen=True)
class LlamaServer:
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def require_gguf() -> Path:
    """The SmolLM2 GGUF with llama_cpp importable, or a skip (a failure when peers are required)."""
    path = default_model_path()
    if runtime_available() and path is not None:
        return path
    why = "llama-cpp-python or the SmolLM2 GGUF is missing: run scripts/peers/llamacpp.sh"
    if os.environ.get("AICHATFLOW_REQUIRE_PEERS") == "1":
        pytest.fail(f"{why} (AICHATFLOW_REQUIRE_PEERS=1 forbids skipping peer tests)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """``python -m llama_cpp.server`` with SmolLM2 on 127.0.0.1, for this module."""
    gguf = require_gguf()
    workdir = tmp_path_factory.mktemp("llamacpp")
    log_path = workdir / "server.log"
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf)]
    cmd += ["--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port)]
    # One thread each, not two: llama.cpp's threads spin while they wait for each
    # other, and with two on a 2-core box that also runs this test's client and aichatflow, 20
    # tokens took 45 s whenever another process was busy (1 s with one thread).
    cmd += ["--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1"]
    env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    env.update(PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", NO_PROXY="127.0.0.1,localhost")
    proc = spawn(cmd, cwd=workdir, env=env, log_path=log_path)
    try:
        url = f"http://127.0.0.1:{port}/v1/models"
        wait_http_ready(proc, url, log_path, name="llama_cpp.server", timeout=STARTUP_TIMEOUT)
        yield LlamaServer(port)
    finally:
        stop(proc, STOP_TIMEOUT)


@pytest.fixture(scope="module")
def direct_text(llama_server: LlamaServer) -> str:
    """What llama.cpp itself streams for the request, read with the openai SDK."""
    with OpenAI(base_url=llama_server.base_url, api_key="unused", max_retries=0) as client:
        text, pieces = read_stream(client, "smollm2")
    assert text.strip()
    assert pieces >= 3
    return text


@pytest.fixture
def server(start_server: StartServer, llama_server: LlamaServer) -> RunningServer:
    return start_server(
        providers={"llamacpp": {"kind": "llamacpp", "base_url": llama_server.base_url}},
        default_model="llamacpp/smollm2",
    )


def read_stream(client: OpenAI, model: str) -> tuple[str, int]:
    """(text, number of chunks with content) of one streamed completion."""
    text, pieces, reasons = "", 0, []
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": PROMPT}], stream=True, **SAMPLING
    )
    with stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    text += choice.delta.content
                    pieces += 1
                if choice.finish_reason is not None:
                    reasons.append(choice.finish_reason)
    assert len(reasons) == 1, reasons
    return text, pieces


async def test_native_stream_carries_the_model_text(
    server: RunningServer, direct_text: str
) -> None:
    """Same text as llama.cpp sent, over several ``text`` frames.

    A native frame carries what one upstream read carried. The 20 tokens take about 150 ms;
    when this process is descheduled that long (a busy 2-core box) they arrive in one read and
    one frame, which is correct. So up to 3 runs, each checked in full, and at least one must
    show several frames: a buffering bug merges every run.
    """
    body = {"model": "llamacpp/smollm2", "messages": MESSAGES, **SAMPLING}
    frame_counts = []
    for _ in range(3):
        result = await chat(server.url, NATIVE, body=body, timeout=30)
        assert result.status == 200
        names = [f.event for f in result.frames]
        assert names[0] == "start"
        assert result.frames[0].json()["model"] == "llamacpp/smollm2"
        assert names[-1] == "done"
        assert set(names[1:-1]) <= {"text", "usage"}
        assert result.text == direct_text
        assert result.frames[-1].json()["finish_reason"] in ("stop", "length")
        frame_counts.append(names.count("text"))
        if frame_counts[-1] >= 3:
            break
    assert max(frame_counts) >= 3, frame_counts


def test_openai_sdk_through_aichatflow(server: RunningServer, direct_text: str) -> None:
    with OpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0, timeout=30) as client:
        text, pieces = read_stream(client, "llamacpp/smollm2")
    assert pieces >= 3
    assert text == direct_text


async def test_in_process_model_says_the_same(direct_text: str) -> None:
    """The ``local`` provider runs the same GGUF with the same chat template in-process:
    greedy decoding must give llama.cpp's server's text, token for token."""
    provider = LocalProvider("local", {})
    try:
        request = ChatRequest(model="smollm2", messages=MESSAGES, **SAMPLING)
        events = [event async for event in provider.stream(request)]
    finally:
        await provider.aclose()
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == direct_text
