"""One scrape for several server processes: prometheus-client's multiprocess mode.

``serve --workers N`` (``server/workers.py``) and ``serve --server granian`` with several
workers (``server/granian_runner.py``) answer from several processes, and a scrape reaches just
one of them. So before the workers start, ``serve`` makes a private directory and names it in
``PROMETHEUS_MULTIPROC_DIR`` (:func:`shared_metrics`, the one place both runners get it from);
each worker inherits it, writes its values to its own files there, and whichever worker answers
``/metrics`` reads them all. ``streams_active`` is summed over live processes only: the
uvicorn supervisor, which restarts a worker that died, calls :func:`worker_exited`, which drops
that process's gauge files (its counters stay: what it counted happened). Granian, as
``serve`` runs it, does not restart workers: one that dies stops the server. The directory is
removed when ``serve`` exits.

``prometheus_client`` reads the variable once, when it is first imported; so nothing imports it
in the parent before this runs (the metrics module is imported by ``build_metrics``, in each
worker), and a process where that order was broken refuses to start rather than serve zeros.

One process (``workers = 1``) needs none of this: its series stay in memory, no files. A
variable already set by the operator is used as it is and left in place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from ...config import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics(settings: Settings) -> Iterator[str | None]:
    """Around a server of ``settings.workers`` processes: the directory their metrics share
    (``None`` when one process serves, or metrics are off)."""
    if ENV in os.environ:
        yield os.environ[ENV]
        return
    if not settings.metrics.enabled or settings.workers <= 1:
        yield None
        return
    path = tempfile.mkdtemp(prefix="aichatflow-metrics-")
    os.environ[ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """A worker process is gone: its live gauges (``streams_active``) no longer count."""
    if ENV in os.environ:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid)  # type: ignore[no-untyped-call]


__all__ = ["ENV", "shared_metrics", "worker_exited"]
