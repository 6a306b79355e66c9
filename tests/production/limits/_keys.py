"""A minimal ``Keys`` part for the end-to-end limits tests: ``Authorization: Bearer <raw>``
mapped to configured ``ApiKey``s, so a request has a key whose limits apply. The real part
(``server/auth.py``) is tested on its own; these tests are about the limits."""

from __future__ import annotations

from starlette.types import Scope

from aichatflow.config import ApiKey, key_digest
from aichatflow.errors import Unauthorized
from aichatflow.server.production import Caller

CHAT_PATHS = ("/api/chat", "/v1/chat/completions")


class BearerKeys:
    enabled = True

    def __init__(self, keys: dict[str, ApiKey]) -> None:
        self._by_digest = {key_digest(raw): key for raw, key in keys.items()}

    def requires_key(self, method: str, path: str) -> bool:
        return path in CHAT_PATHS

    def authenticate(self, scope: Scope, client_ip: str) -> Caller:
        for name, value in scope["headers"]:
            if name == b"authorization" and value.startswith(b"Bearer "):
                key = self._by_digest.get(key_digest(value[7:].decode("latin-1")))
                if key is not None:
                    return Caller(key, client_ip)
        raise Unauthorized("a valid key is needed")

    def authorize_model(self, caller: Caller, model: str) -> None:
        return None
