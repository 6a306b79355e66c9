"""Anthropic's Messages API (``kind = "anthropic"``), and any relay that speaks it.

Options (``[providers.<name>]``): ``base_url`` (default ``https://api.anthropic.com``),
``api_key`` or ``api_key_env`` (default ``ANTHROPIC_API_KEY``), ``models``, ``max_tokens`` (sent
when a request sets no limit, because Anthropic requires one; default 4096), ``thinking_budget``
(enables extended thinking with that many budget tokens), ``headers`` (e.g. ``anthropic-beta``),
``connect_timeout``, ``read_timeout``, ``max_retries``, ``first_token_timeout``,
``max_event_bytes``.

Layout: ``_convert`` (``ChatRequest`` → request body), ``_events`` (stream events → ``ChatEvent``),
``_message`` (a non-streamed message body → the same events), ``provider`` (HTTP and batching).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .provider import API_VERSION, DEFAULT_BASE_URL, AnthropicProvider


def create(name: str, options: Mapping[str, Any]) -> AnthropicProvider:
    """The registry's factory for ``kind = "anthropic"``."""
    return AnthropicProvider(name, options)


__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "AnthropicProvider", "create"]
