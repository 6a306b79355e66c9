"""``build_registry(settings)``: the providers a configuration names, ready to stream.

``Settings`` (``config.py``) only describes; this is where a description becomes providers.
The registry holds, in this order:

1. ``mock``, always: the keyless default (``default_model = "mock/chat"``), so the chat page
   works on a machine with no key and no config;
2. with ``auto_detect`` on, every kind whose detector finds it available
   (``providers/detection.py``; built-ins first, e.g. ``openai`` when ``OPENAI_API_KEY`` is
   set, ``local`` when llama-cpp-python and its model are installed), under the kind's name;
3. every ``[providers.<name>]`` table of the config; a table named like a provider above
   replaces it (and keeps its place).

A provider that cannot be created is a ``ConfigError`` of one line, whatever its factory
raised (a plugin's ``ValueError``, say), never a traceback at start-up; and its message is
redacted of the table's secrets (``table_secrets``): a factory that rejects a key tends to
quote it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..redaction import header_secrets, redact
from . import create_provider, detectors
from .base import Provider
from .fallback import Cooldowns
from .registry import Registry

ALWAYS: dict[str, dict[str, Any]] = {"mock": {"kind": "mock"}}
"""Providers every built registry has, before detected and configured ones."""


def detected_providers(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The ``[providers.<kind>]`` tables of the kinds available here, in the detectors' order."""
    tables: dict[str, dict[str, Any]] = {}
    for kind, detect in detectors():
        try:
            options = detect(env)
        except ConfigError:
            raise
        except Exception as exc:  # a plugin's bug must not become a traceback at start-up
            raise ConfigError(
                f"detecting provider kind {kind!r} failed ({type(exc).__name__}: {exc}); "
                "set AICHATFLOW_AUTO_DETECT=0 to start without detection"
            ) from None
        if options is not None:
            tables[kind] = dict(options)
    return tables


def provider_tables(settings: Settings, env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Every provider to create, name → options, in the registry's order (module docstring)."""
    tables = {name: dict(options) for name, options in ALWAYS.items()}
    if settings.auto_detect:
        tables.update(detected_providers(env))
    tables.update(settings.providers)
    return tables


def table_secrets(options: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, ...]:
    """The secrets a ``[providers.<name>]`` table points at: its ``api_key``, the variable
    its ``api_key_env`` names, and the values of its credential ``headers``."""
    found = [str(options.get("api_key") or "")]
    variable = options.get("api_key_env")
    if variable:
        found.append(env.get(str(variable), ""))
    headers = options.get("headers")
    if isinstance(headers, Mapping):
        found += header_secrets({str(k): str(v) for k, v in headers.items()})
    return tuple(s for s in found if s)


def created(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Provider:
    """``create_provider``, with any failure as a one-line ``ConfigError`` without secrets."""
    try:
        return create_provider(name, options)
    except ConfigError as exc:
        raise ConfigError(redact(exc.message, table_secrets(options, env))) from None
    except Exception as exc:  # a plugin's bug must not become a traceback at start-up
        reason = redact(f"{type(exc).__name__}: {exc}", table_secrets(options, env))
        kind = options.get("kind", name)
        raise ConfigError(
            f"provider {name!r}: kind {kind!r} could not create it ({reason})"
        ) from None


def build_registry(settings: Settings, env: Mapping[str, str] | None = None) -> Registry:
    """Create the providers of ``settings`` (``env``: where detectors and keys are looked up;
    the process environment by default). Fails with ``ConfigError`` at start-up, not at the
    first request: an unknown kind, a bad option, a ``default_model`` that names nothing."""
    env = os.environ if env is None else env
    cooldowns = Cooldowns(**settings.fallback.model_dump())
    registry = Registry(aliases=settings.models, cooldowns=cooldowns)
    for name, options in provider_tables(settings, env).items():
        registry.add(created(name, options, env))
    registry.resolve(settings.default_model)
    return registry


__all__ = [
    "ALWAYS",
    "build_registry",
    "created",
    "detected_providers",
    "provider_tables",
    "table_secrets",
]
