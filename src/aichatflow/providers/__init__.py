"""The provider kinds: from a ``kind`` to its factory, and to its detector if it has one.

Built-in kinds are declared the way another package declares its own: a factory (entry-point
group ``aichatflow.providers``) and, for kinds that can register themselves from the
environment, a detector (group ``aichatflow.detectors``, ``providers/detection.py``). Both are
lazy ``"module:attr"`` strings here, so nothing is imported until a kind is used. No code
looks at a provider's name to decide anything: what a kind does, and when it is detected,
lives in the kind's own package.

The rest of the package loads on first use (``aichatflow/_lazy.py``): the ``Registry``
(``registry.py``), building one from settings (``build.py``), the ``Provider`` protocol
(``base.py``) and fallback chains (``fallback.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from .._lazy import lazy_attributes
from ..errors import ConfigError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from .base import Provider, ProviderFactory, RefreshesModels
    from .build import build_registry
    from .detection import Detector
    from .fallback import Cooldowns, Deployment
    from .registry import Registry

ENTRY_POINT_GROUP = "aichatflow.providers"
"""Entry points naming a kind's factory: ``name = "package.module:create"``."""
DETECTOR_ENTRY_POINT_GROUP = "aichatflow.detectors"
"""Entry points naming a kind's detector: ``name = "package.module:detect"`` (same name as
the kind's factory)."""

_BUILTIN: dict[str, str] = {
    "mock": "aichatflow.providers.mock:create",
    "openai": "aichatflow.providers.openai_compat:openai",
    "deepseek": "aichatflow.providers.openai_compat:deepseek",
    "openai-compatible": "aichatflow.providers.openai_compat:generic",
    "vllm": "aichatflow.providers.openai_compat:vllm",
    "llamacpp": "aichatflow.providers.openai_compat:llamacpp",
    "litellm": "aichatflow.providers.openai_compat:litellm",
    "anthropic": "aichatflow.providers.anthropic:create",
    "gemini": "aichatflow.providers.gemini:create",
    "ollama": "aichatflow.providers.ollama:create",
    "local": "aichatflow.providers.local:create",
}

_BUILTIN_DETECTORS: dict[str, str] = {
    "openai": "aichatflow.providers.openai_compat:detect_openai",
    "deepseek": "aichatflow.providers.openai_compat:detect_deepseek",
    "anthropic": "aichatflow.providers.anthropic:detect",
    "local": "aichatflow.providers.local:detect",
}
"""Kinds that register themselves; their order is the registry's order."""


def entry_points(*, group: str, name: str | None = None) -> list[EntryPoint]:
    """Installed entry points of ``group`` (``importlib.metadata`` is imported only here)."""
    from importlib.metadata import entry_points as installed

    found = installed(group=group)
    return [ep for ep in found if name is None or ep.name == name]


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def known_kinds() -> list[str]:
    plugins = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(set(_BUILTIN) | plugins)


def factory_for(kind: str) -> ProviderFactory:
    """The factory of a provider ``kind``: built-in first, then installed plugins."""
    target = _BUILTIN.get(kind)
    if target is not None:
        return cast("ProviderFactory", _load(target))
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=kind):
        return cast("ProviderFactory", ep.load())
    raise ConfigError(f"unknown provider kind {kind!r}; known kinds: {', '.join(known_kinds())}")


def create_provider(name: str, options: Mapping[str, Any]) -> Provider:
    """Build the provider of a ``[providers.<name>]`` table (``kind`` defaults to the name)."""
    kind = str(options.get("kind", name))
    return factory_for(kind)(name, options)


def detectors() -> list[tuple[str, Detector]]:
    """(kind, detector) of every kind that can register itself: the built-ins in their order,
    then installed plugins (a plugin cannot replace a built-in kind's detector)."""
    found = [(kind, cast("Detector", _load(t))) for kind, t in _BUILTIN_DETECTORS.items()]
    for ep in entry_points(group=DETECTOR_ENTRY_POINT_GROUP):
        if ep.name in _BUILTIN:
            continue
        try:
            found.append((ep.name, cast("Detector", ep.load())))
        except Exception as exc:  # an installed plugin's bug: one line at start-up, no traceback
            raise ConfigError(
                f"the detector of provider kind {ep.name!r} ({ep.value}) cannot be loaded "
                f"({type(exc).__name__}: {exc}); set AICHATFLOW_AUTO_DETECT=0 to start without it"
            ) from None
    return found


_EXPORTS = {
    ".base": ["Provider", "ProviderFactory", "RefreshesModels"],
    ".build": ["build_registry"],
    ".detection": ["Detector"],
    ".fallback": ["Cooldowns", "Deployment"],
    ".registry": ["Registry"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "DETECTOR_ENTRY_POINT_GROUP",
    "ENTRY_POINT_GROUP",
    "Cooldowns",
    "Deployment",
    "Detector",
    "Provider",
    "ProviderFactory",
    "RefreshesModels",
    "Registry",
    "build_registry",
    "create_provider",
    "detectors",
    "factory_for",
    "known_kinds",
]
