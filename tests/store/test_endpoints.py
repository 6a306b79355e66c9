"""``/api/conversations`` over a real uvicorn, on SQLite and PostgreSQL, with keys and without."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aichatflow.config import key_digest
from aichatflow.messages import Message
from aichatflow.store.conversations import ConversationStore
from aichatflow.transcript import Transcript
from tests.support.server import RunningServer

KEY_A, KEY_B = "acf-team-a-key-0123456789abcdef", "acf-team-b-key-0123456789abcdef"
KEYS = {
    "keys": [
        {"id": "team-a", "sha256": key_digest(KEY_A)},
        {"id": "team-b", "sha256": key_digest(KEY_B)},
    ]
}
NOT_FOUND = {"code": "not_found", "message": "conversation not found", "retryable": False}


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _seed(url: str, owner: str, titles: list[str]) -> list[str]:
    """Conversations of ``owner`` (oldest first), written as the chat flow writes them."""
    store = await ConversationStore.open(url)
    ids = []
    try:
        for title in titles:
            turn = await store.begin_turn(
                owner,
                None,
                [Message(role="user", content=title)],
                model="mock/chat",
                stream_id="s-" + title,
            )
            await store.finish_turn(
                turn.assistant_message_id, "stopped", Transcript(text="half", model="mock/chat")
            )
            ids.append(turn.conversation_id)
    finally:
        await store.aclose()
    return ids


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert response.headers["content-type"].startswith("application/json")
    return {k: body["error"][k] for k in ("code", "message", "retryable")}


async def test_keys_see_only_their_own_conversations(
    start_server: Callable[..., RunningServer], store_url: str
) -> None:
    server = start_server(store={"url": store_url}, auth=KEYS)
    mine = await _seed(store_url, "team-a", ["first", "second", "third"])
    theirs = await _seed(store_url, "team-b", ["private"])
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/api/conversations")).status_code == 401
        listed = await http.get("/api/conversations", headers=_auth(KEY_A))
        assert listed.status_code == 200
        body = listed.json()
        assert [c["title"] for c in body["data"]] == ["third", "second", "first"]
        assert body["has_more"] is False
        assert set(body["data"][0]) == {"id", "title", "created_at", "updated_at"}
        page = (await http.get("/api/conversations?limit=2", headers=_auth(KEY_A))).json()
        assert ([c["id"] for c in page["data"]], page["has_more"]) == ([mine[2], mine[1]], True)
        rest = await http.get(f"/api/conversations?limit=2&before={mine[1]}", headers=_auth(KEY_A))
        assert ([c["id"] for c in rest.json()["data"]], rest.json()["has_more"]) == (
            [mine[0]],
            False,
        )

        detail = await http.get(f"/api/conversations/{mine[0]}", headers=_auth(KEY_A))
        assert detail.status_code == 200
        conversation = detail.json()
        assert (conversation["id"], conversation["title"]) == (mine[0], "first")
        assert [(m["role"], m["content"], m["status"]) for m in conversation["messages"]] == [
            ("user", "first", "complete"),
            ("assistant", "half", "stopped"),
        ]
        assert set(conversation["messages"][1]) == {
            "id",
            "role",
            "content",
            "reasoning",
            "tool_calls",
            "model",
            "status",
            "stream_id",
            "error",
            "usage",
            "created_at",
        }
        assert conversation["messages"][1]["stream_id"] == "s-first"

        # another key's conversation: the very same 404 as an id that does not exist
        answers = []
        for conversation_id in (theirs[0], "doesNotExist1234"):
            for method, extra in (("GET", {}), ("DELETE", {}), ("PATCH", {"json": {"title": "x"}})):
                answer = await http.request(
                    method, f"/api/conversations/{conversation_id}", headers=_auth(KEY_A), **extra
                )
                assert answer.status_code == 404
                answers.append(_error(answer))
        assert answers == [NOT_FOUND] * 6
        assert (await http.get("/api/conversations", headers=_auth(KEY_B))).json()["data"][0][
            "title"
        ] == "private"

        renamed = await http.patch(
            f"/api/conversations/{mine[0]}", headers=_auth(KEY_A), json={"title": "Renamed"}
        )
        assert (renamed.status_code, renamed.json()["title"]) == (200, "Renamed")
        assert (await http.get("/api/conversations?limit=1", headers=_auth(KEY_A))).json()["data"][
            0
        ]["title"] == "Renamed"  # renaming counts as an update
        deleted = await http.delete(f"/api/conversations/{mine[0]}", headers=_auth(KEY_A))
        assert (deleted.status_code, deleted.content) == (204, b"")
        gone = await http.get(f"/api/conversations/{mine[0]}", headers=_auth(KEY_A))
        assert (gone.status_code, _error(gone)) == (404, NOT_FOUND)
        assert (
            await http.get(f"/api/conversations/{theirs[0]}", headers=_auth(KEY_B))
        ).status_code == 200


async def test_without_keys_everyone_shares_the_anonymous_list(
    start_server: Callable[..., RunningServer], store_url: str
) -> None:
    server = start_server(store={"url": store_url})
    ids = await _seed(store_url, "", ["hello"])
    await _seed(store_url, "team-a", ["a key's"])
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        listed = (await http.get("/api/conversations")).json()
        assert [c["id"] for c in listed["data"]] == ids
        assert (await http.get(f"/api/conversations/{ids[0]}")).json()["title"] == "hello"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("limit=-1", 422, "validation_failed"),
        ("limit=0", 422, "validation_failed"),
        ("limit=1000000000", 422, "validation_failed"),
        ("limit=abc", 400, "bad_request"),
        ("limit=1e3", 400, "bad_request"),
        ("before=doesNotExist1234", 400, "bad_request"),
        ("before=%27%20OR%201%3D1%20--", 400, "bad_request"),
        ("before=..%2F..%2Fetc", 400, "bad_request"),
    ],
)
async def test_bad_listing_parameters(
    start_server: Callable[..., RunningServer],
    store_url: str,
    query: str,
    status: int,
    code: str,
) -> None:
    server = start_server(store={"url": store_url})
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.get(f"/api/conversations?{query}")
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code)


async def test_hostile_input(start_server: Callable[..., RunningServer], store_url: str) -> None:
    server = start_server(store={"url": store_url}, max_body_bytes=4096)
    (conversation_id,) = await _seed(store_url, "", ["target"])
    path = f"/api/conversations/{conversation_id}"
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        for raw_id in [
            "'%20OR%20'1'='1",
            "x%3B%20DROP%20TABLE%20aichatflow_conversations",
            "%C3%BCn%C3%AFc%C3%B8d%C3%A9-%F0%9F%9A%80",
            "..%2F..%2Fetc%2Fpasswd",
            "a" * 3000,
            "%00",
        ]:
            for method in ("GET", "DELETE"):
                answer = await http.request(method, f"/api/conversations/{raw_id}")
                if "%2F" in raw_id:  # more path segments: no route (its own 404)
                    assert (answer.status_code, _error(answer)["code"]) == (404, "not_found")
                else:
                    assert (answer.status_code, _error(answer)) == (404, NOT_FOUND), raw_id
        too_long = await http.patch(path, json={"title": "x" * 201})
        assert (too_long.status_code, too_long.json()["error"]["code"]) == (
            422,
            "validation_failed",
        )
        huge = await http.patch(path, json={"title": "x" * 100_000})
        assert huge.status_code == 413
        for body in ({"title": ""}, {"title": 7}, {"name": "x"}, ["title"]):
            answer = await http.patch(path, json=body)
            assert answer.status_code == 422, body
        bad_json = await http.patch(
            path, content=b'{"title": ', headers={"content-type": "application/json"}
        )
        assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, "bad_request")
        not_json = await http.patch(
            path, content=b"title=x", headers={"content-type": "text/plain"}
        )
        assert (not_json.status_code, not_json.json()["error"]["code"]) == (
            415,
            "unsupported_media_type",
        )
        odd = await http.patch(path, json={"title": "🚀 ünïcødé \x00 '); DROP TABLE x; --"})
        assert odd.status_code == 200
        assert odd.json()["title"] == "🚀 ünïcødé \ufffd '); DROP TABLE x; --"
        assert (await http.get(path)).json()["title"] == odd.json()["title"]
        assert (await http.put(path, json={"title": "x"})).status_code == 405


async def test_no_routes_without_a_store(start_server: Callable[..., RunningServer]) -> None:
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.get("/api/conversations")
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")
