"""Which limits apply to one request: the same answer for every storage.

Every window and slot lives under a *scope* name, and the names are built so that no two
callers can share one: a key's scope is ``key:`` + its id, an anonymous caller's ``ip:`` + the
address, or ``ip#`` + the SHA-256 of the address when that is long or odd (a client address is
whatever the server was told: behind a proxy, a header's text). So a key named like an address,
an address of a megabyte or one with spaces and colons, all stay apart and small.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ...config import LimitsSettings
from ...dialects.error_shape import Headers
from ..production import Caller

WINDOW = 60.0
"""Seconds of the sliding window of ``rpm``, ``tpm`` and ``ip_rpm``."""

_PLAIN_ADDRESS = re.compile(r"[0-9A-Za-z.:\[\]%_-]{1,64}")


def ip_scope(client_ip: str) -> str:
    """The scope of an anonymous caller's address (``ip:``, or ``ip#`` and a digest)."""
    if _PLAIN_ADDRESS.fullmatch(client_ip):
        return "ip:" + client_ip
    digest = hashlib.sha256(client_ip.encode("utf-8", "surrogatepass")).hexdigest()
    return "ip#" + digest[:32]


@dataclass(frozen=True, slots=True)
class Plan:
    """The limits of one admission; a zero is a limit that does not apply."""

    scope: str
    """Where this caller's windows and slots live (``key:<id>`` or an ``ip_scope``)."""
    server_streams: int
    streams: int
    rpm: int
    tpm: int
    tokens: int
    """Tokens to reserve against ``tpm`` (at most ``tpm``; 0 without ``tpm``)."""
    requests_limit: str
    """What a refusal of ``rpm`` names: ``rpm`` for a key, ``ip_rpm`` for an address."""

    @property
    def refusal_scope(self) -> str:
        return "key" if self.scope.startswith("key:") else "ip"


def plan_for(caller: Caller, limits: LimitsSettings, tokens: int) -> Plan | None:
    """The limits of ``caller``'s request, or ``None`` when nothing limits it."""
    key = caller.key
    if key is None:
        plan = Plan(
            scope=ip_scope(caller.client_ip) if limits.ip_rpm else "ip:",
            server_streams=limits.max_streams,
            streams=0,
            rpm=limits.ip_rpm,
            tpm=0,
            tokens=0,
            requests_limit="ip_rpm",
        )
    else:
        tpm = key.tpm or 0
        plan = Plan(
            scope="key:" + key.id,
            server_streams=limits.max_streams,
            streams=key.max_streams or 0,
            rpm=key.rpm or 0,
            tpm=tpm,
            tokens=min(max(tokens, 0), tpm),
            requests_limit="rpm",
        )
    if not (plan.server_streams or plan.streams or plan.rpm or plan.tpm):
        return None
    return plan


class Unlimited:
    """The admission of a request no limit applies to: nothing to give back."""

    __slots__ = ("headers",)

    def __init__(self) -> None:
        self.headers: Headers = []

    async def release(self, used_tokens: int | None) -> None:
        return None


__all__ = ["WINDOW", "Plan", "Unlimited", "ip_scope", "plan_for"]
