"""Callers and races shared by the limits' tests."""

from __future__ import annotations

import asyncio

from aichatflow.config import ApiKey
from aichatflow.errors import Refused
from aichatflow.server.production import Admission, Caller, Limiter


def key(key_id: str = "k1", **limits: int) -> ApiKey:
    return ApiKey(id=key_id, sha256="0" * 64, **limits)


def keyed(key_id: str = "k1", **limits: int) -> Caller:
    return Caller(key(key_id, **limits), "127.0.0.1")


async def race(
    limiter: Limiter, callers: list[Caller], tokens: int = 0
) -> list[Admission | BaseException]:
    """Every caller admits at once (released together by a barrier); admissions or errors."""
    barrier = asyncio.Barrier(len(callers))

    async def one(caller: Caller) -> Admission:
        await barrier.wait()
        return await limiter.admit(caller, tokens=tokens)

    return await asyncio.gather(*(one(c) for c in callers), return_exceptions=True)


def headers_of(source: Admission | Refused) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in source.headers}
