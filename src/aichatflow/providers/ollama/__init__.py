"""Ollama's native ``/api/chat`` (NDJSON). ``create`` is what the registry's ``ollama`` kind names.

Config options: ``base_url`` (default ``http://127.0.0.1:11434``), ``models``, ``think`` (true,
false, ``low``/``medium``/``high``; unset leaves it to the model), ``api_key_env``/``api_key``
(none by default: a local Ollama has no key, a proxy in front of it may), ``headers``,
``connect_timeout``, ``read_timeout``, ``first_token_timeout``, ``max_retries``,
``max_event_bytes``. An Ollama reached through its OpenAI-compatible ``/v1`` is the
``openai-compatible`` kind instead. The provider module is imported when the first provider is
created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._lazy import lazy_attributes

if TYPE_CHECKING:
    from ._events import LineParser, in_band_error, map_finish_reason
    from .provider import DEFAULT_BASE_URL, OllamaProvider


def create(name: str, options: Mapping[str, Any]) -> OllamaProvider:
    """An Ollama provider named ``name``, configured by its ``[providers.<name>]`` table."""
    from .provider import OllamaProvider

    return OllamaProvider(name, options)


_EXPORTS = {
    "._events": ["LineParser", "in_band_error", "map_finish_reason"],
    ".provider": ["DEFAULT_BASE_URL", "OllamaProvider"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_BASE_URL",
    "LineParser",
    "OllamaProvider",
    "create",
    "in_band_error",
    "map_finish_reason",
]
