"""OpenAI's header forms, ``build_limiter``, and storage URLs that never print a password."""

from __future__ import annotations

import pytest

from aichatflow.config import ApiKey, Settings
from aichatflow.errors import ConfigError
from aichatflow.redaction import redact_url
from aichatflow.server.limits import MemoryLimiter, build_limiter
from aichatflow.server.limits.headers import openai_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-3, "0s"),
        (0.0004, "0s"),
        (0.012, "12ms"),
        (0.9994, "999ms"),
        (1, "1s"),
        (1.5, "1.5s"),
        (17.28, "17.28s"),
        (59.9999, "1m0s"),
        (60, "1m0s"),
        (90.5, "1m30.5s"),
        (360, "6m0s"),
        (3600, "1h0m0s"),
        (3723.25, "1h2m3.25s"),
    ],
)
def test_openai_duration(seconds: float, text: str) -> None:
    assert openai_duration(seconds) == text


def _settings(**data: object) -> Settings:
    return Settings.load(env={}, overrides={"auto_detect": False, **data})


def _key(**limits: int) -> dict[str, object]:
    return {"id": "k1", "sha256": "0" * 64, **limits}


def test_nothing_limited_builds_no_limiter() -> None:
    assert build_limiter(_settings()) is None
    assert build_limiter(_settings(auth={"keys": [_key()]})) is None
    storage = {"storage": "redis://:pw@127.0.0.1:1/0"}
    assert build_limiter(_settings(limits=storage)) is None  # no connection attempted


@pytest.mark.parametrize(
    "data",
    [
        {"limits": {"max_streams": 3}},
        {"limits": {"ip_rpm": 3}},
        {"auth": {"keys": [_key(rpm=1)]}},
        {"auth": {"keys": [_key(tpm=1)]}},
        {"auth": {"keys": [_key(max_streams=1)]}},
    ],
)
def test_any_limit_builds_a_memory_limiter(data: dict[str, object]) -> None:
    assert isinstance(build_limiter(_settings(**data)), MemoryLimiter)


async def test_redis_storage_builds_a_redis_limiter(redis_url: str) -> None:
    from aichatflow.server.limits.redis_store import RedisLimiter

    limiter = build_limiter(_settings(limits={"storage": redis_url, "max_streams": 1}))
    assert isinstance(limiter, RedisLimiter)
    await limiter.aclose()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:6379/0", "redis://:[REDACTED]@h:6379/0"),
        ("rediss://user:pw@h/1", "rediss://user:[REDACTED]@h/1"),
        ("redis://u:p@ss/w?x@h/1", "redis://u:[REDACTED]@h/1"),
        (
            "unix:///run/r.sock?db=0&password=pw&x=1",
            "unix:///run/r.sock?db=0&password=[REDACTED]&x=1",
        ),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("memory://", "memory://"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_settings_never_print_the_storage_password() -> None:
    settings = _settings(limits={"storage": "redis://:hunter2@127.0.0.1:6379/0"})
    assert settings.limits.storage.endswith("@127.0.0.1:6379/0")  # the value itself is whole
    for text in (repr(settings), str(settings), repr(settings.limits), f"{settings.limits}"):
        assert "hunter2" not in text
        assert "[REDACTED]" in text
    for bad in (
        {"limits": {"storage": "http://:hunter2@h"}},
        {"limits": {"storage": "redis://:hun'ter2@h", "max_streams": "x"}},
        {"limits": "redis://:hunter2@h"},
    ):
        with pytest.raises(ConfigError) as error:
            _settings(**bad)
        assert "hunter2" not in str(error.value)
        assert "hun'ter2" not in str(error.value) and "hun\\'ter2" not in str(error.value)


def test_api_key_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        ApiKey(id="k", sha256="0" * 64, rpm=0)
