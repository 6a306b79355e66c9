"""An upstream's own model list, as ``/v1/models`` and the chat page show it.

Why cached, and why never waited on for long: ``GET /v1/models`` is on every page load and in
every client that validates a model before using it, and an upstream's list changes rarely. So
the list is fetched at most once per ``ttl`` (after a failure, again after ``retry_after``),
one fetch at a time however many callers ask. Only a caller that finds no attempt made yet waits
for the first fetch, and at most ``wait`` seconds; everyone else gets what is known now while a
stale list refreshes in the background. A failure (refused, 401, timeout, garbage) keeps what
was known and is logged by its kind only: an upstream's error text may quote the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

log = logging.getLogger("aichatflow.providers")

TTL = 300.0
"""Seconds a fetched list is fresh."""
RETRY_AFTER = 30.0
"""Seconds before a failed fetch is tried again."""
WAIT = 2.5
"""Longest a caller waits for the very first fetch."""
FETCH_TIMEOUT = 10.0
"""Longest a (background) fetch may take before it counts as failed."""
MAX_BYTES = 8 << 20
"""Largest model list read (OpenRouter's, with descriptions, is over a megabyte)."""


class UpstreamModelList:
    """The model ids an upstream reports, refreshed by ``refresh()``; see the module docstring."""

    def __init__(
        self,
        provider: str,
        fetch: Callable[[], Awaitable[Iterable[str]]],
        *,
        ttl: float = TTL,
        retry_after: float = RETRY_AFTER,
        wait: float = WAIT,
        fetch_timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self.provider = provider
        self.ids: tuple[str, ...] = ()
        """The last list fetched successfully (deduplicated, upstream order); empty before."""
        self._fetch = fetch
        self._ttl = ttl
        self._retry_after = retry_after
        self._wait = wait
        self._fetch_timeout = fetch_timeout
        self._due = 0.0  # time.monotonic() from which a refresh is due
        self._waited = False  # the first fetch ended, or a caller waited its full ``wait``
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Start a fetch if one is due; wait (at most ``wait``) only if none was ever made.

        Never raises (but lets a cancellation of the caller through)."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is not None and (task.done() or task.get_loop() is not loop):
            task = None
        if task is None and time.monotonic() >= self._due:
            task = self._task = loop.create_task(self._run())
        if task is None or self._waited:
            return
        with contextlib.suppress(TimeoutError):
            # shield: a caller giving up must not cancel the fetch other callers share
            await asyncio.wait_for(asyncio.shield(task), self._wait)
        self._waited = True

    async def _run(self) -> None:
        try:
            ids = await asyncio.wait_for(self._fetch(), self._fetch_timeout)
            self.ids = tuple(dict.fromkeys(i for i in ids if i))
            self._due = time.monotonic() + self._ttl
        except Exception as exc:  # any failure: keep what we knew, try again later
            log.warning(
                "%s: could not list the upstream's models (%s); %d known",
                self.provider,
                getattr(exc, "code", None) or type(exc).__name__,
                len(self.ids),
            )
            self._due = time.monotonic() + self._retry_after
        finally:
            self._waited = True

    def close(self) -> None:
        """Cancel a fetch still running in this loop (the provider is closing)."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        with contextlib.suppress(RuntimeError):
            if task.get_loop() is asyncio.get_running_loop():
                task.cancel()


__all__ = ["FETCH_TIMEOUT", "MAX_BYTES", "RETRY_AFTER", "TTL", "WAIT", "UpstreamModelList"]
