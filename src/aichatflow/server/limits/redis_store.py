"""``redis://``: limits shared by every instance using one Redis.

An admission is one round trip: one Lua script (``lua.py``) checks every limit that applies
and takes them all, or takes nothing. Stream slots are *leased*: each slot's score is the end of
its lease, and one background task per limiter renews the leases of every slot this process
holds, once every third of the lease, in one script call (never per stream, never per event).
When an instance dies without releasing (killed, frozen, cut off), its slots free themselves
within ``lease`` seconds. A release is idempotent and never raises: when Redis cannot be
reached then, a warning is logged and the lease runs out.

Redis unreachable at admission: the request is refused with 503 ``over_capacity`` (fail
closed) and a warning is logged: a limit that cannot be checked is not silently lifted.

The URL may hold a password (``redis://:secret@host``): it is printed only redacted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from ...config import LimitsSettings
from ...dialects.error_shape import Headers
from ...errors import OverCapacity
from ...redaction import redact_url
from ...redis_client import NAMESPACE, describe_error, redis_client
from ...throttled_log import ThrottledWarning
from ..production import Admission, Caller
from .headers import (
    SLOT_RETRY_AFTER,
    Refusal,
    WindowState,
    ratelimit_headers,
    refusal_error,
    window_state,
)
from .lua import ADMIT, RELEASE, RENEW
from .plan import WINDOW, Plan, Unlimited, plan_for

log = logging.getLogger("aichatflow.limits")

LEASE = 15.0
"""Seconds a stream slot stays held without renewal: how long a dead instance's slots last."""
PREFIX = NAMESPACE + ":limits:"
"""Every key's prefix; ``NAMESPACE``'s braces keep all keys in one Redis Cluster hash slot,
since one admission script touches several of them."""


class RedisLimiter:
    """The ``Limiter`` shared by instances through one Redis."""

    def __init__(
        self,
        limits: LimitsSettings,
        *,
        lease: float = LEASE,
        prefix: str = PREFIX,
        client: Any = None,
    ) -> None:
        self._limits = limits
        self._url = redact_url(limits.storage)
        self._lease = lease
        self._prefix = prefix
        self._redis = client if client is not None else redis_client(limits.storage)
        self._admit = self._redis.register_script(ADMIT)
        self._release = self._redis.register_script(RELEASE)
        self._renew = self._redis.register_script(RENEW)
        self._held: dict[str, tuple[str, ...]] = {}
        """Admission id → its slot keys: what the renewal task renews."""
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False
        self._unreachable = ThrottledWarning(
            log, "limits: Redis at %s unreachable at %d more admissions"
        )

    def __repr__(self) -> str:
        return f"<RedisLimiter {self._url}>"

    @property
    def held(self) -> int:
        """Admissions holding slots in this process now."""
        return len(self._held)

    async def admit(self, caller: Caller, *, tokens: int) -> Admission:
        plan = plan_for(caller, self._limits, tokens)
        if plan is None:
            return Unlimited()
        keys, args, kinds = self._checks(plan)
        admission_id = uuid.uuid4().hex
        try:
            reply = await self._admit(keys, [admission_id, self._lease, plan.tokens, WINDOW, *args])
        except Exception as exc:  # redis errors, OSError, timeouts: fail closed
            self._unreachable.warn(
                "limits: Redis at %s unreachable, refusing with 503: %s",
                self._url,
                self._describe(exc),
            )
            raise OverCapacity(
                "the rate-limit storage is unreachable", retry_after=SLOT_RETRY_AFTER
            ) from None
        requests_state, tokens_state, refusal = _read(reply, plan, kinds)
        if refusal is not None:
            raise refusal_error(refusal, requests_state, tokens_state)
        slot_keys = tuple(k for k, kind in zip(keys, kinds, strict=True) if kind == "s")
        if slot_keys:
            self._held[admission_id] = slot_keys
            self._start_renewing()
        token_key = self._key(plan.scope, "tpm") if plan.tpm else None
        headers = ratelimit_headers(requests_state, tokens_state)
        return RedisAdmission(self, admission_id, slot_keys, token_key, plan.tokens, headers)

    def _key(self, scope: str, kind: str) -> str:
        return f"{self._prefix}{scope}:{kind}"

    def _checks(self, plan: Plan) -> tuple[list[str], list[Any], list[str]]:
        """The keys, ``(kind, limit)`` arguments and kinds of the plan's checks, in the order
        refusals are reported: requests, tokens, the key's slots, the server's slots."""
        checks: list[tuple[str, str, int]] = []
        if plan.rpm:
            checks.append((self._key(plan.scope, "rpm"), "r", plan.rpm))
        if plan.tpm:
            checks.append((self._key(plan.scope, "tpm"), "t", plan.tpm))
        if plan.streams:
            checks.append((self._key(plan.scope, "slots"), "s", plan.streams))
        if plan.server_streams:
            checks.append((self._prefix + "server:slots", "s", plan.server_streams))
        args: list[Any] = []
        for _, kind, limit in checks:
            args += [kind, limit]
        return [c[0] for c in checks], args, [c[1] for c in checks]

    async def _release_admission(
        self,
        admission_id: str,
        slot_keys: tuple[str, ...],
        token_key: str | None,
        reserved: int,
        used_tokens: int | None,
    ) -> None:
        self._held.pop(admission_id, None)
        settle = token_key is not None and used_tokens is not None
        if not slot_keys and not settle:
            return
        keys = [*slot_keys, token_key] if settle else list(slot_keys)
        used = str(max(int(used_tokens or 0), 0)) if settle else ""
        try:
            await self._release(keys, [admission_id, reserved, used, WINDOW])
        except Exception as exc:
            log.warning(
                "limits: could not release a stream slot in Redis at %s (its lease of %gs "
                "frees it): %s",
                self._url,
                self._lease,
                self._describe(exc),
            )

    def _start_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(
                self._renew_forever(), name="aichatflow-limits-renew"
            )

    async def _renew_forever(self) -> None:
        """Extend the lease of every slot held here, every third of the lease."""
        while True:
            await asyncio.sleep(self._lease / 3)
            held = list(self._held.values())
            if not held:
                continue
            keys = [key for slots in held for key in slots]
            members = [m for m, slots in self._held.items() for _ in slots]
            try:
                await self._renew(keys, [self._lease, *members])
            except Exception as exc:
                log.warning(
                    "limits: could not renew %d stream slots in Redis at %s: %s",
                    len(keys),
                    self._url,
                    self._describe(exc),
                )

    def _describe(self, exc: BaseException) -> str:
        return describe_error(self._redis, exc)

    async def aclose(self) -> None:
        """Stop renewing and close the connections (slots still held run out their lease)."""
        if self._closed:
            return
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.wait([self._renewer])
        await self._redis.aclose()


