"""Google Gemini: ``streamGenerateContent?alt=sse`` (docs/upstreams.md, Gemini).

``create`` is what the registry's ``gemini`` kind points at. Options: ``base_url`` (default
``https://generativelanguage.googleapis.com``), ``api_key`` or ``api_key_env`` (default
``GEMINI_API_KEY``, then ``GOOGLE_API_KEY``), ``models``, ``include_thoughts`` (default true:
stream the model's thought summaries as reasoning), ``connect_timeout``, ``read_timeout``,
``max_retries``, ``first_token_timeout``, ``max_event_bytes`` and extra ``headers``. The
provider module is imported when the first provider is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..._lazy import lazy_attributes

if TYPE_CHECKING:
    from .provider import BASE_URL, GeminiProvider


def create(name: str, options: Mapping[str, Any]) -> GeminiProvider:
    """A Gemini provider named ``name``, configured by its ``[providers.<name>]`` table."""
    from .provider import GeminiProvider

    return GeminiProvider(name, options)


_EXPORTS = {".provider": ["BASE_URL", "GeminiProvider"]}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = ["BASE_URL", "GeminiProvider", "create"]
