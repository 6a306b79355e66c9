"""``Bridge``: hands items from a generating thread to the event loop, bounded and batched.

llama.cpp generates in a worker thread; the stream engine lives on the event loop. The bridge
is the only thing both touch:

* the thread ``put()``s items; when ``capacity`` items are waiting it blocks (backpressure: a
  slow client slows the model instead of growing a buffer), and it learns that the consumer
  left because ``put()`` returns False and ``stopped`` is set;
* the loop awaits ``batch()``, which returns *everything* waiting as one list, the way one
  upstream read carries whatever arrived (a reader that keeps up gets one token per batch);
* waking the loop costs one ``call_soon_threadsafe`` per batch, not per item: only the put
  that finds the buffer empty schedules a wake-up, later ones ride along with it.

The first ``finish()`` wins, so the thread ending normally and ``aclose()`` failing the stream
at shutdown cannot both deliver an ending.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_CAPACITY = 256
"""Items the thread may run ahead of the consumer: a couple of seconds of SmolLM2's tokens."""


class Bridge(Generic[T]):
    """One stream's handoff; create it on the event loop that will call ``batch()``."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._cond = threading.Condition()
        self._items: deque[T] = deque()
        self._capacity = capacity
        self._finished = False
        self._error: BaseException | None = None
        self.stopped = threading.Event()
        """Set when the consumer left: the generating thread stops at its next token."""

    # --- the generating thread ---------------------------------------------------------------

    def put(self, item: T) -> bool:
        """Queue ``item``, waiting while the buffer is full; False once the consumer left."""
        with self._cond:
            while len(self._items) >= self._capacity and not self.stopped.is_set():
                self._cond.wait()
            if self.stopped.is_set() or self._finished:
                return False
            self._items.append(item)
            first = len(self._items) == 1
        if first:
            self._wake()
        return True

    def finish(self, error: BaseException | None = None) -> None:
        """No more items; ``batch()`` raises ``error`` (if any) once the buffer is drained."""
        with self._cond:
            if self._finished:
                return
            self._finished = True
            self._error = error
            self._cond.notify_all()
        self._wake()

    # --- the event loop ----------------------------------------------------------------------

    async def batch(self) -> list[T]:
        """Everything waiting, at least one item; ``[]`` at the end; raises a ``finish`` error."""
        while True:
            with self._cond:
                if self._items:
                    items = list(self._items)
                    self._items.clear()
                    self._cond.notify_all()
                    return items
                if self._finished:
                    if self._error is not None:
                        raise self._error
                    return []
                self._wakeup.clear()
            await self._wakeup.wait()

    def stop(self) -> None:
        """The consumer left: release a blocked ``put()`` and make later ones return False."""
        with self._cond:
            self.stopped.set()
            self._cond.notify_all()

    def _wake(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            self.stop()


__all__ = ["DEFAULT_CAPACITY", "Bridge"]
