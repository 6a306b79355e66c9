"""Anthropic's Messages API (``kind = "anthropic"``), and any relay that speaks it.

Options (``[providers.<name>]``): ``base_url`` (default ``https://api.anthropic.com``),
``api_key`` or ``api_key_env`` (default ``ANTHROPIC_API_KEY``), ``models``, ``max_tokens`` (sent
when a request sets no limit, because Anthropic requires one; default 4096), ``thinking_budget``
(enables extended thinking with that many budget tokens), ``headers`` (e.g. ``anthropic-beta``),
``connect_timeout``, ``read_timeout``, ``max_retries``, ``first_token_timeout``,
``max_event_bytes``. ``detect`` registers ``anthropic`` by itself when ``ANTHROPIC_API_KEY``
is set (``providers/detection.py``).

Layout: ``_convert`` (``ChatRequest`` → request body), ``_events`` (stream events → ``ChatEvent``),
``_message`` (a non-streamed message body → the same events), ``provider`` (HTTP and batching),
imported when the first provider is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._lazy import lazy_attributes
from ..detection import key_detector

if TYPE_CHECKING:
    from .provider import API_VERSION, DEFAULT_BASE_URL, AnthropicProvider


def create(name: str, options: Mapping[str, Any]) -> AnthropicProvider:
    """The registry's factory for ``kind = "anthropic"``."""
    from .provider import AnthropicProvider

    return AnthropicProvider(name, options)


detect = key_detector("anthropic", "ANTHROPIC_API_KEY")

_EXPORTS = {".provider": ["API_VERSION", "DEFAULT_BASE_URL", "AnthropicProvider"]}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "AnthropicProvider", "create", "detect"]
