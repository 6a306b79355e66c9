"""A warning that is logged once, then counted: refusals come in floods.

A client that is refused (a head too large, too slow, a full server) is usually one of many: a
scanner, a slowloris attack, a misbehaving proxy. One log line per refusal would let the attack
fill the disk and bury everything else. :class:`ThrottledWarning` logs the first occurrence at
once, then counts the next ones and logs how many there were at the end of each ``interval``
(only when there were any): every kind of refusal is seen, with its rate, in a few lines.
"""

from __future__ import annotations

import asyncio
import logging
import time

INTERVAL = 10.0


class ThrottledWarning:
    """One kind of warning: the first logged at once, the rest summed up per ``interval``."""

    def __init__(self, logger: logging.Logger, summary: str, interval: float = INTERVAL) -> None:
        self.logger = logger
        self.summary = summary
        """Logged with the number of warnings held back, e.g. ``"431 answered to %d more
        clients"``."""
        self.interval = interval
        self.total = 0
        """How many warnings were issued, logged or not."""
        self._until = 0.0
        self._held = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def warn(self, message: str, *args: object) -> None:
        """Log ``message`` now, unless a warning of this kind was logged within the interval."""
        self.total += 1
        now = time.monotonic()
        if now < self._until:
            self._held += 1
            self._schedule_summary(self._until - now)
            return
        self._log_held()  # held back in a window whose summary never ran (its loop ended)
        self.logger.warning(message, *args)
        self._until = now + self.interval

    def _schedule_summary(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: the next warning reports the count
            return
        if self._timer is not None and self._timer_loop is loop and not loop.is_closed():
            return
        self._timer = loop.call_later(delay, self._summary_due)
        self._timer_loop = loop

    def _summary_due(self) -> None:
        self._timer = self._timer_loop = None
        if self._held:
            self._log_held()
            self._until = time.monotonic() + self.interval  # the flood goes on: keep summing

    def _log_held(self) -> None:
        if self._held:
            held, self._held = self._held, 0
            self.logger.warning("%s in the last %g s", self.summary % held, self.interval)


__all__ = ["INTERVAL", "ThrottledWarning"]
