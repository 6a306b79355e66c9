"""Every line ``serve`` logs is redacted of the keys it was configured with, whoever logs it.

Error messages from providers are redacted where they are made (``redaction.py``), but a log
line can hold text nobody redacted: an unexpected exception from a provider plugin or a library
is logged with its traceback, and its last line is the exception's own message, which can be
anything its author put there (``RuntimeError(f"bad key {key}")``). So ``serve`` installs a log
record factory (``install_log_redaction``) that removes the secrets of this configuration
(``serve_secrets``) from every record's message and the traceback or stack it carries, before
any handler sees it: aichatflow's loggers, uvicorn's, granian's and any library's alike, in
forked workers too. Known secrets only, whole or in part (``without_secrets``), not credential
*shapes*: those would also catch the access log's key ids (``key-mobile-app``).

Only records that are emitted are made (a logger's level check comes first), so the cost is
paid per log line, not per event streamed: about a microsecond for a line that holds no secret
(``KnownSecrets``: one compiled search), such as an access-log line.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..config import Settings
from ..providers.build import table_secrets
from ..redaction import KnownSecrets

MIN_SECRET = 8
"""Shorter values are not treated as secrets (redacting ``"1"`` everywhere garbles logs)."""

SECRET_VARIABLE = re.compile(r"(?i)(?:^|_)(?:api_?keys?|key|token|secret|password|passwd)$")
"""Environment variables whose values are secrets wherever they are used: ``OPENAI_API_KEY``,
``GEMINI_API_KEY``, ``HF_TOKEN``, ``AICHATFLOW_API_KEYS`` (comma-separated), ``REDIS_PASSWORD``."""

_TRACEBACKS = logging.Formatter()


def serve_secrets(settings: Settings, env: Mapping[str, str]) -> tuple[str, ...]:
    """What this configuration holds that no log line may show: every provider table's
    ``api_key``, the variable its ``api_key_env`` names and its credential headers; the values
    of secret-named environment variables (``SECRET_VARIABLE``); the password of the
    ``[limits] storage`` URL (``redis://:pw@host``, ``unix:///sock?password=pw``)."""
    found: list[str] = []
    for name, value in env.items():
        if SECRET_VARIABLE.search(name):
            found += value.split(",")
    for options in settings.providers.values():
        found += table_secrets(options, env)
    with contextlib.suppress(ValueError):  # a URL that cannot be split has no password to find
        storage = urlsplit(settings.limits.storage)
        found.append(storage.password or "")
        found += parse_qs(storage.query).get("password", [])
    return tuple(dict.fromkeys(s.strip() for s in found if len(s.strip()) >= MIN_SECRET))


def redact_record(record: logging.LogRecord, secrets: KnownSecrets) -> None:
    """``record``'s message, with its traceback and stack appended, redacted in place; the
    exception itself is dropped from the record so no formatter can print it unredacted."""
    try:
        text = record.getMessage()
    except Exception:  # arguments that do not fit the format: the handler reports that
        return
    if record.exc_info:
        text += "\n" + _TRACEBACKS.formatException(record.exc_info)
    elif record.exc_text:
        text += "\n" + record.exc_text
    if record.stack_info:
        text += "\n" + _TRACEBACKS.formatStack(record.stack_info)
    record.msg, record.args = secrets.remove(text), None
    record.exc_info, record.exc_text, record.stack_info = None, None, None


def install_log_redaction(secrets: Iterable[str]) -> None:
    """Redact every log record this process makes from now on (``serve`` only: a library
    does not configure logging)."""
    known = KnownSecrets(secrets)
    make: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redact_record(record, known)
        return record

    logging.setLogRecordFactory(redacted_record)


__all__ = [
    "MIN_SECRET",
    "SECRET_VARIABLE",
    "install_log_redaction",
    "redact_record",
    "serve_secrets",
]
