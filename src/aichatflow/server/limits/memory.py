"""``memory://``: the limits of one server process, in plain dicts.

The event loop runs one admission at a time from its first check to its last write (nothing in
``admit`` awaits), so the checks and the takes are atomic without a lock. Windows are logs of
timestamps (exact sliding minutes, not buckets); an address's window is dropped once it has
been idle for a whole window (a sweep at most once per window, costing one pass over the
addresses seen), so a flood of distinct addresses cannot grow the dicts for ever: they hold at
most the addresses seen in the last two minutes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ...config import LimitsSettings
from ...dialects.error_shape import Headers
from ..production import Admission, Caller
from .headers import (
    SLOT_RETRY_AFTER,
    Refusal,
    WindowState,
    ratelimit_headers,
    refusal_error,
    window_state,
)
from .plan import WINDOW, Plan, Unlimited, plan_for

_SERVER = "server"


class _TokenEntry:
    __slots__ = ("stamp", "tokens")

    def __init__(self, stamp: float, tokens: int) -> None:
        self.stamp = stamp
        self.tokens = tokens


class _TokenWindow:
    """Token counts by time; a settled reservation is zeroed in place and its usage appended."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[_TokenEntry] = deque()
        self.total = 0

    def prune(self, now: float) -> None:
        entries = self.entries
        while entries and entries[0].stamp <= now - WINDOW:
            entry = entries.popleft()
            self.total -= entry.tokens
            entry.tokens = 0  # out of the window: a later settlement has nothing to take back

    def wait_for(self, tokens: int, limit: int, now: float) -> float:
        """Seconds until ``tokens`` more fit under ``limit``."""
        excess = self.total + tokens - limit
        for entry in self.entries:
            excess -= entry.tokens
            if excess <= 0:
                return entry.stamp + WINDOW - now
        return WINDOW

    def reset(self, now: float) -> float:
        return self.entries[-1].stamp + WINDOW - now if self.entries else 0.0


