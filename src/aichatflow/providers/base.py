"""The ``Provider`` protocol: the whole seam between aichatflow and an LLM API.

A provider turns a ``ChatRequest`` into a ``ChatStream`` of ``ChatEvent``s (see ``events.py`` for
the grammar). Rules every provider follows:

* ``stream()`` is a plain ``def`` returning a ``ChatStream`` (an async iterator of events over an
  async generator of *batches*: everything parsed from one upstream read is one batch, so the
  engine writes it in one ``send``);
* closing the stream, or cancelling the task iterating it, closes the upstream HTTP response
  immediately (``async with`` around the response inside the generator does that);
* failures are raised as typed errors from ``aichatflow.errors``, never yielded as text;
* retries happen only before the first content event, inside the provider (one retry layer);
* ``request.model`` is the provider's own model id (the registry strips ``provider/``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..chat_stream import ChatStream
from ..messages import ChatRequest


@runtime_checkable
class Provider(Protocol):
    name: str
    """The name this provider is registered under (the ``openai`` of ``openai/gpt-4o``)."""

    @property
    def models(self) -> Sequence[str]:
        """Models to advertise in ``/v1/models`` and the page (others may still work)."""
        ...

    def stream(self, request: ChatRequest) -> ChatStream: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class RefreshesModels(Protocol):
    """Optional: a provider whose ``models`` come from its upstream (HTTP providers without
    ``models`` in their config). ``/v1/models`` awaits this first; it must be bounded in time
    and never raise, since listing models must work when an upstream does not."""

    async def refresh_models(self) -> None: ...


class ProviderFactory(Protocol):
    """Builds a provider from its name and the options of its ``[providers.<name>]`` table."""

    def __call__(self, name: str, options: Mapping[str, Any]) -> Provider: ...


__all__ = ["Provider", "ProviderFactory", "RefreshesModels"]
