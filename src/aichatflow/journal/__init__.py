"""The journal: runs that outlive their HTTP connection (docs/journal.md).

With a journal, a run's provider is consumed by the run's own task (``run.py``), which appends
coalesced batches of events to a backend (``memory.py``, ``redis_journal.py``); every response
is a reader that tails the run from a position (``reader.py``). One mechanism serves resume,
continue-after-disconnect, Stop for every reader, in-flight de-duplication and the cache.
"""

from .backend import Entry, Journal, ProducerLost, ResumeExpired, RunInfo
from .codec import decode_batch, encode_batch
from .memory import MemoryJournal

__all__ = [
    "Entry",
    "Journal",
    "MemoryJournal",
    "ProducerLost",
    "ResumeExpired",
    "RunInfo",
    "decode_batch",
    "encode_batch",
]
