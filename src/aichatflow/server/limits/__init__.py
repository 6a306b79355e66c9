"""The limits of the production layer: the server's capacity, each key's and each address's.

One admission per chat request checks every limit that applies and takes them all, or takes
nothing and refuses: ``[limits] max_streams`` (streams at once on the server, or on all
instances with Redis; 503 ``over_capacity``), a key's ``rpm`` (an exact sliding minute), its
``tpm`` (tokens reserved at admission from ``max_tokens`` or ``reserve_tokens``, settled to the
usage the stream reported when it ends) and its ``max_streams``, and ``ip_rpm`` for callers
without a key (429 ``rate_limited``). Refusals carry ``Retry-After`` and OpenAI's
``x-ratelimit-*`` headers; admitted responses carry the latter too (``headers.py``).

Two storages, chosen by ``[limits] storage``: ``memory://`` (``memory.py``, this process) and
``redis://`` (``redis_store.py``: one Lua script per admission, leased stream slots; needs
``pip install 'aichatflow[redis]'``).

Why not the ``limits`` library: it counts requests in windows, but has no concurrent slots (a
stream holds one until it ends, however long) and cannot give back part of a reservation (a
``tpm`` reservation settled to a smaller usage returns the difference); both are the core of
limiting streams, and with them on top, the library would have left only the windows to do.
"""

from __future__ import annotations

from .build import build_limiter, limits_apply
from .memory import MemoryLimiter

__all__ = ["MemoryLimiter", "build_limiter", "limits_apply"]
