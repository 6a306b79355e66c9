"""The official ``openai`` SDK against a keyed server: ``api_key=`` is all a user sets. A valid
key streams; a wrong or revoked one raises ``openai.AuthenticationError`` (401) and a model
outside the key's globs ``openai.PermissionDeniedError`` (403), the classes the SDK maps from
the status, with our message in them."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from aichatflow.config import key_digest
from tests.support.server import RunningServer

GOOD = "acf-sdk-good-key-0123456789abcdefghijkl"
LIMITED = "acf-sdk-limited-key-0123456789abcdefghi"
REVOKED = "acf-sdk-revoked-key-0123456789abcdefghi"
FAST = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0}
MESSAGES: list[Any] = [{"role": "user", "content": "hi there"}]


@pytest.fixture
def server(start_server: Any) -> RunningServer:
    keyed: RunningServer = start_server(
        providers={"fast": FAST},
        models={"quick": "fast/chat"},
        default_model="fast/chat",
        auth={
            "keys": [
                {"id": "good", "sha256": key_digest(GOOD)},
                {"id": "limited", "sha256": key_digest(LIMITED), "models": ["quick"]},
                {"id": "revoked", "sha256": key_digest(REVOKED), "disabled": True},
            ]
        },
    )
    return keyed


def client(server: RunningServer, key: str) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=15)


def streamed_text(sdk: OpenAI, model: str) -> str:
    with sdk.chat.completions.create(model=model, messages=MESSAGES, stream=True) as stream:
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_a_valid_key_streams_and_lists_models(server: RunningServer) -> None:
    with client(server, GOOD) as sdk:
        assert streamed_text(sdk, "fast/chat")
        assert "fast/chat" in [m.id for m in sdk.models.list()]
        done = sdk.chat.completions.create(model="fast/chat", messages=MESSAGES)
        assert done.choices[0].message.content


@pytest.mark.parametrize("key", ["acf-sdk-wrong-key-0123456789abcdefghij", REVOKED])
def test_a_wrong_or_revoked_key_is_an_authentication_error(server: RunningServer, key: str) -> None:
    with client(server, key) as sdk:
        with pytest.raises(openai.AuthenticationError) as streaming:
            streamed_text(sdk, "fast/chat")
        with pytest.raises(openai.AuthenticationError):
            sdk.models.list()
    assert streaming.value.status_code == 401
    assert streaming.value.code == "unauthorized"
    assert key[:-4] not in str(streaming.value) and key[-4:] in str(streaming.value)


def test_a_model_outside_the_keys_globs_is_permission_denied(server: RunningServer) -> None:
    with client(server, LIMITED) as sdk:
        assert streamed_text(sdk, "quick")  # the alias its glob names
        with pytest.raises(openai.PermissionDeniedError) as denied:
            streamed_text(sdk, "fast/chat")  # what the alias stands for: not named
    assert denied.value.status_code == 403 and "fast/chat" in str(denied.value)


def test_the_anthropic_sdks_header_is_a_key_too(server: RunningServer) -> None:
    body = {"model": "fast/chat", "messages": MESSAGES, "stream": True}
    response = httpx.post(
        server.url + "/v1/chat/completions", json=body, headers={"x-api-key": GOOD}, timeout=15
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.rstrip().endswith("data: [DONE]")


def test_a_key_lists_and_retrieves_only_the_models_its_globs_allow(server: RunningServer) -> None:
    """As LiteLLM's proxy does: the list is the key's, and a model outside it is a 404 like a
    model that does not exist (no oracle), while a key without globs sees everything."""
    with client(server, LIMITED) as sdk:
        assert [m.id for m in sdk.models.list()] == ["quick"]
        assert sdk.models.retrieve("quick").id == "quick"
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve("fast/chat")
    with client(server, GOOD) as sdk:
        listed = {m.id for m in sdk.models.list()}
        assert {"quick", "fast/chat"} <= listed
        assert sdk.models.retrieve("fast/chat").id == "fast/chat"
