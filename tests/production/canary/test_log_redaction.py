"""``serve`` removes its configured secrets from every log record, whoever logs it.

The defect: an unexpected exception from a provider (a plugin's ``RuntimeError(f"... {key}")``)
was logged with ``log.exception`` by the stream engine and the chat endpoint, and a failure
closing a provider's stream with ``exc_info``; the traceback's last line, the exception's
message, put the provider key on the server's stderr. ``test_secret_canary.py`` shows it
through a real ``serve``; these pin down the parts.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from aichatflow.config import Settings
from aichatflow.redaction import REDACTED, KnownSecrets
from aichatflow.server.log_redaction import install_log_redaction, redact_record, serve_secrets
from tests.production.canary.canary import leaked_parts, new_canary

KEY = new_canary()


def test_serve_secrets_are_what_the_configuration_points_at() -> None:
    settings = Settings.model_validate(
        {
            "providers": {
                "a": {"kind": "openai", "api_key": "sk-inline-0123456789"},
                "b": {"kind": "openai", "api_key_env": "MY_UPSTREAM_CRED"},
                "c": {
                    "kind": "openai",
                    "headers": {"X-Auth-Token": "gateway-token-42", "X-Team": "blue-team-1"},
                },
            },
            "limits": {"storage": "redis://:redis-pass-99@cache:6379/0"},
        }
    )
    env = {
        "MY_UPSTREAM_CRED": KEY,
        "OPENAI_API_KEY": "sk-env-openai-0001",
        "AICHATFLOW_API_KEYS": "client-key-one-1,client-key-two-2",
        "HF_TOKEN": "hf_abcdefghij",
        "SHORT_TOKEN": "abc",
        "HOME": "/home/someone-long",
    }
    secrets = serve_secrets(settings, env)
    assert set(secrets) == {
        "sk-inline-0123456789",
        KEY,
        "gateway-token-42",
        "sk-env-openai-0001",
        "client-key-one-1",
        "client-key-two-2",
        "hf_abcdefghij",
        "redis-pass-99",
    }


def test_a_storage_password_in_the_query_is_a_secret_too() -> None:
    storage = "unix:///run/redis.sock?db=0&password=socket-pass-77"
    settings = Settings.model_validate({"limits": {"storage": storage}})
    assert serve_secrets(settings, {}) == ("socket-pass-77",)


def _failing_record(logger: logging.Logger) -> logging.LogRecord:
    """What ``log.exception("stream %s: %s", ...)`` makes, with a stack too."""
    try:
        raise RuntimeError(f"session broke for {KEY}", KEY)
    except RuntimeError:
        exc_info = sys.exc_info()
    stack = f"Stack (most recent call last):\n  {KEY}"
    args = ("s1", KEY[3:])
    return logger.makeRecord(
        logger.name, logging.ERROR, __file__, 1, "stream %s: %s", args, exc_info, sinfo=stack
    )


def test_a_record_keeps_its_traceback_but_loses_the_secret() -> None:
    record = _failing_record(logging.getLogger("aichatflow.test"))
    redact_record(record, KnownSecrets([KEY]))
    text = logging.Formatter().format(record)
    assert not leaked_parts(text, KEY), text
    assert "Traceback (most recent call last)" in text and "RuntimeError: (" in text
    assert text.startswith(f"stream s1: {REDACTED}")
    assert record.exc_info is None and record.stack_info is None


@pytest.fixture
def restored_factory() -> Iterator[None]:
    factory = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(factory)


@pytest.mark.usefixtures("restored_factory")
def test_installed_every_logger_is_covered_not_only_aichatflow() -> None:
    install_log_redaction([KEY])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    for name in ("aichatflow.server", "uvicorn.error", "some.library"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        try:
            try:
                raise ValueError(KEY)
            except ValueError:
                logger.exception("failed with %r", KEY)
        finally:
            logger.removeHandler(handler)
    text = out.getvalue()
    assert text.count("Traceback") == 3 and not leaked_parts(text, KEY), text