class RedisAdmission:
    """Slots and a reservation held in Redis."""

    __slots__ = ("_id", "_limiter", "_reserved", "_slot_keys", "_token_key", "headers")

    def __init__(
        self,
        limiter: RedisLimiter,
        admission_id: str,
        slot_keys: tuple[str, ...],
        token_key: str | None,
        reserved: int,
        headers: Headers,
    ) -> None:
        self._limiter: RedisLimiter | None = limiter
        self._id = admission_id
        self._slot_keys = slot_keys
        self._token_key = token_key
        self._reserved = reserved
        self.headers = headers

    async def release(self, used_tokens: int | None) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            await limiter._release_admission(
                self._id, self._slot_keys, self._token_key, self._reserved, used_tokens
            )


def _read(
    reply: list[Any], plan: Plan, kinds: list[str]
) -> tuple[WindowState | None, WindowState | None, Refusal | None]:
    """The admission script's answer as window states and the refusal, if any."""
    refused, wait = int(reply[0]), float(reply[1])
    requests_state = tokens_state = None
    refusal = None
    for i, kind in enumerate(kinds):
        used, reset = int(reply[2 + 2 * i]), float(reply[3 + 2 * i])
        over = refused == i + 1
        if kind == "r":
            requests_state = window_state(plan.rpm, used, reset, 0 if refused else 1)
        elif kind == "t":
            tokens_state = window_state(plan.tpm, used, reset, 0 if refused else plan.tokens)
        if over:
            refusal = _refusal(plan, kind, i, kinds, wait)
    return requests_state, tokens_state, refusal


def _refusal(plan: Plan, kind: str, index: int, kinds: list[str], wait: float) -> Refusal:
    if kind == "r":
        return Refusal(plan.refusal_scope, plan.requests_limit, wait)
    if kind == "t":
        return Refusal("key", "tpm", wait)
    server_check = plan.server_streams and index == len(kinds) - 1
    if server_check:
        return Refusal("server", "server", wait)
    return Refusal("key", "max_streams", wait)


__all__ = ["LEASE", "PREFIX", "RedisAdmission", "RedisLimiter"]
