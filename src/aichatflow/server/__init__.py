"""The ready server: ``create_app`` and a uvicorn runner with a stream-aware shutdown.

Names load on first use (``aichatflow/_lazy.py``): ``create_app`` does not load uvicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .app import create_app
    from .runner import Server, run, server_config, tune_gc

_EXPORTS = {
    ".app": ["create_app"],
    ".runner": ["Server", "run", "server_config", "tune_gc"],
}

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

__all__ = ["Server", "create_app", "run", "server_config", "tune_gc"]