class MemoryLimiter:
    """The ``Limiter`` of one process."""

    def __init__(
        self, limits: LimitsSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._slots: dict[str, int] = {}
        self._requests: dict[str, deque[float]] = {}
        self._tokens: dict[str, _TokenWindow] = {}
        self._next_sweep = clock() + WINDOW

    @property
    def tracked_scopes(self) -> int:
        """Windows and slot counters held now (what the memory bound is about)."""
        return len(self._slots) + len(self._requests) + len(self._tokens)

    def streams(self, scope: str = _SERVER) -> int:
        """Slots held now in ``scope`` (``server`` or ``key:<id>``)."""
        return self._slots.get(scope, 0)

    async def admit(self, caller: Caller, *, tokens: int) -> Admission:
        plan = plan_for(caller, self._limits, tokens)
        if plan is None:
            return Unlimited()
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        requests_state, tokens_state, refusal = self._check(plan, now)
        if refusal is not None:
            raise refusal_error(refusal, requests_state, tokens_state)
        entry = self._take(plan, now)
        return MemoryAdmission(self, plan, entry, ratelimit_headers(requests_state, tokens_state))

    def _check(
        self, plan: Plan, now: float
    ) -> tuple[WindowState | None, WindowState | None, Refusal | None]:
        """Every limit of ``plan``, in the order refusals are reported: requests, tokens, the
        key's slots, the server's slots. The states say what is left if nothing refuses."""
        refusals: list[Refusal] = []
        requests: tuple[int, float] | None = None
        tokens: tuple[int, float] | None = None
        if plan.rpm:
            stamps = self._requests.get(plan.scope)
            if stamps is not None:
                while stamps and stamps[0] <= now - WINDOW:
                    stamps.popleft()
            count = len(stamps) if stamps else 0
            requests = (count, stamps[-1] + WINDOW - now if stamps else 0.0)
            if stamps and count >= plan.rpm:
                wait = stamps[count - plan.rpm] + WINDOW - now
                refusals.append(Refusal(plan.refusal_scope, plan.requests_limit, wait))
        if plan.tpm:
            window = self._tokens.get(plan.scope)
            if window is not None:
                window.prune(now)
            total = window.total if window else 0
            tokens = (total, window.reset(now) if window else 0.0)
            if window and total + plan.tokens > plan.tpm:
                wait = window.wait_for(plan.tokens, plan.tpm, now)
                refusals.append(Refusal("key", "tpm", wait))
        if plan.streams and self._slots.get(plan.scope, 0) >= plan.streams:
            refusals.append(Refusal("key", "max_streams", SLOT_RETRY_AFTER))
        if plan.server_streams and self._slots.get(_SERVER, 0) >= plan.server_streams:
            refusals.append(Refusal("server", "server", SLOT_RETRY_AFTER))
        admitted = not refusals
        requests_state = tokens_state = None
        if requests is not None:
            requests_state = window_state(plan.rpm, *requests, 1 if admitted else 0)
        if tokens is not None:
            tokens_state = window_state(plan.tpm, *tokens, plan.tokens if admitted else 0)
        return requests_state, tokens_state, (refusals[0] if refusals else None)

    def _take(self, plan: Plan, now: float) -> _TokenEntry | None:
        if plan.rpm:
            self._requests.setdefault(plan.scope, deque()).append(now)
        entry = None
        if plan.tpm and plan.tokens:
            window = self._tokens.setdefault(plan.scope, _TokenWindow())
            entry = _TokenEntry(now, plan.tokens)
            window.entries.append(entry)
            window.total += plan.tokens
        if plan.streams:
            self._slots[plan.scope] = self._slots.get(plan.scope, 0) + 1
        if plan.server_streams:
            self._slots[_SERVER] = self._slots.get(_SERVER, 0) + 1
        return entry

    def _release(self, plan: Plan, entry: _TokenEntry | None, used_tokens: int | None) -> None:
        for scope, applies in ((plan.scope, plan.streams), (_SERVER, plan.server_streams)):
            if applies:
                left = self._slots.get(scope, 0) - 1
                if left > 0:
                    self._slots[scope] = left
                else:
                    self._slots.pop(scope, None)
        if plan.tpm and used_tokens is not None:
            self._settle(plan.scope, entry, max(used_tokens, 0))

    def _settle(self, scope: str, entry: _TokenEntry | None, used: int) -> None:
        """The reservation becomes the usage, counted from now (when it became known)."""
        window = self._tokens.get(scope)
        if window is None:
            if not used:
                return
            window = self._tokens[scope] = _TokenWindow()
        if entry is not None and entry.tokens:
            window.total -= entry.tokens
            entry.tokens = 0
        if used:
            window.entries.append(_TokenEntry(self._clock(), used))
            window.total += used

    def _sweep(self, now: float) -> None:
        """Drop the windows idle for a whole window: what keeps address churn bounded."""
        cutoff = now - WINDOW
        self._requests = {s: d for s, d in self._requests.items() if d and d[-1] > cutoff}
        for window in self._tokens.values():
            window.prune(now)
        self._tokens = {s: w for s, w in self._tokens.items() if w.entries}
        self._next_sweep = now + WINDOW

    async def aclose(self) -> None:
        return None


class MemoryAdmission:
    """Slots and a reservation held in a ``MemoryLimiter``."""

    __slots__ = ("_entry", "_limiter", "_plan", "headers")

    def __init__(
        self, limiter: MemoryLimiter, plan: Plan, entry: _TokenEntry | None, headers: Headers
    ) -> None:
        self._limiter: MemoryLimiter | None = limiter
        self._plan = plan
        self._entry = entry
        self.headers = headers

    async def release(self, used_tokens: int | None) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._release(self._plan, self._entry, used_tokens)


__all__ = ["MemoryAdmission", "MemoryLimiter"]
