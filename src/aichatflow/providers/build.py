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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from . import create_provider, detectors
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


def build_registry(settings: Settings, env: Mapping[str, str] | None = None) -> Registry:
    """Create the providers of ``settings`` (``env``: where detectors and keys are looked up;
    the process environment by default). Fails with ``ConfigError`` at start-up, not at the
    first request: an unknown kind, a bad option, a ``default_model`` that names nothing."""
    env = os.environ if env is None else env
    cooldowns = Cooldowns(**settings.fallback.model_dump())
    registry = Registry(aliases=settings.models, cooldowns=cooldowns)
    for name, options in provider_tables(settings, env).items():
        registry.add(create_provider(name, options))
    registry.resolve(settings.default_model)
    return registry


__all__ = ["ALWAYS", "build_registry", "detected_providers", "provider_tables"]
