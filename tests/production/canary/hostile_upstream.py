"""Upstream behaviours that hand the provider key back, for the fake upstream to play.

One ``Script([Hostile()])`` is the fake's default answer; what it does depends on the first
segment of the request path, so one fake serves every provider of the canary test (each
provider's ``base_url`` names its behaviour). Everything is computed from the request the
fake *received*: an echo proves what the server under test sent, not what the test assumed.

* ``echo401``: 401, the ``Authorization`` value and the bare key in the JSON message and in
  response headers (upstreams quote what they were sent);
* ``partial401``: 401 quoting the key without its ``sk-`` prefix (a masked-looking quote);
* ``k`` and ``q``: 404 quoting the whole request target (the key is in its path or query);
* ``stall``: 200 headers, then nothing (timeouts);
* ``malformed``: 200, one chunk, then a frame of broken JSON that holds the key;
* ``sse-error``: 200, one chunk, then an in-band error object quoting the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.openai_chunks import Chunks
from tests.support.upstream import Script, data, end_chunked, event, headers, respond, stall
from tests.support.upstream_conn import Conn
from tests.support.upstream_script import Action

STALL_LIMIT = 20.0
"""The longest a stalled answer keeps its socket open (the server under test leaves first)."""


def bare_key(authorization: str) -> str:
    return authorization.removeprefix("Bearer ").strip()


def _echo401(auth: str, target: str) -> list[Action]:
    key = bare_key(auth)
    message = f"Incorrect API key provided: {key}. You sent 'Authorization: {auth}' to {target}."
    error = {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
    body = {"error": error}
    extra = {"x-echo-authorization": auth, "www-authenticate": f'Bearer realm="{key}"'}
    return respond(401, body, extra=extra)


def _partial401(auth: str) -> list[Action]:
    key = bare_key(auth)
    body = {"error": {"message": f"API key ...{key[3:]} is not valid", "code": "invalid_api_key"}}
    return respond(401, body)


def _not_found(target: str) -> list[Action]:
    return respond(404, {"error": {"message": f"Cannot POST {target}", "code": "not_found"}})


def _malformed(auth: str) -> list[Action]:
    c = Chunks()
    broken = f'{{"choices":[{{"index":0,"delta":{{"content":"{bare_key(auth)}'
    return [headers(200), event(c.role()), event(c.content("Hi ")), data(broken), end_chunked()]


def _sse_error(auth: str) -> list[Action]:
    c = Chunks()
    key = bare_key(auth)
    error = {"error": {"message": f"key {key} was revoked ({auth})", "code": "invalid_api_key"}}
    return [headers(200), event(c.role()), event(c.content("Hi ")), event(error), end_chunked()]


@dataclass(frozen=True)
class Hostile(Action):
    """Answers by the request path's first segment (module docstring)."""

    async def run(self, conn: Conn) -> None:
        target = conn.rec.path
        auth = conn.rec.headers.get("authorization", "")
        route = target.lstrip("/").split("/", 1)[0]
        actions: list[Action]
        if route == "echo401":
            actions = _echo401(auth, target)
        elif route == "partial401":
            actions = _partial401(auth)
        elif route in ("k", "q"):
            actions = _not_found(target)
        elif route == "stall":
            actions = [headers(200), stall(STALL_LIMIT)]
        elif route == "malformed":
            actions = _malformed(auth)
        elif route == "sse-error":
            actions = _sse_error(auth)
        else:
            actions = respond(500, {"error": {"message": f"hostile fake: no behaviour {route!r}"}})
        for action in actions:
            await action.run(conn)


def hostile_script() -> Script:
    return Script([Hostile()], linger=1.0)


__all__ = ["STALL_LIMIT", "Hostile", "bare_key", "hostile_script"]
